//! Mailbox rows for tests that link mailboxes straight in the store (no API, no CLI): an
//! owner with a contact list, and an IMAP mailbox with its settings and sealed password, as
//! the API would store them. One place, so a change of the mailbox row is made once.

use anyhow::Result;
use mailsig_daemon::sources::imap::{ImapSettings, Security};
use mailsig_daemon::store::{ListId, Mailbox, SecretKind, Store, UserId};
use mailsig_daemon::vault::Vault;

use crate::imap_support::imap_mailbox;

/// A mailsig user and the list their mailboxes feed.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub user: UserId,
    pub list: ListId,
}

/// Creates the user `email` (display name "Owner") with a list "Contacts".
pub async fn owner_with_list(store: &Store, email: &str) -> Result<Owner> {
    let user = store.create_user(email, Some("Owner")).await?;
    let list = store.create_list(user.id, "Contacts").await?;
    Ok(Owner {
        user: user.id,
        list: list.id,
    })
}

/// An IMAP mailbox of `owner` feeding `owner.list`.
pub struct ImapMailbox<'a> {
    pub owner: Owner,
    pub address: &'a str,
    /// `None`: settings `{}`, a mailbox that is leased but never watched.
    pub settings: Option<&'a ImapSettings>,
    /// Sealed with the vault and stored as the mailbox's secret (key version 1).
    pub password: Option<(&'a Vault, &'a [u8])>,
}

/// Stores the mailbox row (and its sealed password first, if any).
pub async fn create_imap_mailbox(store: &Store, mailbox: ImapMailbox<'_>) -> Result<Mailbox> {
    let secret = match mailbox.password {
        Some((vault, password)) => Some(
            vault
                .store_new(store, SecretKind::ImapPassword, 1, password)
                .await?,
        ),
        None => None,
    };
    // The row the IMAP tests use (`imap_support::imap_mailbox`); without settings, `{}`.
    let blank = ImapSettings {
        host: String::new(),
        port: 0,
        security: Security::Plaintext,
        username: String::new(),
        folders: vec![],
        ca_file: None,
        ca_pem: None,
        backfill: 0,
        operator_trusted: true,
    };
    let mut row = imap_mailbox(
        mailbox.owner.user,
        mailbox.owner.list,
        mailbox.address,
        mailbox.settings.unwrap_or(&blank),
    );
    if mailbox.settings.is_none() {
        row.settings = serde_json::json!({});
    }
    row.secret = secret;
    Ok(store.create_mailbox(row).await?)
}
