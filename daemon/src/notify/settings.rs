//! How to reach the customer's SMTP "technical user": the settings, and the TLS policy built from them.
//!
//! The policy is fixed on purpose: implicit TLS or STARTTLS that must succeed (never opportunistic),
//! TLS 1.2 or newer, certificates always verified (against the web PKI roots plus an optional CA file).
//! There is no switch to turn verification off.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters, TlsVersion};

use super::error::NotifyError;
use crate::domain::TlsMode;

/// Default time allowed for one SMTP command (connect, EHLO, AUTH, DATA…).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default idle time after which a pooled connection is closed by us. Postfix closes idle clients
/// after 300 s (`smtpd_timeout`), many providers after 60 s; 30 s stays below both, which avoids the
/// "incomplete response" on a connection the server already dropped (lettre issue #743).
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of pooled connections; notifications are few, one or two connections suffice.
pub const DEFAULT_POOL_MAX_SIZE: u32 = 2;

/// Everything needed to submit mail through the customer's SMTP account, except the password,
/// which comes from the vault and is passed separately so this struct can be logged and cloned freely.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Host name (or IP address) of the server; also the name the certificate must carry.
    pub host: String,
    pub port: u16,
    pub security: TlsMode,
    /// Login of the technical user (AUTH PLAIN or LOGIN).
    pub username: String,
    /// The From address of every notification.
    pub from: Mailbox,
    /// Extra trusted CA certificates (PEM), for servers with a private CA.
    pub ca_file: Option<PathBuf>,
    pub command_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_size: u32,
}

impl SmtpSettings {
    /// Settings with the default timeouts and pool size.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        security: TlsMode,
        username: impl Into<String>,
        from: Mailbox,
    ) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port,
            security,
            username: username.into(),
            from,
            ca_file: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_size: DEFAULT_POOL_MAX_SIZE,
        }
    }

    /// Trust the CA certificates in this PEM file in addition to the web PKI roots.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> SmtpSettings {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// TLS parameters: TLS 1.2+, verified certificate for `host`, the CA file's certificates added.
    pub(crate) fn tls_parameters(&self) -> Result<TlsParameters, NotifyError> {
        let mut builder =
            TlsParameters::builder(self.host.clone()).set_min_tls_version(TlsVersion::Tlsv12);
        if let Some(path) = &self.ca_file {
            builder = builder.add_root_certificate(read_ca_file(path)?);
        }
        builder
            .build_rustls()
            .map_err(|source| NotifyError::TlsSetup {
                server: self.server(),
                source,
            })
    }

    /// The lettre TLS mode for this security setting (never `Opportunistic`, never `None`).
    pub(crate) fn tls(&self) -> Result<Tls, NotifyError> {
        match self.security {
            TlsMode::ImplicitTls => Ok(Tls::Wrapper(self.tls_parameters()?)),
            TlsMode::StartTls => Ok(Tls::Required(self.tls_parameters()?)),
            TlsMode::Plaintext => Err(NotifyError::PlaintextRefused {
                server: self.server(),
            }),
        }
    }
}

/// Reads a PEM file and insists that it holds at least one certificate, so that a wrong path or an
/// empty file is reported as such rather than as an "untrusted certificate" later.
fn read_ca_file(path: &std::path::Path) -> Result<Certificate, NotifyError> {
    let pem = std::fs::read(path).map_err(|source| NotifyError::CaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let n_certs = rustls_pemfile::certs(&mut pem.as_slice())
        .filter(|cert| cert.is_ok())
        .count();
    if n_certs == 0 {
        return Err(NotifyError::CaFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Certificate::from_pem(&pem).map_err(|_| NotifyError::CaFileEmpty {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_settings_get_an_error_instead_of_an_unencrypted_session() {
        let from: Mailbox = "mailsig <mailsig@example.com>".parse().expect("mailbox");
        let settings = SmtpSettings::new("localhost", 587, TlsMode::Plaintext, "u", from);
        let err = settings.tls().expect_err("plaintext must be refused");
        assert!(matches!(err, NotifyError::PlaintextRefused { .. }), "{err}");
    }

    #[test]
    fn empty_ca_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        let from: Mailbox = "mailsig <mailsig@example.com>".parse().expect("mailbox");
        let settings = SmtpSettings::new("localhost", 465, TlsMode::ImplicitTls, "u", from)
            .with_ca_file(&path);
        let err = settings.tls().expect_err("must fail");
        assert!(matches!(err, NotifyError::CaFileEmpty { .. }), "{err}");
        assert!(err.to_string().contains("ca.pem"));
    }
}
