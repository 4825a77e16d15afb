//! App-only access tokens (the client-credentials grant) for the notifier: Exchange Online's
//! `SMTP.SendAsApp` for SMTP XOAUTH2, or Graph's `Mail.Send` application permission for
//! `sendMail`. There is no refresh token: a token is cached until shortly before it expires
//! ([`BearerTokens::new`]'s margin) and then simply requested again; nothing is stored.

use secrecy::SecretString;
use tokio::sync::Mutex;

use super::error::OAuthError;
use super::token_client::TokenClient;
use super::tokens::BearerTokens;
use crate::clock::Clock;
use crate::notify::{AccessTokens, TokenFailure, TokenFailureKind};

/// Client-credentials tokens for one scope (e.g. `https://outlook.office365.com/.default`).
pub struct AppTokens {
    client: TokenClient,
    scope: String,
    clock: Clock,
    current: Mutex<Option<BearerTokens>>,
}

impl AppTokens {
    pub fn new(client: TokenClient, scope: impl Into<String>, clock: Clock) -> AppTokens {
        AppTokens {
            client,
            scope: scope.into(),
            clock,
            current: Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl AccessTokens for AppTokens {
    async fn access_token(&self, refresh: bool) -> Result<SecretString, TokenFailure> {
        let mut current = self.current.lock().await;
        let now = self.clock.now_ms();
        if !refresh
            && let Some(set) = current.as_ref()
            && set.expires_at > now
        {
            return Ok(set.access_token.clone());
        }
        let set = self
            .client
            .client_credentials(&self.scope, now)
            .await
            .map_err(|e| token_failure(&e))?;
        let token = set.access_token.clone();
        *current = Some(set);
        Ok(token)
    }

    fn describe(&self) -> String {
        format!(
            "client credentials for {:?} at provider {:?}",
            self.scope,
            self.client.provider().name
        )
    }
}

/// The notifier's view of a failed token request: refused (fix the configuration) or unavailable
/// (retry), with the error's fixed text.
pub fn token_failure(error: &OAuthError) -> TokenFailure {
    let kind = if error.is_transient() {
        TokenFailureKind::Unavailable
    } else {
        TokenFailureKind::Refused
    };
    TokenFailure {
        kind,
        reason: error.to_string(),
    }
}
