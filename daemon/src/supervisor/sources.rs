//! Starting the mail sources: every active IMAP mailbox gets its watchers, with its password
//! decrypted from the vault only for the time it takes to hand it over.
//!
//! One mailbox that cannot start (a missing or undecryptable secret, unreadable settings) is
//! logged by id and skipped; it must not keep the others from running.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pipeline::PipelineHandle;
use crate::store::{Mailbox, MailboxFilter, MailboxKind, MailboxStatus, Store};
use crate::vault::{SealedSecret, Vault};

/// Options of the IMAP source as the supervisor passes them on.
#[derive(Clone, Debug, Default)]
pub struct ImapStartOptions {
    /// Start no watcher at all (e.g. a replica that only serves the API).
    pub disabled: bool,
}

/// What [`start_imap`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Started {
    /// Mailboxes whose watchers were scheduled.
    pub imap_mailboxes: usize,
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
}

/// Schedules watchers for every active IMAP mailbox.
pub async fn start_imap(
    options: &ImapStartOptions,
    store: &Store,
    vault: &Vault,
    _pipeline: PipelineHandle,
    _tracker: &TaskTracker,
    _shutdown: &CancellationToken,
) -> Result<Started, SourcesError> {
    let mut started = Started::default();
    if options.disabled {
        return Ok(started);
    }
    let filter = MailboxFilter { kind: Some(MailboxKind::Imap), ..MailboxFilter::default() };
    let mailboxes = store.list_mailboxes(&filter).await.map_err(SourcesError::ListMailboxes)?;
    for mailbox in mailboxes.iter().filter(|m| m.status == MailboxStatus::Ok) {
        match password_of(store, vault, mailbox).await {
            Ok(_password) => {
                // Seam: the IMAP source (`crate::sources::imap::ImapSource::add_mailbox`) is
                // handed the settings and password here once it is on main.
                started.imap_mailboxes += 1;
            }
            Err(error) => {
                started.imap_failed += 1;
                tracing::warn!(mailbox = %mailbox.id, error = %error, "imap mailbox not started");
            }
        }
    }
    Ok(started)
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
