//! Change suggestions: what an authenticated message said that differs from an accepted contact.
//!
//! The contact itself is never changed by a message (`store::commit`); the difference is kept here,
//! field by field with the old value, until one of the list's editors accepts it (the contact
//! takes the new values, each change recorded in its history) or dismisses it. The same rows are
//! the list's change alerts ("Jane Doe: new title"), reported in the digest and the API while the
//! list's `change_alerts` setting is on.

use sqlx::any::AnyRow;

use super::auth_from_row;
use super::commit::update_fields;
use super::suggestion::{FieldDiff, SuggestionFields};
use super::{Error, ListId, Result, Store, SuggestionId, UserId, col, parse_col, to_json};
use crate::domain::SenderAuth;
use crate::domain::text_enum;

text_enum! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum ChangeStatus("change suggestion status") {
        Open => "open",
        Accepted => "accepted",
        Dismissed => "dismissed",
    }
}

/// A proposed change of an accepted contact.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChangeSuggestion {
    pub id: i64,
    pub list: ListId,
    pub suggestion: SuggestionId,
    /// The contact's current name, for the alert line.
    pub contact_name: Option<String>,
    pub diff: Vec<FieldDiff>,
    /// How the message that proposed it was authenticated.
    pub sender_auth: SenderAuth,
    pub status: ChangeStatus,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl ChangeSuggestion {
    /// The alert's words: "Jane Doe: new title, new phones".
    pub fn alert_line(&self) -> String {
        let what: Vec<String> = self
            .diff
            .iter()
            .map(|d| format!("new {}", d.field))
            .collect();
        format!(
            "{}: {}",
            self.contact_name.as_deref().unwrap_or("(no name)"),
            what.join(", ")
        )
    }
}

/// The columns [`change_from_row`] reads, followed by the caller's condition.
macro_rules! select_changes {
    ($tail:literal) => {
        concat!(
            "SELECT c.id, c.list_id, c.suggestion_id, c.diff, c.auth_result, c.auth_method, c.status, \
             c.created_at, c.decided_at, s.fields FROM change_suggestions c \
             JOIN suggestions s ON s.id = c.suggestion_id ",
            $tail
        )
    };
}

fn change_from_row(row: &AnyRow) -> Result<ChangeSuggestion> {
    let fields: SuggestionFields = super::json_col(row, "fields", "suggestion fields")?;
    Ok(ChangeSuggestion {
        id: col(row, "id")?,
        list: ListId(col(row, "list_id")?),
        suggestion: SuggestionId(col(row, "suggestion_id")?),
        contact_name: fields.name.map(|f| f.value),
        diff: super::json_col(row, "diff", "change diff")?,
        sender_auth: auth_from_row(row)?,
        status: parse_col(row, "status", "change suggestion status")?,
        created_at: col(row, "created_at")?,
        decided_at: col(row, "decided_at")?,
    })
}

impl Store {
    /// A list's change suggestions, newest first; only those with `status` when given.
    pub async fn list_change_suggestions(
        &self,
        list: ListId,
        status: Option<ChangeStatus>,
    ) -> Result<Vec<ChangeSuggestion>> {
        let rows = sqlx::query(select_changes!(
            "WHERE c.list_id = $1 AND s.deleted_at IS NULL AND ($2 IS NULL OR c.status = $2) \
             ORDER BY c.id DESC LIMIT 1000"
        ))
        .bind(list.0)
        .bind(status.map(ChangeStatus::as_str))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list change suggestions", "change suggestion"))?;
        rows.iter().map(change_from_row).collect()
    }

    pub async fn get_change_suggestion(&self, id: i64) -> Result<ChangeSuggestion> {
        let row = sqlx::query(select_changes!("WHERE c.id = $1 AND s.deleted_at IS NULL"))
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(Error::db("get change suggestion", "change suggestion"))?
            .ok_or(Error::NotFound {
                what: "change suggestion",
            })?;
        change_from_row(&row)
    }

    /// Accepts (the contact takes the proposed values; every changed field goes into its history
    /// with the old value) or dismisses an open change suggestion. The same decision again
    /// answers the decided suggestion unchanged; the other one is refused.
    pub async fn decide_change_suggestion(
        &self,
        id: i64,
        accept: bool,
        by: UserId,
    ) -> Result<ChangeSuggestion> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT c.suggestion_id, c.proposed, c.status, s.fields, s.confidence FROM change_suggestions c \
             JOIN suggestions s ON s.id = c.suggestion_id WHERE c.id = $1 AND s.deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("read change suggestion", "change suggestion"))?
        .ok_or(Error::NotFound {
            what: "change suggestion",
        })?;
        let status: ChangeStatus = parse_col(&row, "status", "change suggestion status")?;
        let decided = if accept {
            ChangeStatus::Accepted
        } else {
            ChangeStatus::Dismissed
        };
        if status == decided {
            // The same decision again (a retried request): nothing more to do.
            drop(tx);
            return self.get_change_suggestion(id).await;
        }
        if status != ChangeStatus::Open {
            return Err(Error::Invalid {
                what: "change suggestion",
                reason: format!("already {}", status.as_str()),
            });
        }
        if accept {
            let suggestion = SuggestionId(col(&row, "suggestion_id")?);
            let mut fields: SuggestionFields =
                super::json_col(&row, "fields", "suggestion fields")?;
            let proposed: SuggestionFields = super::json_col(&row, "proposed", "proposed fields")?;
            let confidence: f64 = col(&row, "confidence")?;
            let changes = fields.merge_from(&proposed);
            if !changes.is_empty() {
                update_fields(
                    &mut tx, suggestion, &fields, confidence, None, &changes, now,
                )
                .await?;
            }
        }
        sqlx::query(
            "UPDATE change_suggestions SET status = $1, decided_at = $2, decided_by = $3 WHERE id = $4",
        )
        .bind(decided.as_str())
        .bind(now)
        .bind(by.0)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("decide change suggestion", "change suggestion"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit change decision", "change suggestion"))?;
        self.get_change_suggestion(id).await
    }

    /// The list's change alerts (its change suggestions, newest first), or none while the list's
    /// `change_alerts` setting is off.
    pub async fn change_alerts(&self, list: ListId) -> Result<Vec<ChangeSuggestion>> {
        if !self.change_alerts_enabled(list).await? {
            return Ok(Vec::new());
        }
        self.list_change_suggestions(list, None).await
    }

    pub async fn change_alerts_enabled(&self, list: ListId) -> Result<bool> {
        let row = sqlx::query("SELECT change_alerts FROM contact_lists WHERE id = $1")
            .bind(list.0)
            .fetch_optional(self.reader())
            .await
            .map_err(Error::db("read change alert setting", "list"))?
            .ok_or(Error::NotFound { what: "list" })?;
        Ok(col::<i64>(&row, "change_alerts")? != 0)
    }

    /// The authserv-ids a mailbox trusts, when set for it (`None`: its provider's defaults).
    pub async fn mailbox_trusted_authserv_ids(
        &self,
        mailbox: super::MailboxId,
    ) -> Result<Option<Vec<String>>> {
        let row = sqlx::query("SELECT trusted_authserv_ids FROM mailboxes WHERE id = $1")
            .bind(mailbox.0)
            .fetch_optional(self.reader())
            .await
            .map_err(Error::db("read trusted authserv-ids", "mailbox"))?
            .ok_or(Error::NotFound { what: "mailbox" })?;
        match col::<Option<String>>(&row, "trusted_authserv_ids")? {
            None => Ok(None),
            Some(_) => super::json_col(&row, "trusted_authserv_ids", "trusted authserv-ids"),
        }
    }

    /// Sets (or with `None` resets to the provider's defaults) the authserv-ids a mailbox trusts.
    pub async fn set_mailbox_trusted_authserv_ids(
        &self,
        mailbox: super::MailboxId,
        ids: Option<&[String]>,
    ) -> Result<()> {
        let json = ids
            .map(|ids| to_json(&ids, "trusted authserv-ids"))
            .transpose()?;
        let done = sqlx::query("UPDATE mailboxes SET trusted_authserv_ids = $1 WHERE id = $2")
            .bind(json)
            .bind(mailbox.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("set trusted authserv-ids", "mailbox"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "mailbox" });
        }
        Ok(())
    }

    /// Turns the list's change alerts on or off.
    pub async fn set_change_alerts(&self, list: ListId, on: bool) -> Result<()> {
        let done = sqlx::query("UPDATE contact_lists SET change_alerts = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(list.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("set change alert setting", "list"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "list" });
        }
        Ok(())
    }
}
