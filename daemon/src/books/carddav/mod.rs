//! The CardDAV adapter (RFC 6352): an [`AddressBook`] over HTTPS with Basic authentication.
//!
//! - Every connection goes to the addresses the SSRF guard checked for the book's host
//!   ([`crate::sources::host_guard`], `[address_books]` policy); redirects are not followed
//!   (discovery follows the well-known one itself, after checking its target the same way).
//! - TLS is verified against the system roots, plus the CA file the connection names.
//! - Changes are read with `sync-collection` (RFC 6578) and the changed cards fetched with
//!   `addressbook-multiget`; a server without sync reports is read by `getctag` and a full
//!   listing when the ctag moved.
//! - Writes: create with `If-None-Match: *`, update and delete with `If-Match`; a `412` is a
//!   [`BookError::Conflict`] for the caller to re-read and re-merge. An update keeps every
//!   property of the card that mailsig does not map, and the card's vCard version.
//! - Errors are kinds with fixed texts; nothing the server sent reaches a log or a user.

pub mod discover;
pub mod vcard;
pub mod xml;

use std::error::Error as _;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;
use zeroize::Zeroizing;

use crate::domain::address_book::{
    AddressBook, BookChanges, BookContact, BookEntry, BookEntryId, BookError, ETag, Region,
    SyncState,
};
use crate::sources::host_guard::{GuardError, resolve_and_check_with};

use super::BookSettings;
use xml::{DavResponse, Multistatus};

/// Cards fetched per `addressbook-multiget`.
const MULTIGET_BATCH: usize = 200;
/// The largest answer read (a multistatus of a big book's etags, one card).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// The `sync_state` prefix of the ctag fallback.
const CTAG_STATE: &str = "ctag:";

/// A user name and password for Basic authentication; the password is wiped on drop.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// How to reach one server: checked addresses, TLS roots, credentials.
#[derive(Clone, Debug)]
pub struct Connection {
    client: reqwest::Client,
    credentials: Credentials,
    origin: Url,
}

/// Whether rustls refused the connection. reqwest nests the handshake's `rustls::Error` in an
/// `io::Error` inside another `io::Error`, and `io::Error::source` skips the error it wraps, so
/// each wrapped error is looked into rather than past.
fn tls_error(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(current) = cause {
        if current.is::<rustls::Error>() {
            return true;
        }
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
}

fn send_error(e: &reqwest::Error) -> BookError {
    if tls_error(e) {
        BookError::Tls
    } else {
        BookError::Unreachable
    }
}

fn status_error(status: StatusCode) -> BookError {
    match status.as_u16() {
        401 | 403 => BookError::Auth,
        404 | 410 => BookError::NotFound,
        409 | 412 => BookError::Conflict,
        429 | 500..=599 => BookError::Unavailable,
        _ => BookError::Protocol,
    }
}

impl Connection {
    /// Checks `url`'s host with the guard and builds a client bound to the checked addresses.
    pub async fn open(
        settings: &BookSettings,
        url: &Url,
        credentials: Credentials,
        ca_pem: Option<&[u8]>,
    ) -> Result<Connection, BookError> {
        if url.scheme() != "https" && !(settings.allow_http && url.scheme() == "http") {
            return Err(BookError::RefusedHost);
        }
        let host = url.host_str().ok_or(BookError::NotFound)?.to_owned();
        let port = url.port_or_known_default().ok_or(BookError::NotFound)?;
        let addrs = match resolve_and_check_with(&host, port, &settings.policy()).await {
            Ok(addrs) => addrs,
            Err(GuardError::Refused(_) | GuardError::Port) => return Err(BookError::RefusedHost),
            Err(GuardError::Unresolvable | GuardError::Timeout) => {
                return Err(BookError::Unreachable);
            }
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(!settings.allow_http)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .resolve_to_addrs(&host, &addrs)
            .user_agent("mailsig-carddav");
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|_| BookError::Tls)?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|_| BookError::Tls)?;
        let mut origin = url.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        Ok(Connection {
            client,
            credentials,
            origin,
        })
    }

    /// `href` (absolute path or URL) on this connection's origin; another origin is refused.
    pub fn url_of(&self, href: &str) -> Result<Url, BookError> {
        let url = self.origin.join(href).map_err(|_| BookError::Protocol)?;
        if url.origin() != self.origin.origin() {
            return Err(BookError::RefusedHost);
        }
        Ok(url)
    }

    async fn request(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: Option<String>,
    ) -> Result<(StatusCode, HeaderMap, String), BookError> {
        let mut request = self
            .client
            .request(method, url.clone())
            .basic_auth(
                &self.credentials.user,
                Some(self.credentials.password.as_str()),
            )
            .headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|e| send_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER as u64)
        {
            return Err(BookError::Protocol);
        }
        let bytes = response.bytes().await.map_err(|e| send_error(&e))?;
        if bytes.len() > MAX_ANSWER {
            return Err(BookError::Protocol);
        }
        Ok((
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    /// A PROPFIND or REPORT with an XML body, answered by a multistatus.
    async fn dav(
        &self,
        method: &'static [u8],
        url: &Url,
        depth: &'static str,
        body: String,
    ) -> Result<Multistatus, BookError> {
        let method = Method::from_bytes(method).map_err(|_| BookError::Protocol)?;
        let mut headers = HeaderMap::new();
        headers.insert("Depth", HeaderValue::from_static(depth));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        );
        let (status, _, text) = self.request(method, url, headers, Some(body)).await?;
        if status.as_u16() != 207 {
            return Err(status_error(status));
        }
        xml::parse(&text).map_err(|_| BookError::Protocol)
    }

    /// PROPFIND of `props` (XML elements, `d:` DAV and `card:` CardDAV prefixes).
    pub async fn propfind(
        &self,
        url: &Url,
        depth: &'static str,
        props: &str,
    ) -> Result<Multistatus, BookError> {
        self.dav(
            b"PROPFIND",
            url,
            depth,
            format!(
                r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/"><d:prop>{props}</d:prop></d:propfind>"#
            ),
        )
        .await
    }

    /// GET without following redirects: the status and the `Location` header.
    pub async fn probe(&self, url: &Url) -> Result<(StatusCode, Option<String>), BookError> {
        let (status, headers, _) = self
            .request(Method::GET, url, HeaderMap::new(), None)
            .await?;
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((status, location))
    }
}

/// One CardDAV address book (a collection URL on a [`Connection`]).
#[derive(Clone, Debug)]
pub struct CardDavBook {
    connection: Connection,
    collection: Url,
    /// Numbers in the book without a country code are read in this region.
    region: Option<Region>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn entry_of(response: &DavResponse) -> Option<BookEntry> {
    let card = vcard::parse(response.address_data.as_deref()?)?;
    Some(BookEntry {
        id: BookEntryId(response.href.clone()),
        etag: ETag(response.etag.clone()?),
        contact: vcard::contact_of(&card),
    })
}

fn random_uid() -> Result<String, BookError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| BookError::Protocol)?;
    Ok(format!("mailsig-{}", hex::encode(bytes)))
}

impl CardDavBook {
    pub fn new(connection: Connection, collection: Url, region: Option<Region>) -> CardDavBook {
        CardDavBook {
            connection,
            collection,
            region,
        }
    }

    fn is_member(&self, href: &str) -> bool {
        let path = self.collection.path();
        href.len() > path.len() && href.starts_with(path) && !href.ends_with('/')
    }

    /// The cards at `hrefs`, fetched in batches.
    async fn multiget(&self, hrefs: &[String]) -> Result<Vec<BookEntry>, BookError> {
        let mut entries = Vec::with_capacity(hrefs.len());
        for batch in hrefs.chunks(MULTIGET_BATCH) {
            let list: String = batch
                .iter()
                .map(|h| format!("<d:href>{}</d:href>", escape(h)))
                .collect();
            let answer = self
                .connection
                .dav(
                    b"REPORT",
                    &self.collection,
                    "1",
                    format!(
                        r#"<?xml version="1.0" encoding="utf-8"?><card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop>{list}</card:addressbook-multiget>"#
                    ),
                )
                .await?;
            entries.extend(answer.responses.iter().filter_map(entry_of));
        }
        Ok(entries)
    }

    /// `sync-collection` from `token` (`None`: the initial sync, every member).
    async fn sync_report(&self, token: Option<&str>) -> Result<Multistatus, BookError> {
        let token = token.map(escape).unwrap_or_default();
        self.connection
            .dav(
                b"REPORT",
                &self.collection,
                "0",
                format!(
                    r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
                ),
            )
            .await
    }

    async fn changes_by_sync(&self, token: Option<&str>) -> Result<BookChanges, BookError> {
        let (answer, complete) = match self.sync_report(token).await {
            // The server forgot the token (RFC 6578 3.2: 403/409 valid-sync-token): start over.
            Err(BookError::Auth | BookError::Conflict) if token.is_some() => {
                (self.sync_report(None).await?, true)
            }
            other => (other?, token.is_none()),
        };
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        for r in answer.responses.iter().filter(|r| self.is_member(&r.href)) {
            if r.status == Some(404) {
                removed.push(BookEntryId(r.href.clone()));
            } else {
                changed.push(r.href.clone());
            }
        }
        Ok(BookChanges {
            changed: self.multiget(&changed).await?,
            removed,
            complete,
            state: SyncState(answer.sync_token),
        })
    }

    async fn changes_by_ctag(&self, since: &SyncState) -> Result<BookChanges, BookError> {
        let answer = self
            .connection
            .propfind(&self.collection, "0", "<cs:getctag/>")
            .await?;
        let ctag = answer.responses.first().and_then(|r| r.ctag.clone());
        let state = SyncState(ctag.as_ref().map(|c| format!("{CTAG_STATE}{c}")));
        if ctag.is_some() && state == *since {
            return Ok(BookChanges {
                state,
                ..BookChanges::default()
            });
        }
        let listing = self
            .connection
            .propfind(&self.collection, "1", "<d:getetag/>")
            .await?;
        let hrefs: Vec<String> = listing
            .responses
            .iter()
            .filter(|r| self.is_member(&r.href))
            .map(|r| r.href.clone())
            .collect();
        Ok(BookChanges {
            changed: self.multiget(&hrefs).await?,
            removed: Vec::new(),
            complete: true,
            state,
        })
    }

    /// GET one card: its etag and parsed vCard; `None` when gone.
    async fn get_card(
        &self,
        url: &Url,
    ) -> Result<Option<(ETag, calcard::vcard::VCard)>, BookError> {
        let (status, headers, text) = self
            .connection
            .request(Method::GET, url, HeaderMap::new(), None)
            .await?;
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(status));
        }
        let etag = headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .ok_or(BookError::Protocol)?;
        let card = vcard::parse(&text).ok_or(BookError::Protocol)?;
        Ok(Some((ETag(etag.to_owned()), card)))
    }

    /// PUT `card` under a precondition; the new etag (read back when the answer has none).
    async fn put(
        &self,
        url: &Url,
        precondition: (&'static str, &str),
        card: &calcard::vcard::VCard,
    ) -> Result<ETag, BookError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/vcard; charset=utf-8"),
        );
        headers.insert(
            precondition.0,
            HeaderValue::from_str(precondition.1).map_err(|_| BookError::Protocol)?,
        );
        let (status, answer, _) = self
            .connection
            .request(Method::PUT, url, headers, Some(vcard::write(card)))
            .await?;
        if status == StatusCode::PRECONDITION_FAILED {
            return Err(BookError::Conflict);
        }
        if !status.is_success() {
            return Err(status_error(status));
        }
        match answer.get(ETAG).and_then(|v| v.to_str().ok()) {
            Some(etag) => Ok(ETag(etag.to_owned())),
            None => self
                .get_card(url)
                .await?
                .map(|(etag, _)| etag)
                .ok_or(BookError::Protocol),
        }
    }

    /// The collection's URL.
    pub fn collection(&self) -> &Url {
        &self.collection
    }
}

#[async_trait]
impl AddressBook for CardDavBook {
    async fn changes(&self, since: &SyncState) -> Result<BookChanges, BookError> {
        let token = since.0.as_deref();
        if token.is_some_and(|t| t.starts_with(CTAG_STATE)) {
            return self.changes_by_ctag(since).await;
        }
        match self.changes_by_sync(token).await {
            // No sync reports here (RFC 6578 is optional): fall back to ctag and etags.
            Err(BookError::Protocol | BookError::NotFound) if token.is_none() => {
                self.changes_by_ctag(since).await
            }
            other => other,
        }
    }

    async fn read(&self, id: &BookEntryId) -> Result<Option<BookEntry>, BookError> {
        let url = self.connection.url_of(&id.0)?;
        Ok(self.get_card(&url).await?.map(|(etag, card)| BookEntry {
            id: id.clone(),
            etag,
            contact: vcard::contact_of(&card),
        }))
    }

    async fn create(&self, contact: &BookContact) -> Result<BookEntry, BookError> {
        let uid = random_uid()?;
        let url = self
            .collection
            .join(&format!("{uid}.vcf"))
            .map_err(|_| BookError::Protocol)?;
        let card = vcard::new_card(&uid, contact, self.region);
        let etag = self.put(&url, ("If-None-Match", "*"), &card).await?;
        Ok(BookEntry {
            id: BookEntryId(url.path().to_owned()),
            etag,
            contact: vcard::contact_of(&card),
        })
    }

    async fn update(
        &self,
        id: &BookEntryId,
        etag: &ETag,
        contact: &BookContact,
    ) -> Result<ETag, BookError> {
        let url = self.connection.url_of(&id.0)?;
        let Some((_, mut card)) = self.get_card(&url).await? else {
            return Err(BookError::NotFound);
        };
        vcard::apply(&mut card, contact, self.region);
        // If-Match the version the caller merged against: a change made since is refused by
        // the server (412), never overwritten.
        self.put(&url, ("If-Match", &etag.0), &card).await
    }

    async fn delete(&self, id: &BookEntryId, etag: &ETag) -> Result<(), BookError> {
        let url = self.connection.url_of(&id.0)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            "If-Match",
            HeaderValue::from_str(&etag.0).map_err(|_| BookError::Protocol)?,
        );
        let (status, _, _) = self
            .connection
            .request(Method::DELETE, &url, headers, None)
            .await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::PRECONDITION_FAILED => Err(BookError::Conflict),
            s => Err(status_error(s)),
        }
    }
}

/// How long one request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
