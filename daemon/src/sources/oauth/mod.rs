//! OAuth 2.0 for mail protocols other than Graph: the identity providers an operator configures
//! (`[oauth.providers.<name>]`: Microsoft identity platform, Google, or a generic one), their token
//! endpoint (authorization code + PKCE, refresh, client credentials), and the access tokens of
//! one IMAP mailbox kept sealed in the vault and refreshed before they expire (`bearer`).
//!
//! Exchange Online refuses passwords over IMAP and SMTP, and Google Workspace admins can forbid
//! them: such mailboxes log in with SASL XOAUTH2 or OAUTHBEARER and an access token from here.
pub mod app_tokens;
pub mod bearer;
pub mod error;
pub mod provider;
pub mod token_client;
pub mod tokens;

pub use app_tokens::AppTokens;
pub use bearer::{StoredBearer, TokenHome};
pub use error::OAuthError;
pub use provider::{ClientAuth, OAuthProfile, OAuthProvider, OAuthProviderConfig, OAuthProviders};
pub use token_client::TokenClient;
pub use tokens::BearerTokens;
