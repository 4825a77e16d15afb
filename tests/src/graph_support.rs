//! Glue for the Microsoft 365 tests: a [`GraphWorld`] holds the Graph emulator, a store (SQLite
//! in a temp dir), the vault with the app's client secret, and a mailsig user with a list; it
//! starts real daemons (the [`Supervisor`] with its HTTP listener on a known loopback port, so
//! the emulator can post to the webhook) and links the user's mailbox through the real OAuth
//! flow: `start_linking` → the emulator's consent → `GET` the daemon's callback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mailsig_daemon::sources::graph::{
    Consent, GraphConfig, GraphStartOptions, LinkOrigin, Timing, start_linking_for,
    store_client_secret,
};
use mailsig_daemon::store::{
    ListId, Mailbox, MailboxFilter, MailboxKind, Store, SuggestionFilter, UserId,
};
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use tokio_util::sync::CancellationToken;

use crate::graph_emulator::{GraphEmulator, SubscriptionView};

pub const CLIENT_ID: &str = "3f2c9e1a-mailsig-test-app";
pub const CLIENT_SECRET: &str = "test-client-secret-~value";

/// Everything one Graph test needs, isolated from other tests.
pub struct GraphWorld {
    pub emulator: GraphEmulator,
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub vault: Vault,
    /// The daemon's HTTP port (kept across restarts: it is in the subscriptions' URLs).
    pub port: u16,
    /// The socket bound on `port` for the world's whole life: each daemon serves a duplicate of
    /// it, so no other process can take the port between a stop and the next start.
    listener: std::sync::Arc<std::net::TcpListener>,
    pub user: UserId,
    pub list: ListId,
    /// The Microsoft 365 mailbox address (the emulated user).
    pub email: String,
}

/// A running daemon of a [`GraphWorld`].
pub struct RunningDaemon {
    pub supervisor: Supervisor,
    pub shutdown: CancellationToken,
    pub addr: SocketAddr,
}

impl RunningDaemon {
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.supervisor.stop().await.context("stop the daemon")
    }
}

impl GraphWorld {
    /// A fresh emulator, store, vault (client secret stored), user and list; the emulated user
    /// `email` exists and the app is registered with the daemon's redirect URI.
    pub async fn new(tag: &str) -> Result<GraphWorld> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
        store.migrate().await?;
        GraphWorld::with_store(tag, dir, store).await
    }

    /// The same world over a store the caller opened and migrated (e.g. PostgreSQL); `dir`
    /// is the daemon's temp dir.
    pub async fn with_store(tag: &str, dir: tempfile::TempDir, store: Store) -> Result<GraphWorld> {
        let emulator = GraphEmulator::start()
            .await
            .context("start the graph emulator")?;
        let vault = Vault::new(MasterKey::generate()?);
        store_client_secret(&store, &vault, CLIENT_SECRET, 1).await?;
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("bind the daemon's port")?;
        let port = listener.local_addr()?.port();
        let unique = format!("{tag}-{}", rand::random::<u32>());
        let owner = store
            .create_user(&format!("owner-{unique}@mycorp.example"), Some("Owner"))
            .await?;
        let list = store.create_list(owner.id, "Contacts").await?;
        let email = format!("{unique}@contoso.test");
        emulator.register_app(
            CLIENT_ID,
            CLIENT_SECRET,
            &format!("http://127.0.0.1:{port}/oauth/microsoft/callback"),
        );
        emulator.add_user(&email, "Mailbox Owner");
        Ok(GraphWorld {
            emulator,
            dir,
            store,
            vault,
            port,
            listener: std::sync::Arc::new(listener),
            user: owner.id,
            list: list.id,
            email,
        })
    }

    /// The daemon's bound HTTP socket, for [`SupervisorOptions::http_listener`].
    pub fn http_listener(&self) -> std::sync::Arc<std::net::TcpListener> {
        std::sync::Arc::clone(&self.listener)
    }

    /// The `[graph]` configuration pointing at the emulator, with test timings.
    pub fn config(&self) -> Result<GraphConfig> {
        let mut config = GraphConfig::new(
            CLIENT_ID,
            url::Url::parse(&self.emulator.authority_url())?,
            url::Url::parse(&self.emulator.graph_url())?,
            &format!("http://127.0.0.1:{}", self.port),
        );
        config.delta_interval = Duration::from_secs(3600);
        Ok(config)
    }

    /// Start options with fast ticks (renewal checks every 200 ms) and short retry waits.
    pub fn start_options(&self, config: GraphConfig) -> GraphStartOptions {
        let mut options = GraphStartOptions::new(config, 25 * 1024 * 1024);
        options.timing = Timing {
            tick: Duration::from_millis(200),
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        };
        options.jobs.poll_interval = Duration::from_millis(200);
        options.jobs.retry_backoff = Duration::from_millis(200);
        options.reconcile_interval = Duration::from_millis(300);
        options
    }

    /// Starts a daemon with the default test options.
    pub async fn start(&self) -> Result<RunningDaemon> {
        let options = self.start_options(self.config()?);
        self.start_with(options).await
    }

    pub async fn start_with(&self, graph: GraphStartOptions) -> Result<RunningDaemon> {
        self.start_with_books(graph, mailsig_daemon::books::BookSettings::default())
            .await
    }

    /// [`Self::start_with`] with the `[address_books]` settings `books` (a short sync interval
    /// for the Outlook contacts tests).
    pub async fn start_with_books(
        &self,
        graph: GraphStartOptions,
        books: mailsig_daemon::books::BookSettings,
    ) -> Result<RunningDaemon> {
        let shutdown = CancellationToken::new();
        // The emulator and the load tools post from loopback, far above one client's share
        // of the limits of routes without authentication.
        let api = mailsig_daemon::http::app::ApiSettings {
            graph: Some(std::sync::Arc::new(graph.config.clone())),
            public_rate_per_second: 1_000_000,
            public_rate_per_address: 1_000_000,
            ..mailsig_daemon::http::app::ApiSettings::default()
        };
        let options = SupervisorOptions {
            http_listener: Some(self.http_listener()),
            graph: Some(graph),
            api,
            books,
            shutdown_grace: Duration::from_secs(20),
            ..SupervisorOptions::default()
        };
        let supervisor = Supervisor::start(
            options,
            self.store.clone(),
            self.vault.clone(),
            shutdown.clone(),
        )
        .await
        .context("start the daemon")?;
        if supervisor.graph().is_none() {
            bail!("the microsoft 365 source did not start");
        }
        let addr = supervisor.http_addr().context("http address")?;
        Ok(RunningDaemon {
            supervisor,
            shutdown,
            addr,
        })
    }

    /// Links the emulated user's mailbox through the real flow (started as the operator's CLI
    /// does, so the callback needs no browser session) and waits until its subscription exists
    /// at the emulator. Returns the mailbox and the subscription.
    pub async fn link(&self) -> Result<(Mailbox, SubscriptionView)> {
        self.link_for(Consent::Mail).await
    }

    /// [`Self::link`] with the scopes of `consent` (contacts too for Outlook contacts).
    pub async fn link_for(&self, consent: Consent) -> Result<(Mailbox, SubscriptionView)> {
        let callback = self.consent_url_for(LinkOrigin::Cli, consent).await?;
        let answer = reqwest::get(&callback)
            .await
            .context("GET the daemon's callback")?;
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap_or_default();
        if status != 200 {
            bail!("callback answered {status}: {body}");
        }
        self.linked().await
    }

    /// Starts a linking for the world's user from `origin` and plays the emulated user's
    /// consent; returns the daemon's callback URL (with code and state) the browser would open.
    pub async fn consent_url(&self, origin: LinkOrigin) -> Result<String> {
        self.consent_url_for(origin, Consent::Mail).await
    }

    /// [`Self::consent_url`] asking for the scopes of `consent`.
    pub async fn consent_url_for(&self, origin: LinkOrigin, consent: Consent) -> Result<String> {
        let config = self.config()?;
        let url = start_linking_for(
            &self.store,
            &self.vault,
            &config,
            self.user,
            self.list,
            origin,
            consent,
        )
        .await?;
        Ok(self.emulator.consent(url.as_str(), &self.email).await?)
    }

    /// A signed-in browser session of `user` (a password is set first): the `Cookie` header
    /// value and the session's CSRF token.
    pub async fn session(&self, user: UserId) -> Result<(String, String)> {
        use mailsig_daemon::http::auth;
        let password = format!("pw-{}-long-enough", rand::random::<u64>());
        let phc = auth::password::hash_password(zeroize::Zeroizing::new(password.clone())).await?;
        self.store.set_first_password_hash(user, &phc).await?;
        let email = self.store.get_user(user).await?.email;
        let session = auth::sign_in(&self.store, &email, &password).await?;
        let cookie = format!("{}={}", auth::SESSION_COOKIE, session.cookie_value());
        Ok((cookie, auth::csrf_token(&session.session).to_owned()))
    }

    /// After a successful callback: the mailbox, once its subscription exists at the emulator
    /// and the daemon stored it with its first delta link.
    pub async fn linked(&self) -> Result<(Mailbox, SubscriptionView)> {
        let mailbox = self
            .graph_mailbox()
            .await?
            .context("no graph mailbox after the callback")?;
        let subscription = self.wait_for_subscription(Duration::from_secs(20)).await?;
        // Graph knows it a moment before the daemon has stored it (and its first delta round
        // ran); lifecycle events sent in between would be for an unknown subscription.
        let id = subscription.id.clone();
        wait_until(
            Duration::from_secs(20),
            "the daemon to store its subscription",
            || {
                let id = id.clone();
                async move {
                    let stored = self.store.graph_subscriptions(mailbox.id).await?;
                    let cursor = self.store.get_cursor(mailbox.id, "inbox").await?;
                    Ok((stored.iter().any(|s| s.id == id)
                        && cursor.is_some_and(|c| c.delta_link.is_some()))
                    .then_some(()))
                }
            },
        )
        .await?;
        Ok((mailbox, subscription))
    }

    /// The user's (only) Microsoft 365 mailbox.
    pub async fn graph_mailbox(&self) -> Result<Option<Mailbox>> {
        let filter = MailboxFilter {
            owner: Some(self.user),
            kind: Some(MailboxKind::Graph),
        };
        Ok(self.store.list_mailboxes(&filter).await?.into_iter().next())
    }

    /// Waits until the user has a live subscription at the emulator.
    pub async fn wait_for_subscription(&self, timeout: Duration) -> Result<SubscriptionView> {
        let email = self.email.clone();
        wait_until(timeout, "a subscription at the emulator", || {
            let found = self
                .emulator
                .subscriptions()
                .into_iter()
                .find(|s| s.user.eq_ignore_ascii_case(&email));
            async move { Ok(found) }
        })
        .await
    }

    /// Suggestions in the list.
    pub async fn suggestions(&self) -> Result<Vec<mailsig_daemon::store::Suggestion>> {
        Ok(self
            .store
            .list_suggestions(self.list, &SuggestionFilter::default())
            .await?)
    }

    /// Waits until the list holds at least `n` suggestions; returns them.
    pub async fn wait_for_suggestions(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<mailsig_daemon::store::Suggestion>> {
        wait_until(timeout, &format!("{n} suggestions"), || async move {
            let all = self.suggestions().await?;
            Ok((all.len() >= n).then_some(all))
        })
        .await
    }
}

/// Polls `probe` every 50 ms until it yields `Some`, or fails after `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A message whose sender signs with a full signature block (becomes one suggestion).
pub fn signed_mail(first: &str, last: &str, domain: &str) -> Vec<u8> {
    let local = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
    let id = format!("<{}.{}@{domain}>", rand::random::<u64>(), local);
    format!(
        "From: {first} {last} <{local}@{domain}>\r\n\
         To: Mailbox Owner <owner@contoso.test>\r\n\
         Subject: Project update\r\n\
         Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: {id}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hello,\r\n\
         \r\n\
         the figures for the third quarter are attached. Let me know if anything is unclear.\r\n\
         \r\n\
         Best regards,\r\n\
         {first} {last}\r\n\
         Head of Procurement\r\n\
         Partner Industries GmbH\r\n\
         Phone: +49 30 1234567\r\n\
         {local}@{domain}\r\n\
         https://www.{domain}\r\n"
    )
    .into_bytes()
}
