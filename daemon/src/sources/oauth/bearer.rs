//! The access and refresh token of one delegated OAuth grant (an OAuth-linked IMAP mailbox, or
//! the notifier's technical user): sealed in the vault as one record, handed out while valid,
//! refreshed shortly before expiry under the grant's refresh lock, and every rotated refresh
//! token persisted (one `UPDATE`) before the new access token is used, so a restart or another
//! replica never falls back to a refresh token the provider already replaced (a provider that
//! detects the reuse of a rotated token revokes the whole grant).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use super::app_tokens::token_failure;
use super::error::OAuthError;
use super::token_client::TokenClient;
use super::tokens::BearerTokens;
use crate::notify::{AccessTokens, TokenFailure};
use crate::store::{GrantRefreshLock, MailboxId, SecretId, Store};
use crate::vault::{SealedSecret, Vault};

/// Where a grant's sealed token set is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenHome {
    /// The `secrets` row the mailbox's row points at.
    Mailbox(MailboxId),
    /// The installation-wide secret of this name (see `cli::smtp::SMTP_OAUTH_SECRET_NAME`).
    Named(&'static str),
}

/// For log lines: which grant, never a secret (`mailbox 7`, `secret smtp-oauth`).
impl std::fmt::Display for TokenHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenHome::Mailbox(mailbox) => write!(f, "mailbox {mailbox}"),
            TokenHome::Named(name) => write!(f, "secret {name}"),
        }
    }
}

/// Cloneable handle to one grant's tokens.
#[derive(Clone)]
pub struct StoredBearer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    vault: Vault,
    client: TokenClient,
    home: TokenHome,
    /// The current set; the lock also serialises refreshes within this process.
    current: Mutex<Option<BearerTokens>>,
}

impl StoredBearer {
    pub fn new(store: Store, vault: Vault, client: TokenClient, home: TokenHome) -> Self {
        StoredBearer {
            inner: Arc::new(Inner {
                store,
                vault,
                client,
                home,
                current: Mutex::new(None),
            }),
        }
    }

    /// Where the set is kept (for log lines: no secret).
    pub fn home(&self) -> TokenHome {
        self.inner.home
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
        // Refreshes of one grant are serialised across tasks and replicas; under the lock the
        // stored set is read again: another process may have refreshed and rotated it.
        let _refresh_lock = self.lock().await?;
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
        match self.inner.home {
            TokenHome::Mailbox(mailbox) => {
                tracing::debug!(%mailbox, "oauth tokens refreshed and stored");
            }
            TokenHome::Named(name) => {
                tracing::debug!(secret = name, "oauth tokens refreshed and stored");
            }
        }
        let token = refreshed.access_token.clone();
        *current = Some(refreshed);
        Ok(token)
    }

    async fn lock(&self) -> Result<GrantRefreshLock, OAuthError> {
        let store = &self.inner.store;
        Ok(match self.inner.home {
            TokenHome::Mailbox(mailbox) => store.lock_mailbox_refresh(mailbox).await?,
            TokenHome::Named(_) => store.lock_secret_refresh(self.secret_id().await?).await?,
        })
    }

    /// The `secrets` row holding the set.
    async fn secret_id(&self) -> Result<SecretId, OAuthError> {
        let store = &self.inner.store;
        match self.inner.home {
            TokenHome::Mailbox(mailbox) => store
                .get_mailbox(mailbox)
                .await?
                .secret
                .ok_or(OAuthError::NoTokens),
            TokenHome::Named(name) => match store.named_secret(name).await {
                Ok(secret) => Ok(secret.id),
                Err(e) if e.is_not_found() => Err(OAuthError::NoTokens),
                Err(e) => Err(e.into()),
            },
        }
    }

    async fn load(&self) -> Result<(SecretId, i64, BearerTokens), OAuthError> {
        let secret_id = self.secret_id().await?;
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

/// The notifier's view: the technical user's delegated grant.
#[async_trait::async_trait]
impl AccessTokens for StoredBearer {
    async fn access_token(&self, refresh: bool) -> Result<SecretString, TokenFailure> {
        self.token(refresh).await.map_err(|e| token_failure(&e))
    }

    fn describe(&self) -> String {
        format!(
            "a delegated refresh token at provider {:?}",
            self.inner.client.provider().name
        )
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
