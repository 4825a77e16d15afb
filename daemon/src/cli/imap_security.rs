//! `--security tls|starttls|plaintext`, shared by the commands that link an IMAP mailbox (with a
//! password or with OAuth), and what each choice means for the connection.

use clap::ValueEnum;

use crate::sources::imap::Security;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SecurityArg {
    /// Implicit TLS (port 993).
    Tls,
    /// STARTTLS, required (port 143).
    Starttls,
    /// No encryption: only to a loopback address with imap.allow_plaintext_loopback.
    Plaintext,
}

impl From<SecurityArg> for Security {
    fn from(arg: SecurityArg) -> Security {
        match arg {
            SecurityArg::Tls => Security::ImplicitTls,
            SecurityArg::Starttls => Security::StartTls,
            SecurityArg::Plaintext => Security::Plaintext,
        }
    }
}
