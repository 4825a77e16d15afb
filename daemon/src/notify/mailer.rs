//! `Mailer`: one pooled, authenticated, TLS-only SMTP client for the customer's technical user.
//!
//! It wraps lettre's `AsyncSmtpTransport<Tokio1Executor>`. The transport is cheap to clone and keeps
//! up to `pool_max_size` connections open; a connection idle longer than `pool_idle_timeout` is
//! closed by us before the server gives up on it, and each reused connection is checked with NOOP.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::error::{NotifyError, Stage};
use super::settings::SmtpSettings;

/// AUTH mechanisms we use, in order of preference. Both need TLS, which is always on here.
pub(crate) const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// A formatted message ready for submission: envelope plus RFC 5322 bytes.
///
/// No `Debug`: the bytes are a notification for a user, and have no business in a log line.
pub struct OutgoingMail {
    pub(crate) envelope: Envelope,
    pub(crate) bytes: Vec<u8>,
    /// The Message-ID (with angle brackets), which is safe to log.
    pub message_id: String,
}

impl OutgoingMail {
    /// The formatted message, e.g. for a test that wants to inspect headers.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Pooled SMTP client. Clone it freely; clones share the pool.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: SmtpSettings,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport's Debug would print nothing secret either, but keep it short and certain.
        f.debug_struct("Mailer")
            .field("server", &self.settings.server())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Builds the client. Nothing is sent over the network until the first `send`; call
    /// [`super::test_connection`] to check the settings up front.
    pub fn new(settings: SmtpSettings, password: &SecretString) -> Result<Mailer, NotifyError> {
        let tls = settings.tls()?;
        // lettre keeps the password in a plain `String` inside `Credentials` for the life of the
        // transport; that copy is the one place it lives outside the vault's zeroized buffers.
        let credentials = Credentials::new(
            settings.username.clone(),
            password.expose_secret().to_owned(),
        );
        let pool = PoolConfig::new()
            .max_size(settings.pool_max_size.max(1))
            .min_idle(0)
            .idle_timeout(settings.pool_idle_timeout);
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .tls(tls)
                .credentials(credentials)
                .authentication(MECHANISMS.to_vec())
                .timeout(Some(settings.command_timeout))
                .pool_config(pool)
                .build();
        Ok(Mailer {
            transport,
            settings,
        })
    }

    /// The settings this client was built from.
    pub fn settings(&self) -> &SmtpSettings {
        &self.settings
    }

    /// Submits one message. Returns once the server answered 250 to the end of DATA.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), NotifyError> {
        let deadline = self.send_deadline();
        match tokio::time::timeout(
            deadline,
            self.transport.send_raw(&mail.envelope, &mail.bytes),
        )
        .await
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
