//! The CardDAV adapter (`mailsig_daemon::books`) against the test servers' Radicale over TLS:
//! discovery, create, update with `If-Match`, a change made directly on the server meanwhile
//! (412, re-read, re-merge, never overwritten), and reading the book back by `sync-collection`
//! and by ctag, into the index the duplicate check looks up.
//!
//! Each test makes its own address book (extended MKCOL) and edits it directly with a plain
//! HTTP client, standing in for another CardDAV client of the same user.

use crate::api_support;

use anyhow::{Context, Result, ensure};
use api_support::{BACKENDS, World, add_suggestion};
use mailsig_daemon::books::BookSettings;
use mailsig_daemon::books::carddav::discover::discover;
use mailsig_daemon::books::carddav::{CardDavBook, Connection, Credentials};
use mailsig_daemon::books::sync::{self, Pushed};
use mailsig_daemon::books::worker::Worker;
use mailsig_daemon::domain::address_book::{
    AddressBook, BookContact, BookEntryId, BookError, BookKeys, BookKind, BookPhone, Region,
    SyncState, Verdict,
};
use mailsig_daemon::store::{NewBook, SuggestionStatus};
use reqwest::Method;
use url::Url;
use zeroize::Zeroizing;

const USER: &str = "carddav";
const PASSWORD: &str = "carddav-password";

/// The test servers' Radicale, and a client that edits it directly.
struct Radicale {
    base: Url,
    ca: Vec<u8>,
    client: reqwest::Client,
}

impl Radicale {
    fn new() -> Result<Radicale> {
        let base = std::env::var("MAILSIG_TEST_CARDDAV_URL")
            .context("MAILSIG_TEST_CARDDAV_URL (scripts/test-servers.sh start)")?;
        let ca = std::fs::read(std::env::var("MAILSIG_TEST_CA").context("MAILSIG_TEST_CA")?)?;
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Radicale {
            base: Url::parse(&base)?,
            ca,
            client,
        })
    }

    /// A new, empty address book of the CardDAV user named `name`.
    async fn make_book(&self, name: &str) -> Result<Url> {
        let url = self
            .base
            .join(&format!("/{USER}/{name}-{:016x}/", rand::random::<u64>()))?;
        let made = self
            .client
            .request(Method::from_bytes(b"MKCOL")?, url.clone())
            .basic_auth(USER, Some(PASSWORD))
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(format!(
                r#"<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype><d:displayname>{name}</d:displayname></d:prop></d:set></d:mkcol>"#
            ))
            .send()
            .await?;
        ensure!(made.status().as_u16() == 201, "MKCOL: {}", made.status());
        Ok(url)
    }

    /// PUTs `card` at `url` (`if_match`: the version it must still be at, else it must be new).
    async fn put(&self, url: &Url, card: &str, if_match: Option<&str>) -> Result<String> {
        let request = self
            .client
            .put(url.clone())
            .basic_auth(USER, Some(PASSWORD))
            .header("Content-Type", "text/vcard; charset=utf-8");
        let request = match if_match {
            Some(etag) => request.header("If-Match", etag),
            None => request.header("If-None-Match", "*"),
        };
        let put = request.body(card.to_owned()).send().await?;
        ensure!(put.status().is_success(), "PUT {url}: {}", put.status());
        match put.headers().get("etag") {
            Some(etag) => Ok(etag.to_str()?.to_owned()),
            None => Ok(self.get(url).await?.context("gone after PUT")?.0),
        }
    }

    /// The card at `url`: its etag and text; `None` when there is none.
    async fn get(&self, url: &Url) -> Result<Option<(String, String)>> {
        let got = self
            .client
            .get(url.clone())
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await?;
        if got.status().as_u16() == 404 {
            return Ok(None);
        }
        ensure!(got.status().is_success(), "GET {url}: {}", got.status());
        let etag = got
            .headers()
            .get("etag")
            .context("GET without an ETag")?
            .to_str()?
            .to_owned();
        Ok(Some((etag, got.text().await?)))
    }

    async fn delete(&self, url: &Url) -> Result<()> {
        let gone = self
            .client
            .delete(url.clone())
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await?;
        ensure!(
            gone.status().is_success(),
            "DELETE {url}: {}",
            gone.status()
        );
        Ok(())
    }

    /// The settings of a daemon whose operator allows book servers on loopback.
    fn settings() -> BookSettings {
        BookSettings {
            allow_private_hosts: true,
            ..BookSettings::default()
        }
    }

    async fn connect_as(
        &self,
        settings: &BookSettings,
        password: &str,
        ca: Option<&[u8]>,
    ) -> Result<Connection, BookError> {
        Connection::open(
            settings,
            &self.base,
            Credentials {
                user: USER.to_owned(),
                password: Zeroizing::new(password.to_owned()),
            },
            ca,
        )
        .await
    }

    async fn connection(&self) -> Result<Connection> {
        self.connect_as(&Radicale::settings(), PASSWORD, Some(&self.ca))
            .await
            .map_err(|e| anyhow::anyhow!("connect: {e}"))
    }

    async fn book(&self, collection: &Url) -> Result<CardDavBook> {
        Ok(CardDavBook::new(
            self.connection().await?,
            collection.clone(),
            Some(Region::DE),
        ))
    }
}

/// A vCard 3.0 as another client would write it, with properties mailsig does not map.
fn card(uid: &str, lines: &[&str]) -> String {
    let mut text = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\n");
    for line in lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("END:VCARD\r\n");
    text
}

fn lines_of(card: &str, property: &str) -> Vec<String> {
    card.lines()
        .filter(|l| {
            l.split([':', ';'])
                .next()
                .is_some_and(|p| p.eq_ignore_ascii_case(property))
        })
        .map(|l| l.split_once(':').map_or("", |(_, v)| v).trim().to_owned())
        .collect()
}

#[tokio::test]
async fn discovery_finds_the_users_books_from_the_server_address_over_verified_tls() -> Result<()> {
    let radicale = Radicale::new()?;
    let customers = radicale.make_book("customers").await?;
    let suppliers = radicale.make_book("suppliers").await?;
    let connection = radicale.connection().await?;

    // From the server's address: RFC 6764 well-known, current-user-principal, home set.
    let root = radicale.base.join("/")?;
    let found = discover(&connection, &root)
        .await
        .map_err(|e| anyhow::anyhow!("discover: {e}"))?;
    for (url, name) in [(&customers, "customers"), (&suppliers, "suppliers")] {
        let book = found
            .iter()
            .find(|b| b.url == *url)
            .with_context(|| format!("{url} not found in {found:?}"))?;
        ensure!(book.name.as_deref() == Some(name), "{book:?}");
    }
    // A collection URL is taken as it is.
    let one = discover(&connection, &customers)
        .await
        .map_err(|e| anyhow::anyhow!("discover the book: {e}"))?;
    ensure!(
        one.len() == 1 && one[0].url == customers,
        "collection URL: {one:?}"
    );
    // The principal's URL is not itself a book: its home set is listed.
    let principal = radicale.base.join(&format!("/{USER}/"))?;
    let from_principal = discover(&connection, &principal)
        .await
        .map_err(|e| anyhow::anyhow!("discover from the principal: {e}"))?;
    ensure!(
        from_principal.iter().any(|b| b.url == suppliers),
        "{from_principal:?}"
    );

    // A wrong password is the credentials' fault, in a fixed word.
    let wrong = radicale
        .connect_as(&Radicale::settings(), "wrong-password", Some(&radicale.ca))
        .await
        .map_err(|e| anyhow::anyhow!("open: {e}"))?;
    ensure!(
        discover(&wrong, &root).await == Err(BookError::Auth),
        "a wrong password was not refused as such"
    );
    // Without the test CA the certificate is not trusted: TLS is verified.
    let untrusting = radicale
        .connect_as(&Radicale::settings(), PASSWORD, None)
        .await
        .map_err(|e| anyhow::anyhow!("open: {e}"))?;
    let untrusted = discover(&untrusting, &root).await;
    ensure!(
        untrusted == Err(BookError::Tls),
        "a server the daemon cannot verify: {untrusted:?}"
    );
    // The host guard: loopback is refused unless the operator allows internal hosts, and so
    // is plain HTTP.
    let refused = radicale
        .connect_as(&BookSettings::default(), PASSWORD, Some(&radicale.ca))
        .await;
    ensure!(
        matches!(refused, Err(BookError::RefusedHost)),
        "loopback allowed by default"
    );
    let mut plain = radicale.base.clone();
    plain
        .set_scheme("http")
        .map_err(|()| anyhow::anyhow!("scheme"))?;
    let http = Connection::open(
        &Radicale::settings(),
        &plain,
        Credentials {
            user: USER.to_owned(),
            password: Zeroizing::new(PASSWORD.to_owned()),
        },
        Some(&radicale.ca),
    )
    .await;
    ensure!(
        matches!(http, Err(BookError::RefusedHost)),
        "plain HTTP allowed by default"
    );
    Ok(())
}

#[tokio::test]
async fn create_and_update_with_if_match_and_a_stale_version_is_refused() -> Result<()> {
    let radicale = Radicale::new()?;
    let collection = radicale.make_book("writes").await?;
    let book = radicale.book(&collection).await?;

    let created = book
        .create(&BookContact {
            name: Some("Eve Newman".into()),
            company: Some("Newco, Inc.".into()),
            emails: vec!["eve@new.example".into()],
            phones: vec![BookPhone {
                kind: "mobile".into(),
                number: "+4915123456789".into(),
            }],
            ..BookContact::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("create: {e}"))?;
    let url = collection.join(&created.id.0)?;
    let (etag, text) = radicale
        .get(&url)
        .await?
        .context("created card not there")?;
    ensure!(etag == created.etag.0, "etag {etag} vs {:?}", created.etag);
    ensure!(lines_of(&text, "FN") == ["Eve Newman"], "{text}");
    ensure!(lines_of(&text, "EMAIL") == ["eve@new.example"], "{text}");
    ensure!(lines_of(&text, "ORG") == [r"Newco\, Inc."], "{text}");
    ensure!(lines_of(&text, "TEL").len() == 1, "{text}");

    // Update under the version read: the title is set, the rest kept.
    let update = BookContact {
        title: Some("Buyer".into()),
        emails: vec!["eve.newman@new.example".into()],
        ..BookContact::default()
    };
    let updated = book
        .update(&created.id, &created.etag, &update)
        .await
        .map_err(|e| anyhow::anyhow!("update: {e}"))?;
    ensure!(updated != created.etag, "the etag did not move");
    let (_, text) = radicale.get(&url).await?.context("card gone")?;
    ensure!(lines_of(&text, "TITLE") == ["Buyer"], "{text}");
    ensure!(lines_of(&text, "FN") == ["Eve Newman"], "{text}");
    ensure!(lines_of(&text, "EMAIL").len() == 2, "{text}");

    // The old version again: the server refuses it (412) and the card stays as it was.
    let stale = book
        .update(
            &created.id,
            &created.etag,
            &BookContact {
                title: Some("Overwritten".into()),
                ..BookContact::default()
            },
        )
        .await;
    ensure!(stale == Err(BookError::Conflict), "stale update: {stale:?}");
    let (_, after) = radicale.get(&url).await?.context("card gone")?;
    ensure!(lines_of(&after, "TITLE") == ["Buyer"], "{after}");

    // A create never replaces: each is a new resource (If-None-Match: *).
    let second = book
        .create(&BookContact {
            name: Some("Eve Newman".into()),
            ..BookContact::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("second create: {e}"))?;
    ensure!(second.id != created.id, "the same resource twice");
    ensure!(
        radicale.get(&url).await?.is_some(),
        "the first card is gone"
    );
    Ok(())
}

#[tokio::test]
async fn an_edit_on_the_server_meanwhile_is_re_read_and_re_merged_never_overwritten() -> Result<()>
{
    let radicale = Radicale::new()?;
    for backend in BACKENDS {
        let w = World::new(backend).await?;
        let store = &w.app.store;
        let collection = radicale.make_book("merge").await?;
        let book = radicale.book(&collection).await?;
        store
            .connect_book(&NewBook {
                list: w.list,
                kind: BookKind::CardDav,
                location: collection.as_str(),
                settings: "{}",
                secret: None,
                created_by: w.owner.0.id,
            })
            .await?;

        // The book has Dora, written by another client, with properties mailsig does not map.
        let dora_url = collection.join("dora.vcf")?;
        let first = radicale
            .put(
                &dora_url,
                &card(
                    "dora-uid",
                    &[
                        "FN:Dora Kim",
                        "N:Kim;Dora;;;",
                        "EMAIL;TYPE=INTERNET,WORK:dora@initech.example",
                        "TEL;TYPE=WORK:+49 30 1234567",
                        "NOTE:Met at the fair",
                        "X-CUSTOM;X-P=1:kept as it is",
                    ],
                ),
                None,
            )
            .await?;
        let read = sync::read_back(store, w.list, &book, Some(Region::DE))
            .await
            .map_err(|e| anyhow::anyhow!("{backend:?}: read back: {e}"))?;
        ensure!(read.changed == 1 && read.complete, "{backend:?}: {read:?}");

        // A suggestion for the same person, accepted.
        let dora = add_suggestion(
            store,
            w.mailbox,
            "dora@initech.example",
            &[
                ("name", "Dora K."),
                ("title", "Buyer"),
                ("company", "Initech"),
                ("phone", "+49301234567"),
                ("phone", "+49301234599"),
            ],
        )
        .await?;
        store
            .set_suggestion_status(dora, SuggestionStatus::Accepted)
            .await?;

        // Meanwhile, someone gives Dora a title in the book. The index still has the old
        // version, so the write goes out under it.
        radicale
            .put(
                &dora_url,
                &card(
                    "dora-uid",
                    &[
                        "FN:Dora Kim",
                        "N:Kim;Dora;;;",
                        "EMAIL;TYPE=INTERNET,WORK:dora@initech.example",
                        "TEL;TYPE=WORK:+49 30 1234567",
                        "TITLE:Head of Buying",
                        "NOTE:Met at the fair",
                        "X-CUSTOM;X-P=1:kept as it is",
                    ],
                ),
                Some(&first),
            )
            .await?;

        let suggestion = store.get_suggestion(dora).await?;
        let pushed = sync::push(store, &book, &suggestion, Some(Region::DE))
            .await
            .map_err(|e| anyhow::anyhow!("{backend:?}: push: {e}"))?;
        ensure!(
            pushed == Pushed::Updated { conflicts: 1 },
            "{backend:?}: {pushed:?}"
        );
        let (_, text) = radicale.get(&dora_url).await?.context("Dora is gone")?;
        // The book's values stay (name, the title typed there meanwhile) ...
        ensure!(lines_of(&text, "FN") == ["Dora Kim"], "{backend:?}: {text}");
        ensure!(
            lines_of(&text, "TITLE") == ["Head of Buying"],
            "{backend:?}: {text}"
        );
        // ... blanks are filled, the new number added, the known one not twice ...
        ensure!(lines_of(&text, "ORG") == ["Initech"], "{backend:?}: {text}");
        ensure!(lines_of(&text, "TEL").len() == 2, "{backend:?}: {text}");
        ensure!(
            lines_of(&text, "EMAIL") == ["dora@initech.example"],
            "{backend:?}: {text}"
        );
        // ... and what mailsig does not map is there as it was, in the card's own version.
        ensure!(
            lines_of(&text, "NOTE") == ["Met at the fair"],
            "{backend:?}: {text}"
        );
        ensure!(
            lines_of(&text, "X-CUSTOM") == ["kept as it is"],
            "{backend:?}: {text}"
        );
        ensure!(lines_of(&text, "VERSION") == ["3.0"], "{backend:?}: {text}");
        let id = BookEntryId(dora_url.path().to_owned());
        let link = store.book_link(dora).await?.context("no link")?;
        ensure!(link.entry == id && !link.created, "{backend:?}: {link:?}");
        let indexed = store
            .book_entry(w.list, &id)
            .await?
            .context("not indexed")?;
        ensure!(
            !indexed.created_by_mailsig
                && indexed.entry.contact.title.as_deref() == Some("Head of Buying"),
            "{backend:?}: {indexed:?}"
        );

        // A new person is created, and marked as mailsig's.
        let eve = add_suggestion(
            store,
            w.mailbox,
            "eve@new.example",
            &[("name", "Eve Newman"), ("company", "Newco")],
        )
        .await?;
        store
            .set_suggestion_status(eve, SuggestionStatus::Accepted)
            .await?;
        let pushed = sync::push(store, &book, &store.get_suggestion(eve).await?, None)
            .await
            .map_err(|e| anyhow::anyhow!("{backend:?}: push Eve: {e}"))?;
        ensure!(pushed == Pushed::Created, "{backend:?}: {pushed:?}");
        let eve_link = store.book_link(eve).await?.context("no link for Eve")?;
        ensure!(eve_link.created, "{backend:?}: {eve_link:?}");
        let eve_url = collection.join(&eve_link.entry.0)?;
        let (_, text) = radicale.get(&eve_url).await?.context("Eve not written")?;
        ensure!(
            lines_of(&text, "EMAIL") == ["eve@new.example"],
            "{backend:?}: {text}"
        );
        // Pushing again changes nothing.
        let again = sync::push(store, &book, &store.get_suggestion(eve).await?, None)
            .await
            .map_err(|e| anyhow::anyhow!("{backend:?}: push Eve again: {e}"))?;
        ensure!(again == Pushed::Unchanged, "{backend:?}: {again:?}");

        // Dismissing and erasing the suggestions deletes nothing in the book: Dora's card was
        // not mailsig's, and Eve's is a contact the user accepted.
        store
            .set_suggestion_status(dora, SuggestionStatus::Dismissed)
            .await?;
        let read = sync::read_back(store, w.list, &book, Some(Region::DE))
            .await
            .map_err(|e| anyhow::anyhow!("{backend:?}: read back: {e}"))?;
        ensure!(read.removed == 0, "{backend:?}: {read:?}");
        ensure!(
            radicale.get(&dora_url).await?.is_some() && radicale.get(&eve_url).await?.is_some(),
            "{backend:?}: a card was deleted"
        );
        ensure!(store.book_entry_count(w.list).await? == 2, "{backend:?}");
    }
    Ok(())
}

#[tokio::test]
async fn changes_on_the_server_are_read_back_by_sync_collection_and_by_ctag() -> Result<()> {
    let radicale = Radicale::new()?;
    let collection = radicale.make_book("readback").await?;
    let book = radicale.book(&collection).await?;
    let urls: Vec<Url> = (1..=3)
        .map(|i| collection.join(&format!("p{i}.vcf")))
        .collect::<Result<_, _>>()?;
    let mut etags = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let n = i + 1;
        etags.push(
            radicale
                .put(
                    url,
                    &card(
                        &format!("p{n}"),
                        &[
                            &format!("FN:Person {n}"),
                            &format!("EMAIL:p{n}@people.example"),
                        ],
                    ),
                    None,
                )
                .await?,
        );
    }
    let id = |url: &Url| BookEntryId(url.path().to_owned());

    // The first read lists the whole book and gives a sync token (not the ctag fallback).
    let first = book
        .changes(&SyncState(None))
        .await
        .map_err(|e| anyhow::anyhow!("first read: {e}"))?;
    ensure!(
        first.complete && first.changed.len() == 3 && first.removed.is_empty(),
        "{first:?}"
    );
    let token = first.state.clone();
    ensure!(
        token.0.as_deref().is_some_and(|t| !t.starts_with("ctag:")),
        "{token:?}"
    );
    let p1 = first
        .changed
        .iter()
        .find(|e| e.id == id(&urls[0]))
        .context("p1 not read")?;
    ensure!(
        p1.contact.emails == ["p1@people.example"] && p1.etag.0 == etags[0],
        "{p1:?}"
    );

    // Nothing changed: nothing read.
    let idle = book
        .changes(&token)
        .await
        .map_err(|e| anyhow::anyhow!("idle read: {e}"))?;
    ensure!(
        idle.changed.is_empty() && idle.removed.is_empty() && !idle.complete,
        "{idle:?}"
    );

    // One card edited, one deleted, one added, directly on the server.
    radicale
        .put(
            &urls[0],
            &card("p1", &["FN:Person One", "EMAIL:first@people.example"]),
            Some(&etags[0]),
        )
        .await?;
    radicale.delete(&urls[1]).await?;
    let p4 = collection.join("p4.vcf")?;
    radicale
        .put(
            &p4,
            &card("p4", &["FN:Person 4", "EMAIL:p4@people.example"]),
            None,
        )
        .await?;
    let delta = book
        .changes(&token)
        .await
        .map_err(|e| anyhow::anyhow!("delta read: {e}"))?;
    ensure!(!delta.complete, "{delta:?}");
    let mut changed: Vec<&BookEntryId> = delta.changed.iter().map(|e| &e.id).collect();
    changed.sort();
    let mut expected = [id(&urls[0]), id(&p4)];
    expected.sort();
    ensure!(changed == expected.iter().collect::<Vec<_>>(), "{delta:?}");
    ensure!(delta.removed == [id(&urls[1])], "{delta:?}");
    let p1 = delta
        .changed
        .iter()
        .find(|e| e.id == id(&urls[0]))
        .context("p1 not re-read")?;
    ensure!(
        p1.contact.emails == ["first@people.example"]
            && p1.contact.name.as_deref() == Some("Person One"),
        "{p1:?}"
    );
    ensure!(delta.state != token, "the token did not move");

    // A token the server does not know: read everything again, completely.
    let unknown = book
        .changes(&SyncState(Some(format!(
            "{}-unknown",
            token.0.as_deref().unwrap_or_default()
        ))))
        .await
        .map_err(|e| anyhow::anyhow!("unknown token: {e}"))?;
    ensure!(
        unknown.complete && unknown.changed.len() == 3,
        "{unknown:?}"
    );

    // The ctag fallback (for servers without sync reports): a full listing when the ctag
    // moved, nothing when it did not.
    let by_ctag = book
        .changes(&SyncState(Some("ctag:".into())))
        .await
        .map_err(|e| anyhow::anyhow!("ctag read: {e}"))?;
    ensure!(
        by_ctag.complete && by_ctag.changed.len() == 3,
        "{by_ctag:?}"
    );
    let ctag = by_ctag.state.clone();
    ensure!(
        ctag.0.as_deref().is_some_and(|t| t.len() > "ctag:".len()),
        "{ctag:?}"
    );
    let same = book
        .changes(&ctag)
        .await
        .map_err(|e| anyhow::anyhow!("ctag idle: {e}"))?;
    ensure!(
        same.changed.is_empty() && !same.complete && same.state == ctag,
        "{same:?}"
    );
    radicale.delete(&p4).await?;
    let moved = book
        .changes(&ctag)
        .await
        .map_err(|e| anyhow::anyhow!("ctag moved: {e}"))?;
    ensure!(
        moved.complete && moved.changed.len() == 2 && moved.state != ctag,
        "{moved:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_duplicate_check_follows_an_edit_made_in_the_book() -> Result<()> {
    let radicale = Radicale::new()?;
    let w = World::new(api_support::Backend::Sqlite).await?;
    let store = &w.app.store;
    let collection = radicale.make_book("index").await?;
    let book = radicale.book(&collection).await?;
    store
        .connect_book(&NewBook {
            list: w.list,
            kind: BookKind::CardDav,
            location: collection.as_str(),
            settings: "{}",
            secret: None,
            created_by: w.owner.0.id,
        })
        .await?;
    let url = collection.join("gus.vcf")?;
    let etag = radicale
        .put(
            &url,
            &card(
                "gus",
                &["FN:Gus Fring", "ORG:Los Pollos", "EMAIL:gus@pollos.example"],
            ),
            None,
        )
        .await?;
    sync::read_back(store, w.list, &book, None)
        .await
        .map_err(|e| anyhow::anyhow!("read back: {e}"))?;
    let keys = |email: &str| BookKeys::new(None, None, [email], std::iter::empty(), None);
    let verdict = store
        .book_match(w.list, &keys("gus@hermanos.example"))
        .await?;
    ensure!(verdict.verdict == Verdict::New, "{verdict:?}");

    // The address is added in the book; the next read-back makes it a known one.
    radicale
        .put(
            &url,
            &card(
                "gus",
                &[
                    "FN:Gus Fring",
                    "ORG:Los Pollos",
                    "EMAIL:gus@pollos.example",
                    "EMAIL:gus@hermanos.example",
                ],
            ),
            Some(&etag),
        )
        .await?;
    let read = sync::read_back(store, w.list, &book, None)
        .await
        .map_err(|e| anyhow::anyhow!("read back: {e}"))?;
    ensure!(read.changed == 1 && !read.complete, "{read:?}");
    let verdict = store
        .book_match(w.list, &keys("gus@hermanos.example"))
        .await?;
    ensure!(verdict.verdict == Verdict::Exists, "{verdict:?}");

    // Deleted in the book: gone from the index.
    radicale.delete(&url).await?;
    let read = sync::read_back(store, w.list, &book, None)
        .await
        .map_err(|e| anyhow::anyhow!("read back: {e}"))?;
    ensure!(read.removed == 1, "{read:?}");
    let verdict = store
        .book_match(w.list, &keys("gus@pollos.example"))
        .await?;
    ensure!(verdict.verdict == Verdict::New, "{verdict:?}");
    ensure!(store.book_entry_count(w.list).await? == 0);
    Ok(())
}

/// A daemon's API whose operator allows book servers on loopback.
async fn app_with_books(backend: api_support::Backend) -> Result<World> {
    World::from_app(api_support::App::with_books(backend, Radicale::settings()).await?).await
}

fn book_body(url: &Url, password: &str, ca: Option<&[u8]>) -> serde_json::Value {
    let mut body = serde_json::json!({"url": url.as_str(), "user": USER, "password": password});
    if let Some(ca) = ca {
        body["ca_pem"] = String::from_utf8_lossy(ca).into_owned().into();
    }
    body
}

fn field_errors(reply: &api_support::Reply) -> Result<Vec<(String, String)>> {
    let json = reply.json()?;
    Ok(json["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or_default().to_owned(),
                f["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

fn verdict(items: &[serde_json::Value], sender: &str) -> Option<String> {
    items
        .iter()
        .find(|s| s["sender_email"] == sender)
        .and_then(|s| s["book"]["verdict"].as_str())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_list_connected_through_the_api_receives_accepted_contacts_and_reads_the_books_edits()
-> Result<()> {
    let radicale = Radicale::new()?;
    for backend in BACKENDS {
        let w = app_with_books(backend).await?;
        let owner = api_support::Auth::Bearer(w.owner.1.clone());
        let editor = api_support::Auth::Bearer(w.editor.1.clone());
        let store = &w.app.store;
        let path = format!("/api/v1/lists/{}/book", w.list.0);
        let collection = radicale.make_book("connected").await?;
        // A second book of the same account, so that discovery from the server's root finds
        // several whatever other tests made before.
        radicale.make_book("another").await?;
        // Ann (the world's suggestion) is in the book already, written by another client.
        radicale
            .put(
                &collection.join("ann.vcf")?,
                &card("ann", &["FN:Ann Other", "EMAIL:ann@acme.example"]),
                None,
            )
            .await?;

        let reply = w.app.call(Method::GET, &path, &owner, None).await?;
        ensure!(
            reply.status == 200 && reply.json()?["connected"] == false,
            "{backend:?}: {} {}",
            reply.status,
            reply.text()
        );
        // Only the owner connects a book.
        let reply = w
            .app
            .call(
                Method::PUT,
                &path,
                &editor,
                Some(book_body(&collection, PASSWORD, Some(&radicale.ca))),
            )
            .await?;
        ensure!(reply.status == 403, "{backend:?}: editor: {}", reply.status);

        // Each failure on its field, in fixed words.
        for (body, field, words) in [
            (
                book_body(&collection, "wrong-password", Some(&radicale.ca)),
                "password",
                "refused this user name and password",
            ),
            (
                book_body(&collection, PASSWORD, None),
                "ca_pem",
                "certificate is not trusted",
            ),
            (
                book_body(&radicale.base.join("/")?, PASSWORD, Some(&radicale.ca)),
                "url",
                "address books were found there",
            ),
        ] {
            let reply = w.app.call(Method::PUT, &path, &owner, Some(body)).await?;
            let fields = field_errors(&reply)?;
            ensure!(
                reply.status == 400 && fields.iter().any(|(f, m)| f == field && m.contains(words)),
                "{backend:?}: {field}: {} {fields:?}",
                reply.status
            );
        }
        ensure!(store.book_of_list(w.list).await?.is_none(), "{backend:?}");

        let reply = w
            .app
            .call(
                Method::PUT,
                &path,
                &owner,
                Some(book_body(&collection, PASSWORD, Some(&radicale.ca))),
            )
            .await?;
        ensure!(
            reply.status == 200,
            "{backend:?}: connect: {} {}",
            reply.status,
            reply.text()
        );
        let state = reply.json()?;
        ensure!(
            state["connected"] == true
                && state["book"]["url"] == collection.as_str()
                && state["book"]["name"] == "connected"
                && state["book"]["entries"] == 0
                && state["book"]["last_sync_at"].is_null(),
            "{backend:?}: {state}"
        );
        ensure!(
            !reply.text().contains(PASSWORD),
            "{backend:?}: password echoed"
        );
        let stored = store.book_of_list(w.list).await?.context("not stored")?;
        ensure!(
            !stored.settings.contains(PASSWORD) && stored.secret.is_some(),
            "{backend:?}: {}",
            stored.settings
        );

        // The first round reads the book: Ann's suggestion is a known contact.
        let worker = Worker::new(
            store.clone(),
            w.app.vault.clone(),
            Radicale::settings(),
            "replica-a",
        );
        ensure!(worker.round().await? == 1, "{backend:?}: no round");
        let suggestions = format!("/api/v1/lists/{}/suggestions", w.list.0);
        let items = w
            .app
            .call(Method::GET, &suggestions, &owner, None)
            .await?
            .json()?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            verdict(&items, "ann@acme.example").as_deref() == Some("exists"),
            "{backend:?}: {items:?}"
        );

        // Eve is accepted through the API; the next round writes her into the book.
        let eve = add_suggestion(
            store,
            w.mailbox,
            "eve@new.example",
            &[("name", "Eve Newman"), ("company", "Newco")],
        )
        .await?;
        let reply = w
            .app
            .call(
                Method::POST,
                &format!("/api/v1/suggestions/{}/accept", eve.0),
                &owner,
                None,
            )
            .await?;
        ensure!(reply.status == 200, "{backend:?}: accept: {}", reply.status);
        let synced = worker
            .sync_list(w.list)
            .await
            .map_err(|e| anyhow::anyhow!("{backend:?}: sync: {e}"))?;
        ensure!(synced.created == 1, "{backend:?}: {synced:?}");
        let link = store.book_link(eve).await?.context("Eve not linked")?;
        let eve_url = collection.join(&link.entry.0)?;
        let (eve_etag, text) = radicale.get(&eve_url).await?.context("Eve not written")?;
        ensure!(
            lines_of(&text, "FN") == ["Eve Newman"]
                && lines_of(&text, "EMAIL") == ["eve@new.example"],
            "{backend:?}: {text}"
        );

        // Someone adds Eve's private address in the book. A suggestion from that address is
        // new until the book is read again, then a known contact.
        radicale
            .put(
                &eve_url,
                &text.replace(
                    "END:VCARD",
                    "EMAIL;TYPE=HOME:eve.private@home.example\r\nEND:VCARD",
                ),
                Some(&eve_etag),
            )
            .await?;
        add_suggestion(
            store,
            w.mailbox,
            "eve.private@home.example",
            &[("name", "Eve Newman")],
        )
        .await?;
        let items = w
            .app
            .call(Method::GET, &suggestions, &owner, None)
            .await?
            .json()?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            verdict(&items, "eve.private@home.example").as_deref() == Some("new"),
            "{backend:?}: {items:?}"
        );
        // A daemon started afresh (another worker) goes on from the kept sync token: only the
        // edit is read.
        let restarted = Worker::new(
            store.clone(),
            w.app.vault.clone(),
            Radicale::settings(),
            "replica-b",
        );
        let synced = restarted
            .sync_list(w.list)
            .await
            .map_err(|e| anyhow::anyhow!("{backend:?}: sync after restart: {e}"))?;
        ensure!(
            !synced.read.complete && synced.read.changed == 1,
            "{backend:?}: {synced:?}"
        );
        let items = w
            .app
            .call(Method::GET, &suggestions, &owner, None)
            .await?
            .json()?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            verdict(&items, "eve.private@home.example").as_deref() == Some("exists"),
            "{backend:?}: {items:?}"
        );

        // The merge takes the book's value of the entry that holds the contact: Ann's name as
        // the book has it. A contact no entry holds has no book value to take.
        let (app, by) = (&w.app, &editor);
        let merge_from_book = |id: i64| {
            let path = format!("/api/v1/suggestions/{id}/merge");
            let body = serde_json::json!({"fields": [{"field": "name", "choice": "book"}]});
            async move { app.call(Method::POST, &path, by, Some(body)).await }
        };
        let reply = merge_from_book(w.suggestion.0).await?;
        ensure!(
            reply.status == 200 && reply.json()?["fields"]["name"]["value"] == "Ann Other",
            "{backend:?}: merge from the book: {} {}",
            reply.status,
            reply.text()
        );
        let outsider =
            add_suggestion(store, w.mailbox, "otto@else.example", &[("name", "Otto")]).await?;
        let reply = merge_from_book(outsider.0).await?;
        ensure!(
            reply.status == 400
                && field_errors(&reply)?.iter().any(|(f, m)| {
                    f == "fields[0].choice" && m.contains("no entry of the list's address book")
                }),
            "{backend:?}: book value without an entry: {} {}",
            reply.status,
            reply.text()
        );

        // One replica at a time: a book claimed by one is skipped by the other.
        ensure!(
            store
                .claim_book(w.list, "replica-a", std::time::Duration::from_secs(60))
                .await?,
            "{backend:?}: claim"
        );
        ensure!(restarted.round().await? == 0, "{backend:?}: claimed twice");
        store.release_book(w.list, "replica-a").await?;
        ensure!(restarted.round().await? == 1, "{backend:?}: not released");

        let reply = w.app.call(Method::GET, &path, &owner, None).await?;
        let state = reply.json()?;
        ensure!(
            state["book"]["entries"] == 2
                && state["book"]["status"] == "ok"
                && state["book"]["last_sync_at"].is_i64(),
            "{backend:?}: {state}"
        );

        // Disconnecting forgets the password and the index; the book keeps every card.
        let secret = stored.secret.context("no secret")?;
        let reply = w.app.call(Method::DELETE, &path, &owner, None).await?;
        ensure!(
            reply.status == 204,
            "{backend:?}: disconnect: {}",
            reply.status
        );
        ensure!(
            store.get_secret(secret).await.is_err(),
            "{backend:?}: the password stayed"
        );
        ensure!(store.book_entry_count(w.list).await? == 0, "{backend:?}");
        ensure!(
            radicale.get(&eve_url).await?.is_some()
                && radicale.get(&collection.join("ann.vcf")?).await?.is_some(),
            "{backend:?}: a card was deleted"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_book_on_an_internal_address_is_refused_unless_the_operator_allows_it() -> Result<()> {
    let radicale = Radicale::new()?;
    let w = World::new(api_support::Backend::Sqlite).await?;
    let owner = api_support::Auth::Bearer(w.owner.1.clone());
    let collection = radicale.make_book("guarded").await?;
    let reply = w
        .app
        .call(
            Method::PUT,
            &format!("/api/v1/lists/{}/book", w.list.0),
            &owner,
            Some(book_body(&collection, PASSWORD, Some(&radicale.ca))),
        )
        .await?;
    let fields = field_errors(&reply)?;
    ensure!(
        reply.status == 400
            && fields
                .iter()
                .any(|(f, m)| f == "url" && m.contains("allow_private_hosts")),
        "{} {fields:?}",
        reply.status
    );
    ensure!(w.app.store.book_of_list(w.list).await?.is_none());
    Ok(())
}
