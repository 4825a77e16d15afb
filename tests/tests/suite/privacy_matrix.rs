//! The canary matrix: distinct canary strings planted in every part of a message (subject, body,
//! quoted history, HTML part, attachment name, Message-ID) and in every secret (the IMAP
//! password, the SMTP password, a web password, its session cookie and CSRF token, an API token,
//! a webhook's signing secret, a TOTP secret whose enrolment is pending, the password of a
//! mailbox whose server fails TLS), driven through the real `mailsigd` binary: the real Dovecot
//! fetch, extraction, the commit, the notifier's digest sent through the real Postfix and read
//! back over IMAP (or refused with a 5xx by a relay whose reply text is a canary), the API, the
//! security page, `mailsigd backup`, and TLS failures against a server whose certificate names
//! a canary: at linking (the link test) and in the running daemon (a mailbox linked while the
//! server still passed connections to Dovecot; its log line, stored reason, `mailbox list` and
//! the owner's notice). The
//! sender's address is stored with the suggestion (a contact field), so it is searched in the logs
//! only. Then every place outside memory is searched:
//!
//! | store | files searched | log |
//! |---|---|---|
//! | SQLite | data dir (db, WAL, SHM) while running and after stop, `mailsigd backup` output | text, `RUST_LOG=trace` (all targets) |
//! | PostgreSQL | every file of the cluster's data dir after `CHECKPOINT` (WAL included), `pg_dump` | JSON, `[log] level = "trace"` |
//!
//! and in both the digest (decoded text and HTML, and the raw message) and `mailsigd outbox list`.
//! Zero hits are required. Each search is shown to work: the contact's name (a field meant to be
//! stored and mailed) is found in the same files, dump, backup and digest, and the log holds the
//! pipeline's TRACE line for the message. A trace level is a superset of the debug and info lines,
//! so one trace run covers all three levels.

use crate::ops_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mailsig_tests::https::issue_certificate_for;
use mailsig_tests::servers::{MailUser, PrivatePg, TestEnv};
use ops_support::{Daemon, OpsConfig};
use sqlx::Connection;
use tracing_subscriber::Layer as _;

const WAIT: Duration = Duration::from_secs(90);

/// The contact's name: a field meant to be stored and mailed, so it proves each search works.
const CONTACT_NAME: &str = "Gina Hale";

/// A fresh canary for `what`, unique in this run.
fn canary(what: &str) -> String {
    format!("CANARY{what}{:016x}", rand::random::<u64>())
}

/// The canaries that stand for mail content, and the message that carries them.
struct CanaryMail {
    content: Vec<(&'static str, String)>,
    /// The sender's address: stored with the suggestion (a contact field), never logged.
    sender: String,
    bytes: Vec<u8>,
}

impl CanaryMail {
    fn new(to: &str) -> CanaryMail {
        let content = vec![
            ("subject", canary("SUBJ")),
            ("body", canary("BODY")),
            ("quoted history", canary("QUOTE")),
            ("HTML part", canary("HTML")),
            ("attachment name", canary("ATTACH")),
            ("Message-ID", canary("MSGID")),
        ];
        let get = |what: &str| {
            content
                .iter()
                .find(|(w, _)| *w == what)
                .map(|(_, c)| c.clone())
                .unwrap_or_default()
        };
        let sender = format!("gina.{:08x}@canary-partner.example", rand::random::<u32>());
        let text = format!(
            "Hello,\r\n\r\nthe quote {body} is attached.\r\n\r\nBest regards,\r\n{CONTACT_NAME}\r\n\
             Head of Procurement\r\nHale Trading GmbH\r\nTel. +49 30 12345678\r\n\
             https://www.canary-partner.example\r\n\r\nOn Mon, 16 Nov 2026 Owner wrote:\r\n\
             > Could you send the quote {quoted}?\r\n",
            body = get("body"),
            quoted = get("quoted history"),
        );
        let html = format!(
            "<html><body><p>Hello,</p><p>the quote {html} is attached.</p><p>Best regards,<br>\
             {CONTACT_NAME}<br>Head of Procurement<br>Hale Trading GmbH<br>Tel. +49 30 12345678</p>\
             </body></html>\r\n",
            html = get("HTML part"),
        );
        let bytes = format!(
            "From: {CONTACT_NAME} <{sender}>\r\nTo: <{to}>\r\nSubject: Quote {subject}\r\n\
             Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{mid}@canary-partner.example>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
             --outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
             --alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
             --alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--alt--\r\n\
             --outer\r\nContent-Type: application/pdf; name=\"{attachment}.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"{attachment}.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n--outer--\r\n",
            subject = get("subject"),
            mid = get("Message-ID"),
            attachment = get("attachment name"),
        )
        .into_bytes();
        CanaryMail {
            content,
            sender,
            bytes,
        }
    }
}

/// Where the files of one store live.
enum StoreKind {
    Sqlite,
    Postgres(PrivatePg),
}

/// Where the notifier sends the digest.
enum Relay {
    /// The real Postfix (STARTTLS): the digest is delivered and read back over IMAP.
    Postfix,
    /// [`rejecting_relay`]: the digest fails for good with a 5xx.
    Rejecting,
}

/// One surface searched, and what was found there.
pub(crate) struct Surface {
    pub(crate) name: String,
    bytes: Vec<u8>,
}

impl Surface {
    pub(crate) fn new(name: impl Into<String>, bytes: Vec<u8>) -> Surface {
        Surface {
            name: name.into(),
            bytes,
        }
    }

    pub(crate) fn contains(&self, needle: &str) -> bool {
        contains(&self.bytes, needle.as_bytes())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}

/// Every file under `dir` as one surface each.
pub(crate) fn files_under(dir: &Path, label: &str, out: &mut Vec<Surface>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, label, out)?;
        } else if path.is_file() {
            // A file may vanish while PostgreSQL runs (a recycled WAL segment): skip it.
            if let Ok(bytes) = std::fs::read(&path) {
                let shown = path.strip_prefix(dir).unwrap_or(&path).display();
                out.push(Surface::new(format!("{label}: {shown}"), bytes));
            }
        }
    }
    Ok(())
}

/// A TLS server on loopback whose certificate (signed by the test CA) names only `name`: a
/// client that asks for `localhost` refuses it, and rustls's error quotes the names it saw.
/// While `forward` is set it passes connections through to the real Dovecot's IMAPS port
/// instead, so a mailbox can be linked through it and meet the bad certificate later.
/// `handshakes` counts the connections that met the certificate.
async fn misnamed_tls_server(
    env: &TestEnv,
    dir: &Path,
    name: &str,
    forward: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(u16, Arc<AtomicUsize>)> {
    let dovecot = env.imaps_port;
    let issued = issue_certificate_for(env, dir, "misnamed", &format!("DNS:{name}"))?;
    let chain_pem = std::fs::read(&issued.chain)?;
    let key_pem = std::fs::read(&issued.key)?;
    let chain: Vec<_> =
        rustls_pemfile::certs(&mut chain_pem.as_slice()).collect::<Result<_, _>>()?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())?.context("a private key")?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&handshakes);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            if forward.load(Ordering::SeqCst) {
                tokio::spawn(async move {
                    if let Ok(mut upstream) =
                        tokio::net::TcpStream::connect(("127.0.0.1", dovecot)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
                    }
                });
                continue;
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(socket).await;
            });
        }
    });
    Ok((port, handshakes))
}

/// An SMTP relay over implicit TLS (the test servers' certificate) that accepts the login and
/// the message, then refuses it for good (`554` after DATA) with `reply_text`, as a relay that
/// quotes the recipient or the message in its refusal does; it keeps what it was sent.
async fn rejecting_relay(
    env: &TestEnv,
    reply_text: &str,
) -> Result<(u16, Arc<std::sync::Mutex<Vec<Vec<u8>>>>)> {
    let refusal = format!("554 5.7.1 {reply_text}\r\n").into_bytes();
    let dir = env.dir.join("tls");
    let chain_pem = std::fs::read(dir.join("fullchain.pem"))?;
    let key_pem = std::fs::read(dir.join("server.key"))?;
    let chain: Vec<_> =
        rustls_pemfile::certs(&mut chain_pem.as_slice()).collect::<Result<_, _>>()?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())?.context("a private key")?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let received = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let kept = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let kept = Arc::clone(&kept);
            let refusal = refusal.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
                let Ok(tls) = acceptor.accept(socket).await else {
                    return;
                };
                let (read, mut write) = tokio::io::split(tls);
                let mut lines = tokio::io::BufReader::new(read).lines();
                let _ = write.write_all(b"220 relay.test ESMTP\r\n").await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            let _ = write.write_all(&refusal).await;
                        } else if let Ok(mut kept) = kept.lock()
                            && let Some(message) = kept.last_mut()
                        {
                            message.extend_from_slice(line.as_bytes());
                            message.extend_from_slice(b"\r\n");
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-relay.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                        "AUTH" => b"235 2.7.0 Authentication successful\r\n",
                        "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 2.0.0 Ok\r\n",
                        "DATA" => {
                            in_data = true;
                            if let Ok(mut kept) = kept.lock() {
                                kept.push(Vec::new());
                            }
                            b"354 End data with <CR><LF>.<CR><LF>\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                            break;
                        }
                        _ => b"502 5.5.2 Not implemented\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok((port, received))
}

/// The linking arguments of an IMAP mailbox over implicit TLS trusting the test CA.
fn add_imap_args<'a>(
    owner: &'a str,
    list: &'a str,
    port: &'a str,
    ca: &'a str,
    user: &'a str,
    address: &'a str,
) -> Vec<&'a str> {
    vec![
        "mailbox",
        "add-imap",
        "--owner",
        owner,
        "--list",
        list,
        "--host",
        "localhost",
        "--port",
        port,
        "--security",
        "tls",
        "--ca-file",
        ca,
        "--username",
        user,
        "--address",
        address,
        "--password-stdin",
    ]
}

/// Whether `raw` is the digest of new suggestions (the owner is also sent a notice about the
/// mailbox that fails TLS).
fn is_digest(raw: &[u8]) -> bool {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.subject().map(|s| s.contains("suggestion")))
        .unwrap_or(false)
}

/// Waits until the owner's INBOX holds the digest and returns every message in it, raw.
async fn wait_for_digest(env: &TestEnv, owner: &MailUser) -> Result<Vec<Vec<u8>>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let messages: Vec<Vec<u8>> = env
            .imap()
            .fetch_all(owner, "INBOX")
            .await?
            .into_iter()
            .map(|m| m.raw)
            .collect();
        if messages.iter().any(|m| is_digest(m)) {
            return Ok(messages);
        }
        ensure!(
            Instant::now() < deadline,
            "no digest reached the owner within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Signs `email` in over the API; returns the session cookie's value and the CSRF token.
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<(String, String)> {
    let reply = client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    ensure!(reply.status() == 200, "sign in answered {}", reply.status());
    let cookie = reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()?
                .strip_prefix("__Host-mailsig_session=")
                .map(str::to_owned)
        })
        .context("session cookie")?;
    let body: serde_json::Value = reply.json().await?;
    let csrf = body["csrf_token"]
        .as_str()
        .context("csrf_token")?
        .to_owned();
    Ok((cookie, csrf))
}

/// The key of a TOTP factor whose enrolment the security page just started, as an
/// authenticator app reads it (base32) and as raw bytes in hex.
struct TotpKey {
    base32: String,
    hex: String,
}

/// Starts a TOTP enrolment with the session's form (cookie and CSRF token) and reads the key the
/// security page shows for typing by hand.
async fn start_totp_enrolment(base: &str, session: &str, csrf: &str) -> Result<TotpKey> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = format!("__Host-mailsig_session={session}");
    let started = client
        .post(format!("{base}/account/security/two-factor/start"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf)])
        .send()
        .await?;
    ensure!(
        started.status().is_redirection(),
        "starting the enrolment answered {}",
        started.status()
    );
    let page = client
        .get(format!("{base}/account/security"))
        .header("cookie", &cookie)
        .send()
        .await?
        .text()
        .await?;
    let shown = page
        .split_once("id=\"manual-key\">")
        .and_then(|(_, rest)| rest.split_once('<'))
        .map(|(key, _)| key)
        .context("the security page shows no key")?;
    let base32: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = totp_rs::Secret::try_from_base32(&base32)
        .map_err(|e| anyhow::anyhow!("the shown key is not base32: {e:?}"))?;
    ensure!(base32.len() >= 16, "a short TOTP key: {base32}");
    Ok(TotpKey {
        hex: hex::encode(raw.as_ref()),
        base32,
    })
}

/// Runs the whole matrix on one store; `log_format` and `env` choose how TRACE is switched on.
async fn run_matrix(
    store: StoreKind,
    relay: Relay,
    log_format: &'static str,
    run_env: &[(&str, &str)],
    level: &str,
) -> Result<()> {
    let env = TestEnv::from_env()?;
    let owner = env.create_mail_user()?;
    let watched = env.create_mail_user()?;
    let smtp_sender = env.create_mail_user()?;
    let web_password = canary("WEBPW");
    let tls_password = canary("TLSPW");
    let cert_name = format!("{}.example", canary("CERT").to_lowercase());
    let relay_reply = canary("REPLY");
    let webhook_secret = canary("WHSECRET");

    let mut config = OpsConfig::new()?;
    config.log_format = log_format;
    config.log_level = level.to_owned();
    let database = match &store {
        StoreKind::Sqlite => None,
        StoreKind::Postgres(pg) => {
            let name = format!("matrix_{:08x}", rand::random::<u32>());
            config.database_url = Some(pg.create_database(&name).await?);
            Some(name)
        }
    };
    let (smtp_port, security, relayed) = match relay {
        Relay::Postfix => (env.smtp_port, "starttls", None),
        Relay::Rejecting => {
            let refusal = format!("message for {} refused: {relay_reply}", owner.address);
            let (port, received) = rejecting_relay(&env, &refusal).await?;
            (port, "tls", Some(received))
        }
    };
    config.extra = format!(
        "\n[notify]\ndigest_interval = \"1s\"\n\n[smtp]\nhost = \"localhost\"\nport = {port}\n\
         security = \"{security}\"\nusername = \"{user}\"\nfrom = \"mailsig <{from}>\"\nca_file = {ca:?}\n\n\
         [webhooks]\nallow_private_hosts = true\nallow_http = true\n",
        port = smtp_port,
        user = smtp_sender.name,
        from = smtp_sender.address,
        ca = env.ca.display().to_string(),
    );
    let mut daemon = Daemon::init(config)?;
    daemon.cli(
        &["smtp", "set-password", "--password-stdin"],
        Some(&format!("{}\n", smtp_sender.password)),
    )?;
    daemon.cli(&["user", "add", &owner.address, "--name", "Owner"], None)?;
    daemon.cli(
        &["user", "set-password", &owner.address],
        Some(&format!("{web_password}\n")),
    )?;
    let list = daemon.cli(
        &["list", "add", "--owner", &owner.address, "Contacts"],
        None,
    )?;
    let list = list
        .split_whitespace()
        .next()
        .context("list id")?
        .to_owned();
    let imaps = env.imaps_port.to_string();
    let ca = env.ca.display().to_string();
    daemon.cli(
        &add_imap_args(
            &owner.address,
            &list,
            &imaps,
            &ca,
            &watched.name,
            &watched.address,
        ),
        Some(&format!("{}\n", watched.password)),
    )?;
    // A second mailbox is linked through a server that passes the connection to Dovecot, then
    // starts answering with a certificate that names a canary instead of localhost: the running
    // daemon meets the TLS failure (its log line and the mailbox's stored reason are surfaces).
    let drifting = env.create_mail_user()?;
    let forward = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (tls_port, handshakes) =
        misnamed_tls_server(&env, daemon.dir.path(), &cert_name, Arc::clone(&forward)).await?;
    let tls_port = tls_port.to_string();
    daemon.cli(
        &add_imap_args(
            &owner.address,
            &list,
            &tls_port,
            &ca,
            &drifting.name,
            &drifting.address,
        ),
        Some(&format!("{}\n", drifting.password)),
    )?;
    forward.store(false, Ordering::SeqCst);
    // The operator's link test meets the TLS failure first: its refusal is a surface too.
    let refused = match daemon.cli(
        &add_imap_args(
            &owner.address,
            &list,
            &tls_port,
            &ca,
            "victim",
            "victim@misnamed.example",
        ),
        Some(&format!("{tls_password}\n")),
    ) {
        Ok(out) => bail!("a server whose certificate names another host was linked: {out}"),
        Err(refusal) => format!("{refusal:#}"),
    };
    ensure!(
        refused.contains("certificate") && handshakes.load(Ordering::SeqCst) >= 1,
        "no TLS failure: {refused}"
    );
    let api_token = daemon
        .cli(
            &[
                "token",
                "create",
                "--user",
                &owner.address,
                "--label",
                "matrix",
            ],
            None,
        )?
        .trim()
        .to_owned();

    daemon.start(run_env).await?;
    daemon
        .wait_for_log("the linked mailbox's TLS failure", WAIT, |l| {
            l.contains("imap") && (l.contains("needs attention") || l.contains("reconnecting"))
        })
        .await?;
    ensure!(
        handshakes.load(Ordering::SeqCst) >= 2,
        "the running daemon never met the certificate"
    );
    let base = format!("http://{}", daemon.config.listen);
    let client = reqwest::Client::new();
    let (session, csrf) = sign_in(&client, &base, &owner.address, &web_password).await?;
    for (header, value) in [
        ("cookie", format!("__Host-mailsig_session={session}")),
        ("authorization", format!("Bearer {api_token}")),
    ] {
        let reply = client
            .get(format!("{base}/api/v1/lists"))
            .header(header, value)
            .send()
            .await?;
        ensure!(
            reply.status() == 200,
            "GET /api/v1/lists with {header}: {}",
            reply.status()
        );
    }

    // A webhook whose signing secret is a canary (its target listens nowhere: deliveries fail),
    // added by the signed-in browser session with its CSRF token.
    let hook_port = mailsig_tests::servers::free_port()?;
    let reply = client
        .post(format!("{base}/api/v1/lists/{list}/webhooks"))
        .header("cookie", format!("__Host-mailsig_session={session}"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({
            "url": format!("http://127.0.0.1:{hook_port}/hook"),
            "secret": webhook_secret,
            "events": ["suggestion.created"],
        }))
        .send()
        .await?;
    ensure!(
        reply.status() == 201,
        "adding the webhook answered {}: {}",
        reply.status(),
        reply.text().await.unwrap_or_default()
    );
    // A second factor being enrolled: its TOTP secret, shown once on the security page.
    let totp_key = start_totp_enrolment(&base, &session, &csrf).await?;

    let mail = CanaryMail::new(&watched.address);
    env.imap().append(&watched, "INBOX", &mail.bytes).await?;
    daemon
        .wait_for_metric("mailsig_messages_processed_total", 1.0, WAIT)
        .await?;
    let (messages, digest_name) = match &relayed {
        None => (
            wait_for_digest(&env, &owner).await?,
            "mail read back over IMAP",
        ),
        Some(received) => {
            let deadline = Instant::now() + WAIT;
            loop {
                let sent = received.lock().map(|r| r.clone()).unwrap_or_default();
                if sent.iter().any(|m| is_digest(m)) {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "the relay saw no digest within {WAIT:?}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            daemon
                .wait_for_metric("mailsig_outbox_depth{status=\"failed\"}", 1.0, WAIT)
                .await?;
            let sent = received.lock().map(|r| r.clone()).unwrap_or_default();
            (sent, "mail as the refusing relay received it")
        }
    };
    // Everything outside memory.
    let mut surfaces = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let parsed = mail_parser::MessageParser::default()
            .parse(message)
            .context("the mailed notification parses")?;
        let decoded = format!(
            "{}\n{}\n{}",
            parsed.subject().unwrap_or_default(),
            parsed.body_text(0).unwrap_or_default(),
            parsed.body_html(0).unwrap_or_default()
        );
        surfaces.push(Surface::new(
            format!("{digest_name}, #{i} (decoded)"),
            decoded.into_bytes(),
        ));
        surfaces.push(Surface::new(
            format!("{digest_name}, #{i} (raw)"),
            message.clone(),
        ));
    }
    if relayed.is_some() {
        let failed = daemon.cli(&["outbox", "list"], None)?;
        ensure!(
            failed.lines().count() >= 1,
            "outbox list shows no failed digest"
        );
        surfaces.push(Surface::new("outbox list (SMTP 5xx)", failed.into_bytes()));
    }
    surfaces.push(Surface::new(
        "mailbox add-imap refusal (TLS failure)",
        refused.into_bytes(),
    ));
    let mailboxes = daemon.cli(&["mailbox", "list"], None)?;
    ensure!(
        mailboxes.contains(&drifting.address),
        "mailbox list lacks the mailbox that failed TLS: {mailboxes}"
    );
    surfaces.push(Surface::new(
        "mailbox list (TLS failure)",
        mailboxes.into_bytes(),
    ));
    let mut stored = Vec::new();
    match &store {
        StoreKind::Sqlite => {
            files_under(&daemon.data_dir, "data dir, running", &mut stored)?;
            ensure!(
                stored.iter().any(|s| s.name.ends_with("-wal")),
                "no WAL file while running"
            );
            let backup = daemon.dir.path().join("backup.db");
            daemon.cli(&["backup", "--output", &backup.display().to_string()], None)?;
            let backup = Surface::new("mailsigd backup", std::fs::read(&backup)?);
            ensure!(
                backup.contains(CONTACT_NAME),
                "the backup lacks the contact: the search proves nothing"
            );
            surfaces.push(backup);
        }
        StoreKind::Postgres(pg) => {
            let database = database.as_deref().context("database name")?;
            let mut admin = sqlx::PgConnection::connect(&pg.admin_url()).await?;
            sqlx::query("CHECKPOINT").execute(&mut admin).await?;
            admin.close().await.ok();
            let dump = Surface::new("pg_dump", pg.dump(database)?);
            ensure!(
                dump.contains(CONTACT_NAME),
                "the dump lacks the contact: the search proves nothing"
            );
            surfaces.push(dump);
            files_under(&pg.data_dir(), "postgres data dir", &mut stored)?;
            files_under(&daemon.data_dir, "data dir", &mut stored)?;
        }
    }
    ensure!(
        stored.iter().any(|s| s.contains(CONTACT_NAME)),
        "no stored file holds the contact: the search proves nothing"
    );
    surfaces.extend(stored);
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    if let StoreKind::Sqlite = store {
        files_under(&daemon.data_dir, "data dir, stopped", &mut surfaces)?;
    }
    let logs = daemon.logs_text();
    // The pipeline logs each message at TRACE: the trace level was in force on the message path
    // (checked after the search below, so that a run of older code reports its hits too).
    let trace_in_force = logs
        .lines()
        .any(|l| l.contains("TRACE") && l.contains("message extracted"));
    surfaces.push(Surface::new(
        format!("log ({log_format}, trace)"),
        logs.into_bytes(),
    ));
    ensure!(
        surfaces
            .iter()
            .any(|s| s.name.ends_with("(decoded)") && s.contains(CONTACT_NAME)),
        "the digest does not name the contact: the search proves nothing"
    );

    let mut canaries: Vec<(&str, String)> = mail.content.clone();
    canaries.extend([
        ("IMAP password", watched.password.clone()),
        ("SMTP password", smtp_sender.password.clone()),
        ("web password", web_password),
        ("session cookie", session),
        ("CSRF token", csrf),
        ("API token", api_token),
        ("webhook signing secret", webhook_secret),
        ("TOTP secret (base32)", totp_key.base32),
        ("TOTP secret (hex)", totp_key.hex),
        ("SMTP reply text", relay_reply),
        ("password of the TLS-failing mailbox", tls_password),
        ("name in the refused certificate", cert_name),
        (
            "password of the mailbox that met the bad certificate",
            drifting.password.clone(),
        ),
    ]);
    assert_no_canary(&canaries, &surfaces)?;
    let logs: Vec<Surface> = surfaces
        .into_iter()
        .filter(|s| s.name.starts_with("log"))
        .collect();
    assert_no_canary(&[("sender address", mail.sender.clone())], &logs)?;
    ensure!(
        trace_in_force,
        "the trace level was not in force on the message path: the log proves nothing"
    );
    Ok(())
}

/// Fails with every (canary, surface) pair where the canary was found; prints the count.
fn assert_no_canary(canaries: &[(&str, String)], surfaces: &[Surface]) -> Result<()> {
    let mut hits = Vec::new();
    for (what, value) in canaries {
        for surface in surfaces {
            if surface.contains(value) {
                hits.push(format!("{what} in {}", surface.name));
            }
        }
    }
    eprintln!(
        "canary matrix: {} canaries x {} surfaces, {} hits",
        canaries.len(),
        surfaces.len(),
        hits.len()
    );
    if !hits.is_empty() {
        bail!("canaries outside memory:\n{}", hits.join("\n"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_text_log_at_rust_log_trace_holds_no_canary() -> Result<()> {
    run_matrix(
        StoreKind::Sqlite,
        Relay::Postfix,
        "text",
        &[("RUST_LOG", "trace")],
        "info",
    )
    .await
}

/// The notifier's error path: the relay refuses the digest for good (554).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_5xx_refusal_leaves_no_canary() -> Result<()> {
    run_matrix(
        StoreKind::Sqlite,
        Relay::Rejecting,
        "json",
        &[("RUST_LOG", "trace")],
        "info",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_json_log_at_trace_holds_no_canary() -> Result<()> {
    let env = TestEnv::from_env()?;
    let pg = PrivatePg::start(&env).await?;
    run_matrix(
        StoreKind::Postgres(pg),
        Relay::Postfix,
        "json",
        &[],
        "trace",
    )
    .await
}

/// Every log line of this test process at TRACE that the daemon's log policy lets through, as
/// the binary's output layer would write it.
fn capture_policy_logs() -> mailsig_tests::log_capture::LogBuffer {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let buffer = mailsig_tests::log_capture::LogBuffer::default();
    let writer = buffer.clone();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_filter(mailsig_daemon::telemetry::policy::LogPolicy);
    let installed = tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .try_init();
    if installed.is_err() {
        eprintln!("privacy matrix: a global subscriber was already installed");
    }
    buffer
}

/// The Microsoft 365 path: a canary message fetched as `$value` from the Graph emulator by a
/// daemon linked through the real OAuth flow. The OAuth tokens the emulator issued and the
/// app's client secret are canaries too. Searched: the SQLite data dir and the daemon's log at
/// TRACE as its log policy lets it through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_fetch_leaves_no_canary_in_the_store_or_the_log() -> Result<()> {
    use mailsig_tests::graph_support::{CLIENT_SECRET, GraphWorld};
    let logs = capture_policy_logs();
    let world = GraphWorld::new("matrix").await?;
    let daemon = world.start().await?;
    world.link().await?;
    let mail = CanaryMail::new(&world.email);
    world
        .emulator
        .deliver(&world.email, mail.bytes.clone())
        .await?;
    world.wait_for_suggestions(1, WAIT).await?;
    let tokens = world.emulator.issued_tokens(&world.email);
    ensure!(
        tokens.len() >= 2,
        "the emulator issued no tokens: {tokens:?}"
    );

    let mut surfaces = Vec::new();
    files_under(world.dir.path(), "data dir, running", &mut surfaces)?;
    daemon.stop().await?;
    world.store.close().await;
    files_under(world.dir.path(), "data dir, stopped", &mut surfaces)?;
    ensure!(
        surfaces.iter().any(|s| s.contains(CONTACT_NAME)),
        "no stored file holds the contact: the search proves nothing"
    );
    let text = logs.contents();
    ensure!(
        text.contains("TRACE") && text.contains("mailsig_daemon"),
        "the daemon's trace lines were not captured"
    );
    surfaces.push(Surface::new("log (text, trace, policy)", text.into_bytes()));

    let mut canaries: Vec<(&str, String)> = mail.content.clone();
    canaries.push(("client secret", CLIENT_SECRET.to_owned()));
    canaries.extend(tokens.into_iter().map(|t| ("OAuth token", t)));
    assert_no_canary(&canaries, &surfaces)?;
    let logs: Vec<Surface> = surfaces
        .into_iter()
        .filter(|s| s.name.starts_with("log"))
        .collect();
    assert_no_canary(&[("sender address", mail.sender.clone())], &logs)
}
