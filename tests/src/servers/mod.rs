//! The real test servers, from a test's point of view: where they listen, and helpers that act on
//! them the way a mail user or an administrator would.
//!
//! Every test builds its own isolated world, because cargo runs tests in parallel and the servers are
//! shared: a fresh mail user ([`TestEnv::create_mail_user`]), a fresh PostgreSQL database
//! ([`TestEnv::fresh_pg_database`]), its own temp dir. Tests that need to break an IMAP server (kill
//! it, take IDLE away, present an untrusted certificate) start a [`PrivateDovecot`] instead.
//!
//! Helpers return `anyhow::Result` with context: this is test support, where the only consumer of an
//! error is a human reading a failed test. A missing `MAILSIG_TEST_*` variable is an error that says
//! to run `scripts/test.sh`; tests never skip themselves.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mailsig_tests::servers::{ImapSecurity, TestEnv};
//! let env = TestEnv::from_env()?;
//! let alice = env.create_mail_user()?;
//! env.imap().append(&alice, "INBOX", b"Subject: hi\r\n\r\nhello\r\n").await?;
//! assert_eq!(env.imap().fetch_all(&alice, "INBOX").await?.len(), 1);
//! let mut session = env.imap().login(&alice, ImapSecurity::Starttls).await?;
//! session.logout().await?;
//! # Ok(()) }
//! ```

mod env;
mod imap;
mod pg;
mod ports;
mod private_dovecot;
mod private_pg;
mod smtp;
mod tls;
mod users;

pub use env::TestEnv;
pub use imap::{FetchedMessage, ImapEndpoint, ImapSecurity, ImapSession};
pub use ports::{free_port, wait_for_port};
pub use private_dovecot::{PrivateDovecot, PrivateDovecotOptions};
pub use private_pg::PrivatePg;
pub use smtp::{SmtpEndpoint, SmtpSecurity};
pub use tls::client_config_trusting;
pub use users::MailUser;

/// Shortcut for `TestEnv::from_env()?.create_mail_user()`.
pub fn create_mail_user() -> anyhow::Result<MailUser> {
    TestEnv::from_env()?.create_mail_user()
}

/// Shortcut for `TestEnv::from_env()?.fresh_pg_database()`.
pub async fn fresh_pg_database() -> anyhow::Result<String> {
    TestEnv::from_env()?.fresh_pg_database().await
}
