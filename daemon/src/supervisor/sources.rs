//! Starting the mail sources and keeping them in step with the store and with this replica's
//! leases.
//!
//! Every active IMAP mailbox in status `ok` whose lease this replica holds gets its watchers,
//! its password decrypted from the vault only for the time it takes to hand it over. Mailboxes
//! are linked, changed and removed by the CLI or the API, possibly in another process, so the
//! IMAP source's own reconciliation ([`ImapSource::reconcile_owned`]) runs at start, at every
//! change of the owned set (a lease claimed, lost or given back) and every
//! [`ImapStartOptions::reconcile_interval`]: new mailboxes are started, removed, unhealthy or
//! no longer owned ones stopped, and ones whose settings or credentials changed (also in place)
//! restarted.
//!
//! One mailbox that cannot start (a missing or undecryptable secret, unreadable settings) is
//! logged by id and skipped; it must not keep the others from running.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::pipeline::PipelineHandle;
use crate::sources::imap::{ImapOptions, ImapSource, ReconcileReport, StoreCheckpoints};
use crate::sources::ownership::Ownership;
use crate::store::Store;
use crate::vault::Vault;

/// How often the running watchers are compared with the store by default.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(30);
/// How long shutdown waits for the IMAP watchers to log out.
pub const IMAP_LOGOUT_GRACE: Duration = Duration::from_secs(10);

/// Options of the IMAP source as the supervisor passes them on.
#[derive(Clone, Debug)]
pub struct ImapStartOptions {
    /// Start no watcher at all (e.g. a replica that only serves the API).
    pub disabled: bool,
    /// Limits and timings of the watchers.
    pub options: ImapOptions,
    /// Time between two comparisons of the running watchers with the store.
    pub reconcile_interval: Duration,
    /// The identity providers OAuth-linked mailboxes refresh their tokens at.
    pub oauth: crate::sources::oauth::OAuthProviders,
    /// Mailbox changes made in this process (pause, resume): reconcile at once.
    pub changes: crate::sources::changed::MailboxesChanged,
}

impl Default for ImapStartOptions {
    fn default() -> Self {
        Self {
            disabled: false,
            options: ImapOptions::default(),
            reconcile_interval: RECONCILE_INTERVAL,
            oauth: crate::sources::oauth::OAuthProviders::default(),
            changes: crate::sources::changed::MailboxesChanged::default(),
        }
    }
}

impl ImapStartOptions {
    /// The options from the `[imap]` and `[pipeline]` sections of the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            options: config.imap.clone(),
            oauth: load_oauth_providers(&config.oauth_providers),
            ..Self::default()
        }
    }
}

/// The configured OAuth providers with their client secrets. A provider whose secret cannot be
/// read is left out (logged): its mailboxes do not start and say so.
pub fn load_oauth_providers(
    configs: &[crate::sources::oauth::OAuthProviderConfig],
) -> crate::sources::oauth::OAuthProviders {
    crate::sources::oauth::OAuthProviders::new(configs.iter().filter_map(|config| {
        config
            .load()
            .inspect_err(|error| {
                tracing::error!(provider = %config.name, "oauth provider not loaded: {error}");
            })
            .ok()
    }))
}

/// What the first reconciliation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Started {
    /// Mailboxes whose watchers are scheduled after this round.
    pub imap_mailboxes: usize,
    /// Mailboxes started (or restarted) in this round.
    pub imap_started: usize,
    /// Mailboxes stopped in this round.
    pub imap_stopped: usize,
    /// Mailboxes skipped because they could not be started.
    pub imap_failed: usize,
}

impl Started {
    fn from_report(report: ReconcileReport, watched: usize) -> Self {
        Self {
            imap_mailboxes: watched,
            imap_started: report.started + report.restarted,
            imap_stopped: report.stopped,
            imap_failed: report.failed,
        }
    }
}

/// Why the sources could not be started at all.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("list imap mailboxes")]
    ListMailboxes(#[source] crate::sources::imap::ReconcileError),
}

/// Creates the IMAP source, starts watchers for the active IMAP mailboxes this replica owns,
/// and spawns the reconciliation loop and the source's orderly shutdown on `tracker`. Also
/// returns the source (for its counters), `None` when IMAP is disabled.
#[allow(clippy::too_many_arguments)]
pub async fn start_imap(
    options: &ImapStartOptions,
    store: &Store,
    vault: &Vault,
    pipeline: PipelineHandle,
    ownership: Ownership,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<(Started, Option<ImapSource>), SourcesError> {
    if options.disabled {
        return Ok((Started::default(), None));
    }
    // Fenced where the pipeline is (PostgreSQL): a reset by a stalled ex-owner is refused.
    let checkpoints = match store.backend() {
        crate::store::Backend::Postgres => {
            StoreCheckpoints::new(store.clone()).fenced_by(ownership.clone())
        }
        crate::store::Backend::Sqlite => StoreCheckpoints::new(store.clone()),
    };
    let checkpoints = Arc::new(checkpoints);
    let source = ImapSource::new(
        options.options.clone(),
        pipeline,
        checkpoints,
        shutdown.child_token(),
    );
    source.set_oauth_providers(options.oauth.clone());
    let first = source
        .reconcile_owned(store, vault, &ownership.current())
        .await
        .map_err(SourcesError::ListMailboxes)?;
    let started = Started::from_report(first, source.watched().len());
    let running = source.clone();
    let (store, vault, interval, shutdown) = (
        store.clone(),
        vault.clone(),
        options.reconcile_interval,
        shutdown.clone(),
    );
    let changes = options.changes.subscribe();
    tracker.spawn(async move {
        running
            .reconcile_forever(store, vault, interval, ownership, changes, shutdown)
            .await;
        if !running.shutdown(IMAP_LOGOUT_GRACE).await {
            tracing::warn!("imap watchers still running at the logout deadline");
        }
    });
    Ok((started, Some(source)))
}
