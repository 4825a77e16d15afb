//! The audit log: who read or changed what. Entries name objects by kind and id and never
//! carry content (no contact fields, no message data). Read back by the org admin's viewer
//! with filters and paging ([`Store::audit_entries`]); purged after `[retention] audit_days`.

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
        rows.iter().map(entry_from_row).collect()
    }
}

/// Who an audit query asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditActorFilter {
    /// Entries of this user.
    User(UserId),
    /// Entries that name no user: the operator's command line and the daemon itself.
    NoUser,
}

/// Which entries [`Store::audit_entries`] returns; every part is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<AuditActorFilter>,
    pub action: Option<AuditAction>,
    pub object_kind: Option<AuditObject>,
    pub object_id: Option<i64>,
    /// From this time on (epoch ms, inclusive).
    pub from: Option<i64>,
    /// Before this time (epoch ms, exclusive).
    pub to: Option<i64>,
    /// Entries older than this entry (the cursor of the next page).
    pub before_id: Option<i64>,
}

impl Store {
    /// The entries matching `filter`, newest first, at most `limit`.
    pub async fn audit_entries(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>> {
        let (user, no_user) = match filter.actor {
            Some(AuditActorFilter::User(user)) => (Some(user.0), 0_i64),
            Some(AuditActorFilter::NoUser) => (None, 1),
            None => (None, 0),
        };
        let rows = sqlx::query(
            "SELECT id, at, actor_id, action, object_kind, object_id, detail FROM audit_log \
             WHERE ($1 IS NULL OR actor_id = $1) AND ($2 = 0 OR actor_id IS NULL) \
               AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR object_kind = $4) \
               AND ($5 IS NULL OR object_id = $5) AND ($6 IS NULL OR at >= $6) \
               AND ($7 IS NULL OR at < $7) AND ($8 IS NULL OR id < $8) \
             ORDER BY id DESC LIMIT $9",
        )
        .bind(user)
        .bind(no_user)
        .bind(filter.action.map(AuditAction::as_str))
        .bind(filter.object_kind.map(AuditObject::as_str))
        .bind(filter.object_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.before_id)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read audit log", "audit entry"))?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Deletes the entries older than `days` days; returns how many.
    pub async fn purge_audit(&self, days: u32) -> Result<u64> {
        let cutoff = self
            .now_ms()
            .saturating_sub(i64::from(days).saturating_mul(24 * 60 * 60 * 1000));
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(cutoff)
            .execute(self.writer())
            .await
            .map_err(Error::db("purge audit log", "audit entry"))?;
        Ok(done.rows_affected())
    }
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: col(row, "id")?,
        at: col(row, "at")?,
        actor: col::<Option<i64>>(row, "actor_id")?.map(UserId),
        action: parse_stored(row, "action", AuditAction::from_stored)?,
        object_kind: parse_stored(row, "object_kind", |text| text.parse().ok())?,
        object_id: col(row, "object_id")?,
        detail: col(row, "detail")?,
    })
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
