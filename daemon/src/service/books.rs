//! A list's connected address book: connect one, see how it stands, disconnect it. Owner only:
//! the book receives every accepted contact of the list, and the credentials are the owner's.
//!
//! Connecting finds the book from the address the owner gives (RFC 6764 discovery, or the
//! collection's own URL), with the host checked by the SSRF guard under the `[address_books]`
//! policy (and again by the sync worker before each round), TLS verified against the public
//! roots plus the certificate authority the owner may give for this server (as for a mailbox's
//! IMAP server), and the password sealed in the vault at once. Each failure is a field error in
//! fixed words; nothing the server sent is shown or logged. The first read of the book and the
//! write-back of accepted contacts are the sync worker's (`books::worker`), poked at once.
//! Connecting Outlook contacts instead is `outlook_book`; the state and disconnecting are the
//! same for both kinds.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;
use zeroize::Zeroizing;

use crate::books::BookSettings;
use crate::books::carddav::discover::discover;
use crate::books::carddav::{Connection, Credentials};
use crate::books::connected::{CardDavSettings, password_binding};
use crate::books::outlook::OutlookSettings;
use crate::books::worker::Wake;
use crate::domain::address_book::{BookError, BookKind};
use crate::domain::{AuditAction, AuditObject};
use crate::store::{BookStatus, ListId, NewBook, Role, SecretKind, Store};
use crate::vault::Vault;

use super::mailboxes::current_key_version;
use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceError, ServiceResult, audit, require_role};

const MAX_URL: usize = 2000;
const MAX_USER: usize = 256;
const MAX_PASSWORD: usize = 1024;
const MAX_CA: usize = 64 * 1024;

/// What the owner sends to connect a book. The password is never logged nor returned.
#[derive(Default)]
pub struct ConnectForm {
    /// The server's address (discovery) or the address book's own URL.
    pub url: Option<String>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    /// A certificate authority (PEM) to trust for this server besides the public roots.
    pub ca_pem: Option<String>,
}

/// A connected book as shown (never its password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BookView {
    /// `carddav` or `outlook` (the adapter's stored word).
    pub kind: &'static str,
    /// The address book's URL (CardDAV), or where the contact folder is (Outlook).
    pub url: String,
    /// Its display name, as the server gave it (CardDAV), or the folder's name (Outlook).
    pub name: Option<String>,
    /// The CardDAV user name; the mailbox's address for Outlook contacts.
    pub user: String,
    /// The linked Microsoft 365 mailbox whose contacts these are (Outlook only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<i64>,
    /// Whether the book's own CA is trusted besides the public roots.
    pub own_ca: bool,
    pub status: BookStatus,
    /// A fixed word (`unreachable`, `tls`, `auth`, …) when `status` is `needs_attention`.
    pub status_reason: Option<String>,
    /// When the book was last read (ms since the epoch); `None` before the first read.
    pub last_sync_at: Option<i64>,
    /// Entries of the book in the local index the duplicate check looks up.
    pub entries: i64,
    pub created_at: i64,
}

/// Whether the list has a book, and which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BookState {
    pub connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub book: Option<BookView>,
}

/// The failure of a connection attempt as a field error or "unavailable", in fixed words.
fn refusal(e: BookError) -> ServiceError {
    match e {
        BookError::RefusedHost => ServiceError::field(
            "url",
            FieldCode::Choice,
            "is not allowed: the server must use https:// on port 80, 443 or 1024 up, and an \
             internal address needs the operator's address_books.allow_private_hosts or \
             address_books.allowed_hosts",
        ),
        BookError::Auth => ServiceError::field(
            "password",
            FieldCode::Text,
            "the server refused this user name and password",
        ),
        BookError::Tls => ServiceError::field(
            "ca_pem",
            FieldCode::Text,
            "the server's certificate is not trusted: use the server name its certificate was \
             issued for, or give the certificate authority (PEM) that signed it",
        ),
        BookError::NotFound => ServiceError::field(
            "url",
            FieldCode::Text,
            "no address book was found at this address",
        ),
        BookError::Protocol | BookError::Conflict => ServiceError::field(
            "url",
            FieldCode::Text,
            "the server did not answer as a CardDAV server",
        ),
        BookError::Unreachable | BookError::Unavailable => {
            ServiceError::Unavailable(BookError::Unreachable.to_string())
        }
    }
}

fn check_ca(c: &mut Checker, pem: Option<&str>) -> Option<String> {
    let pem = pem.map(str::trim).filter(|p| !p.is_empty())?;
    if pem.len() > MAX_CA {
        c.push("ca_pem", FieldCode::Text, "is too long");
        return None;
    }
    match reqwest::Certificate::from_pem(pem.as_bytes()) {
        Ok(_) if pem.contains("-----BEGIN CERTIFICATE-----") => Some(pem.to_owned()),
        _ => {
            c.push(
                "ca_pem",
                FieldCode::Text,
                "must be a certificate in PEM (-----BEGIN CERTIFICATE-----)",
            );
            None
        }
    }
}

/// `GET /api/v1/lists/{id}/book` (owner).
pub async fn status(store: &Store, actor: Actor, list: ListId) -> ServiceResult<BookState> {
    require_role(store, actor, list, Role::Owner).await?;
    view(store, list).await
}

pub(super) async fn view(store: &Store, list: ListId) -> ServiceResult<BookState> {
    let Some(book) = store.book_of_list(list).await? else {
        return Ok(BookState {
            connected: false,
            book: None,
        });
    };
    let (name, user, mailbox, own_ca) = match book.kind {
        BookKind::CardDav => {
            let settings = CardDavSettings::of(&book).unwrap_or_default();
            (
                settings.name,
                settings.user,
                None,
                settings.ca_pem.is_some(),
            )
        }
        BookKind::Outlook => match OutlookSettings::of(&book) {
            Ok(settings) => {
                let address = match store.get_mailbox(settings.mailbox).await {
                    Ok(m) => m.address,
                    // Unlinked since: the sync marks the book as needing attention.
                    Err(e) if e.is_not_found() => String::new(),
                    Err(e) => return Err(e.into()),
                };
                (
                    Some(settings.folder_name),
                    address,
                    Some(settings.mailbox.0),
                    false,
                )
            }
            Err(_) => (None, String::new(), None, false),
        },
    };
    let entries = store.book_entry_count(list).await?;
    Ok(BookState {
        connected: true,
        book: Some(BookView {
            kind: book.kind.as_str(),
            url: book.location,
            name,
            user,
            mailbox,
            own_ca,
            status: book.status,
            status_reason: book.status_reason,
            last_sync_at: book.last_sync_at,
            entries,
            created_at: book.created_at,
        }),
    })
}

/// `PUT /api/v1/lists/{id}/book` (owner): finds the book, checks the credentials on it, seals
/// the password and connects the list (replacing a book it had, whose index is forgotten).
pub async fn connect(
    store: &Store,
    vault: &Vault,
    settings: &BookSettings,
    books: &Wake,
    actor: Actor,
    list: ListId,
    form: ConnectForm,
) -> ServiceResult<BookState> {
    require_role(store, actor, list, Role::Owner).await?;
    let mut c = Checker::new();
    let url = c.text("url", form.url.as_deref(), MAX_URL);
    let url = url.and_then(|u| match Url::parse(&u) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host_str().is_some() => {
            Some(url)
        }
        _ => {
            c.push("url", FieldCode::Text, "must be an https:// address");
            None
        }
    });
    let user = c.text("user", form.user.as_deref(), MAX_USER);
    match form.password.as_ref().map(|p| p.expose_secret().len()) {
        None | Some(0) => c.push("password", FieldCode::Required, "is required"),
        Some(n) if n > MAX_PASSWORD => c.push("password", FieldCode::Text, "is too long"),
        Some(_) => {}
    }
    let ca_pem = check_ca(&mut c, form.ca_pem.as_deref());
    c.finish()?;
    let (Some(url), Some(user), Some(password)) = (url, user, form.password) else {
        return Err(ServiceError::Internal(
            "checked connect form incomplete".into(),
        ));
    };

    let connection = Connection::open(
        settings,
        &url,
        Credentials {
            user: user.clone(),
            password: Zeroizing::new(password.expose_secret().to_owned()),
        },
        ca_pem.as_deref().map(str::as_bytes),
    )
    .await
    .map_err(refusal)?;
    let found = discover(&connection, &url).await.map_err(refusal)?;
    let book = match found.as_slice() {
        [one] => one.clone(),
        [] => return Err(refusal(BookError::NotFound)),
        _ => {
            return Err(ServiceError::field(
                "url",
                FieldCode::Choice,
                format!(
                    "{} address books were found there: give the address of the one to use",
                    found.len()
                ),
            ));
        }
    };

    let key_version = current_key_version(store).await?;
    let secret = store
        .put_secret_sealed_by(SecretKind::BookPassword, key_version, |id| {
            vault
                .seal(&password_binding(id), password.expose_secret().as_bytes())
                .map(crate::vault::SealedSecret::into_bytes)
                .map_err(|e| ServiceError::Internal(format!("seal the address book password: {e}")))
        })
        .await?;
    let stored = CardDavSettings {
        user,
        name: book.name,
        ca_pem,
    }
    .to_json();
    let replaced = store
        .connect_book(&NewBook {
            list,
            kind: BookKind::CardDav,
            location: book.url.as_str(),
            settings: &stored,
            secret: Some(secret),
            created_by: actor.user(),
        })
        .await?;
    if let Some(old) = replaced {
        store.delete_secret(old).await?;
    }
    audit(
        store,
        actor,
        AuditAction::BookConnect,
        AuditObject::List,
        Some(list.0),
        None,
    )
    .await?;
    // The worker's first read of the book starts now rather than at its next interval.
    books.poke();
    view(store, list).await
}

/// `DELETE /api/v1/lists/{id}/book` (owner): the connection, its sealed password and the local
/// index go; nothing in the book itself changes. Nothing connected is not an error.
pub async fn disconnect(store: &Store, actor: Actor, list: ListId) -> ServiceResult<()> {
    require_role(store, actor, list, Role::Owner).await?;
    if store.book_of_list(list).await?.is_none() {
        return Ok(());
    }
    if let Some(secret) = store.disconnect_book(list).await? {
        store.delete_secret(secret).await?;
    }
    audit(
        store,
        actor,
        AuditAction::BookDisconnect,
        AuditObject::List,
        Some(list.0),
        None,
    )
    .await
}
