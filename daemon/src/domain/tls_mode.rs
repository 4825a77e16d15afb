//! How a connection to a mail server is protected: one type for the IMAP sources, the SMTP
//! notifier, the CLI, the API and the pages, so that a mode has one spelling and one default port
//! per protocol instead of a copy in each of them.
//!
//! `Plaintext` exists for IMAP bridges on loopback (refused elsewhere by the IMAP settings'
//! validation); the SMTP configuration refuses it outright, and the notifier's TLS set-up answers
//! it with an error rather than falling back to an unencrypted session.

use serde::{Deserialize, Serialize};

/// The mail protocols whose default ports [`TlsMode::default_port`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailProtocol {
    /// IMAP (RFC 9051): 993 with implicit TLS, 143 otherwise.
    Imap,
    /// Message submission (RFC 6409, RFC 8314): 465 with implicit TLS, 587 otherwise.
    Submission,
}

/// How the connection is encrypted. Stored (IMAP settings JSON) as `implicit_tls`, `start_tls`,
/// `plaintext`; typed in forms, the CLI and the config file as `tls`, `starttls`, `plaintext`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS from the first byte (RFC 8314).
    ImplicitTls,
    /// A plain connection upgraded by STARTTLS, which must be offered and must succeed (never
    /// opportunistic).
    StartTls,
    /// No encryption at all.
    Plaintext,
}

impl TlsMode {
    /// Every mode, in the order forms offer them.
    pub const ALL: [TlsMode; 3] = [TlsMode::ImplicitTls, TlsMode::StartTls, TlsMode::Plaintext];

    /// The port servers of `protocol` listen on for this mode. The one place the CLI, the API,
    /// the pages and the configuration take a missing port from.
    pub const fn default_port(self, protocol: MailProtocol) -> u16 {
        match (protocol, self) {
            (MailProtocol::Imap, TlsMode::ImplicitTls) => 993,
            (MailProtocol::Imap, TlsMode::StartTls | TlsMode::Plaintext) => 143,
            (MailProtocol::Submission, TlsMode::ImplicitTls) => 465,
            (MailProtocol::Submission, TlsMode::StartTls | TlsMode::Plaintext) => 587,
        }
    }

    /// The spelling users type and forms send: `tls`, `starttls`, `plaintext`.
    pub const fn form_name(self) -> &'static str {
        match self {
            TlsMode::ImplicitTls => "tls",
            TlsMode::StartTls => "starttls",
            TlsMode::Plaintext => "plaintext",
        }
    }

    /// The inverse of [`TlsMode::form_name`] (exact).
    pub fn from_form_name(name: &str) -> Option<TlsMode> {
        TlsMode::ALL
            .into_iter()
            .find(|mode| mode.form_name() == name)
    }

    /// The configuration file's spelling: the form names in any case, plus the aliases operators
    /// write for implicit TLS (`implicit`, `implicit-tls`, `smtps`, `imaps`).
    pub fn parse(text: &str) -> Option<TlsMode> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "implicit" | "implicit-tls" | "smtps" | "imaps" => Some(TlsMode::ImplicitTls),
            other => TlsMode::from_form_name(other),
        }
    }

    /// Whether the connection is encrypted.
    pub const fn is_encrypted(self) -> bool {
        !matches!(self, TlsMode::Plaintext)
    }
}

impl std::fmt::Display for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.form_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_follow_rfc_8314_for_both_protocols() {
        use MailProtocol::{Imap, Submission};
        assert_eq!(TlsMode::ImplicitTls.default_port(Imap), 993);
        assert_eq!(TlsMode::StartTls.default_port(Imap), 143);
        assert_eq!(TlsMode::Plaintext.default_port(Imap), 143);
        assert_eq!(TlsMode::ImplicitTls.default_port(Submission), 465);
        assert_eq!(TlsMode::StartTls.default_port(Submission), 587);
    }

    #[test]
    fn form_names_round_trip_and_the_config_accepts_aliases() {
        for mode in TlsMode::ALL {
            assert_eq!(TlsMode::from_form_name(mode.form_name()), Some(mode));
            assert_eq!(TlsMode::parse(&mode.to_string().to_uppercase()), Some(mode));
        }
        assert_eq!(TlsMode::parse(" smtps "), Some(TlsMode::ImplicitTls));
        assert_eq!(TlsMode::parse("implicit"), Some(TlsMode::ImplicitTls));
        assert_eq!(TlsMode::from_form_name("ssl"), None);
        assert_eq!(TlsMode::parse("opportunistic"), None);
    }

    #[test]
    fn the_stored_spelling_is_unchanged() {
        assert_eq!(
            serde_json::to_string(&TlsMode::StartTls).expect("serialize"),
            "\"start_tls\""
        );
        assert_eq!(
            serde_json::from_str::<TlsMode>("\"implicit_tls\"").expect("deserialize"),
            TlsMode::ImplicitTls
        );
    }
}
