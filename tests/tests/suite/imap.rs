//! The IMAP source against the real Dovecot started by `scripts/test.sh` (and private Dovecot
//! instances for the fault tests): new mail becomes a suggestion, nothing is changed on the server,
//! restarts and server crashes neither lose nor duplicate mail, bad credentials and untrusted
//! certificates stop cleanly.
//!
//! Each test has its own mail user, its own SQLite store in a temp dir and its own pipeline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::domain::OutboxMessage;
use mailsig_daemon::pipeline::{Pipeline, PipelineConfig};
use mailsig_daemon::sources::imap::{
    ImapErrorKind, ImapOptions, ImapSettings, ImapSource, ReconcileReport, Security,
    StoreCheckpoints, test_login_with,
};
use mailsig_daemon::store::{
    ListId, MailboxId, MailboxStatus, SecretKind, Store, Suggestion, SuggestionFilter,
};
use mailsig_daemon::vault::{Binding, MasterKey, SealedSecret, Vault};
use mailsig_tests::imap_support::{NAMES, SignedMail, imap_mailbox, imap_settings};
use mailsig_tests::servers::{
    ImapEndpoint, ImapSecurity, MailUser, PrivateDovecot, PrivateDovecotOptions, TestEnv,
};
use secrecy::SecretString;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Generous: Dovecot notices an APPEND in IDLE within about 0.5 s; CI machines are slow.
const WAIT: Duration = Duration::from_secs(30);

/// Where the watched Dovecot is and how to reach it.
struct Server {
    endpoint: ImapEndpoint,
    user: MailUser,
    ca: std::path::PathBuf,
}

impl Server {
    fn settings(&self, security: Security, folders: &[&str]) -> ImapSettings {
        let port = match security {
            Security::ImplicitTls => self.endpoint.tls_port,
            Security::StartTls | Security::Plaintext => self.endpoint.plain_port,
        };
        imap_settings(port, security, &self.user.name, &self.ca, folders)
    }

    fn password(&self) -> SecretString {
        SecretString::from(self.user.password.clone())
    }

    /// Delivers [`signed_message`]`(tag, i)` into the INBOX (IMAP APPEND).
    async fn deliver(&self, tag: &str, i: usize) -> Result<()> {
        self.deliver_to("INBOX", tag, i).await
    }

    async fn deliver_to(&self, folder: &str, tag: &str, i: usize) -> Result<()> {
        self.endpoint
            .append(&self.user, folder, &signed_message(tag, i))
            .await
    }
}

/// A store with one user, one list and one IMAP mailbox row, plus a running pipeline.
struct Rig {
    _dir: TempDir,
    store: Store,
    list: ListId,
    mailbox: MailboxId,
    pipeline: Pipeline,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Rig {
    async fn new(settings: &ImapSettings) -> Result<Self> {
        init_tracing();
        let dir = tempfile::tempdir()?;
        let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
        store.migrate().await?;
        let owner = store
            .create_user("owner@mailsig-owner.test", Some("Owner"))
            .await?;
        let list = store.create_list(owner.id, "Contacts").await?;
        let mailbox = store
            .create_mailbox(imap_mailbox(
                owner.id,
                list.id,
                "owner@mailsig-owner.test",
                settings,
            ))
            .await?;
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let pipeline = Pipeline::spawn(
            store.clone(),
            PipelineConfig::default(),
            &tracker,
            shutdown.clone(),
        );
        Ok(Self {
            _dir: dir,
            store,
            list: list.id,
            mailbox: mailbox.id,
            pipeline,
            tracker,
            shutdown,
        })
    }

    /// A fresh IMAP source (a daemon start) over this rig's store and pipeline.
    fn source(&self, options: ImapOptions) -> ImapSource {
        ImapSource::new(
            options,
            self.pipeline.handle(),
            Arc::new(StoreCheckpoints::new(self.store.clone())),
            self.shutdown.child_token(),
        )
    }

    /// A fresh source watching this rig's mailbox (a daemon start with the mailbox linked).
    fn watch(
        &self,
        options: ImapOptions,
        settings: ImapSettings,
        password: SecretString,
    ) -> Result<ImapSource> {
        let source = self.source(options);
        source.add_mailbox(self.mailbox, settings, password)?;
        Ok(source)
    }

    /// [`Rig::watch`], then waits until the watcher has linked (EXAMINE, cursor at UIDNEXT - 1), so
    /// that what is delivered from then on is new mail.
    async fn watch_linked(
        &self,
        options: ImapOptions,
        settings: ImapSettings,
        password: SecretString,
    ) -> Result<ImapSource> {
        let source = self.watch(options, settings, password)?;
        wait_until("watcher linked", || source.stats().catch_ups >= 1).await?;
        Ok(source)
    }

    async fn suggestions(&self) -> Result<Vec<Suggestion>> {
        Ok(self
            .store
            .list_suggestions(self.list, &SuggestionFilter::default())
            .await?)
    }

    /// Waits until the list holds at least `n` suggestions.
    async fn wait_for_suggestions(&self, n: usize) -> Result<Vec<Suggestion>> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.suggestions().await?;
            if found.len() >= n {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!(
                    "expected {n} suggestions within {WAIT:?}, found {}",
                    found.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn counter(&self, name: &str) -> Result<i64> {
        let stats = self.store.mailbox_stats(self.mailbox).await?;
        Ok(stats.counters.get(name).copied().unwrap_or(0))
    }

    /// Shuts `source` down (returns whether its watchers stopped within the grace period), then
    /// the pipeline.
    async fn stop_with(self, source: ImapSource) -> bool {
        let stopped = source.shutdown(Duration::from_secs(10)).await;
        self.stop().await;
        stopped
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await;
    }
}

/// Options that make the tests quick: short backoff and poll interval.
fn fast_options() -> ImapOptions {
    ImapOptions {
        allow_plaintext_loopback: false,
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        poll_interval: Duration::from_secs(1),
        ..ImapOptions::default()
    }
}

/// The address of the sender of [`signed_message`]`(tag, i)`.
fn sender(tag: &str, i: usize) -> String {
    let (first, last) = NAMES[i % NAMES.len()];
    format!(
        "{}.{}.{tag}@{}-{tag}.example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        last.to_lowercase()
    )
}

/// A message with a clear signature from a sender unique to `tag` and `i` (i < 8).
fn signed_message(tag: &str, i: usize) -> Vec<u8> {
    let (first, last) = NAMES[i % NAMES.len()];
    SignedMail {
        first,
        last,
        address: &sender(tag, i),
        to: "owner@mailsig-owner.test",
        subject: &format!("Project update {i}"),
        message_id: &format!("msg{i}.{tag}@{last}.example.com"),
        company: &format!("{last} Marine Services, LLC"),
        phone_suffix: i,
    }
    .bytes()
}

fn senders(suggestions: &[Suggestion]) -> Vec<String> {
    let mut s: Vec<String> = suggestions.iter().map(|s| s.sender_email.clone()).collect();
    s.sort();
    s
}

fn shared_server(env: &TestEnv) -> Result<Server> {
    Ok(Server {
        endpoint: env.imap(),
        user: env.create_mail_user()?,
        ca: env.ca.clone(),
    })
}

async fn private_server(
    env: &TestEnv,
    options: PrivateDovecotOptions,
) -> Result<(PrivateDovecot, Server)> {
    let dovecot = PrivateDovecot::start(env, options).await?;
    let server = Server {
        endpoint: dovecot.imap()?,
        user: dovecot.create_mail_user()?,
        // The watcher trusts the test CA, as the shared server's clients do.
        ca: env.ca.clone(),
    };
    Ok((dovecot, server))
}

/// What most tests start from: a mail user on a server, a tag that makes its senders unique,
/// the mailbox settings, and a rig whose mailbox row has those settings (no watcher yet).
struct Setup {
    server: Server,
    tag: String,
    settings: ImapSettings,
    rig: Rig,
}

impl Setup {
    /// On the shared Dovecot, watching the INBOX.
    async fn shared(security: Security) -> Result<Setup> {
        let env = TestEnv::from_env()?;
        Setup::on(shared_server(&env)?, security, &[]).await
    }

    async fn on(server: Server, security: Security, folders: &[&str]) -> Result<Setup> {
        let settings = server.settings(security, folders);
        let rig = Rig::new(&settings).await?;
        Ok(Setup {
            server,
            tag: unique_tag(),
            settings,
            rig,
        })
    }
}

fn unique_tag() -> String {
    format!("{:08x}", rand_tag())
}

fn rand_tag() -> u32 {
    // Nanoseconds are unique enough between tests of one run; no extra dependency needed.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

#[tokio::test]
async fn new_mail_becomes_a_suggestion_and_flags_are_unchanged() -> Result<()> {
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::shared(Security::StartTls).await?;
    // Mail that was there before linking must not be processed.
    server.deliver(&tag, 0).await?;

    // Let the watcher link (EXAMINE + cursor at UIDNEXT - 1) before new mail arrives.
    let source = rig
        .watch_linked(fast_options(), settings, server.password())
        .await?;

    server.deliver(&tag, 1).await?;
    server.deliver(&tag, 2).await?;
    let flags_before = server.endpoint.flags_of_all(&server.user, "INBOX").await?;

    let found = rig.wait_for_suggestions(2).await?;
    assert_eq!(
        senders(&found),
        vec![sender(&tag, 1), sender(&tag, 2)],
        "exactly the two new messages become suggestions, not the one from before linking"
    );
    assert!(found.iter().all(|s| s.list == rig.list));

    let flags_after = server.endpoint.flags_of_all(&server.user, "INBOX").await?;
    assert_eq!(
        flags_before, flags_after,
        "the watcher must not change any flag"
    );
    assert!(
        flags_after
            .iter()
            .all(|(_, flags)| !flags.iter().any(|f| f == "\\Seen")),
        "BODY.PEEK must not set \\Seen: {flags_after:?}"
    );
    assert_eq!(source.stats().committed, 2);
    assert!(
        source.stats().idle_wakeups >= 1,
        "Dovecot offers IDLE, so news must come through IDLE"
    );
    assert!(
        rig.stop_with(source).await,
        "watchers stop within the grace period"
    );
    Ok(())
}

#[tokio::test]
async fn implicit_tls_works() -> Result<()> {
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::shared(Security::ImplicitTls).await?;
    test_login_with(&settings, &server.password(), &fast_options()).await?;

    let source = rig
        .watch_linked(fast_options(), settings, server.password())
        .await?;
    server.deliver(&tag, 1).await?;
    let found = rig.wait_for_suggestions(1).await?;
    assert_eq!(senders(&found), vec![sender(&tag, 1)]);
    rig.stop_with(source).await;
    Ok(())
}

#[tokio::test]
async fn a_daemon_restart_neither_duplicates_nor_misses_mail() -> Result<()> {
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::shared(Security::StartTls).await?;

    let first = rig
        .watch_linked(fast_options(), settings.clone(), server.password())
        .await?;
    for i in 1..=2 {
        server.deliver(&tag, i).await?;
    }
    rig.wait_for_suggestions(2).await?;
    assert!(
        first.shutdown(Duration::from_secs(10)).await,
        "watchers stop within the grace period"
    );

    // While the daemon is down, more mail arrives.
    for i in 3..=5 {
        server.deliver(&tag, i).await?;
    }
    let second = rig.watch(fast_options(), settings, server.password())?;
    rig.wait_for_suggestions(5).await?;
    // One more after the catch-up, through IDLE.
    server.deliver(&tag, 6).await?;
    let found = rig.wait_for_suggestions(6).await?;
    assert_eq!(found.len(), 6);
    // A marker: one folder's mail is committed in UID order, so once message 7 is in, anything
    // offered again before it (a duplicate) would have been committed too.
    server.deliver(&tag, 7).await?;
    let found_later = rig.wait_for_suggestions(7).await?;
    assert_eq!(
        found_later.len(),
        7,
        "no duplicate suggestion after the restart"
    );
    assert_eq!(
        second.stats().committed,
        5,
        "the second run processed only the 5 messages it had not seen"
    );
    assert_eq!(
        rig.counter("processed").await?,
        7,
        "every message processed exactly once"
    );
    rig.stop_with(second).await;
    Ok(())
}

#[tokio::test]
async fn a_killed_and_restarted_dovecot_is_reconnected_and_caught_up() -> Result<()> {
    let env = TestEnv::from_env()?;
    let (dovecot, server) = private_server(&env, PrivateDovecotOptions::default()).await?;
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::on(server, Security::StartTls, &[]).await?;
    let source = rig
        .watch_linked(fast_options(), settings, server.password())
        .await?;
    server.deliver(&tag, 1).await?;
    rig.wait_for_suggestions(1).await?;

    dovecot.kill().await?;
    wait_until("watcher noticed the crash", || {
        source.stats().connected == 0
    })
    .await?;
    dovecot.restart().await?;
    // Mail that arrives right after the restart, possibly before the watcher is back.
    for i in 2..=3 {
        server.deliver(&tag, i).await?;
    }
    let found = rig.wait_for_suggestions(3).await?;
    assert_eq!(found.len(), 3);
    let stats = source.stats();
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert_eq!(stats.needs_attention, 0);
    // And IDLE works again on the new connection.
    server.deliver(&tag, 4).await?;
    rig.wait_for_suggestions(4).await?;
    assert_eq!(rig.counter("processed").await?, 4);
    rig.stop_with(source).await;
    Ok(())
}

/// A mailbox a user linked is checked again at every connection, against the address the
/// watcher then uses: its host name now resolves to loopback, where the operator lets no user
/// mailbox reach, so the watcher refuses to connect and the mailbox needs attention with a
/// fixed reason (no address, no library text). The same settings marked as the operator's
/// connect (the server is really there).
#[tokio::test]
async fn a_user_linked_host_that_now_resolves_to_loopback_is_refused_at_connect() -> Result<()> {
    let Setup {
        server,
        mut settings,
        rig,
        ..
    } = Setup::shared(Security::StartTls).await?;
    // The test certificate names localhost; the name resolves to 127.0.0.1 (and ::1).
    settings.host = "localhost".to_owned();
    settings.operator_trusted = false;
    let strict = ImapOptions {
        allow_private_hosts: false,
        allowed_hosts: Vec::new(),
        ..fast_options()
    };
    let source = rig.watch(strict, settings.clone(), server.password())?;
    let deadline = Instant::now() + WAIT;
    let reason = loop {
        let mailbox = rig.store.get_mailbox(rig.mailbox).await?;
        if mailbox.status == MailboxStatus::NeedsAttention {
            break mailbox.status_reason.unwrap_or_default();
        }
        ensure!(
            Instant::now() < deadline,
            "the watcher connected to a user-linked host on loopback"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(reason.contains("invalid_settings"), "reason: {reason}");
    ensure!(
        !reason.contains("127.0.0.1") && !reason.contains("::1"),
        "the reason names the address: {reason}"
    );
    let stats = source.stats();
    ensure!(
        stats.auth_failures == 0,
        "a login reached the server: {stats:?}"
    );
    rig.stop_with(source).await;

    // Control: as the operator's mailbox, the same host is reached and watched.
    let trusted = ImapSettings {
        operator_trusted: true,
        ..settings
    };
    let rig = Rig::new(&trusted).await?;
    let source = rig
        .watch_linked(fast_options(), trusted, server.password())
        .await?;
    rig.stop_with(source).await;
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_needs_attention_without_a_retry_storm() -> Result<()> {
    let Setup { settings, rig, .. } = Setup::shared(Security::StartTls).await?;

    let error = test_login_with(
        &settings,
        &SecretString::from("wrong password"),
        &fast_options(),
    )
    .await
    .err()
    .context("a wrong password must fail the login test")?;
    assert_eq!(error.kind(), ImapErrorKind::AuthFailed, "{error}");
    assert!(
        error.to_string().contains("authentication failed"),
        "clear message: {error}"
    );

    let source = rig.watch(
        fast_options(),
        settings,
        SecretString::from("wrong password"),
    )?;
    let deadline = Instant::now() + WAIT;
    loop {
        let mailbox = rig.store.get_mailbox(rig.mailbox).await?;
        if mailbox.status == MailboxStatus::NeedsAttention {
            let reason = mailbox.status_reason.unwrap_or_default();
            assert!(reason.contains("auth_failed"), "reason says why: {reason}");
            assert!(
                !reason.contains("wrong password"),
                "the password never appears in the reason"
            );
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "mailbox never marked needs_attention"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The watcher ended rather than backing off (a retry loop would log in again every 200 ms):
    // once it has, the counts below are final.
    wait_until("the watcher to end", || {
        source.stopped_for_attention(rig.mailbox)
    })
    .await?;
    let stats = source.stats();
    assert_eq!(
        stats.auth_failures, 1,
        "one attempt, no retry storm: {stats:?}"
    );
    assert_eq!(stats.logins, 0, "a refused login is not a login: {stats:?}");
    assert_eq!(stats.needs_attention, 1);
    // The owner is told once, through the outbox.
    let queued = rig
        .store
        .claim_due(
            "imap-test",
            rig.store.now_ms() + 1000,
            100,
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(
        queued
            .iter()
            .filter(|item| matches!(item.message, OutboxMessage::Attention(_)))
            .count(),
        1,
        "{queued:?}"
    );
    rig.stop_with(source).await;
    Ok(())
}

#[tokio::test]
async fn a_uidvalidity_change_loses_nothing_and_reprocesses_nothing() -> Result<()> {
    let env = TestEnv::from_env()?;
    let folder = "Watched";
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::on(shared_server(&env)?, Security::StartTls, &[folder]).await?;
    server.endpoint.create_folder(&server.user, folder).await?;

    let first = rig
        .watch_linked(fast_options(), settings.clone(), server.password())
        .await?;
    server.deliver_to(folder, &tag, 1).await?;
    rig.wait_for_suggestions(1).await?;
    first.shutdown(Duration::from_secs(10)).await;
    let old_validity = server.endpoint.uid_validity(&server.user, folder).await?;

    // Recreate the folder: new UIDVALIDITY, UIDs start again at 1.
    let mut admin = server
        .endpoint
        .login(&server.user, ImapSecurity::Starttls)
        .await?;
    admin.delete(folder).await?;
    admin.create(folder).await?;
    admin.logout().await?;
    // The old message is put back (a restore from backup, say): it must not count twice. A new
    // one arrives while nobody watches: it must not be lost.
    server.deliver_to(folder, &tag, 1).await?;
    server.deliver_to(folder, &tag, 3).await?;
    let new_validity = server.endpoint.uid_validity(&server.user, folder).await?;
    assert_ne!(
        old_validity, new_validity,
        "Dovecot gave the recreated folder a new UIDVALIDITY"
    );

    let second = rig
        .watch_linked(fast_options(), settings, server.password())
        .await?;
    server.deliver_to(folder, &tag, 2).await?;
    let found = rig.wait_for_suggestions(3).await?;
    // UID 3 (the last message) is committed after the other two: wait for its cursor.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let cursor = loop {
        let cursor = rig
            .store
            .get_cursor(rig.mailbox, folder)
            .await?
            .context("cursor")?;
        if cursor.last_uid == Some(3) || std::time::Instant::now() > deadline {
            break cursor;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(cursor.uidvalidity, Some(new_validity));
    assert_eq!(
        cursor.last_uid,
        Some(3),
        "every message of the new folder was offered"
    );
    assert_eq!(rig.suggestions().await?.len(), 3, "{:?}", senders(&found));
    assert_eq!(second.stats().uidvalidity_resets, 1);
    let stats = rig.store.mailbox_stats(rig.mailbox).await?;
    assert_eq!(
        stats.skipped.get("duplicate"),
        Some(&1),
        "the restored message was recognised as processed: {stats:?}"
    );
    rig.stop_with(second).await;
    Ok(())
}

/// [`signed_message`] without its Message-ID header, with `subject` instead of its own.
fn message_without_id(tag: &str, i: usize, subject: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(&signed_message(tag, i))
        .lines()
        .filter(|line| !line.starts_with("Message-ID:"))
        .map(|line| {
            if line.starts_with("Subject:") {
                format!("Subject: {subject}\r\n")
            } else {
                format!("{line}\r\n")
            }
        })
        .collect::<String>();
    text.into_bytes()
}

/// A message without a Message-ID sits at a new UID after a UIDVALIDITY change. It is recognised
/// by the keyed hash of its identity headers and counted as a duplicate instead of merging into
/// its suggestion again; a message of the same sender with another subject is still processed.
#[tokio::test]
async fn a_message_without_a_message_id_counts_once_across_a_uidvalidity_change() -> Result<()> {
    let env = TestEnv::from_env()?;
    let folder = "NoMessageId";
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::on(shared_server(&env)?, Security::StartTls, &[folder]).await?;
    server.endpoint.create_folder(&server.user, folder).await?;
    let append = |raw: Vec<u8>| {
        let endpoint = server.endpoint.clone();
        let user = server.user.clone();
        async move { endpoint.append(&user, folder, &raw).await }
    };
    let original = message_without_id(&tag, 1, "Project update 1");
    ensure!(
        !String::from_utf8_lossy(&original).contains("Message-ID"),
        "the test message must have no Message-ID"
    );

    let first = rig
        .watch_linked(fast_options(), settings.clone(), server.password())
        .await?;
    append(original.clone()).await?;
    rig.wait_for_suggestions(1).await?;
    first.shutdown(Duration::from_secs(10)).await;

    // A new UIDVALIDITY: the same message comes back at UID 1, then a second message of the
    // same sender, then one of another sender.
    let mut admin = server
        .endpoint
        .login(&server.user, ImapSecurity::Starttls)
        .await?;
    admin.delete(folder).await?;
    admin.create(folder).await?;
    admin.logout().await?;
    append(original).await?;
    append(message_without_id(&tag, 1, "Project update 1, revised")).await?;
    append(message_without_id(&tag, 2, "Project update 2")).await?;

    let second = rig
        .watch_linked(fast_options(), settings, server.password())
        .await?;
    rig.wait_for_suggestions(2).await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let cursor = rig.store.get_cursor(rig.mailbox, folder).await?;
        if cursor.and_then(|c| c.last_uid) == Some(3) {
            break;
        }
        ensure!(Instant::now() < deadline, "UID 3 was never committed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(second.stats().uidvalidity_resets == 1);
    let stats = rig.store.mailbox_stats(rig.mailbox).await?;
    ensure!(
        stats.skipped.get("duplicate") == Some(&1),
        "the message that came back was processed again: {stats:?}"
    );
    ensure!(
        stats.get("processed") == 3,
        "the first message, the revised one and the new sender's: {stats:?}"
    );
    ensure!(rig.suggestions().await?.len() == 2);
    rig.stop_with(second).await;
    Ok(())
}

#[tokio::test]
async fn a_server_without_idle_is_polled() -> Result<()> {
    let env = TestEnv::from_env()?;
    let options = PrivateDovecotOptions {
        without_idle: true,
        ..PrivateDovecotOptions::default()
    };
    let (_dovecot, server) = private_server(&env, options).await?;
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::on(server, Security::ImplicitTls, &[]).await?;
    let source = rig
        .watch_linked(fast_options(), settings, server.password())
        .await?;
    server.deliver(&tag, 1).await?;
    rig.wait_for_suggestions(1).await?;
    let stats = source.stats();
    assert!(stats.polls >= 1, "{stats:?}");
    assert_eq!(
        stats.idle_wakeups, 0,
        "IDLE is not offered, so it must not be used: {stats:?}"
    );
    rig.stop_with(source).await;
    Ok(())
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() -> Result<()> {
    let env = TestEnv::from_env()?;
    let options = PrivateDovecotOptions {
        untrusted_certificate: true,
        ..PrivateDovecotOptions::default()
    };
    let (_dovecot, server) = private_server(&env, options).await?;
    for security in [Security::ImplicitTls, Security::StartTls] {
        let settings = server.settings(security, &[]);
        let error = test_login_with(&settings, &server.password(), &fast_options())
            .await
            .err()
            .context("a certificate from an unknown CA must be refused")?;
        assert_eq!(
            error.kind(),
            ImapErrorKind::TlsUntrusted,
            "{security:?}: {error}"
        );
        assert!(error.to_string().contains("not trusted"), "{error}");
    }
    // The watcher stops too, marks the mailbox and does not hammer the server.
    let settings = server.settings(Security::ImplicitTls, &[]);
    let rig = Rig::new(&settings).await?;
    let source = rig.watch(fast_options(), settings, server.password())?;
    wait_until("needs attention", || source.stats().needs_attention == 1).await?;
    let mailbox = rig.store.get_mailbox(rig.mailbox).await?;
    assert_eq!(mailbox.status, MailboxStatus::NeedsAttention);
    assert!(
        mailbox
            .status_reason
            .unwrap_or_default()
            .contains("tls_untrusted")
    );
    rig.stop_with(source).await;
    Ok(())
}

#[tokio::test]
async fn clear_errors_for_unreachable_servers_and_plaintext() -> Result<()> {
    let env = TestEnv::from_env()?;
    let server = shared_server(&env)?;
    let mut settings = server.settings(Security::ImplicitTls, &[]);
    settings.port = mailsig_tests::servers::free_port()?;
    let error = test_login_with(&settings, &server.password(), &fast_options())
        .await
        .err()
        .context("closed port")?;
    assert_eq!(error.kind(), ImapErrorKind::Unreachable, "{error}");

    let settings = server.settings(Security::Plaintext, &[]);
    let error = test_login_with(&settings, &server.password(), &fast_options())
        .await
        .err()
        .context("plaintext")?;
    assert_eq!(
        error.kind(),
        ImapErrorKind::InvalidSettings,
        "plaintext needs explicit permission: {error}"
    );
    let allowed = ImapOptions {
        allow_plaintext_loopback: true,
        ..fast_options()
    };
    test_login_with(&settings, &server.password(), &allowed).await?;
    Ok(())
}

#[tokio::test]
async fn an_oversized_message_is_skipped_and_counted() -> Result<()> {
    let Setup {
        server,
        tag,
        settings,
        rig,
    } = Setup::shared(Security::StartTls).await?;
    let source = rig
        .watch_linked(
            ImapOptions {
                max_message_bytes: 4096,
                ..fast_options()
            },
            settings,
            server.password(),
        )
        .await?;

    let mut big = signed_message(&tag, 1);
    big.extend(
        std::iter::repeat_n(
            b"padding line of an attachment-sized body\r\n".as_slice(),
            200,
        )
        .flatten(),
    );
    server.endpoint.append(&server.user, "INBOX", &big).await?;
    server.deliver(&tag, 2).await?;
    let found = rig.wait_for_suggestions(1).await?;
    assert_eq!(senders(&found), vec![sender(&tag, 2)]);
    assert_eq!(source.stats().too_large, 1);
    assert_eq!(rig.counter("skipped:too_large").await?, 1);
    rig.stop_with(source).await;
    Ok(())
}

#[tokio::test]
async fn mailboxes_are_linked_unlinked_and_recredentialed_at_runtime() -> Result<()> {
    let Setup {
        server, tag, rig, ..
    } = Setup::shared(Security::StartTls).await?;
    let vault = Vault::new(MasterKey::from_bytes([7; 32]));
    let seal = |secret, password: &str| {
        vault
            .seal(
                &Binding::secret(SecretKind::ImapPassword, secret),
                password.as_bytes(),
            )
            .map(SealedSecret::into_bytes)
    };
    let source = rig.source(fast_options());

    // Linked with a wrong password: the first pass starts it, the watcher stops for attention.
    let secret = vault
        .store_new(&rig.store, SecretKind::ImapPassword, 1, b"wrong password")
        .await?;
    rig.store.set_mailbox_secret(rig.mailbox, secret).await?;
    let report = source.reconcile(&rig.store, &vault).await?;
    assert_eq!(report.started, 1, "{report:?}");
    wait_until("needs attention", || source.stats().needs_attention == 1).await?;
    // While it needs attention, passes do not retry it.
    wait_until("the watcher to end", || {
        source.stopped_for_attention(rig.mailbox)
    })
    .await?;
    assert_eq!(
        source.reconcile(&rig.store, &vault).await?,
        ReconcileReport::default()
    );
    assert_eq!(source.stats().auth_failures, 1);
    assert_eq!(source.stats().logins, 0);

    // The user enters the right password (the CLI replaces the secret and clears the status).
    rig.store
        .replace_secret(secret, &seal(secret, &server.user.password)?, 1)
        .await?;
    rig.store
        .set_mailbox_status(rig.mailbox, MailboxStatus::Ok, None)
        .await?;
    let report = source.reconcile(&rig.store, &vault).await?;
    assert_eq!(report.restarted, 1, "{report:?}");
    wait_until("watcher linked", || source.stats().catch_ups >= 1).await?;
    server.deliver(&tag, 1).await?;
    rig.wait_for_suggestions(1).await?;
    // Nothing changed: a pass is a no-op.
    assert_eq!(
        source.reconcile(&rig.store, &vault).await?,
        ReconcileReport::default()
    );

    // Unlinked: the next pass stops its watcher and new mail is no longer processed.
    rig.store.soft_remove_mailbox(rig.mailbox).await?;
    let report = source.reconcile(&rig.store, &vault).await?;
    assert_eq!(report.stopped, 1, "{report:?}");
    assert!(source.watched().is_empty());
    wait_until("watcher logged out", || source.stats().connected == 0).await?;
    server.deliver(&tag, 2).await?;
    // No watcher runs, and a pass (the only thing that starts one) leaves it unwatched: nothing
    // can fetch the new mail.
    assert_eq!(
        source.reconcile(&rig.store, &vault).await?,
        ReconcileReport::default()
    );
    assert!(source.watched().is_empty());
    assert_eq!(rig.suggestions().await?.len(), 1);
    rig.stop_with(source).await;
    Ok(())
}

/// Logs go to the test's captured output (shown on failure); `RUST_LOG=mailsig_daemon=debug` for more.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("mailsig_daemon=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Polls `condition` every 50 ms for up to [`WAIT`].
async fn wait_until(what: &str, condition: impl Fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        ensure!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
