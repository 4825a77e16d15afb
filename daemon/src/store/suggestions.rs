//! Reading and reviewing suggestions: list with filters and paging, accept, dismiss, merge
//! with per-field edits, and the field history.

use sqlx::any::AnyRow;

use super::auth_from_row;
use super::commit::update_fields;
use super::suggestion::{FIELD_NAMES, StoredField, SuggestionFields};
use super::{Error, ListId, MailboxId, Result, Store, SuggestionId, col, parse_col};
use crate::domain::{SenderAuth, text_enum};

text_enum! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum SuggestionStatus("suggestion status") {
        New => "new",
        Accepted => "accepted",
        Dismissed => "dismissed",
        Merged => "merged",
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub id: SuggestionId,
    pub list: ListId,
    /// The mailbox it came from (`None` once that mailbox was purged).
    pub mailbox: Option<MailboxId>,
    pub sender_email: String,
    pub fields: SuggestionFields,
    pub confidence: f64,
    pub status: SuggestionStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// The strongest sender authentication of the messages behind it.
    pub sender_auth: SenderAuth,
    /// No authenticated message backs it: shown as "unverified sender" everywhere.
    pub unverified_sender: bool,
    /// The messages behind it with each one's sender authentication (`store::provenance`):
    /// filled where one suggestion is shown, absent from lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<super::Provenance>,
    /// The duplicate check against the list's connected address book (`service::book_check`):
    /// filled where suggestions are shown for review, absent when the list has no book.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub book: Option<crate::domain::address_book::BookMatch>,
}

/// Filters and keyset paging for [`Store::list_suggestions`].
#[derive(Clone, Debug)]
pub struct SuggestionFilter {
    pub status: Option<SuggestionStatus>,
    /// Only ids greater than this (the last id of the previous page).
    pub after: Option<SuggestionId>,
    /// Page size, capped at 1000.
    pub limit: u32,
}

impl Default for SuggestionFilter {
    fn default() -> Self {
        SuggestionFilter {
            status: None,
            after: None,
            limit: 100,
        }
    }
}

/// One change of one field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub at: i64,
}

/// A reviewer's decision for one scalar field (`name`, `title`, `company`, `address`):
/// `Some(text)` sets it (the new value taken, or one typed), `None` clears it. Fields not
/// mentioned keep their current value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct FieldEdit {
    pub field: String,
    pub value: Option<String>,
}

/// A reviewer's decision for one list field (`emails`, `phones`, `websites`, `social`): keep
/// only these of its current values (phones by E.164), in their current order; the others are
/// removed. Values that are not current are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEdit {
    pub field: String,
    pub keep: Vec<String>,
}

pub(crate) fn suggestion_from_row(row: &AnyRow) -> Result<Suggestion> {
    let sender_auth = auth_from_row(row)?;
    Ok(Suggestion {
        id: SuggestionId(col(row, "id")?),
        list: ListId(col(row, "list_id")?),
        mailbox: col::<Option<i64>>(row, "mailbox_id")?.map(MailboxId),
        sender_email: col(row, "sender_email")?,
        fields: super::json_col(row, "fields", "suggestion fields")?,
        confidence: col(row, "confidence")?,
        status: parse_col(row, "status", "suggestion status")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        sender_auth,
        unverified_sender: !sender_auth.is_authenticated(),
        provenance: None,
        book: None,
    })
}

/// Rule name recorded for values typed or chosen by a reviewer.
const REVIEWER_RULE: &str = "reviewer";

impl Store {
    /// Suggestions of a list by ascending id.
    pub async fn list_suggestions(
        &self,
        list: ListId,
        filter: &SuggestionFilter,
    ) -> Result<Vec<Suggestion>> {
        let rows = sqlx::query(
            "SELECT id, list_id, mailbox_id, sender_email, fields, confidence, status, created_at, updated_at, \
             auth_result, auth_method \
             FROM suggestions WHERE list_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR status = $2) AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(list.0)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.after.map_or(0, |s| s.0))
        .bind(i64::from(filter.limit.min(1000)))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list suggestions", "suggestion"))?;
        rows.iter().map(suggestion_from_row).collect()
    }

    /// How many suggestions of a list match `status` (all statuses when `None`), for paging.
    pub async fn count_suggestions(
        &self,
        list: ListId,
        status: Option<SuggestionStatus>,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM suggestions WHERE list_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR status = $2)",
        )
        .bind(list.0)
        .bind(status.map(|s| s.as_str()))
        .fetch_one(self.reader())
        .await
        .map_err(Error::db("count suggestions", "suggestion"))?;
        col(&row, "n")
    }

    pub async fn get_suggestion(&self, id: SuggestionId) -> Result<Suggestion> {
        let row = sqlx::query(
            "SELECT s.id, s.list_id, s.mailbox_id, s.sender_email, s.fields, s.confidence, s.status, s.created_at, \
             s.updated_at, s.auth_result, s.auth_method FROM suggestions s JOIN contact_lists l ON l.id = s.list_id \
             WHERE s.id = $1 AND s.deleted_at IS NULL AND l.deleted_at IS NULL",
        )
        .bind(id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get suggestion", "suggestion"))?
        .ok_or(Error::NotFound { what: "suggestion" })?;
        suggestion_from_row(&row)
    }

    /// Accept or dismiss (or reopen) a suggestion; the change is kept in its history.
    pub async fn set_suggestion_status(
        &self,
        id: SuggestionId,
        status: SuggestionStatus,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query("SELECT status FROM suggestions WHERE id = $1 AND deleted_at IS NULL")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::db("get suggestion status", "suggestion"))?
                .ok_or(Error::NotFound { what: "suggestion" })?;
        let old: String = col(&row, "status")?;
        if old == status.as_str() {
            return Ok(());
        }
        sqlx::query("UPDATE suggestions SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("set suggestion status", "suggestion"))?;
        sqlx::query(
            "INSERT INTO suggestion_history (suggestion_id, field, old_value, new_value, at) \
             VALUES ($1, 'status', $2, $3, $4)",
        )
        .bind(id.0)
        .bind(old)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("record status history", "suggestion history"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit suggestion status", "suggestion"))
    }

    /// Applies a reviewer's per-field choices and marks the suggestion `merged`. Every
    /// changed field is recorded in the history.
    pub async fn merge_suggestion(
        &self,
        id: SuggestionId,
        edits: &[FieldEdit],
    ) -> Result<Suggestion> {
        self.merge_suggestion_with(id, edits, &[]).await
    }

    /// [`Store::merge_suggestion`] that also removes values of list fields.
    pub async fn merge_suggestion_with(
        &self,
        id: SuggestionId,
        edits: &[FieldEdit],
        lists: &[ListEdit],
    ) -> Result<Suggestion> {
        Ok(self.merge_inner(id, edits, lists, None).await?.0)
    }

    /// [`Store::merge_suggestion_with`] that also keeps, in the same transaction, what the
    /// suggestion was before, for `by` to undo (`store::merge_undo`).
    pub async fn merge_suggestion_undoable(
        &self,
        id: SuggestionId,
        edits: &[FieldEdit],
        lists: &[ListEdit],
        by: super::UserId,
    ) -> Result<(Suggestion, super::MergeUndoId)> {
        let (merged, undo) = self.merge_inner(id, edits, lists, Some(by)).await?;
        let undo = undo.ok_or_else(|| Error::Corrupt {
            what: "merge undo",
            reason: "no entry was written".to_owned(),
        })?;
        Ok((merged, undo))
    }

    async fn merge_inner(
        &self,
        id: SuggestionId,
        edits: &[FieldEdit],
        lists: &[ListEdit],
        undo_by: Option<super::UserId>,
    ) -> Result<(Suggestion, Option<super::MergeUndoId>)> {
        let mut suggestion = self.get_suggestion(id).await?;
        let previous = (
            suggestion.fields.clone(),
            suggestion.confidence,
            suggestion.status,
        );
        let before = suggestion.fields.clone();
        for edit in lists {
            let kept = |value: &str| edit.keep.iter().any(|k| k == value);
            match edit.field.as_str() {
                "emails" => suggestion.fields.emails.retain(|f| kept(&f.value)),
                "phones" => suggestion.fields.phones.retain(|p| kept(&p.e164)),
                "websites" => suggestion.fields.websites.retain(|f| kept(&f.value)),
                "social" => suggestion.fields.social.retain(|f| kept(&f.value)),
                other => {
                    return Err(Error::Invalid {
                        what: "list edit",
                        reason: format!("{other:?} is not a list field"),
                    });
                }
            }
        }
        for edit in edits {
            let slot = match edit.field.as_str() {
                "name" => &mut suggestion.fields.name,
                "title" => &mut suggestion.fields.title,
                "company" => &mut suggestion.fields.company,
                "address" => &mut suggestion.fields.address,
                other if FIELD_NAMES.contains(&other) => {
                    return Err(Error::Invalid {
                        what: "field edit",
                        reason: format!("{other} is a list field"),
                    });
                }
                other => {
                    return Err(Error::Invalid {
                        what: "field edit",
                        reason: format!("unknown field {other:?}"),
                    });
                }
            };
            *slot = match edit.value.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(v) if slot.as_ref().is_some_and(|f| f.value == v) => slot.take(),
                Some(v) => Some(StoredField {
                    value: v.to_owned(),
                    confidence: 1.0,
                    rule: REVIEWER_RULE.to_owned(),
                }),
            };
        }
        let changes = suggestion.fields.changes_since(&before);
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        update_fields(
            &mut tx,
            id,
            &suggestion.fields,
            suggestion.confidence,
            None,
            &changes,
            now,
        )
        .await?;
        if suggestion.status != SuggestionStatus::Merged {
            sqlx::query("UPDATE suggestions SET status = 'merged' WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("mark suggestion merged", "suggestion"))?;
            sqlx::query(
                "INSERT INTO suggestion_history (suggestion_id, field, old_value, new_value, at) \
                 VALUES ($1, 'status', $2, 'merged', $3)",
            )
            .bind(id.0)
            .bind(suggestion.status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("record status history", "suggestion history"))?;
        }
        let undo = match undo_by {
            Some(by) => Some(
                super::merge_undo::keep(
                    &mut tx,
                    id,
                    by,
                    super::merge_undo::Before {
                        fields: &previous.0,
                        confidence: previous.1,
                        status: previous.2,
                        after: &suggestion.fields,
                    },
                    now,
                )
                .await?,
            ),
            None => None,
        };
        tx.commit()
            .await
            .map_err(Error::db("commit suggestion merge", "suggestion"))?;
        Ok((self.get_suggestion(id).await?, undo))
    }

    /// Erases a suggestion for good (a data subject's request): the row goes at once with its
    /// field history and change proposals (by cascade) and its webhook deliveries, not after the
    /// retention period. The change log keeps a tombstone (ids only, written by the delete
    /// trigger) so that exports delete it downstream too. `NotFound` when there is no such row.
    pub async fn erase_suggestion(&self, id: SuggestionId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM suggestions WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("erase suggestion", "suggestion"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "suggestion" });
        }
        // Webhook deliveries carry the contact's fields in their body: they go too.
        sqlx::query("DELETE FROM webhook_deliveries WHERE suggestion_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("erase webhook deliveries", "webhook delivery"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit erasure", "suggestion"))
    }

    /// Soft-deletes a suggestion; purged after the retention period.
    pub async fn soft_delete_suggestion(&self, id: SuggestionId) -> Result<()> {
        let done = sqlx::query(
            "UPDATE suggestions SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(id.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("delete suggestion", "suggestion"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "suggestion" });
        }
        Ok(())
    }

    /// Every recorded change of a suggestion, oldest first.
    pub async fn suggestion_history(&self, id: SuggestionId) -> Result<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT field, old_value, new_value, at FROM suggestion_history WHERE suggestion_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("suggestion history", "suggestion history"))?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    field: col(row, "field")?,
                    old_value: col(row, "old_value")?,
                    new_value: col(row, "new_value")?,
                    at: col(row, "at")?,
                })
            })
            .collect()
    }
}
