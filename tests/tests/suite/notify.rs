//! Notifications end to end through the real Postfix started by `scripts/test.sh`
//! (2587 STARTTLS required, 2465 implicit TLS, AUTH against the Dovecot users file), read back from
//! the recipient's real Dovecot INBOX. Each test makes its own mail users and its own SQLite store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailsig_daemon::domain::TlsMode;
use mailsig_daemon::notify::{
    Addressing, DigestEntry, Mailbox, Mailer, OutboxWorker, OutgoingMail, RoundReport, SmtpFailure,
    SmtpSettings, WorkerOptions, compose_digest, test_connection, test_connection_from,
};
use mailsig_daemon::store::{
    Clock, CommitMessage, CommitResult, Cursor, ListId, MailboxId, MailboxKind, NewMailbox,
    NewSuggestion, OutboxStatus, Outcome, Store, StoreOptions, StoredField, StoredPhone,
    SuggestionFields, SuggestionStatus, UserId,
};
use mailsig_tests::servers::{MailUser, SmtpSecurity, TestEnv};
use secrecy::SecretString;

// ------------------------------------------------------------------------------------------ servers

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test.sh"))
}

fn env_port(name: &str) -> u16 {
    env(name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a port number"))
}

/// A fresh mail user from the harness (an SMTP AUTH login, and a recipient `<name>@<any domain>`).
async fn mail_user() -> MailUser {
    test_env()
        .create_mail_user()
        .expect("create mail user (run the tests with scripts/test.sh)")
}

fn test_env() -> TestEnv {
    TestEnv::from_env().expect("test servers (run the tests with scripts/test.sh)")
}

fn secret(user: &MailUser) -> SecretString {
    SecretString::from(user.password.clone())
}

fn settings(sender: &MailUser, security: TlsMode) -> SmtpSettings {
    let port = match security {
        TlsMode::StartTls | TlsMode::Plaintext => env_port("MAILSIG_TEST_SMTP_PORT"),
        TlsMode::ImplicitTls => env_port("MAILSIG_TEST_SMTPS_PORT"),
    };
    let from: Mailbox = format!("mailsig <{}>", sender.address)
        .parse()
        .expect("from address");
    let mut settings = SmtpSettings::new("localhost", port, security, &sender.name, from)
        .with_ca_file(env("MAILSIG_TEST_CA"));
    settings.command_timeout = Duration::from_secs(10);
    settings
}

/// A port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

// ------------------------------------------------------------------------------------ IMAP read-back

/// All messages in the user's INBOX (raw bytes), read over IMAP with certificate verification.
async fn inbox(user: &MailUser) -> Vec<Vec<u8>> {
    let messages = test_env()
        .imap()
        .fetch_all(user, "INBOX")
        .await
        .expect("read INBOX");
    messages.into_iter().map(|message| message.raw).collect()
}

/// `user`'s INBOX once mail submitted before this call has had its chance to arrive, without
/// the marker that shows it: a marker message is submitted through the same Postfix afterwards
/// and the INBOX is read when the marker is in it (Postfix hands its incoming queue to delivery
/// first in, first out). Shows that nothing more arrives without pausing for a guessed time.
async fn inbox_after_a_later_message(user: &MailUser) -> Vec<Vec<u8>> {
    let marker = crate::pipeline_support::unique_id("marker");
    let raw = format!(
        "From: <{address}>\r\nTo: <{address}>\r\nSubject: marker\r\nMessage-ID: <{marker}>\r\n\r\nmarker\r\n",
        address = user.address
    );
    test_env()
        .smtp()
        .expect("smtp endpoint")
        .send_raw(user, SmtpSecurity::Starttls, &user.address, raw.as_bytes())
        .await
        .expect("submit the marker");
    let is_marker = |message: &Vec<u8>| String::from_utf8_lossy(message).contains(marker.as_str());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut messages = inbox(user).await;
        if let Some(at) = messages.iter().position(is_marker) {
            messages.remove(at);
            return messages;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the marker message never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (up to 30 s) until the INBOX holds `n` messages, and returns them.
async fn wait_for_inbox(user: &MailUser, n: usize) -> Vec<Vec<u8>> {
    let messages = test_env()
        .imap()
        .wait_for_messages(user, "INBOX", n, Duration::from_secs(30))
        .await
        .expect("delivery into the INBOX");
    messages.into_iter().map(|message| message.raw).collect()
}

struct Parsed {
    raw: String,
    subject: String,
    text: String,
    html: String,
}

fn parse(raw: &[u8]) -> Parsed {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("delivered mail parses");
    Parsed {
        raw: String::from_utf8_lossy(raw).into_owned(),
        subject: message.subject().unwrap_or_default().to_owned(),
        text: message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        html: message
            .body_html(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
    }
}

// ------------------------------------------------------------------------------------------- store

const CANARY: &str = "CANARY7f3e";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh SQLite store on a manual clock set to the real time (so Date headers look sane).
async fn fresh_store(dir: &tempfile::TempDir) -> (Store, Clock) {
    open_store(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await
}

/// The store at `url`, migrated, on a manual clock set to the real time.
async fn open_store(url: &str) -> (Store, Clock) {
    let clock = Clock::manual(now_ms());
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Store::open_with(url, options).await.expect("open store");
    store.migrate().await.expect("migrate");
    (store, clock)
}

fn field(value: &str) -> StoredField {
    StoredField {
        value: value.to_owned(),
        confidence: 0.9,
        rule: "test".to_owned(),
    }
}

/// A suggestion as the pipeline would commit it: name and company, plus other signature fields that
/// carry the canary and must never reach the digest.
fn suggestion(sender: &str, name: &str, company: &str) -> NewSuggestion {
    NewSuggestion {
        sender_email: sender.to_owned(),
        fields: SuggestionFields {
            name: Some(field(name)),
            title: Some(field(&format!("Head of {CANARY} title"))),
            company: Some(field(company)),
            address: Some(field(&format!("1 {CANARY} Street"))),
            websites: vec![field(&format!(
                "https://{}.example.com",
                CANARY.to_lowercase()
            ))],
            phones: vec![StoredPhone {
                kind: "work".into(),
                e164: "+41446681800".into(),
                confidence: 0.9,
                rule: "test".into(),
            }],
            ..SuggestionFields::default()
        },
        confidence: 0.9,
        auth: mailsig_daemon::domain::SenderAuth::new(
            mailsig_daemon::domain::AuthResult::Authenticated,
            mailsig_daemon::domain::AuthMethod::Dmarc,
        ),
    }
}

/// A user with one IMAP mailbox feeding a list of that name. Returns (user, list, mailbox).
async fn owner_with_list(
    store: &Store,
    email: &str,
    list_name: &str,
) -> (UserId, ListId, MailboxId) {
    let user = match store.user_by_email(email).await {
        Ok(user) => user,
        Err(_) => store
            .create_user(email, Some("Test Owner"))
            .await
            .expect("create user"),
    };
    let list = store
        .create_list(user.id, list_name)
        .await
        .expect("create list");
    let mailbox = store
        .create_mailbox(NewMailbox {
            owner: user.id,
            kind: MailboxKind::Imap,
            address: email.to_owned(),
            display_name: None,
            target_list: list.id,
            excluded_domains: Vec::new(),
            settings: serde_json::json!({}),
            secret: None,
        })
        .await
        .expect("create mailbox");
    (user.id, list.id, mailbox.id)
}

async fn commit(
    store: &Store,
    mailbox: MailboxId,
    uid: u32,
    new: NewSuggestion,
) -> mailsig_daemon::store::SuggestionId {
    let result = store
        .commit_message(CommitMessage {
            mailbox,
            folder: "INBOX".into(),
            cursor: Cursor::Imap {
                uidvalidity: 1,
                uid,
            },
            message_id_hash: format!("hash-{uid}-{:x}", rand::random::<u64>()),
            outcome: Outcome::Suggestion(new),
            fencing: None,
        })
        .await
        .expect("commit message");
    match result {
        CommitResult::Inserted { suggestion } => suggestion,
        other => panic!("expected a new suggestion, got {other:?}"),
    }
}

/// A fresh PostgreSQL database `t_<random>` on the test cluster, migrated, on a manual clock.
/// Returns the database name too, for [`drop_pg_database`].
async fn fresh_pg_store() -> (Store, Clock, String) {
    let url = mailsig_tests::servers::fresh_pg_database()
        .await
        .expect("fresh PostgreSQL database (run the tests with scripts/test.sh)");
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    let (store, clock) = open_store(&url).await;
    (store, clock, name)
}

async fn drop_pg_database(name: &str) {
    use sqlx::Connection as _;
    if let Ok(mut conn) = sqlx::AnyConnection::connect(&env("MAILSIG_TEST_PG_URL")).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
        conn.close().await.ok();
    }
}

/// The reason recorded on the first outbox row, for assertion messages.
async fn last_error(store: &Store) -> Option<String> {
    store
        .get_outbox_item(mailsig_daemon::store::OutboxId(1))
        .await
        .ok()
        .and_then(|item| item.last_error)
}

fn worker(store: &Store, mailer: Mailer) -> OutboxWorker {
    OutboxWorker::new(
        store.clone(),
        mailer,
        WorkerOptions::new("test-worker", "https://mailsig.example.test/"),
    )
}

/// A pooled sender that logs in as `sender` on the shared Postfix.
fn mailer(sender: &MailUser, security: TlsMode) -> Mailer {
    Mailer::new(settings(sender, security), &secret(sender)).expect("mailer")
}

/// `sender`'s settings aimed at `127.0.0.1:<port>` instead of the shared Postfix.
fn settings_at_port(sender: &MailUser, port: u16) -> SmtpSettings {
    let mut settings = settings(sender, TlsMode::StartTls);
    settings.host = "127.0.0.1".into();
    settings.port = port;
    settings
}

/// A one-line digest from the sender's address to `to`.
fn one_entry_digest(from: &Mailbox, to: &MailUser) -> OutgoingMail {
    let addressing = Addressing {
        from: from.clone(),
        to: to.address.parse().expect("to"),
        public_base_url: "https://mailsig.example.test".into(),
    };
    let entries = [DigestEntry {
        list_id: 3,
        list_name: "Sales".into(),
        name: Some("Ada Lovelace".into()),
        company: Some("Analytical Engines".into()),
        unverified_sender: false,
        alert: None,
    }];
    compose_digest(&addressing, &entries, SystemTime::now()).expect("compose")
}

/// (claimed, sent, retried, failed) of one worker round, the figures the outbox tests check together.
fn tally(report: &RoundReport) -> (usize, usize, usize, usize) {
    (report.claimed, report.sent, report.retried, report.failed)
}

/// (pending, sending, failed) rows of the outbox.
async fn outbox_depth(store: &Store) -> (i64, i64, i64) {
    let depth = store.outbox_depth().await.expect("depth");
    (depth.pending, depth.sending, depth.failed)
}

/// Waits for the first message in `recipient`'s INBOX and checks that its text names `line`.
async fn assert_first_message_names(recipient: &MailUser, line: &str) {
    let delivered = wait_for_inbox(recipient, 1).await;
    let text = parse(&delivered[0]).text;
    assert!(text.contains(line), "{line} missing from:\n{text}");
}

/// Who owns the mailbox of an [`Outbox`] (and so receives its digests).
enum Owner {
    Recipient,
    Sender,
    Address(&'static str),
}

/// The world of most outbox tests: a fresh SQLite store on a manual clock, a sender (the SMTP
/// login), a recipient, and one IMAP mailbox of the owner feeding a list.
struct Outbox {
    store: Store,
    clock: Clock,
    sender: MailUser,
    recipient: MailUser,
    list: ListId,
    mailbox: MailboxId,
    /// Holds the SQLite file; dropped last.
    _dir: tempfile::TempDir,
}

impl Outbox {
    /// The recipient owns the mailbox.
    async fn new(list_name: &str) -> Outbox {
        Outbox::owned_by(Owner::Recipient, list_name).await
    }

    async fn owned_by(owner: Owner, list_name: &str) -> Outbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, clock) = fresh_store(&dir).await;
        let sender = mail_user().await;
        let recipient = mail_user().await;
        let owner_email = match owner {
            Owner::Recipient => recipient.address.clone(),
            Owner::Sender => sender.address.clone(),
            Owner::Address(address) => address.to_owned(),
        };
        let (_user, list, mailbox) = owner_with_list(&store, &owner_email, list_name).await;
        Outbox {
            store,
            clock,
            sender,
            recipient,
            list,
            mailbox,
            _dir: dir,
        }
    }

    /// Commits a suggestion for `name` of `company` (from `sender`), from message `uid`.
    async fn suggest(
        &self,
        uid: u32,
        sender: &str,
        name: &str,
        company: &str,
    ) -> mailsig_daemon::store::SuggestionId {
        commit(
            &self.store,
            self.mailbox,
            uid,
            suggestion(sender, name, company),
        )
        .await
    }

    /// A worker that sends through the shared Postfix as the sender.
    fn worker(&self, security: TlsMode) -> OutboxWorker {
        self.worker_with(mailer(&self.sender, security))
    }

    fn worker_with(&self, mailer: Mailer) -> OutboxWorker {
        worker(&self.store, mailer)
    }

    /// A worker whose server cannot be reached (nothing listens on its port).
    fn offline_worker(&self) -> OutboxWorker {
        let down = settings_at_port(&self.sender, closed_port());
        self.worker_with(Mailer::new(down, &secret(&self.sender)).expect("mailer"))
    }
}

// ------------------------------------------------------------------------------------------- tests

async fn deliver_one(security: TlsMode) {
    let sender = mail_user().await;
    let recipient = mail_user().await;
    let settings = settings(&sender, security);
    test_connection(&settings, &secret(&sender))
        .await
        .expect("connection test passes");
    let mailer = Mailer::new(settings.clone(), &secret(&sender)).expect("mailer");
    let mail = one_entry_digest(&settings.from, &recipient);
    mailer.send(&mail).await.expect("send");
    let delivered = wait_for_inbox(&recipient, 1).await;
    let parsed = parse(&delivered[0]);
    assert_eq!(parsed.subject, "1 new contact suggestion");
    assert!(parsed.raw.contains(&mail.message_id), "Message-ID kept");
    assert!(
        parsed.text.contains("Ada Lovelace, Analytical Engines"),
        "{}",
        parsed.text
    );
    // Postfix logs the authenticated user; the Received header shows the message came in with TLS.
    assert!(
        parsed.raw.contains("ESMTPSA") || parsed.raw.contains("ESMTPS"),
        "submitted over TLS with AUTH:\n{}",
        parsed.raw
    );
}

#[tokio::test]
async fn starttls_submission_is_delivered() {
    deliver_one(TlsMode::StartTls).await;
}

#[tokio::test]
async fn implicit_tls_submission_is_delivered() {
    deliver_one(TlsMode::ImplicitTls).await;
}

#[tokio::test]
async fn wrong_password_is_reported_clearly() {
    let sender = mail_user().await;
    // Dovecot delays further logins from an address that just failed one (its auth penalty). Failing
    // from other loopback addresses keeps that delay away from the other tests, which connect from
    // 127.0.0.1.
    for security in [TlsMode::StartTls, TlsMode::ImplicitTls] {
        // A fresh loopback address per attempt and run, so no penalty carries over.
        let source = [
            127,
            rand::random_range(1..=254),
            rand::random_range(0..=255),
            rand::random_range(2..=254),
        ];
        let mut settings = settings(&sender, security);
        settings.command_timeout = Duration::from_secs(40);
        let wrong = SecretString::from("not-the-password".to_owned());
        let err = test_connection_from(&settings, &wrong, Some(std::net::IpAddr::from(source)))
            .await
            .expect_err("a wrong password must fail");
        assert_eq!(err.failure(), Some(SmtpFailure::AuthRejected), "{err}");
        assert!(err.is_configuration() && !err.is_permanent() && !err.is_transient());
        let line = err.to_string();
        assert!(line.contains("wrong username or password"), "{line}");
        assert!(line.contains("535"), "the reply code is shown: {line}");
        assert!(
            !line.contains("not-the-password"),
            "never echo the password: {line}"
        );
    }
}

/// Checks that a connection test with `settings` fails on the server's certificate.
async fn assert_certificate_refused(settings: &SmtpSettings, sender: &MailUser) -> String {
    let err = test_connection(settings, &secret(sender))
        .await
        .expect_err("must refuse the certificate");
    assert_eq!(
        err.failure(),
        Some(SmtpFailure::UntrustedCertificate),
        "{err}"
    );
    err.to_string()
}

#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let sender = mail_user().await;
    for security in [TlsMode::StartTls, TlsMode::ImplicitTls] {
        // Without the test CA, or with a CA that did not sign it, the server's certificate chains to
        // nothing we trust.
        let mut wrong_ca = settings(&sender, security);
        wrong_ca.ca_file = Some(test_env().untrusted_ca());
        assert_certificate_refused(&wrong_ca, &sender).await;
        let mut untrusted = settings(&sender, security);
        untrusted.ca_file = None;
        let line = assert_certificate_refused(&untrusted, &sender).await;
        assert!(line.contains("not trusted"), "{line}");

        // The pooled sender refuses it as well, and the worker would keep the message (configuration).
        let mailer = Mailer::new(untrusted, &secret(&sender)).expect("mailer");
        let mail = one_entry_digest(mailer.from(), &sender);
        let err = mailer.send(&mail).await.expect_err("send must fail");
        assert!(err.is_configuration(), "{err}");
    }
    assert!(inbox(&sender).await.is_empty(), "nothing was delivered");
}

#[tokio::test]
async fn refused_starttls_is_reported() {
    // A listener that greets and answers EHLO without offering STARTTLS, as a misconfigured or
    // downgrading server would. Postfix here always offers it, so this one small server stands in.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let (socket, _) = listener.accept().await.expect("accept");
        let (read, mut write) = socket.into_split();
        let mut lines = tokio::io::BufReader::new(read).lines();
        write
            .write_all(b"220 plain.test ESMTP\r\n")
            .await
            .expect("greet");
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line.clone());
            if line.to_ascii_uppercase().starts_with("EHLO") {
                write
                    .write_all(b"250-plain.test\r\n250 AUTH PLAIN LOGIN\r\n")
                    .await
                    .expect("ehlo");
            } else {
                write.write_all(b"221 bye\r\n").await.expect("bye");
                break;
            }
        }
        seen
    });
    let sender = mail_user().await;
    let plain = settings_at_port(&sender, port);
    let err = test_connection(&plain, &secret(&sender))
        .await
        .expect_err("must refuse to go on without TLS");
    assert_eq!(err.failure(), Some(SmtpFailure::StartTlsRefused), "{err}");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    let seen = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server ends")
        .expect("server task");
    assert!(
        !seen
            .iter()
            .any(|line| line.to_ascii_uppercase().starts_with("AUTH")),
        "no AUTH was sent in clear: {seen:?}"
    );
}

#[tokio::test]
async fn unreachable_server_keeps_the_digest_until_it_returns() {
    let outbox = Outbox::new("Prospects").await;
    let (store, clock) = (&outbox.store, &outbox.clock);
    outbox
        .suggest(1, "grace@navy.example", "Grace Hopper", "US Navy")
        .await;

    // 1. The server cannot be reached: the row goes back to pending with the reason and a backoff.
    let mut offline = outbox.offline_worker();
    let report = offline.run_once().await.expect("round");
    assert_eq!(tally(&report), (1, 0, 1, 0), "{report:?}");
    assert_eq!(outbox_depth(store).await, (1, 0, 0));

    // 2. The server is back, but the retry is not due yet: nothing is claimed, nothing sent.
    let mut online = outbox.worker(TlsMode::StartTls);
    let report = online.run_once().await.expect("round");
    assert_eq!(report.claimed, 0, "backoff respected: {report:?}");

    // 3. After the backoff it is delivered, once.
    clock.advance(Duration::from_secs(3600));
    let report = online.run_once().await.expect("round");
    assert_eq!(
        (report.claimed, report.sent),
        (1, 1),
        "{report:?}: {:?}",
        last_error(store).await
    );
    assert_eq!(outbox_depth(store).await, (0, 0, 0));
    assert_first_message_names(&outbox.recipient, "Grace Hopper, US Navy").await;
    // And the row is not sent again.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(online.run_once().await.expect("round").claimed, 0);
    assert_eq!(
        inbox_after_a_later_message(&outbox.recipient).await.len(),
        1,
        "delivered exactly once"
    );
}

/// A greylisting SMTP server over implicit TLS (with the test servers' certificate): it accepts AUTH
/// and MAIL, answers every RCPT with `451 4.7.1`, as greylisting servers do. Postfix here accepts
/// every authenticated recipient, so this small server provides the real-world 4xx reply.
async fn greylisting_server() -> (u16, tokio::task::JoinHandle<usize>) {
    let dir = PathBuf::from(env("MAILSIG_TEST_DIR")).join("tls");
    let chain_pem = std::fs::read(dir.join("fullchain.pem")).expect("read test certificate chain");
    let key_pem = std::fs::read(dir.join("server.key")).expect("read test server key");
    let chain: Vec<_> = rustls_pemfile::certs(&mut chain_pem.as_slice())
        .map(|c| c.expect("certificate PEM"))
        .collect();
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .expect("key PEM")
        .expect("a private key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let mut n_rcpt_refused = 0;
        let Ok((socket, _)) = listener.accept().await else {
            return n_rcpt_refused;
        };
        let Ok(tls) = acceptor.accept(socket).await else {
            return n_rcpt_refused;
        };
        let (read, mut write) = tokio::io::split(tls);
        let mut lines = tokio::io::BufReader::new(read).lines();
        let _ = write.write_all(b"220 grey.test ESMTP\r\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-grey.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                "AUTH" => b"235 2.7.0 Authentication successful\r\n",
                "MAIL" | "RSET" | "NOOP" => b"250 2.0.0 Ok\r\n",
                "RCPT" => {
                    n_rcpt_refused += 1;
                    b"451 4.7.1 Greylisted, please try again later\r\n"
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                    break;
                }
                _ => b"502 5.5.2 Not implemented here\r\n",
            };
            if write.write_all(reply).await.is_err() {
                break;
            }
        }
        n_rcpt_refused
    });
    (port, task)
}

#[tokio::test]
async fn greylisting_reply_is_retried_then_delivered() {
    let outbox = Outbox::new("Greylisted").await;
    let (store, clock, sender) = (&outbox.store, &outbox.clock, &outbox.sender);
    outbox
        .suggest(1, "katherine@nasa.example", "Katherine Johnson", "NASA")
        .await;

    let (grey_port, grey) = greylisting_server().await;
    let mut grey_settings = settings(sender, TlsMode::ImplicitTls);
    grey_settings.port = grey_port;
    let mut greylisted =
        outbox.worker_with(Mailer::new(grey_settings, &secret(sender)).expect("mailer"));
    let report = greylisted.run_once().await.expect("round");
    assert_eq!(tally(&report), (1, 0, 1, 0), "{report:?}");
    let stats = greylisted.stats().snapshot();
    assert_eq!(
        (stats.retried, stats.sent, stats.configuration_errors),
        (1, 0, 0),
        "{stats:?}"
    );
    let reason = last_error(store).await.unwrap_or_default();
    assert!(
        reason.contains("451 4.7.1"),
        "the 4xx reply's codes are kept: {reason}"
    );
    assert!(
        !reason.contains("Greylisted"),
        "the server's words are not kept: {reason}"
    );
    assert!(reason.contains("temporary failure"), "{reason}");
    drop(greylisted);
    let refused = tokio::time::timeout(Duration::from_secs(10), grey)
        .await
        .expect("server ends")
        .expect("server task");
    assert_eq!(refused, 1, "the greylisting server saw one RCPT");

    clock.advance(Duration::from_secs(3600));
    let mut real = outbox.worker(TlsMode::ImplicitTls);
    let report = real.run_once().await.expect("round");
    assert_eq!(
        (report.claimed, report.sent),
        (1, 1),
        "{report:?}: {:?}",
        last_error(store).await
    );
    assert_first_message_names(&outbox.recipient, "Katherine Johnson, NASA").await;
}

#[tokio::test]
async fn rejected_recipient_is_marked_failed_and_listed() {
    // An all-numeric domain: lettre accepts it, Postfix answers "501 5.1.3 Bad recipient address syntax".
    let outbox = Outbox::owned_by(Owner::Address("nobody@1.2.3.4.5"), "Rejected").await;
    let (store, clock) = (&outbox.store, &outbox.clock);
    outbox
        .suggest(1, "alan@bletchley.example", "Alan Turing", "GC&CS")
        .await;

    let mut worker = outbox.worker(TlsMode::ImplicitTls);
    let report = worker.run_once().await.expect("round");
    assert_eq!(tally(&report), (1, 0, 0, 1), "{report:?}");

    let failed = store.list_failed(10).await.expect("list failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, OutboxStatus::Failed);
    let reason = failed[0].last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("501 5.1.3") && reason.contains("message rejected by the server"),
        "the reply's codes and a fixed sentence: {reason}"
    );
    assert!(
        !reason.contains("Bad recipient") && !reason.contains("nobody@1.2.3.4.5"),
        "the server's words are not kept: {reason}"
    );
    let line = mailsig_daemon::notify::describe_failed(&failed[0]);
    assert!(line.contains("501"), "{line}");
    assert!(
        !reason.contains(CANARY) && !reason.contains("Alan Turing"),
        "no content in the reason: {reason}"
    );

    // Never retried.
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(worker.run_once().await.expect("round").claimed, 0);
    assert_eq!(store.outbox_depth().await.expect("depth").failed, 1);
}

#[tokio::test]
async fn delivered_digest_lists_suggestions_and_nothing_else() {
    let outbox = Outbox::new("Sales <EMEA>").await;
    let (store, clock, recipient) = (&outbox.store, &outbox.clock, &outbox.recipient);
    let sales = outbox.list;
    let (_user, partners, partners_box) =
        owner_with_list(store, &recipient.address, "Partners").await;
    outbox
        .suggest(
            1,
            "marie@radium.example",
            "Marie Curie",
            "Institut du Radium",
        )
        .await;
    outbox
        .suggest(
            2,
            "rosalind@kings.example",
            "Rosalind Franklin",
            "King's College",
        )
        .await;
    commit(
        store,
        partners_box,
        1,
        suggestion(
            "emmy@goettingen.example",
            "Emmy Noether",
            "Göttingen University",
        ),
    )
    .await;

    let mut worker = outbox.worker(TlsMode::StartTls);
    let report = worker.run_once().await.expect("round");
    assert_eq!(
        report.sent, 1,
        "one digest for the user, however many rows: {report:?}"
    );

    let delivered = wait_for_inbox(recipient, 1).await;
    let digest = parse(&delivered[0]);
    assert_eq!(digest.subject, "3 new contact suggestions");
    for expected in [
        "Marie Curie, Institut du Radium",
        "Rosalind Franklin, King's College",
        "Emmy Noether, Göttingen University",
        &format!("https://mailsig.example.test/lists/{sales}"),
        &format!("https://mailsig.example.test/lists/{partners}"),
        "List \"Sales <EMEA>\" (2)",
    ] {
        assert!(
            digest.text.contains(expected),
            "text lacks {expected}:\n{}",
            digest.text
        );
    }
    for expected in [
        "Sales &lt;EMEA&gt;",
        "King&#39;s College",
        &format!("href=\"https://mailsig.example.test/lists/{sales}\""),
    ] {
        assert!(
            digest.html.contains(expected),
            "HTML lacks {expected} (HTML-escaped):\n{}",
            digest.html
        );
    }
    for header in [
        "Auto-Submitted: auto-generated",
        "Message-ID: <",
        "Date: ",
        "multipart/alternative",
    ] {
        assert!(
            digest.raw.contains(header),
            "missing {header}:\n{}",
            digest.raw
        );
    }
    // Minimum data: no other signature field, no sender address, no canary anywhere in the message.
    for secret in [
        CANARY,
        &CANARY.to_lowercase(),
        "+41446681800",
        "marie@radium.example",
    ] {
        assert!(
            !digest.raw.contains(secret),
            "{secret} leaked into the digest:\n{}",
            digest.raw
        );
        assert!(
            !digest.text.contains(secret) && !digest.html.contains(secret),
            "{secret} leaked"
        );
    }

    // At most one digest per interval: a suggestion right after waits for the interval.
    commit(
        store,
        partners_box,
        2,
        suggestion("lise@kwi.example", "Lise Meitner", "KWI"),
    )
    .await;
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        worker.run_once().await.expect("round").sent,
        0,
        "too early for a second digest"
    );
    clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(
        worker.run_once().await.expect("round").sent,
        1,
        "due after the interval"
    );
    let delivered = wait_for_inbox(recipient, 2).await;
    let second = delivered
        .iter()
        .map(|raw| parse(raw))
        .find(|p| p.text.contains("Lise Meitner"))
        .expect("second digest");
    assert_eq!(second.subject, "1 new contact suggestion");
    assert!(
        !second.text.contains("Marie Curie"),
        "only what is new since the last digest"
    );
}

#[tokio::test]
async fn attention_notice_reaches_the_owner() {
    let outbox = Outbox::new("Any").await;
    let mailbox = outbox
        .store
        .get_mailbox(outbox.mailbox)
        .await
        .expect("mailbox");
    mailsig_daemon::notify::enqueue_attention(&outbox.store, &mailbox, "login rejected")
        .await
        .expect("enqueue");
    let mut worker = outbox.worker(TlsMode::ImplicitTls);
    assert_eq!(worker.run_once().await.expect("round").sent, 1);
    let delivered = wait_for_inbox(&outbox.recipient, 1).await;
    let notice = parse(&delivered[0]);
    assert_eq!(notice.subject, "A mailbox needs your attention");
    assert!(notice.text.contains("login rejected"), "{}", notice.text);
    assert!(
        notice.text.contains(&format!(
            "https://mailsig.example.test/mailboxes/{}",
            mailbox.id
        )),
        "{}",
        notice.text
    );
    assert!(notice.raw.contains("Auto-Submitted: auto-generated"));
}

#[tokio::test]
async fn reviewed_suggestions_are_not_announced() {
    let outbox = Outbox::new("Reviewed").await;
    let (store, clock) = (&outbox.store, &outbox.clock);
    outbox
        .suggest(1, "hedy@mgm.example", "Hedy Lamarr", "MGM")
        .await;
    let dismissed = outbox
        .suggest(2, "ada@engines.example", "Ada Byron", "Engines Ltd")
        .await;
    store
        .set_suggestion_status(dismissed, SuggestionStatus::Dismissed)
        .await
        .expect("dismiss");
    let mut worker = outbox.worker(TlsMode::StartTls);
    assert_eq!(worker.run_once().await.expect("round").sent, 1);
    let delivered = wait_for_inbox(&outbox.recipient, 1).await;
    let digest = parse(&delivered[0]);
    assert!(digest.text.contains("Hedy Lamarr, MGM"), "{}", digest.text);
    assert!(
        !digest.text.contains("Ada Byron"),
        "a dismissed suggestion is not announced: {}",
        digest.text
    );

    // When everything was reviewed before the digest is due, no message at all.
    clock.advance(Duration::from_secs(60));
    let late = outbox
        .suggest(3, "joan@bletchley.example", "Joan Clarke", "GC&CS")
        .await;
    store
        .set_suggestion_status(late, SuggestionStatus::Accepted)
        .await
        .expect("accept");
    clock.advance(Duration::from_secs(20 * 60));
    let report = worker.run_once().await.expect("round");
    assert_eq!(
        (report.claimed, report.sent, report.empty),
        (1, 0, 1),
        "{report:?}"
    );
    assert_eq!(store.outbox_depth().await.expect("depth").pending, 0);
    assert_eq!(
        inbox_after_a_later_message(&outbox.recipient).await.len(),
        1,
        "no empty digest was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_send_each_digest_once() {
    let (store, _clock, db) = fresh_pg_store().await;
    let sender = mail_user().await;
    let mut recipients = Vec::new();
    for i in 0..4u32 {
        let recipient = mail_user().await;
        let (_user, _list, mailbox) =
            owner_with_list(&store, &recipient.address, &format!("List {i}")).await;
        commit(
            &store,
            mailbox,
            1,
            suggestion(
                &format!("p{i}@example.org"),
                &format!("Person {i}"),
                "Replica Corp",
            ),
        )
        .await;
        recipients.push(recipient);
    }
    let make = |id: &str| {
        let mut options = WorkerOptions::new(id, "https://mailsig.example.test");
        options.batch_size = 2;
        OutboxWorker::new(
            store.clone(),
            mailer(&sender, TlsMode::ImplicitTls),
            options,
        )
    };
    let (mut a, mut b) = (make("replica-a"), make("replica-b"));
    let mut total_sent = 0;
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
        total_sent += ra.expect("round a").sent + rb.expect("round b").sent;
    }
    assert_eq!(total_sent, 4, "every digest sent once across both workers");
    for recipient in &recipients {
        let delivered = wait_for_inbox(recipient, 1).await;
        let again = inbox_after_a_later_message(recipient).await;
        assert_eq!(
            (delivered.len(), again.len()),
            (1, 1),
            "{} got exactly one digest",
            recipient.name
        );
    }
    store.close().await;
    drop_pg_database(&db).await;
}

#[tokio::test]
async fn long_outage_ends_in_the_failed_list() {
    let outbox = Outbox::owned_by(Owner::Sender, "Outage").await;
    let (store, clock) = (&outbox.store, &outbox.clock);
    outbox
        .suggest(
            1,
            "barbara@cornell.example",
            "Barbara McClintock",
            "Cornell",
        )
        .await;
    let mut worker = outbox.offline_worker();
    // Retried while the outage is young…
    for _ in 0..3 {
        let report = worker.run_once().await.expect("round");
        assert_eq!((report.retried, report.failed), (1, 0), "{report:?}");
        clock.advance(Duration::from_secs(2 * 3600));
    }
    // …and handed to the operator once it is older than `give_up_after` (3 days).
    clock.advance(Duration::from_secs(3 * 24 * 3600));
    let report = worker.run_once().await.expect("round");
    assert_eq!((report.retried, report.failed), (0, 1), "{report:?}");
    let failed = store.list_failed(10).await.expect("list failed");
    let reason = failed
        .first()
        .and_then(|item| item.last_error.clone())
        .unwrap_or_default();
    assert!(reason.starts_with("gave up after 4 attempt(s)"), "{reason}");
    assert!(
        reason.contains("unreachable"),
        "the last cause is kept: {reason}"
    );
}

#[tokio::test]
async fn rows_of_a_crashed_worker_are_sent_after_their_lease() {
    let outbox = Outbox::new("Crash").await;
    let store = &outbox.store;
    outbox
        .suggest(1, "chien@columbia.example", "Chien-Shiung Wu", "Columbia")
        .await;

    // A worker claims the row and dies before any `mark_*` (as a SIGKILL between claim and commit,
    // or between the server's 250 and `mark_sent`, would leave it).
    let lease = Duration::from_secs(15 * 60);
    let claimed = store
        .claim_due("crashed-worker", store.now_ms(), 10, lease)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    drop(claimed);

    let mut survivor = outbox.worker(TlsMode::StartTls);
    assert_eq!(
        survivor.run_once().await.expect("round").claimed,
        0,
        "the lease still protects the row"
    );
    outbox.clock.advance(lease + Duration::from_secs(1));
    let report = survivor.run_once().await.expect("round");
    assert_eq!((report.claimed, report.sent), (1, 1), "{report:?}");
    assert_first_message_names(&outbox.recipient, "Chien-Shiung Wu, Columbia").await;
}

#[tokio::test]
async fn spawned_worker_delivers_and_stops_on_shutdown() {
    let outbox = Outbox::new("Running").await;
    let mut options = WorkerOptions::new("spawned", "https://mailsig.example.test");
    options.poll_interval = Duration::from_millis(200);
    let worker = OutboxWorker::new(
        outbox.store.clone(),
        mailer(&outbox.sender, TlsMode::StartTls),
        options,
    );
    let stats = worker.stats();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = worker.spawn(shutdown.clone());

    // A suggestion committed while the worker runs is announced without anyone calling it.
    outbox
        .suggest(1, "mary@jackson.example", "Mary Jackson", "NACA")
        .await;
    assert_first_message_names(&outbox.recipient, "Mary Jackson, NACA").await;
    assert_eq!(stats.snapshot().sent, 1);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the worker stops promptly on shutdown")
        .expect("worker task");
    assert_eq!(outbox.store.outbox_depth().await.expect("depth").pending, 0);
}

// ------------------------------------------------------------------------------------ OAuth 2.0

/// The test OpenID provider as the notifier's identity provider: client `mailsig` (or a wrong
/// secret), token endpoint only.
fn oidc_provider(secret: &str) -> mailsig_daemon::sources::oauth::OAuthProvider {
    use mailsig_daemon::sources::oauth::{ClientAuth, OAuthProfile, OAuthProvider};
    let issuer = env("MAILSIG_TEST_OIDC_ISSUER");
    OAuthProvider {
        name: "test".into(),
        profile: OAuthProfile::Generic,
        client_id: env("MAILSIG_TEST_OIDC_CLIENT_ID"),
        client_secret: SecretString::from(secret.to_owned()),
        client_auth: ClientAuth::Basic,
        authorization_url: url::Url::parse(&format!("{issuer}/auth")).expect("url"),
        token_url: url::Url::parse(&format!("{issuer}/token")).expect("url"),
        scopes: vec!["mail".into()],
    }
}

/// Client-credentials tokens for `scope` from `provider`.
fn app_tokens(
    provider: mailsig_daemon::sources::oauth::OAuthProvider,
    scope: &str,
    clock: &Clock,
) -> Arc<dyn mailsig_daemon::notify::AccessTokens> {
    use mailsig_daemon::sources::oauth::{AppTokens, TokenClient};
    let client = TokenClient::new(Arc::new(provider)).expect("token client");
    Arc::new(AppTokens::new(client, scope, clock.clone()))
}

/// SMTP settings for the provider's app mailbox (`mailsig-notifier`), which has no password at
/// Dovecot: the only way in is a token that introspects to that username.
fn app_mailbox_settings() -> SmtpSettings {
    let mailbox = env("MAILSIG_TEST_OIDC_APP_MAILBOX");
    let from: Mailbox = format!("mailsig <{mailbox}@localhost>")
        .parse()
        .expect("from address");
    let mut settings = SmtpSettings::new(
        "localhost",
        env_port("MAILSIG_TEST_SMTP_PORT"),
        TlsMode::StartTls,
        &mailbox,
        from,
    )
    .with_ca_file(env("MAILSIG_TEST_CA"));
    settings.command_timeout = Duration::from_secs(10);
    settings
}

#[tokio::test]
async fn a_digest_goes_out_over_smtp_with_an_app_only_xoauth2_token() {
    use mailsig_daemon::notify::SmtpAuth;
    let outbox = Outbox::new("Partners").await;
    let secret = env("MAILSIG_TEST_OIDC_CLIENT_SECRET");
    outbox
        .suggest(1, "grace@navy.example", "Grace Hopper", "US Navy")
        .await;

    // A wrong client secret: no token, the digest is held (a configuration problem) and the
    // reason names the token step.
    let refused = Mailer::smtp(
        app_mailbox_settings(),
        SmtpAuth::OAuth(app_tokens(
            oidc_provider("not-the-secret"),
            "mail",
            &outbox.clock,
        )),
    )
    .expect("mailer");
    let report = outbox.worker_with(refused).run_once().await.expect("round");
    assert_eq!(tally(&report), (1, 0, 1, 0), "{report:?}");
    let reason = last_error(&outbox.store).await.unwrap_or_default();
    assert!(
        reason.contains(": token: ") && reason.contains("refused to issue a token"),
        "{reason}"
    );
    assert!(!reason.contains("not-the-secret"), "{reason}");

    // The right secret: XOAUTH2 through Postfix, Dovecot's SASL checks the token by introspection.
    let mailer = Mailer::smtp(
        app_mailbox_settings(),
        SmtpAuth::OAuth(app_tokens(oidc_provider(&secret), "mail", &outbox.clock)),
    )
    .expect("mailer");
    outbox.clock.advance(Duration::from_secs(3600));
    let report = outbox.worker_with(mailer).run_once().await.expect("round");
    assert_eq!(tally(&report), (1, 1, 0, 0), "{report:?}");
    let delivered = wait_for_inbox(&outbox.recipient, 1).await;
    let digest = parse(&delivered[0]);
    assert_eq!(digest.subject, "1 new contact suggestion");
    assert!(
        digest.text.contains("Grace Hopper, US Navy"),
        "{}",
        digest.text
    );
    assert!(
        digest.raw.contains("ESMTPSA"),
        "submitted with AUTH over TLS:\n{}",
        digest.raw
    );
}

#[tokio::test]
async fn a_token_for_another_mailbox_is_refused_at_the_auth_step() {
    use mailsig_daemon::notify::{SmtpAuth, test_login};
    let sender = mail_user().await;
    let clock = Clock::manual(now_ms());
    let secret = env("MAILSIG_TEST_OIDC_CLIENT_SECRET");
    // The app's token introspects to the app mailbox, not to this user: Dovecot refuses it.
    let mut settings = app_mailbox_settings();
    settings.username = sender.name.clone();
    let auth = SmtpAuth::OAuth(app_tokens(oidc_provider(&secret), "mail", &clock));
    let err = test_login(&settings, &auth, None)
        .await
        .expect_err("a token for another mailbox must not log in");
    assert_eq!(err.failure(), Some(SmtpFailure::TokenRejected), "{err}");
    assert_eq!(
        err.stage(),
        Some(mailsig_daemon::notify::Stage::Auth),
        "{err}"
    );
    // And the app mailbox itself logs in.
    test_login(&app_mailbox_settings(), &auth, None)
        .await
        .expect("the app mailbox logs in with the app's token");
}

#[tokio::test]
async fn a_digest_goes_out_through_graph_send_mail() {
    use mailsig_daemon::notify::{DEFAULT_GRAPH_TIMEOUT, GraphSendSettings};
    use mailsig_daemon::sources::oauth::{ClientAuth, OAuthProfile, OAuthProvider};
    use mailsig_tests::graph_emulator::GraphEmulator;

    let graph = GraphEmulator::start().await.expect("graph emulator");
    graph.register_app("notify-app", "notify-secret", "http://127.0.0.1/unused");
    graph.add_user("notify@contoso.test", "Notifications");
    let outbox = Outbox::new("Partners").await;
    outbox
        .suggest(1, "katherine@nasa.example", "Katherine Johnson", "NASA")
        .await;
    let provider = OAuthProvider {
        name: "entra".into(),
        profile: OAuthProfile::Microsoft,
        client_id: "notify-app".into(),
        client_secret: SecretString::from("notify-secret"),
        client_auth: ClientAuth::Post,
        authorization_url: url::Url::parse(&format!("{}/authorize", graph.authority_url()))
            .expect("url"),
        token_url: url::Url::parse(&graph.tenant_token_url()).expect("url"),
        scopes: vec!["offline_access".into()],
    };
    let tokens = app_tokens(
        provider,
        "https://graph.microsoft.com/.default",
        &outbox.clock,
    );
    let settings = GraphSendSettings {
        graph_url: url::Url::parse(&graph.graph_url()).expect("url"),
        mailbox: "notify@contoso.test".into(),
        from: "mailsig <notify@contoso.test>".parse().expect("from"),
        timeout: DEFAULT_GRAPH_TIMEOUT,
    };
    let mailer = Mailer::graph(settings, tokens).expect("mailer");
    let mut worker = outbox.worker_with(mailer);

    // Without the Mail.Send application permission Graph refuses: held, the reason says so.
    let report = worker.run_once().await.expect("round");
    assert_eq!(tally(&report), (1, 0, 1, 0), "{report:?}");
    let reason = last_error(&outbox.store).await.unwrap_or_default();
    assert!(
        reason.contains("graph ") && reason.contains("403") && reason.contains("ErrorAccessDenied"),
        "{reason}"
    );
    assert!(graph.sent_mail("notify@contoso.test").is_empty());

    // An admin grants Mail.Send: the held digest goes out, once, from the technical mailbox.
    graph.grant_app_role("notify-app", "Mail.Send");
    outbox.clock.advance(Duration::from_secs(3600));
    let report = worker.run_once().await.expect("round");
    assert_eq!(tally(&report), (1, 1, 0, 0), "{report:?}");
    let sent = graph.sent_mail("notify@contoso.test");
    assert_eq!(sent.len(), 1);
    let digest = parse(&sent[0]);
    assert_eq!(digest.subject, "1 new contact suggestion");
    assert!(
        digest.text.contains("Katherine Johnson, NASA"),
        "{}",
        digest.text
    );
    assert!(
        digest.raw.contains(&outbox.recipient.address),
        "addressed to the owner:\n{}",
        digest.raw
    );
    let send_calls: Vec<_> = graph
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/sendMail"))
        .map(|r| r.status)
        .collect();
    assert_eq!(send_calls, vec![403, 202]);
}
