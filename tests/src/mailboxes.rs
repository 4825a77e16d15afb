//! Mailbox rows for tests that link mailboxes straight in the store (no API, no CLI): an
//! owner with a contact list, and an IMAP mailbox with its settings and sealed password, as
//! the API would store them. One place, so a change of the mailbox row is made once.

use anyhow::Result;
use mailsig_daemon::sources::imap::ImapSettings;
use mailsig_daemon::store::{ListId, Mailbox, MailboxKind, NewMailbox, SecretKind, Store, UserId};
use mailsig_daemon::vault::Vault;

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
    Ok(Owner { user: user.id, list: list.id })
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
        Some((vault, password)) => Some(store.put_secret(SecretKind::ImapPassword, vault.seal(password)?.as_bytes(), 1).await?),
        None => None,
    };
    let settings = mailbox.settings.map_or_else(|| serde_json::json!({}), ImapSettings::to_json);
    Ok(store
        .create_mailbox(NewMailbox {
            owner: mailbox.owner.user,
            kind: MailboxKind::Imap,
            address: mailbox.address.to_owned(),
            display_name: None,
            target_list: mailbox.owner.list,
            excluded_domains: vec![],
            settings,
            secret,
        })
        .await?)
}
