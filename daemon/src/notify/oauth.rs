//! Where the notifier's OAuth 2.0 access tokens come from, as seen from the notifier: a
//! [`AccessTokens`] source hands out a valid bearer token (cached until shortly before it expires)
//! and a fresh one when the server refused the last. The sources themselves (client-credentials
//! grant, or the technical user's delegated refresh token sealed in the vault) live with the other
//! OAuth code in `sources::oauth`, above this module; the notifier only needs the token.
//!
//! Failures carry a kind and a fixed text (an OAuth error code at most), never the provider's
//! free-text `error_description`.

use secrecy::SecretString;

/// Why no token could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailureKind {
    /// The provider refused the client or the grant (wrong client secret, revoked consent, a scope
    /// not granted): only the operator can fix it.
    Refused,
    /// The provider could not be reached or answered 429/5xx: try again later.
    Unavailable,
}

/// A failed token request, in words fit for the operator and the outbox's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFailure {
    pub kind: TokenFailureKind,
    /// A fixed text (with at most an OAuth error code and an HTTP status).
    pub reason: String,
}

impl std::fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A source of bearer tokens for one account (the technical user, or the app itself).
#[async_trait::async_trait]
pub trait AccessTokens: Send + Sync {
    /// A valid access token; `refresh` asks for a new one even if the cached one has not expired
    /// (the server has just refused it).
    async fn access_token(&self, refresh: bool) -> Result<SecretString, TokenFailure>;

    /// Names the source for the operator: grant and provider, no secret (e.g.
    /// `client credentials at provider "entra"`).
    fn describe(&self) -> String;
}
