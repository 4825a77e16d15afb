//! The supervisor: starts everything the daemon runs (store migrations, the pipeline workers,
//! the mail sources, the notification outbox worker, the retention purge) and shuts it all
//! down in order.
//!
//! Every long-lived task is spawned into one [`TaskTracker`] with a child of the shutdown
//! [`CancellationToken`]. On shutdown: `STOPPING=1` to systemd, cancel (sources stop fetching,
//! the pipeline closes its queue but finishes what is queued and in flight, each commit
//! carrying its checkpoint), close the tracker, and wait for it under a deadline.

pub mod blocklist;
pub mod leases;
pub mod notify;
pub mod reload;
pub mod retention;
pub mod sources;
pub mod tenant;
pub mod wal;
pub mod watchdog;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{HttpListener, MetricSources};
use crate::notify::WorkerOptions;
use crate::pipeline::{Fences, Pipeline, PipelineConfig, PipelineHandle};
use crate::store::Store;
use crate::vault::Vault;

/// How long shutdown waits for in-flight work by default.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How long shutdown waits for the leases to be given back.
const LEASE_RELEASE_GRACE: Duration = Duration::from_secs(5);
/// Time between two retention purges.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

/// Everything the supervisor needs, independent of how it was configured.
#[derive(Clone, Debug)]
pub struct SupervisorOptions {
    pub pipeline: PipelineConfig,
    /// Soft-deleted rows older than this many days are purged.
    pub retention_days: u32,
    /// Audit log entries older than this many days are purged.
    pub audit_retention_days: u32,
    pub purge_interval: Duration,
    /// Deadline for finishing in-flight work on shutdown.
    pub shutdown_grace: Duration,
    /// The notification outbox worker, when an SMTP server is configured.
    pub outbox: Option<OutboxOptions>,
    /// Options of the IMAP source.
    pub imap: sources::ImapStartOptions,
    /// Where to serve `/healthz`, `/readyz` and `/metrics`; `None` serves nothing.
    pub http: Option<SocketAddr>,
    /// A socket already bound for that listener, served instead of binding `http` (the
    /// supervisor serves a duplicate of it, so the caller keeps the port across restarts).
    pub http_listener: Option<std::sync::Arc<std::net::TcpListener>>,
    /// The Microsoft 365 source (its webhook is served on `http`), when `[graph]` is set.
    pub graph: Option<crate::sources::graph::GraphStartOptions>,
    /// HTTPS, the redirect listener and CORS for that listener (plain HTTP by default).
    pub https: crate::http::tls::HttpsOptions,
    /// Settings of the user-facing API and pages served on the same listener.
    pub api: crate::http::app::ApiSettings,
    /// This replica's id and lease timings (several replicas on one PostgreSQL).
    pub replica: leases::ReplicaOptions,
    /// `[webhooks]`: the delivery worker's policy and timings.
    pub webhooks: crate::webhooks::WebhookSettings,
    /// `[address_books]`: the policy of connected books and the sync worker's interval.
    pub books: crate::books::BookSettings,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        Self {
            pipeline: PipelineConfig::default(),
            retention_days: 30,
            audit_retention_days: crate::config::validate::DEFAULT_AUDIT_RETENTION_DAYS,
            purge_interval: PURGE_INTERVAL,
            shutdown_grace: SHUTDOWN_GRACE,
            outbox: None,
            imap: sources::ImapStartOptions::default(),
            http: None,
            http_listener: None,
            graph: None,
            https: crate::http::tls::HttpsOptions::default(),
            api: crate::http::app::ApiSettings::default(),
            replica: leases::ReplicaOptions::default(),
            webhooks: crate::webhooks::WebhookSettings::default(),
            books: crate::books::BookSettings::default(),
        }
    }
}

/// How to run the notification outbox worker.
#[derive(Clone)]
pub struct OutboxOptions {
    pub transport: crate::notify::TransportSettings,
    /// The password or the token source (Debug shows neither secret).
    pub auth: crate::notify::SmtpAuth,
    pub worker: WorkerOptions,
}

impl std::fmt::Debug for OutboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxOptions")
            .field("transport", &self.transport)
            .field("auth", &self.auth)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("migrate the database")]
    Migrate(#[source] crate::store::Error),
    #[error("re-seal the stored secrets for their rows")]
    BindSecrets(#[source] crate::store::Error),
    #[error("start the mail sources")]
    Sources(#[source] sources::SourcesError),
    #[error("start the http listener")]
    Http(#[source] crate::http::HttpError),
    #[error("set up the smtp client")]
    Mailer(#[source] crate::notify::NotifyError),
    /// Some tasks were still running when the shutdown deadline passed.
    #[error("shutdown deadline of {grace:?} passed with {pending} tasks still running")]
    ShutdownDeadline { grace: Duration, pending: usize },
}

/// A running daemon: its tasks and the pipeline's entry point.
pub struct Supervisor {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    pipeline: Pipeline,
    grace: Duration,
    http_addr: Option<SocketAddr>,
    reload: reload::ReloadHandle,
    graph: Option<crate::sources::graph::GraphSource>,
    /// The HTTPS certificate, for reloading it (SIGHUP).
    tls_certificate: Option<std::sync::Arc<crate::http::tls::ReloadableCertificate>>,
    redirect_addr: Option<SocketAddr>,
    /// The lease loop runs apart from the other tasks: it keeps renewing while they finish,
    /// and gives the leases back only once they are done.
    leases: TaskTracker,
    leases_stop: CancellationToken,
}

impl Supervisor {
    /// Migrates the store and starts every task. Returns once they are started (not once every
    /// mailbox is connected: one broken mailbox must not keep the daemon from being ready).
    pub async fn start(
        options: SupervisorOptions,
        store: Store,
        vault: Vault,
        shutdown: CancellationToken,
    ) -> Result<Supervisor, SupervisorError> {
        store.migrate().await.map_err(SupervisorError::Migrate)?;
        // Before any task opens a secret: records sealed before bindings existed are re-sealed
        // for their rows once, and from then on only bound records open.
        crate::vault::upgrade::bind_unbound_records(&store, &vault)
            .await
            .map_err(SupervisorError::BindSecrets)?;
        // Bound first: a taken port fails the start before anything else runs.
        let listener = match (&options.http_listener, options.http) {
            (Some(bound), _) => Some(
                bound
                    .try_clone()
                    .map_err(crate::http::HttpError::Adopt)
                    .and_then(HttpListener::from_std),
            ),
            (None, Some(addr)) => Some(HttpListener::bind(addr).await),
            (None, None) => None,
        };
        let http = match listener {
            Some(listener) => {
                let listener = listener.map_err(SupervisorError::Http)?;
                let exposure = crate::http::tls::Exposure::prepare(&options.https)
                    .await
                    .map_err(|e| SupervisorError::Http(e.into()))?;
                Some(listener.with_exposure(exposure))
            }
            None => None,
        };
        let http_addr = http.as_ref().map(HttpListener::local_addr);
        let tls_certificate = http.as_ref().and_then(HttpListener::tls_certificate);
        let redirect_addr = http.as_ref().and_then(HttpListener::redirect_addr);
        let tracker = TaskTracker::new();
        // Fencing matters when several replicas share PostgreSQL; on SQLite one process owns
        // everything, and sources started later (the API) commit without a lease.
        let fences = match store.backend() {
            crate::store::Backend::Postgres => Fences::enforced(),
            crate::store::Backend::Sqlite => Fences::unenforced(),
        };
        let pipeline_config = PipelineConfig {
            identity: crate::pipeline::IdentityKey::derive(&vault),
            ..options.pipeline.clone()
        };
        let pipeline = Pipeline::spawn_fenced(
            store.clone(),
            pipeline_config,
            fences.clone(),
            &tracker,
            shutdown.child_token(),
        );
        // The org blocklist: the file's list as its initial value, then the store's in force
        // before any source delivers a message, and polled for changes made elsewhere.
        blocklist::start(
            &store,
            pipeline.blocklist(),
            &options.pipeline.filters.excluded_domains,
        )
        .await;
        tracker.spawn(blocklist::run(
            store.clone(),
            pipeline.blocklist().clone(),
            shutdown.child_token(),
        ));
        let (leases, leases_stop) = (TaskTracker::new(), CancellationToken::new());
        let ownership = leases::start(
            options.replica.clone(),
            store.clone(),
            fences,
            &leases,
            leases_stop.clone(),
        )
        .await;

        // The outbox worker sits in a slot a configuration reload can restart it in.
        let outbox = reload::OutboxSlot::new(
            tracker.clone(),
            store.clone(),
            shutdown.clone(),
            Arc::default(),
        )
        .with_replica(&options.replica.id);
        let prepared = outbox
            .prepare(options.outbox)
            .map_err(SupervisorError::Mailer)?;
        outbox.apply(prepared);
        let (retention_days, retention_days_changes) =
            tokio::sync::watch::channel(retention::RetentionDays {
                deleted: options.retention_days,
                audit: options.audit_retention_days,
            });
        tracker.spawn(retention::run(
            store.clone(),
            retention_days_changes,
            options.purge_interval,
            shutdown.child_token(),
        ));
        // Signed webhooks: every replica runs the worker; claims keep their deliveries apart.
        tracker.spawn(
            crate::webhooks::Worker::new(
                store.clone(),
                vault.clone(),
                options.webhooks.clone(),
                &options.replica.id,
            )
            .run(shutdown.child_token()),
        );
        // Connected address books: every replica runs the worker; a claim per book keeps each
        // book to one replica at a time.
        let books = crate::books::worker::Worker::new(
            store.clone(),
            vault.clone(),
            options.books.clone(),
            &options.replica.id,
        )
        .with_graph(
            options
                .graph
                .as_ref()
                .map(|g| std::sync::Arc::new(g.config.clone())),
        );
        let book_wake = books.wake();
        tracker.spawn(books.run(shutdown.child_token()));
        tracker.spawn(wal::run(
            store.clone(),
            wal::CHECKPOINT_INTERVAL,
            shutdown.child_token(),
        ));
        let graph_ownership = ownership.clone();
        let (started, imap_source) = sources::start_imap(
            &options.imap,
            &store,
            &vault,
            pipeline.handle(),
            ownership,
            &tracker,
            &shutdown,
        )
        .await
        .map_err(SupervisorError::Sources)?;
        tracing::info!(
            imap_mailboxes = started.imap_mailboxes,
            imap_failed = started.imap_failed,
            workers = options.pipeline.workers,
            "mailsigd started"
        );
        let graph_config = options.graph.as_ref().map(|g| g.config.clone());
        // One signal for both sources and the HTTP layer's state: the IMAP options' (the
        // caller's) is the one kept.
        let mailboxes_changed = options.imap.changes.clone();
        let graph_options = options.graph.map(|mut graph| {
            graph.replica_id = Some(options.replica.id.clone());
            graph.changes = mailboxes_changed.clone();
            graph
        });
        let graph = start_graph(
            graph_options,
            &store,
            &vault,
            pipeline.handle(),
            graph_ownership,
            &tracker,
            &shutdown,
        )
        .await;
        let tenant_wake = Arc::new(tokio::sync::Notify::new());
        if let Some(source) = &graph {
            // The tenant-wide rollout: linked groups' members followed on every replica.
            let config = Arc::clone(source.config());
            let unlinker = crate::sources::graph::GraphUnlinker::new(
                vault.clone(),
                Some(Arc::clone(&config)),
                Some(source.clone()),
            );
            tracker.spawn(tenant::run(
                store.clone(),
                source.clone(),
                unlinker,
                options.replica.id.clone(),
                config.membership_interval,
                Arc::clone(&tenant_wake),
                shutdown.child_token(),
            ));
        }
        if let Some(http) = http {
            let metrics = MetricSources {
                store: store.clone(),
                pipeline: Arc::clone(pipeline.stats()),
                notify: Some(outbox.stats()),
                imap: imap_source.clone(),
            };
            let mut app = crate::http::app::AppState::new(
                store.clone(),
                vault.clone(),
                options.imap.options.clone(),
                options.api.clone(),
            );
            app = app
                .with_webhooks(options.webhooks.clone())
                .with_blocklist(pipeline.blocklist().clone())
                .with_books(options.books.clone())
                .with_book_wake(book_wake)
                .with_mailboxes_changed(mailboxes_changed.clone())
                .with_tenant_wake(tenant_wake);
            if let Some(source) = &graph {
                app = app.with_graph_source(source.clone());
            }
            let public_limits = app.public_limits();
            let mut router = crate::http::app::app_router(app, metrics);
            if let Some(source) = &graph {
                // The Graph webhook and OAuth callback: their own state, no session auth; the
                // limits of the routes without authentication.
                let routes = crate::http::graph::GraphRoutes::new(
                    source.clone(),
                    store.clone(),
                    vault.clone(),
                );
                router = router.merge(crate::http::app::with_correlation_id(
                    crate::http::app::with_public_limits(
                        crate::http::graph::router(routes),
                        public_limits,
                    ),
                ));
                // The pages' "Connect Microsoft 365" button starts linkings with these settings.
                if let Some(config) = graph_config {
                    router =
                        router.layer(axum::Extension(crate::http::web::MicrosoftLinking(config)));
                }
            }
            tracker.spawn(http.serve_app(router, shutdown.child_token()));
        }
        if let Some(interval) = watchdog::interval_from_env() {
            tracker.spawn(watchdog::run(
                pipeline.clone(),
                interval,
                shutdown.child_token(),
            ));
        }
        // Readiness is best effort: not being under systemd, or a vanished socket, is no error.
        let _ = notify::status(&format!(
            "watching {} imap mailboxes",
            started.imap_mailboxes
        ));
        let _ = notify::ready();
        let reload = reload::ReloadHandle {
            pipeline: pipeline.clone(),
            store: store.clone(),
            imap: imap_source,
            retention_days: Arc::new(retention_days),
            outbox: Arc::new(outbox),
            hooks: Arc::default(),
        };
        if let Some(certificate) = tls_certificate.clone() {
            // A certificate that does not load refuses the whole reload; the old one keeps serving.
            reload.add_hook(
                "tls certificate",
                Arc::new(move |_config: &crate::config::Config| {
                    let summary = certificate.reload().map_err(|e| e.to_string())?;
                    tracing::info!(certificate = %summary, "tls certificate reloaded");
                    Ok(())
                }),
            );
        }
        Ok(Supervisor {
            tracker,
            shutdown,
            pipeline,
            grace: options.shutdown_grace,
            http_addr,
            tls_certificate,
            redirect_addr,
            leases,
            leases_stop,
            reload,
            graph,
        })
    }

    /// The pipeline's entry point (for sources started later, e.g. by the HTTP API).
    pub fn pipeline(&self) -> PipelineHandle {
        self.pipeline.handle()
    }

    /// The address the operations endpoints listen on, when configured (the real port when
    /// the configuration asked for port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// What a configuration reload changes (see [`reload`]).
    pub fn reload_handle(&self) -> reload::ReloadHandle {
        self.reload.clone()
    }

    /// The IMAP source, when it runs.
    pub fn imap(&self) -> Option<&crate::sources::imap::ImapSource> {
        self.reload.imap.as_ref()
    }

    /// The Microsoft 365 source, when it runs.
    pub fn graph(&self) -> Option<&crate::sources::graph::GraphSource> {
        self.graph.as_ref()
    }

    /// The HTTPS certificate when HTTPS is configured: `reload()` re-reads its files (SIGHUP).
    pub fn tls_certificate(
        &self,
    ) -> Option<std::sync::Arc<crate::http::tls::ReloadableCertificate>> {
        self.tls_certificate.clone()
    }

    /// The plain-HTTP listener that redirects to HTTPS, when configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_addr
    }

    /// The running pipeline (its counters, its rules cache).
    pub fn running_pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Waits for the shutdown token, then stops everything (see [`Supervisor::stop`]).
    pub async fn wait(self) -> Result<(), SupervisorError> {
        self.shutdown.cancelled().await;
        self.stop().await
    }

    /// Stops intake, lets in-flight work finish and commit, and waits for every task, at most
    /// for the shutdown grace period.
    pub async fn stop(self) -> Result<(), SupervisorError> {
        let _ = notify::stopping();
        tracing::info!(
            in_flight = self.pipeline.stats().snapshot().in_flight,
            "mailsigd stopping"
        );
        self.shutdown.cancel();
        self.tracker.close();
        let stopped = tokio::time::timeout(self.grace, self.tracker.wait()).await;
        self.leases_stop.cancel();
        self.leases.close();
        if tokio::time::timeout(LEASE_RELEASE_GRACE, self.leases.wait())
            .await
            .is_err()
        {
            tracing::warn!("leases not given back before the deadline; they expire on their own");
        }
        match stopped {
            Ok(()) => {
                tracing::info!("mailsigd stopped");
                Ok(())
            }
            Err(_) => Err(SupervisorError::ShutdownDeadline {
                grace: self.grace,
                pending: self.tracker.len(),
            }),
        }
    }
}

/// Starts the Microsoft 365 source when configured. A source that cannot start (no client
/// secret yet) is logged and left out: IMAP mailboxes keep working.
async fn start_graph(
    options: Option<crate::sources::graph::GraphStartOptions>,
    store: &Store,
    vault: &Vault,
    pipeline: PipelineHandle,
    ownership: crate::sources::ownership::Ownership,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Option<crate::sources::graph::GraphSource> {
    let options = options?;
    let source = crate::sources::graph::GraphSource::start(
        options,
        store.clone(),
        vault.clone(),
        pipeline,
        ownership,
        tracker,
        shutdown.child_token(),
    );
    match source.await {
        Ok(source) => Some(source),
        Err(error) => {
            tracing::error!(error = %error, "microsoft 365 source not started");
            None
        }
    }
}

/// Runs the daemon until `shutdown` is cancelled (SIGTERM/SIGINT in `main`, a token in tests).
pub async fn run(
    options: SupervisorOptions,
    store: Store,
    vault: Vault,
    shutdown: CancellationToken,
) -> Result<(), SupervisorError> {
    Supervisor::start(options, store, vault, shutdown)
        .await?
        .wait()
        .await
}
