//! Linking and unlinking a Microsoft 365 mailbox.
//!
//! [`start_linking`] (CLI `mailbox link-microsoft`, the API, the web page's "Connect Microsoft
//! 365" button) records who asked and for which list under a random `state` (only its hash is
//! stored) with a sealed PKCE verifier, and returns the authorize URL to send the user to.
//! The daemon's callback (`GET /oauth/microsoft/callback`) calls [`complete_linking`]: the
//! state is taken (it works once, within 15 minutes), the code redeemed with the verifier,
//! `GET /me` names the mailbox, and the tokens go sealed into the vault. Linking the same
//! Microsoft account again (re-consent) replaces the tokens of the existing mailbox and sets
//! it back to `ok`. The running source picks the mailbox up within one reconciliation.
//!
//! [`unlink`] deletes the mailbox's subscriptions at Graph, then wipes its tokens,
//! clientStates, queued jobs and delta links, and soft-deletes it.

use std::sync::Arc;

use secrecy::ExposeSecret;
use url::Url;
use zeroize::Zeroizing;

use super::client::{GraphApi, RetryPolicy};
use super::config::{GraphConfig, SCOPES};
use super::error::GraphError;
use super::oauth::{LINKING_TTL, OAuthClient, code_challenge, load_client_secret, random_token, state_hash};
use super::settings::GraphSettings;
use super::source::GraphSource;
use super::stats::GraphStats;
use super::tokens::MailboxTokens;
use crate::store::{ListId, Mailbox, MailboxFilter, MailboxId, MailboxKind, NewMailbox, SecretKind, Store, UserId};
use crate::vault::{SealedSecret, Vault};

/// Why a linking (or unlinking) failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the user cannot add suggestions to that list")]
    ListNotEditable,
    #[error("unknown or expired linking (start again)")]
    UnknownState,
    #[error("consent was not given ({0})")]
    Denied(String),
    #[error("the Microsoft account has no e-mail address")]
    NoAddress,
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("store: {0}")]
    Store(#[from] crate::store::Error),
}

impl From<crate::vault::VaultError> for LinkError {
    fn from(e: crate::vault::VaultError) -> Self {
        LinkError::Graph(GraphError::Vault(e))
    }
}

/// Starts a linking for `user` whose suggestions will go to `list`; returns the URL of the
/// Microsoft consent page.
pub async fn start_linking(
    store: &Store,
    vault: &Vault,
    config: &GraphConfig,
    user: UserId,
    list: ListId,
) -> Result<Url, LinkError> {
    match store.role_of(user, list).await? {
        Some(role) if role.can_edit() => {}
        _ => return Err(LinkError::ListNotEditable),
    }
    let state = Zeroizing::new(random_token()?);
    let verifier = Zeroizing::new(random_token()?);
    let sealed = vault.seal(verifier.as_bytes())?;
    store.put_oauth_state(&state_hash(&state), user, list, sealed.as_bytes(), LINKING_TTL).await?;
    let mut url = Url::parse(&config.identity_endpoint("authorize"))
        .map_err(|e| GraphError::Protocol { op: "authorize url", reason: e.to_string() })?;
    url.query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &config.redirect_uri())
        .append_pair("response_mode", "query")
        .append_pair("scope", SCOPES)
        .append_pair("state", &state)
        .append_pair("code_challenge", &code_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

/// Completes a linking from the callback's `code` and `state`; returns the linked mailbox.
pub async fn complete_linking(
    source: &GraphSource,
    store: &Store,
    vault: &Vault,
    code: &str,
    state: &str,
) -> Result<Mailbox, LinkError> {
    let pending = match store.take_oauth_state(&state_hash(state)).await {
        Ok(pending) => pending,
        Err(e) if e.is_not_found() => return Err(LinkError::UnknownState),
        Err(e) => return Err(e.into()),
    };
    let verifier = vault.open_string(&SealedSecret::from_bytes(pending.verifier_sealed.clone()))?;
    let tokens = source.oauth().exchange_code(code, verifier.expose_secret(), store.now_ms()).await?;
    let key_version = key_version(store).await?;
    let sealed = tokens.seal(vault)?;
    let secret = store.put_secret(SecretKind::OauthTokens, sealed.as_bytes(), key_version).await?;
    match link_with_secret(source, store, vault, pending.user, pending.list, secret).await {
        Ok(mailbox) => Ok(mailbox),
        Err(error) => {
            let _ = store.delete_secret(secret).await;
            Err(error)
        }
    }
}

async fn link_with_secret(
    source: &GraphSource,
    store: &Store,
    vault: &Vault,
    user: UserId,
    list: ListId,
    secret: crate::store::SecretId,
) -> Result<Mailbox, LinkError> {
    // Ask Graph who signed in, with the fresh tokens (through a mailbox-less token store).
    let me = probe_me(source, store, vault, secret).await?;
    let address = me.address().ok_or(LinkError::NoAddress)?.to_owned();
    let existing = store
        .list_mailboxes(&MailboxFilter { owner: Some(user), kind: Some(MailboxKind::Graph) })
        .await?
        .into_iter()
        .find(|m| GraphSettings::from_json(&m.settings).is_ok_and(|s| s.user_id == me.id));
    if let Some(mailbox) = existing {
        // Re-consent: new tokens, status back to ok (the old token record is wiped).
        store.set_mailbox_secret(mailbox.id, secret).await?;
        if mailbox.target_list != list {
            store.set_target_list(mailbox.id, list).await?;
        }
        tracing::info!(mailbox = %mailbox.id, "graph mailbox re-linked");
        return Ok(store.get_mailbox(mailbox.id).await?);
    }
    let settings = GraphSettings { user_id: me.id.clone(), folders: source.config().folders.clone() };
    let mailbox = store
        .create_mailbox(NewMailbox {
            owner: user,
            kind: MailboxKind::Graph,
            address,
            display_name: me.display_name.clone(),
            target_list: list,
            excluded_domains: Vec::new(),
            settings: settings.to_json(),
            secret: Some(secret),
        })
        .await?;
    tracing::info!(mailbox = %mailbox.id, "graph mailbox linked");
    Ok(mailbox)
}

/// `GET /me` with a token record that is not attached to a mailbox yet.
async fn probe_me(
    source: &GraphSource,
    store: &Store,
    vault: &Vault,
    secret: crate::store::SecretId,
) -> Result<super::client::Me, LinkError> {
    let tokens = MailboxTokens::for_secret(store.clone(), vault.clone(), source.oauth().clone(), secret);
    let api = GraphApi::new(&source.config().graph_url, tokens, RetryPolicy::default(), source.stats_handle())?;
    Ok(api.me().await?)
}

/// Unlinks a Microsoft 365 mailbox: its subscriptions are deleted at Graph (best effort: an
/// unreachable Graph or revoked consent does not keep the local data), then its tokens,
/// clientStates, jobs and delta links are wiped and the mailbox soft-deleted.
pub async fn unlink(store: &Store, vault: &Vault, config: &GraphConfig, mailbox: MailboxId) -> Result<(), LinkError> {
    let subscriptions = store.graph_subscriptions(mailbox).await?;
    if !subscriptions.is_empty() {
        match load_client_secret(config, store, vault).await.and_then(|secret| OAuthClient::new(Arc::new(config.clone()), secret)) {
            Ok(oauth) => {
                let tokens = MailboxTokens::new(store.clone(), vault.clone(), oauth, mailbox);
                let api = GraphApi::new(&config.graph_url, tokens, RetryPolicy::default(), Arc::new(GraphStats::default()))?;
                for sub in &subscriptions {
                    if let Err(error) = api.delete_subscription(&sub.id).await {
                        tracing::warn!(mailbox = %mailbox, error = %error, "graph subscription not deleted at Graph");
                    }
                }
            }
            Err(error) => tracing::warn!(mailbox = %mailbox, error = %error, "graph subscriptions not deleted at Graph"),
        }
    }
    store.forget_graph_mailbox(mailbox).await?;
    store.soft_remove_mailbox(mailbox).await?;
    Ok(())
}

async fn key_version(store: &Store) -> Result<i64, LinkError> {
    let secrets = store.all_secrets().await?;
    Ok(secrets.iter().map(|s| s.key_version).max().unwrap_or(1))
}
