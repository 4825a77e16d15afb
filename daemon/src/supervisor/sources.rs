//! Starting the mail sources and keeping them in step with the store.
//!
//! Every active IMAP mailbox in status `ok` gets its watchers, its password decrypted from the
//! vault only for the time it takes to hand it over. Mailboxes are linked, changed and removed
//! by the CLI, which is another process, so the supervisor reconciles the running watchers with
//! the store every [`ImapStartOptions::reconcile_interval`]: new mailboxes are started, removed
//! or unhealthy ones stopped, and ones whose settings or credentials changed restarted.
//!
//! One mailbox that cannot start (a missing or undecryptable secret, unreadable settings) is
//! logged by id and skipped; it must not keep the others from running.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::pipeline::PipelineHandle;
use crate::sources::imap::{ImapOptions, ImapSettings, ImapSource, StoreCheckpoints};
use crate::store::{Mailbox, MailboxFilter, MailboxId, MailboxKind, MailboxStatus, SecretId, Store};
use crate::vault::{SealedSecret, Vault};

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
}

impl Default for ImapStartOptions {
    fn default() -> Self {
        Self { disabled: false, options: ImapOptions::default(), reconcile_interval: RECONCILE_INTERVAL }
    }
}

impl ImapStartOptions {
    /// The options from the `[imap]` and `[pipeline]` sections of the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self { options: config.imap_options(), ..Self::default() }
    }
}

/// What one reconciliation did.
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

/// Why the sources could not be started at all.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("list imap mailboxes")]
    ListMailboxes(#[source] crate::store::Error),
}

/// Why one mailbox could not be started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MailboxStartError {
    #[error("mailbox has no stored credentials")]
    NoSecret,
    #[error("read the sealed credentials")]
    Secret(#[source] crate::store::Error),
    #[error("decrypt the credentials")]
    Decrypt(#[source] crate::vault::VaultError),
    #[error("read the imap settings")]
    Settings(#[source] serde_json::Error),
    #[error("start the watchers")]
    Watch(#[source] crate::sources::imap::ImapError),
}

/// The IMAP source plus what the supervisor knows about each watched mailbox.
pub struct ImapSupervision {
    source: ImapSource,
    store: Store,
    vault: Vault,
    /// The credentials each watched mailbox was started with, to notice a change.
    secrets: HashMap<MailboxId, Option<SecretId>>,
}

impl ImapSupervision {
    /// Compares the watched mailboxes with the store and starts, restarts or stops watchers.
    pub async fn reconcile(&mut self) -> Result<Started, SourcesError> {
        let filter = MailboxFilter { kind: Some(MailboxKind::Imap), ..MailboxFilter::default() };
        let mailboxes = self.store.list_mailboxes(&filter).await.map_err(SourcesError::ListMailboxes)?;
        let mut round = Started::default();
        let wanted: HashMap<MailboxId, &Mailbox> =
            mailboxes.iter().filter(|m| m.status == MailboxStatus::Ok).map(|m| (m.id, m)).collect();

        for watched in self.source.watched() {
            if !wanted.contains_key(&watched) {
                self.source.remove_mailbox(watched);
                self.secrets.remove(&watched);
                round.imap_stopped += 1;
            }
        }
        for (id, mailbox) in &wanted {
            let settings = match serde_json::from_value::<ImapSettings>(mailbox.settings.clone()) {
                Ok(settings) => settings,
                Err(error) => {
                    if self.secrets.insert(*id, None).is_none() || self.source.settings_of(*id).is_some() {
                        let error = MailboxStartError::Settings(error);
                        tracing::warn!(mailbox = %id, error = %error, "imap mailbox not started");
                    }
                    self.source.remove_mailbox(*id);
                    round.imap_failed += 1;
                    continue;
                }
            };
            let unchanged = self.source.settings_of(*id).as_ref() == Some(&settings)
                && self.secrets.get(id) == Some(&mailbox.secret);
            if unchanged {
                continue;
            }
            match self.start(mailbox, settings).await {
                Ok(()) => {
                    self.secrets.insert(*id, mailbox.secret);
                    round.imap_started += 1;
                }
                Err(error) => {
                    // Remember the failed credentials so the warning is not repeated every round.
                    let first = self.secrets.insert(*id, mailbox.secret) != Some(mailbox.secret);
                    if first {
                        tracing::warn!(mailbox = %id, error = %error, "imap mailbox not started");
                    }
                    round.imap_failed += 1;
                }
            }
        }
        round.imap_mailboxes = self.source.watched().len();
        Ok(round)
    }

    async fn start(&self, mailbox: &Mailbox, settings: ImapSettings) -> Result<(), MailboxStartError> {
        let password = password_of(&self.store, &self.vault, mailbox).await?;
        self.source.add_mailbox(mailbox.id, settings, password).map_err(MailboxStartError::Watch)
    }

    /// The running source (its counters, runtime add/remove).
    pub fn source(&self) -> &ImapSource {
        &self.source
    }
}

/// Creates the IMAP source, schedules watchers for every active IMAP mailbox, and spawns the
/// reconciliation loop and the source's orderly shutdown on `tracker`. Also returns the source
/// (for its counters), `None` when IMAP is disabled.
pub async fn start_imap(
    options: &ImapStartOptions,
    store: &Store,
    vault: &Vault,
    pipeline: PipelineHandle,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<(Started, Option<ImapSource>), SourcesError> {
    if options.disabled {
        return Ok((Started::default(), None));
    }
    let checkpoints = Arc::new(StoreCheckpoints::new(store.clone()));
    let source = ImapSource::new(options.options.clone(), pipeline, checkpoints, shutdown.child_token());
    let mut supervision =
        ImapSupervision { source, store: store.clone(), vault: vault.clone(), secrets: HashMap::new() };
    let started = supervision.reconcile().await?;
    let source = supervision.source.clone();
    let interval = options.reconcile_interval;
    let shutdown = shutdown.clone();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
            }
            match supervision.reconcile().await {
                Ok(round) if round.imap_started + round.imap_stopped > 0 => {
                    tracing::info!(?round, "imap mailboxes reconciled");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "imap reconciliation failed"),
            }
        }
        if !supervision.source.shutdown(IMAP_LOGOUT_GRACE).await {
            tracing::warn!("imap watchers still running at the logout deadline");
        }
    });
    Ok((started, Some(source)))
}

/// Decrypts a mailbox's password.
pub(crate) async fn password_of(
    store: &Store,
    vault: &Vault,
    mailbox: &Mailbox,
) -> Result<secrecy::SecretString, MailboxStartError> {
    let secret_id = mailbox.secret.ok_or(MailboxStartError::NoSecret)?;
    let stored = store.get_secret(secret_id).await.map_err(MailboxStartError::Secret)?;
    vault.open_string(&SealedSecret::from_bytes(stored.sealed)).map_err(MailboxStartError::Decrypt)
}
