//! One error type for everything the IMAP source does, with a kind that retry decisions branch on.
//!
//! Messages never contain a password, a subject, a body or anything else the server sent: only
//! the host, the kind, the command and a fixed text. A library's `Display` is not safe for that:
//! async-imap's parse error quotes the whole buffered response (a fetched body literal
//! included), its `NO`/`BAD` errors carry the server's reply text, which can echo user input.
//! So a library error is reduced here to its kind and a fixed sentence ([`session_error_text`]).

use std::fmt;

/// What went wrong, coarsely enough to decide between "retry later" and "tell the user".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapErrorKind {
    /// The settings cannot work (plaintext to a remote host, empty host, bad CA file…).
    InvalidSettings,
    /// DNS, TCP connect or connect timeout failed.
    Unreachable,
    /// The server's certificate is not trusted (unknown CA, wrong name, expired…).
    TlsUntrusted,
    /// The TLS handshake failed for another reason (protocol version, alert…).
    Tls,
    /// STARTTLS was required but the server does not offer it or refused it.
    StartTlsUnavailable,
    /// The server refused the username or password.
    AuthFailed,
    /// An OAuth-linked mailbox: the provider refused the grant (`invalid_grant`), or the server
    /// refused a freshly refreshed access token. Only signing in at the provider again helps.
    NeedsReconsent,
    /// The folder does not exist or cannot be examined.
    FolderUnavailable,
    /// The connection broke, the server said BYE, or a read/write failed.
    ConnectionLost,
    /// A command got no answer in time.
    Timeout,
    /// The server answered something we cannot use (BAD, missing UIDVALIDITY…).
    Protocol,
    /// The server announced a literal larger than the message size limit (whatever RFC822.SIZE said).
    Oversized,
    /// The server sent a line longer than the line limit.
    LineTooLong,
    /// The pipeline or store could not take the message; the watcher retries from its last cursor.
    Sink,
}

impl ImapErrorKind {
    /// A stable name for logs, metrics and the needs-attention reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSettings => "invalid_settings",
            Self::Unreachable => "unreachable",
            Self::TlsUntrusted => "tls_untrusted",
            Self::Tls => "tls",
            Self::StartTlsUnavailable => "starttls_unavailable",
            Self::AuthFailed => "auth_failed",
            Self::NeedsReconsent => "needs_reconsent",
            Self::FolderUnavailable => "folder_unavailable",
            Self::ConnectionLost => "connection_lost",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::Oversized => "oversized",
            Self::LineTooLong => "line_too_long",
            Self::Sink => "sink",
        }
    }

    /// A short fixed sentence for people (the owner's notice, the CLI): never server or message text.
    pub fn describe(self) -> &'static str {
        match self {
            Self::InvalidSettings => "invalid IMAP settings",
            Self::Unreachable => "IMAP server unreachable",
            Self::TlsUntrusted => "IMAP server certificate not trusted",
            Self::Tls => "TLS handshake with IMAP server failed",
            Self::StartTlsUnavailable => {
                "IMAP server does not offer STARTTLS (refusing to continue unencrypted)"
            }
            Self::AuthFailed => "IMAP authentication failed (wrong username or password)",
            Self::NeedsReconsent => {
                "the mail provider no longer accepts this mailbox's sign-in; link the mailbox again"
            }
            Self::FolderUnavailable => "IMAP folder cannot be examined",
            Self::ConnectionLost => "IMAP connection lost",
            Self::Timeout => "IMAP server did not answer in time",
            Self::Protocol => "unexpected IMAP server response",
            Self::Oversized => "IMAP server sent a message larger than the size limit",
            Self::LineTooLong => "IMAP server sent a line longer than the limit",
            Self::Sink => "could not hand the message to the pipeline",
        }
    }
}

/// An IMAP source error with its context.
#[derive(Debug)]
pub struct ImapError {
    kind: ImapErrorKind,
    host: String,
    detail: String,
}

impl ImapError {
    pub fn new(kind: ImapErrorKind, host: &str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            host: host.to_owned(),
            detail: detail.into(),
        }
    }

    pub fn kind(&self) -> ImapErrorKind {
        self.kind
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Worth retrying later with backoff: the network, the server's state or our pipeline may recover.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ImapErrorKind::Unreachable
                | ImapErrorKind::ConnectionLost
                | ImapErrorKind::Timeout
                | ImapErrorKind::Protocol
                | ImapErrorKind::Oversized
                | ImapErrorKind::LineTooLong
                | ImapErrorKind::FolderUnavailable
                | ImapErrorKind::Sink
        )
    }

    /// Retrying cannot help until a person changes the credentials or settings; the mailbox needs attention.
    pub fn needs_attention(&self) -> bool {
        !self.is_transient()
    }

    pub fn is_auth_failure(&self) -> bool {
        self.kind == ImapErrorKind::AuthFailed
    }

    /// Maps a library error that happened after the connection was set up. The library's text
    /// is dropped (see the module doc); `what` names the command.
    pub(crate) fn from_session(host: &str, what: &str, error: async_imap::error::Error) -> Self {
        use super::framing::FramingViolation;
        use async_imap::error::Error as E;
        let kind = match &error {
            E::Io(e) => match FramingViolation::of(e) {
                Some(FramingViolation::LiteralTooLarge) => ImapErrorKind::Oversized,
                Some(FramingViolation::LineTooLong) => ImapErrorKind::LineTooLong,
                None if e.kind() == std::io::ErrorKind::Other => ImapErrorKind::Protocol,
                None => ImapErrorKind::ConnectionLost,
            },
            E::ConnectionLost => ImapErrorKind::ConnectionLost,
            _ => ImapErrorKind::Protocol,
        };
        Self::new(
            kind,
            host,
            format!("{what}: {}", session_error_text(&error)),
        )
    }

    pub(crate) fn timeout(host: &str, what: &str) -> Self {
        Self::new(
            ImapErrorKind::Timeout,
            host,
            format!("{what}: no answer in time"),
        )
    }
}

/// A fixed sentence for a library error: never its `Display`, which can quote server text.
pub(crate) fn session_error_text(error: &async_imap::error::Error) -> &'static str {
    use async_imap::error::Error as E;
    match error {
        E::Io(e) => io_error_text(e),
        E::ConnectionLost => "the connection was lost",
        E::No(_) => "the server refused the command (NO)",
        E::Bad(_) => "the server rejected the command as invalid (BAD)",
        E::Parse(_) => "the server sent a response that cannot be used",
        E::Validate(_) => "a command argument holds a character IMAP does not allow",
        _ => "the IMAP library reported an error",
    }
}

/// A fixed sentence for an I/O error of the IMAP stream.
pub(crate) fn io_error_text(error: &std::io::Error) -> &'static str {
    use super::framing::FramingViolation;
    use std::io::ErrorKind as Io;
    match FramingViolation::of(error) {
        Some(FramingViolation::LiteralTooLarge) => {
            return "the server announced more bytes than the message size limit";
        }
        Some(FramingViolation::LineTooLong) => {
            return "the server sent a line longer than the line limit";
        }
        None => {}
    }
    match error.kind() {
        // async-imap reports a response it cannot parse as an `io::Error` of kind `Other`
        // whose text quotes the whole buffered response.
        Io::Other => "the server sent a response that cannot be parsed",
        Io::UnexpectedEof => "the server closed the connection",
        Io::TimedOut => "the connection timed out",
        _ => "reading from or writing to the connection failed",
    }
}

impl fmt::Display for ImapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.describe(),
            self.host,
            self.detail
        )
    }
}

impl std::error::Error for ImapError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_tls_problems_are_not_retried() {
        for kind in [
            ImapErrorKind::AuthFailed,
            ImapErrorKind::TlsUntrusted,
            ImapErrorKind::StartTlsUnavailable,
            ImapErrorKind::InvalidSettings,
        ] {
            let e = ImapError::new(kind, "h", "x");
            assert!(e.needs_attention(), "{kind:?}");
        }
        assert!(ImapError::new(ImapErrorKind::ConnectionLost, "h", "x").is_transient());
        assert!(ImapError::new(ImapErrorKind::Unreachable, "h", "x").is_transient());
    }

    #[test]
    fn library_errors_never_carry_the_servers_text() {
        use async_imap::error::Error as E;
        let canary = "CANARY-body-text";
        let parse = std::io::Error::other(format!(
            "Error(Tag) during parsing of \"* 1 FETCH (X-ODD 1 BODY[] {{16}}\r\n{canary}\""
        ));
        let cases = [
            (E::Io(parse), ImapErrorKind::Protocol),
            (
                E::No(format!("code: None, info: Some({canary:?})")),
                ImapErrorKind::Protocol,
            ),
            (E::Bad(canary.into()), ImapErrorKind::Protocol),
            (
                E::Parse(async_imap::error::ParseError::Invalid(canary.into())),
                ImapErrorKind::Protocol,
            ),
            (
                E::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    canary,
                )),
                ImapErrorKind::ConnectionLost,
            ),
        ];
        for (error, kind) in cases {
            let e = ImapError::from_session("mail.example.com", "UID FETCH", error);
            let text = e.to_string();
            assert_eq!(e.kind(), kind, "{text}");
            assert!(!text.contains("CANARY"), "{text}");
            assert!(
                text.contains("UID FETCH") && text.contains("mail.example.com"),
                "{text}"
            );
        }
    }

    #[test]
    fn display_names_the_problem_and_host() {
        let e = ImapError::new(ImapErrorKind::AuthFailed, "mail.example.com", "NO");
        let text = e.to_string();
        assert!(text.contains("authentication failed"), "{text}");
        assert!(text.contains("mail.example.com"), "{text}");
    }
}
