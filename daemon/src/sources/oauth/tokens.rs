//! One OAuth grant's access and refresh token as a value: built from a token endpoint's answer
//! (`token_client`), sealed in the vault as one record bound to its `secrets` row, and opened
//! again by the mailbox that uses it (`bearer`). The secrets are `SecretString`s; the JSON form
//! exists only inside a zeroizing buffer.

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::error::OAuthError;
use crate::store::SecretId;
use crate::vault::{SealedSecret, Vault};

/// Access and refresh token as sealed in the vault (JSON inside the record), with the name of
/// the configured provider that issued them (`[oauth.providers.<name>]`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct BearerTokens {
    pub provider: String,
    #[serde(with = "secret_text")]
    pub access_token: SecretString,
    #[serde(with = "secret_text")]
    pub refresh_token: SecretString,
    /// Until when the access token is used (epoch ms): `expires_in` minus a fifth of its
    /// lifetime, at most 5 minutes, for clock skew and request time.
    pub expires_at: i64,
}

impl std::fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerTokens")
            .field("provider", &self.provider)
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

impl BearerTokens {
    /// A set from a token answer received at `now_ms`; a missing `expires_in` counts as an hour.
    pub fn new(
        provider: &str,
        access_token: SecretString,
        refresh_token: SecretString,
        expires_in: Option<i64>,
        now_ms: i64,
    ) -> BearerTokens {
        let lifetime_ms = expires_in.unwrap_or(3600).clamp(1, 24 * 3600) * 1000;
        let margin_ms = (lifetime_ms / 5).min(5 * 60 * 1000);
        BearerTokens {
            provider: provider.to_owned(),
            access_token,
            refresh_token,
            expires_at: now_ms.saturating_add(lifetime_ms - margin_ms),
        }
    }

    /// Seals the set for the store; the JSON lives only in a zeroizing buffer.
    /// `secret` is the row the set is stored in (the record is bound to it).
    pub fn seal(&self, vault: &Vault, secret: SecretId) -> Result<SealedSecret, OAuthError> {
        let json = Zeroizing::new(
            serde_json::to_vec(self).map_err(|_| OAuthError::Protocol("cannot encode tokens"))?,
        );
        let binding = crate::vault::Binding::secret(crate::store::SecretKind::OauthTokens, secret);
        Ok(vault.seal(&binding, &json)?)
    }

    pub fn open(
        vault: &Vault,
        secret: SecretId,
        sealed: &SealedSecret,
    ) -> Result<BearerTokens, OAuthError> {
        let binding = crate::vault::Binding::secret(crate::store::SecretKind::OauthTokens, secret);
        let json = vault.open(&binding, sealed)?;
        serde_json::from_slice(&json).map_err(|_| OAuthError::Protocol("not a token set"))
    }
}
