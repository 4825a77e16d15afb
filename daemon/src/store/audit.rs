//! The audit log: who read or changed what. Entries name objects by kind and id and never
//! carry content (no contact fields, no message data).

use super::{Error, Result, Store, UserId, col};
use crate::domain::{AuditAction, AuditObject};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// `None` for actions of the daemon itself or the operator's CLI.
    pub actor: Option<UserId>,
    pub action: AuditAction,
    pub object_kind: AuditObject,
    pub object_id: Option<i64>,
    /// Short non-content detail (e.g. a role name).
    pub detail: Option<String>,
}

impl Store {
    pub async fn record_audit(
        &self,
        actor: Option<UserId>,
        action: AuditAction,
        object_kind: AuditObject,
        object_id: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, action, object_kind, object_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.now_ms())
        .bind(actor.map(|a| a.0))
        .bind(action.as_str())
        .bind(object_kind.as_str())
        .bind(object_id)
        .bind(detail)
        .execute(self.writer())
        .await
        .map_err(Error::db("record audit entry", "audit entry"))?;
        Ok(())
    }

    /// The most recent entries, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor_id, action, object_kind, object_id, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read audit log", "audit entry"))?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: col(row, "id")?,
                    at: col(row, "at")?,
                    actor: col::<Option<i64>>(row, "actor_id")?.map(UserId),
                    action: parse_stored(row, "action", AuditAction::from_stored)?,
                    object_kind: parse_stored(row, "object_kind", |text| text.parse().ok())?,
                    object_id: col(row, "object_id")?,
                    detail: col(row, "detail")?,
                })
            })
            .collect()
    }
}

/// Reads a text column into its typed value; a text no variant has is an [`Error::Invalid`].
fn parse_stored<T>(
    row: &sqlx::any::AnyRow,
    name: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T> {
    let text: String = col(row, name)?;
    parse(&text).ok_or_else(|| Error::Invalid {
        what: name,
        reason: format!("unknown {text:?}"),
    })
}
