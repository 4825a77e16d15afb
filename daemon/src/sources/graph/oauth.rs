//! OAuth 2.0 against the Microsoft identity platform v2: the authorization-code flow with PKCE
//! (S256) that links a mailbox, the refresh grant that keeps it linked, and the
//! client-credentials grant of the app itself for the mailboxes an organisation linked app-only.
//!
//! The daemon is a confidential client: every token request carries the client secret (from
//! the vault or a credential file). Hand-rolled over reqwest rather than graph-rs-sdk's
//! graph-oauth because that layer keeps tokens in memory only (a rotated refresh token would be
//! lost at restart) and cannot be pointed at another authority than the fixed Azure clouds.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::config::{APP_ONLY_SCOPE, GraphConfig, SCOPES};
use super::error::GraphError;
use crate::store::{SecretId, SecretKind, Store};
use crate::vault::{Binding, SealedSecret, Vault};

/// Name of the vault record holding the app's client secret (`mailsigd graph set-client-secret`).
pub const CLIENT_SECRET_NAME: &str = "graph_client_secret";
/// How long a started linking waits for the user's consent.
pub const LINKING_TTL: Duration = Duration::from_secs(15 * 60);
/// Timeout of one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Access and refresh token of one mailbox, as sealed in the vault (JSON inside the record).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenSet {
    #[serde(with = "secret_text")]
    pub access_token: SecretString,
    #[serde(with = "secret_text")]
    pub refresh_token: SecretString,
    /// Until when the access token is used (epoch ms): `expires_in` minus a margin of a fifth
    /// of its lifetime, at most 5 minutes, for clock skew and request time.
    pub expires_at: i64,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

mod secret_text {
    use secrecy::{ExposeSecret, SecretString};
    pub fn serialize<S: serde::Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose_secret())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        Ok(SecretString::from(text))
    }
}

impl TokenSet {
    /// Seals the set for the store; the JSON lives only in a zeroizing buffer.
    /// `secret` is the row the set is stored in (the record is bound to it).
    pub fn seal(&self, vault: &Vault, secret: SecretId) -> Result<SealedSecret, GraphError> {
        let json = Zeroizing::new(serde_json::to_vec(self).map_err(|e| GraphError::Protocol {
            op: "seal tokens",
            reason: e.to_string(),
        })?);
        Ok(vault.seal(&Binding::secret(SecretKind::OauthTokens, secret), &json)?)
    }

    pub fn open(
        vault: &Vault,
        secret: SecretId,
        sealed: &SealedSecret,
    ) -> Result<TokenSet, GraphError> {
        let json = vault.open(&Binding::secret(SecretKind::OauthTokens, secret), sealed)?;
        serde_json::from_slice(&json).map_err(|_| GraphError::Protocol {
            op: "open tokens",
            reason: "not a token set".into(),
        })
    }
}

/// Token requests for one app registration.
#[derive(Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    config: Arc<GraphConfig>,
    client_secret: Arc<SecretString>,
}

/// A token endpoint answer (success or error fields).
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
}

impl OAuthClient {
    pub fn new(
        config: Arc<GraphConfig>,
        client_secret: SecretString,
    ) -> Result<OAuthClient, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(TOKEN_TIMEOUT)
            .https_only(!super::config::is_loopback(&config.authority_url))
            .build()
            .map_err(|e| GraphError::network("build http client", &e))?;
        Ok(OAuthClient {
            http,
            config,
            client_secret: Arc::new(client_secret),
        })
    }

    pub fn config(&self) -> &Arc<GraphConfig> {
        &self.config
    }

    /// Redeems an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        now_ms: i64,
    ) -> Result<TokenSet, GraphError> {
        let redirect_uri = self.config.redirect_uri();
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier),
            ("scope", SCOPES),
        ];
        let response = self.token_request(&form).await?;
        response.into_tokens(None, now_ms)
    }

    /// Uses the refresh token; the answer carries a new (rotated) refresh token, which the
    /// caller must persist before using the new access token.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        now_ms: i64,
    ) -> Result<TokenSet, GraphError> {
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("scope", SCOPES),
        ];
        let response = self.token_request(&form).await?;
        response.into_tokens(Some(refresh_token), now_ms)
    }

    /// The client-credentials grant at `tenant`'s own token endpoint: an app-only access token
    /// carrying the application permissions the tenant's administrator granted. No refresh
    /// token: a new one is asked for when it runs out.
    pub async fn app_token(&self, tenant: &str, now_ms: i64) -> Result<AppToken, GraphError> {
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("grant_type", "client_credentials"),
            ("scope", APP_ONLY_SCOPE),
        ];
        let url = self.config.tenant_identity_endpoint(tenant, "token");
        let response = self.token_request_at(&url, &form).await?;
        let access_token = response.access_token.ok_or(GraphError::Protocol {
            op: "token request",
            reason: "no access_token".into(),
        })?;
        Ok(AppToken {
            access_token: SecretString::from(access_token),
            expires_at: expiry(response.expires_in, now_ms),
        })
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, GraphError> {
        self.token_request_at(&self.config.identity_endpoint("token"), form)
            .await
    }

    async fn token_request_at(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, GraphError> {
        let response = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| GraphError::network("token request", &e))?;
        let status = response.status().as_u16();
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|_| GraphError::TokenEndpoint {
                status,
                error: "unreadable answer".into(),
            })?;
        if let Some(error) = body
            .error
            .as_deref()
            .filter(|_| status >= 400 || body.access_token.is_none())
        {
            // AADSTS50173, AADSTS700082 and revoked consent all arrive as invalid_grant.
            if error == "invalid_grant"
                || error == "interaction_required"
                || error == "consent_required"
            {
                return Err(GraphError::InvalidGrant {
                    error: error.to_owned(),
                });
            }
            return Err(GraphError::TokenEndpoint {
                status,
                error: error.to_owned(),
            });
        }
        if status >= 400 {
            return Err(GraphError::TokenEndpoint {
                status,
                error: "no error code".into(),
            });
        }
        Ok(body)
    }
}

impl TokenResponse {
    fn into_tokens(
        self,
        previous_refresh: Option<&SecretString>,
        now_ms: i64,
    ) -> Result<TokenSet, GraphError> {
        let access_token = self.access_token.ok_or(GraphError::Protocol {
            op: "token request",
            reason: "no access_token".into(),
        })?;
        let refresh_token = match (self.refresh_token, previous_refresh) {
            (Some(new), _) => SecretString::from(new),
            // Microsoft always rotates; if an authority does not, the old token stays valid.
            (None, Some(old)) => old.clone(),
            (None, None) => {
                return Err(GraphError::Protocol {
                    op: "token request",
                    reason: "no refresh_token (is offline_access granted?)".into(),
                });
            }
        };
        Ok(TokenSet {
            access_token: SecretString::from(access_token),
            refresh_token,
            expires_at: expiry(self.expires_in, now_ms),
        })
    }
}

/// Until when a token that lives `expires_in` seconds is used (epoch ms): its lifetime minus a
/// margin of a fifth of it, at most 5 minutes, for clock skew and request time.
fn expiry(expires_in: Option<i64>, now_ms: i64) -> i64 {
    let lifetime_ms = expires_in.unwrap_or(3600).clamp(1, 24 * 3600) * 1000;
    let margin_ms = (lifetime_ms / 5).min(5 * 60 * 1000);
    now_ms.saturating_add(lifetime_ms - margin_ms)
}

/// An app-only access token (client credentials), never stored.
#[derive(Clone)]
pub struct AppToken {
    pub access_token: SecretString,
    /// Until when it is used (epoch ms), as [`TokenSet::expires_at`].
    pub expires_at: i64,
}

/// The app's client secret: from `client_secret_file` when configured, else from the vault.
pub async fn load_client_secret(
    config: &GraphConfig,
    store: &Store,
    vault: &Vault,
) -> Result<SecretString, GraphError> {
    if let Some(path) = &config.client_secret_file {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            GraphError::ClientSecret(format!("read {}: {}", path.display(), e.kind()))
        })?);
        let secret = text.trim();
        if secret.is_empty() {
            return Err(GraphError::ClientSecret(format!(
                "{} is empty",
                path.display()
            )));
        }
        return Ok(SecretString::from(secret));
    }
    let stored = store.named_secret(CLIENT_SECRET_NAME).await.map_err(|e| {
        if e.is_not_found() {
            GraphError::ClientSecret("not set (run `mailsigd graph set-client-secret`)".into())
        } else {
            GraphError::Store(e)
        }
    })?;
    Ok(vault.open_string(
        &Binding::secret(SecretKind::OauthClientSecret, stored.id),
        &SealedSecret::from_bytes(stored.sealed),
    )?)
}

/// Stores the app's client secret in the vault (replacing any previous one).
pub async fn store_client_secret(
    store: &Store,
    vault: &Vault,
    secret: &str,
    key_version: i64,
) -> Result<(), GraphError> {
    store
        .set_named_secret_sealed_by(
            CLIENT_SECRET_NAME,
            SecretKind::OauthClientSecret,
            key_version,
            |id| {
                let binding = Binding::secret(SecretKind::OauthClientSecret, id);
                Ok::<_, GraphError>(vault.seal(&binding, secret.trim().as_bytes())?.into_bytes())
            },
        )
        .await?;
    Ok(())
}

/// 32 random bytes, base64url: a `state`, a PKCE verifier (43 characters) or a clientState.
pub fn random_token() -> Result<String, GraphError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|_| GraphError::Protocol {
        op: "random",
        reason: "no randomness".into(),
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// What the vault's tags of OAuth `state` values are for (see [`crate::vault::Vault::tag`]).
const STATE_TAG_PURPOSE: &str = "oauth state";

/// A new `state`: 32 random bytes and a tag under the master key, both base64url, joined by
/// `.`. The tag lets the callback refuse a `state` this daemon never issued without asking the
/// store ([`state_is_ours`]).
pub fn issue_state(vault: &crate::vault::Vault) -> Result<Zeroizing<String>, GraphError> {
    let nonce = Zeroizing::new(random_token()?);
    let tag = vault.tag(STATE_TAG_PURPOSE, nonce.as_bytes());
    Ok(Zeroizing::new(format!(
        "{}.{}",
        nonce.as_str(),
        URL_SAFE_NO_PAD.encode(&tag[..16])
    )))
}

/// Whether `state` carries a valid tag from [`issue_state`] (checked in constant time).
pub fn state_is_ours(vault: &crate::vault::Vault, state: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some((nonce, tag)) = state.split_once('.') else {
        return false;
    };
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    let expected = vault.tag(STATE_TAG_PURPOSE, nonce.as_bytes());
    tag.len() == 16 && bool::from(expected[..16].ct_eq(&tag))
}

/// PKCE S256: base64url(SHA-256(verifier)).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What the store keeps of a `state`: its SHA-256, hex.
pub fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() -> Result<(), GraphError> {
        let (a, b) = (random_token()?, random_token()?);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(state_hash(&a).len(), 64);
        Ok(())
    }

    #[test]
    fn token_errors_are_classified() {
        let revoked = TokenResponse {
            access_token: None,
            refresh_token: None,
            expires_in: None,
            error: None,
        };
        assert!(revoked.into_tokens(None, 0).is_err());
        let rotated = TokenResponse {
            access_token: Some("a".into()),
            refresh_token: None,
            expires_in: Some(10),
            error: None,
        };
        let old = SecretString::from("old-refresh");
        let set = rotated.into_tokens(Some(&old), 1_000);
        let Ok(set) = set else {
            panic!("token set refused")
        };
        assert_eq!(set.refresh_token.expose_secret(), "old-refresh");
        assert_eq!(
            set.expires_at, 9_000,
            "used until a fifth of its lifetime is left"
        );
    }
}
