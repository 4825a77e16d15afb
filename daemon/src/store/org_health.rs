//! Every mailbox of the organisation with what an org admin needs to see its health at a
//! glance, in one statement: owner, list, kind, status and reason, reconnecting since, the last
//! message read, and what waits to be read and since when (the lag: a Microsoft 365 mailbox's
//! queued jobs, an IMAP folder's listed but unprocessed messages). Never a setting or a credential.

use sqlx::any::AnyRow;

use super::{
    Error, ListId, MailboxId, MailboxKind, MailboxStatus, Result, Store, UserId, col, parse_col,
};

/// One mailbox's health as the org admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MailboxHealthRow {
    pub id: MailboxId,
    pub kind: MailboxKind,
    pub address: String,
    pub owner: UserId,
    pub owner_email: String,
    pub list: ListId,
    pub list_name: String,
    pub status: MailboxStatus,
    /// A fixed sentence naming why it needs attention, when it does.
    pub status_reason: Option<String>,
    /// The start of the current outage, while the source keeps failing to connect.
    pub reconnecting_since: Option<i64>,
    pub reconnecting_reason: Option<String>,
    /// When the last message was read (epoch ms).
    pub last_message_at: Option<i64>,
    /// Messages read since linking.
    pub messages_read: i64,
    /// Messages known but not read yet, and since when the oldest of them waits (the lag):
    /// for Microsoft 365 the notifications no worker has fetched yet; for IMAP what the
    /// watchers' latest listings found beyond their cursors (`folder_cursors.waiting`).
    pub waiting: i64,
    pub waiting_since: Option<i64>,
    pub created_at: i64,
}

fn row_to_health(row: &AnyRow) -> Result<MailboxHealthRow> {
    let stored: MailboxStatus = parse_col(row, "status", "mailbox status")?;
    let warning: Option<String> = col(row, "source_warning")?;
    let paused = col::<Option<i64>>(row, "paused_at")?.is_some();
    // As `Mailbox::shown_status`: paused by its owner, or a running mailbox with a warning
    // needs attention for it.
    let (status, status_reason) = match (stored, warning) {
        _ if paused => (MailboxStatus::Paused, None),
        (MailboxStatus::Ok, Some(warning)) => (MailboxStatus::NeedsAttention, Some(warning)),
        (stored, _) => (stored, col(row, "status_reason")?),
    };
    Ok(MailboxHealthRow {
        id: MailboxId(col(row, "id")?),
        kind: parse_col(row, "kind", "mailbox kind")?,
        address: col(row, "address")?,
        owner: UserId(col(row, "owner_id")?),
        owner_email: col(row, "owner_email")?,
        list: ListId(col(row, "target_list_id")?),
        list_name: col(row, "list_name")?,
        status,
        status_reason,
        reconnecting_since: col(row, "reconnecting_since")?,
        reconnecting_reason: col(row, "reconnecting_reason")?,
        last_message_at: col(row, "last_message_at")?,
        messages_read: col::<Option<i64>>(row, "messages_read")?.unwrap_or(0),
        waiting: col(row, "waiting")?,
        waiting_since: col(row, "waiting_since")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    /// Every active mailbox: those that need attention first, then those reconnecting, then
    /// the rest, each group by id.
    pub async fn org_mailbox_health(&self) -> Result<Vec<MailboxHealthRow>> {
        let rows = sqlx::query(
            "SELECT m.id, m.kind, m.address, m.owner_id, u.email AS owner_email, m.target_list_id, \
               l.name AS list_name, m.status, m.status_reason, m.reconnecting_since, \
               m.reconnecting_reason, m.source_warning, m.paused_at, m.created_at, \
               c.updated_at AS last_message_at, c.value AS messages_read, \
               (SELECT COUNT(*) FROM graph_jobs j WHERE j.mailbox_id = m.id \
                  AND j.status = 'pending') \
                 + (SELECT CAST(COALESCE(SUM(f.waiting), 0) AS BIGINT) FROM folder_cursors f \
                    WHERE f.mailbox_id = m.id) AS waiting, \
               COALESCE((SELECT MIN(j.created_at) FROM graph_jobs j WHERE j.mailbox_id = m.id \
                  AND j.status = 'pending'), \
                 (SELECT MIN(f.waiting_since) FROM folder_cursors f \
                    WHERE f.mailbox_id = m.id)) AS waiting_since \
             FROM mailboxes m \
             JOIN users u ON u.id = m.owner_id \
             JOIN contact_lists l ON l.id = m.target_list_id \
             LEFT JOIN mailbox_counters c ON c.mailbox_id = m.id AND c.name = 'processed' \
             WHERE m.deleted_at IS NULL \
             ORDER BY CASE WHEN m.status NOT IN ('ok', 'paused') OR m.source_warning IS NOT NULL THEN 0 \
               WHEN m.reconnecting_since IS NOT NULL THEN 1 ELSE 2 END, m.id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read the organisation's mailboxes", "mailbox"))?;
        rows.iter().map(row_to_health).collect()
    }
}
