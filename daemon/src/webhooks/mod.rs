//! Signed outgoing webhooks: a list's events (`suggestion.created`, `suggestion.accepted`,
//! `contact.changed`) posted to the endpoints its owner added, for CRMs and automation tools.
//!
//! Why a worker of its own and not a call where suggestions change: events are read from the
//! change log that database triggers write (`store::change_log`), so no write path (the
//! pipeline's commit, review, merges, the CLI) can forget one, and a crash between a change and
//! its event loses nothing. Each round the worker
//! 1. queues: per endpoint, the change-log window since its cursor becomes delivery rows, and
//!    the cursor moves, in one transaction (`Store::queue_webhook_events`) per batch of
//!    [`QUEUE_BATCH`] suggestions: a bulk change of 10,000 contacts is 20 short transactions
//!    (and a 21st that finds the window's end and moves the cursor), not one that holds
//!    SQLite's single writer (and every other write) for its whole length;
//! 2. delivers: due deliveries are claimed (several replicas never hold the same one), sent
//!    once each, signed ([`sign`]), and logged; a failure is retried with doubling backoff up to
//!    `max_attempts`, then marked failed. A receiver sees a delivery at least once and can drop
//!    repeats by its `Mailsig-Delivery` id.
//!
//! 3. purges: once an hour, delivered and failed deliveries older than `[webhooks] retention`
//!    (30 days by default) go, with their log lines, [`PURGE_BATCH`] per transaction.
//!
//! Every attempt passes the SSRF guard again (`sources::host_guard`, `[webhooks]` policy); the
//! secret is opened from the vault only for the attempt.

mod deliver;
pub mod events;
mod settings;
pub mod sign;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::domain::AttemptOutcome;
use crate::store::{
    AfterAttempt, ChangePage, Delivery, NewDelivery, QueueStep, SecretKind, Store, Suggestion,
    SuggestionId, Webhook,
};
use crate::vault::{Binding, SealedSecret, Vault};

pub use settings::{Target, TargetError, WebhookSettings, port_allowed};

/// Deliveries claimed per round.
const CLAIM_BATCH: u32 = 32;
/// Deliveries in flight at once.
const PARALLEL: usize = 4;
/// How long a claim holds a delivery against other workers.
const CLAIM_LEASE: Duration = Duration::from_secs(120);
/// Suggestions of an endpoint's window queued per transaction.
pub const QUEUE_BATCH: u32 = 500;
/// Deliveries purged per transaction.
pub const PURGE_BATCH: u32 = 1_000;
/// Time between two purges of old deliveries.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What one round did (for tests and the log).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub queued: usize,
    /// Transactions that queued deliveries (one per batch of suggestions).
    pub batches: usize,
    /// The most deliveries one of those transactions inserted.
    pub largest_batch: usize,
    pub attempts: usize,
    pub delivered: usize,
}

/// The delivery worker of one process.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    vault: Vault,
    settings: WebhookSettings,
    name: String,
}

impl Worker {
    pub fn new(store: Store, vault: Vault, settings: WebhookSettings, name: &str) -> Worker {
        Worker {
            store,
            vault,
            settings,
            name: name.to_owned(),
        }
    }

    /// Runs rounds every `poll_interval` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purge = tokio::time::interval(PURGE_EVERY);
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = purge.tick() => {
                    if let Err(e) = self.purge().await {
                        tracing::warn!(error = %e, "webhook delivery purge failed; retrying in an hour");
                    }
                    continue;
                }
                _ = tick.tick() => {}
            }
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "webhook round failed; retrying next round");
            }
        }
    }

    /// Deletes delivered and failed deliveries older than the retention, with their log lines,
    /// [`PURGE_BATCH`] per transaction; returns how many.
    pub async fn purge(&self) -> crate::store::Result<u64> {
        let retention = i64::try_from(self.settings.retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = self.store.now_ms().saturating_sub(retention);
        let mut purged = 0;
        loop {
            let n = self
                .store
                .purge_webhook_deliveries(cutoff, PURGE_BATCH)
                .await?;
            purged += n;
            if n < u64::from(PURGE_BATCH) {
                break;
            }
        }
        if purged > 0 {
            tracing::info!(purged, "old webhook deliveries purged");
        }
        Ok(purged)
    }

    /// Queues new events, then sends what is due.
    pub async fn round(&self) -> crate::store::Result<Round> {
        let mut round = self.queue_events().await?;
        let due = self
            .store
            .claim_webhook_deliveries(&self.name, self.store.now_ms(), CLAIM_BATCH, CLAIM_LEASE)
            .await?;
        let results: Vec<crate::store::Result<AttemptOutcome>> = futures::stream::iter(due)
            .map(|d| async move { self.send(&d).await })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for result in results {
            round.attempts += 1;
            if result? == AttemptOutcome::Delivered {
                round.delivered += 1;
            }
        }
        Ok(round)
    }

    /// Queues every endpoint's new events without sending anything (the first step of a
    /// round); the answer counts the deliveries and the transactions that queued them.
    pub async fn queue_events(&self) -> crate::store::Result<Round> {
        let mut round = Round::default();
        self.queue(&mut round).await?;
        Ok(round)
    }

    /// Turns every endpoint's new change-log window into deliveries, batch by batch.
    async fn queue(&self, round: &mut Round) -> crate::store::Result<()> {
        for hook in self.store.live_webhooks().await? {
            let mut hook = hook;
            loop {
                let Some((queued, step)) = self.queue_batch(&hook).await? else {
                    break;
                };
                round.queued += queued;
                round.batches += 1;
                round.largest_batch = round.largest_batch.max(queued);
                match step {
                    QueueStep::Partial { upto, after } => hook.window = Some((upto, after)),
                    QueueStep::Done { .. } => break,
                }
            }
        }
        Ok(())
    }

    /// Queues the next batch of `hook`'s window (opening one at the change log's horizon when
    /// none is open); `None` when there is nothing new or another replica took the batch.
    async fn queue_batch(
        &self,
        hook: &Webhook,
    ) -> crate::store::Result<Option<(usize, QueueStep)>> {
        let (upto, after) = match hook.window {
            Some(window) => window,
            None => {
                let upto = self.store.change_horizon().await?;
                if upto <= hook.event_cursor {
                    return Ok(None);
                }
                (upto, SuggestionId(0))
            }
        };
        let since = Some(hook.event_cursor);
        let page = ChangePage {
            after,
            limit: QUEUE_BATCH,
        };
        let rows = self
            .store
            .list_changes(hook.list, since, upto, page)
            .await?;
        let events = events::events_of(&rows, hook.event_cursor);
        let live: BTreeMap<SuggestionId, Suggestion> = self
            .store
            .changed_suggestions(hook.list, since, upto, page)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let now = self.store.now_ms();
        let mut deliveries = Vec::new();
        for (id, kinds) in &events {
            let Some(contact) = live.get(id) else {
                continue; // deleted since: nothing to tell
            };
            for event in kinds.iter().copied().filter(|e| hook.events.contains(e)) {
                let body = events::Body {
                    event,
                    list_id: hook.list,
                    queued_at: now,
                    contact: events::Contact::of(contact),
                };
                deliveries.push(NewDelivery {
                    event,
                    suggestion: *id,
                    payload: body.to_json(),
                });
            }
        }
        let mut page_ids: Vec<SuggestionId> = rows.iter().map(|r| r.suggestion).collect();
        page_ids.dedup();
        let step = match page_ids.last() {
            Some(last) if page_ids.len() >= QUEUE_BATCH as usize => {
                QueueStep::Partial { upto, after: *last }
            }
            _ => QueueStep::Done { upto },
        };
        let done = self
            .store
            .queue_webhook_events(hook, step, &deliveries)
            .await?;
        Ok(done.then_some((deliveries.len(), step)))
    }

    /// One attempt of `delivery`, logged, and the delivery moved on.
    async fn send(&self, delivery: &Delivery) -> crate::store::Result<AttemptOutcome> {
        let attempt = match self.endpoint(delivery).await? {
            Some((url, secret)) => {
                deliver::attempt(
                    &self.settings,
                    &url,
                    &secret,
                    delivery,
                    self.store.now_ms() / 1000,
                )
                .await
            }
            None => deliver::Attempt {
                http_status: None,
                outcome: AttemptOutcome::Unusable,
            },
        };
        let after = match attempt.outcome {
            AttemptOutcome::Delivered => AfterAttempt::Delivered,
            AttemptOutcome::Unusable => AfterAttempt::Failed,
            _ if delivery.attempts >= i64::from(self.settings.max_attempts) => AfterAttempt::Failed,
            _ => {
                let delay = self.settings.backoff(delivery.attempts);
                AfterAttempt::RetryAt(
                    self.store
                        .now_ms()
                        .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
                )
            }
        };
        self.store
            .record_webhook_attempt(delivery, attempt.http_status, attempt.outcome, after)
            .await?;
        if after == AfterAttempt::Failed {
            tracing::warn!(
                webhook = delivery.webhook.0,
                delivery = delivery.id.0,
                outcome = attempt.outcome.as_str(),
                "webhook delivery failed for good"
            );
        }
        Ok(attempt.outcome)
    }

    /// The endpoint's URL and opened secret; `None` when it is gone or the secret does not open.
    async fn endpoint(
        &self,
        delivery: &Delivery,
    ) -> crate::store::Result<Option<(String, zeroize::Zeroizing<Vec<u8>>)>> {
        let hook = match self.store.webhook(delivery.webhook).await {
            Ok(hook) => hook,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let sealed = match self.store.get_secret(hook.secret).await {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let binding = Binding::secret(SecretKind::WebhookSecret, hook.secret);
        match self
            .vault
            .open(&binding, &SealedSecret::from_bytes(sealed.sealed))
        {
            Ok(secret) => Ok(Some((hook.url, secret))),
            Err(_) => {
                tracing::warn!(
                    webhook = hook.id.0,
                    "a webhook secret does not open with the current key"
                );
                Ok(None)
            }
        }
    }
}
