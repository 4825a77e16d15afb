//! The token store of one mailbox over the vault: hands out a valid access token, refreshing
//! it through [`OAuthClient`] shortly before it expires, and persists every rotated refresh
//! token (sealed, one `UPDATE`) before the new access token is used, so a restart never falls
//! back to a refresh token that the identity platform already replaced.
//!
//! It also implements graph-rs-sdk's `ClientApplication`, which is how the SDK gets its bearer
//! token: the SDK's own token layer keeps tokens in memory only.

use std::sync::Arc;

use graph_core::identity::ForceTokenRefresh;
use graph_rs_sdk::error::{AuthExecutionError, AuthExecutionResult, AuthorizationFailure};
use graph_rs_sdk::identity::ClientApplication;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::error::GraphError;
use super::oauth::{OAuthClient, TokenSet};
use crate::store::{MailboxId, SecretId, Store};
use crate::vault::{SealedSecret, Vault};

/// Cloneable handle to one mailbox's tokens.
#[derive(Clone)]
pub struct MailboxTokens {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    vault: Vault,
    oauth: OAuthClient,
    mailbox: MailboxId,
    /// A token record not attached to a mailbox yet (while a linking completes).
    detached: Option<SecretId>,
    /// The current token set; the lock also serialises refreshes within this process.
    current: Mutex<Option<TokenSet>>,
    /// The last access token handed out, for the SDK's synchronous accessor.
    last_access: std::sync::Mutex<Option<SecretString>>,
}

impl MailboxTokens {
    pub fn new(
        store: Store,
        vault: Vault,
        oauth: OAuthClient,
        mailbox: MailboxId,
    ) -> MailboxTokens {
        MailboxTokens {
            inner: Arc::new(Inner {
                store,
                vault,
                oauth,
                mailbox,
                detached: None,
                current: Mutex::new(None),
                last_access: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Tokens of the record `secret`, before it belongs to a mailbox (linking).
    pub fn for_secret(
        store: Store,
        vault: Vault,
        oauth: OAuthClient,
        secret: SecretId,
    ) -> MailboxTokens {
        MailboxTokens {
            inner: Arc::new(Inner {
                store,
                vault,
                oauth,
                mailbox: MailboxId(0),
                detached: Some(secret),
                current: Mutex::new(None),
                last_access: std::sync::Mutex::new(None),
            }),
        }
    }

    pub fn mailbox(&self) -> MailboxId {
        self.inner.mailbox
    }

    /// A valid access token, refreshed (and the rotation persisted) when it is about to expire.
    pub async fn access_token(&self) -> Result<SecretString, GraphError> {
        self.token(false).await
    }

    /// Refreshes now, whatever the expiry says (Graph answered 401 to the current token).
    pub async fn force_refresh(&self) -> Result<SecretString, GraphError> {
        self.token(true).await
    }

    async fn token(&self, force: bool) -> Result<SecretString, GraphError> {
        let mut current = self.inner.current.lock().await;
        let now = self.inner.store.now_ms();
        if !force
            && let Some(set) = current.as_ref()
            && set.expires_at > now
        {
            return Ok(self.remember(set.access_token.clone()));
        }
        // The token the caller saw fail (forced refresh): a newer stored one is good to use.
        let failed = current
            .as_ref()
            .map(|set| set.access_token.expose_secret().to_owned())
            .map(zeroize::Zeroizing::new);
        // Refreshes of one mailbox are serialised across tasks and replicas; under the
        // lock, read the stored set again: another process may have refreshed and rotated it.
        let _refresh_lock = match self.inner.detached {
            None => Some(
                self.inner
                    .store
                    .lock_mailbox_refresh(self.inner.mailbox)
                    .await?,
            ),
            Some(_) => None,
        };
        let (secret_id, stored) = self.load().await?;
        let refreshed_elsewhere = force
            && failed
                .as_ref()
                .is_some_and(|f| f.as_str() != stored.access_token.expose_secret());
        if (!force || refreshed_elsewhere) && stored.expires_at > now {
            let token = stored.access_token.clone();
            *current = Some(stored);
            return Ok(self.remember(token));
        }
        let refreshed = self.inner.oauth.refresh(&stored.refresh_token, now).await?;
        // Persist the rotated refresh token before anything uses the new access token.
        // Not fenced, on purpose: the refresh lock serialises refreshes of this
        // mailbox across tasks and replicas, and under it the refresh starts from the stored
        // (newest) refresh token, so whoever writes here stores the newest rotation and never
        // replaces a newer one with an older one; a stalled ex-owner's refresh is as good as
        // anyone's. And the tokens are not only the lease holder's: an unlink or a linking
        // probe on any replica (API, CLI) refreshes them too.
        let sealed = refreshed.seal(&self.inner.vault, secret_id)?;
        let key_version = self.key_version(secret_id).await?;
        self.inner
            .store
            .replace_secret(secret_id, sealed.as_bytes(), key_version)
            .await?;
        tracing::debug!(mailbox = %self.inner.mailbox, "graph tokens refreshed and stored");
        let token = refreshed.access_token.clone();
        *current = Some(refreshed);
        Ok(self.remember(token))
    }

    async fn load(&self) -> Result<(SecretId, TokenSet), GraphError> {
        let secret_id = match self.inner.detached {
            Some(secret) => secret,
            None => self
                .inner
                .store
                .get_mailbox(self.inner.mailbox)
                .await?
                .secret
                .ok_or(GraphError::NoTokens)?,
        };
        let stored = match self.inner.store.get_secret(secret_id).await {
            Ok(stored) => stored,
            Err(e) if e.is_not_found() => return Err(GraphError::NoTokens),
            Err(e) => return Err(e.into()),
        };
        let set = TokenSet::open(
            &self.inner.vault,
            secret_id,
            &SealedSecret::from_bytes(stored.sealed),
        )?;
        Ok((secret_id, set))
    }

    async fn key_version(&self, secret_id: SecretId) -> Result<i64, GraphError> {
        Ok(self.inner.store.get_secret(secret_id).await?.key_version)
    }

    fn remember(&self, token: SecretString) -> SecretString {
        let mut last = self
            .inner
            .last_access
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *last = Some(token.clone());
        token
    }

    /// Drops the cached set (after an unlink or a re-consent stored new tokens).
    pub async fn forget(&self) {
        *self.inner.current.lock().await = None;
        *self
            .inner
            .last_access
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn auth_failure(error: &GraphError) -> AuthExecutionError {
    AuthExecutionError::Authorization(AuthorizationFailure::msg_internal_err(error.class()))
}

#[async_trait::async_trait]
impl ClientApplication for MailboxTokens {
    fn get_token_silent(&mut self) -> AuthExecutionResult<String> {
        let last = self
            .inner
            .last_access
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match last.as_ref() {
            Some(token) => Ok(token.expose_secret().to_owned()),
            None => Err(auth_failure(&GraphError::NoTokens)),
        }
    }

    async fn get_token_silent_async(&mut self) -> AuthExecutionResult<String> {
        match self.access_token().await {
            Ok(token) => Ok(token.expose_secret().to_owned()),
            Err(error) => Err(auth_failure(&error)),
        }
    }

    fn with_force_token_refresh(&mut self, _force: ForceTokenRefresh) {
        // The adapter forces refreshes itself on a 401 (see client.rs).
    }
}
