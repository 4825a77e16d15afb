//! Load tool for connected address books (BENCHMARKS.md, "Address books"): against the test
//! servers' Radicale (`scripts/test-servers.sh start`), with the daemon's own sync worker and a
//! SQLite store in a temp dir, it times
//!
//! 1. one round writing `--push N` accepted contacts into an empty book (create each);
//! 2. the first read of a book of `--book M` cards (sync-collection, multiget, index);
//! 3. the read after `--changed K` of them changed on the server, and of the unchanged book;
//! 4. `--checks C` duplicate checks against the M-entry index (one indexed look-up each).
//!
//! It checks what was written and read (counts), never how fast: the times are printed. Radicale
//! checks a new card's UID against every card of its collection, so its PUT slows down as a book
//! grows; the M cards are therefore written straight into its storage folder (under
//! `MAILSIG_TEST_DIR`), which it reads as it would its own writes; only mailsig's reading is
//! timed. Radicale reads and parses every card the first time it lists a book, so one request
//! may take minutes: `--timeout` (seconds, default 1800) is the worker's request limit.
//!
//! ```text
//! eval "$(scripts/test-servers.sh env)"
//! cargo run --release -p mailsig-tests --bin book-figures -- --push 1000 --book 10000
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::books::BookSettings;
use mailsig_daemon::books::worker::{Wake, Worker};
use mailsig_daemon::domain::address_book::{BookKeys, Verdict};
use mailsig_daemon::service::Actor;
use mailsig_daemon::service::books::{ConnectForm, connect};
use mailsig_daemon::store::{
    CommitMessage, CommitResult, Cursor, ListId, MailboxId, MailboxKind, NewMailbox, NewSuggestion,
    Outcome, Store, StoredField, StoredPhone, SuggestionFields, SuggestionStatus, UserId,
};
use mailsig_daemon::vault::{MasterKey, Vault};
use url::Url;

/// The allocator `mailsigd` ships with, so the worker in this process behaves as deployed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USER: &str = "carddav";
const PASSWORD: &str = "carddav-password";
const USAGE: &str =
    "usage: book-figures [--push N] [--book M] [--changed K] [--checks C] [--timeout SECONDS]";

struct Args {
    push: usize,
    book: usize,
    changed: usize,
    checks: usize,
    timeout: Duration,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        push: 1000,
        book: 10_000,
        changed: 100,
        checks: 1000,
        timeout: Duration::from_secs(1800),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{flag} needs a number ({USAGE})"))?;
        let count = usize::try_from(value)?;
        match flag.as_str() {
            "--push" => args.push = count,
            "--book" => args.book = count,
            "--changed" => args.changed = count,
            "--checks" => args.checks = count,
            "--timeout" => args.timeout = Duration::from_secs(value),
            _ => bail!("unknown flag {flag} ({USAGE})"),
        }
    }
    ensure!(
        args.changed <= args.book && args.checks >= args.changed,
        "--changed must not exceed --book nor --checks ({USAGE})"
    );
    Ok(args)
}

/// The test servers' Radicale and a client that makes its books.
struct Radicale {
    base: Url,
    ca: String,
    client: reqwest::Client,
    storage: std::path::PathBuf,
}

impl Radicale {
    fn from_env() -> Result<Radicale> {
        let base = std::env::var("MAILSIG_TEST_CARDDAV_URL")
            .context("MAILSIG_TEST_CARDDAV_URL (eval \"$(scripts/test-servers.sh env)\")")?;
        let ca =
            std::fs::read_to_string(std::env::var("MAILSIG_TEST_CA").context("MAILSIG_TEST_CA")?)?;
        let storage = std::path::PathBuf::from(
            std::env::var("MAILSIG_TEST_DIR").context("MAILSIG_TEST_DIR")?,
        )
        .join("radicale/collections/collection-root");
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes())?)
            .build()?;
        Ok(Radicale {
            base: Url::parse(&base)?,
            ca,
            client,
            storage,
        })
    }

    /// A new, empty address book of the CardDAV user.
    async fn make_book(&self, name: &str) -> Result<Url> {
        let url = self
            .base
            .join(&format!("/{USER}/{name}-{:016x}/", rand::random::<u64>()))?;
        let made = self
            .client
            .request(reqwest::Method::from_bytes(b"MKCOL")?, url.clone())
            .basic_auth(USER, Some(PASSWORD))
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(format!(r#"<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype><d:displayname>{name}</d:displayname></d:prop></d:set></d:mkcol>"#))
            .send()
            .await?;
        ensure!(made.status().as_u16() == 201, "MKCOL: {}", made.status());
        Ok(url)
    }
}

/// A list with a mailbox in a fresh store, and its owner.
struct World {
    store: Store,
    vault: Vault,
    owner: UserId,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Result<World> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
        store.migrate().await?;
        let vault = Vault::new(MasterKey::generate().context("master key")?);
        let owner = store
            .create_user("figures@example.test", Some("figures"))
            .await?
            .id;
        Ok(World {
            store,
            vault,
            owner,
            _dir: dir,
        })
    }

    async fn list(&self, name: &str) -> Result<(ListId, MailboxId)> {
        let list = self.store.create_list(self.owner, name).await?.id;
        let mailbox = self
            .store
            .create_mailbox(NewMailbox {
                owner: self.owner,
                kind: MailboxKind::Imap,
                address: format!("{name}@example.test"),
                display_name: None,
                target_list: list,
                excluded_domains: vec![],
                settings: serde_json::json!({}),
                secret: None,
            })
            .await?
            .id;
        Ok((list, mailbox))
    }

    /// Connects `list` to the book at `url` as the list's owner would.
    async fn connect(
        &self,
        settings: &BookSettings,
        radicale: &Radicale,
        list: ListId,
        url: &Url,
    ) -> Result<()> {
        connect(
            &self.store,
            &self.vault,
            settings,
            &Wake::default(),
            Actor::signed_in(self.owner),
            list,
            ConnectForm {
                url: Some(url.to_string()),
                user: Some(USER.to_owned()),
                password: Some(PASSWORD.to_owned().into()),
                ca_pem: Some(radicale.ca.clone()),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("connect the book: {e}"))?;
        Ok(())
    }

    /// One accepted contact with a name, a company and a phone.
    async fn accepted(&self, mailbox: MailboxId, i: usize) -> Result<()> {
        let field = |value: String| StoredField {
            value,
            confidence: 0.9,
            rule: "figures".to_owned(),
        };
        let committed = self
            .store
            .commit_message(CommitMessage {
                mailbox,
                folder: "INBOX".into(),
                cursor: Cursor::None,
                message_id_hash: format!("{:032x}", rand::random::<u128>()),
                outcome: Outcome::Suggestion(NewSuggestion {
                    sender_email: format!("person{i}@load.example"),
                    fields: SuggestionFields {
                        name: Some(field(format!("Person {i} Load"))),
                        company: Some(field("Load Inc".to_owned())),
                        phones: vec![StoredPhone {
                            kind: "work".to_owned(),
                            e164: format!("+4930{:07}", 1_000_000 + i),
                            confidence: 0.9,
                            rule: "figures".to_owned(),
                        }],
                        ..SuggestionFields::default()
                    },
                    confidence: 0.9,
                    auth: mailsig_daemon::domain::SenderAuth::new(
                        mailsig_daemon::domain::AuthResult::Authenticated,
                        mailsig_daemon::domain::AuthMethod::Dmarc,
                    ),
                }),
                fencing: None,
            })
            .await?;
        let CommitResult::Inserted { suggestion } = committed else {
            bail!("contact {i} was not inserted: {committed:?}");
        };
        self.store
            .set_suggestion_status(suggestion, SuggestionStatus::Accepted)
            .await?;
        Ok(())
    }
}

fn card(i: usize, extra: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c{i}\r\nFN:Contact {i} Big\r\nN:Big;Contact {i};;;\r\n\
         ORG:Big Book AG\r\nEMAIL:contact{i}@big.example\r\nTEL;TYPE=WORK:+4989{:07}\r\n{extra}\r\n\
         END:VCARD\r\n",
        2_000_000 + i
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let radicale = Radicale::from_env()?;
    let world = World::new().await?;
    let settings = BookSettings {
        allow_private_hosts: true,
        timeout: args.timeout,
        ..BookSettings::default()
    };
    let worker = Worker::new(
        world.store.clone(),
        world.vault.clone(),
        settings.clone(),
        "book-figures",
    );
    println!(
        "book-figures: --push {} --book {} --changed {} --checks {} --timeout {}",
        args.push,
        args.book,
        args.changed,
        args.checks,
        args.timeout.as_secs()
    );

    // 1. N accepted contacts into an empty book: one round.
    if args.push > 0 {
        let (list, mailbox) = world.list("push").await?;
        let empty = radicale.make_book("push").await?;
        world.connect(&settings, &radicale, list, &empty).await?;
        for i in 0..args.push {
            world.accepted(mailbox, i).await?;
        }
        let started = Instant::now();
        let synced = worker
            .sync_list(list)
            .await
            .map_err(|e| anyhow::anyhow!("push round: {e}"))?;
        let push = started.elapsed();
        ensure!(synced.created == args.push, "{synced:?}");
        println!(
            "push {} accepted contacts (one round, create each): {:.1} s ({:.1} ms per contact)",
            args.push,
            push.as_secs_f64(),
            push.as_secs_f64() * 1000.0 / args.push as f64
        );
    }

    // 2. A book of M cards, written into Radicale's storage folder.
    if args.book == 0 {
        return Ok(());
    }
    let (list, _) = world.list("read").await?;
    let big = radicale.make_book("read").await?;
    let folder = radicale.storage.join(big.path().trim_matches('/'));
    ensure!(folder.is_dir(), "no storage folder {}", folder.display());
    for i in 0..args.book {
        std::fs::write(folder.join(format!("c{i}.vcf")), card(i, "NOTE:first"))?;
    }
    world.connect(&settings, &radicale, list, &big).await?;
    let started = Instant::now();
    let synced = worker
        .sync_list(list)
        .await
        .map_err(|e| anyhow::anyhow!("first read: {e}"))?;
    let first = started.elapsed();
    ensure!(
        synced.read.complete && synced.read.changed == args.book,
        "{synced:?}"
    );
    ensure!(world.store.book_entry_count(list).await? == args.book as i64);
    println!(
        "first read of a {}-card book (sync-collection, multiget, index): {:.1} s",
        args.book,
        first.as_secs_f64()
    );

    // 3. K cards changed on the server: the next round reads only those; then an idle round.
    for i in 0..args.changed {
        std::fs::write(
            folder.join(format!("c{i}.vcf")),
            card(i, &format!("EMAIL:changed{i}@big.example")),
        )?;
    }
    let started = Instant::now();
    let synced = worker
        .sync_list(list)
        .await
        .map_err(|e| anyhow::anyhow!("delta read: {e}"))?;
    let delta = started.elapsed();
    ensure!(
        !synced.read.complete && synced.read.changed == args.changed,
        "{synced:?}"
    );
    println!(
        "read of the {}-card book after {} cards changed: {:.2} s",
        args.book,
        args.changed,
        delta.as_secs_f64()
    );
    let started = Instant::now();
    let synced = worker
        .sync_list(list)
        .await
        .map_err(|e| anyhow::anyhow!("idle read: {e}"))?;
    ensure!(synced.read.changed == 0, "{synced:?}");
    println!(
        "read of the unchanged {}-card book: {:.3} s",
        args.book,
        started.elapsed().as_secs_f64()
    );

    // 4. C duplicate checks: the changed addresses are known, the others are not.
    let started = Instant::now();
    let mut exists = 0;
    for i in 0..args.checks {
        let keys = BookKeys::new(
            Some(&format!("Contact {} Big", i * 7)),
            Some("Big Book"),
            [format!("changed{i}@big.example").as_str()],
            std::iter::empty(),
            None,
        );
        if world.store.book_match(list, &keys).await?.verdict == Verdict::Exists {
            exists += 1;
        }
    }
    let checks = started.elapsed();
    ensure!(exists == args.changed, "{exists} known addresses");
    println!(
        "{} duplicate checks against the {}-entry index: {:.2} s ({:.3} ms per suggestion)",
        args.checks,
        args.book,
        checks.as_secs_f64(),
        checks.as_secs_f64() * 1000.0 / args.checks.max(1) as f64
    );
    Ok(())
}
