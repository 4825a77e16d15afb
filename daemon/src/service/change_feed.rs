//! Incremental export: what changed in a list's exported contacts since a cursor.
//!
//! A client keeps the `cursor` of each answer and sends it back as `since`; the answer lists the
//! contacts that entered the export's [`Scope`] (`created`), changed while in it (`changed`) or
//! left it (`deleted`: deleted, dismissed, or, by default, sent back to review) in between. The
//! first call without `since` lists every contact in scope as created. A change is delivered at
//! least once: a contact may appear again in the next answer, never be missed.
//!
//! Answers are paged (`limit`, by default [`DEFAULT_PAGE`] contacts): while `more` is true, the
//! client sends the `cursor` straight back for the rest of the same window, and the last page's
//! cursor is the one to keep for next time. Every page of a window reads the same fixed part of
//! the log, so a page never repeats or skips a contact of the window.
//!
//! The cursor is opaque to clients: a backend letter and a store position in hexadecimal, or,
//! inside a window, the window's two positions and the last contact id served
//! (`s<since>.<upto>.<after>`). A cursor of another backend (a restored backup on PostgreSQL) is
//! refused, not misread.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{AuditAction, AuditObject};
use crate::store::{
    Backend, ChangeHorizon, ChangePage, ChangeRow, ChangeState, ListId, Role, Store, Suggestion,
    SuggestionId,
};

use super::export::Scope;
use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceResult, audit, require_role};

/// A contact that left the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Tombstone {
    pub id: SuggestionId,
}

/// Contacts per page unless the client asks for fewer or more.
pub const DEFAULT_PAGE: u32 = 500;
/// The most contacts one page holds.
pub const MAX_PAGE: u32 = 1000;

/// One answer of the change feed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Changes {
    /// Send as `since` next time.
    pub cursor: String,
    /// The window has more contacts: send `cursor` at once for the next page.
    pub more: bool,
    pub include: &'static str,
    pub created: Vec<Suggestion>,
    pub changed: Vec<Suggestion>,
    pub deleted: Vec<Tombstone>,
}

/// The query as typed.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Query {
    pub since: Option<String>,
    pub include: Option<String>,
    pub limit: Option<i64>,
}

/// Where a request starts: a new window from `since`, or the rest of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Position {
    since: Option<ChangeHorizon>,
    /// The window's end, fixed by its first page.
    upto: Option<ChangeHorizon>,
    after: SuggestionId,
}

fn backend_letter(backend: Backend) -> char {
    match backend {
        Backend::Sqlite => 's',
        Backend::Postgres => 'p',
    }
}

pub fn format_cursor(backend: Backend, horizon: ChangeHorizon) -> String {
    format!("{}{:x}", backend_letter(backend), horizon.0)
}

/// The cursor of the page after `after` in the window `[since, upto)`.
fn format_page_cursor(
    backend: Backend,
    since: Option<ChangeHorizon>,
    upto: ChangeHorizon,
    after: SuggestionId,
) -> String {
    // Positions start above zero, so "since 0" is the whole log, as "no since" is.
    let since = since.map_or(0, |s| s.0);
    format!(
        "{}{since:x}.{:x}.{:x}",
        backend_letter(backend),
        upto.0,
        after.0
    )
}

fn hex(part: &str) -> Option<i64> {
    if part.is_empty() || part.len() > 16 {
        return None;
    }
    u64::from_str_radix(part, 16)
        .ok()
        .and_then(|n| i64::try_from(n).ok())
}

/// The position a cursor names; a cursor that is not one is a validation error (and the start).
fn parse_cursor(c: &mut Checker, backend: Backend, since: Option<&str>) -> Position {
    let start = Position {
        since: None,
        upto: None,
        after: SuggestionId(0),
    };
    let Some(since) = since.map(str::trim).filter(|s| !s.is_empty()) else {
        return start;
    };
    let parts: Option<Vec<i64>> = since
        .strip_prefix(backend_letter(backend))
        .map(|rest| rest.split('.').map(hex).collect::<Option<Vec<_>>>())
        .unwrap_or(None);
    let parsed = match parts.as_deref() {
        Some(&[since]) => Some(Position {
            since: Some(ChangeHorizon(since)),
            upto: None,
            after: SuggestionId(0),
        }),
        Some(&[since, upto, after]) if since <= upto => Some(Position {
            since: Some(ChangeHorizon(since)),
            upto: Some(ChangeHorizon(upto)),
            after: SuggestionId(after),
        }),
        _ => None,
    };
    parsed.unwrap_or_else(|| {
        c.push(
            "since",
            FieldCode::Text,
            "is not a cursor returned by this server's change feed",
        );
        start
    })
}

/// What happened to one suggestion between `since` and the end of its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Created,
    Changed,
    Deleted,
}

/// Sorts the suggestions of `rows` (one suggestion's rows ordered by seq) by how they moved in
/// and out of `scope` across the window that starts at `since`.
fn classify(
    rows: &[ChangeRow],
    since: Option<ChangeHorizon>,
    scope: Scope,
) -> BTreeMap<SuggestionId, Kind> {
    let in_scope = |state: ChangeState| match state {
        ChangeState::Live(status) => scope.includes(status),
        ChangeState::Deleted => false,
    };
    // (state at `since`, latest state) per suggestion.
    let mut states: BTreeMap<SuggestionId, (Option<ChangeState>, ChangeState)> = BTreeMap::new();
    for row in rows {
        let before = since.is_some_and(|s| row.position < s.0);
        let entry = states.entry(row.suggestion).or_insert((None, row.state));
        if before {
            entry.0 = Some(row.state);
        }
        entry.1 = row.state;
    }
    states
        .into_iter()
        .filter_map(|(id, (before, now))| {
            let was = before.is_some_and(in_scope);
            let is = in_scope(now);
            let kind = match (was, is) {
                (false, true) => Kind::Created,
                (true, true) => Kind::Changed,
                (true, false) => Kind::Deleted,
                (false, false) => return None,
            };
            Some((id, kind))
        })
        .collect()
}

/// `GET /api/v1/lists/{id}/changes`: viewers and up.
pub async fn since(
    store: &Store,
    actor: Actor,
    list: ListId,
    query: &Query,
) -> ServiceResult<Changes> {
    require_role(store, actor, list, Role::Viewer).await?;
    let mut c = Checker::new();
    let position = parse_cursor(&mut c, store.backend(), query.since.as_deref());
    let scope = Scope::parse(&mut c, query.include.as_deref());
    let limit = c.number("limit", query.limit, 1..=i64::from(MAX_PAGE));
    c.finish()?;
    let limit = limit
        .and_then(|l| u32::try_from(l).ok())
        .unwrap_or(DEFAULT_PAGE);

    let now = store.change_horizon().await?;
    // A window's end never moves past what is fixed now (a cursor from the future is clamped).
    let upto = position.upto.map_or(now, |u| u.min(now));
    let since = position.since.map(|s| s.min(upto));
    // One contact more than asked tells whether the window goes on.
    let page = ChangePage {
        after: position.after,
        limit: limit + 1,
    };
    let mut rows = store.list_changes(list, since, upto, page).await?;
    let more = rows
        .iter()
        .map(|r| r.suggestion)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > limit as usize;
    let last = if more {
        let extra = rows.last().map(|r| r.suggestion);
        rows.retain(|r| Some(r.suggestion) != extra);
        rows.last().map(|r| r.suggestion)
    } else {
        None
    };
    let kinds = classify(&rows, since, scope);
    let mut live: BTreeMap<SuggestionId, Suggestion> = store
        .changed_suggestions(list, since, upto, page)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let cursor = match last {
        Some(last) => format_page_cursor(store.backend(), since, upto, last),
        None => format_cursor(store.backend(), upto),
    };
    let mut changes = Changes {
        cursor,
        more,
        include: scope.as_str(),
        created: Vec::new(),
        changed: Vec::new(),
        deleted: Vec::new(),
    };
    for (id, kind) in kinds {
        // A suggestion changed again after the horizon: its newest state is what a client
        // needs, and the next window reports it once more.
        match (kind, live.remove(&id)) {
            (Kind::Created, Some(s)) if scope.includes(s.status) => changes.created.push(s),
            (Kind::Changed, Some(s)) if scope.includes(s.status) => changes.changed.push(s),
            (Kind::Created, _) => {}
            (Kind::Changed | Kind::Deleted, _) => changes.deleted.push(Tombstone { id }),
        }
    }
    let detail = format!(
        "changes, {}, {} created, {} changed, {} deleted",
        scope.as_str(),
        changes.created.len(),
        changes.changed.len(),
        changes.deleted.len()
    );
    audit(
        store,
        actor,
        AuditAction::SuggestionExport,
        AuditObject::List,
        Some(list.0),
        Some(&detail),
    )
    .await?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SuggestionStatus::{Accepted, Dismissed, Merged, New};

    fn row(id: i64, position: i64, state: ChangeState) -> ChangeRow {
        ChangeRow {
            suggestion: SuggestionId(id),
            state,
            position,
            seq: position,
        }
    }

    #[test]
    fn moves_in_and_out_of_the_scope_are_created_changed_and_deleted() {
        use ChangeState::{Deleted, Live};
        let rows = [
            // 1: new before, accepted in the window: created.
            row(1, 1, Live(New)),
            row(1, 5, Live(Accepted)),
            // 2: accepted before, merged in the window: changed.
            row(2, 2, Live(Accepted)),
            row(2, 6, Live(Merged)),
            // 3: accepted before, deleted in the window: deleted.
            row(3, 3, Live(Accepted)),
            row(3, 7, Deleted),
            // 4: accepted before, dismissed in the window: deleted.
            row(4, 4, Live(Accepted)),
            row(4, 8, Live(Dismissed)),
            // 5: created and deleted within the window: nothing to say.
            row(5, 9, Live(Accepted)),
            row(5, 10, Deleted),
            // 6: unreviewed throughout: not in the default scope.
            row(6, 11, Live(New)),
        ];
        let since = Some(ChangeHorizon(5));
        let kinds = classify(&rows, since, Scope::Accepted);
        let expected: BTreeMap<SuggestionId, Kind> = [
            (SuggestionId(1), Kind::Created),
            (SuggestionId(2), Kind::Changed),
            (SuggestionId(3), Kind::Deleted),
            (SuggestionId(4), Kind::Deleted),
        ]
        .into();
        assert_eq!(kinds, expected);

        let all = classify(&rows, since, Scope::All);
        assert_eq!(all[&SuggestionId(1)], Kind::Changed, "new was in scope all");
        assert_eq!(all[&SuggestionId(6)], Kind::Created);
        // Without a cursor everything in scope is new to the client.
        let first = classify(&rows, None, Scope::Accepted);
        assert!(first.values().all(|k| *k == Kind::Created), "{first:?}");
        assert_eq!(first.len(), 2, "{first:?}");
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = format_cursor(Backend::Sqlite, ChangeHorizon(0x2a));
        assert_eq!(cursor, "s2a");
        let mut c = Checker::new();
        assert_eq!(
            parse_cursor(&mut c, Backend::Sqlite, Some(&cursor)),
            Position {
                since: Some(ChangeHorizon(42)),
                upto: None,
                after: SuggestionId(0)
            }
        );
        let page = format_page_cursor(
            Backend::Postgres,
            Some(ChangeHorizon(0x2a)),
            ChangeHorizon(0x30),
            SuggestionId(17),
        );
        assert_eq!(page, "p2a.30.11");
        assert_eq!(
            parse_cursor(&mut c, Backend::Postgres, Some(&page)),
            Position {
                since: Some(ChangeHorizon(42)),
                upto: Some(ChangeHorizon(48)),
                after: SuggestionId(17)
            }
        );
        assert!(c.finish().is_ok());
        for bad in [
            "p2a",
            "s",
            "sxyz",
            "s-1",
            "s10000000000000000",
            "ffffffffffffffff",
            "s2a.30",
            "s2a.30.11.1",
            "s30.2a.11",
            "s2a..11",
        ] {
            let mut c = Checker::new();
            parse_cursor(&mut c, Backend::Sqlite, Some(bad));
            assert!(c.finish().is_err(), "{bad} accepted");
        }
        let mut c = Checker::new();
        assert_eq!(
            parse_cursor(&mut c, Backend::Postgres, Some(" ")).since,
            None
        );
        assert!(c.finish().is_ok());
    }
}
