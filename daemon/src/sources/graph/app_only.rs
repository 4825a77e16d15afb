//! The app's own access to the organisation's Microsoft 365 tenant (app-only: the
//! client-credentials grant, after an administrator's admin consent), and the two ways a
//! [`super::GraphApi`] gets its bearer token: a person's delegated tokens, or these.
//!
//! One token serves every app-only mailbox and the directory calls, so there is one cache for
//! the app ([`AppOnlyTokens`], cloned into each user of it), not one per mailbox. Nothing is
//! stored: a token is asked for again shortly before it expires. The tenant is the one the
//! admin consent recorded, read when a new token is needed, so a consent given (or given again
//! for another tenant) takes effect without a restart.

use std::sync::Arc;

use graph_core::identity::ForceTokenRefresh;
use graph_rs_sdk::error::{AuthExecutionError, AuthExecutionResult, AuthorizationFailure};
use graph_rs_sdk::identity::ClientApplication;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::error::GraphError;
use super::oauth::{AppToken, OAuthClient};
use super::tokens::MailboxTokens;
use crate::store::{MailboxId, Store};

/// The app's client-credentials tokens for the tenant that granted admin consent. Cheap to clone;
/// clones share the cache.
#[derive(Clone)]
pub struct AppOnlyTokens {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    oauth: OAuthClient,
    /// The current token; the lock also makes concurrent callers wait for one request.
    current: Mutex<Option<AppToken>>,
}

impl AppOnlyTokens {
    pub fn new(store: Store, oauth: OAuthClient) -> AppOnlyTokens {
        AppOnlyTokens {
            inner: Arc::new(Inner {
                store,
                oauth,
                current: Mutex::new(None),
            }),
        }
    }

    /// A valid app-only access token, asked for anew when the cached one is about to expire.
    pub async fn access_token(&self) -> Result<SecretString, GraphError> {
        self.token(false).await
    }

    /// Asks for a new token whatever the expiry says (Graph answered 401 to the current one).
    pub async fn force_refresh(&self) -> Result<SecretString, GraphError> {
        self.token(true).await
    }

    async fn token(&self, force: bool) -> Result<SecretString, GraphError> {
        let mut current = self.inner.current.lock().await;
        let now = self.inner.store.now_ms();
        if !force
            && let Some(token) = current.as_ref()
            && token.expires_at > now
        {
            return Ok(token.access_token.clone());
        }
        let grant = self
            .inner
            .store
            .tenant_grant()
            .await?
            .ok_or(GraphError::NoTenantGrant)?;
        let token = self.inner.oauth.app_token(&grant.tenant_id, now).await?;
        tracing::debug!("graph app-only token obtained");
        let access = token.access_token.clone();
        *current = Some(token);
        Ok(access)
    }

    /// The token handed out last, for the SDK's synchronous accessor.
    fn last(&self) -> Option<SecretString> {
        self.inner
            .current
            .try_lock()
            .ok()
            .and_then(|current| current.as_ref().map(|t| t.access_token.clone()))
    }
}

/// Where a Graph adapter's bearer token comes from.
#[derive(Clone)]
pub enum GraphAccess {
    /// The person's own consent: delegated tokens of one mailbox, calls on `/me/…`.
    Delegated(MailboxTokens),
    /// The organisation's admin consent: the app's tokens, calls on `/users/{id}/…` (or the
    /// directory). The mailbox id is for logs only (`MailboxId(0)` for directory calls).
    AppOnly(AppOnlyTokens, MailboxId),
}

impl From<MailboxTokens> for GraphAccess {
    fn from(tokens: MailboxTokens) -> GraphAccess {
        GraphAccess::Delegated(tokens)
    }
}

impl GraphAccess {
    pub async fn access_token(&self) -> Result<SecretString, GraphError> {
        match self {
            GraphAccess::Delegated(tokens) => tokens.access_token().await,
            GraphAccess::AppOnly(tokens, _) => tokens.access_token().await,
        }
    }

    pub async fn force_refresh(&self) -> Result<SecretString, GraphError> {
        match self {
            GraphAccess::Delegated(tokens) => tokens.force_refresh().await,
            GraphAccess::AppOnly(tokens, _) => tokens.force_refresh().await,
        }
    }

    /// The mailbox the calls are for (logs).
    pub fn mailbox(&self) -> MailboxId {
        match self {
            GraphAccess::Delegated(tokens) => tokens.mailbox(),
            GraphAccess::AppOnly(_, mailbox) => *mailbox,
        }
    }
}

fn auth_failure(error: &GraphError) -> AuthExecutionError {
    AuthExecutionError::Authorization(AuthorizationFailure::msg_internal_err(error.class()))
}

#[async_trait::async_trait]
impl ClientApplication for GraphAccess {
    fn get_token_silent(&mut self) -> AuthExecutionResult<String> {
        match self {
            GraphAccess::Delegated(tokens) => tokens.get_token_silent(),
            GraphAccess::AppOnly(tokens, _) => match tokens.last() {
                Some(token) => Ok(token.expose_secret().to_owned()),
                None => Err(auth_failure(&GraphError::NoTenantGrant)),
            },
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
