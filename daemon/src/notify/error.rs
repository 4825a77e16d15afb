//! `NotifyError`: every way sending a notification can fail, sorted into the three classes the
//! outbox worker decides on: transient (retry with backoff), permanent (mark failed, never retry)
//! and configuration (the message is fine but the SMTP settings are not: keep it and retry, so that
//! nothing is lost while the operator fixes the password or the CA file).
//!
//! The classification is made from lettre's error kinds and the SMTP reply code, never from message
//! text alone (the one exception, STARTTLS not offered, is a lettre client error with no other marker).
//!
//! What is kept of a failure is a kind with a fixed sentence ([`SmtpFailure::describe`]) and the
//! reply code, never the server's reply text or a library's message: a relay may put anything
//! into its reply (the recipient, words of the refused message), and the error goes into the
//! outbox's `last_error`, the log and the CLI. The lettre error is not kept as a source either, so
//! that no chain of causes can print it.
//! The Graph transport's HTTP answers and a failed OAuth token request map onto the same classes.

use std::path::PathBuf;

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::response::Severity;

/// The step of the SMTP conversation that failed, when it is known (the pooled sender only knows
/// that "sending" failed; the connection test knows each step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Getting an OAuth access token from the identity provider.
    Token,
    Connect,
    StartTls,
    Auth,
    Send,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Token => "token",
            Stage::Connect => "connect",
            Stage::StartTls => "starttls",
            Stage::Auth => "authenticate",
            Stage::Send => "send",
        })
    }
}

/// What went wrong, in the words an operator needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpFailure {
    /// TCP connection refused, host unknown, network down, or the connection dropped mid-way.
    Unreachable,
    /// The server did not answer within the command timeout.
    Timeout,
    /// The server's certificate does not chain to a trusted CA, or does not name the host.
    UntrustedCertificate,
    /// Another TLS failure (no common protocol version or cipher, bad record…).
    Tls,
    /// STARTTLS security was configured but the server did not offer it or refused it.
    StartTlsRefused,
    /// The server rejected the username or password (or requires another mechanism).
    AuthRejected,
    /// The server offers neither AUTH PLAIN nor AUTH LOGIN (before or after TLS), or not XOAUTH2
    /// when OAuth is configured.
    NoAuthMechanism,
    /// The server refused the OAuth access token, or the app lacks the permission to send as
    /// this mailbox.
    TokenRejected,
    /// The identity provider refused to issue a token (wrong client id or secret, revoked
    /// consent, a scope that was not granted).
    TokenRefused,
    /// The identity provider could not be reached or answered 429/5xx.
    TokenUnavailable,
    /// A 4xx reply: try again later.
    Transient,
    /// A 5xx reply to the message itself (MAIL, RCPT, DATA): this message will never be accepted.
    Permanent,
    /// A malformed or incomplete reply (for example from a connection the server closed while idle).
    Protocol,
}

impl SmtpFailure {
    /// The one-line description used in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            SmtpFailure::Unreachable => "server unreachable or connection lost",
            SmtpFailure::Timeout => "server did not answer in time",
            SmtpFailure::UntrustedCertificate => {
                "server certificate is not trusted (set smtp.ca_file for a private CA)"
            }
            SmtpFailure::Tls => "TLS handshake failed",
            SmtpFailure::StartTlsRefused => {
                "server refused STARTTLS (security = \"starttls\" requires it)"
            }
            SmtpFailure::AuthRejected => "authentication rejected: wrong username or password",
            SmtpFailure::NoAuthMechanism => "server offers no usable AUTH mechanism",
            SmtpFailure::TokenRejected => {
                "the server refused the access token (check the app's permission for this mailbox)"
            }
            SmtpFailure::TokenRefused => {
                "the identity provider refused to issue a token (check client id, secret and consent)"
            }
            SmtpFailure::TokenUnavailable => "the identity provider is unreachable or busy",
            SmtpFailure::Transient => "temporary failure reported by the server",
            SmtpFailure::Permanent => "message rejected by the server",
            SmtpFailure::Protocol => "malformed reply from the server",
        }
    }
}

/// Errors of the notification module.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("read smtp ca file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("smtp ca file {path} holds no PEM certificate")]
    CaFileEmpty { path: PathBuf },

    #[error("set up TLS for smtp server {server}: {source}")]
    TlsSetup { server: String, source: SmtpError },

    /// The notification itself cannot be built (for example a recipient address that is not valid).
    #[error("compose notification: {reason}")]
    Compose { reason: String },

    /// The SMTP conversation failed.
    #[error("smtp {server}: {stage}: {}{}", failure.describe(), detail_suffix(.reply))]
    Smtp {
        server: String,
        stage: Stage,
        failure: SmtpFailure,
        /// The server's reply code (e.g. `554 5.7.1`), or a fixed text of ours. Never the
        /// server's words.
        reply: String,
    },

    /// The Graph `sendMail` transport failed.
    #[error("graph {server}: {stage}: {}{}", failure.describe(), detail_suffix(.reply))]
    Graph {
        server: String,
        stage: Stage,
        failure: SmtpFailure,
        /// The HTTP status and Graph's error code, or a fixed text. Never message content.
        reply: String,
    },

    /// The outbox (or the data a notification is built from) could not be read or updated.
    #[error("outbox: {0}")]
    Store(#[from] crate::store::Error),
}

fn detail_suffix(reply: &str) -> String {
    if reply.is_empty() {
        String::new()
    } else {
        format!(" ({reply})")
    }
}

impl NotifyError {
    /// Builds the error for a lettre failure at a known stage.
    pub(crate) fn smtp(server: String, stage: Stage, source: SmtpError) -> NotifyError {
        NotifyError::Smtp {
            server,
            stage,
            failure: classify(&source, stage),
            reply: reply_code(&source),
        }
    }

    /// Builds the error for a step that exceeded our own deadline.
    pub(crate) fn timeout(server: String, stage: Stage, after: std::time::Duration) -> NotifyError {
        NotifyError::Smtp {
            server,
            stage,
            failure: SmtpFailure::Timeout,
            reply: format!("no answer after {} s", after.as_secs()),
        }
    }

    /// A failed token request at `server` (the identity provider's token endpoint).
    pub(crate) fn token(
        server: String,
        graph: bool,
        failure: &super::oauth::TokenFailure,
    ) -> NotifyError {
        let class = match failure.kind {
            super::oauth::TokenFailureKind::Refused => SmtpFailure::TokenRefused,
            super::oauth::TokenFailureKind::Unavailable => SmtpFailure::TokenUnavailable,
        };
        let reply = failure.reason.replace(['\r', '\n'], " ");
        if graph {
            NotifyError::Graph {
                server,
                stage: Stage::Token,
                failure: class,
                reply,
            }
        } else {
            NotifyError::Smtp {
                server,
                stage: Stage::Token,
                failure: class,
                reply,
            }
        }
    }

    /// The failure class, if this is an SMTP or Graph error.
    pub fn failure(&self) -> Option<SmtpFailure> {
        match self {
            NotifyError::Smtp { failure, .. } | NotifyError::Graph { failure, .. } => {
                Some(*failure)
            }
            _ => None,
        }
    }

    /// The step that failed, if this is an SMTP or Graph error.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            NotifyError::Smtp { stage, .. } | NotifyError::Graph { stage, .. } => Some(*stage),
            _ => None,
        }
    }

    /// Worth retrying as is: 4xx replies, timeouts, connection errors, malformed replies, store hiccups.
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Smtp { failure, .. } | NotifyError::Graph { failure, .. } => matches!(
                failure,
                SmtpFailure::Unreachable
                    | SmtpFailure::Timeout
                    | SmtpFailure::Transient
                    | SmtpFailure::Protocol
                    | SmtpFailure::TokenUnavailable
            ),
            NotifyError::Store(err) => err.is_transient(),
            _ => false,
        }
    }

    /// This message will never be accepted: a 5xx reply to it, or it cannot even be built.
    pub fn is_permanent(&self) -> bool {
        match self {
            NotifyError::Smtp { failure, .. } | NotifyError::Graph { failure, .. } => {
                *failure == SmtpFailure::Permanent
            }
            NotifyError::Compose { .. } => true,
            _ => false,
        }
    }

    /// The SMTP settings are wrong (password, certificate, STARTTLS, CA file): nothing is wrong with
    /// the message, and it will go out once the operator fixes the configuration.
    pub fn is_configuration(&self) -> bool {
        match self {
            NotifyError::Smtp { failure, .. } | NotifyError::Graph { failure, .. } => matches!(
                failure,
                SmtpFailure::UntrustedCertificate
                    | SmtpFailure::Tls
                    | SmtpFailure::StartTlsRefused
                    | SmtpFailure::AuthRejected
                    | SmtpFailure::NoAuthMechanism
                    | SmtpFailure::TokenRejected
                    | SmtpFailure::TokenRefused
            ),
            NotifyError::CaFile { .. }
            | NotifyError::CaFileEmpty { .. }
            | NotifyError::TlsSetup { .. } => true,
            _ => false,
        }
    }
}

/// Reply codes that are about authentication rather than the message (RFC 4954 §6): 530 auth
/// required, 534 mechanism too weak, 535 credentials invalid, 538 encryption required.
const AUTH_CODES: [&str; 4] = ["530", "534", "535", "538"];

fn classify(err: &SmtpError, stage: Stage) -> SmtpFailure {
    if let Some(code) = err.status() {
        let code_text = code.to_string();
        let is_auth_code = AUTH_CODES.contains(&code_text.as_str());
        return match (stage, code.severity) {
            (Stage::StartTls, _) => SmtpFailure::StartTlsRefused,
            // 454 "temporary authentication failure" (the server lost its auth backend) is not a
            // verdict on the password.
            (Stage::Auth, Severity::TransientNegativeCompletion) => SmtpFailure::Transient,
            (Stage::Auth, _) => SmtpFailure::AuthRejected,
            (_, _) if is_auth_code => SmtpFailure::AuthRejected,
            (_, Severity::TransientNegativeCompletion) => SmtpFailure::Transient,
            (_, Severity::PermanentNegativeCompletion) => SmtpFailure::Permanent,
            // Positive codes never produce an error; treat anything else as a protocol error.
            _ => SmtpFailure::Protocol,
        };
    }
    if err.is_timeout() {
        return SmtpFailure::Timeout;
    }
    if err.is_tls() {
        return if has_certificate_error(err) {
            SmtpFailure::UntrustedCertificate
        } else {
            SmtpFailure::Tls
        };
    }
    if err.is_client() {
        // lettre reports both as client errors with no other marker than the text.
        let text = err.to_string();
        if text.contains("STARTTLS") {
            return SmtpFailure::StartTlsRefused;
        }
        if text.contains("authentication mechanism") {
            return SmtpFailure::NoAuthMechanism;
        }
        // XOAUTH2: a server that refuses the token answers 334 with an error challenge, which
        // lettre's mechanism does not expect: a refused login, not a malformed reply.
        if text.contains("does not expect a challenge") {
            return SmtpFailure::AuthRejected;
        }
        return SmtpFailure::Protocol;
    }
    if err.is_response() {
        return SmtpFailure::Protocol;
    }
    // Connection and network kinds (and a shut-down transport) have no public predicate.
    if has_certificate_error(err) {
        return SmtpFailure::UntrustedCertificate;
    }
    SmtpFailure::Unreachable
}

/// Walks the cause chain looking for rustls' certificate verdict. `io::Error` hides its payload
/// from `source()`, so it is opened with `get_ref()`.
fn has_certificate_error(err: &SmtpError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(current) = cause {
        if is_rustls_certificate_error(current) {
            return true;
        }
        if let Some(io_err) = current.downcast_ref::<std::io::Error>()
            && let Some(inner) = io_err.get_ref()
            && is_rustls_certificate_error(inner)
        {
            return true;
        }
        cause = current.source();
    }
    false
}

fn is_rustls_certificate_error(err: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        err.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}

/// The server's reply code, and the enhanced status code (RFC 3463) its text starts with, e.g.
/// `554 5.7.1`; empty when there was no reply. Never the reply's text: a server may put anything
/// there, the recipient's address or words of the message it refuses, and this string goes into
/// the outbox's `last_error`, the log and the CLI. [`SmtpFailure::describe`] says what happened.
fn reply_code(err: &SmtpError) -> String {
    let Some(code) = err.status() else {
        return String::new();
    };
    let mut out = code.to_string();
    // lettre keeps the reply's text as the error's source.
    if let Some(text) = std::error::Error::source(err).map(ToString::to_string)
        && let Some(enhanced) = enhanced_status(&text)
    {
        out.push(' ');
        out.push_str(enhanced);
    }
    out
}

/// The RFC 3463 status code (`class.subject.detail`, digits only) a reply text starts with.
fn enhanced_status(text: &str) -> Option<&str> {
    let first = text.split_whitespace().next()?;
    let mut parts = first.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let digits = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
    };
    (parts.next().is_none()
        && matches!(class, "2" | "4" | "5")
        && digits(subject, 3)
        && digits(detail, 3))
    .then_some(first)
}

#[cfg(test)]
mod tests {
    use super::enhanced_status;

    #[test]
    fn only_a_well_formed_enhanced_status_code_is_kept_of_a_reply_text() {
        assert_eq!(
            enhanced_status("5.7.1 refused for gina@example.com"),
            Some("5.7.1")
        );
        assert_eq!(enhanced_status("4.2.0 Greylisted"), Some("4.2.0"));
        assert_eq!(enhanced_status("Greylisted 4.2.0"), None);
        assert_eq!(enhanced_status("5.7.1x quote"), None);
        assert_eq!(enhanced_status("5.7.1.2 x"), None);
        assert_eq!(enhanced_status("9.1.1 x"), None);
        assert_eq!(enhanced_status("5.1234.1 x"), None);
        assert_eq!(enhanced_status(""), None);
    }
}
