//! Per-message provenance of a suggestion: which messages stand behind it and how sure the daemon
//! was of each one's sender. The suggestion itself keeps only its strongest sender
//! authentication (what decides the policy of `store::commit`); a reviewer also wants to know
//! whether the contact was seen once from an unverified sender or forty times with DKIM, and
//! when last.
//!
//! One row per committed message that created, merged into, matched without change, or proposed
//! a change to a suggestion: the time, the mailbox, the outcome and the message's
//! [`SenderAuth`]. Never a header and never a message id (the processed-message guard keeps only
//! a hash, and not here). Only the newest [`KEEP_PER_SUGGESTION`] rows are kept; each row carries
//! its running number, so the total count survives the pruning.

use sqlx::AnyConnection;

use super::{Error, MailboxId, Result, Store, SuggestionId, auth_from_row, col, parse_col};
use crate::domain::{SenderAuth, text_enum};

/// Rows kept per suggestion, newest first.
pub const KEEP_PER_SUGGESTION: i64 = 50;

text_enum! {
    /// What one message did to the suggestion.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum SightingOutcome("sighting outcome") {
        Created => "created",
        Merged => "merged",
        Unchanged => "unchanged",
        ChangeProposed => "change_proposed",
    }
}

/// One message behind a suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sighting {
    /// When it was committed (milliseconds since the epoch).
    pub at: i64,
    /// The mailbox it came from (`None` once that mailbox was purged).
    pub mailbox: Option<MailboxId>,
    pub outcome: SightingOutcome,
    pub sender_auth: SenderAuth,
}

/// The messages behind a suggestion.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// Messages committed for it since provenance is recorded (also those no longer kept).
    pub seen: u64,
    /// The newest messages, newest first (at most [`KEEP_PER_SUGGESTION`]).
    pub recent: Vec<Sighting>,
}

impl Provenance {
    /// The newest message.
    pub fn last(&self) -> Option<&Sighting> {
        self.recent.first()
    }
}

/// Records one message behind `suggestion` inside the commit's transaction and drops rows beyond
/// the newest [`KEEP_PER_SUGGESTION`]. Commits into one list are serialised (the list row lock on
/// PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so the running number has no gaps or repeats.
pub(crate) async fn record_sighting(
    conn: &mut AnyConnection,
    suggestion: SuggestionId,
    mailbox: MailboxId,
    outcome: SightingOutcome,
    auth: SenderAuth,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO suggestion_sightings (suggestion_id, mailbox_id, seq, outcome, auth_result, auth_method, seen_at) \
         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6 FROM suggestion_sightings \
         WHERE suggestion_id = $1",
    )
    .bind(suggestion.0)
    .bind(mailbox.0)
    .bind(outcome.as_str())
    .bind(auth.result.as_str())
    .bind(auth.method.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(Error::db("record provenance", "provenance"))?;
    sqlx::query(
        "DELETE FROM suggestion_sightings WHERE suggestion_id = $1 AND id NOT IN \
         (SELECT id FROM suggestion_sightings WHERE suggestion_id = $1 ORDER BY id DESC LIMIT $2)",
    )
    .bind(suggestion.0)
    .bind(KEEP_PER_SUGGESTION)
    .execute(&mut *conn)
    .await
    .map_err(Error::db("prune provenance", "provenance"))?;
    Ok(())
}

impl Store {
    /// The messages behind a suggestion, newest first (see the module docs).
    pub async fn provenance(&self, suggestion: SuggestionId) -> Result<Provenance> {
        let rows = sqlx::query(
            "SELECT seq, mailbox_id, outcome, auth_result, auth_method, seen_at FROM suggestion_sightings \
             WHERE suggestion_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(suggestion.0)
        .bind(KEEP_PER_SUGGESTION)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read provenance", "provenance"))?;
        let seen = match rows.first() {
            Some(row) => u64::try_from(col::<i64>(row, "seq")?).unwrap_or(0),
            None => 0,
        };
        let recent = rows
            .iter()
            .map(|row| {
                Ok(Sighting {
                    at: col(row, "seen_at")?,
                    mailbox: col::<Option<i64>>(row, "mailbox_id")?.map(MailboxId),
                    outcome: parse_col(row, "outcome", "sighting outcome")?,
                    sender_auth: auth_from_row(row)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Provenance { seen, recent })
    }
}
