//! Configuration reload in place (`SIGHUP`, the unit's `ExecReload=`): the daemon re-reads and
//! validates its configuration file and applies what can change while it runs, without
//! dropping a connection it does not have to.
//!
//! A reload is all or nothing up to the point where nothing can fail any more: the file is read
//! and validated, the new SMTP client is built and the reload hooks (TLS certificates) run
//! first; any error there leaves the daemon on its previous configuration, logged and counted
//! (`mailsig_config_reloads_total{result="failed"}`), never stopped. Then the new values are
//! swapped in:
//! - `[log] level`: the tracing filter (unless `RUST_LOG` chose it at start);
//! - `[filters]` and `pipeline.max_message_bytes`: the pipeline's daemon-wide filters, for the
//!   next message a worker takes; domains `excluded_domains` gained join the org blocklist
//!   (`service::org::blocklist`; domains it lost stay listed until an admin removes them);
//! - `[imap]` timings: for IMAP connections opened from then on (`[imap] ca_file` is read
//!   and checked again, but its certificates, like the hosts users may reach, change only at a
//!   restart, so the linking check and the watchers always trust the same authorities);
//! - `[smtp]`, `[notify]`, `http.public_base_url`, the SMTP password: the outbox worker is
//!   restarted with them (only when they changed);
//! - `[retention] days` and `audit_days`: the purge runs at once with the new values;
//! - the HTTPS certificate and key files are re-read (a hook the supervisor registers), so a
//!   renewed certificate is served without a restart.
//!
//! Settings that need a restart (listen addresses, certificate file names, database, data
//! directory, master key file, worker and queue sizes, per-host connection cap, log format,
//! API and replica settings) are named in the log as "need restart" and keep their running
//! values.

use std::sync::{Arc, Mutex, PoisonError};

use secrecy::ExposeSecret as _;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError};
use crate::notify::{Mailer, NotifyError, NotifyStats, OutboxWorker};
use crate::pipeline::Pipeline;
use crate::sources::imap::ImapSource;
use crate::store::Store;
use crate::telemetry::{self, LevelChange, TelemetryError};

use super::OutboxOptions;
use super::notify;

/// Something else to reload with the configuration (e.g. the TLS certificate resolver). It
/// must keep its previous state when it fails.
pub type ReloadHook = Arc<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

/// Why a reload was refused. The daemon keeps running on its previous configuration.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the new configuration is invalid")]
    Config(#[source] ConfigError),
    #[error("the new log level is invalid")]
    Log(#[source] TelemetryError),
    #[error("set up the smtp client with the new settings")]
    Smtp(#[source] NotifyError),
    #[error("reload {name}: {reason}")]
    Hook { name: String, reason: String },
}

/// What one reload did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Settings that changed and are in force now.
    pub applied: Vec<&'static str>,
    /// Settings that changed in the file but keep their running value until a restart.
    pub needs_restart: Vec<&'static str>,
}

/// The running parts a reload changes. Cheap to clone; made by the supervisor.
#[derive(Clone)]
pub struct ReloadHandle {
    pub(super) pipeline: Pipeline,
    pub(super) store: Store,
    pub(super) imap: Option<ImapSource>,
    pub(super) retention_days: Arc<watch::Sender<super::retention::RetentionDays>>,
    pub(super) outbox: Arc<OutboxSlot>,
    pub(super) hooks: Arc<Mutex<Vec<(String, ReloadHook)>>>,
}

impl ReloadHandle {
    /// Registers another part to reload with the configuration, e.g. the HTTPS certificate
    /// resolver: `handle.add_hook("tls certificates", Arc::new(|config| resolver.reload()...))`.
    pub fn add_hook(&self, name: impl Into<String>, hook: ReloadHook) {
        self.hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.into(), hook));
    }

    /// Re-reads `current.config_path`, and applies it (see the module docs). On success
    /// `current` is the new configuration; on error it is untouched. Tells systemd
    /// `RELOADING=1` first and `READY=1` after, either way, and counts the outcome.
    ///
    /// `outbox_for` derives the outbox worker's options from a configuration (it knows where
    /// the SMTP password comes from); `None` means no worker.
    pub async fn reload<F, Fut>(
        &self,
        current: &mut Config,
        outbox_for: F,
    ) -> Result<ReloadReport, ReloadError>
    where
        F: FnOnce(&Config) -> Fut,
        Fut: std::future::Future<Output = Option<OutboxOptions>>,
    {
        let _ = notify::reloading();
        tracing::info!(config = %current.config_path.display(), "reloading the configuration");
        let outcome = self.reload_inner(current, outbox_for).await;
        telemetry::metrics::metrics()
            .reloads
            .record(outcome.is_ok());
        match &outcome {
            Ok(report) => {
                tracing::info!(applied = %report.applied.join(", "), "configuration reloaded");
                if !report.needs_restart.is_empty() {
                    tracing::warn!(settings = %report.needs_restart.join(", "), "changed settings need restart to take effect");
                }
                let _ = notify::status("configuration reloaded");
            }
            Err(error) => {
                let chain = error_chain(error);
                tracing::error!(error = %chain, "configuration reload refused; still running on the previous configuration");
                let _ = notify::status("reload failed: running on the previous configuration");
            }
        }
        let _ = notify::ready();
        outcome
    }

    async fn reload_inner<F, Fut>(
        &self,
        current: &mut Config,
        outbox_for: F,
    ) -> Result<ReloadReport, ReloadError>
    where
        F: FnOnce(&Config) -> Fut,
        Fut: std::future::Future<Output = Option<OutboxOptions>>,
    {
        // Stage 1: everything that can fail, with nothing changed yet.
        let new = Config::load(&current.config_path).map_err(ReloadError::Config)?;
        telemetry::check_filter(&new.log.level).map_err(|error| {
            ReloadError::Log(TelemetryError::Filter {
                filter: new.log.level.clone(),
                reason: error.to_string(),
            })
        })?;
        let outbox = outbox_for(&new).await;
        let prepared_outbox = self.outbox.prepare(outbox).map_err(ReloadError::Smtp)?;
        let hooks = self
            .hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (name, hook) in &hooks {
            hook(&new).map_err(|reason| ReloadError::Hook {
                name: name.clone(),
                reason,
            })?;
        }

        // Stage 2: swap the new values in.
        let mut report = ReloadReport {
            needs_restart: needs_restart(current, &new),
            ..ReloadReport::default()
        };
        for (name, _) in &hooks {
            tracing::debug!(hook = %name, "reloaded");
        }
        if new.log.level != current.log.level {
            match telemetry::set_level(&new.log.level).map_err(ReloadError::Log)? {
                LevelChange::Applied => {
                    tracing::debug!(filter = %new.log.level, "log filter replaced");
                    report.applied.push("log.level");
                }
                LevelChange::OverriddenByEnv => {
                    tracing::warn!("log.level changed but RUST_LOG decides the log filter")
                }
                LevelChange::NotInstalled => {}
            }
        }
        let filters = new.pipeline_config().filters;
        if *self.pipeline.filters() != filters {
            // Domains the file gained join the org blocklist (those it lost stay: the store's
            // list is the truth once seeded; `service::org::blocklist`).
            if filters.excluded_domains != self.pipeline.filters().excluded_domains {
                super::blocklist::start(
                    &self.store,
                    self.pipeline.blocklist(),
                    &filters.excluded_domains,
                )
                .await;
            }
            self.pipeline.set_filters(filters);
            report.applied.push("filters");
        }
        if let Some(imap) = &self.imap {
            // Which hosts users may reach and which CAs are trusted are fixed at start (the API's link check holds its own
            // copy): keep the running values, and report the change as needing a restart.
            let mut options = new.imap.clone();
            let running = imap.options();
            options.allow_private_hosts = running.allow_private_hosts;
            options.allowed_hosts = running.allowed_hosts.clone();
            // So are the operator's CAs: the linking check and the watchers must trust the same.
            options.operator_roots = running.operator_roots.clone();
            if *running != options {
                imap.set_options(options);
                report.applied.push("imap (new connections)");
            }
            // Read again (a rotated client secret); mailboxes started from now on use them.
            imap.set_oauth_providers(super::sources::load_oauth_providers(&new.oauth_providers));
        }
        let days = super::retention::RetentionDays {
            deleted: new.retention.days,
            audit: new.retention.audit_days,
        };
        let running = *self.retention_days.borrow();
        if running != days {
            if running.deleted != days.deleted {
                report.applied.push("retention.days");
            }
            if running.audit != days.audit {
                report.applied.push("retention.audit_days");
            }
            self.retention_days.send_replace(days);
        }
        match self.outbox.apply(prepared_outbox) {
            OutboxChange::Unchanged => {}
            OutboxChange::Started => report.applied.push("smtp (outbox worker started)"),
            OutboxChange::Restarted => report.applied.push("smtp (outbox worker restarted)"),
            OutboxChange::Stopped => report.applied.push("smtp (outbox worker stopped)"),
        }
        *current = new;
        Ok(report)
    }
}

/// The changed settings that a reload cannot apply.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("data_dir", old.data_dir != new.data_dir);
    check("database_url", old.database_url != new.database_url);
    check(
        "database_password_file",
        old.database_password_file != new.database_password_file,
    );
    check(
        "master_key_file",
        old.master_key_file != new.master_key_file,
    );
    check("http.listen", old.http.listen != new.http.listen);
    // The certificate files are re-read on reload; other file names need a restart.
    check("http.tls_cert / http.tls_key", old.http.tls != new.http.tls);
    check(
        "http.redirect_listen",
        old.http.redirect_listen != new.http.redirect_listen,
    );
    check(
        "http.behind_proxy",
        old.http.behind_proxy != new.http.behind_proxy,
    );
    check(
        "http.trusted_proxies",
        old.http.trusted_proxies != new.http.trusted_proxies,
    );
    check(
        "http.cors_origins",
        old.http.cors_origins != new.http.cors_origins,
    );
    check("api", format!("{:?}", old.api) != format!("{:?}", new.api));
    check("replica_id", old.replica_id != new.replica_id);
    // Debug output, not secrets: the Graph client secret lives in the vault, not the config.
    check(
        "graph",
        format!("{:?}", old.graph) != format!("{:?}", new.graph),
    );
    check(
        "pipeline.workers",
        old.pipeline.workers != new.pipeline.workers,
    );
    check(
        "pipeline.queue_capacity",
        old.pipeline.queue_capacity != new.pipeline.queue_capacity,
    );
    check(
        "imap.allowed_hosts / imap.allow_private_hosts",
        old.imap.allowed_hosts != new.imap.allowed_hosts
            || old.imap.allow_private_hosts != new.imap.allow_private_hosts,
    );
    check(
        "imap.ca_file",
        old.imap.ca_file != new.imap.ca_file || old.imap.operator_roots != new.imap.operator_roots,
    );
    check(
        "imap.max_connections_per_host",
        old.imap.max_connections_per_host != new.imap.max_connections_per_host,
    );
    check("log.format", old.log.format != new.log.format);
    check("webhooks", old.webhooks != new.webhooks);
    check("address_books", old.address_books != new.address_books);
    changed
}

/// `error: cause: cause` on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// The outbox worker, restartable with new settings. Its counters outlive restarts.
pub struct OutboxSlot {
    tracker: TaskTracker,
    store: Store,
    shutdown: CancellationToken,
    stats: Arc<NotifyStats>,
    running: Mutex<Option<RunningOutbox>>,
    /// This replica's id, put on every worker's claims (see `WorkerOptions::replica`).
    replica: Option<String>,
}

struct RunningOutbox {
    cancel: CancellationToken,
    fingerprint: Fingerprint,
}

/// What decides whether the worker must restart: its settings and its password.
#[derive(PartialEq, Eq)]
pub(crate) struct Fingerprint {
    settings: String,
    password_digest: [u8; 32],
}

impl Fingerprint {
    fn of(options: &OutboxOptions) -> Fingerprint {
        use sha2::Digest as _;
        let password = match &options.auth {
            crate::notify::SmtpAuth::Password(password) => password.expose_secret(),
            crate::notify::SmtpAuth::OAuth(_) => "",
        };
        let digest = sha2::Sha256::digest(password.as_bytes());
        let mut password_digest = [0u8; 32];
        password_digest.copy_from_slice(&digest);
        Fingerprint {
            settings: format!(
                "{:?} {:?} {:?}",
                options.transport, options.auth, options.worker
            ),
            password_digest,
        }
    }
}

/// A new worker ready to start, or the decision to keep or stop the old one.
pub(crate) enum PreparedOutbox {
    Keep,
    Stop,
    Start(Box<(OutboxWorker, Fingerprint)>),
}

/// What [`OutboxSlot::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxChange {
    Unchanged,
    Started,
    Restarted,
    Stopped,
}

impl OutboxSlot {
    pub(super) fn new(
        tracker: TaskTracker,
        store: Store,
        shutdown: CancellationToken,
        stats: Arc<NotifyStats>,
    ) -> Self {
        Self {
            tracker,
            store,
            shutdown,
            stats,
            running: Mutex::new(None),
            replica: None,
        }
    }

    /// Every worker this slot starts claims outbox rows in the name of replica `id`.
    pub(super) fn with_replica(mut self, id: &str) -> Self {
        self.replica = Some(id.to_owned());
        self
    }

    /// The counters `/metrics` shows, shared by every worker this slot starts.
    pub fn stats(&self) -> Arc<NotifyStats> {
        Arc::clone(&self.stats)
    }

    /// Builds the worker the options ask for (the only step that can fail), without touching
    /// the running one.
    pub(crate) fn prepare(
        &self,
        options: Option<OutboxOptions>,
    ) -> Result<PreparedOutbox, NotifyError> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(mut options) = options else {
            return Ok(if running.is_some() {
                PreparedOutbox::Stop
            } else {
                PreparedOutbox::Keep
            });
        };
        if self.replica.is_some() {
            options.worker.replica.clone_from(&self.replica);
        }
        let fingerprint = Fingerprint::of(&options);
        if running
            .as_ref()
            .is_some_and(|r| r.fingerprint == fingerprint)
        {
            return Ok(PreparedOutbox::Keep);
        }
        let mailer = Mailer::build(options.transport, options.auth)?;
        let worker =
            OutboxWorker::new(self.store.clone(), mailer, options.worker).with_stats(self.stats());
        Ok(PreparedOutbox::Start(Box::new((worker, fingerprint))))
    }

    /// Starts, replaces or stops the worker. A replaced worker finishes the round it is in
    /// (rows are leased in the store, so the two never send the same notification).
    pub(crate) fn apply(&self, prepared: PreparedOutbox) -> OutboxChange {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match prepared {
            PreparedOutbox::Keep => OutboxChange::Unchanged,
            PreparedOutbox::Stop => {
                if let Some(old) = running.take() {
                    old.cancel.cancel();
                }
                OutboxChange::Stopped
            }
            PreparedOutbox::Start(start) => {
                let (worker, fingerprint) = *start;
                let cancel = self.shutdown.child_token();
                self.tracker.spawn(worker.run(cancel.clone()));
                match running.replace(RunningOutbox {
                    cancel,
                    fingerprint,
                }) {
                    Some(old) => {
                        old.cancel.cancel();
                        OutboxChange::Restarted
                    }
                    None => OutboxChange::Started,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(imap: &str) -> Config {
        let text = format!("[imap]\n{imap}\n");
        Config::from_toml(
            &text,
            std::path::Path::new("/etc/mailsig/mailsig.toml"),
            Vec::<(String, String)>::new(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A reload says honestly that the hosts users may reach change only at a restart.
    #[test]
    fn allowed_hosts_changes_need_a_restart() {
        let old = config("");
        let allowed = config("allowed_hosts = [\"imap.internal.example\"]");
        assert!(
            needs_restart(&old, &allowed)
                .contains(&"imap.allowed_hosts / imap.allow_private_hosts"),
            "{:?}",
            needs_restart(&old, &allowed)
        );
        let private = config("allow_private_hosts = true");
        assert!(!needs_restart(&old, &private).is_empty());
        let Ok(dir) = tempfile::tempdir() else {
            panic!("temporary directory")
        };
        let ca = dir.path().join("ca.pem");
        let Ok(()) = std::fs::write(&ca, crate::sources::imap::trust::TEST_CA) else {
            panic!("write the CA")
        };
        let with_ca = config(&format!("ca_file = {:?}", ca.display().to_string()));
        assert!(!with_ca.imap.operator_roots.is_empty());
        assert!(
            needs_restart(&old, &with_ca).contains(&"imap.ca_file"),
            "{:?}",
            needs_restart(&old, &with_ca)
        );
        assert!(!needs_restart(&old, &private).is_empty());
        assert!(needs_restart(&old, &config("")).is_empty());
    }
}
