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
use super::tokens::BearerTokens;
use crate::store::{MailboxId, SecretId, Store};
use crate::vault::{SealedSecret, Vault};

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
