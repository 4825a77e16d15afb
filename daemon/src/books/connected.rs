//! A list's connected book as the store keeps it (`address_books` row: where the book is, the
//! adapter's settings as JSON, the sealed password of a CardDAV book), opened into an
//! [`AddressBook`] to talk to, whichever kind it is, so the worker, the index and the duplicate
//! check serve every kind alike.
//!
//! A CardDAV book's host is resolved and checked with the SSRF guard every time it is opened
//! (the worker opens the book afresh for each round), so a name that changed after the list was
//! connected cannot lead the daemon inside; the password is opened from the vault only for that
//! connection and wiped with it. An Outlook book is opened through the Graph adapter of its
//! mailbox, which must still be linked, with the `[graph]` configuration the daemon runs with.

use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use crate::domain::address_book::{AddressBook, BookError, BookKind};
use crate::sources::graph::GraphConfig;
use crate::sources::graph::contacts::contacts_api;
use crate::store::{ConnectedBook, MailboxKind, SecretKind, Store};
use crate::vault::{Binding, SealedSecret, Vault};

use super::BookSettings;
use super::carddav::{CardDavBook, Connection, Credentials};
use super::outlook::{OutlookBook, OutlookSettings, book_error};

/// What a CardDAV book keeps beside its URL (`address_books.settings`): never the password.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CardDavSettings {
    /// The user name of Basic authentication.
    pub user: String,
    /// The book's display name, as the server gave it when it was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A certificate authority to trust for this server besides the public roots (PEM), as a
    /// mailbox's own CA is trusted for its IMAP server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

impl CardDavSettings {
    /// The settings as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The settings of a stored book; unreadable settings are a protocol error (never shown).
    pub fn of(book: &ConnectedBook) -> Result<CardDavSettings, BookError> {
        serde_json::from_str(&book.settings).map_err(|_| BookError::Protocol)
    }
}

/// The binding a book's password is sealed under.
pub fn password_binding(secret: crate::store::SecretId) -> Binding {
    Binding::secret(SecretKind::BookPassword, secret)
}

/// What opening an Outlook book needs beyond the store: the `[graph]` configuration (`None`
/// when the daemon runs without Microsoft 365, and then an Outlook book cannot be opened).
#[derive(Clone, Copy, Default)]
pub struct Openers<'a> {
    pub graph: Option<&'a GraphConfig>,
}

/// Opens `book` for one round of work, whichever kind it is.
pub async fn open(
    store: &Store,
    vault: &Vault,
    settings: &BookSettings,
    openers: Openers<'_>,
    book: &ConnectedBook,
) -> Result<Box<dyn AddressBook>, BookError> {
    Ok(match book.kind {
        BookKind::CardDav => Box::new(open_carddav(store, vault, settings, book).await?),
        BookKind::Outlook => Box::new(open_outlook(store, vault, openers.graph, book).await?),
    })
}

/// Opens an Outlook book: its mailbox must still be linked; the Graph adapter uses the
/// mailbox's sealed tokens.
pub async fn open_outlook(
    store: &Store,
    vault: &Vault,
    graph: Option<&GraphConfig>,
    book: &ConnectedBook,
) -> Result<OutlookBook, BookError> {
    let outlook = OutlookSettings::of(book)?;
    let graph = graph.ok_or(BookError::Unavailable)?;
    match store.get_mailbox(outlook.mailbox).await {
        Ok(mailbox) if mailbox.kind == MailboxKind::Graph => {}
        // Unlinked since: its tokens are gone.
        Ok(_) => return Err(BookError::Auth),
        Err(e) if e.is_not_found() => return Err(BookError::Auth),
        Err(_) => return Err(BookError::Unavailable),
    }
    let api = contacts_api(store, vault, graph, outlook.mailbox)
        .await
        .map_err(|e| book_error(&e))?;
    Ok(OutlookBook::new(api, &outlook.folder_id))
}

/// Opens a CardDAV book: the password from the vault, the host checked by the guard, TLS
/// against the public roots and the book's own CA.
pub async fn open_carddav(
    store: &Store,
    vault: &Vault,
    settings: &BookSettings,
    book: &ConnectedBook,
) -> Result<CardDavBook, BookError> {
    if book.kind != BookKind::CardDav {
        return Err(BookError::Protocol);
    }
    let carddav = CardDavSettings::of(book)?;
    let url = Url::parse(&book.location).map_err(|_| BookError::NotFound)?;
    let secret = book.secret.ok_or(BookError::Auth)?;
    let sealed = match store.get_secret(secret).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return Err(BookError::Auth),
        Err(_) => return Err(BookError::Unavailable),
    };
    let password = vault
        .open(
            &password_binding(secret),
            &SealedSecret::from_bytes(sealed.sealed),
        )
        .map_err(|_| BookError::Auth)?;
    let password = Zeroizing::new(
        std::str::from_utf8(&password)
            .map_err(|_| BookError::Auth)?
            .to_owned(),
    );
    let connection = Connection::open(
        settings,
        &url,
        Credentials {
            user: carddav.user,
            password,
        },
        carddav.ca_pem.as_deref().map(str::as_bytes),
    )
    .await?;
    Ok(CardDavBook::new(connection, url, None))
}
