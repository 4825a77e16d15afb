//! The outbox worker: turns due outbox rows into sent mail, durably.
//!
//! Each round claims due rows from the store for a lease (`claim_due`, `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several replicas never take the same row), builds each message from the store
//! (names, companies, list names: nothing else), submits it through the [`Mailer`] and records the
//! result:
//! - accepted (250): `mark_sent`;
//! - transient failure (4xx, timeout, connection error) or a configuration problem (wrong password,
//!   untrusted certificate: the message itself is fine): `mark_retry` at now + capped exponential
//!   backoff, with the reason in `last_error`;
//! - permanent failure (5xx to the message, or a message that cannot be built): `mark_failed` with
//!   the server's reply, never retried, listed by `Store::list_failed` for the operator;
//! - still failing transiently `give_up_after` (3 days) after it was queued: `mark_failed` with
//!   "gave up …" and the last reason, so a long outage ends up in front of the operator too.
//!
//! # Crashes and restarts
//! Nothing lives only in memory: a row is `pending` or `sending` in the database until one of the
//! `mark_*` calls commits. If the process dies (or the database is unreachable) after the server
//! answered 250 but before `mark_sent` committed, the row stays `sending`; when its lease runs out
//! any worker claims it again and sends it again. So that window gives **at most one duplicate and
//! never a loss**: SMTP has no way to ask "did you already take this one?", and losing a notice is
//! worse than repeating it. The same holds for a crash before the 250: the row is simply sent later.
//!
//! The claim names the replica ([`WorkerOptions::replica`]) besides the worker: when that
//! replica's heartbeat (`store::replicas`, renewed every ~2 s, valid ~6 s) has expired, any other
//! replica takes its `sending` rows over at once instead of after the claim's lease (15 minutes).
//! The rule above is unchanged: a dead claimant's last send may be repeated once. A claimant that
//! only stalled past its heartbeat (SIGSTOP, a long pause) and then completes its send makes the
//! same one duplicate, and its late `mark_sent` finds the row sent or re-claimed, never lost.
//!
//! # At most one digest per interval
//! The store schedules a new digest row no earlier than the last sent digest plus the interval and
//! folds new suggestions into the pending row. The worker adds two guards: digest rows for the same
//! user claimed in one round are merged into one message, and a digest for a user who got one less
//! than an interval ago (in this process) is deferred to the end of that interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use tokio_util::sync::CancellationToken;

use crate::domain::{AttentionPayload, OutboxMessage};
use crate::store::{
    self, ListId, OutboxId, OutboxItem, Store, SuggestionId, SuggestionStatus, UserId,
};

use super::backoff::Backoff;
use super::compose::{
    Addressing, AttentionNotice, DigestEntry, InvitationNotice, compose_attention, compose_digest,
    compose_invitation, day_of,
};
use super::error::NotifyError;
use super::mailer::Mailer;
use super::outgoing::OutgoingMail;
use super::stats::NotifyStats;

/// Queues a "mailbox needs attention" notice for the mailbox's owner, due now. `reason` must be a
/// short fixed text (never anything from a message).
pub async fn enqueue_attention(
    store: &Store,
    mailbox: &store::Mailbox,
    reason: &str,
) -> Result<OutboxId, NotifyError> {
    let message = OutboxMessage::Attention(AttentionPayload {
        mailbox: mailbox.id,
        reason: reason.to_owned(),
    });
    Ok(store
        .enqueue(&message, mailbox.owner, store.now_ms())
        .await?)
}

/// Knobs of the worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Names this worker in `claimed_by` (host name + pid is a good choice).
    pub worker_id: String,
    /// The replica this worker runs in (its heartbeat row's id), stored with each claim: once
    /// that heartbeat expires, other replicas reclaim the rows without waiting for `lease`.
    /// `None`: only the lease frees the rows.
    pub replica: Option<String>,
    /// Base of the review links in the messages.
    pub public_base_url: String,
    /// Time between two rounds when the outbox is empty.
    pub poll_interval: Duration,
    /// Rows claimed per round.
    pub batch_size: u32,
    /// How long a claimed row is ours. Must exceed the time one round can take (each send is
    /// bounded by the mailer's deadline, and a dead server stops the round early).
    pub lease: Duration,
    pub backoff: Backoff,
    /// At most one digest per user per interval (15 minutes by default).
    pub digest_interval: Duration,
    /// A notification still not accepted this long after it was queued is marked failed (with the
    /// last reason) instead of retried again, so that the operator sees it in `outbox list`.
    pub give_up_after: Duration,
}

impl WorkerOptions {
    pub fn new(worker_id: impl Into<String>, public_base_url: impl Into<String>) -> WorkerOptions {
        WorkerOptions {
            worker_id: worker_id.into(),
            replica: None,
            public_base_url: public_base_url.into(),
            poll_interval: Duration::from_secs(5),
            batch_size: 10,
            lease: Duration::from_secs(15 * 60),
            backoff: Backoff::default(),
            digest_interval: Duration::from_secs(15 * 60),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    pub claimed: usize,
    /// Messages accepted by the server.
    pub sent: usize,
    /// Rows with nothing left to say (every suggestion already reviewed), closed without a message.
    pub empty: usize,
    pub retried: usize,
    pub failed: usize,
    /// Digests postponed to respect the digest interval.
    pub deferred: usize,
}

/// Drains the outbox through one [`Mailer`].
pub struct OutboxWorker {
    store: Store,
    mailer: Mailer,
    options: WorkerOptions,
    /// When this process last sent each user a digest (store clock, ms); the second interval guard.
    last_digest: HashMap<UserId, i64>,
    stats: Arc<NotifyStats>,
}

/// One message to send, built from one or more outbox rows.
struct Job {
    rows: Vec<OutboxId>,
    /// Highest attempt count among the rows, for the backoff.
    attempts: i64,
    /// When the oldest row was queued (store clock, ms), for `give_up_after`.
    queued_at: i64,
    recipient: UserId,
    is_digest: bool,
    mail: Result<Option<OutgoingMail>, NotifyError>,
}

impl OutboxWorker {
    pub fn new(store: Store, mailer: Mailer, options: WorkerOptions) -> OutboxWorker {
        OutboxWorker {
            store,
            mailer,
            options,
            last_digest: HashMap::new(),
            stats: Arc::new(NotifyStats::default()),
        }
    }

    /// Counts into `stats` instead of counters of its own (a worker restarted by a configuration
    /// reload keeps the totals `/metrics` shows).
    pub fn with_stats(mut self, stats: Arc<NotifyStats>) -> OutboxWorker {
        self.stats = stats;
        self
    }

    /// The worker's counters; clone the `Arc` before spawning to read them while it runs.
    pub fn stats(&self) -> Arc<NotifyStats> {
        Arc::clone(&self.stats)
    }

    /// Starts [`OutboxWorker::run`] on the Tokio runtime.
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    /// Runs rounds until `shutdown` is cancelled. A round in progress is finished first, so a message
    /// is never abandoned between the server's reply and its `mark_*`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let idle = match self.run_once().await {
                Ok(report) => report.claimed == 0,
                Err(err) => {
                    tracing::warn!(cause = %err, "outbox round failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(self.options.poll_interval) => {}
                }
            }
        }
    }

    /// One round: claim due rows, send, record. Errors are only those of the claim itself; every
    /// per-row failure is recorded on its row.
    pub async fn run_once(&mut self) -> Result<RoundReport, NotifyError> {
        let now = self.store.now_ms();
        let items = self
            .store
            .claim_due_as(
                &self.options.worker_id,
                self.options.replica.as_deref(),
                now,
                self.options.batch_size,
                self.options.lease,
            )
            .await?;
        let mut report = RoundReport {
            claimed: items.len(),
            ..RoundReport::default()
        };
        if items.is_empty() {
            return Ok(report);
        }
        let jobs = self.build_jobs(items).await;
        // Once the server is unreachable or refuses our settings, the rest of the round would fail the
        // same way (each after a timeout): put those rows back instead of trying them.
        let mut server_down: Option<NotifyError> = None;
        for job in jobs {
            if let Some(err) = &server_down {
                self.retry(&job, err, &mut report).await;
                continue;
            }
            if job.is_digest && self.defer_digest(&job, &mut report).await {
                continue;
            }
            tracing::trace!(rows = %ids(&job.rows), digest = job.is_digest, "notification job claimed");
            match &job.mail {
                Ok(None) => {
                    self.finish_sent(&job).await;
                    report.empty += 1;
                    NotifyStats::bump(&self.stats.empty);
                }
                Ok(Some(mail)) => match self.mailer.send(mail).await {
                    Ok(()) => {
                        tracing::info!(rows = %ids(&job.rows), message_id = %mail.message_id, "notification sent");
                        self.finish_sent(&job).await;
                        if job.is_digest {
                            self.last_digest.insert(job.recipient, self.store.now_ms());
                        }
                        report.sent += 1;
                        NotifyStats::bump(&self.stats.sent);
                    }
                    Err(err) if err.is_permanent() => self.fail(&job, &err, &mut report).await,
                    Err(err) => {
                        self.retry(&job, &err, &mut report).await;
                        if !matches!(err.failure(), Some(super::SmtpFailure::Transient)) {
                            server_down = Some(err);
                        }
                    }
                },
                Err(err) if err.is_permanent() => self.fail(&job, err, &mut report).await,
                Err(err) => self.retry(&job, err, &mut report).await,
            }
        }
        Ok(report)
    }

    /// Groups rows into messages (all digest rows of one user become one digest) and builds them.
    async fn build_jobs(&self, items: Vec<OutboxItem>) -> Vec<Job> {
        let mut digests: BTreeMap<UserId, Vec<OutboxItem>> = BTreeMap::new();
        let mut jobs = Vec::new();
        for item in items {
            if matches!(item.message, OutboxMessage::Digest(_)) {
                digests.entry(item.recipient).or_default().push(item);
            } else {
                let mail = self.build_single(&item).await;
                jobs.push(Job {
                    rows: vec![item.id],
                    attempts: item.attempts,
                    queued_at: item.created_at,
                    recipient: item.recipient,
                    is_digest: false,
                    mail,
                });
            }
        }
        for (recipient, rows) in digests {
            let mail = self.build_digest(recipient, &rows).await;
            jobs.push(Job {
                rows: rows.iter().map(|row| row.id).collect(),
                attempts: rows.iter().map(|row| row.attempts).max().unwrap_or(1),
                queued_at: rows
                    .iter()
                    .map(|row| row.created_at)
                    .min()
                    .unwrap_or(i64::MAX),
                recipient,
                is_digest: true,
                mail,
            });
        }
        jobs
    }

    async fn build_single(&self, item: &OutboxItem) -> Result<Option<OutgoingMail>, NotifyError> {
        let payload = match &item.message {
            OutboxMessage::Attention(payload) => payload.clone(),
            OutboxMessage::Invitation(payload) => {
                return self.build_invitation(item, payload).await;
            }
            OutboxMessage::Digest(_) => {
                return Err(NotifyError::Compose {
                    reason: "a digest row reached the single-message path".to_owned(),
                });
            }
            OutboxMessage::Unreadable { kind } => {
                return Err(NotifyError::Compose {
                    reason: format!("unreadable notification of kind {kind:?}"),
                });
            }
        };
        let addressing = self.addressing(item.recipient).await?;
        let mailbox = self
            .store
            .get_mailbox(payload.mailbox)
            .await
            .map_err(permanent_if_gone)?;
        let notice = AttentionNotice {
            mailbox_id: mailbox.id.0,
            mailbox_label: mailbox
                .display_name
                .clone()
                .unwrap_or_else(|| mailbox.address.clone()),
            reason: payload.reason,
        };
        compose_attention(&addressing, &notice, crate::clock::now()).map(Some)
    }

    /// The invitation mail with a fresh link: a new token is made here and only its hash
    /// stored (replacing the earlier one), so a retried send carries the one working link.
    /// Nothing is sent for an invitation that was used, expired or whose account is gone.
    async fn build_invitation(
        &self,
        item: &OutboxItem,
        payload: &crate::domain::InvitationPayload,
    ) -> Result<Option<OutgoingMail>, NotifyError> {
        let token = crate::store::new_link_token().map_err(|reason| NotifyError::Compose {
            reason: reason.to_owned(),
        })?;
        let Some(invitation) = self
            .store
            .arm_account_invitation(payload.invitation, &token)
            .await?
        else {
            return Ok(None);
        };
        if invitation.user != item.recipient {
            return Err(NotifyError::Compose {
                reason: "the invitation belongs to another account".to_owned(),
            });
        }
        let addressing = self.addressing(item.recipient).await?;
        compose_invitation(
            &addressing,
            &InvitationNotice {
                token,
                expires_at: invitation.expires_at,
            },
            crate::clock::now(),
        )
        .map(Some)
    }

    /// Collects the suggestions of the rows that are still new, with their list names.
    async fn build_digest(
        &self,
        recipient: UserId,
        rows: &[OutboxItem],
    ) -> Result<Option<OutgoingMail>, NotifyError> {
        let mut suggestion_ids: Vec<SuggestionId> = Vec::new();
        for row in rows {
            let OutboxMessage::Digest(payload) = &row.message else {
                continue;
            };
            for id in payload.suggestions.iter().copied() {
                if !suggestion_ids.contains(&id) {
                    suggestion_ids.push(id);
                }
            }
        }
        let mut list_names: HashMap<ListId, String> = HashMap::new();
        let mut entries = Vec::new();
        for id in suggestion_ids {
            let suggestion = match self.store.get_suggestion(id).await {
                Ok(suggestion) => suggestion,
                // Deleted since: nothing to announce.
                Err(err) if err.is_not_found() => continue,
                Err(err) => return Err(err.into()),
            };
            let alert = match suggestion.status {
                SuggestionStatus::New => None,
                // An accepted contact is announced only by its open change alerts.
                SuggestionStatus::Accepted => {
                    let alerts = self.store.change_alerts(suggestion.list).await?;
                    let Some(change) = alerts.into_iter().find(|c| {
                        c.suggestion == id && c.status == crate::store::ChangeStatus::Open
                    }) else {
                        continue;
                    };
                    Some(format!(
                        "{} ({} by {}, {})",
                        change.alert_line(),
                        change.sender_auth.result.as_str().replace('_', " "),
                        change.sender_auth.method.as_str().replace('_', " "),
                        day_of(change.created_at),
                    ))
                }
                _ => continue,
            };
            let list_name = match list_names.get(&suggestion.list) {
                Some(name) => name.clone(),
                None => match self.store.get_list(suggestion.list).await {
                    Ok(list) => {
                        list_names.insert(list.id, list.name.clone());
                        list.name
                    }
                    Err(err) if err.is_not_found() => continue,
                    Err(err) => return Err(err.into()),
                },
            };
            entries.push(DigestEntry {
                list_id: suggestion.list.0,
                list_name,
                name: suggestion.fields.name.map(|field| field.value),
                company: suggestion.fields.company.map(|field| field.value),
                unverified_sender: suggestion.unverified_sender,
                alert,
            });
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let addressing = self.addressing(recipient).await?;
        compose_digest(&addressing, &entries, crate::clock::now()).map(Some)
    }

    async fn addressing(&self, recipient: UserId) -> Result<Addressing, NotifyError> {
        let user = self
            .store
            .get_user(recipient)
            .await
            .map_err(permanent_if_gone)?;
        let address = user.email.parse().map_err(|err| NotifyError::Compose {
            reason: format!("recipient user {}: address: {err}", user.id),
        })?;
        Ok(Addressing {
            from: self.mailer.from().clone(),
            to: Mailbox::new(user.display_name, address),
            public_base_url: self.options.public_base_url.clone(),
        })
    }

    /// Postpones a digest that would come less than an interval after the previous one.
    async fn defer_digest(&self, job: &Job, report: &mut RoundReport) -> bool {
        let Some(last) = self.last_digest.get(&job.recipient) else {
            return false;
        };
        let due = last.saturating_add(millis(self.options.digest_interval));
        if self.store.now_ms() >= due {
            return false;
        }
        for row in &job.rows {
            if let Err(err) = self
                .store
                .mark_retry(*row, due, "deferred: digest interval")
                .await
            {
                tracing::warn!(row = %row, cause = %err, "defer digest");
            }
        }
        report.deferred += 1;
        NotifyStats::bump(&self.stats.deferred);
        true
    }

    async fn finish_sent(&self, job: &Job) {
        for row in &job.rows {
            // If this fails the row stays `sending` and is sent again after its lease: one duplicate.
            if let Err(err) = self.store.mark_sent(*row).await {
                tracing::error!(row = %row, cause = %err, "record sent notification (it may be sent twice)");
            }
        }
    }

    async fn retry(&self, job: &Job, err: &NotifyError, report: &mut RoundReport) {
        let age_ms = self.store.now_ms().saturating_sub(job.queued_at);
        if age_ms > millis(self.options.give_up_after) {
            let reason = format!(
                "gave up after {} attempt(s) over {} h: {err}",
                job.attempts,
                age_ms / 3_600_000
            );
            self.fail_with(job, &reason, report).await;
            return;
        }
        let delay = self.options.backoff.delay(job.attempts);
        let next_at = self.store.now_ms().saturating_add(millis(delay));
        let reason = err.to_string();
        if err.is_configuration() {
            NotifyStats::bump(&self.stats.configuration_errors);
            tracing::error!(rows = %ids(&job.rows), cause = %reason, retry_in_s = delay.as_secs(), "notification held: fix the smtp settings");
        } else {
            tracing::warn!(rows = %ids(&job.rows), cause = %reason, retry_in_s = delay.as_secs(), "notification will be retried");
        }
        for row in &job.rows {
            if let Err(store_err) = self.store.mark_retry(*row, next_at, &reason).await {
                tracing::warn!(row = %row, cause = %store_err, "record notification retry");
            }
        }
        report.retried += 1;
        NotifyStats::bump(&self.stats.retried);
    }

    async fn fail(&self, job: &Job, err: &NotifyError, report: &mut RoundReport) {
        self.fail_with(job, &err.to_string(), report).await;
    }

    async fn fail_with(&self, job: &Job, reason: &str, report: &mut RoundReport) {
        tracing::error!(rows = %ids(&job.rows), cause = %reason, "notification failed permanently");
        for row in &job.rows {
            if let Err(store_err) = self.store.mark_failed(*row, reason).await {
                tracing::warn!(row = %row, cause = %store_err, "record failed notification");
            }
        }
        report.failed += 1;
        NotifyStats::bump(&self.stats.failed);
    }
}

/// Outbox row ids for a log line: `3, 4`.
fn ids(rows: &[OutboxId]) -> String {
    rows.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A recipient or mailbox that no longer exists will never exist again: fail the row.
fn permanent_if_gone(err: store::Error) -> NotifyError {
    if err.is_not_found() {
        NotifyError::Compose {
            reason: err.to_string(),
        }
    } else {
        err.into()
    }
}

/// One line per failed notification, for `mailsigd outbox list`.
pub fn describe_failed(item: &OutboxItem) -> String {
    format!(
        "#{} {} to user {} after {} attempt(s): {}",
        item.id,
        item.message.kind(),
        item.recipient,
        item.attempts,
        item.last_error.as_deref().unwrap_or("(no reason recorded)")
    )
}
