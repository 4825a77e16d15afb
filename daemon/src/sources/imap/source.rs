//! The IMAP source: owns every folder watcher, adds and removes mailboxes at runtime, and stops
//! them all on shutdown. The supervisor creates one and feeds it the active IMAP mailboxes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::checkpoints::Checkpoints;
use super::credential::MailboxCredential;
use super::error::ImapError;
use super::limiter::HostLimiter;
use super::settings::{ImapOptions, ImapSettings};
use super::stats::{ImapStats, ImapStatsSnapshot};
use super::watcher::{self, CommittedMessage, FolderWatch, WatchEnd};

/// Commit announcements kept for a slow subscriber before it starts missing some.
const COMMIT_BACKLOG: usize = 4096;
use crate::pipeline::{MailboxId, PipelineHandle};

/// Handle to the running IMAP watchers. Cloning gives another handle to the same source.
#[derive(Clone)]
pub struct ImapSource {
    inner: Arc<Inner>,
}

struct Inner {
    /// Replaced by a configuration reload; watchers started afterwards use the new options.
    options: std::sync::RwLock<Arc<ImapOptions>>,
    pipeline: PipelineHandle,
    checkpoints: Arc<dyn Checkpoints>,
    limiter: HostLimiter,
    stats: Arc<ImapStats>,
    commits: tokio::sync::broadcast::Sender<CommittedMessage>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// One token per watched mailbox; cancelling it stops that mailbox's folder watchers.
    mailboxes: Mutex<HashMap<MailboxId, Watched>>,
    /// The identity providers OAuth-linked mailboxes refresh their tokens at.
    oauth: std::sync::RwLock<crate::sources::oauth::OAuthProviders>,
}

struct Watched {
    cancel: CancellationToken,
    settings: Arc<ImapSettings>,
    /// Which stored secret (and which version of it) the password came from.
    secret: Option<SecretFingerprint>,
    /// Set when a watcher stopped because the mailbox needs attention.
    stopped_for_attention: Arc<AtomicBool>,
}

/// Identifies one version of a stored secret: a new id or a later update means new credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretFingerprint {
    pub id: i64,
    pub updated_at: i64,
}

/// What [`ImapSource::reconcile`](super::reconcile) needs to know about a watched mailbox.
pub(crate) struct WatchState {
    pub settings: ImapSettings,
    pub secret: Option<SecretFingerprint>,
    pub stopped_for_attention: bool,
}

impl ImapSource {
    /// Creates a source with no mailbox. Watchers stop when `shutdown` is cancelled.
    pub fn new(
        options: ImapOptions,
        pipeline: PipelineHandle,
        checkpoints: Arc<dyn Checkpoints>,
        shutdown: CancellationToken,
    ) -> Self {
        let limiter = HostLimiter::new(options.max_connections_per_host);
        Self {
            inner: Arc::new(Inner {
                options: std::sync::RwLock::new(Arc::new(options)),
                pipeline,
                checkpoints,
                limiter,
                stats: Arc::default(),
                commits: tokio::sync::broadcast::channel(COMMIT_BACKLOG).0,
                tracker: TaskTracker::new(),
                shutdown,
                mailboxes: Mutex::default(),
                oauth: std::sync::RwLock::default(),
            }),
        }
    }

    /// The options new watchers start with.
    pub fn options(&self) -> Arc<ImapOptions> {
        Arc::clone(
            &self
                .inner
                .options
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Replaces the options for watchers started from now on (a configuration reload; running
    /// watchers keep theirs until their mailbox is restarted). The per-host connection cap is
    /// fixed at creation.
    pub fn set_options(&self, options: ImapOptions) {
        *self
            .inner
            .options
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(options);
    }

    /// The configured OAuth providers (replaced by a configuration reload).
    pub fn set_oauth_providers(&self, providers: crate::sources::oauth::OAuthProviders) {
        *self
            .inner
            .oauth
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = providers;
    }

    pub(crate) fn oauth_providers(&self) -> crate::sources::oauth::OAuthProviders {
        self.inner
            .oauth
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts watching a mailbox (one watcher per folder). A mailbox already watched is restarted
    /// with the new settings and password, e.g. after its credentials changed.
    pub fn add_mailbox(
        &self,
        mailbox: MailboxId,
        settings: ImapSettings,
        password: SecretString,
    ) -> Result<(), ImapError> {
        self.add_mailbox_with_secret(
            mailbox,
            settings,
            MailboxCredential::Password(password),
            None,
        )
    }

    pub(crate) fn add_mailbox_with_secret(
        &self,
        mailbox: MailboxId,
        settings: ImapSettings,
        credential: MailboxCredential,
        secret: Option<SecretFingerprint>,
    ) -> Result<(), ImapError> {
        let options = self.options();
        settings.validate(&options)?;
        let settings = Arc::new(settings);
        let credential = Arc::new(credential);
        let cancel = self.inner.shutdown.child_token();
        let stopped_for_attention = Arc::new(AtomicBool::new(false));
        let watched = Watched {
            cancel: cancel.clone(),
            settings: Arc::clone(&settings),
            secret,
            stopped_for_attention: Arc::clone(&stopped_for_attention),
        };
        let previous = self.mailboxes().insert(mailbox, watched);
        if let Some(previous) = previous {
            previous.cancel.cancel();
        }
        for folder in settings.folders() {
            let watch = FolderWatch {
                mailbox,
                folder,
                settings: Arc::clone(&settings),
                credential: Arc::clone(&credential),
                options: Arc::clone(&options),
                pipeline: self.inner.pipeline.clone(),
                checkpoints: Arc::clone(&self.inner.checkpoints),
                limiter: self.inner.limiter.clone(),
                stats: Arc::clone(&self.inner.stats),
                commits: self.inner.commits.clone(),
                cancel: cancel.clone(),
            };
            let stopped_for_attention = Arc::clone(&stopped_for_attention);
            self.inner.tracker.spawn(async move {
                if let WatchEnd::NeedsAttention(error) = watcher::run_supervised(watch).await {
                    stopped_for_attention.store(true, Ordering::Relaxed);
                    tracing::debug!(kind = error.kind().as_str(), "imap folder watcher ended");
                }
            });
        }
        tracing::info!(mailbox = %mailbox, host = %settings.host, "imap mailbox watched");
        Ok(())
    }

    /// Starts watching a mailbox as the store keeps it: its settings JSON is parsed into
    /// [`ImapSettings`]; the password comes from the vault.
    pub fn add_stored_mailbox(
        &self,
        mailbox: &crate::store::Mailbox,
        password: SecretString,
    ) -> Result<(), ImapError> {
        let settings = ImapSettings::from_json(&mailbox.settings)?;
        self.add_mailbox(MailboxId(mailbox.id.0), settings, password)
    }

    /// Stops watching a mailbox (unlinked or deactivated). Returns whether it was watched.
    pub fn remove_mailbox(&self, mailbox: MailboxId) -> bool {
        match self.mailboxes().remove(&mailbox) {
            Some(watched) => {
                watched.cancel.cancel();
                tracing::info!(mailbox = %mailbox, "imap mailbox no longer watched");
                true
            }
            None => false,
        }
    }

    /// The mailboxes currently watched (including ones whose watchers stopped for attention).
    pub fn watched(&self) -> Vec<MailboxId> {
        self.mailboxes().keys().copied().collect()
    }

    /// Whether a watcher of `mailbox` has ended because the mailbox needs attention. An ended
    /// watcher does not retry; only a reconciliation pass restarts the mailbox.
    pub fn stopped_for_attention(&self, mailbox: MailboxId) -> bool {
        self.mailboxes()
            .get(&mailbox)
            .is_some_and(|w| w.stopped_for_attention.load(Ordering::Relaxed))
    }

    /// The settings a mailbox is watched with, to notice changes.
    pub fn settings_of(&self, mailbox: MailboxId) -> Option<ImapSettings> {
        self.mailboxes()
            .get(&mailbox)
            .map(|w| (*w.settings).clone())
    }

    /// Announcements of every message committed from now on (a lagging receiver misses some).
    pub fn subscribe_commits(&self) -> tokio::sync::broadcast::Receiver<CommittedMessage> {
        self.inner.commits.subscribe()
    }

    pub(crate) fn watch_state(&self, mailbox: MailboxId) -> Option<WatchState> {
        self.mailboxes().get(&mailbox).map(|w| WatchState {
            settings: (*w.settings).clone(),
            secret: w.secret,
            stopped_for_attention: w.stopped_for_attention.load(Ordering::Relaxed),
        })
    }

    /// The source's counters.
    pub fn stats(&self) -> ImapStatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Stops every watcher and waits (at most `grace`) for them to log out. Returns false when
    /// some were still running at the deadline.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        for watched in self.mailboxes().values() {
            watched.cancel.cancel();
        }
        self.inner.tracker.close();
        tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_ok()
    }

    fn mailboxes(&self) -> MutexGuard<'_, HashMap<MailboxId, Watched>> {
        // Poisoning only means a panic elsewhere while holding the lock; the map itself is intact.
        self.inner
            .mailboxes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
