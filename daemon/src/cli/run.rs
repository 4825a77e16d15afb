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

/// Cancels `shutdown` on the first SIGTERM or SIGINT.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
        () = shutdown.cancelled() => return,
    }
    shutdown.cancel();
}
