//! Which events a window of the change log holds, and the body each is sent with.
//!
//! The change log (`store::change_log`) has one row per change of a suggestion with the state
//! it left; an event is a move between states: a first row is `suggestion.created` (and
//! `suggestion.accepted` too when it was accepted at once), new → accepted or merged is
//! `suggestion.accepted`, and a row that leaves an accepted contact accepted is a change of its
//! fields: `contact.changed`. Dismissals and deletions send nothing. Several moves of one
//! contact in one window send each kind once, with the contact as it is when queued.
//!
//! The body carries the contact's fields and nothing else: no message, no subject, no
//! confidence or extraction rule.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::domain::WebhookEvent;
use crate::store::{
    ChangeHorizon, ChangeRow, ChangeState, ListId, Suggestion, SuggestionId, SuggestionStatus,
};

fn is_contact(state: ChangeState) -> bool {
    matches!(
        state,
        ChangeState::Live(SuggestionStatus::Accepted | SuggestionStatus::Merged)
    )
}

/// The events of the rows at or above `since` (rows ordered by suggestion, then seq, with the
/// rows below `since` of the same suggestions, as `Store::list_changes` returns them).
pub fn events_of(
    rows: &[ChangeRow],
    since: ChangeHorizon,
) -> BTreeMap<SuggestionId, BTreeSet<WebhookEvent>> {
    let mut out: BTreeMap<SuggestionId, BTreeSet<WebhookEvent>> = BTreeMap::new();
    let mut previous: Option<(SuggestionId, ChangeState)> = None;
    for row in rows {
        let before = match previous {
            Some((id, state)) if id == row.suggestion => Some(state),
            _ => None,
        };
        previous = Some((row.suggestion, row.state));
        if row.position < since.0 {
            continue;
        }
        let mut add = |e| {
            out.entry(row.suggestion).or_default().insert(e);
        };
        match (before, row.state) {
            (_, ChangeState::Deleted) => {}
            (None, now) => {
                add(WebhookEvent::SuggestionCreated);
                if is_contact(now) {
                    add(WebhookEvent::SuggestionAccepted);
                }
            }
            (Some(was), now) if is_contact(now) => add(if is_contact(was) {
                WebhookEvent::ContactChanged
            } else {
                WebhookEvent::SuggestionAccepted
            }),
            (Some(_), _) => {}
        }
    }
    out
}

/// A phone number as sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phone {
    pub kind: String,
    pub number: String,
}

/// The contact as a webhook body carries it: values only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contact {
    pub id: SuggestionId,
    pub status: &'static str,
    pub email: String,
    pub name: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub address: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<Phone>,
    pub websites: Vec<String>,
    pub social: Vec<String>,
    /// No authenticated message backs it.
    pub unverified_sender: bool,
    pub updated_at: i64,
}

impl Contact {
    pub fn of(s: &Suggestion) -> Contact {
        let one = |f: &Option<crate::store::StoredField>| f.as_ref().map(|f| f.value.clone());
        let many = |v: &[crate::store::StoredField]| v.iter().map(|f| f.value.clone()).collect();
        Contact {
            id: s.id,
            status: s.status.as_str(),
            email: s.sender_email.clone(),
            name: one(&s.fields.name),
            title: one(&s.fields.title),
            company: one(&s.fields.company),
            address: one(&s.fields.address),
            emails: many(&s.fields.emails),
            phones: s
                .fields
                .phones
                .iter()
                .map(|p| Phone {
                    kind: p.kind.clone(),
                    number: p.e164.clone(),
                })
                .collect(),
            websites: many(&s.fields.websites),
            social: many(&s.fields.social),
            unverified_sender: s.unverified_sender,
            updated_at: s.updated_at,
        }
    }
}

/// The JSON body of one event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Body {
    pub event: WebhookEvent,
    pub list_id: ListId,
    /// When the event was queued (epoch milliseconds).
    pub queued_at: i64,
    pub contact: Contact,
}

impl Body {
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChangeState::{Deleted, Live};
    use SuggestionStatus::{Accepted, Dismissed, Merged, New};
    use WebhookEvent::{ContactChanged, SuggestionAccepted, SuggestionCreated};

    fn row(id: i64, position: i64, state: ChangeState) -> ChangeRow {
        ChangeRow {
            suggestion: SuggestionId(id),
            state,
            position,
            seq: position,
        }
    }

    #[test]
    fn moves_between_states_are_the_events() {
        let rows = [
            // 1: created in the window.
            row(1, 10, Live(New)),
            // 2: new before, accepted in the window, then edited.
            row(2, 1, Live(New)),
            row(2, 11, Live(Accepted)),
            row(2, 12, Live(Merged)),
            // 3: accepted before, a reviewer's edit in the window.
            row(3, 2, Live(Accepted)),
            row(3, 13, Live(Merged)),
            // 4: dismissed and deleted: nothing.
            row(4, 3, Live(New)),
            row(4, 14, Live(Dismissed)),
            row(4, 15, Deleted),
            // 5: nothing in the window.
            row(5, 4, Live(Accepted)),
            // 6: mail updated an unreviewed suggestion: nothing.
            row(6, 5, Live(New)),
            row(6, 16, Live(New)),
        ];
        let events = events_of(&rows, ChangeHorizon(10));
        let expected: BTreeMap<SuggestionId, BTreeSet<WebhookEvent>> = [
            (SuggestionId(1), [SuggestionCreated].into()),
            (SuggestionId(2), [SuggestionAccepted, ContactChanged].into()),
            (SuggestionId(3), [ContactChanged].into()),
        ]
        .into();
        assert_eq!(events, expected);
    }
}
