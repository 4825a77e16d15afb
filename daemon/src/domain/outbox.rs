//! What a notification waiting in the outbox says. The store keeps a row's kind as text and its
//! payload as JSON; everything above the store sees one [`OutboxMessage`], so the code that
//! queues a notification and the worker that sends it share one definition of each payload.

use serde::{Deserialize, Serialize};

use super::ids::{ListId, MailboxId, SuggestionId};

/// A digest names at most this many suggestions; the rest are only counted. This keeps the
/// pending row small (it is rewritten at every commit) and the e-mail readable.
pub const DIGEST_MAX_ITEMS: usize = 100;

/// The suggestions a user has not been told about yet (one pending digest per recipient).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DigestPayload {
    /// Suggestions created or updated, oldest first, no repeats, at most [`DIGEST_MAX_ITEMS`].
    pub suggestions: Vec<SuggestionId>,
    /// The lists they belong to, no repeats.
    pub lists: Vec<ListId>,
    /// Further suggestion events left out once the digest was full ("and N more").
    pub more: u64,
}

impl DigestPayload {
    /// Adds a suggestion of `list`; returns whether anything changed.
    pub fn add(&mut self, list: ListId, suggestion: SuggestionId) -> bool {
        let mut changed = false;
        if !self.suggestions.contains(&suggestion) {
            if self.suggestions.len() < DIGEST_MAX_ITEMS {
                self.suggestions.push(suggestion);
            } else {
                self.more = self.more.saturating_add(1);
            }
            changed = true;
        }
        if !self.lists.contains(&list) {
            self.lists.push(list);
            changed = true;
        }
        changed
    }
}

/// A mailbox stopped being watched and needs its owner (a password, a consent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionPayload {
    pub mailbox: MailboxId,
    /// Short and content-free, e.g. "login rejected": a fixed text, never a server's words.
    pub reason: String,
}

/// An invitation to an account: the mail with the link to set a first password. The payload
/// names the invitation only; the link's token is made when the mail is composed, so the row
/// never holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationPayload {
    pub invitation: i64,
}

/// One notification in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxMessage {
    Digest(DigestPayload),
    Attention(AttentionPayload),
    Invitation(InvitationPayload),
    /// A row this version cannot read (a kind written by a newer version, or a payload that does
    /// not parse). It is kept as it is; the worker marks it failed instead of guessing.
    Unreadable {
        kind: String,
    },
}

impl OutboxMessage {
    /// The stored kind of [`OutboxMessage::Digest`].
    pub const DIGEST_KIND: &'static str = "suggestion_digest";
    /// The stored kind of [`OutboxMessage::Attention`].
    pub const ATTENTION_KIND: &'static str = "mailbox_attention";
    /// The stored kind of [`OutboxMessage::Invitation`].
    pub const INVITATION_KIND: &'static str = "account_invitation";

    /// The kind stored in the row's `kind` column.
    pub fn kind(&self) -> &str {
        match self {
            OutboxMessage::Digest(_) => Self::DIGEST_KIND,
            OutboxMessage::Attention(_) => Self::ATTENTION_KIND,
            OutboxMessage::Invitation(_) => Self::INVITATION_KIND,
            OutboxMessage::Unreadable { kind } => kind,
        }
    }

    /// The JSON stored in the row's `payload` column; `None` for an unreadable row, which is
    /// never written.
    pub fn payload(&self) -> Option<serde_json::Value> {
        match self {
            OutboxMessage::Digest(digest) => serde_json::to_value(digest).ok(),
            OutboxMessage::Attention(attention) => serde_json::to_value(attention).ok(),
            OutboxMessage::Invitation(invitation) => serde_json::to_value(invitation).ok(),
            OutboxMessage::Unreadable { .. } => None,
        }
    }

    /// Reads a stored row back.
    pub fn from_stored(kind: &str, payload: serde_json::Value) -> OutboxMessage {
        let unreadable = || OutboxMessage::Unreadable {
            kind: kind.to_owned(),
        };
        match kind {
            Self::DIGEST_KIND => serde_json::from_value(payload)
                .map(OutboxMessage::Digest)
                .unwrap_or_else(|_| unreadable()),
            Self::ATTENTION_KIND => serde_json::from_value(payload)
                .map(OutboxMessage::Attention)
                .unwrap_or_else(|_| unreadable()),
            Self::INVITATION_KIND => serde_json::from_value(payload)
                .map(OutboxMessage::Invitation)
                .unwrap_or_else(|_| unreadable()),
            _ => unreadable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_their_stored_form() {
        let messages = [
            OutboxMessage::Digest(DigestPayload {
                suggestions: vec![SuggestionId(3)],
                lists: vec![ListId(1)],
                more: 2,
            }),
            OutboxMessage::Attention(AttentionPayload {
                mailbox: MailboxId(7),
                reason: "login rejected".into(),
            }),
            OutboxMessage::Invitation(InvitationPayload { invitation: 4 }),
        ];
        for message in messages {
            let payload = message.payload().expect("payload");
            assert_eq!(OutboxMessage::from_stored(message.kind(), payload), message);
        }
    }

    #[test]
    fn an_unknown_kind_or_a_broken_payload_is_unreadable_not_a_guess() {
        assert_eq!(
            OutboxMessage::from_stored("calendar_invite", serde_json::json!({})),
            OutboxMessage::Unreadable {
                kind: "calendar_invite".into()
            }
        );
        assert_eq!(
            OutboxMessage::from_stored(OutboxMessage::ATTENTION_KIND, serde_json::json!({"x": 1})),
            OutboxMessage::Unreadable {
                kind: OutboxMessage::ATTENTION_KIND.into()
            }
        );
    }

    #[test]
    fn a_full_digest_counts_what_it_leaves_out() {
        let mut digest = DigestPayload::default();
        for i in 0..DIGEST_MAX_ITEMS + 3 {
            let id = i64::try_from(i).expect("small");
            assert!(digest.add(ListId(1), SuggestionId(id)));
        }
        assert_eq!(digest.suggestions.len(), DIGEST_MAX_ITEMS);
        assert_eq!(digest.more, 3);
        assert_eq!(digest.lists, vec![ListId(1)]);
        assert!(!digest.add(ListId(1), SuggestionId(0)));
    }
}
