//! Where the shared test servers listen, read once from the `MAILSIG_TEST_*` variables that
//! `scripts/test.sh` exports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::imap::ImapEndpoint;
use super::smtp::SmtpEndpoint;
use super::tls::client_config_trusting;
use super::users::{MailUser, add_user};

const HINT: &str = "the end-to-end tests need the test servers: run scripts/test.sh \
                    (or `scripts/test-servers.sh start && . .test-servers/env` before cargo test)";

/// The shared test servers: Dovecot (IMAP), Postfix (SMTP submission delivering into Dovecot) and
/// PostgreSQL, all on 127.0.0.1.
#[derive(Clone, Debug)]
pub struct TestEnv {
    /// `MAILSIG_TEST_DIR`: the servers' state directory.
    pub dir: PathBuf,
    /// `MAILSIG_TEST_CA`: PEM of the CA that signed the servers' certificate (SAN localhost, 127.0.0.1).
    pub ca: PathBuf,
    /// `MAILSIG_TEST_IMAP_PORT`: IMAP, plaintext with STARTTLS.
    pub imap_port: u16,
    /// `MAILSIG_TEST_IMAPS_PORT`: IMAP over implicit TLS.
    pub imaps_port: u16,
    /// `MAILSIG_TEST_SMTP_PORT`: submission, STARTTLS required before AUTH.
    pub smtp_port: u16,
    /// `MAILSIG_TEST_SMTPS_PORT`: submission over implicit TLS.
    pub smtps_port: u16,
    /// `MAILSIG_TEST_PG_URL`: the `postgres` database as superuser (trust auth).
    pub pg_url: String,
    tls: Arc<rustls::ClientConfig>,
}

impl TestEnv {
    /// Reads the `MAILSIG_TEST_*` variables; the error says to run `scripts/test.sh` when one is
    /// missing.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`TestEnv::from_env`] over any source of variables (tests of the harness itself).
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| match lookup(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(anyhow::anyhow!("{name} is not set: {HINT}")),
        };
        let port = |name: &str| -> Result<u16> {
            let raw = var(name)?;
            raw.parse()
                .with_context(|| format!("{name}={raw:?} is not a port number"))
        };
        let dir = PathBuf::from(var("MAILSIG_TEST_DIR")?);
        let ca = PathBuf::from(var("MAILSIG_TEST_CA")?);
        let imap_port = port("MAILSIG_TEST_IMAP_PORT")?;
        let imaps_port = port("MAILSIG_TEST_IMAPS_PORT")?;
        let smtp_port = port("MAILSIG_TEST_SMTP_PORT")?;
        let smtps_port = port("MAILSIG_TEST_SMTPS_PORT")?;
        let pg_url = var("MAILSIG_TEST_PG_URL")?;
        let tls = client_config_trusting(&ca)?;
        Ok(Self {
            dir,
            ca,
            imap_port,
            imaps_port,
            smtp_port,
            smtps_port,
            pg_url,
            tls,
        })
    }

    /// The Dovecot users file (`name:{PLAIN}password::::::` lines; Dovecot re-reads it at most once
    /// a second, prefer [`TestEnv::create_mail_user`]).
    pub fn users_file(&self) -> PathBuf {
        self.dir.join("dovecot").join("users")
    }

    /// The directory of per-user passwd files (`<name>` holding one `name:{PLAIN}password::::::`
    /// line), seen by Dovecot at the next login.
    pub fn users_dir(&self) -> PathBuf {
        self.dir.join("dovecot").join("users.d")
    }

    /// The Maildir root: user `u`'s mail is under `<root>/u/Maildir`.
    pub fn mail_root(&self) -> PathBuf {
        self.dir.join("dovecot").join("mail")
    }

    /// A CA that did NOT sign the servers' certificate (made by the start script): a client that
    /// trusts only this must refuse the servers.
    pub fn untrusted_ca(&self) -> PathBuf {
        self.dir.join("tls-untrusted").join("ca.pem")
    }

    /// Creates a fresh mail user with a unique name and random password. It can log in to IMAP and
    /// SMTP at once, and receives mail sent by SMTP to `<name>@<any domain>`.
    pub fn create_mail_user(&self) -> Result<MailUser> {
        add_user(&self.users_dir(), "example.test")
    }

    /// The shared Dovecot as an [`ImapEndpoint`], with a client config trusting [`TestEnv::ca`].
    pub fn imap(&self) -> ImapEndpoint {
        ImapEndpoint::new(self.imap_port, self.imaps_port, Arc::clone(&self.tls))
    }

    /// The shared Postfix as an [`SmtpEndpoint`], with [`TestEnv::ca`] as trusted root.
    pub fn smtp(&self) -> Result<SmtpEndpoint> {
        SmtpEndpoint::new(self.smtp_port, self.smtps_port, &self.ca)
    }

    /// The rustls client config that trusts the test CA (and nothing else).
    pub fn tls_client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.tls)
    }

    /// Creates an empty database `t_<random>` and returns its URL.
    pub async fn fresh_pg_database(&self) -> Result<String> {
        super::pg::fresh_database(&self.pg_url).await
    }

    /// The test CA as a path (for configs that take a CA file).
    pub fn ca_path(&self) -> &Path {
        &self.ca
    }
}

#[cfg(test)]
mod tests {
    use super::TestEnv;

    #[test]
    fn a_missing_variable_says_to_run_the_test_script() {
        let err = TestEnv::from_lookup(|_| None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("MAILSIG_TEST_DIR is not set"), "{err}");
        assert!(err.contains("scripts/test.sh"), "{err}");
    }

    #[test]
    fn a_bad_port_is_named() {
        let err = TestEnv::from_lookup(|name| {
            Some(if name.ends_with("_PORT") {
                "x".into()
            } else {
                "/tmp".into()
            })
        })
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
        assert!(
            err.contains("MAILSIG_TEST_IMAP_PORT=\"x\" is not a port number"),
            "{err}"
        );
    }
}
