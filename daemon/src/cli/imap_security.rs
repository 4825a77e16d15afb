//! `--security tls|starttls|plaintext` and `--ca-file`, shared by the commands that link an IMAP
//! mailbox (with a password or with OAuth): what each choice means for the connection, and the
//! CA file read into the PEM text stored with the mailbox.

use clap::ValueEnum;
use clap::builder::PossibleValue;

use std::path::Path;

use crate::domain::TlsMode;

use super::exit::{CliError, Exit};

/// `--security`: the modes by their form names, each with what it means on the command line.
impl ValueEnum for TlsMode {
    fn value_variants<'a>() -> &'a [Self] {
        &TlsMode::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            TlsMode::ImplicitTls => "Implicit TLS (port 993)",
            TlsMode::StartTls => "STARTTLS, required (port 143)",
            TlsMode::Plaintext => {
                "No encryption: only to a loopback address with imap.allow_plaintext_loopback"
            }
        };
        Some(PossibleValue::new(self.form_name()).help(help))
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
