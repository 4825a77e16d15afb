//! [`OAuthError`]: how a token request or the token store can fail, classified for the decisions
//! the IMAP source makes (retry later, or mark the mailbox "needs re-consent"). Messages carry
//! status codes and OAuth error codes only, never tokens or the provider's free text.

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The token endpoint refused the refresh token or the code (`invalid_grant`): consent was
    /// revoked, the password changed, or the token expired. Only the user can fix it.
    #[error("the identity provider refused the grant ({error}); the mailbox needs re-consent")]
    InvalidGrant { error: String },
    /// The token endpoint failed otherwise (`error` is its OAuth error code).
    #[error("token endpoint answered {status}: {error}")]
    TokenEndpoint { status: u16, error: String },
    /// The request did not complete (connect, TLS, timeout, body read).
    #[error("token request failed: {0}")]
    Network(String),
    /// An answer that does not follow the protocol.
    #[error("token endpoint: unexpected answer: {0}")]
    Protocol(&'static str),
    /// The mailbox has no usable tokens (never linked, or wiped).
    #[error("no stored tokens for this mailbox")]
    NoTokens,
    /// The mailbox names a provider that is not configured (any more).
    #[error("OAuth provider {0:?} is not configured")]
    UnknownProvider(String),
    /// The client secret file cannot be read.
    #[error("OAuth client secret: {0}")]
    ClientSecret(String),
    #[error("vault: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("store: {0}")]
    Store(#[from] crate::store::Error),
}

impl OAuthError {
    /// Retrying later may work: network failures, 429, 5xx, a busy store.
    pub fn is_transient(&self) -> bool {
        match self {
            OAuthError::Network(_) => true,
            OAuthError::TokenEndpoint { status, .. } => *status == 429 || *status >= 500,
            OAuthError::Store(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Only the user can repair this: mark the mailbox `needs_reconsent`.
    pub fn needs_reconsent(&self) -> bool {
        matches!(self, OAuthError::InvalidGrant { .. } | OAuthError::NoTokens)
    }

    /// A short fixed class for logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            OAuthError::InvalidGrant { .. } => "invalid_grant",
            OAuthError::TokenEndpoint { .. } => "token_endpoint",
            OAuthError::Network(_) => "network",
            OAuthError::Protocol(_) => "protocol",
            OAuthError::NoTokens => "no_tokens",
            OAuthError::UnknownProvider(_) => "unknown_provider",
            OAuthError::ClientSecret(_) => "client_secret",
            OAuthError::Vault(_) => "vault",
            OAuthError::Store(_) => "store",
        }
    }
}
