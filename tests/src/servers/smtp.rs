//! SMTP submission as a test needs it: send a raw message with AUTH over STARTTLS or implicit TLS,
//! verifying the server against the test CA, and check that a login is refused.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::users::MailUser;

/// Bound on each SMTP command, so a broken server fails the test instead of hanging it.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the submission connection gets its TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plaintext port, STARTTLS required (the server offers AUTH only after it).
    Starttls,
    /// The implicit-TLS port (SMTPS).
    Implicit,
}

/// A submission server on 127.0.0.1 (host name `localhost` for certificate checks).
#[derive(Clone, Debug)]
pub struct SmtpEndpoint {
    /// The STARTTLS port.
    pub starttls_port: u16,
    /// The implicit-TLS port.
    pub implicit_port: u16,
    ca_pem: Vec<u8>,
}

impl SmtpEndpoint {
    /// An endpoint whose certificate is verified against the PEM CA file `ca`.
    pub fn new(starttls_port: u16, implicit_port: u16, ca: &Path) -> Result<Self> {
        let ca_pem = std::fs::read(ca).with_context(|| format!("read CA file {}", ca.display()))?;
        Ok(Self {
            starttls_port,
            implicit_port,
            ca_pem,
        })
    }

    /// A lettre transport logging in as `login`/`password` with `security` (no connection made yet).
    pub fn transport(
        &self,
        login: &str,
        password: &str,
        security: SmtpSecurity,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
        let params = TlsParameters::builder("localhost".to_owned())
            .add_root_certificate(Certificate::from_pem(&self.ca_pem).context("parse test CA")?)
            .build_rustls()
            .context("SMTP TLS parameters")?;
        let (port, tls) = match security {
            SmtpSecurity::Starttls => (self.starttls_port, Tls::Required(params)),
            SmtpSecurity::Implicit => (self.implicit_port, Tls::Wrapper(params)),
        };
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
                .port(port)
                .tls(tls)
                .timeout(Some(SMTP_TIMEOUT))
                .credentials(Credentials::new(login.to_owned(), password.to_owned()))
                .build(),
        )
    }

    /// Submits `raw` as `sender` (AUTH with its credentials, MAIL FROM its address) to `to`.
    pub async fn send_raw(
        &self,
        sender: &MailUser,
        security: SmtpSecurity,
        to: &str,
        raw: &[u8],
    ) -> Result<()> {
        let transport = self.transport(&sender.name, &sender.password, security)?;
        let from: Address = sender
            .address
            .parse()
            .with_context(|| format!("sender address {}", sender.address))?;
        let to: Address = to
            .parse()
            .with_context(|| format!("recipient address {to}"))?;
        let envelope = Envelope::new(Some(from), vec![to]).context("SMTP envelope")?;
        transport
            .send_raw(&envelope, raw)
            .await
            .with_context(|| format!("SMTP submission as {} ({security:?})", sender.name))?;
        Ok(())
    }

    /// Connects and logs in as `login`/`password`, then quits. The error is lettre's, so a test can
    /// check its class (a refused login is `is_permanent()`, code 535).
    pub async fn try_login(
        &self,
        login: &str,
        password: &str,
        security: SmtpSecurity,
    ) -> Result<Result<(), lettre::transport::smtp::Error>> {
        let transport = self.transport(login, password, security)?;
        Ok(transport.test_connection().await.map(|_| ()))
    }
}
