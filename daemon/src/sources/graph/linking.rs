//! Linking and unlinking a Microsoft 365 mailbox.
//!
//! [`start_linking`] (CLI `mailbox link-microsoft`, the API, the web page's "Connect Microsoft
//! 365" button) records who asked and for which list under a random `state` (only its hash is
//! stored) with a sealed PKCE verifier, and returns the authorize URL to send the user to.
//! The daemon's callback (`GET /oauth/microsoft/callback`) calls [`complete_linking`]: the
//! state is taken (it works once, within 15 minutes); a linking started from the web page or
//! the API goes on only when the callback comes with the starting user's browser session (an
//! OAuth login-CSRF guard: whoever starts a linking cannot have someone else's mailbox land in
//! their list by sending them the consent URL); then the code is redeemed with the verifier,
//! `GET /me` names the mailbox, and the tokens go sealed into the vault. Linking the same
//! Microsoft account again (re-consent) replaces the tokens of the existing mailbox and sets
//! it back to `ok`. The running source picks the mailbox up within one reconciliation.
//!
//! [`unlink`] deletes the mailbox's subscriptions at Graph, then wipes its tokens,
//! clientStates, queued jobs and delta links, and soft-deletes it. [`GraphUnlinker`] picks the
//! way for callers that may or may not have a running source (the API and the pages).

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use url::Url;
use zeroize::Zeroizing;

use super::app_only::{AppOnlyTokens, GraphAccess};
use super::client::{GraphApi, RetryPolicy};
use super::config::{Consent, GraphConfig};
use super::error::GraphError;
use super::oauth::{
    LINKING_TTL, OAuthClient, code_challenge, issue_state, load_client_secret, random_token,
    state_hash, state_is_ours,
};
use super::settings::{Access, GraphSettings};
use super::source::GraphSource;
use super::stats::GraphStats;
use super::tokens::MailboxTokens;
use crate::store::{
    LinkOrigin, ListId, Mailbox, MailboxFilter, MailboxId, MailboxKind, NewMailbox, SecretKind,
    Store, UserId,
};
use crate::vault::{Binding, SealedSecret, Vault};

/// Why a linking (or unlinking) failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the user cannot add suggestions to that list")]
    ListNotEditable,
    #[error("unknown or expired linking (start again)")]
    UnknownState,
    /// The callback did not come from a browser signed in as the user who started the linking.
    #[error("the linking was started by another user or needs the starting user signed in")]
    WrongSession,
    #[error("consent was not given ({0})")]
    Denied(String),
    #[error("the Microsoft account has no e-mail address")]
    NoAddress,
    /// The mailbox is linked by the organisation (app-only, through a group's membership).
    #[error("this mailbox is managed by the organisation and needs no consent of its own")]
    ManagedByOrganisation,
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
/// Microsoft consent page. `origin` says where it started: a linking from the web page or the
/// API completes only in a browser signed in as `user` (see [`LinkOrigin`]).
pub async fn start_linking(
    store: &Store,
    vault: &Vault,
    config: &GraphConfig,
    user: UserId,
    list: ListId,
    origin: LinkOrigin,
) -> Result<Url, LinkError> {
    start_linking_for(store, vault, config, user, list, origin, Consent::Mail).await
}

/// [`start_linking`] asking for the scopes of `consent` (contacts too, for a list that writes
/// to Outlook contacts).
pub async fn start_linking_for(
    store: &Store,
    vault: &Vault,
    config: &GraphConfig,
    user: UserId,
    list: ListId,
    origin: LinkOrigin,
    consent: Consent,
) -> Result<Url, LinkError> {
    match store.role_of(user, list).await? {
        Some(role) if role.can_edit() => {}
        _ => return Err(LinkError::ListNotEditable),
    }
    let state = issue_state(vault)?;
    let verifier = Zeroizing::new(random_token()?);
    let hash = state_hash(&state);
    let sealed = vault.seal(&Binding::pkce_verifier(&hash), verifier.as_bytes())?;
    store
        .put_oauth_state(&hash, user, list, origin, sealed.as_bytes(), LINKING_TTL)
        .await?;
    let mut url =
        Url::parse(&config.identity_endpoint("authorize")).map_err(|e| GraphError::Protocol {
            op: "authorize url",
            reason: e.to_string(),
        })?;
    url.query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &config.redirect_uri())
        .append_pair("response_mode", "query")
        .append_pair("scope", &consent.scopes())
        .append_pair("state", &state)
        .append_pair("code_challenge", &code_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

/// Completes a linking from the callback's `code` and `state`; returns the linked mailbox.
/// `signed_in` is the user of the browser session the callback came with, if any: a linking
/// started from the web page or the API needs it to be the user who started it. When it is
/// not, the linking is refused and its state is used up without redeeming the code (the
/// account that consented may be a stranger's, sent the consent URL by the starter).
pub async fn complete_linking(
    source: &GraphSource,
    store: &Store,
    vault: &Vault,
    code: &str,
    state: &str,
    signed_in: Option<UserId>,
) -> Result<Mailbox, LinkError> {
    // A state this daemon never issued is refused before the store is touched (the callback
    // is open to the internet; a store write per forged request would be a flood's lever).
    if !state_is_ours(vault, state) {
        return Err(LinkError::UnknownState);
    }
    let hash = state_hash(state);
    let pending = match store.take_oauth_state(&hash).await {
        Ok(pending) => pending,
        Err(e) if e.is_not_found() => return Err(LinkError::UnknownState),
        Err(e) => return Err(e.into()),
    };
    if pending.origin.needs_session() && signed_in != Some(pending.user) {
        tracing::warn!(
            origin = pending.origin.as_str(),
            signed_in = signed_in.is_some(),
            "microsoft 365 callback refused: not the session that started the linking"
        );
        return Err(LinkError::WrongSession);
    }
    let verifier = vault.open_string(
        &Binding::pkce_verifier(&hash),
        &SealedSecret::from_bytes(pending.verifier_sealed.clone()),
    )?;
    let tokens = source
        .oauth()
        .exchange_code(code, verifier.expose_secret(), store.now_ms())
        .await?;
    let key_version = key_version(store).await?;
    let secret = store
        .put_secret_sealed_by(SecretKind::OauthTokens, key_version, |id| {
            Ok::<_, LinkError>(tokens.seal(vault, id)?.into_bytes())
        })
        .await?;
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
        .list_mailboxes(&MailboxFilter {
            owner: Some(user),
            kind: Some(MailboxKind::Graph),
        })
        .await?
        .into_iter()
        .find(|m| GraphSettings::from_json(&m.settings).is_ok_and(|s| s.user_id == me.id));
    if let Some(mailbox) = existing {
        if GraphSettings::is_app_only(&mailbox.settings) {
            return Err(LinkError::ManagedByOrganisation);
        }
        // Re-consent: new tokens, status back to ok (the old token record is wiped).
        store.set_mailbox_secret(mailbox.id, secret).await?;
        if mailbox.target_list != list {
            store.set_target_list(mailbox.id, list).await?;
        }
        tracing::info!(mailbox = %mailbox.id, "graph mailbox re-linked");
        return Ok(store.get_mailbox(mailbox.id).await?);
    }
    let settings = GraphSettings {
        user_id: me.id.clone(),
        folders: source.config().folders.clone(),
        access: Access::Delegated,
    };
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
    let tokens =
        MailboxTokens::for_secret(store.clone(), vault.clone(), source.oauth().clone(), secret);
    let api = GraphApi::new(
        &source.config().graph_url,
        tokens,
        RetryPolicy::default(),
        source.stats_handle(),
    )?;
    Ok(api.me().await?)
}

/// How long an unlink waits for Graph to delete the subscriptions before it wipes the local
/// data anyway (an unreachable Graph must not keep a user's "unlink" hanging; a subscription
/// left behind expires on its own and its notifications find no clientState here).
pub const UNLINK_GRAPH_BUDGET: Duration = Duration::from_secs(10);

/// Unlinks a Microsoft 365 mailbox: its subscriptions are deleted at Graph (best effort: an
/// unreachable Graph or revoked consent does not keep the local data; that case is logged and
/// counted in `mailsig_graph_unlink_incomplete_total`), then its tokens, clientStates, jobs and
/// delta links are wiped and the mailbox soft-deleted.
pub async fn unlink(
    store: &Store,
    vault: &Vault,
    config: &GraphConfig,
    mailbox: MailboxId,
) -> Result<(), LinkError> {
    let subscriptions = store.graph_subscriptions(mailbox).await?;
    if !subscriptions.is_empty() {
        let deleted = tokio::time::timeout(
            UNLINK_GRAPH_BUDGET,
            delete_at_graph(store, vault, config, mailbox, &subscriptions),
        )
        .await;
        let complete = match deleted {
            Ok(complete) => complete,
            Err(_) => {
                tracing::warn!(mailbox = %mailbox, budget_s = UNLINK_GRAPH_BUDGET.as_secs(), "graph did not answer in time; subscriptions left to expire");
                false
            }
        };
        if !complete {
            super::stats::count_incomplete_unlink();
        }
    }
    store.forget_graph_mailbox(mailbox).await?;
    store.soft_remove_mailbox(mailbox).await?;
    Ok(())
}

/// Deletes the subscriptions at Graph; `false` when any of them could not be deleted.
async fn delete_at_graph(
    store: &Store,
    vault: &Vault,
    config: &GraphConfig,
    mailbox: MailboxId,
    subscriptions: &[crate::store::GraphSubscription],
) -> bool {
    let oauth = match load_client_secret(config, store, vault)
        .await
        .and_then(|secret| OAuthClient::new(Arc::new(config.clone()), secret))
    {
        Ok(oauth) => oauth,
        Err(error) => {
            tracing::warn!(mailbox = %mailbox, error = %error, "graph subscriptions not deleted at Graph");
            return false;
        }
    };
    // A mailbox linked app-only is read with the app's tokens; its subscriptions are the app's.
    let app_only = store
        .get_mailbox(mailbox)
        .await
        .is_ok_and(|m| GraphSettings::is_app_only(&m.settings));
    let access = if app_only {
        GraphAccess::AppOnly(AppOnlyTokens::new(store.clone(), oauth), mailbox)
    } else {
        MailboxTokens::new(store.clone(), vault.clone(), oauth, mailbox).into()
    };
    // Few attempts: this runs while a user waits for their "unlink" to answer.
    let retry = RetryPolicy {
        attempts: 2,
        max_wait: Duration::from_secs(2),
        backoff: Duration::from_millis(500),
    };
    let api = match GraphApi::new(
        &config.graph_url,
        access,
        retry,
        Arc::new(GraphStats::default()),
    ) {
        Ok(api) => api,
        Err(error) => {
            tracing::warn!(mailbox = %mailbox, error = %error, "graph subscriptions not deleted at Graph");
            return false;
        }
    };
    let mut complete = true;
    for sub in subscriptions {
        if let Err(error) = api.delete_subscription(&sub.id).await {
            tracing::warn!(mailbox = %mailbox, error = %error, "graph subscription not deleted at Graph");
            complete = false;
        }
    }
    complete
}

/// What unlinking a Microsoft 365 mailbox can use, gathered from what the caller has: the
/// running source (it stops the mailbox's task and forgets its subscriptions at once), else
/// the `[graph]` settings (Graph calls without a running source), else nothing (the local data
/// is wiped; subscriptions at Graph expire on their own). Cheap to clone.
#[derive(Clone)]
pub struct GraphUnlinker {
    vault: Vault,
    config: Option<Arc<GraphConfig>>,
    source: Option<GraphSource>,
}

impl GraphUnlinker {
    pub fn new(
        vault: Vault,
        config: Option<Arc<GraphConfig>>,
        source: Option<GraphSource>,
    ) -> GraphUnlinker {
        GraphUnlinker {
            vault,
            config,
            source,
        }
    }

    /// Unlinks `mailbox` (a `graph` mailbox) with the best means available.
    pub async fn unlink(&self, store: &Store, mailbox: MailboxId) -> Result<(), LinkError> {
        if let Some(source) = &self.source {
            return source.unlink(mailbox).await;
        }
        if let Some(config) = &self.config {
            return unlink(store, &self.vault, config, mailbox).await;
        }
        tracing::warn!(mailbox = %mailbox, "microsoft 365 is not configured: graph subscriptions left to expire");
        super::stats::count_incomplete_unlink();
        store.forget_graph_mailbox(mailbox).await?;
        store.soft_remove_mailbox(mailbox).await?;
        Ok(())
    }
}

async fn key_version(store: &Store) -> Result<i64, LinkError> {
    let secrets = store.all_secrets().await?;
    Ok(secrets.iter().map(|s| s.key_version).max().unwrap_or(1))
}
