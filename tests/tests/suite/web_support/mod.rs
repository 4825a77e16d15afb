//! A running daemon for the page tests: a supervisor with a SQLite store in a temporary
//! directory, serving the pages over HTTPS with a certificate from the test CA, and helpers to
//! create users and sign in with the browser.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::http::tls::{CertificateFiles, HttpsOptions};
use mailsig_daemon::service::Actor;
use mailsig_daemon::service::mailboxes::{self, LinkImap, MailboxView};
use mailsig_daemon::sources::imap::ImapOptions;
use mailsig_daemon::store::{
    CommitMessage, CommitResult, Cursor, ListId, MailboxId, MailboxKind, NewMailbox, NewSuggestion,
    Outcome, Store, StoredField, StoredPhone, SuggestionFields, SuggestionId, User, UserId,
};
use mailsig_daemon::supervisor::sources::ImapStartOptions;
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use mailsig_tests::browser::Browser;
use mailsig_tests::https::issue_certificate;
use mailsig_tests::servers::{MailUser, TestEnv};
use secrecy::SecretString;
use std::process::Command;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

pub struct Site {
    pub env: TestEnv,
    pub store: Store,
    pub supervisor: Supervisor,
    pub addr: SocketAddr,
    /// The vault the daemon seals with.
    pub vault: Vault,
    _dir: tempfile::TempDir,
}

impl Site {
    /// Starts the daemon. `watch_imap`: run IMAP watchers (reconciled every second, plaintext
    /// IMAP allowed on loopback as the test Dovecot offers it).
    pub async fn start(watch_imap: bool) -> Result<Site> {
        Site::start_with(
            watch_imap,
            mailsig_daemon::http::app::ApiSettings::default(),
        )
        .await
    }

    /// [`Site::start`] with the `[api]` settings `api`.
    pub async fn start_with(
        watch_imap: bool,
        api: mailsig_daemon::http::app::ApiSettings,
    ) -> Result<Site> {
        Site::start_on(0, watch_imap, api).await
    }

    /// [`Site::start`] with the `[webhooks]` settings `webhooks`.
    pub async fn start_with_webhooks(
        watch_imap: bool,
        webhooks: mailsig_daemon::webhooks::WebhookSettings,
    ) -> Result<Site> {
        Site::start_full(
            0,
            watch_imap,
            mailsig_daemon::http::app::ApiSettings::default(),
            webhooks,
        )
        .await
    }

    /// [`Site::start`] with IMAP watchers and these IMAP options (the operator's certificate
    /// authorities, timeouts); plaintext on loopback and private hosts are allowed as in
    /// [`Site::start`].
    pub async fn start_with_imap(options: ImapOptions) -> Result<Site> {
        Site::start_full_with(
            0,
            true,
            mailsig_daemon::http::app::ApiSettings::default(),
            mailsig_daemon::webhooks::WebhookSettings::default(),
            options,
        )
        .await
    }

    /// [`Site::start_with`] on the loopback port `port` (0: any free one), for settings that
    /// must name the site's own URL before it starts (OpenID callbacks).
    pub async fn start_on(
        port: u16,
        watch_imap: bool,
        api: mailsig_daemon::http::app::ApiSettings,
    ) -> Result<Site> {
        Site::start_full(
            port,
            watch_imap,
            api,
            mailsig_daemon::webhooks::WebhookSettings::default(),
        )
        .await
    }

    async fn start_full(
        port: u16,
        watch_imap: bool,
        api: mailsig_daemon::http::app::ApiSettings,
        webhooks: mailsig_daemon::webhooks::WebhookSettings,
    ) -> Result<Site> {
        Site::start_full_with(port, watch_imap, api, webhooks, ImapOptions::default()).await
    }

    /// [`Site::start`] with the `[address_books]` settings `books` (the sync worker runs).
    pub async fn start_with_books(books: mailsig_daemon::books::BookSettings) -> Result<Site> {
        Site::start_complete(
            0,
            false,
            mailsig_daemon::http::app::ApiSettings::default(),
            mailsig_daemon::webhooks::WebhookSettings::default(),
            ImapOptions::default(),
            books,
        )
        .await
    }

    async fn start_full_with(
        port: u16,
        watch_imap: bool,
        api: mailsig_daemon::http::app::ApiSettings,
        webhooks: mailsig_daemon::webhooks::WebhookSettings,
        imap_options: ImapOptions,
    ) -> Result<Site> {
        Site::start_complete(
            port,
            watch_imap,
            api,
            webhooks,
            imap_options,
            mailsig_daemon::books::BookSettings::default(),
        )
        .await
    }

    async fn start_complete(
        port: u16,
        watch_imap: bool,
        api: mailsig_daemon::http::app::ApiSettings,
        webhooks: mailsig_daemon::webhooks::WebhookSettings,
        imap_options: ImapOptions,
        books: mailsig_daemon::books::BookSettings,
    ) -> Result<Site> {
        let env = TestEnv::from_env()?;
        let dir = tempfile::tempdir()?;
        let cert = issue_certificate(&env, dir.path(), "server")?;
        let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
        let imap = ImapStartOptions {
            disabled: !watch_imap,
            options: ImapOptions {
                allow_plaintext_loopback: true,
                allow_private_hosts: true,
                ..imap_options
            },
            reconcile_interval: Duration::from_secs(1),
            // The providers mailboxes linked by OAuth on the pages refresh their tokens at.
            oauth: api.mail_oauth.providers.clone(),
            changes: Default::default(),
        };
        let options = SupervisorOptions {
            http: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            https: HttpsOptions {
                certificate: Some(CertificateFiles {
                    cert: cert.chain.clone(),
                    key: cert.key.clone(),
                }),
                ..HttpsOptions::default()
            },
            imap,
            api,
            webhooks,
            books,
            shutdown_grace: Duration::from_secs(20),
            ..SupervisorOptions::default()
        };
        let vault = Vault::new(MasterKey::generate()?);
        let supervisor = Supervisor::start(
            options,
            store.clone(),
            vault.clone(),
            CancellationToken::new(),
        )
        .await?;
        let addr = supervisor.http_addr().context("http address")?;
        Ok(Site {
            env,
            store,
            supervisor,
            addr,
            vault,
            _dir: dir,
        })
    }

    /// The SQLite database's files (the database and its write-ahead log).
    pub fn database_files(&self) -> Vec<std::path::PathBuf> {
        ["mailsig.db", "mailsig.db-wal"]
            .iter()
            .map(|name| self._dir.path().join(name))
            .filter(|path| path.exists())
            .collect()
    }

    /// `https://localhost:<port><path>` (the certificate names localhost).
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// A new Dovecot user whose INBOX `owner` links to `list` through the service, as the
    /// mailbox page does (plaintext on loopback, as the test Dovecot offers it); returns once
    /// the daemon's watcher has started on it (its INBOX cursor exists).
    pub async fn link_watched_imap(
        &self,
        owner: UserId,
        list: ListId,
    ) -> Result<(MailUser, MailboxView)> {
        let mail_user = self.env.create_mail_user()?;
        let options = ImapOptions {
            allow_plaintext_loopback: true,
            allow_private_hosts: true,
            ..ImapOptions::default()
        };
        let linked = mailboxes::link_imap(
            &self.store,
            &self.vault,
            &options,
            Actor::signed_in(owner),
            LinkImap {
                list: Some(list.0),
                host: Some("127.0.0.1".to_owned()),
                port: Some(i64::from(self.env.imap_port)),
                security: Some("plaintext".to_owned()),
                username: Some(mail_user.name.clone()),
                password: Some(SecretString::from(mail_user.password.clone())),
                address: Some(mail_user.address.clone()),
                name: None,
                folders: vec!["INBOX".to_owned()],
                backfill: None,
                excluded_domains: vec![],
                ca_pem: None,
            },
        )
        .await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.store.get_cursor(linked.id, "INBOX").await?.is_none() {
            ensure!(
                std::time::Instant::now() < deadline,
                "the watcher did not start"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok((mail_user, linked))
    }

    /// A user with a password, as `mailsigd user add` + `set-password` would make it.
    pub async fn user(&self, email: &str, password: &str) -> Result<User> {
        let user = self.store.create_user(email, None).await?;
        let phc = mailsig_daemon::http::auth::password::hash_password(Zeroizing::new(
            password.to_owned(),
        ))
        .await?;
        self.store.set_first_password_hash(user.id, &phc).await?;
        Ok(user)
    }

    /// Signs in through the sign-in form and checks the dashboard opened.
    pub async fn sign_in(&self, browser: &Browser, email: &str, password: &str) -> Result<()> {
        browser.goto(&self.url("/sign-in")).await?;
        browser.fill("#email", email).await?;
        browser.fill("#password", password).await?;
        browser.click("#sign-in").await?;
        let arrived = browser
            .wait_path(|p| p == "/dashboard", std::time::Duration::from_secs(10))
            .await;
        ensure!(
            arrived.is_ok(),
            "signing in did not open the dashboard: {:?}: {}",
            arrived.err(),
            browser.source().await?
        );
        Ok(())
    }

    /// A mailbox of `owner` delivering into `list`, stored as linking stores one (without a
    /// watcher: the page tests put suggestions in directly).
    pub async fn mailbox(&self, owner: UserId, list: ListId, address: &str) -> Result<MailboxId> {
        let mailbox = self
            .store
            .create_mailbox(NewMailbox {
                owner,
                kind: MailboxKind::Imap,
                address: address.to_owned(),
                display_name: None,
                target_list: list,
                excluded_domains: vec![],
                settings: serde_json::json!({}),
                secret: None,
            })
            .await?;
        Ok(mailbox.id)
    }

    /// Commits one authenticated message from `sender` whose signature gave `fields`, as the
    /// pipeline would; `uid` must differ per message of a mailbox.
    pub async fn suggestion(
        &self,
        mailbox: MailboxId,
        uid: u32,
        sender: &str,
        fields: SuggestionFields,
    ) -> Result<SuggestionId> {
        match self.mail(mailbox, uid, sender, fields).await? {
            CommitResult::Inserted { suggestion } => Ok(suggestion),
            other => anyhow::bail!("unexpected commit result {other:?}"),
        }
    }

    /// Commits one authenticated message whatever it does (a later message from a known
    /// sender updates that sender's suggestion).
    pub async fn mail(
        &self,
        mailbox: MailboxId,
        uid: u32,
        sender: &str,
        fields: SuggestionFields,
    ) -> Result<CommitResult> {
        let committed = self
            .store
            .commit_message(CommitMessage {
                mailbox,
                folder: "INBOX".to_owned(),
                cursor: Cursor::Imap {
                    uidvalidity: 1,
                    uid,
                },
                message_id_hash: format!("{:016x}", rand::random::<u64>()),
                outcome: Outcome::Suggestion(NewSuggestion {
                    sender_email: sender.to_owned(),
                    fields,
                    confidence: 0.9,
                    auth: mailsig_daemon::domain::SenderAuth::new(
                        mailsig_daemon::domain::AuthResult::Authenticated,
                        mailsig_daemon::domain::AuthMethod::Dmarc,
                    ),
                }),
                fencing: None,
            })
            .await?;
        Ok(committed)
    }

    pub async fn stop(self) -> Result<()> {
        self.supervisor.stop().await?;
        Ok(())
    }
}

/// Waits, without reloading, until `selector` exists on the page the browser shows (a form's
/// answer), or fails after `timeout` with the page's text.
pub async fn wait_exists(browser: &Browser, selector: &str, timeout: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !browser.exists(selector).await.unwrap_or(false) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{selector} did not appear within {timeout:?}; at {}: {}",
            browser.current_path().await.unwrap_or_default(),
            browser.text("main").await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Where screenshots go for people to look at: `target/web-screenshots/<name>.png`.
pub fn screenshot_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/web-screenshots")
        .join(format!("{name}.png"))
}

/// An extracted value with its confidence.
pub fn field(value: &str, confidence: f32) -> Option<StoredField> {
    Some(StoredField {
        value: value.to_owned(),
        confidence,
        rule: "test".to_owned(),
    })
}

/// A phone number of a kind (`work`, `mobile`…).
pub fn phone(kind: &str, e164: &str, confidence: f32) -> StoredPhone {
    StoredPhone {
        kind: kind.to_owned(),
        e164: e164.to_owned(),
        confidence,
        rule: "test".to_owned(),
    }
}

/// A signature with every field, as a well-formed one yields.
pub fn full_signature(name: &str, company: &str, domain: &str) -> SuggestionFields {
    let many = |value: String| field(&value, 0.95).into_iter().collect::<Vec<_>>();
    SuggestionFields {
        name: field(name, 0.97),
        title: field("Logistics Manager, West Coast", 0.64),
        company: field(company, 0.88),
        emails: many(format!(
            "{}@{domain}",
            name.split(' ').next().unwrap_or("x").to_lowercase()
        )),
        phones: vec![
            phone("work", "+14155550134", 0.99),
            phone("mobile", "+14155550188", 0.93),
        ],
        websites: many(format!("https://www.{domain}")),
        address: field("500 Terry A Francois Blvd, San Francisco, CA 94158", 0.81),
        social: many(format!(
            "https://www.linkedin.com/in/{}",
            name.replace(' ', "-").to_lowercase()
        )),
    }
}

/// The IMAP connections Dovecot has open for `user` right now (`doveadm who -1`).
pub fn dovecot_connections(env: &TestEnv, user: &MailUser) -> Result<usize> {
    let conf = env.dir.join("dovecot/dovecot.conf");
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(&conf)
        .args(["who", "-1"])
        .output()
        .context("run doveadm who")?;
    ensure!(
        out.status.success(),
        "doveadm who: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(user.name.as_str()))
        .count())
}

/// Polls `check` every 50 ms until it holds, or fails after `within` with `what`; returns the
/// time it took.
pub async fn wait_until<F>(within: Duration, what: &str, mut check: F) -> Result<Duration>
where
    F: AsyncFnMut() -> Result<bool>,
{
    let start = Instant::now();
    loop {
        if check().await? {
            return Ok(start.elapsed());
        }
        ensure!(start.elapsed() < within, "{what} (waited {within:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
