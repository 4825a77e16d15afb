//! The durable notification outbox. Rows are claimed by one worker at a time for a lease;
//! a worker that dies leaves its rows to be claimed again when the lease runs out, or at once
//! when the claim names a replica whose heartbeat has expired (so a crash between the SMTP
//! server's 250 and `mark_sent` may send one duplicate, never lose).

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::claim_sql::locked_select;
use super::{
    Backend, Error, ListId, OutboxId, Result, Store, SuggestionId, UserId, col, duration_ms,
    parse_col, to_json,
};
use crate::domain::text_enum;
use crate::domain::{DigestPayload, OutboxMessage};

/// Kind of the rows `commit_message` enqueues: one pending digest per recipient collects
/// the suggestions created or updated since the last one.
const DIGEST_KIND: &str = OutboxMessage::DIGEST_KIND;

text_enum! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum OutboxStatus("outbox status") {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    pub id: OutboxId,
    pub recipient: UserId,
    pub message: OutboxMessage,
    pub status: OutboxStatus,
    /// Number of claims so far (incremented by `claim_due`).
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// The last failure, e.g. the SMTP server's reply; shown to operators.
    pub last_error: Option<String>,
    pub claimed_by: Option<String>,
    pub claim_until: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Row counts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxDepth {
    pub pending: i64,
    pub sending: i64,
    pub failed: i64,
}

fn item_from_row(row: &AnyRow) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: OutboxId(col(row, "id")?),
        recipient: UserId(col(row, "recipient_id")?),
        message: OutboxMessage::from_stored(
            &col::<String>(row, "kind")?,
            super::json_col(row, "payload", "outbox payload")?,
        ),
        status: parse_col(row, "status", "outbox status")?,
        attempts: col(row, "attempts")?,
        next_attempt_at: col(row, "next_attempt_at")?,
        last_error: col(row, "last_error")?,
        claimed_by: col(row, "claimed_by")?,
        claim_until: col(row, "claim_until")?,
        created_at: col(row, "created_at")?,
        sent_at: col(row, "sent_at")?,
    })
}

/// Error texts are capped so a chatty server cannot bloat the table.
const MAX_ERROR_LEN: usize = 1000;

fn cap(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_LEN) {
        Some((i, _)) => error[..i].to_owned(),
        None => error.to_owned(),
    }
}

impl Store {
    /// Queues a notification, due at `not_before` (epoch ms).
    pub async fn enqueue(
        &self,
        message: &OutboxMessage,
        recipient: UserId,
        not_before: i64,
    ) -> Result<OutboxId> {
        let Some(payload) = message.payload() else {
            return Err(Error::Invalid {
                what: "outbox message",
                reason: format!("an unreadable {:?} row cannot be queued", message.kind()),
            });
        };
        let row = sqlx::query(
            "INSERT INTO outbox (kind, recipient_id, payload, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $5) RETURNING id",
        )
        .bind(message.kind())
        .bind(recipient.0)
        .bind(to_json(&payload, "outbox payload")?)
        .bind(not_before)
        .bind(self.now_ms())
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("enqueue notification", "outbox row"))?;
        Ok(OutboxId(col(&row, "id")?))
    }

    /// Claims up to `limit` rows that are due at `now` (pending and due, or stuck in
    /// `sending` past their claim) for `worker` during `lease`. Two workers never get the
    /// same row while a claim is valid (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    pub async fn claim_due(
        &self,
        worker: &str,
        now: i64,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>> {
        self.claim_due_as(worker, None, now, limit, lease).await
    }

    /// [`Store::claim_due`] in the name of replica `replica` (its `replicas` heartbeat row),
    /// recorded on each claimed row. Also takes `sending` rows whose claim names a replica
    /// whose heartbeat has expired (or was removed): that replica is dead, its claims need not
    /// run their lease out. Likewise rows claimed in `replica`'s own name by another worker: a
    /// previous life of this replica (a configured `[replica] id` reused after a crash; a
    /// worker id is host + pid). A row claimed without a replica is freed by its lease only.
    pub async fn claim_due_as(
        &self,
        worker: &str,
        replica: Option<&str>,
        now: i64,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>> {
        let sql = locked_select!(
            self.backend,
            "UPDATE outbox SET status = 'sending', claimed_by = $1, claim_until = $2, attempts = attempts + 1, \
               claim_replica = $5 \
             WHERE id IN (SELECT o.id FROM outbox o \
               WHERE (o.status = 'pending' AND o.next_attempt_at <= $3) \
                  OR (o.status = 'sending' AND (o.claim_until < $3 OR (o.claim_replica IS NOT NULL \
                      AND NOT EXISTS (SELECT 1 FROM replicas r \
                        WHERE r.id = o.claim_replica AND r.heartbeat_until >= $3)) \
                      OR (o.claim_replica = $5 AND o.claimed_by <> $1))) \
               ORDER BY o.next_attempt_at, o.id LIMIT $4",
            "FOR UPDATE OF o SKIP LOCKED",
            ") RETURNING id, kind, recipient_id, payload, status, attempts, next_attempt_at, last_error, \
               claimed_by, claim_until, created_at, sent_at",
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sql)
            .bind(worker)
            .bind(now.saturating_add(duration_ms(lease)))
            .bind(now)
            .bind(i64::from(limit))
            .bind(replica)
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::db("claim outbox rows", "outbox row"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit outbox claim", "outbox row"))?;
        let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| (i.next_attempt_at, i.id));
        Ok(items)
    }

    pub async fn mark_sent(&self, id: OutboxId) -> Result<()> {
        self.finish(
            id,
            "mark sent",
            "UPDATE outbox SET status = 'sent', sent_at = $1, claimed_by = NULL, claim_until = NULL, claim_replica = NULL, \
             last_error = NULL WHERE id = $2 AND status <> 'failed'",
            self.now_ms(),
            None,
        )
        .await
    }

    /// A transient failure: back to `pending`, due again at `next_at`.
    pub async fn mark_retry(&self, id: OutboxId, next_at: i64, error: &str) -> Result<()> {
        self.finish(
            id,
            "mark for retry",
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1, last_error = $3, claimed_by = NULL, claim_replica = NULL, \
             claim_until = NULL WHERE id = $2 AND status <> 'sent'",
            next_at,
            Some(error),
        )
        .await
    }

    /// A permanent failure: kept as `failed` with the reason, never retried.
    pub async fn mark_failed(&self, id: OutboxId, error: &str) -> Result<()> {
        self.finish(
            id,
            "mark failed",
            "UPDATE outbox SET status = 'failed', sent_at = NULL, last_error = $3, claimed_by = NULL, claim_replica = NULL, \
             claim_until = NULL, next_attempt_at = $1 WHERE id = $2",
            self.now_ms(),
            Some(error),
        )
        .await
    }

    async fn finish(
        &self,
        id: OutboxId,
        op: &'static str,
        sql: &'static str,
        at: i64,
        error: Option<&str>,
    ) -> Result<()> {
        let mut query = sqlx::query(sql).bind(at).bind(id.0);
        if let Some(error) = error {
            query = query.bind(cap(error));
        }
        let done = query
            .execute(self.writer())
            .await
            .map_err(Error::db(op, "outbox row"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "outbox row" });
        }
        Ok(())
    }

    /// Failed notifications, newest first.
    pub async fn list_failed(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        let rows = sqlx::query(
            "SELECT id, kind, recipient_id, payload, status, attempts, next_attempt_at, last_error, claimed_by, \
             claim_until, created_at, sent_at FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list failed notifications", "outbox row"))?;
        rows.iter().map(item_from_row).collect()
    }

    /// A failed notification queued again: `pending`, due now, its attempts and the clock of
    /// the worker's give-up starting again (the reason of the last failure is kept until it is
    /// sent). `NotFound` unless it failed.
    pub async fn requeue_failed(&self, id: OutboxId) -> Result<()> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             created_at = $1, claimed_by = NULL, claim_until = NULL, claim_replica = NULL \
             WHERE id = $2 AND status = 'failed'",
        )
        .bind(self.now_ms())
        .bind(id.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("queue failed notification again", "outbox row"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "failed notification",
            });
        }
        Ok(())
    }

    /// Deletes a failed notification. `NotFound` unless it failed.
    pub async fn drop_failed(&self, id: OutboxId) -> Result<()> {
        let done = sqlx::query("DELETE FROM outbox WHERE id = $1 AND status = 'failed'")
            .bind(id.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("drop failed notification", "outbox row"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "failed notification",
            });
        }
        Ok(())
    }

    pub async fn get_outbox_item(&self, id: OutboxId) -> Result<OutboxItem> {
        let row = sqlx::query(
            "SELECT id, kind, recipient_id, payload, status, attempts, next_attempt_at, last_error, claimed_by, \
             claim_until, created_at, sent_at FROM outbox WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get outbox row", "outbox row"))?
        .ok_or(Error::NotFound { what: "outbox row" })?;
        item_from_row(&row)
    }

    /// Counts of pending, sending and failed rows (for metrics and the CLI).
    pub async fn outbox_depth(&self) -> Result<OutboxDepth> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM outbox WHERE status <> 'sent' GROUP BY status",
        )
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("count outbox", "outbox row"))?;
        let mut depth = OutboxDepth::default();
        for row in &rows {
            let n: i64 = col(row, "n")?;
            match parse_col::<OutboxStatus>(row, "status", "outbox status")? {
                OutboxStatus::Pending => depth.pending = n,
                OutboxStatus::Sending => depth.sending = n,
                OutboxStatus::Failed => depth.failed = n,
                OutboxStatus::Sent => {}
            }
        }
        Ok(depth)
    }
}

/// Adds a suggestion to the recipient's pending digest (or starts one), inside the
/// caller's transaction. A new digest is due no earlier than the last one sent plus the
/// digest interval.
pub(crate) async fn enqueue_digest(
    store: &Store,
    conn: &mut AnyConnection,
    recipient: UserId,
    list: ListId,
    suggestion: SuggestionId,
    now: i64,
) -> Result<()> {
    let sql = match store.backend {
        Backend::Postgres => {
            "SELECT id, payload FROM outbox WHERE kind = $1 AND recipient_id = $2 AND status = 'pending' \
             ORDER BY id LIMIT 1 FOR UPDATE"
        }
        Backend::Sqlite => {
            "SELECT id, payload FROM outbox WHERE kind = $1 AND recipient_id = $2 AND status = 'pending' \
             ORDER BY id LIMIT 1"
        }
    };
    let pending = sqlx::query(sql)
        .bind(DIGEST_KIND)
        .bind(recipient.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::db("find pending digest", "outbox row"))?;
    if let Some(row) = pending {
        let id: i64 = col(&row, "id")?;
        let mut payload: DigestPayload = super::json_col(&row, "payload", "digest payload")?;
        if !payload.add(list, suggestion) {
            return Ok(());
        }
        sqlx::query("UPDATE outbox SET payload = $1 WHERE id = $2")
            .bind(to_json(&payload, "digest payload")?)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(Error::db("extend pending digest", "outbox row"))?;
        return Ok(());
    }
    let payload = DigestPayload {
        suggestions: vec![suggestion],
        lists: vec![list],
        more: 0,
    };
    // Due now, or once the digest interval has passed since the last digest sent to this
    // recipient (an aggregate without GROUP BY always yields one row).
    sqlx::query(
        "INSERT INTO outbox (kind, recipient_id, payload, status, attempts, next_attempt_at, created_at) \
         SELECT $1, $2, $3, 'pending', 0, \
           CASE WHEN MAX(sent_at) IS NULL OR MAX(sent_at) + $4 < $5 THEN $5 ELSE MAX(sent_at) + $4 END, $5 \
         FROM outbox WHERE kind = $1 AND recipient_id = $2 AND status = 'sent'",
    )
    .bind(DIGEST_KIND)
    .bind(recipient.0)
    .bind(to_json(&payload, "digest payload")?)
    .bind(store.digest_interval_ms)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(Error::db("enqueue digest", "outbox row"))?;
    Ok(())
}
