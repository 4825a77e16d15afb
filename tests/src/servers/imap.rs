//! IMAP as a test needs it: log in over STARTTLS or implicit TLS (verifying the server against a
//! given CA), put messages into a mailbox the way a sender's server would, and look at what the
//! daemon left behind (flags, UIDVALIDITY).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use async_imap::types::{Capability, Flag};
use futures::TryStreamExt;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::users::MailUser;

/// Bound on every single IMAP exchange made by a helper, so a broken server fails the test instead
/// of hanging it.
const IMAP_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in IMAP session over TLS (both connection kinds end up as TLS over TCP).
pub type ImapSession = async_imap::Session<TlsStream<TcpStream>>;

/// How to reach the server's TLS layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImapSecurity {
    /// Plaintext port, then `STARTTLS` before anything else.
    Starttls,
    /// The implicit-TLS port (IMAPS).
    Implicit,
}

/// One message as fetched with `UID FETCH (UID FLAGS BODY.PEEK[])` (which does not set `\Seen`).
#[derive(Clone, Debug)]
pub struct FetchedMessage {
    /// The message's UID.
    pub uid: u32,
    /// Its flags, written as in IMAP (`\Seen`, `\Flagged`, `$Custom` ...).
    pub flags: Vec<String>,
    /// The raw RFC 5322 bytes.
    pub raw: Vec<u8>,
}

/// An IMAP server on 127.0.0.1 with a plaintext/STARTTLS port and an implicit-TLS port, and the TLS
/// client config used to verify it (server name `localhost`).
#[derive(Clone, Debug)]
pub struct ImapEndpoint {
    /// The plaintext port (STARTTLS offered).
    pub plain_port: u16,
    /// The implicit-TLS port.
    pub tls_port: u16,
    tls: Arc<rustls::ClientConfig>,
}

impl ImapEndpoint {
    /// An endpoint whose certificate is checked with `tls`.
    pub fn new(plain_port: u16, tls_port: u16, tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            plain_port,
            tls_port,
            tls,
        }
    }

    /// Connects, reads the greeting and establishes TLS (by STARTTLS or implicitly), verifying the
    /// certificate for `localhost`. Not logged in yet.
    pub async fn connect(
        &self,
        security: ImapSecurity,
    ) -> Result<async_imap::Client<TlsStream<TcpStream>>> {
        let port = match security {
            ImapSecurity::Starttls => self.plain_port,
            ImapSecurity::Implicit => self.tls_port,
        };
        let tcp = timed("connect", TcpStream::connect(("127.0.0.1", port)))
            .await?
            .with_context(|| format!("connect to IMAP 127.0.0.1:{port}"))?;
        let tcp = match security {
            ImapSecurity::Implicit => tcp,
            ImapSecurity::Starttls => {
                let mut plain = async_imap::Client::new(tcp);
                read_greeting(&mut plain).await?;
                timed("STARTTLS", plain.run_command_and_check_ok("STARTTLS", None))
                    .await?
                    .context("IMAP STARTTLS")?;
                plain.into_inner()
            }
        };
        let name = ServerName::try_from("localhost").context("server name")?;
        let tls = timed(
            "TLS handshake",
            TlsConnector::from(Arc::clone(&self.tls)).connect(name, tcp),
        )
        .await?
        .with_context(|| format!("IMAP TLS handshake with 127.0.0.1:{port} ({security:?})"))?;
        let mut client = async_imap::Client::new(tls);
        if security == ImapSecurity::Implicit {
            read_greeting(&mut client).await?;
        }
        Ok(client)
    }

    /// Connects with `security` and logs in as `user`.
    pub async fn login(&self, user: &MailUser, security: ImapSecurity) -> Result<ImapSession> {
        let client = self.connect(security).await?;
        timed("LOGIN", client.login(&user.name, &user.password))
            .await?
            .map_err(|(e, _)| anyhow!(e))
            .with_context(|| format!("IMAP LOGIN as {}", user.name))
    }

    /// Capabilities announced after login as `user`, upper-cased (e.g. `IDLE`, `CONDSTORE`).
    pub async fn capabilities(&self, user: &MailUser) -> Result<Vec<String>> {
        let mut session = self.login(user, ImapSecurity::Implicit).await?;
        let caps = timed("CAPABILITY", session.capabilities())
            .await?
            .context("IMAP CAPABILITY")?;
        let mut names: Vec<String> = caps.iter().map(capability_name).collect();
        names.sort();
        logout(session).await;
        Ok(names)
    }

    /// Appends `raw` to `folder` of `user` (creating the folder first unless it is INBOX), as a
    /// delivery would; the message gets no flags.
    pub async fn append(&self, user: &MailUser, folder: &str, raw: &[u8]) -> Result<()> {
        let mut session = self.login(user, ImapSecurity::Implicit).await?;
        if !folder.eq_ignore_ascii_case("INBOX") {
            // Already existing is fine: Dovecot answers NO [ALREADYEXISTS].
            let _ = timed("CREATE", session.create(folder)).await?;
        }
        timed("APPEND", session.append(folder, None, None, raw))
            .await?
            .with_context(|| format!("IMAP APPEND to {folder} of {}", user.name))?;
        logout(session).await;
        Ok(())
    }

    /// Creates `folder` for `user`.
    pub async fn create_folder(&self, user: &MailUser, folder: &str) -> Result<()> {
        let mut session = self.login(user, ImapSecurity::Implicit).await?;
        timed("CREATE", session.create(folder))
            .await?
            .with_context(|| format!("IMAP CREATE {folder} for {}", user.name))?;
        logout(session).await;
        Ok(())
    }

    /// Every message of `folder` (read-only EXAMINE, `BODY.PEEK[]`: looking changes nothing),
    /// ordered by UID.
    pub async fn fetch_all(&self, user: &MailUser, folder: &str) -> Result<Vec<FetchedMessage>> {
        let mut session = self.login(user, ImapSecurity::Implicit).await?;
        let mailbox = timed("EXAMINE", session.examine(folder))
            .await?
            .with_context(|| format!("IMAP EXAMINE {folder} of {}", user.name))?;
        let mut out = Vec::new();
        if mailbox.exists > 0 {
            let fetches: Vec<_> = timed("UID FETCH", async {
                session
                    .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])")
                    .await?
                    .try_collect()
                    .await
            })
            .await?
            .with_context(|| format!("IMAP UID FETCH in {folder} of {}", user.name))?;
            for fetch in fetches {
                let Some(uid) = fetch.uid else { continue };
                out.push(FetchedMessage {
                    uid,
                    flags: fetch.flags().map(|f| flag_name(&f)).collect(),
                    raw: fetch.body().unwrap_or_default().to_vec(),
                });
            }
        }
        out.sort_by_key(|m| m.uid);
        logout(session).await;
        Ok(out)
    }

    /// `(uid, flags)` of every message of `folder`, ordered by UID, without changing anything.
    pub async fn flags_of_all(
        &self,
        user: &MailUser,
        folder: &str,
    ) -> Result<Vec<(u32, Vec<String>)>> {
        Ok(self
            .fetch_all(user, folder)
            .await?
            .into_iter()
            .map(|m| (m.uid, m.flags))
            .collect())
    }

    /// The UIDVALIDITY of `folder`.
    pub async fn uid_validity(&self, user: &MailUser, folder: &str) -> Result<u32> {
        let mut session = self.login(user, ImapSecurity::Implicit).await?;
        let mailbox = timed("EXAMINE", session.examine(folder))
            .await?
            .with_context(|| format!("IMAP EXAMINE {folder} of {}", user.name))?;
        logout(session).await;
        mailbox.uid_validity.context("server sent no UIDVALIDITY")
    }

    /// Polls `folder` until it holds at least `count` messages, then returns them all; fails after
    /// `timeout` saying how many arrived. For checking SMTP deliveries.
    pub async fn wait_for_messages(
        &self,
        user: &MailUser,
        folder: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<FetchedMessage>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.fetch_all(user, folder).await?;
            if messages.len() >= count {
                return Ok(messages);
            }
            if Instant::now() > deadline {
                bail!(
                    "{folder} of {} holds {} message(s) after {timeout:?}, expected {count}",
                    user.name,
                    messages.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn read_greeting<T>(client: &mut async_imap::Client<T>) -> Result<()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    timed("greeting", client.read_response())
        .await?
        .context("read IMAP greeting")?
        .context("connection closed before the IMAP greeting")?;
    Ok(())
}

/// Logs out, ignoring errors: the helper's work is done, a failing LOGOUT changes nothing.
async fn logout(mut session: ImapSession) {
    let _ = tokio::time::timeout(IMAP_TIMEOUT, session.logout()).await;
}

async fn timed<F: std::future::IntoFuture>(what: &str, fut: F) -> Result<F::Output> {
    tokio::time::timeout(IMAP_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("IMAP {what} timed out after {IMAP_TIMEOUT:?}"))
}

/// A flag as IMAP writes it.
fn flag_name(flag: &Flag<'_>) -> String {
    match flag {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(name) => name.to_string(),
    }
}

/// A capability as IMAP writes it, upper-cased: `IMAP4REV1`, `AUTH=PLAIN`, `IDLE`.
fn capability_name(cap: &Capability) -> String {
    match cap {
        Capability::Imap4rev1 => "IMAP4REV1".into(),
        Capability::Auth(mech) => format!("AUTH={}", mech.to_ascii_uppercase()),
        Capability::Atom(atom) => atom.to_ascii_uppercase(),
    }
}
