//! Undo for a reviewer's merge. A merge replaces values (and removes phones, e-mails, …), so
//! unlike accept or dismiss it cannot be undone by setting a status: what the suggestion was
//! just before is kept, in the merge's own transaction, for the reviewer who merged, and an
//! Undo puts exactly that back (values, confidence, status) with the changes in the history.
//!
//! An entry lives at most [`KEEP_FOR_MS`] (older ones are deleted whenever one is written) and
//! is used once. An Undo is refused when the suggestion no longer holds what the merge wrote,
//! or left `merged` (a later message, another reviewer): putting old values back then would
//! lose that change.

use super::commit::update_fields;
use super::suggestion::SuggestionFields;
use super::{Error, Result, Store, SuggestionId, SuggestionStatus, UserId};

/// How long a merge can be undone.
pub const KEEP_FOR_MS: i64 = 60 * 60 * 1000;

/// One kept merge, as the confirmation's Undo names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeUndoId(pub i64);

/// The suggestion before the merge, and the values the merge wrote.
pub(super) struct Before<'a> {
    pub fields: &'a SuggestionFields,
    pub confidence: f64,
    pub status: SuggestionStatus,
    pub after: &'a SuggestionFields,
}

/// Keeps `before` for `by`, inside the merge's transaction.
pub(super) async fn keep(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    suggestion: SuggestionId,
    by: UserId,
    before: Before<'_>,
    now: i64,
) -> Result<MergeUndoId> {
    sqlx::query("DELETE FROM merge_undo WHERE created_at < $1")
        .bind(now - KEEP_FOR_MS)
        .execute(&mut **tx)
        .await
        .map_err(Error::db("purge old merge undo entries", "merge undo"))?;
    let json = |fields: &SuggestionFields| {
        serde_json::to_string(fields).map_err(|e| Error::Invalid {
            what: "suggestion fields",
            reason: e.to_string(),
        })
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO merge_undo (suggestion_id, user_id, fields, confidence, status, merged_fields, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(suggestion.0)
    .bind(by.0)
    .bind(json(before.fields)?)
    .bind(before.confidence)
    .bind(before.status.as_str())
    .bind(json(before.after)?)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(Error::db("keep merge undo entry", "merge undo"))?;
    Ok(MergeUndoId(id))
}

fn read_fields(json: &str) -> Result<SuggestionFields> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        what: "suggestion fields",
        reason: e.to_string(),
    })
}

impl Store {
    /// Puts `suggestion` back to what it was before the merge `undo` of `by`, and uses the
    /// entry up. `NotFound` for an entry that is not this user's for this suggestion, was
    /// used or expired; `Invalid` when the suggestion changed after the merge.
    pub async fn undo_merge(
        &self,
        undo: MergeUndoId,
        suggestion: SuggestionId,
        by: UserId,
    ) -> Result<super::Suggestion> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let row: Option<(String, f64, String, String, i64)> = sqlx::query_as(
            "SELECT fields, confidence, status, merged_fields, created_at FROM merge_undo \
             WHERE id = $1 AND suggestion_id = $2 AND user_id = $3",
        )
        .bind(undo.0)
        .bind(suggestion.0)
        .bind(by.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("read merge undo entry", "merge undo"))?;
        let Some((fields, confidence, status, after, created_at)) = row else {
            return Err(Error::NotFound { what: "merge undo" });
        };
        if created_at < now - KEEP_FOR_MS {
            return Err(Error::NotFound { what: "merge undo" });
        }
        let previous = read_fields(&fields)?;
        let status: SuggestionStatus = status.parse().map_err(|_| Error::Corrupt {
            what: "merge undo status",
            reason: "unknown status".to_owned(),
        })?;
        let current: Option<(String, String)> = sqlx::query_as(
            "SELECT fields, status FROM suggestions WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(suggestion.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("read suggestion", "suggestion"))?;
        let Some((current_fields, current_status)) = current else {
            return Err(Error::NotFound { what: "suggestion" });
        };
        let current_fields = read_fields(&current_fields)?;
        if current_fields != read_fields(&after)?
            || current_status != SuggestionStatus::Merged.as_str()
        {
            return Err(Error::Invalid {
                what: "undo",
                reason: "the suggestion changed after the merge, so its earlier values cannot be put back".to_owned(),
            });
        }
        let changes = previous.changes_since(&current_fields);
        update_fields(
            &mut tx, suggestion, &previous, confidence, None, &changes, now,
        )
        .await?;
        if current_status != status.as_str() {
            sqlx::query("UPDATE suggestions SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(suggestion.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("restore suggestion status", "suggestion"))?;
            sqlx::query(
                "INSERT INTO suggestion_history (suggestion_id, field, old_value, new_value, at) \
                 VALUES ($1, 'status', $2, $3, $4)",
            )
            .bind(suggestion.0)
            .bind(&current_status)
            .bind(status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("record status history", "suggestion history"))?;
        }
        sqlx::query("DELETE FROM merge_undo WHERE id = $1")
            .bind(undo.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("use merge undo entry", "merge undo"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit merge undo", "suggestion"))?;
        self.get_suggestion(suggestion).await
    }
}
