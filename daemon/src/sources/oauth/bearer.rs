//! The access and refresh token of one OAuth-linked mailbox: sealed in the vault as one record,
//! handed out while valid, refreshed shortly before expiry under the mailbox's refresh lock, and
//! every rotated refresh token persisted (one `UPDATE`) before the new access token is used, so
//! a restart or another replica never falls back to a refresh token the provider already
//! replaced (a provider that detects the reuse of a rotated token revokes the whole grant).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use super::error::OAuthError;
use super::token_client::TokenClient;
use crate::store::{MailboxId, SecretId, Store};
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

/// Cloneable handle to one mailbox's tokens.
#[derive(Clone)]
pub struct MailboxBearer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    vault: Vault,
    client: TokenClient,
    mailbox: MailboxId,
    /// The current set; the lock also serialises refreshes within this process.
    current: Mutex<Option<BearerTokens>>,
}

impl MailboxBearer {
    pub fn new(store: Store, vault: Vault, client: TokenClient, mailbox: MailboxId) -> Self {
        MailboxBearer {
            inner: Arc::new(Inner {
                store,
                vault,
                client,
                mailbox,
                current: Mutex::new(None),
            }),
        }
    }

    pub fn mailbox(&self) -> MailboxId {
        self.inner.mailbox
    }

    /// A valid access token, refreshed (and the rotation persisted) when it is about to expire.
    pub async fn access_token(&self) -> Result<SecretString, OAuthError> {
        self.token(false).await
    }

    /// Refreshes now, whatever the expiry says (the server refused the current token).
    pub async fn force_refresh(&self) -> Result<SecretString, OAuthError> {
        self.token(true).await
    }

    async fn token(&self, force: bool) -> Result<SecretString, OAuthError> {
        let mut current = self.inner.current.lock().await;
        let now = self.inner.store.now_ms();
        if !force
            && let Some(set) = current.as_ref()
            && set.expires_at > now
        {
            return Ok(set.access_token.clone());
        }
        let failed = current
            .as_ref()
            .map(|set| Zeroizing::new(set.access_token.expose_secret().to_owned()));
        // Refreshes of one mailbox are serialised across tasks and replicas; under the lock the
        // stored set is read again: another process may have refreshed and rotated it.
        let _refresh_lock = self
            .inner
            .store
            .lock_mailbox_refresh(self.inner.mailbox)
            .await?;
        let (secret_id, key_version, stored) = self.load().await?;
        let refreshed_elsewhere = force
            && failed
                .as_ref()
                .is_some_and(|f| f.as_str() != stored.access_token.expose_secret());
        if (!force || refreshed_elsewhere) && stored.expires_at > now {
            let token = stored.access_token.clone();
            *current = Some(stored);
            return Ok(token);
        }
        let refreshed = self
            .inner
            .client
            .refresh(&stored.refresh_token, now)
            .await?;
        // Persist the rotated refresh token before anything uses the new access token. Not
        // fenced: the refresh lock serialises refreshes of this mailbox, and under it the
        // refresh starts from the stored (newest) refresh token.
        let sealed = refreshed.seal(&self.inner.vault, secret_id)?;
        self.inner
            .store
            .replace_secret(secret_id, sealed.as_bytes(), key_version)
            .await?;
        tracing::debug!(mailbox = %self.inner.mailbox, "oauth tokens refreshed and stored");
        let token = refreshed.access_token.clone();
        *current = Some(refreshed);
        Ok(token)
    }

    async fn load(&self) -> Result<(SecretId, i64, BearerTokens), OAuthError> {
        let secret_id = self
            .inner
            .store
            .get_mailbox(self.inner.mailbox)
            .await?
            .secret
            .ok_or(OAuthError::NoTokens)?;
        let stored = match self.inner.store.get_secret(secret_id).await {
            Ok(stored) => stored,
            Err(e) if e.is_not_found() => return Err(OAuthError::NoTokens),
            Err(e) => return Err(e.into()),
        };
        let set = BearerTokens::open(
            &self.inner.vault,
            secret_id,
            &SealedSecret::from_bytes(stored.sealed),
        )?;
        Ok((secret_id, stored.key_version, set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_until_a_fifth_of_its_lifetime_is_left() {
        let set = BearerTokens::new(
            "p",
            SecretString::from("a"),
            SecretString::from("r"),
            Some(10),
            1_000,
        );
        assert_eq!(set.expires_at, 9_000);
        let long = BearerTokens::new(
            "p",
            SecretString::from("a"),
            SecretString::from("r"),
            Some(3600),
            0,
        );
        assert_eq!(long.expires_at, 3_300_000, "at most 5 minutes early");
        assert_eq!(
            format!("{set:?}"),
            "BearerTokens { provider: \"p\", expires_at: 9000, .. }"
        );
    }
}
