//! One linked Microsoft 365 mailbox at run time: its Graph adapter and the task that keeps its
//! subscriptions alive and its folders in sync.
//!
//! The task: for each folder, a delta baseline on first start (mail already there is not
//! processed), a subscription (created or reused), then a catch-up delta round (covers the gap
//! between baseline and subscription, and any downtime). Then it loops: renew subscriptions at
//! about half their life, and run the safety-net delta every `delta_interval`. Lifecycle jobs
//! call the same operations; a per-mailbox lock keeps them from interleaving.
//!
//! `invalid_grant` ends the task: the mailbox becomes `needs_reconsent` and its owner gets one
//! notice through the outbox. Transient failures are retried with backoff.
//!
//! Several replicas: a task runs for one lease of its mailbox and every write it makes
//! of the mailbox's state (delta links and their jobs, subscription rows, the needs-reconsent
//! mark) carries that lease's fencing token. When the store refuses one (`Fenced`: the replica
//! stalled and another took the mailbox over), this replica lost the mailbox: the task stops
//! quietly (one warning; no needs-attention, no retry) and the source does not start it again
//! until it holds a new lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use super::client::GraphApi;
use super::config::GraphConfig;
use super::error::GraphError;
use super::registry::Registry;
use super::stats::GraphStats;
use crate::pipeline::fences::NOT_HELD;
use crate::sources::ownership::Ownership;
use crate::store::{Backend, Mailbox, MailboxId, MailboxStatus, Store};
use crate::vault::Vault;

/// What every mailbox runtime shares.
pub(crate) struct Shared {
    pub store: Store,
    pub vault: Vault,
    pub config: Arc<GraphConfig>,
    pub registry: Registry,
    pub stats: Arc<GraphStats>,
    /// Wakes the job runner after jobs were queued.
    pub wake: Arc<Notify>,
    pub timing: Timing,
    /// The mailboxes this replica holds the lease of, with their fencing tokens.
    pub ownership: Ownership,
}

impl Shared {
    /// The fencing token the writes of `mailbox`'s task carry: the lease's token on PostgreSQL
    /// with leases ([`NOT_HELD`] when this replica holds none, so any write is refused), `None`
    /// without leases (SQLite's single owner, a source owning everything), like the IMAP
    /// source's `StoreCheckpoints::fenced_by`.
    pub(crate) fn fencing(&self, mailbox: MailboxId) -> Option<i64> {
        if self.store.backend() != Backend::Postgres {
            return None;
        }
        let owned = self.ownership.current();
        if owned.everything {
            return None;
        }
        Some(owned.leases.get(&mailbox).copied().unwrap_or(NOT_HELD))
    }
}

/// How often the mailbox task looks at its subscriptions, and how it backs off.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Time between two checks for due renewals (and for a due safety-net delta).
    pub tick: Duration,
    /// First wait after a transient failure of the task (doubles up to `max_backoff`).
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(60),
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// A running mailbox.
pub struct MailboxRuntime {
    pub(crate) shared: Arc<Shared>,
    pub(crate) mailbox: Mailbox,
    pub(crate) api: GraphApi,
    /// Serialises subscription and delta work of this mailbox (task and lifecycle jobs).
    pub(crate) control: Mutex<()>,
    pub(crate) cancel: CancellationToken,
    /// The token of the lease this task runs under ([`Shared::fencing`] when it started),
    /// carried by each of its writes. A new lease means a new task.
    pub(crate) fencing: Option<i64>,
    /// Set when the store refused a write with `fencing`: the lease is lost.
    pub(crate) lease_lost: AtomicBool,
    /// Set while Graph cannot validate the notification URL, so a folder has no subscription:
    /// the mailbox then shows the warning, every tick polls with delta and tries to subscribe.
    pub(crate) unreachable: AtomicBool,
}

/// How the task ended.
enum TaskEnd {
    Cancelled,
    NeedsReconsent,
    LeaseLost,
}

impl MailboxRuntime {
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    pub fn api(&self) -> &GraphApi {
        &self.api
    }

    /// The folders watched: from the mailbox settings, else the configured default.
    pub fn folders(&self) -> Vec<String> {
        super::settings::GraphSettings::from_json(&self.mailbox.settings)
            .map(|s| s.folders)
            .ok()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| self.shared.config.folders.clone())
    }

    /// [`Self::run`], restarted after a panic like an IMAP watcher: a bug met on one mailbox's
    /// data must not end its watching for good. The panic hook has logged where it happened; the
    /// restart waits with the task's own backoff.
    pub(crate) async fn run_supervised(self: Arc<Self>) {
        use futures::FutureExt;
        let mut backoff = self.shared.timing.backoff;
        loop {
            match std::panic::AssertUnwindSafe(Arc::clone(&self).run())
                .catch_unwind()
                .await
            {
                Ok(()) => return,
                Err(_payload) => {
                    tracing::error!(mailbox = %self.mailbox.id, "graph mailbox task panicked; restarting it");
                }
            }
            if self.sleep(backoff).await.is_err() {
                return;
            }
            backoff = (backoff * 2).min(self.shared.timing.max_backoff);
        }
    }

    /// The mailbox task; returns when cancelled or when the mailbox needs re-consent.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut backoff = self.shared.timing.backoff;
        let mut last_delta = tokio::time::Instant::now();
        let mut started = false;
        loop {
            crate::pipeline::fault_injection::graph_task();
            let step = if started {
                self.tick(&mut last_delta).await
            } else {
                self.start().await
            };
            match step {
                Ok(()) => {
                    started = true;
                    backoff = self.shared.timing.backoff;
                    let wait = self.shared.timing.tick;
                    if self.sleep(wait).await.is_err() {
                        break;
                    }
                }
                Err(error) => match self.on_error(&error).await {
                    TaskEnd::NeedsReconsent | TaskEnd::LeaseLost => break,
                    TaskEnd::Cancelled => {
                        if self.sleep(backoff).await.is_err() {
                            break;
                        }
                        backoff = (backoff * 2).min(self.shared.timing.max_backoff);
                    }
                },
            }
        }
        tracing::debug!(mailbox = %self.mailbox.id, "graph mailbox task ended");
    }

    /// First start: baseline, subscription and a catch-up round per folder. A folder whose
    /// subscription Graph refused because it could not reach the notification URL is read by
    /// delta all the same, and the mailbox says why it needs attention.
    async fn start(&self) -> Result<(), GraphError> {
        let _control = self.lock_control().await?;
        let mut unreachable = false;
        for folder in self.folders() {
            let baselined = self.ensure_baseline(&folder).await?;
            unreachable |= !self.subscribe(&folder).await?;
            let queued = self.delta_round(&folder).await?;
            tracing::info!(mailbox = %self.mailbox.id, baselined, queued, "graph folder watched");
        }
        self.record_reachability(unreachable, true).await
    }

    /// One periodic check: renewals due, and the safety-net delta when its interval passed.
    /// While Graph cannot reach the notification URL, every tick tries to subscribe again and
    /// reads each folder by delta, so nothing waits for a notification that cannot come.
    async fn tick(&self, last_delta: &mut tokio::time::Instant) -> Result<(), GraphError> {
        let _control = self.lock_control().await?;
        let mut unreachable = match self.renew_due().await {
            Ok(()) => false,
            Err(error) if error.is_handshake_failure() => true,
            Err(error) => return Err(error),
        };
        let polling = self.unreachable.load(Ordering::SeqCst);
        if polling || unreachable || last_delta.elapsed() >= self.shared.config.delta_interval {
            for folder in self.folders() {
                if polling {
                    unreachable |= !self.subscribe(&folder).await?;
                }
                self.delta_round(&folder).await?;
            }
            *last_delta = tokio::time::Instant::now();
        }
        self.record_reachability(unreachable, false).await
    }

    /// [`Self::ensure_subscription`]; `false` when Graph refused it because its validation
    /// request to the notification URL failed (the webhook cannot be reached from Microsoft).
    async fn subscribe(&self, folder: &str) -> Result<bool, GraphError> {
        match self.ensure_subscription(folder).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_handshake_failure() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Shows (or clears) "Microsoft cannot reach <url>" on the mailbox when that changed, or
    /// always when `at_start` (a warning left by an earlier run is cleared or confirmed).
    async fn record_reachability(
        &self,
        unreachable: bool,
        at_start: bool,
    ) -> Result<(), GraphError> {
        let before = self.unreachable.swap(unreachable, Ordering::SeqCst);
        if before == unreachable && !at_start {
            return Ok(());
        }
        let url = self.shared.config.notification_url();
        let warning = unreachable.then(|| {
            format!(
                "Microsoft cannot reach {url} (its validation request failed); new mail is \
                 found by polling until it can"
            )
        });
        let changed = self
            .shared
            .store
            .set_mailbox_warning_fenced(self.mailbox.id, warning.as_deref(), self.fencing)
            .await?;
        if changed && unreachable {
            tracing::warn!(
                mailbox = %self.mailbox.id, url = %url,
                "graph cannot validate the notification url; polling with delta meanwhile"
            );
        } else if changed {
            tracing::info!(mailbox = %self.mailbox.id, "graph reaches the notification url again");
        }
        Ok(())
    }

    /// Logs, and for `invalid_grant` marks the mailbox. Returns whether the task must stop.
    async fn on_error(&self, error: &GraphError) -> TaskEnd {
        if self.lease_lost(error) {
            return TaskEnd::LeaseLost;
        }
        if error.needs_reconsent() {
            self.mark_needs_reconsent().await;
            return TaskEnd::NeedsReconsent;
        }
        tracing::warn!(mailbox = %self.mailbox.id, error = %error, "graph mailbox task failed; retrying");
        TaskEnd::Cancelled
    }

    /// Whether `error` is the store refusing a write with this task's fencing token. If so, the
    /// lease is lost: logs it once and stops the task (the caller gives up what it was doing).
    pub(crate) fn lease_lost(&self, error: &GraphError) -> bool {
        if !matches!(error, GraphError::Store(e) if e.is_fenced()) {
            return false;
        }
        if !self.lease_lost.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                mailbox = %self.mailbox.id, fencing = self.fencing.unwrap_or_default(),
                "graph mailbox taken over by another replica: write refused, task stopped"
            );
        }
        self.cancel.cancel();
        true
    }

    /// Whether this task stopped because its lease was lost.
    pub(crate) fn has_lost_lease(&self) -> bool {
        self.lease_lost.load(Ordering::SeqCst)
    }

    /// For lifecycle jobs: a refused write (lease lost) becomes the "mailbox stopped" error, which
    /// leaves the job queued for the mailbox's new owner rather than failing it.
    pub(crate) fn unless_lease_lost<T>(
        &self,
        result: Result<T, GraphError>,
    ) -> Result<T, GraphError> {
        result.map_err(|error| {
            if self.lease_lost(&error) {
                stopped()
            } else {
                error
            }
        })
    }

    /// `needs_reconsent` plus one notice to the owner, on the transition only. Fenced: a replica
    /// whose lease is gone marks nothing and tells nobody.
    pub(crate) async fn mark_needs_reconsent(&self) {
        let store = &self.shared.store;
        let before = match store.get_mailbox(self.mailbox.id).await {
            Ok(mailbox) => mailbox,
            Err(error) => {
                tracing::warn!(mailbox = %self.mailbox.id, error = %error, "could not read the mailbox to mark it");
                return;
            }
        };
        if before.status == MailboxStatus::NeedsReconsent {
            return;
        }
        const REASON: &str = "Microsoft 365 access was revoked or expired; link the mailbox again";
        let marked = store
            .set_mailbox_status_fenced(
                self.mailbox.id,
                MailboxStatus::NeedsReconsent,
                Some(REASON),
                self.fencing,
            )
            .await;
        if let Err(error) = marked.map_err(GraphError::from) {
            if !self.lease_lost(&error) {
                tracing::warn!(mailbox = %self.mailbox.id, error = %error, "could not mark the mailbox needs_reconsent");
            }
            return;
        }
        tracing::warn!(mailbox = %self.mailbox.id, "graph mailbox needs re-consent");
        if let Err(error) = crate::notify::enqueue_attention(store, &before, REASON).await {
            tracing::warn!(mailbox = %self.mailbox.id, "could not queue the re-consent notice: {error}");
        }
        self.cancel.cancel();
    }

    /// Takes the mailbox's control lock for subscription or delta work; fails once the mailbox
    /// was stopped (unlinked, lease lost), so a lifecycle job that waited for the lock does not
    /// act on a mailbox whose tokens are being wiped.
    pub(crate) async fn lock_control(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, GraphError> {
        let guard = self.control.lock().await;
        if self.cancel.is_cancelled() {
            return Err(stopped());
        }
        Ok(guard)
    }

    /// Sleeps, or fails when the task is cancelled.
    async fn sleep(&self, wait: Duration) -> Result<(), ()> {
        tokio::select! {
            () = self.cancel.cancelled() => Err(()),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }
}

/// The error of work asked of a stopped mailbox (unlinked, lease lost): transient, so a job
/// that meets it is retried, by whichever replica then holds the mailbox.
fn stopped() -> GraphError {
    GraphError::Network {
        op: "mailbox task",
        reason: "the mailbox was stopped".into(),
    }
}
