//! Keeps the watched mailboxes in step with the store: the CLI and the API link, unlink and
//! re-credential mailboxes in the database (possibly from another process), and the daemon picks
//! the change up here without a restart.
//!
//! Rules, per active IMAP mailbox in the store:
//! - status `ok` and not watched → start it;
//! - watched but its settings or its secret changed, or its watchers stopped for attention and the
//!   status is `ok` again (the credentials were fixed) → restart it;
//! - status not `ok` → stop it, or leave it stopped (no retries until the credentials change);
//! - watched but no longer in the store (unlinked), or no longer this replica's (its lease was
//!   lost or given up, see [`crate::sources::ownership`]) → stop it at once.
//!
//! The supervisor runs [`ImapSource::reconcile_forever`]: a pass at start, at every change of the
//! owned set, and every reconcile interval (to see CLI/API changes made by other processes).

use std::collections::HashSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::credential::MailboxCredential;
use super::settings::ImapSettings;
use super::source::{ImapSource, SecretFingerprint};
use crate::pipeline::MailboxId;
use crate::sources::oauth::{BearerTokens, StoredBearer, TokenClient, TokenHome};
use crate::sources::ownership::{Owned, Ownership};
use crate::store::{
    Mailbox, MailboxFilter, MailboxKind, MailboxStatus, SecretKind, Store, StoredSecret,
};
use crate::vault::{Binding, SealedSecret, Vault};

/// What one reconciliation pass changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub started: usize,
    pub restarted: usize,
    pub stopped: usize,
    /// Mailboxes that could not be started (unreadable settings, missing or undecryptable secret).
    pub failed: usize,
}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
#[error("list imap mailboxes: {0}")]
pub struct ReconcileError(#[source] crate::store::Error);

impl ImapSource {
    /// One pass over every mailbox (no leases: a single process): compares the store with what
    /// is watched and starts, restarts or stops watchers.
    pub async fn reconcile(
        &self,
        store: &Store,
        vault: &Vault,
    ) -> Result<ReconcileReport, ReconcileError> {
        self.reconcile_owned(
            store,
            vault,
            &Owned {
                everything: true,
                ..Owned::default()
            },
        )
        .await
    }

    /// One pass over the mailboxes this replica `owned`; watchers of any other are stopped.
    pub async fn reconcile_owned(
        &self,
        store: &Store,
        vault: &Vault,
        owned: &Owned,
    ) -> Result<ReconcileReport, ReconcileError> {
        let mut report = ReconcileReport::default();
        // A lost lease stops its watchers before anything else, even when the store is down.
        for id in self.watched() {
            if !owned.owns(id) && self.remove_mailbox(id) {
                report.stopped += 1;
            }
        }
        let filter = MailboxFilter {
            kind: Some(MailboxKind::Imap),
            ..MailboxFilter::default()
        };
        let mailboxes = store
            .list_mailboxes(&filter)
            .await
            .map_err(ReconcileError)?;
        let mut active = HashSet::new();
        for mailbox in &mailboxes {
            let id = MailboxId(mailbox.id.0);
            if !owned.owns(id) {
                continue;
            }
            if mailbox.status != MailboxStatus::Ok || mailbox.paused_at.is_some() {
                // Watchers that stopped themselves for attention stay listed (so the next pass
                // after the fix restarts them); watchers still running are stopped below, e.g.
                // when the status was set from outside (the API, another replica's watcher).
                if self
                    .watch_state(id)
                    .is_some_and(|state| state.stopped_for_attention)
                {
                    active.insert(id);
                }
                continue;
            }
            active.insert(id);
            let mut settings = match ImapSettings::from_json(&mailbox.settings) {
                Ok(settings) => settings,
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(mailbox = %id, "imap mailbox not started: {error}");
                    continue;
                }
            };
            inline_legacy_ca_file(store, id, &mut settings).await;
            let stored = match stored_secret(store, mailbox).await {
                Ok(stored) => stored,
                Err(reason) => {
                    report.failed += 1;
                    tracing::warn!(mailbox = %id, "imap mailbox not started: {reason}");
                    continue;
                }
            };
            // A secret is "the same" while its id and last update are: decrypting it on every pass
            // would cost a key derivation per mailbox. OAuth tokens change at every refresh, which
            // the running watchers do themselves: only a new record (a new linking) counts.
            let oauth = stored.kind == SecretKind::OauthTokens;
            let fingerprint = SecretFingerprint {
                id: stored.id.0,
                updated_at: if oauth { 0 } else { stored.updated_at },
            };
            let restart = match self.watch_state(id) {
                None => false,
                Some(state) => {
                    let unchanged = state.settings == settings && state.secret == Some(fingerprint);
                    if unchanged && !state.stopped_for_attention {
                        continue;
                    }
                    true
                }
            };
            let credential = match self.credential(store, vault, mailbox, stored) {
                Ok(credential) => credential,
                Err(reason) => {
                    report.failed += 1;
                    tracing::warn!(mailbox = %id, "imap mailbox not started: {reason}");
                    continue;
                }
            };
            match self.add_mailbox_with_secret(id, settings, credential, Some(fingerprint)) {
                Ok(()) if restart => report.restarted += 1,
                Ok(()) => report.started += 1,
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(mailbox = %id, "imap mailbox not started: {error}");
                }
            }
        }
        for id in self.watched() {
            if !active.contains(&id) && self.remove_mailbox(id) {
                report.stopped += 1;
            }
        }
        Ok(report)
    }

    /// The password, or the OAuth token handle, of a mailbox; the error names what is wrong,
    /// never a secret.
    fn credential(
        &self,
        store: &Store,
        vault: &Vault,
        mailbox: &Mailbox,
        stored: StoredSecret,
    ) -> Result<MailboxCredential, CredentialError> {
        let sealed = SealedSecret::from_bytes(stored.sealed);
        if stored.kind != SecretKind::OauthTokens {
            return vault
                .open_string(
                    &Binding::secret(SecretKind::ImapPassword, stored.id),
                    &sealed,
                )
                .map(MailboxCredential::Password)
                .map_err(|_| CredentialError::Undecryptable);
        }
        let tokens = BearerTokens::open(vault, stored.id, &sealed)
            .map_err(|e| CredentialError::TokensUnopenable(e.class()))?;
        let provider = self
            .oauth_providers()
            .get(&tokens.provider)
            .ok_or_else(|| CredentialError::ProviderNotConfigured(tokens.provider.clone()))?;
        let client = TokenClient::new(provider).map_err(CredentialError::TokenClient)?;
        Ok(MailboxCredential::OAuth(StoredBearer::new(
            store.clone(),
            vault.clone(),
            client,
            TokenHome::Mailbox(mailbox.id),
        )))
    }

    /// Runs [`ImapSource::reconcile_owned`] now, then at every change of `ownership` and every
    /// `every`, until `shutdown`.
    pub async fn reconcile_forever(
        &self,
        store: Store,
        vault: Vault,
        every: Duration,
        mut ownership: Ownership,
        mut changes: crate::sources::changed::MailboxChanges,
        shutdown: CancellationToken,
    ) {
        let mut ownership_open = true;
        loop {
            let owned = ownership.current();
            match self.reconcile_owned(&store, &vault, &owned).await {
                Ok(report) if report != ReconcileReport::default() => {
                    tracing::info!(
                        started = report.started,
                        restarted = report.restarted,
                        stopped = report.stopped,
                        failed = report.failed,
                        owned = owned.leases.len(),
                        "imap mailboxes reconciled"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!("imap reconcile failed: {error}"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                open = ownership.changed(), if ownership_open => ownership_open = open,
                () = changes.changed() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// Why a mailbox's credentials cannot be used; names what is wrong, never a secret.
#[derive(Debug, thiserror::Error)]
enum CredentialError {
    #[error("no stored credentials")]
    NotStored,
    #[error("read sealed credentials: {0}")]
    Unreadable(crate::store::Error),
    #[error("credentials cannot be decrypted with this master key")]
    Undecryptable,
    #[error("OAuth tokens cannot be opened: {0}")]
    TokensUnopenable(&'static str),
    #[error("OAuth provider {0:?} is not configured")]
    ProviderNotConfigured(String),
    #[error("{0}")]
    TokenClient(crate::sources::oauth::OAuthError),
}

/// Reads a mailbox's sealed credentials.
async fn stored_secret(store: &Store, mailbox: &Mailbox) -> Result<StoredSecret, CredentialError> {
    let secret = mailbox.secret.ok_or(CredentialError::NotStored)?;
    store
        .get_secret(secret)
        .await
        .map_err(CredentialError::Unreadable)
}

/// A mailbox linked with a CA file path (older CLI links) gets the file's certificates stored with
/// it, once; the watcher then never reads the file. A file that cannot be read stays named, and
/// the connection reports it as a settings problem the owner sees.
async fn inline_legacy_ca_file(store: &Store, id: MailboxId, settings: &mut ImapSettings) {
    let mut inlined = settings.clone();
    match super::settings::inline_legacy_ca_file(&mut inlined) {
        Ok(false) => {}
        Ok(true) => match store.set_mailbox_settings(id, &inlined.to_json()).await {
            Ok(()) => {
                tracing::info!(mailbox = %id, "imap mailbox's CA file read into its settings");
                *settings = inlined;
            }
            Err(error) => {
                tracing::warn!(mailbox = %id, "imap mailbox's CA not saved: {error}");
            }
        },
        Err(error) => tracing::warn!(mailbox = %id, "imap mailbox's CA not read: {error}"),
    }
}
