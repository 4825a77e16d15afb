//! The seam between mailsig and an address book the customer already runs (a CardDAV server,
//! Outlook contacts through Graph): typed entries, the [`AddressBook`] trait every adapter
//! implements, the keys the duplicate check looks up (`keys`) and its verdict (`verdict`).
//!
//! The store keeps a local index of the connected book (one row per entry, with the keys of
//! `keys.rs`), filled by reading the book's changes; the duplicate check is a look-up in that
//! index, never a scan of the book. Adapters live with their protocol (`sources`-like modules
//! above the store); they speak only these types, so the duplicate check, the merge and the
//! write-back do not know which kind of book is behind them.

pub mod choice;
pub mod keys;
pub mod verdict;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::text_enum;

pub use choice::{BookChoice, CHOICE_FIELDS};
pub use keys::{BookKeys, Region, company_key, email_key, name_key, phone_key, phonetic_key};
pub use verdict::{BookMatch, MatchReason, Verdict};

/// Where one entry lives in its book: a CardDAV resource's path (`/carddav/ann/book/x.vcf`),
/// an Outlook contact's id. Opaque to everything but its adapter.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BookEntryId(pub String);

/// An entry's version as its book states it (a CardDAV `ETag`, an Outlook `@odata.etag`): sent
/// back with an update, so a change made in the book meanwhile is refused, not overwritten.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ETag(pub String);

/// Where a read of changes stopped (a CardDAV sync token, a Graph delta link); `None` before the
/// first read. Opaque to everything but its adapter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SyncState(pub Option<String>);

/// One phone number of a book entry, as the book has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookPhone {
    /// `work`, `mobile`, `fax`, `home` or `other`.
    pub kind: String,
    /// The number as written in the book.
    pub number: String,
}

/// The fields of one book entry that mailsig reads, compares and writes. Adapters keep what
/// they do not map (other vCard properties, other Outlook fields) untouched on update.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BookContact {
    pub name: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<BookPhone>,
    pub websites: Vec<String>,
    pub address: Option<String>,
}

/// One entry with its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookEntry {
    pub id: BookEntryId,
    pub etag: ETag,
    pub contact: BookContact,
}

/// What changed in a book since a [`SyncState`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookChanges {
    /// Entries created or changed (all entries when `complete`).
    pub changed: Vec<BookEntry>,
    /// Entries gone from the book.
    pub removed: Vec<BookEntryId>,
    /// The whole book was listed: entries of the index not in `changed` are gone.
    pub complete: bool,
    /// Where the next read starts.
    pub state: SyncState,
}

/// Why a book operation failed: a kind callers branch on, and a fixed text. Never text the
/// book's server sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// No connection, or no answer in time.
    #[error("the address book's server cannot be reached")]
    Unreachable,
    /// The certificate or the TLS handshake failed.
    #[error("the address book's server certificate is not trusted")]
    Tls,
    /// The server refused the credentials.
    #[error("the address book's server refused the credentials")]
    Auth,
    /// The host resolves to an address users may not reach.
    #[error("the address book's host is not allowed")]
    RefusedHost,
    /// No address book where one was expected.
    #[error("no address book was found there")]
    NotFound,
    /// The entry changed in the book since it was read (412 Precondition Failed).
    #[error("the entry changed in the address book meanwhile")]
    Conflict,
    /// The server answered something this client does not understand.
    #[error("the address book's server answered something unexpected")]
    Protocol,
    /// The server answered 5xx or 429.
    #[error("the address book's server is unavailable")]
    Unavailable,
}

impl BookError {
    /// Worth retrying later unchanged.
    pub fn is_transient(self) -> bool {
        matches!(self, BookError::Unreachable | BookError::Unavailable)
    }

    /// A stable word for logs, the API and the connection's status.
    pub fn as_str(self) -> &'static str {
        match self {
            BookError::Unreachable => "unreachable",
            BookError::Tls => "tls",
            BookError::Auth => "auth",
            BookError::RefusedHost => "refused_host",
            BookError::NotFound => "not_found",
            BookError::Conflict => "conflict",
            BookError::Protocol => "protocol",
            BookError::Unavailable => "unavailable",
        }
    }
}

/// One connected address book, as an adapter speaks to it.
#[async_trait]
pub trait AddressBook: Send + Sync {
    /// What changed since `since` (everything when it is empty or the book no longer knows it).
    async fn changes(&self, since: &SyncState) -> Result<BookChanges, BookError>;

    /// One entry as it is now; `None` when it is gone.
    async fn read(&self, id: &BookEntryId) -> Result<Option<BookEntry>, BookError>;

    /// Creates an entry; never replaces one.
    async fn create(&self, contact: &BookContact) -> Result<BookEntry, BookError>;

    /// Makes the entry carry `contact`'s values if it is still at `etag`; [`BookError::Conflict`]
    /// when it changed meanwhile (the caller re-reads, re-merges and tries again; it never
    /// overwrites). Additive by contract: a scalar `contact` has replaces the entry's, one it
    /// lacks (`None`) leaves the entry's as it is, and e-mails, phones and websites not yet in
    /// the entry are added, none removed. What the adapter does not map is kept as the book
    /// has it.
    async fn update(
        &self,
        id: &BookEntryId,
        etag: &ETag,
        contact: &BookContact,
    ) -> Result<ETag, BookError>;

    /// Deletes an entry if it is still at `etag`. Callers delete only entries mailsig created.
    async fn delete(&self, id: &BookEntryId, etag: &ETag) -> Result<(), BookError>;
}

text_enum! {
    /// Which kind of book a list is connected to (the adapter that speaks to it).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum BookKind("address book kind") {
        /// A CardDAV address book (RFC 6352).
        CardDav => "carddav",
        /// A contact folder of the user's Outlook contacts (Microsoft Graph).
        Outlook => "outlook",
    }
}
