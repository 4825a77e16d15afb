//! What a user tells us about one IMAP mailbox, as stored (JSON) by the store, and its validation.
//!
//! The password is deliberately not here: it lives in the vault and reaches the connection code as a
//! `SecretString` only for the moment of LOGIN.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{ImapError, ImapErrorKind};

/// The folder watched when the user names none.
pub const DEFAULT_FOLDER: &str = "INBOX";

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS from the first byte (usually port 993).
    ImplicitTls,
    /// Plain connection upgraded by STARTTLS, which must be offered and must succeed (usually port 143).
    StartTls,
    /// No encryption at all: only accepted when explicitly allowed and the host is a loopback address.
    Plaintext,
}

impl Security {
    /// The port IMAP servers listen on for this kind of connection: 993 for implicit TLS (RFC 8314),
    /// 143 otherwise. The one place the CLI, the API and the pages take a missing port from.
    pub const fn default_port(self) -> u16 {
        match self {
            Security::ImplicitTls => 993,
            Security::StartTls | Security::Plaintext => 143,
        }
    }

    /// The spelling users type and forms send: `tls`, `starttls`, `plaintext`.
    pub const fn form_name(self) -> &'static str {
        match self {
            Security::ImplicitTls => "tls",
            Security::StartTls => "starttls",
            Security::Plaintext => "plaintext",
        }
    }

    /// The inverse of [`Security::form_name`].
    pub fn from_form_name(name: &str) -> Option<Security> {
        [
            Security::ImplicitTls,
            Security::StartTls,
            Security::Plaintext,
        ]
        .into_iter()
        .find(|security| security.form_name() == name)
    }
}

/// The settings of one IMAP mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    /// Folders to watch, one connection each. Empty means INBOX.
    #[serde(default)]
    pub folders: Vec<String>,
    /// A PEM file with the CA certificate(s) to trust instead of the public web roots (records
    /// linked by the operator's CLI before the CA was stored with the mailbox; see `trust`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The CA certificate(s) to trust instead of any other, as PEM text given when linking a
    /// server with a private CA (public, not a secret; see `trust`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// How many of the most recent messages to process when the mailbox is first linked (0: only new mail).
    #[serde(default)]
    pub backfill: u32,
    /// Added by the operator (CLI): connected to by name, unchecked. Otherwise (a user linked
    /// it, or a record from before this field existed) every connection resolves the host,
    /// checks every address against `sources::host_guard` and connects to exactly those.
    #[serde(default)]
    pub operator_trusted: bool,
}

/// Limits and timings shared by every watcher; filled from the `[imap]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapOptions {
    /// Plaintext connections are refused unless this is set and the host is a loopback address.
    pub allow_plaintext_loopback: bool,
    /// Users (not the operator's CLI) may link servers on loopback, private, link-local or CGNAT
    /// addresses. Off by default: otherwise any signed-in user could make the daemon connect to
    /// services inside the operator's network (see `sources::host_guard`).
    pub allow_private_hosts: bool,
    /// Host names or IP addresses users may link even though they are internal (lower case).
    pub allowed_hosts: Vec<String>,
    /// Messages larger than this (RFC822.SIZE) are skipped without being fetched.
    pub max_message_bytes: u64,
    /// IDLE is ended and re-issued after this long (RFC 2177: before 29 minutes).
    pub idle_renew: std::time::Duration,
    /// Without a server response for this long during IDLE, the link is checked with DONE.
    pub idle_wake: std::time::Duration,
    /// Interval between checks when the server does not offer IDLE.
    pub poll_interval: std::time::Duration,
    /// Simultaneous connections to one host (all mailboxes and folders together).
    pub max_connections_per_host: usize,
    /// Folders one mailbox may watch (each is a connection of its own).
    pub max_folders_per_mailbox: usize,
    /// Time a server has for each step of opening a connection: the TCP connect, the TLS
    /// handshake, the greeting, STARTTLS (a server that accepts and then says nothing).
    pub connect_timeout: std::time::Duration,
    /// Time a server has to answer one command (CAPABILITY, EXAMINE, the UID listing, NOOP).
    pub command_timeout: std::time::Duration,
    /// Time a server has to deliver one message body, however slowly it trickles it.
    pub fetch_timeout: std::time::Duration,
    /// After a UIDVALIDITY change, mail that arrived within this window (by INTERNALDATE, in
    /// whole days) is offered again; the processed markers drop what was already done. Zero:
    /// start from the new UIDNEXT.
    pub uidvalidity_rescan: std::time::Duration,
    /// First and largest delay between reconnection attempts (jitter is added).
    pub backoff_initial: std::time::Duration,
    pub backoff_max: std::time::Duration,
    /// The operator's extra certificate authorities (`[imap] ca_file`), trusted with the public
    /// roots by every mailbox that has no CA of its own.
    pub operator_roots: super::trust::OperatorRoots,
}

impl Default for ImapOptions {
    fn default() -> Self {
        use std::time::Duration;
        Self {
            allow_plaintext_loopback: false,
            allow_private_hosts: false,
            allowed_hosts: Vec::new(),
            max_message_bytes: 25 * 1024 * 1024,
            idle_renew: Duration::from_secs(25 * 60),
            idle_wake: Duration::from_secs(5 * 60),
            poll_interval: Duration::from_secs(60),
            max_connections_per_host: 2000,
            max_folders_per_mailbox: 20,
            connect_timeout: Duration::from_secs(20),
            command_timeout: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(5 * 60),
            uidvalidity_rescan: Duration::from_secs(7 * 24 * 3600),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            operator_roots: super::trust::OperatorRoots::default(),
        }
    }
}

impl ImapSettings {
    /// The folders to watch, INBOX when none were given.
    pub fn folders(&self) -> Vec<String> {
        if self.folders.is_empty() {
            vec![DEFAULT_FOLDER.to_owned()]
        } else {
            self.folders.clone()
        }
    }

    /// Reads the settings as the store keeps them (the JSON written by `serde_json::to_value`).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ImapError> {
        Self::deserialize(value).map_err(|e| {
            ImapError::new(
                ImapErrorKind::InvalidSettings,
                "?",
                format!("stored IMAP settings are unreadable: {e}"),
            )
        })
    }

    /// The JSON the store keeps.
    pub fn to_json(&self) -> serde_json::Value {
        // Serialising plain strings, numbers and enums cannot fail; fall back to null rather than panic.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Checks what can be checked without the network.
    pub fn validate(&self, options: &ImapOptions) -> Result<(), ImapError> {
        let invalid =
            |why: &str| ImapError::new(ImapErrorKind::InvalidSettings, &self.host, why.to_owned());
        if self.host.trim().is_empty() {
            return Err(invalid("host is empty"));
        }
        if self.port == 0 {
            return Err(invalid("port is 0"));
        }
        if self.username.is_empty() {
            return Err(invalid("username is empty"));
        }
        if self
            .folders
            .iter()
            .any(|f| f.is_empty() || f.contains(['\r', '\n', '"']))
        {
            return Err(invalid(
                "a folder name is empty or contains a quote or line break",
            ));
        }
        if self.folders.len() > options.max_folders_per_mailbox {
            return Err(ImapError::new(
                ImapErrorKind::InvalidSettings,
                &self.host,
                format!(
                    "more folders than imap.max_folders_per_mailbox allows ({})",
                    options.max_folders_per_mailbox
                ),
            ));
        }
        if self.security == Security::Plaintext {
            if !options.allow_plaintext_loopback {
                return Err(invalid(
                    "plaintext IMAP is not allowed (imap.allow_plaintext_loopback is off)",
                ));
            }
            if !is_loopback(&self.host) {
                return Err(invalid(
                    "plaintext IMAP is only allowed to a loopback address",
                ));
            }
        }
        Ok(())
    }
}

/// True for `localhost` and loopback IP literals; names are not resolved (a DNS answer could lie).
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_security_has_one_default_port_and_form_name() {
        assert_eq!(Security::ImplicitTls.default_port(), 993);
        assert_eq!(Security::StartTls.default_port(), 143);
        assert_eq!(Security::Plaintext.default_port(), 143);
        for security in [
            Security::ImplicitTls,
            Security::StartTls,
            Security::Plaintext,
        ] {
            assert_eq!(
                Security::from_form_name(security.form_name()),
                Some(security)
            );
        }
        assert_eq!(Security::from_form_name("ssl"), None);
    }

    fn settings(security: Security, host: &str) -> ImapSettings {
        ImapSettings {
            host: host.into(),
            port: 993,
            security,
            username: "u".into(),
            folders: vec![],
            ca_file: None,
            ca_pem: None,
            backfill: 0,
            operator_trusted: false,
        }
    }

    #[test]
    fn plaintext_needs_permission_and_loopback() {
        let mut options = ImapOptions::default();
        let local = settings(Security::Plaintext, "127.0.0.1");
        assert!(local.validate(&options).is_err());
        options.allow_plaintext_loopback = true;
        assert!(local.validate(&options).is_ok());
        assert!(
            settings(Security::Plaintext, "::1")
                .validate(&options)
                .is_ok()
        );
        assert!(
            settings(Security::Plaintext, "mail.example.com")
                .validate(&options)
                .is_err()
        );
        assert!(
            settings(Security::Plaintext, "10.0.0.1")
                .validate(&options)
                .is_err()
        );
        assert!(
            settings(Security::ImplicitTls, "mail.example.com")
                .validate(&options)
                .is_ok()
        );
    }

    #[test]
    fn folders_default_to_inbox_and_round_trip_as_json() -> Result<(), serde_json::Error> {
        let s = settings(Security::StartTls, "mail.example.com");
        assert_eq!(s.folders(), vec!["INBOX".to_owned()]);
        let json = serde_json::to_string(&s)?;
        assert!(json.contains("\"start_tls\""));
        let back: ImapSettings = serde_json::from_str(&json)?;
        assert_eq!(back, s);
        Ok(())
    }

    #[test]
    fn more_folders_than_the_cap_are_refused() {
        let options = ImapOptions {
            max_folders_per_mailbox: 3,
            ..ImapOptions::default()
        };
        let mut s = settings(Security::ImplicitTls, "mail.example.com");
        s.folders = (0..3).map(|i| format!("f{i}")).collect();
        assert!(s.validate(&options).is_ok());
        s.folders.push("f3".into());
        let error = s.validate(&options).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("imap.max_folders_per_mailbox")),
            "{error:?}"
        );
    }

    #[test]
    fn folder_names_with_quotes_are_refused() {
        let mut s = settings(Security::ImplicitTls, "mail.example.com");
        s.folders = vec!["a\"b".into()];
        assert!(s.validate(&ImapOptions::default()).is_err());
    }
}
