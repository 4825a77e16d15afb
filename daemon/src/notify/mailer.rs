//! `Mailer`: submits one notification through the configured transport: the customer's SMTP
//! "technical user" (pooled, authenticated, TLS-only; a password with AUTH PLAIN/LOGIN, or an OAuth
//! 2.0 access token with XOAUTH2), or Microsoft Graph `sendMail` from the technical user's mailbox.
//!
//! The SMTP side wraps lettre's `AsyncSmtpTransport<Tokio1Executor>`. The transport is cheap to
//! clone and keeps up to `pool_max_size` connections open; a connection idle longer than
//! `pool_idle_timeout` is closed by us before the server gives up on it, and each reused connection
//! is checked with NOOP. lettre fixes the credentials of a transport when it is built, so with
//! OAuth the transport is rebuilt whenever the token source hands out a new access token (a
//! connection already logged in stays valid for its session); when the server refuses a token,
//! one fresh token is fetched and the message is submitted once more.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::error::{NotifyError, SmtpFailure, Stage};
use super::graph_send::{GraphMailer, GraphSendSettings};
use super::oauth::AccessTokens;
use super::outgoing::OutgoingMail;
use super::settings::SmtpSettings;

/// AUTH mechanisms used with a password, in order of preference. Both need TLS, which is always on.
pub(crate) const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];
/// The AUTH mechanism used with an OAuth access token (Exchange Online, Gmail, Dovecot's SASL).
pub(crate) const OAUTH_MECHANISMS: [Mechanism; 1] = [Mechanism::Xoauth2];

/// How the SMTP technical user logs in.
#[derive(Clone)]
pub enum SmtpAuth {
    /// AUTH PLAIN or LOGIN with the password.
    Password(SecretString),
    /// AUTH XOAUTH2 with an access token from this source.
    OAuth(Arc<dyn AccessTokens>),
}

impl std::fmt::Debug for SmtpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmtpAuth::Password(_) => f.write_str("Password(..)"),
            SmtpAuth::OAuth(tokens) => write!(f, "OAuth({})", tokens.describe()),
        }
    }
}

/// Where notifications are submitted.
#[derive(Debug, Clone)]
pub enum TransportSettings {
    /// SMTP submission to the technical user's server.
    Smtp(SmtpSettings),
    /// Microsoft Graph `sendMail` from the technical user's mailbox.
    Graph(GraphSendSettings),
}

impl TransportSettings {
    /// `host:port` of the server or the Graph endpoint.
    pub fn server(&self) -> String {
        match self {
            TransportSettings::Smtp(settings) => settings.server(),
            TransportSettings::Graph(settings) => settings.server(),
        }
    }
}

/// The notification sender. Clone it freely; clones share the SMTP pool and the token cache.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Smtp(SmtpMailer),
    Graph(GraphMailer),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport's Debug would print nothing secret either, but keep it short and certain.
        f.debug_struct("Mailer")
            .field("server", &self.server())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// An SMTP sender that logs in with a password. Nothing is sent over the network until the
    /// first `send`; call [`super::test_connection`] to check the settings up front.
    pub fn new(settings: SmtpSettings, password: &SecretString) -> Result<Mailer, NotifyError> {
        Mailer::smtp(settings, SmtpAuth::Password(password.clone()))
    }

    /// The sender for `transport`, logging in as `auth` says (Graph takes OAuth tokens only).
    pub fn build(transport: TransportSettings, auth: SmtpAuth) -> Result<Mailer, NotifyError> {
        match (transport, auth) {
            (TransportSettings::Smtp(settings), auth) => Mailer::smtp(settings, auth),
            (TransportSettings::Graph(settings), SmtpAuth::OAuth(tokens)) => {
                Mailer::graph(settings, tokens)
            }
            (TransportSettings::Graph(settings), SmtpAuth::Password(_)) => {
                Err(NotifyError::Graph {
                    server: settings.server(),
                    stage: Stage::Auth,
                    failure: SmtpFailure::NoAuthMechanism,
                    reply: "Graph sendMail needs an OAuth token, not a password".to_owned(),
                })
            }
        }
    }

    /// An SMTP sender that logs in as `auth` says.
    pub fn smtp(settings: SmtpSettings, auth: SmtpAuth) -> Result<Mailer, NotifyError> {
        // Checked now, so that a wrong CA file is reported when the worker starts.
        settings.tls()?;
        let login = match auth {
            SmtpAuth::Password(password) => Login::Password(build_transport(
                &settings,
                password.expose_secret(),
                &MECHANISMS,
            )?),
            SmtpAuth::OAuth(tokens) => Login::OAuth {
                tokens,
                current: Arc::new(tokio::sync::Mutex::new(None)),
            },
        };
        Ok(Mailer {
            transport: Transport::Smtp(SmtpMailer { settings, login }),
        })
    }

    /// A sender that submits through Microsoft Graph `sendMail` with tokens from `tokens`.
    pub fn graph(
        settings: GraphSendSettings,
        tokens: Arc<dyn AccessTokens>,
    ) -> Result<Mailer, NotifyError> {
        Ok(Mailer {
            transport: Transport::Graph(GraphMailer::new(settings, tokens)?),
        })
    }

    /// The From address of every notification.
    pub fn from(&self) -> &Mailbox {
        match &self.transport {
            Transport::Smtp(smtp) => &smtp.settings.from,
            Transport::Graph(graph) => &graph.settings().from,
        }
    }

    /// `host:port` of the SMTP server, or the Graph endpoint, for messages.
    pub fn server(&self) -> String {
        match &self.transport {
            Transport::Smtp(smtp) => smtp.settings.server(),
            Transport::Graph(graph) => graph.settings().server(),
        }
    }

    /// Submits one message. Returns once the server accepted it (SMTP 250 to the end of DATA,
    /// Graph 202).
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), NotifyError> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(mail).await,
            Transport::Graph(graph) => graph.send(mail).await,
        }
    }
}

#[derive(Clone)]
struct SmtpMailer {
    settings: SmtpSettings,
    login: Login,
}

#[derive(Clone)]
enum Login {
    Password(AsyncSmtpTransport<Tokio1Executor>),
    OAuth {
        tokens: Arc<dyn AccessTokens>,
        /// The transport built for the current access token.
        current: Arc<tokio::sync::Mutex<Option<TokenTransport>>>,
    },
}

/// A pooled transport and the access token it logs in with.
struct TokenTransport {
    token: SecretString,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), NotifyError> {
        let (tokens, current) = match &self.login {
            Login::Password(transport) => return self.submit(transport, mail).await,
            Login::OAuth { tokens, current } => (tokens, current),
        };
        let transport = self.oauth_transport(tokens, current, false).await?;
        match self.submit(&transport, mail).await {
            Err(err) if err.failure() == Some(SmtpFailure::AuthRejected) => {
                // The token may have been revoked or cut short: one fresh token, one more try.
                let transport = self.oauth_transport(tokens, current, true).await?;
                self.submit(&transport, mail).await.map_err(token_refused)
            }
            other => other,
        }
    }

    /// The transport for the current access token, rebuilt when the token changed.
    async fn oauth_transport(
        &self,
        tokens: &Arc<dyn AccessTokens>,
        current: &tokio::sync::Mutex<Option<TokenTransport>>,
        refresh: bool,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let token = tokens
            .access_token(refresh)
            .await
            .map_err(|failure| NotifyError::token(self.settings.server(), false, &failure))?;
        let mut current = current.lock().await;
        if let Some(built) = current.as_ref()
            && built.token.expose_secret() == token.expose_secret()
        {
            return Ok(built.transport.clone());
        }
        let transport = build_transport(&self.settings, token.expose_secret(), &OAUTH_MECHANISMS)?;
        *current = Some(TokenTransport {
            token,
            transport: transport.clone(),
        });
        Ok(transport)
    }

    async fn submit(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        mail: &OutgoingMail,
    ) -> Result<(), NotifyError> {
        let deadline = self.send_deadline();
        match tokio::time::timeout(deadline, transport.send_raw(&mail.envelope, &mail.bytes)).await
        {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(err)) => Err(NotifyError::smtp(self.settings.server(), Stage::Send, err)),
            Err(_elapsed) => Err(NotifyError::timeout(
                self.settings.server(),
                Stage::Send,
                deadline,
            )),
        }
    }

    /// Whole-submission deadline: connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA and the final reply
    /// each get the command timeout from lettre; this outer bound stops a server that trickles bytes.
    fn send_deadline(&self) -> Duration {
        self.settings.command_timeout.saturating_mul(8)
    }
}

/// A refused login with a fresh token is about the token (or the app's permission), not a password.
pub(crate) fn token_refused(err: NotifyError) -> NotifyError {
    match err {
        NotifyError::Smtp {
            server,
            stage,
            failure: SmtpFailure::AuthRejected,
            reply,
        } => NotifyError::Smtp {
            server,
            stage,
            failure: SmtpFailure::TokenRejected,
            reply,
        },
        other => other,
    }
}

/// A pooled transport that logs in as the settings' username with `secret` (a password, or an
/// access token for XOAUTH2).
fn build_transport(
    settings: &SmtpSettings,
    secret: &str,
    mechanisms: &[Mechanism],
) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    let tls = settings.tls()?;
    // lettre keeps the secret in a plain `String` inside `Credentials` for the life of the
    // transport; that copy is the one place it lives outside the vault's zeroized buffers.
    let credentials = Credentials::new(settings.username.clone(), secret.to_owned());
    let pool = PoolConfig::new()
        .max_size(settings.pool_max_size.max(1))
        .min_idle(0)
        .idle_timeout(settings.pool_idle_timeout);
    Ok(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .tls(tls)
            .credentials(credentials)
            .authentication(mechanisms.to_vec())
            .timeout(Some(settings.command_timeout))
            .pool_config(pool)
            .build(),
    )
}
