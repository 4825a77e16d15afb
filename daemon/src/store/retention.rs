//! Retention: soft-deleted rows are purged for good after a configurable number of days
//! (30 by default in the configuration), and so are sent notifications.

use super::{Error, Result, Store};

/// How many rows each purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub suggestions: u64,
    pub mailboxes: u64,
    pub lists: u64,
    pub users: u64,
    pub outbox: u64,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Store {
    /// Deletes rows soft-deleted more than `days` days ago (children go by cascade), and
    /// sent notifications older than that. One transaction.
    pub async fn purge_deleted(&self, days: u32) -> Result<PurgeReport> {
        let cutoff = self
            .now_ms()
            .saturating_sub(i64::from(days).saturating_mul(DAY_MS));
        let mut tx = self.begin_write().await?;
        let mut report = PurgeReport::default();
        for (sql, slot) in [
            (
                "DELETE FROM suggestions WHERE deleted_at IS NOT NULL AND deleted_at < $1",
                &mut report.suggestions,
            ),
            (
                "DELETE FROM mailboxes WHERE deleted_at IS NOT NULL AND deleted_at < $1",
                &mut report.mailboxes,
            ),
            (
                "DELETE FROM contact_lists WHERE deleted_at IS NOT NULL AND deleted_at < $1",
                &mut report.lists,
            ),
            (
                "DELETE FROM users WHERE deleted_at IS NOT NULL AND deleted_at < $1",
                &mut report.users,
            ),
            (
                "DELETE FROM outbox WHERE status = 'sent' AND sent_at < $1",
                &mut report.outbox,
            ),
        ] {
            let done = sqlx::query(sql)
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("purge deleted rows", "row"))?;
            *slot = done.rows_affected();
        }
        // The change log of a purged list has no reader left (list ids are never reused).
        sqlx::query("DELETE FROM list_changes WHERE list_id NOT IN (SELECT id FROM contact_lists)")
            .execute(&mut *tx)
            .await
            .map_err(Error::db("purge change log", "change"))?;
        // Expired browser sessions are useless at once; they go with every purge.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await
            .map_err(Error::db("purge expired sessions", "session"))?;
        // So are merges that can no longer be undone.
        sqlx::query("DELETE FROM merge_undo WHERE created_at < $1")
            .bind(self.now_ms() - super::merge_undo::KEEP_FOR_MS)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("purge old merge undo entries", "merge undo"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit purge", "row"))?;
        Ok(report)
    }
}
