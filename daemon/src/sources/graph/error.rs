//! [`GraphError`]: every way a call to the identity platform or Graph can fail, classified for
//! the retry decisions the source makes (`is_transient`, `needs_reconsent`, `is_not_found`).
//! Messages carry status codes and Graph's error codes, never message content or tokens.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The token endpoint refused the refresh token or code (`invalid_grant`): consent was
    /// revoked, the password changed, or the token expired. Only the user can fix it.
    #[error("the identity platform refused the grant ({error}); the mailbox needs re-consent")]
    InvalidGrant { error: String },
    /// The token endpoint failed otherwise (`error` is its OAuth error code).
    #[error("token endpoint answered {status}: {error}")]
    TokenEndpoint { status: u16, error: String },
    /// Graph answered with an error status. `code` is Graph's error code when it sent one.
    #[error("graph {op} answered {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        op: &'static str,
        status: u16,
        code: Option<String>,
        retry_after: Option<Duration>,
    },
    /// The request did not complete (connect, TLS, timeout, body read).
    #[error("graph {op}: request failed: {reason}")]
    Network { op: &'static str, reason: String },
    /// An answer that does not follow the protocol (missing field, bad JSON, foreign link).
    #[error("graph {op}: unexpected answer: {reason}")]
    Protocol { op: &'static str, reason: String },
    /// The mailbox has no usable tokens (never linked, or wiped).
    #[error("no stored tokens for this mailbox")]
    NoTokens,
    /// An app-only mailbox or directory call, but no administrator granted the app access to
    /// the organisation (admin consent) yet.
    #[error("no admin consent for the organisation's Microsoft 365 tenant")]
    NoTenantGrant,
    /// The client secret is not configured or cannot be read.
    #[error("graph client secret: {0}")]
    ClientSecret(String),
    #[error("vault: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("store: {0}")]
    Store(#[from] crate::store::Error),
}

impl GraphError {
    /// Retrying later may work: network failures, 429, 5xx, a busy store.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Network { .. } => true,
            GraphError::Status { status, .. } => *status == 429 || *status >= 500 || *status == 408,
            GraphError::TokenEndpoint { status, .. } => *status == 429 || *status >= 500,
            GraphError::Store(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Only the user can repair this: mark the mailbox `needs_reconsent`.
    pub fn needs_reconsent(&self) -> bool {
        matches!(self, GraphError::InvalidGrant { .. } | GraphError::NoTokens)
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, GraphError::Status { status: 404, .. })
    }

    /// The item changed since the ETag sent with `If-Match` (412).
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, GraphError::Status { status: 412, .. })
    }

    /// Graph refused to create a subscription because its validation request to the
    /// notification URL failed (400 `ValidationError`: unreachable, or a wrong answer).
    pub fn is_handshake_failure(&self) -> bool {
        matches!(
            self,
            GraphError::Status { status: 400, code: Some(code), .. } if code == "ValidationError"
        )
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, GraphError::Status { status: 409, .. })
    }

    /// The wait Graph asked for with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, stable class for the job table and logs.
    pub fn class(&self) -> String {
        match self {
            GraphError::InvalidGrant { .. } => "invalid_grant".into(),
            GraphError::TokenEndpoint { status, .. } => format!("token_{status}"),
            GraphError::Status { status, .. } => format!("http_{status}"),
            GraphError::Network { .. } => "network".into(),
            GraphError::Protocol { .. } => "protocol".into(),
            GraphError::NoTokens => "no_tokens".into(),
            GraphError::NoTenantGrant => "no_tenant_grant".into(),
            GraphError::ClientSecret(_) => "client_secret".into(),
            GraphError::Vault(_) => "vault".into(),
            GraphError::Store(_) => "store".into(),
        }
    }

    pub(crate) fn network(op: &'static str, error: &reqwest::Error) -> GraphError {
        // reqwest's Display can include the URL (with a delta token); keep the kind only.
        let reason = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect"
        } else if error.is_body() || error.is_decode() {
            "body"
        } else {
            "request"
        };
        GraphError::Network {
            op,
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_drive_retries() {
        let throttled = GraphError::Status {
            op: "x",
            status: 429,
            code: None,
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(throttled.is_transient() && !throttled.needs_reconsent());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
        assert!(
            GraphError::InvalidGrant {
                error: "invalid_grant".into()
            }
            .needs_reconsent()
        );
        let gone = GraphError::Status {
            op: "x",
            status: 404,
            code: Some("ErrorItemNotFound".into()),
            retry_after: None,
        };
        assert!(gone.is_not_found() && !gone.is_transient());
        assert_eq!(gone.to_string(), "graph x answered 404 (ErrorItemNotFound)");
    }
}
