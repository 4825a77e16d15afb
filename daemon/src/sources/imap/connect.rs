//! Opening an authenticated IMAP session: TCP (keepalive, connect timeout) → TLS (rustls, verified,
//! TLS 1.2+) or STARTTLS (must be offered and succeed) → LOGIN with a password, or AUTHENTICATE
//! with an OAuth 2.0 access token (OAUTHBEARER or XOAUTH2, chosen from CAPABILITY, see `sasl`).
//!
//! This is the only place that sees the password or the access token, and only for that command.
//!
//! A mailbox a user linked (not `operator_trusted`) is checked again on every connection: the
//! host is resolved once, every address is checked by `sources::host_guard`, and the TCP
//! connection goes to exactly those addresses. Error details are fixed texts: what a library
//! or the far end said (an I/O error, a TLS alert, a server's NO text) would turn the mailbox's
//! status into a port scanner's answer, so it stays out of every error this module returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use async_imap::{Client, Session};
use rustls::pki_types::ServerName;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::error::{ImapError, ImapErrorKind};
use super::framing::FramedLimits;
use super::sasl::{BearerAuthenticator, BearerMechanism};
use super::settings::{ImapOptions, ImapSettings};
use crate::domain::TlsMode;

// The TCP connect, the TLS handshake, the greeting and STARTTLS each have
// `ImapOptions::connect_timeout` (`[imap] connect_timeout`): a server that accepts and then
// says nothing is given up on after that long, whichever step it hangs in.
/// CAPABILITY before AUTHENTICATE, and the login test's EXAMINE and LOGOUT.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// LOGIN (servers delay failed logins by a few seconds on purpose).
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP keepalive: first probe after this much silence, so a dead link under IDLE is noticed.
const KEEPALIVE_TIME: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_RETRIES: u32 = 4;

/// Any byte stream an IMAP session runs over (plain TCP for loopback tests, or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// The stream type of every session this module opens.
pub type ImapStream = Box<dyn Io>;
/// An authenticated session.
pub type ImapSession = Session<ImapStream>;

/// What the session authenticates with.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// LOGIN with the mailbox's username and this password.
    Password(&'a SecretString),
    /// AUTHENTICATE OAUTHBEARER or XOAUTH2 with the mailbox's username and this access token.
    Bearer(&'a SecretString),
}

impl Credential<'_> {
    /// The command that authenticates, for error texts.
    fn command(self) -> &'static str {
        match self {
            Credential::Password(_) => "LOGIN",
            Credential::Bearer(_) => "AUTHENTICATE",
        }
    }
}

/// Connects, secures and logs in. The returned session is authenticated; nothing is selected yet.
pub async fn connect(
    settings: &ImapSettings,
    password: &SecretString,
    options: &ImapOptions,
) -> Result<ImapSession, ImapError> {
    connect_via(settings, Credential::Password(password), options, None).await
}

/// [`connect`] with either kind of credential.
pub async fn connect_with(
    settings: &ImapSettings,
    credential: Credential<'_>,
    options: &ImapOptions,
) -> Result<ImapSession, ImapError> {
    connect_via(settings, credential, options, None).await
}

/// [`connect`], but the TCP connection goes to `addrs` (already resolved and checked by the
/// caller) instead of resolving the host name again; the host name is still the TLS name (SNI and
/// certificate check). This closes the window in which a DNS answer could change between the
/// check and the connection.
pub async fn connect_at(
    settings: &ImapSettings,
    password: &SecretString,
    options: &ImapOptions,
    addrs: &[SocketAddr],
) -> Result<ImapSession, ImapError> {
    connect_via(
        settings,
        Credential::Password(password),
        options,
        Some(addrs),
    )
    .await
}

async fn connect_via(
    settings: &ImapSettings,
    credential: Credential<'_>,
    options: &ImapOptions,
    addrs: Option<&[SocketAddr]>,
) -> Result<ImapSession, ImapError> {
    settings.validate(options)?;
    let host = settings.host.as_str();
    let checked;
    let addrs = match addrs {
        Some(addrs) => Some(addrs),
        None if settings.operator_trusted => None,
        None => {
            checked = checked_addresses(settings, options).await?;
            Some(checked.as_slice())
        }
    };
    let tcp = open_tcp(host, settings.port, addrs, options.connect_timeout).await?;
    // Every byte the server sends is read through the framing limits (see `framing`).
    let limit = options.max_message_bytes;
    let client = match settings.security {
        TlsMode::ImplicitTls => {
            let tls = tls_handshake(settings, options, tcp).await?;
            let mut client = Client::new(Box::new(FramedLimits::new(tls, limit)) as ImapStream);
            read_greeting(&mut client, host, options.connect_timeout).await?;
            client
        }
        TlsMode::StartTls => {
            let mut plain = Client::new(FramedLimits::new(tcp, limit));
            read_greeting(&mut plain, host, options.connect_timeout).await?;
            // Asking for STARTTLS and failing on anything but OK is the strict check: a server that
            // does not offer it answers BAD or NO, and we never fall back to plaintext.
            timeout(
                options.connect_timeout,
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await
            .map_err(|_| ImapError::timeout(host, "STARTTLS"))?
            .map_err(|_| {
                ImapError::new(ImapErrorKind::StartTlsUnavailable, host, "STARTTLS refused")
            })?;
            // RFC 3501 §6.2.1: no greeting follows STARTTLS; everything said before it is forgotten.
            let tls = tls_handshake(settings, options, plain.into_inner().into_inner()).await?;
            Client::new(Box::new(FramedLimits::new(tls, limit)) as ImapStream)
        }
        TlsMode::Plaintext => {
            let mut client = Client::new(Box::new(FramedLimits::new(tcp, limit)) as ImapStream);
            read_greeting(&mut client, host, options.connect_timeout).await?;
            client
        }
    };
    match credential {
        Credential::Password(password) => login(client, settings, password).await,
        Credential::Bearer(token) => authenticate_bearer(client, settings, token).await,
    }
}

/// Connects and logs in once, then logs out: what the CLI and API do before saving a mailbox.
pub async fn test_login(settings: &ImapSettings, password: &SecretString) -> Result<(), ImapError> {
    test_login_with(settings, password, &ImapOptions::default()).await
}

/// [`test_login`] with explicit options (for example to allow plaintext on loopback).
pub async fn test_login_with(
    settings: &ImapSettings,
    password: &SecretString,
    options: &ImapOptions,
) -> Result<(), ImapError> {
    test_login_via(settings, Credential::Password(password), options, None).await
}

/// [`test_login_with`] with either kind of credential.
pub async fn test_credential(
    settings: &ImapSettings,
    credential: Credential<'_>,
    options: &ImapOptions,
) -> Result<(), ImapError> {
    test_login_via(settings, credential, options, None).await
}

/// [`test_credential`] connecting to addresses the caller resolved and checked (see
/// [`connect_at`]).
pub async fn test_credential_at(
    settings: &ImapSettings,
    credential: Credential<'_>,
    options: &ImapOptions,
    addrs: &[SocketAddr],
) -> Result<(), ImapError> {
    test_login_via(settings, credential, options, Some(addrs)).await
}

/// [`test_login_with`] connecting to addresses the caller resolved and checked (see [`connect_at`]).
pub async fn test_login_at(
    settings: &ImapSettings,
    password: &SecretString,
    options: &ImapOptions,
    addrs: &[SocketAddr],
) -> Result<(), ImapError> {
    test_login_via(
        settings,
        Credential::Password(password),
        options,
        Some(addrs),
    )
    .await
}

async fn test_login_via(
    settings: &ImapSettings,
    credential: Credential<'_>,
    options: &ImapOptions,
    addrs: Option<&[SocketAddr]>,
) -> Result<(), ImapError> {
    let mut session = connect_via(settings, credential, options, addrs).await?;
    for folder in settings.folders() {
        timeout(HANDSHAKE_TIMEOUT, session.examine(&folder))
            .await
            .map_err(|_| ImapError::timeout(&settings.host, "EXAMINE"))?
            .map_err(|_| {
                ImapError::new(
                    ImapErrorKind::FolderUnavailable,
                    &settings.host,
                    format!("EXAMINE {folder:?} failed"),
                )
            })?;
    }
    // A failed LOGOUT does not make the test fail: the login itself worked.
    let _ = timeout(HANDSHAKE_TIMEOUT, session.logout()).await;
    Ok(())
}

/// The addresses a user-linked mailbox may be reached at now (see the module docs).
async fn checked_addresses(
    settings: &ImapSettings,
    options: &ImapOptions,
) -> Result<Vec<SocketAddr>, ImapError> {
    use crate::sources::host_guard::{GuardError, resolve_and_check};
    let host = settings.host.as_str();
    resolve_and_check(host, settings.port, options)
        .await
        .map_err(|error| match error {
            GuardError::Timeout | GuardError::Unresolvable => ImapError::new(
                ImapErrorKind::Unreachable,
                host,
                "the host name does not resolve",
            ),
            GuardError::Port | GuardError::Refused(_) => {
                tracing::warn!(
                    "imap connection refused: the host resolves to an address users may not reach"
                );
                ImapError::new(
                    ImapErrorKind::InvalidSettings,
                    host,
                    "the host resolves to an address users may not link",
                )
            }
        })
}

/// TCP to `addrs` when given (tried in order), otherwise to whatever `host` resolves to.
async fn open_tcp(
    host: &str,
    port: u16,
    addrs: Option<&[SocketAddr]>,
    limit: Duration,
) -> Result<TcpStream, ImapError> {
    let connecting = async {
        match addrs {
            Some(addrs) => TcpStream::connect(addrs).await,
            None => TcpStream::connect((host, port)).await,
        }
    };
    let tcp = timeout(limit, connecting)
        .await
        .map_err(|_| {
            ImapError::new(
                ImapErrorKind::Unreachable,
                host,
                format!("connect to port {port} timed out"),
            )
        })?
        .map_err(|_| {
            ImapError::new(
                ImapErrorKind::Unreachable,
                host,
                format!("connect to port {port} failed"),
            )
        })?;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_TIME)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    socket2::SockRef::from(&tcp)
        .set_tcp_keepalive(&keepalive)
        .map_err(|_| {
            ImapError::new(ImapErrorKind::Unreachable, host, "set TCP keepalive failed")
        })?;
    // IMAP is request/response with small commands: do not let Nagle delay them.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The rustls configuration: TLS 1.2 and 1.3 only, verified against the mailbox's own CA when it
/// has one, otherwise against the public web roots and the operator's CAs (see `trust`).
pub fn tls_config(
    settings: &ImapSettings,
    options: &ImapOptions,
) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let host = settings.host.as_str();
    let bad = |detail: String| ImapError::new(ImapErrorKind::InvalidSettings, host, detail);
    match (&settings.ca_pem, &settings.ca_file) {
        (Some(pem), _) => super::trust::mailbox_client_config(pem).map_err(|e| bad(e.to_string())),
        // Read into `ca_pem` when the watcher started (`settings::inline_legacy_ca_file`); still
        // here, the file could not be read then.
        (None, Some(path)) => Err(bad(format!(
            "the CA file {} named when the mailbox was linked could not be read",
            path.display()
        ))),
        (None, None) => options
            .operator_roots
            .client_config()
            .map_err(|e| bad(format!("TLS versions: {e}"))),
    }
}

async fn tls_handshake(
    settings: &ImapSettings,
    options: &ImapOptions,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    let host = settings.host.as_str();
    let config = tls_config(settings, options)?;
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|_| {
        ImapError::new(
            ImapErrorKind::InvalidSettings,
            host,
            "host is not a valid TLS name",
        )
    })?;
    let connector = TlsConnector::from(config);
    match timeout(options.connect_timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(ImapError::timeout(host, "TLS handshake")),
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => {
            let rustls_error = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            let kind = match rustls_error {
                Some(rustls::Error::InvalidCertificate(_))
                | Some(rustls::Error::NoCertificatesPresented) => ImapErrorKind::TlsUntrusted,
                Some(_) => ImapErrorKind::Tls,
                None => ImapErrorKind::ConnectionLost,
            };
            Err(ImapError::new(kind, host, "TLS handshake failed"))
        }
    }
}

/// Reads the server greeting; a `BYE` greeting means the server refuses us now (try later).
async fn read_greeting<T: Io>(
    client: &mut Client<T>,
    host: &str,
    limit: Duration,
) -> Result<(), ImapError> {
    let greeting = timeout(limit, client.read_response())
        .await
        .map_err(|_| ImapError::timeout(host, "greeting"))?
        .map_err(|_| {
            ImapError::new(
                ImapErrorKind::ConnectionLost,
                host,
                "reading the greeting failed",
            )
        })?
        .ok_or_else(|| {
            ImapError::new(
                ImapErrorKind::ConnectionLost,
                host,
                "closed before greeting",
            )
        })?;
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data {
            status: Status::Bye,
            ..
        } => Err(ImapError::new(
            ImapErrorKind::ConnectionLost,
            host,
            "server said BYE in its greeting",
        )),
        _ => Err(ImapError::new(
            ImapErrorKind::Protocol,
            host,
            "unexpected greeting",
        )),
    }
}

async fn login(
    client: Client<ImapStream>,
    settings: &ImapSettings,
    password: &SecretString,
) -> Result<ImapSession, ImapError> {
    let host = settings.host.as_str();
    match timeout(
        LOGIN_TIMEOUT,
        client.login(&settings.username, password.expose_secret()),
    )
    .await
    {
        Err(_) => Err(ImapError::timeout(host, "LOGIN")),
        Ok(Ok(session)) => Ok(session),
        Ok(Err((error, _client))) => Err(login_error(host, error)),
    }
}

/// The tag of the one CAPABILITY command sent before AUTHENTICATE (async-imap's own tags are
/// `A<number>`, so it cannot collide).
const CAPABILITY_TAG: &str = "mscap";

/// Asks for the capabilities (after STARTTLS the greeting's list no longer counts, RFC 3501
/// §6.2.1) and returns them as sent (`AUTH=XOAUTH2`, `IDLE`, ...).
async fn capabilities(
    client: &mut Client<ImapStream>,
    host: &str,
) -> Result<Vec<String>, ImapError> {
    let lost = || ImapError::new(ImapErrorKind::ConnectionLost, host, "CAPABILITY failed");
    let asking = async {
        let stream = client.get_mut();
        stream
            .write_all(format!("{CAPABILITY_TAG} CAPABILITY\r\n").as_bytes())
            .await
            .map_err(|_| lost())?;
        stream.flush().await.map_err(|_| lost())?;
        let mut found = Vec::new();
        loop {
            let response = client.read_response().await.map_err(|_| lost())?;
            let response = response.ok_or_else(lost)?;
            match response.parsed() {
                Response::Capabilities(list) => {
                    use async_imap::imap_proto::Capability;
                    found.extend(list.iter().map(|capability| match capability {
                        Capability::Imap4rev1 => "IMAP4rev1".to_owned(),
                        Capability::Auth(mechanism) => format!("AUTH={mechanism}"),
                        Capability::Atom(atom) => atom.to_string(),
                    }));
                }
                Response::Done { tag, status, .. } if tag.0 == CAPABILITY_TAG => {
                    return match status {
                        Status::Ok => Ok(found),
                        _ => Err(ImapError::new(
                            ImapErrorKind::Protocol,
                            host,
                            "CAPABILITY refused",
                        )),
                    };
                }
                _ => {}
            }
        }
    };
    timeout(HANDSHAKE_TIMEOUT, asking)
        .await
        .map_err(|_| ImapError::timeout(host, "CAPABILITY"))?
}

/// AUTHENTICATE with the access token in the mechanism the server prefers of the two.
async fn authenticate_bearer(
    mut client: Client<ImapStream>,
    settings: &ImapSettings,
    token: &SecretString,
) -> Result<ImapSession, ImapError> {
    let host = settings.host.as_str();
    let offered = capabilities(&mut client, host).await?;
    let mechanism =
        BearerMechanism::choose(offered.iter().map(String::as_str)).ok_or_else(|| {
            ImapError::new(
                ImapErrorKind::InvalidSettings,
                host,
                "the server offers neither OAUTHBEARER nor XOAUTH2",
            )
        })?;
    let authenticator =
        BearerAuthenticator::new(mechanism, &settings.username, token, host, settings.port);
    match timeout(
        LOGIN_TIMEOUT,
        client.authenticate(mechanism.name(), authenticator),
    )
    .await
    {
        Err(_) => Err(ImapError::timeout(host, "AUTHENTICATE")),
        Ok(Ok(session)) => Ok(session),
        Ok(Err((error, _client))) => {
            Err(auth_error(host, Credential::Bearer(token).command(), error))
        }
    }
}

/// A NO to LOGIN is an authentication failure, unless the server says it is temporarily unavailable
/// (RFC 5530 `UNAVAILABLE`), which is worth retrying.
fn login_error(host: &str, error: async_imap::error::Error) -> ImapError {
    auth_error(host, "LOGIN", error)
}

/// [`login_error`] for either authentication command.
fn auth_error(host: &str, command: &'static str, error: async_imap::error::Error) -> ImapError {
    use async_imap::error::Error as E;
    match error {
        E::No(text) => {
            let upper = text.to_ascii_uppercase();
            let kind = if upper.contains("UNAVAILABLE")
                || upper.contains("TEMPORARY")
                || upper.contains("TRY AGAIN")
            {
                ImapErrorKind::ConnectionLost
            } else {
                ImapErrorKind::AuthFailed
            };
            ImapError::new(kind, host, format!("{command} refused"))
        }
        E::Bad(_) => ImapError::new(
            ImapErrorKind::AuthFailed,
            host,
            format!("{command} rejected"),
        ),
        other => ImapError::from_session(host, command, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_no_is_retried_and_a_plain_no_is_an_auth_failure() {
        let e = login_error(
            "h",
            async_imap::error::Error::No(
                "code: None, info: Some(\"Authentication failed.\")".into(),
            ),
        );
        assert!(e.is_auth_failure());
        let e = login_error(
            "h",
            async_imap::error::Error::No("code: Some(Unavailable), info: None".into()),
        );
        assert!(e.is_transient());
    }

    #[test]
    fn a_missing_ca_file_is_a_settings_error() {
        let settings = ImapSettings {
            host: "localhost".into(),
            port: 993,
            security: TlsMode::ImplicitTls,
            username: "u".into(),
            folders: vec![],
            ca_file: Some("/nonexistent/ca.pem".into()),
            ca_pem: None,
            backfill: 0,
            operator_trusted: true,
        };
        let e = tls_config(&settings, &ImapOptions::default()).err();
        assert_eq!(e.map(|e| e.kind()), Some(ImapErrorKind::InvalidSettings));
    }
}
