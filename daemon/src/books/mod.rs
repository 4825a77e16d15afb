//! Connected address books: the adapters that speak to them (`carddav`, `outlook`), what mailsig writes
//! into an entry that exists (`merge`), and the two directions of a sync (`sync`): reading the
//! book's changes into the local index the duplicate check looks up, and writing accepted
//! contacts into the book (create, or add to the entry that has the address; a conflict is
//! re-read and re-merged, never overwritten; nothing is ever deleted that mailsig did not create).
//! A connected book is opened from its stored row by `connected`, and synced on a timer, by one
//! replica at a time, by `worker`.

pub mod carddav;
pub mod connected;
pub mod merge;
pub mod outlook;
pub mod sync;
pub mod worker;

use std::time::Duration;

use crate::sources::host_guard::HostPolicy;

/// `[address_books]`: where books may be and how long a request may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookSettings {
    /// Internal addresses (loopback, private, link-local …) allowed for book servers.
    pub allow_private_hosts: bool,
    /// Host names or addresses allowed although internal.
    pub allowed_hosts: Vec<String>,
    /// `http://` servers allowed (credentials and contacts then cross the network in clear).
    pub allow_http: bool,
    /// One request's limit (connect, send, answer).
    pub timeout: Duration,
    /// How often connected books are read back and accepted contacts written.
    pub interval: Duration,
}

impl Default for BookSettings {
    fn default() -> Self {
        BookSettings {
            allow_private_hosts: false,
            allowed_hosts: Vec::new(),
            allow_http: false,
            timeout: carddav::DEFAULT_TIMEOUT,
            interval: Duration::from_secs(300),
        }
    }
}

/// Ports a book server may listen on: HTTP, HTTPS, and unprivileged ones.
pub fn port_allowed(port: u16) -> bool {
    port == 80 || port == 443 || port >= 1024
}

impl BookSettings {
    /// The SSRF policy of book servers.
    pub fn policy(&self) -> HostPolicy<'_> {
        HostPolicy {
            allow_private_hosts: self.allow_private_hosts,
            allowed_hosts: &self.allowed_hosts,
            port_allowed,
        }
    }
}
