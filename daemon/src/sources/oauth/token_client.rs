//! Requests to a provider's token endpoint (RFC 6749): redeeming an authorization code with its
//! PKCE verifier, the refresh grant, and the client-credentials grant.
//!
//! Over reqwest (rustls) rather than the `oauth2` crate, like the Graph source's token client:
//! the answer is turned straight into a [`BearerTokens`] whose secrets are `SecretString`s, the
//! rotated refresh token is handed to the caller to persist before use, and an error keeps only
//! the OAuth error code (never the provider's `error_description`, which can echo user input).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::error::OAuthError;
use super::provider::{ClientAuth, OAuthProvider};
use super::tokens::BearerTokens;

/// Timeout of one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Token requests for one provider.
#[derive(Clone)]
pub struct TokenClient {
    http: reqwest::Client,
    provider: Arc<OAuthProvider>,
}

/// A token endpoint answer (success or error fields).
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
}

impl TokenClient {
    pub fn new(provider: Arc<OAuthProvider>) -> Result<TokenClient, OAuthError> {
        let loopback = provider
            .token_url
            .host_str()
            .is_some_and(|host| host == "127.0.0.1" || host == "localhost" || host == "[::1]");
        let http = reqwest::Client::builder()
            .timeout(TOKEN_TIMEOUT)
            // Plain HTTP only to a provider on this machine (tests, a local proxy).
            .https_only(!loopback)
            .build()
            .map_err(|_| OAuthError::Network("cannot build the HTTP client".into()))?;
        Ok(TokenClient { http, provider })
    }

    pub fn provider(&self) -> &Arc<OAuthProvider> {
        &self.provider
    }

    /// Redeems an authorization code (with its PKCE verifier) for tokens; a refresh token is
    /// required.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        now_ms: i64,
    ) -> Result<BearerTokens, OAuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        self.token_request(&form)
            .await?
            .into_tokens(&self.provider.name, None, now_ms)
    }

    /// Uses the refresh token; the answer may carry a new (rotated) refresh token, which the
    /// caller must persist before using the new access token.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        now_ms: i64,
    ) -> Result<BearerTokens, OAuthError> {
        let scope = self.provider.scopes.join(" ");
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("scope", scope.as_str()),
        ];
        self.token_request(&form).await?.into_tokens(
            &self.provider.name,
            Some(refresh_token),
            now_ms,
        )
    }

    /// An app-only access token (client-credentials grant) for `scope`; it has no refresh token.
    pub async fn client_credentials(
        &self,
        scope: &str,
        now_ms: i64,
    ) -> Result<BearerTokens, OAuthError> {
        let form = [("grant_type", "client_credentials"), ("scope", scope)];
        let empty = SecretString::from(String::new());
        self.token_request(&form)
            .await?
            .into_tokens(&self.provider.name, Some(&empty), now_ms)
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, OAuthError> {
        let provider = &self.provider;
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let request = self.http.post(provider.token_url.clone());
        let request = match provider.client_auth {
            ClientAuth::Basic => {
                // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
                let encode = |text: &str| {
                    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
                };
                request.basic_auth(
                    encode(&provider.client_id),
                    Some(encode(provider.client_secret.expose_secret())),
                )
            }
            ClientAuth::Post => {
                fields.push(("client_id", provider.client_id.as_str()));
                fields.push(("client_secret", provider.client_secret.expose_secret()));
                request
            }
        };
        let response = request
            .form(&fields)
            .send()
            .await
            .map_err(|e| OAuthError::Network(network_reason(&e).into()))?;
        let status = response.status().as_u16();
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|_| OAuthError::TokenEndpoint {
                status,
                error: "unreadable answer".into(),
            })?;
        if let Some(error) = body
            .error
            .as_deref()
            .filter(|_| status >= 400 || body.access_token.is_none())
        {
            if error == "invalid_grant"
                || error == "interaction_required"
                || error == "consent_required"
            {
                return Err(OAuthError::InvalidGrant {
                    error: error_code(error),
                });
            }
            return Err(OAuthError::TokenEndpoint {
                status,
                error: error_code(error),
            });
        }
        if status >= 400 {
            return Err(OAuthError::TokenEndpoint {
                status,
                error: "no error code".into(),
            });
        }
        Ok(body)
    }
}

/// An OAuth error code is a short ASCII token (RFC 6749 §5.2); anything else is not repeated.
fn error_code(error: &str) -> String {
    if error.len() <= 64
        && error
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        error.to_owned()
    } else {
        "malformed error code".to_owned()
    }
}

/// A fixed text for a reqwest failure (its own text can name hosts and addresses).
fn network_reason(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

impl TokenResponse {
    fn into_tokens(
        self,
        provider: &str,
        previous_refresh: Option<&SecretString>,
        now_ms: i64,
    ) -> Result<BearerTokens, OAuthError> {
        let access_token = self
            .access_token
            .ok_or(OAuthError::Protocol("no access_token"))?;
        let refresh_token = match (self.refresh_token, previous_refresh) {
            (Some(new), _) => SecretString::from(new),
            // A provider that does not rotate: the old refresh token stays valid.
            (None, Some(old)) => old.clone(),
            (None, None) => {
                return Err(OAuthError::Protocol(
                    "no refresh_token (is offline access granted?)",
                ));
            }
        };
        Ok(BearerTokens::new(
            provider,
            SecretString::from(access_token),
            refresh_token,
            self.expires_in,
            now_ms,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_repeated_only_when_they_look_like_codes() {
        assert_eq!(error_code("invalid_grant"), "invalid_grant");
        assert_eq!(
            error_code("<script>alert(1)</script>"),
            "malformed error code"
        );
    }

    #[test]
    fn a_provider_that_does_not_rotate_keeps_the_old_refresh_token() -> Result<(), OAuthError> {
        let answer = TokenResponse {
            access_token: Some("a".into()),
            refresh_token: None,
            expires_in: Some(10),
            error: None,
        };
        let old = SecretString::from("old-refresh");
        let set = answer.into_tokens("p", Some(&old), 1_000)?;
        assert_eq!(set.refresh_token.expose_secret(), "old-refresh");
        let no_refresh = TokenResponse {
            access_token: Some("a".into()),
            refresh_token: None,
            expires_in: Some(10),
            error: None,
        };
        assert!(no_refresh.into_tokens("p", None, 0).is_err());
        Ok(())
    }
}
