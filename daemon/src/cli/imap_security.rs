//! `--security tls|starttls|plaintext` and `--ca-file`, shared by the commands that link an IMAP
//! mailbox (with a password or with OAuth): what each choice means for the connection, and the
//! CA file read into the PEM text stored with the mailbox.

use clap::ValueEnum;

use std::path::Path;

use crate::sources::imap::Security;

use super::exit::{CliError, Exit};

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

/// The certificates of `--ca-file` as the PEM text stored with the mailbox (checked: at least
/// one certificate usable as a trust anchor).
pub(super) fn read_ca_file(path: Option<&Path>) -> Result<Option<String>, CliError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::msg(
            Exit::Data,
            format!("add mailbox: read CA file {}: {e}", path.display()),
        )
    })?;
    crate::sources::imap::trust::parse_ca_pem(text.as_bytes()).map_err(|e| {
        CliError::msg(
            Exit::Data,
            format!("add mailbox: CA file {} {e}", path.display()),
        )
    })?;
    Ok(Some(text))
}
