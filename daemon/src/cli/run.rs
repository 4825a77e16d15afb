//! `mailsigd run`: loads everything, hands over to the supervisor, and turns SIGTERM/SIGINT
//! into its shutdown token.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::notify::WorkerOptions;
use crate::store::Store;
use crate::supervisor::{self, OutboxOptions, SupervisorError, SupervisorOptions};
use crate::vault::Vault;

use super::context;
use super::exit::{CliError, CliResult, Exit};
use super::smtp::smtp_password;

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
    tracing::info!(config = %config.config_path.display(), database = %config.database_url, key = %key_source, "starting");
    let options = supervisor_options(&config, &store, &vault).await;

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    supervisor::run(options, store, vault, shutdown).await.map_err(|e| {
        let exit = match &e {
            SupervisorError::Migrate(_) | SupervisorError::Sources(_) | SupervisorError::Http(_) => Exit::Unavailable,
            SupervisorError::Mailer(_) => Exit::Config,
            SupervisorError::ShutdownDeadline { .. } => Exit::Software,
        };
        CliError::new(exit, e).context("run the daemon")
    })
}

/// The supervisor's options from the configuration. A configured SMTP account whose password
/// is missing is logged and left out: notifications wait in the outbox rather than the whole
/// daemon refusing to start.
async fn supervisor_options(config: &Config, store: &Store, vault: &Vault) -> SupervisorOptions {
    let mut outbox = None;
    if let Some(smtp) = &config.smtp {
        match smtp_password(smtp, store, vault).await {
            Ok(password) => {
                let mut worker = WorkerOptions::new(worker_id(), config.http.public_base_url.clone());
                worker.digest_interval = config.notify.digest_interval;
                outbox = Some(OutboxOptions {
                    smtp: smtp.settings.clone(),
                    password,
                    worker,
                });
            }
            Err(e) => tracing::warn!(error = %e.line(), "notifications disabled until the smtp password is available"),
        }
    }
    SupervisorOptions {
        pipeline: config.pipeline_config(),
        retention_days: config.retention.days,
        outbox,
        imap: supervisor::sources::ImapStartOptions::from_config(config),
        http: Some(config.http.listen),
        graph: config
            .graph
            .clone()
            .map(|graph| crate::sources::graph::GraphStartOptions::new(graph, config.pipeline.max_message_bytes)),
        https: config.http.https_options(),
        api: crate::http::app::ApiSettings {
            trust_forwarded_for: config.http.behind_proxy,
            graph: config.graph.clone().map(std::sync::Arc::new),
            ..config.api.clone()
        },
        replica: match &config.replica_id {
            Some(id) => supervisor::leases::ReplicaOptions { id: id.clone(), ..Default::default() },
            None => supervisor::leases::ReplicaOptions::default(),
        },
        ..SupervisorOptions::default()
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

/// Cancels `shutdown` on the first SIGTERM or SIGINT. SIGHUP (the unit's `ExecReload`) must
/// not kill the daemon, which is its default action: it is caught and logged. Reloading the
/// configuration in place is not implemented yet, so a changed configuration needs a restart.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received"); break; }
            _ = int.recv() => { tracing::info!("SIGINT received"); break; }
            _ = hup.recv() => tracing::warn!("SIGHUP received: reloading in place is not supported yet; restart the daemon to apply a changed configuration"),
            () = shutdown.cancelled() => return,
        }
    }
    shutdown.cancel();
}

/// Keeps message bytes out of core dumps and away from same-user ptrace: a crash must not
/// write mail to disk (`PR_SET_DUMPABLE` 0; the unit also sets `LimitCORE=0`).
fn forbid_core_dumps() {
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        tracing::warn!(error = %e, "cannot disable core dumps (PR_SET_DUMPABLE)");
    }
}

#[cfg(test)]
mod tests {
    use rustix::process::{DumpableBehavior, dumpable_behavior};

    #[test]
    fn core_dumps_are_forbidden() {
        super::forbid_core_dumps();
        assert!(matches!(dumpable_behavior(), Ok(DumpableBehavior::NotDumpable)));
    }
}
