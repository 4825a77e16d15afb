//! The audit log: who read or changed what. Entries name objects by kind and id and never
//! carry content (no contact fields, no message data).

use super::{Error, Result, Store, UserId, col};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// `None` for actions of the daemon itself or the operator's CLI.
    pub actor: Option<UserId>,
    /// A stable verb such as `suggestion.read`, `suggestion.accept`, `list.share`.
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<i64>,
    /// Short non-content detail (e.g. a role name).
    pub detail: Option<String>,
}

impl Store {
    pub async fn record_audit(
        &self,
        actor: Option<UserId>,
        action: &str,
        object_kind: &str,
        object_id: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, action, object_kind, object_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.now_ms())
        .bind(actor.map(|a| a.0))
        .bind(action)
        .bind(object_kind)
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
                    action: col(row, "action")?,
                    object_kind: col(row, "object_kind")?,
                    object_id: col(row, "object_id")?,
                    detail: col(row, "detail")?,
                })
            })
            .collect()
    }
}
