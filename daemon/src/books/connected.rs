//! A list's connected book as the store keeps it (`address_books` row: the collection URL, the
//! adapter's settings as JSON, the sealed password), opened into an [`AddressBook`] to talk to.
//!
//! Opening resolves the book's host and checks it with the SSRF guard every time (the worker
//! opens the book afresh for each round), so a name that changed after the list was connected
//! cannot lead the daemon inside; the password is opened from the vault only for that
//! connection and wiped with it.

use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use crate::domain::address_book::{BookError, BookKind};
use crate::store::{ConnectedBook, SecretKind, Store};
use crate::vault::{Binding, SealedSecret, Vault};

use super::BookSettings;
use super::carddav::{CardDavBook, Connection, Credentials};

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

/// Opens `book` for one round of work: the password from the vault, the host checked by the
/// guard, TLS against the public roots and the book's own CA.
pub async fn open(
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
