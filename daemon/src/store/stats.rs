//! Per-mailbox counters (processed, suggested, merged, `skipped:<reason>`) and the last
//! activity, for the status views of the CLI and API.

use std::collections::BTreeMap;

use super::commit::bump_counter;
use super::{Error, MailboxId, Result, Store, col};

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MailboxStats {
    /// Every counter by name.
    pub counters: BTreeMap<String, i64>,
    /// `skipped:<reason>` counters, by reason.
    pub skipped: BTreeMap<String, i64>,
    /// When a counter last moved (epoch ms).
    pub last_activity: Option<i64>,
}

impl MailboxStats {
    pub fn get(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

impl Store {
    pub async fn mailbox_stats(&self, mailbox: MailboxId) -> Result<MailboxStats> {
        let rows = sqlx::query(
            "SELECT name, value, updated_at FROM mailbox_counters WHERE mailbox_id = $1",
        )
        .bind(mailbox.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read mailbox counters", "counter"))?;
        let mut stats = MailboxStats::default();
        for row in &rows {
            let name: String = col(row, "name")?;
            let value: i64 = col(row, "value")?;
            let at: i64 = col(row, "updated_at")?;
            stats.last_activity = stats.last_activity.max(Some(at));
            if let Some(reason) = name.strip_prefix("skipped:") {
                stats.skipped.insert(reason.to_owned(), value);
            }
            stats.counters.insert(name, value);
        }
        Ok(stats)
    }

    /// Adds to a counter outside a message commit (e.g. a connection-level event).
    pub async fn bump_counter(&self, mailbox: MailboxId, name: &str, by: i64) -> Result<()> {
        let now = self.now_ms();
        let mut conn = self
            .writer()
            .acquire()
            .await
            .map_err(Error::db("acquire connection", "counter"))?;
        bump_counter(&mut conn, mailbox, name, by, now).await
    }
}
