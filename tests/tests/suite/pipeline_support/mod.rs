//! Shared setup of the pipeline and privacy tests: a real store (SQLite in a temp dir, or a
//! fresh PostgreSQL database on the test cluster), a user with a list and a mailbox, and
//! messages written for these tests.

use std::time::Duration;

use anyhow::{Context, Result};
use mailsig_daemon::pipeline::{
    Ack, FilterConfig, InboundMessage, Payload, Pipeline, PipelineConfig, PipelineHandle,
    Processed, RawMessage, SourcePosition,
};
use mailsig_daemon::store::{
    FolderCursor, ListId, MailboxId, NewMailbox, SecretId, Store, Suggestion, SuggestionFilter,
};
use mailsig_tests::imap_support::imap_mailbox_row;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The databases every pipeline test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A migrated store, with the temp dir that holds it (SQLite) kept alive.
pub struct TestStore {
    pub store: Store,
    pub dir: TempDir,
}

/// A migrated store with one account (own domain `mycorp.example`) and a pipeline over it with the
/// default filters: where most pipeline tests start.
pub struct Rig {
    pub db: TestStore,
    pub account: Account,
    pub running: Running,
}

impl Rig {
    pub async fn start(backend: Backend, workers: usize, queue_capacity: usize) -> Result<Rig> {
        let db = TestStore::open(backend).await?;
        let account = Account::create(&db.store, "mycorp.example", &[]).await?;
        let running = Running::start(&db.store, workers, queue_capacity, FilterConfig::default());
        Ok(Rig {
            db,
            account,
            running,
        })
    }
}

impl TestStore {
    pub async fn open(backend: Backend) -> Result<TestStore> {
        let dir = tempfile::tempdir().context("create temp dir")?;
        let url = match backend {
            Backend::Sqlite => Store::sqlite_url(&dir.path().join("mailsig.db")),
            Backend::Postgres => mailsig_tests::servers::fresh_pg_database().await?,
        };
        let store = Store::open(&url)
            .await
            .with_context(|| format!("open {backend:?} store"))?;
        store.migrate().await.context("migrate")?;
        Ok(TestStore { store, dir })
    }
}

/// A user with a contact list and an IMAP mailbox that feeds it.
pub struct Account {
    pub mailbox: MailboxId,
    pub list: ListId,
}

impl Account {
    /// The owner is `owner@<own_domain>`; `excluded` are the mailbox's excluded domains.
    pub async fn create(store: &Store, own_domain: &str, excluded: &[&str]) -> Result<Account> {
        let owner_email = format!("owner{:08x}@{own_domain}", rand::random::<u32>());
        let mailbox = Linked {
            owner_name: Some("Owner"),
            excluded_domains: excluded.iter().map(|d| (*d).to_owned()).collect(),
            settings: serde_json::json!({}),
            secret: None,
        };
        mailbox.create(store, owner_email).await
    }

    /// The suggestions of the account's list (first page).
    pub async fn suggestions(&self, store: &Store) -> Result<Vec<Suggestion>> {
        Ok(store
            .list_suggestions(self.list, &SuggestionFilter::default())
            .await?)
    }

    /// The account's INBOX cursor, which must exist.
    pub async fn inbox_cursor(&self, store: &Store) -> Result<FolderCursor> {
        store
            .get_cursor(self.mailbox, "INBOX")
            .await?
            .context("cursor stored")
    }
}

/// What differs between the IMAP mailboxes of the accounts the tests create.
struct Linked {
    owner_name: Option<&'static str>,
    excluded_domains: Vec<String>,
    settings: serde_json::Value,
    secret: Option<SecretId>,
}

impl Linked {
    /// Creates the owner `owner_email`, their list "Contacts", and this mailbox feeding it.
    async fn create(self, store: &Store, owner_email: String) -> Result<Account> {
        let user = store
            .create_user(&owner_email, self.owner_name)
            .await
            .context("create user")?;
        let list = store
            .create_list(user.id, "Contacts")
            .await
            .context("create list")?;
        let mailbox = store
            .create_mailbox(NewMailbox {
                excluded_domains: self.excluded_domains,
                secret: self.secret,
                ..imap_mailbox_row(user.id, list.id, &owner_email, self.settings)
            })
            .await
            .context("create mailbox")?;
        Ok(Account {
            mailbox: mailbox.id,
            list: list.id,
        })
    }
}

/// Builds a plain-text message. `signature` is appended after the body, `extra_headers` are
/// complete header lines.
pub struct Mail<'a> {
    pub from: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub body: &'a str,
    pub signature: &'a str,
    pub extra_headers: &'a [&'a str],
}

impl Mail<'_> {
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        out.push_str(&format!("From: {}\r\n", self.from));
        out.push_str("To: Owner <owner@mycorp.example>\r\n");
        out.push_str(&format!("Subject: {}\r\n", self.subject));
        out.push_str("Date: Thu, 19 Nov 2026 10:15:00 +0100\r\n");
        if !self.message_id.is_empty() {
            out.push_str(&format!("Message-ID: <{}>\r\n", self.message_id));
        }
        for header in self.extra_headers {
            out.push_str(header);
            out.push_str("\r\n");
        }
        out.push_str(
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        for line in self.body.lines().chain([""]).chain(self.signature.lines()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.into_bytes()
    }
}

/// A person's signature the parser must recognise: valediction, name, title, company, phone,
/// website.
pub fn signature(name: &str, company: &str, domain: &str) -> String {
    format!(
        "Best regards,\n{name}\nHead of Procurement\n{company}\nTel. +49 30 12345678\nMobile +49 171 2345678\nhttps://www.{domain}\n"
    )
}

/// A message from `Name <local@domain>` with a full signature.
pub fn signed_mail(name: &str, local: &str, domain: &str, message_id: &str) -> Vec<u8> {
    let from = format!("{name} <{local}@{domain}>");
    let sig = signature(name, "Partner Example GmbH", domain);
    Mail {
        from: &from,
        subject: "Delivery schedule for next week",
        message_id,
        body: "Hello,\n\nplease find the delivery schedule for next week below.\nWe can ship on Tuesday.\n",
        signature: &sig,
        extra_headers: &[],
    }
    .bytes()
}

/// A unique Message-ID.
pub fn unique_id(tag: &str) -> String {
    format!("{tag}.{:016x}@mail.partner.example", rand::random::<u64>())
}

/// The message as an IMAP source would push it.
pub fn inbound(mailbox: MailboxId, uid: u32, raw: Vec<u8>) -> InboundMessage {
    InboundMessage {
        mailbox,
        folder: "INBOX".to_owned(),
        position: SourcePosition::Imap {
            uidvalidity: 7,
            uid,
        },
        size: raw.len() as u64,
        payload: Payload::Raw(RawMessage::new(raw)),
    }
}

/// Submits one message of [`person`] `uid` (tagged `tag`) under UID `uid` for each of `uids`, in
/// order, and returns the acks.
pub async fn submit_people(
    handle: &PipelineHandle,
    mailbox: MailboxId,
    uids: std::ops::RangeInclusive<u32>,
    tag: &str,
) -> Result<Vec<Ack>> {
    let mut acks = Vec::new();
    for uid in uids {
        acks.push(
            handle
                .submit(inbound(mailbox, uid, person_mail(uid, tag)))
                .await?,
        );
    }
    Ok(acks)
}

/// Waits for every ack and checks that each message became a suggestion.
pub async fn ensure_all_suggested(acks: Vec<Ack>) -> Result<()> {
    for ack in acks {
        let outcome = ack.committed().await?;
        anyhow::ensure!(outcome == Processed::Suggested, "{outcome:?}");
    }
    Ok(())
}

/// A fresh SQLite store in `dir` (not migrated: the supervisor migrates).
pub async fn sqlite_store(dir: &TempDir) -> Result<Store> {
    Ok(Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?)
}

/// A started pipeline with its tracker and shutdown token.
pub struct Running {
    pub pipeline: Pipeline,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

impl Running {
    pub fn start(
        store: &Store,
        workers: usize,
        queue_capacity: usize,
        filters: FilterConfig,
    ) -> Running {
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let config = PipelineConfig {
            workers,
            queue_capacity,
            filters,
            sender_auth: None,
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::spawn(store.clone(), config, &tracker, shutdown.clone());
        Running {
            pipeline,
            tracker,
            shutdown,
        }
    }

    /// Cancels and waits (at most 30 s) for the workers to finish.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(30), self.tracker.wait())
            .await
            .context("pipeline did not stop within 30 s")
    }
}

// ------------------------------------------------------------------------------ real Dovecot

/// A fresh user on a private Dovecot (its own users and mail dirs, so the test is independent of
/// the shared instance's state), and what the tests do with it.
pub struct MailUser {
    imap: mailsig_tests::servers::ImapEndpoint,
    imaps_port: u16,
    ca: std::path::PathBuf,
    user: mailsig_tests::servers::MailUser,
}

impl MailUser {
    pub async fn create(dovecot: &mailsig_tests::servers::PrivateDovecot) -> Result<MailUser> {
        let user = dovecot.create_mail_user()?;
        Ok(MailUser {
            imap: dovecot.imap()?,
            imaps_port: dovecot.imaps_port,
            ca: dovecot.ca_path().to_owned(),
            user,
        })
    }

    /// Delivers `raw` into the user's INBOX (IMAP APPEND).
    pub async fn append(&self, raw: &[u8]) -> Result<()> {
        self.imap.append(&self.user, "INBOX", raw).await
    }

    /// Links this user's INBOX as an IMAP mailbox of a new account (implicit TLS against the
    /// test CA), with the password sealed in the vault.
    pub async fn link(
        &self,
        store: &Store,
        vault: &mailsig_daemon::vault::Vault,
        own_domain: &str,
    ) -> Result<Account> {
        use mailsig_daemon::store::SecretKind;
        let secret = vault
            .store_new(
                store,
                SecretKind::ImapPassword,
                1,
                self.user.password.as_bytes(),
            )
            .await?;
        let settings = serde_json::json!({
            "host": "localhost",
            "port": self.imaps_port,
            "security": "implicit_tls",
            "username": self.user.name,
            "ca_file": self.ca,
            // Stored as the operator's CLI stores it: connected to by name, like a trusted link.
            "operator_trusted": true,
        });
        let mailbox = Linked {
            owner_name: None,
            excluded_domains: Vec::new(),
            settings,
            secret: Some(secret),
        };
        mailbox
            .create(store, format!("{}@{own_domain}", self.user.name))
            .await
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A distinct, realistic person for each `i` (up to 100): display name, local part, domain.
pub fn person(i: u32) -> (String, String, String) {
    const FIRST: [&str; 10] = [
        "Anna", "Bernd", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Irene", "Jonas",
    ];
    const LAST: [&str; 10] = [
        "Schmidt", "Meyer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf",
        "Neumann",
    ];
    let first = FIRST[(i % 10) as usize];
    let last = LAST[((i / 10) % 10) as usize];
    let local = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
    (
        format!("{first} {last}"),
        local,
        format!("firma{i}.example"),
    )
}

/// A signed message from [`person`] `i`.
pub fn person_mail(i: u32, tag: &str) -> Vec<u8> {
    let (name, local, domain) = person(i);
    signed_mail(&name, &local, &domain, &unique_id(tag))
}
