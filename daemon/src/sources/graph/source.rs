//! The running Microsoft 365 source: one [`MailboxRuntime`] per linked mailbox in status `ok`,
//! the job runner behind the webhook, and a reconciliation with the store (mailboxes linked by
//! the OAuth callback, unlinked by the CLI or the API, or re-consented).
//!
//! Several replicas: only mailboxes whose lease this replica holds run here, each task
//! for one lease (its fencing token; see `runtime`). A lease lost or re-taken with a new token
//! stops the task (and starts a new one for the new lease); a task that stopped because the
//! store refused its write is not started again under the same token.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::app_only::{AppOnlyTokens, GraphAccess};
use super::client::{GraphApi, RetryPolicy};
use super::config::GraphConfig;
use super::error::GraphError;
use super::jobs::{JobOptions, JobRunner};
use super::oauth::{OAuthClient, load_client_secret};
use super::registry::Registry;
use super::runtime::{MailboxRuntime, Shared, Timing};
use super::settings::{Access, GraphSettings};
use super::stats::{GraphStats, GraphStatsSnapshot};
use super::tokens::MailboxTokens;
use super::webhook::Webhook;
use crate::pipeline::PipelineHandle;
use crate::sources::ownership::Ownership;
use crate::store::{
    Mailbox, MailboxFilter, MailboxId, MailboxKind, MailboxStatus, SecretId, Store,
};
use crate::vault::Vault;

/// Finished jobs are kept this long (they dedupe repeated notifications meanwhile).
pub const JOB_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How often finished jobs are purged.
const JOB_PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Everything the supervisor passes to [`GraphSource::start`].
#[derive(Clone, Debug)]
pub struct GraphStartOptions {
    pub config: GraphConfig,
    pub jobs: JobOptions,
    pub timing: Timing,
    pub retry: RetryPolicy,
    /// Time between two comparisons of the running mailboxes with the store.
    pub reconcile_interval: Duration,
    /// Mailbox changes made in this process (pause, resume): reconcile at once.
    pub changes: crate::sources::changed::MailboxesChanged,
    /// This replica's id: jobs are claimed only for mailboxes whose lease it holds. `None`
    /// claims every mailbox's jobs (a single process without leases).
    pub replica_id: Option<String>,
}

impl GraphStartOptions {
    pub fn new(config: GraphConfig, max_message_bytes: u64) -> Self {
        let workers = config.workers;
        Self {
            config,
            jobs: JobOptions {
                worker_id: format!("graph-{}-{}", hostname(), std::process::id()),
                workers,
                poll_interval: Duration::from_secs(2),
                max_message_bytes,
                retry_backoff: Duration::from_secs(1),
                lease_owner: None,
            },
            timing: Timing::default(),
            retry: RetryPolicy::default(),
            reconcile_interval: Duration::from_secs(10),
            changes: crate::sources::changed::MailboxesChanged::default(),
            replica_id: None,
        }
    }
}

fn hostname() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if host.is_empty() {
        "mailsigd".to_owned()
    } else {
        host.to_owned()
    }
}

/// Handle to the running source. Cheap to clone.
#[derive(Clone)]
pub struct GraphSource {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    oauth: OAuthClient,
    /// The app's own tokens, shared by every app-only mailbox and the directory calls.
    app_only: AppOnlyTokens,
    retry: RetryPolicy,
    webhook: Webhook,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    running: Mutex<HashMap<MailboxId, Running>>,
    /// Mailboxes whose task stopped because the store refused its write, with the fencing token
    /// it ran under: not started again until this replica holds a newer lease.
    fenced_out: Mutex<HashMap<MailboxId, Option<i64>>>,
    /// Mailboxes being unlinked: the reconciliation must not start them again meanwhile (the
    /// row is still `ok` until the unlink's last step).
    unlinking: Mutex<HashSet<MailboxId>>,
}

struct Running {
    runtime: Arc<MailboxRuntime>,
    /// The token record it was started with: a re-consent stores a new one.
    secret: Option<SecretId>,
}

impl GraphSource {
    /// Loads the client secret, starts the job runner, every linked mailbox and the
    /// reconciliation loop on `tracker`.
    pub async fn start(
        options: GraphStartOptions,
        store: Store,
        vault: Vault,
        pipeline: PipelineHandle,
        ownership: Ownership,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<GraphSource, GraphError> {
        let config = Arc::new(options.config.clone());
        let client_secret = load_client_secret(&config, &store, &vault).await?;
        let oauth = OAuthClient::new(Arc::clone(&config), client_secret)?;
        let registry = Registry::new(store.clone(), vault.clone());
        let stats = Arc::new(GraphStats::default());
        super::stats::register(&stats);
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            store: store.clone(),
            vault,
            config,
            registry: registry.clone(),
            stats: Arc::clone(&stats),
            wake: Arc::clone(&wake),
            timing: options.timing,
            ownership: ownership.clone(),
        });
        let webhook = Webhook::new(store.clone(), registry, stats, Arc::clone(&wake));
        let source = GraphSource {
            inner: Arc::new(Inner {
                shared,
                app_only: AppOnlyTokens::new(store.clone(), oauth.clone()),
                oauth,
                retry: options.retry,
                webhook,
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
                running: Mutex::default(),
                fenced_out: Mutex::default(),
                unlinking: Mutex::default(),
            }),
        };
        if let Err(error) = source.reconcile().await {
            tracing::warn!(error = %error, "graph mailboxes not started yet");
        }
        let mut jobs = options.jobs;
        jobs.lease_owner = options.replica_id.clone();
        if let Some(replica) = &options.replica_id {
            // Claims in the replica's name: the next owner of a mailbox can tell a previous
            // owner's claims (a killed replica's) from its own and take them over at once.
            jobs.worker_id.clone_from(replica);
        }
        let runner = JobRunner {
            store,
            source: source.clone(),
            pipeline,
            wake,
            options: jobs,
        };
        tracker.spawn(runner.run(shutdown.child_token()));
        let looping = source.clone();
        let interval = options.reconcile_interval;
        let mut changes = options.changes.subscribe();
        let mut ownership = ownership;
        tracker.spawn(async move {
            let mut leases_open = true;
            let mut last_purge: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(interval) => {}
                    // Leases gained or lost: start or stop mailboxes at once.
                    open = ownership.changed(), if leases_open => leases_open = open,
                    () = changes.changed() => {}
                }
                if let Err(error) = looping.reconcile().await {
                    tracing::warn!(error = %error, "graph reconciliation failed");
                }
                if last_purge.is_none_or(|t| t.elapsed() >= JOB_PURGE_EVERY) {
                    looping.purge_finished_jobs().await;
                    last_purge = Some(tokio::time::Instant::now());
                }
            }
            looping.stop_all();
        });
        Ok(source)
    }

    /// The webhook's state, for the HTTP routes.
    pub fn webhook(&self) -> Webhook {
        self.inner.webhook.clone()
    }

    /// The OAuth client (for the callback that completes a linking).
    pub fn oauth(&self) -> &OAuthClient {
        &self.inner.oauth
    }

    pub fn config(&self) -> &Arc<GraphConfig> {
        &self.inner.shared.config
    }

    pub fn stats(&self) -> GraphStatsSnapshot {
        self.inner.shared.stats.snapshot()
    }

    pub(crate) fn stats_handle(&self) -> Arc<GraphStats> {
        Arc::clone(&self.inner.shared.stats)
    }

    /// The tenant's directory, read with the app's own tokens (the organisation's admin
    /// consent): users, groups and the delta on a group's members.
    pub fn directory(&self) -> Result<GraphApi, GraphError> {
        GraphApi::new(
            &self.inner.shared.config.graph_url,
            GraphAccess::AppOnly(self.inner.app_only.clone(), MailboxId(0)),
            self.inner.retry,
            Arc::clone(&self.inner.shared.stats),
        )
    }

    /// The running mailbox, if this process runs it.
    pub fn runtime(&self, mailbox: MailboxId) -> Option<Arc<MailboxRuntime>> {
        self.running().get(&mailbox).map(|r| Arc::clone(&r.runtime))
    }

    /// The mailboxes running now.
    pub fn watched(&self) -> Vec<MailboxId> {
        let mut ids: Vec<MailboxId> = self.running().keys().copied().collect();
        ids.sort();
        ids
    }

    /// Starts new `ok` mailboxes, restarts re-consented ones, stops removed or unhealthy ones.
    pub async fn reconcile(&self) -> Result<(), GraphError> {
        let store = &self.inner.shared.store;
        let filter = MailboxFilter {
            kind: Some(MailboxKind::Graph),
            ..MailboxFilter::default()
        };
        let mailboxes = store.list_mailboxes(&filter).await?;
        // Any replica answers webhooks: forget subscriptions of mailboxes unlinked elsewhere.
        let linked: std::collections::HashSet<MailboxId> = mailboxes.iter().map(|m| m.id).collect();
        self.inner.shared.registry.retain_mailboxes(&linked);
        let shared = &self.inner.shared;
        let owned = shared.ownership.current();
        let wanted: HashMap<MailboxId, &Mailbox> = mailboxes
            .iter()
            .filter(|m| m.status == MailboxStatus::Ok && m.paused_at.is_none() && owned.owns(m.id))
            .map(|m| (m.id, m))
            .collect();
        let stale: Vec<MailboxId> = self
            .running()
            .iter()
            .filter(|(id, running)| {
                wanted.get(id).is_none_or(|m| m.secret != running.secret)
                    || running.runtime.cancel.is_cancelled()
                    // Re-taken with a new token: a new task for the new lease.
                    || running.runtime.fencing != shared.fencing(**id)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(runtime) = self.runtime(id).filter(|r| r.has_lost_lease()) {
                self.fenced_out().insert(id, runtime.fencing);
            }
            self.stop(id);
        }
        // A lease lost for good, or held again with another token: forget the refusal.
        self.fenced_out()
            .retain(|id, fencing| wanted.contains_key(id) && *fencing == shared.fencing(*id));
        for (id, mailbox) in wanted {
            // Checked and started under the `unlinking` lock: an unlink that begins meanwhile
            // either sees this start (and stops it) or is seen here.
            let unlinking = self.unlinking();
            if unlinking.contains(&id)
                || self.running().contains_key(&id)
                || self.fenced_out().contains_key(&id)
            {
                continue;
            }
            self.start_mailbox(mailbox.clone())?;
            drop(unlinking);
        }
        Ok(())
    }

    /// Drops finished jobs after [`JOB_RETENTION`]: by then a message cannot come back through
    /// delta, and the pipeline's Message-ID dedupe would catch it anyway.
    async fn purge_finished_jobs(&self) {
        let store = &self.inner.shared.store;
        let before = store
            .now_ms()
            .saturating_sub(i64::try_from(JOB_RETENTION.as_millis()).unwrap_or(i64::MAX));
        match store.purge_graph_jobs(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "finished graph jobs purged"),
            Err(error) => tracing::warn!(error = %error, "graph job purge failed"),
        }
    }

    /// Starts one mailbox's task (replacing a running one).
    pub fn start_mailbox(&self, mailbox: Mailbox) -> Result<(), GraphError> {
        let shared = Arc::clone(&self.inner.shared);
        let settings = GraphSettings::from_json(&mailbox.settings).unwrap_or_default();
        let access = match settings.access {
            Access::Delegated => MailboxTokens::new(
                shared.store.clone(),
                shared.vault.clone(),
                self.inner.oauth.clone(),
                mailbox.id,
            )
            .into(),
            Access::AppOnly => GraphAccess::AppOnly(self.inner.app_only.clone(), mailbox.id),
        };
        let mut api = GraphApi::new(
            &shared.config.graph_url,
            access,
            self.inner.retry,
            Arc::clone(&shared.stats),
        )?;
        if settings.access == Access::AppOnly {
            api = api.acting_for(&settings.user_id);
        }
        let fencing = shared.fencing(mailbox.id);
        let runtime = Arc::new(MailboxRuntime {
            shared,
            api,
            control: tokio::sync::Mutex::new(()),
            cancel: self.inner.shutdown.child_token(),
            mailbox: mailbox.clone(),
            fencing,
            lease_lost: std::sync::atomic::AtomicBool::new(false),
            unreachable: std::sync::atomic::AtomicBool::new(false),
        });
        let previous = self.running().insert(
            mailbox.id,
            Running {
                runtime: Arc::clone(&runtime),
                secret: mailbox.secret,
            },
        );
        if let Some(previous) = previous {
            previous.runtime.cancel.cancel();
        }
        self.inner.tracker.spawn(runtime.run_supervised());
        tracing::info!(mailbox = %mailbox.id, "graph mailbox started");
        Ok(())
    }

    /// Unlinks a mailbox from inside the daemon (API, web page): stops it, forgets its
    /// subscriptions here, then [`super::unlink`] (Graph deletes, local wipe, soft delete).
    /// Work of the mailbox already under way (a renewal, a delta round) finishes first; no
    /// new work starts, and notifications for its subscriptions are unknown from now on.
    pub async fn unlink(&self, mailbox: MailboxId) -> Result<(), super::LinkError> {
        self.unlinking().insert(mailbox);
        let result = self.unlink_stopped(mailbox).await;
        self.unlinking().remove(&mailbox);
        result
    }

    /// [`GraphSource::unlink`] while the reconciliation leaves the mailbox alone.
    async fn unlink_stopped(&self, mailbox: MailboxId) -> Result<(), super::LinkError> {
        let runtime = self.runtime(mailbox);
        self.stop(mailbox);
        self.inner.shared.registry.remove_mailbox(mailbox);
        // Held until the wipe is done: nothing of this mailbox runs meanwhile.
        let _idle = match &runtime {
            Some(runtime) => Some(runtime.control.lock().await),
            None => None,
        };
        let shared = &self.inner.shared;
        super::unlink(&shared.store, &shared.vault, &shared.config, mailbox).await
    }

    /// Stops a mailbox's task (its subscriptions stay; see [`super::unlink`]).
    pub fn stop(&self, mailbox: MailboxId) -> bool {
        match self.running().remove(&mailbox) {
            Some(running) => {
                running.runtime.cancel.cancel();
                tracing::info!(mailbox = %mailbox, "graph mailbox stopped");
                true
            }
            None => false,
        }
    }

    fn stop_all(&self) {
        for (_, running) in self.running().drain() {
            running.runtime.cancel.cancel();
        }
    }

    fn fenced_out(&self) -> MutexGuard<'_, HashMap<MailboxId, Option<i64>>> {
        self.inner
            .fenced_out
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn unlinking(&self) -> MutexGuard<'_, HashSet<MailboxId>> {
        self.inner
            .unlinking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn running(&self) -> MutexGuard<'_, HashMap<MailboxId, Running>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}
