//! `mailsigd run`: loads everything, hands over to the supervisor, turns SIGTERM/SIGINT into
//! its shutdown token and SIGHUP into a configuration reload (`supervisor::reload`).

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::notify::WorkerOptions;
use crate::store::Store;
use crate::supervisor::reload::ReloadHandle;
use crate::supervisor::{self, OutboxOptions, Supervisor, SupervisorError, SupervisorOptions};
use crate::vault::Vault;

use super::context;
use super::exit::{CliError, CliResult, Exit};
use super::smtp::notifier_auth;

/// Options of `mailsigd run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// First start on a machine: when the configuration file does not exist yet, do what
    /// `mailsigd init` does (configuration, data directory, master key), then run. An existing
    /// configuration is never touched.
    #[arg(long)]
    pub init: bool,
    /// With `--init`: the data directory to create.
    #[arg(long, default_value = "mailsig-data", requires = "init")]
    pub data_dir: std::path::PathBuf,
}

pub async fn run(config_path: &Path) -> CliResult {
    forbid_core_dumps();
    let config = context::load_config(config_path)?;
    let (vault, key_source) = context::load_vault(&config)?;
    let store = context::open_store(&config).await?;
    // The SMTP password is opened below, before the supervisor starts: bind old records first.
    context::bind_secrets(&store, &vault).await?;
    tracing::info!(config = %config.config_path.display(), database = %config.database_url, key = %key_source, "starting");
    let options = supervisor_options(&config, &store, &vault).await;

    let shutdown = CancellationToken::new();
    // Installed before the supervisor starts: it announces readiness (systemd's READY=1 and
    // the "mailsigd started" line), after which a SIGHUP or SIGTERM must never meet the
    // default action, which would end the process on the spot.
    let signals = Signals::install();
    let supervisor = Supervisor::start(options, store.clone(), vault.clone(), shutdown.clone())
        .await
        .map_err(supervisor_error)?;
    let reload = supervisor.reload_handle();
    tokio::spawn(handle_signals(
        signals, shutdown, config, reload, store, vault,
    ));
    supervisor.wait().await.map_err(supervisor_error)
}

fn supervisor_error(e: SupervisorError) -> CliError {
    let exit = match &e {
        SupervisorError::Migrate(_)
        | SupervisorError::BindSecrets(_)
        | SupervisorError::Sources(_)
        | SupervisorError::Http(_) => Exit::Unavailable,
        SupervisorError::Mailer(_) => Exit::Config,
        SupervisorError::ShutdownDeadline { .. } => Exit::Software,
    };
    CliError::new(exit, e).context("run the daemon")
}

/// The supervisor's options from the configuration.
async fn supervisor_options(config: &Config, store: &Store, vault: &Vault) -> SupervisorOptions {
    SupervisorOptions {
        pipeline: config.pipeline_config(),
        retention_days: config.retention.days,
        audit_retention_days: config.retention.audit_days,
        outbox: outbox_options(config, store, vault).await,
        imap: supervisor::sources::ImapStartOptions::from_config(config),
        http: Some(config.http.listen),
        graph: config.graph.clone().map(|graph| {
            crate::sources::graph::GraphStartOptions::new(graph, config.pipeline.max_message_bytes)
        }),
        https: config.http.https_options(),
        api: crate::http::app::ApiSettings {
            trusted_proxies: config.http.trusted_proxies.clone(),
            graph: config.graph.clone().map(std::sync::Arc::new),
            mail_oauth: crate::service::imap_oauth::MailOAuthLinking::new(
                crate::supervisor::sources::load_oauth_providers(&config.oauth_providers),
                &config.http.public_base_url,
            ),
            ..config.api.clone()
        },
        webhooks: config.webhooks.clone(),
        books: config.address_books.clone(),
        replica: match &config.replica_id {
            Some(id) => supervisor::leases::ReplicaOptions {
                id: id.clone(),
                ..Default::default()
            },
            None => supervisor::leases::ReplicaOptions::default(),
        },
        ..SupervisorOptions::default()
    }
}

/// The outbox worker's options. A configured SMTP account whose password is missing is logged
/// and left out: notifications wait in the outbox rather than the whole daemon refusing to
/// start (or a reload being refused).
async fn outbox_options(config: &Config, store: &Store, vault: &Vault) -> Option<OutboxOptions> {
    let smtp = config.smtp.as_ref()?;
    match notifier_auth(config, smtp, store, vault).await {
        Ok(auth) => {
            let mut worker = WorkerOptions::new(worker_id(), config.http.public_base_url.clone());
            worker.digest_interval = config.notify.digest_interval;
            Some(OutboxOptions {
                transport: smtp.transport.clone(),
                auth,
                worker,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e.line(), "notifications disabled until the smtp credentials are available");
            None
        }
    }
}

/// Names this process in the outbox's `claimed_by`: host name and pid.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    format!(
        "{}-{}",
        if host.is_empty() { "mailsigd" } else { host },
        std::process::id()
    )
}

/// The signals the daemon acts on, registered with the OS.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// `None` when the OS refused a handler (then only SIGKILL stops the daemon).
    fn install() -> Option<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT, and reloads the configuration on each
/// SIGHUP (the unit's `ExecReload`). A refused reload is logged by the reload itself and the
/// daemon runs on; a reload never stops it.
async fn handle_signals(
    signals: Option<Signals>,
    shutdown: CancellationToken,
    mut config: Config,
    reload: ReloadHandle,
    store: Store,
    vault: Vault,
) {
    let Some(Signals {
        mut term,
        mut int,
        mut hup,
    }) = signals
    else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received"); break; }
            _ = int.recv() => { tracing::info!("SIGINT received"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP received");
                // The outcome is logged, counted and told to systemd by `reload` itself.
                let _ = reload.reload(&mut config, |new| {
                    let new = new.clone();
                    let (store, vault) = (store.clone(), vault.clone());
                    async move { outbox_options(&new, &store, &vault).await }
                }).await;
            }
            () = shutdown.cancelled() => return,
        }
    }
    shutdown.cancel();
}

/// Keeps message bytes out of core dumps and away from same-user ptrace: a crash must not
/// write mail to disk (`PR_SET_DUMPABLE` 0; the unit also sets `LimitCORE=0`).
fn forbid_core_dumps() {
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!(error = %e, "cannot disable core dumps (PR_SET_DUMPABLE)");
    }
}

#[cfg(test)]
mod tests {
    use rustix::process::{DumpableBehavior, dumpable_behavior};

    #[test]
    fn core_dumps_are_forbidden() {
        super::forbid_core_dumps();
        assert!(matches!(
            dumpable_behavior(),
            Ok(DumpableBehavior::NotDumpable)
        ));
    }
}
