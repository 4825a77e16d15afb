//! A list's outgoing webhooks: the endpoints, their durable outbox of deliveries, and the
//! delivery log (`daemon/migrations/*/0028_webhooks.sql`).
//!
//! Events are queued from the change log (`change_log.rs`), not by the code paths that change
//! suggestions: each endpoint keeps the change-log position up to which its events are queued
//! (`event_cursor`), and [`Store::queue_webhook_events`] moves it and inserts the deliveries in
//! one transaction, only if no other replica moved it first. So no write path can forget an
//! event, and no event is queued twice. A large window (a bulk change of thousands of contacts)
//! is queued in batches of suggestions, each its own transaction: the endpoint's open window
//! (`window_upto`, `window_after`, migration 0038) says how far the batches got.
//!
//! Delivered and failed deliveries, with their log lines, are purged after the retention of
//! `[webhooks]` ([`Store::purge_webhook_deliveries`]), in bounded statements.

use std::time::Duration;

use sqlx::any::AnyRow;

use super::claim_sql::locked_select;
use super::multi_row::{ROWS_PER_STATEMENT, insert_webhook_deliveries};
use super::{
    ChangeHorizon, Error, ListId, Result, SecretId, Store, SuggestionId, UserId, col, duration_ms,
};
use crate::domain::{AttemptOutcome, WebhookDeliveryId, WebhookEvent, WebhookId};

/// One endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub list: ListId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub secret: SecretId,
    /// Events up to this change-log position are queued.
    pub event_cursor: ChangeHorizon,
    /// The window being queued in batches: its horizon, and the last suggestion of it queued;
    /// `None` when no window is open.
    pub window: Option<(ChangeHorizon, SuggestionId)>,
    pub created_at: i64,
}

/// Where an endpoint's queueing stands after a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueStep {
    /// More of the window `upto` remains after suggestion `after`.
    Partial {
        upto: ChangeHorizon,
        after: SuggestionId,
    },
    /// The window is queued: the cursor moves to `upto`.
    Done { upto: ChangeHorizon },
}

/// A new endpoint, its secret already sealed and stored.
#[derive(Clone, Debug)]
pub struct NewWebhook<'a> {
    pub list: ListId,
    pub url: &'a str,
    pub events: &'a [WebhookEvent],
    pub secret: SecretId,
    pub event_cursor: ChangeHorizon,
    pub created_by: UserId,
}

/// One event to queue for one endpoint; `payload` is the JSON body as it will be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    pub event: WebhookEvent,
    pub suggestion: SuggestionId,
    pub payload: String,
}

/// A delivery claimed for sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: WebhookDeliveryId,
    pub webhook: WebhookId,
    pub event: WebhookEvent,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(i64),
    Failed,
}

/// An endpoint's deliveries by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryCounts {
    /// Waiting or being sent.
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// One line of an endpoint's delivery log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttemptRecord {
    pub delivery_id: WebhookDeliveryId,
    pub event: WebhookEvent,
    pub suggestion_id: SuggestionId,
    pub at: i64,
    /// The receiver's status code, when it answered.
    pub http_status: Option<i64>,
    pub outcome: AttemptOutcome,
    /// The delivery's state after this attempt's row was written: `pending`, `delivered`, `failed`.
    pub delivery_status: String,
}

fn events_text(events: &[WebhookEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_events(text: &str) -> Result<Vec<WebhookEvent>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(Error::from))
        .collect()
}

fn webhook_from_row(row: &AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        id: WebhookId(col(row, "id")?),
        list: ListId(col(row, "list_id")?),
        url: col(row, "url")?,
        events: parse_events(&col::<String>(row, "events")?)?,
        secret: SecretId(col(row, "secret_id")?),
        event_cursor: ChangeHorizon(col(row, "event_cursor")?),
        window: match col::<i64>(row, "window_upto")? {
            0 => None,
            upto => Some((ChangeHorizon(upto), SuggestionId(col(row, "window_after")?))),
        },
        created_at: col(row, "created_at")?,
    })
}

/// `SELECT <the columns of a Webhook> FROM webhooks <rest>`, as one literal.
macro_rules! select_webhooks {
    ($rest:literal) => {
        concat!(
            "SELECT id, list_id, url, events, secret_id, event_cursor, window_upto, window_after, \
             created_at FROM webhooks ",
            $rest
        )
    };
}

impl Store {
    pub async fn create_webhook(&self, new: &NewWebhook<'_>) -> Result<WebhookId> {
        let row = sqlx::query(
            "INSERT INTO webhooks (list_id, url, events, secret_id, event_cursor, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.list.0)
        .bind(new.url)
        .bind(events_text(new.events))
        .bind(new.secret.0)
        .bind(new.event_cursor.0)
        .bind(new.created_by.0)
        .bind(self.now_ms())
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("create webhook", "webhook"))?;
        Ok(WebhookId(col(&row, "id")?))
    }

    /// The endpoints of `list`, oldest first.
    pub async fn webhooks_of_list(&self, list: ListId) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(select_webhooks!("WHERE list_id = $1 ORDER BY id"))
            .bind(list.0)
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("read webhooks", "webhook"))?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// Every endpoint of a list that is not deleted (the event feeder's round).
    pub async fn live_webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(select_webhooks!(
            "WHERE list_id IN (SELECT id FROM contact_lists WHERE deleted_at IS NULL) ORDER BY id"
        ))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read webhooks", "webhook"))?;
        rows.iter().map(webhook_from_row).collect()
    }

    pub async fn webhook(&self, id: WebhookId) -> Result<Webhook> {
        let row = sqlx::query(select_webhooks!("WHERE id = $1"))
            .bind(id.0)
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("read webhook", "webhook"))?;
        webhook_from_row(&row)
    }

    /// Deletes endpoint `id` of `list` with its deliveries and log, and its sealed secret, in
    /// one transaction. Not found when it is not that list's.
    pub async fn delete_webhook(&self, list: ListId, id: WebhookId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query("DELETE FROM webhooks WHERE id = $1 AND list_id = $2 RETURNING secret_id")
                .bind(id.0)
                .bind(list.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::db("delete webhook", "webhook"))?
                .ok_or(Error::NotFound { what: "webhook" })?;
        let secret: i64 = col(&row, "secret_id")?;
        // SQLite enforces the cascades only with foreign keys on; say it explicitly.
        for sql in [
            "DELETE FROM webhook_attempts WHERE webhook_id = $1",
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("delete webhook deliveries", "webhook"))?;
        }
        sqlx::query("DELETE FROM secrets WHERE id = $1")
            .bind(secret)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("delete webhook secret", "secret"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit webhook deletion", "webhook"))?;
        Ok(())
    }

    /// Queues `deliveries` for `hook` and moves its queueing on to `step`, in one transaction;
    /// `false` (and nothing queued) when the endpoint's cursor or open window is no longer what
    /// `hook` says (another replica queued this batch).
    pub async fn queue_webhook_events(
        &self,
        hook: &Webhook,
        step: QueueStep,
        deliveries: &[NewDelivery],
    ) -> Result<bool> {
        let now = self.now_ms();
        let (cursor, upto, after) = match step {
            QueueStep::Partial { upto, after } => (hook.event_cursor, upto, after),
            QueueStep::Done { upto } => (upto, ChangeHorizon(0), SuggestionId(0)),
        };
        let (was_upto, was_after) = hook
            .window
            .map_or((0, 0), |(upto, after)| (upto.0, after.0));
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE webhooks SET event_cursor = $1, window_upto = $2, window_after = $3 \
             WHERE id = $4 AND event_cursor = $5 AND window_upto = $6 AND window_after = $7",
        )
        .bind(cursor.0)
        .bind(upto.0)
        .bind(after.0)
        .bind(hook.id.0)
        .bind(hook.event_cursor.0)
        .bind(was_upto)
        .bind(was_after)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("move webhook cursor", "webhook"))?;
        if moved.rows_affected() == 0 {
            return Ok(false);
        }
        for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::query(insert_webhook_deliveries(chunk.len()))
                .bind(now)
                .bind(hook.id.0);
            for d in chunk {
                query = query
                    .bind(d.event.as_str())
                    .bind(d.suggestion.0)
                    .bind(d.payload.as_str());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(Error::db("queue webhook delivery", "webhook delivery"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit webhook deliveries", "webhook delivery"))?;
        Ok(true)
    }

    /// Deletes up to `limit` deliveries that were delivered or failed before `cutoff` (epoch
    /// ms), with their log lines, in one transaction; returns how many. Pending ones stay,
    /// whatever their age.
    pub async fn purge_webhook_deliveries(&self, cutoff: i64, limit: u32) -> Result<u64> {
        const DONE: &str = "SELECT id FROM webhook_deliveries \
             WHERE (status = 'delivered' AND delivered_at < $1) \
                OR (status = 'failed' AND next_attempt_at < $1) ORDER BY id LIMIT $2";
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query(DONE)
            .bind(cutoff)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::db("find old webhook deliveries", "webhook delivery"))?
            .iter()
            .map(|row| col(row, "id"))
            .collect::<Result<_>>()?;
        let Some((first, last)) = ids.first().zip(ids.last()) else {
            return Ok(0);
        };
        // The ids are ordered: the range holds them all, and the status test keeps anything
        // still pending inside it.
        for sql in [
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries \
             WHERE id BETWEEN $2 AND $3 AND ((status = 'delivered' AND delivered_at < $1) \
             OR (status = 'failed' AND next_attempt_at < $1)))",
            "DELETE FROM webhook_deliveries WHERE id BETWEEN $2 AND $3 AND \
             ((status = 'delivered' AND delivered_at < $1) OR (status = 'failed' AND next_attempt_at < $1))",
        ] {
            sqlx::query(sql)
                .bind(cutoff)
                .bind(*first)
                .bind(*last)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("purge webhook deliveries", "webhook delivery"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit webhook purge", "webhook delivery"))?;
        Ok(ids.len() as u64)
    }

    /// How many deliveries of `webhook` are in each state (`pending`, `sending`, `delivered`,
    /// `failed`), for the endpoint's page and the CLI.
    pub async fn webhook_delivery_counts(&self, webhook: WebhookId) -> Result<DeliveryCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = $1 GROUP BY status",
        )
        .bind(webhook.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("count webhook deliveries", "webhook delivery"))?;
        let mut counts = DeliveryCounts::default();
        for row in &rows {
            let n: i64 = col(row, "n")?;
            let n = u64::try_from(n).unwrap_or(0);
            match col::<String>(row, "status")?.as_str() {
                "pending" | "sending" => counts.pending += n,
                "delivered" => counts.delivered += n,
                _ => counts.failed += n,
            }
        }
        Ok(counts)
    }

    /// Claims up to `limit` deliveries due at `now` (pending and due, or `sending` past their
    /// claim) for `worker` during `lease`, counting the attempt. Two workers never hold the same
    /// delivery while a claim is valid (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    pub async fn claim_webhook_deliveries(
        &self,
        worker: &str,
        now: i64,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Delivery>> {
        let sql = locked_select!(
            self.backend,
            "UPDATE webhook_deliveries SET status = 'sending', claimed_by = $1, claim_until = $2, \
               attempts = attempts + 1 \
             WHERE id IN (SELECT d.id FROM webhook_deliveries d \
               WHERE (d.status = 'pending' AND d.next_attempt_at <= $3) \
                  OR (d.status = 'sending' AND d.claim_until < $3) \
               ORDER BY d.next_attempt_at, d.id LIMIT $4",
            "FOR UPDATE OF d SKIP LOCKED",
            ") RETURNING id, webhook_id, event, payload, attempts",
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sql)
            .bind(worker)
            .bind(now.saturating_add(duration_ms(lease)))
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::db("claim webhook deliveries", "webhook delivery"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit webhook claim", "webhook delivery"))?;
        let mut out = rows
            .iter()
            .map(|row| {
                Ok(Delivery {
                    id: WebhookDeliveryId(col(row, "id")?),
                    webhook: WebhookId(col(row, "webhook_id")?),
                    event: col::<String>(row, "event")?.parse()?,
                    payload: col(row, "payload")?,
                    attempts: col(row, "attempts")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    /// Logs one attempt of `delivery` and moves the delivery on, in one transaction.
    pub async fn record_webhook_attempt(
        &self,
        delivery: &Delivery,
        http_status: Option<u16>,
        outcome: AttemptOutcome,
        after: AfterAttempt,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        // A webhook removed while its delivery was in flight took the delivery with it: the
        // attempt has nothing left to be logged against.
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, webhook_id, at, http_status, outcome) \
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)",
        )
        .bind(delivery.id.0)
        .bind(delivery.webhook.0)
        .bind(now)
        .bind(http_status.map(i64::from))
        .bind(outcome.as_str())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("log webhook attempt", "webhook delivery"))?;
        let (sql, at) = match after {
            AfterAttempt::Delivered => (
                "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $1, \
                 claimed_by = NULL, claim_until = NULL WHERE id = $2",
                now,
            ),
            AfterAttempt::RetryAt(at) => (
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
                 claimed_by = NULL, claim_until = NULL WHERE id = $2",
                at,
            ),
            AfterAttempt::Failed => (
                "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = $1, \
                 claimed_by = NULL, claim_until = NULL WHERE id = $2",
                now,
            ),
        };
        sqlx::query(sql)
            .bind(at)
            .bind(delivery.id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("finish webhook attempt", "webhook delivery"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit webhook attempt", "webhook delivery"))?;
        Ok(())
    }

    /// The delivery log of `webhook`, newest attempt first, at most `limit` lines.
    pub async fn webhook_attempts(
        &self,
        webhook: WebhookId,
        limit: u32,
    ) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(
            "SELECT a.delivery_id, d.event, d.suggestion_id, a.at, a.http_status, a.outcome, \
             d.status FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE a.webhook_id = $1 ORDER BY a.id DESC LIMIT $2",
        )
        .bind(webhook.0)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read webhook log", "webhook delivery"))?;
        rows.iter()
            .map(|row| {
                Ok(AttemptRecord {
                    delivery_id: WebhookDeliveryId(col(row, "delivery_id")?),
                    event: col::<String>(row, "event")?.parse()?,
                    suggestion_id: SuggestionId(col(row, "suggestion_id")?),
                    at: col(row, "at")?,
                    http_status: col(row, "http_status")?,
                    outcome: col::<String>(row, "outcome")?.parse()?,
                    delivery_status: col(row, "status")?,
                })
            })
            .collect()
    }
}
