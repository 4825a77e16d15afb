//! Linking an IMAP mailbox that signs in with OAuth 2.0 instead of a password (Exchange Online,
//! Gmail, any server taking XOAUTH2 or OAUTHBEARER): the tokens a completed authorization gave
//! are tested with one AUTHENTICATE, sealed as one vault record (the provider's name inside),
//! and stored with the mailbox; the running IMAP source refreshes them from there.
//!
//! Two ways in:
//! - the operator's command line runs the authorization itself on a loopback redirect
//!   ([`link_imap_oauth_trusted`]); like the operator's password linking, it has no SSRF guard;
//! - a user on the pages or the API ([`start_imap_oauth_link`], then the daemon's callback at
//!   [`CALLBACK_PATH`] calls [`complete_imap_oauth_link`]): the form is checked and the server's
//!   addresses pass the SSRF guard before the user is sent to the provider; the pending link
//!   (provider, server settings, PKCE verifier) waits sealed under the hash of a tagged
//!   `state` for at most 15 minutes; the callback takes it once, only in a browser signed in as
//!   the user who started it (a link started by one person cannot be completed with another
//!   person's account by sending them the URL), redeems the code, and tests the token against
//!   the addresses it checks again.

use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use crate::domain::{AuditAction, AuditObject};
use crate::sources::graph::oauth::{
    LINKING_TTL, code_challenge, issue_state, random_token, state_hash, state_is_ours,
};
use crate::sources::imap::connect::{Credential, test_credential, test_credential_at};
use crate::sources::imap::{ImapOptions, ImapSettings};
use crate::sources::oauth::{BearerTokens, OAuthProviders, TokenClient};
use crate::store::{
    LinkOrigin, ListId, Mailbox, MailboxKind, NewMailbox, PendingImapOAuth, Role, SecretKind,
    Store, UserId,
};
use crate::vault::{Binding, SealedSecret, Vault};

use super::host_guard::resolve_checked;
use super::mailboxes::{
    LinkImap, MailboxView, check_domains, check_link_fields, create_with_secret,
    current_key_version, link_error, refuse_linked_twice,
};
use super::validate::Checker;
use super::{Actor, FieldCode, ServiceError, ServiceResult, audit, require_role};

/// Where the provider sends the browser back, below the public base URL.
pub const CALLBACK_PATH: &str = "/oauth/imap/callback";

/// The mail OAuth providers (`[oauth.providers.*]`) and the callback URL, for links started
/// from the pages and the API.
#[derive(Clone, Debug, Default)]
pub struct MailOAuthLinking {
    pub providers: OAuthProviders,
    /// `<public base URL>` + [`CALLBACK_PATH`]; `None`: linking from the pages is off.
    pub callback_url: Option<String>,
}

impl MailOAuthLinking {
    pub fn new(providers: OAuthProviders, public_base_url: &str) -> MailOAuthLinking {
        MailOAuthLinking {
            providers,
            callback_url: Some(format!(
                "{}{CALLBACK_PATH}",
                public_base_url.trim_end_matches('/')
            )),
        }
    }

    /// The providers a user can choose, by name (empty: the pages offer no OAuth linking).
    pub fn provider_names(&self) -> Vec<String> {
        match self.callback_url {
            Some(_) => self.providers.names().map(str::to_owned).collect(),
            None => Vec::new(),
        }
    }
}

/// What waits, sealed, between the start and the callback.
#[derive(Serialize, Deserialize)]
struct PendingLink {
    provider: String,
    verifier: String,
    settings: ImapSettings,
    address: String,
    name: Option<String>,
    excluded_domains: Vec<String>,
}

impl Drop for PendingLink {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.verifier);
    }
}

/// What a user asks to link by OAuth: the IMAP form (its password is not used), the provider's
/// name, and where it was asked (the pages or the API).
pub struct ImapOAuthStart {
    pub provider: String,
    pub form: LinkImap,
    pub origin: LinkOrigin,
}

/// Starts linking the IMAP account of `form` (its password field is not used) through the
/// provider `provider`; returns the URL to send the user's browser to. The form is checked
/// and the server's addresses pass the SSRF guard first, so a refused server is told at once.
pub async fn start_imap_oauth_link(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    linking: &MailOAuthLinking,
    actor: Actor,
    start: ImapOAuthStart,
) -> ServiceResult<Url> {
    let ImapOAuthStart {
        provider,
        form,
        origin,
    } = start;
    if origin == LinkOrigin::Cli {
        return Err(ServiceError::Forbidden {
            action: "start an OAuth link from the command line this way",
        });
    }
    if let Some(list) = form.list.filter(|l| *l > 0) {
        require_role(store, actor, ListId(list), Role::Editor).await?;
    }
    let Some(client) = linking.providers.get(provider.trim()) else {
        return Err(ServiceError::field(
            "provider",
            FieldCode::Choice,
            "is not one of the configured providers",
        ));
    };
    let Some(callback) = linking.callback_url.as_deref() else {
        return Err(ServiceError::Unavailable(
            "signing in to a mail server through a provider is not configured".into(),
        ));
    };
    let (settings, address, list) = check_link_fields(&form, options, false)?;
    refuse_linked_twice(store, actor, &settings).await?;
    resolve_checked(&settings.host, settings.port, options).await?;
    let name = form
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);

    let internal = |what: &str| ServiceError::Internal(format!("start an OAuth link: {what}"));
    let state = issue_state(vault).map_err(|_| internal("no randomness"))?;
    let hash = state_hash(&state);
    let pending = PendingLink {
        provider: client.name.clone(),
        verifier: random_token().map_err(|_| internal("no randomness"))?,
        settings,
        address,
        name,
        excluded_domains: form.excluded_domains,
    };
    let url = client.authorization_request(callback, &state, &code_challenge(&pending.verifier));
    let json = Zeroizing::new(
        serde_json::to_vec(&pending).map_err(|_| internal("serialise the pending link"))?,
    );
    let sealed = vault
        .seal(&Binding::imap_oauth_link(&hash), &json)
        .map_err(|e| internal(&format!("seal the pending link: {e}")))?;
    store
        .put_imap_oauth_link(
            &hash,
            &PendingImapOAuth {
                user: actor.user(),
                list,
                origin,
                sealed: sealed.into_bytes(),
            },
            LINKING_TTL,
        )
        .await?;
    Ok(url)
}

/// Drops the pending link of `state` (the provider answered with an error instead of a code).
pub async fn abandon_imap_oauth_link(
    store: &Store,
    vault: &Vault,
    state: &str,
) -> ServiceResult<()> {
    if state_is_ours(vault, state) {
        match store.take_imap_oauth_link(&state_hash(state)).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Completes a link from the callback's `code` and `state`. `signed_in` is the user of the
/// browser session the callback came with: it must be the user who started the link, or the
/// link is refused and its state used up without redeeming the code.
pub async fn complete_imap_oauth_link(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    linking: &MailOAuthLinking,
    signed_in: Option<UserId>,
    code: &str,
    state: &str,
) -> ServiceResult<MailboxView> {
    const UNKNOWN: ServiceError = ServiceError::NotFound { what: "linking" };
    // A state this daemon never issued is refused before the store is touched.
    if !state_is_ours(vault, state) {
        return Err(UNKNOWN);
    }
    let hash = state_hash(state);
    let pending = match store.take_imap_oauth_link(&hash).await {
        Ok(pending) => pending,
        Err(e) if e.is_not_found() => return Err(UNKNOWN),
        Err(e) => return Err(e.into()),
    };
    if signed_in != Some(pending.user) {
        tracing::warn!(
            origin = pending.origin.as_str(),
            signed_in = signed_in.is_some(),
            "imap oauth callback refused: not the session that started the link"
        );
        return Err(ServiceError::Forbidden {
            action: "complete a link started by another user",
        });
    }
    let json = vault
        .open(
            &Binding::imap_oauth_link(&hash),
            &SealedSecret::from_bytes(pending.sealed.clone()),
        )
        .map_err(|_| UNKNOWN)?;
    let link: PendingLink = serde_json::from_slice(&json).map_err(|_| UNKNOWN)?;
    let Some(callback) = linking.callback_url.as_deref() else {
        return Err(UNKNOWN);
    };
    let provider = linking.providers.get(&link.provider).ok_or_else(|| {
        ServiceError::Unavailable("the provider of this link is no longer configured".into())
    })?;
    let tokens = TokenClient::new(provider)
        .map_err(|e| ServiceError::Internal(format!("token client: {e}")))?
        .exchange_code(code, &link.verifier, callback, store.now_ms())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "imap oauth link: the code was not redeemed");
            ServiceError::Unavailable(
                "the provider did not complete the sign-in; start again".into(),
            )
        })?;

    let actor = Actor::signed_in(pending.user);
    require_role(store, actor, pending.list, Role::Editor).await?;
    refuse_linked_twice(store, actor, &link.settings).await?;
    let addrs = resolve_checked(&link.settings.host, link.settings.port, options).await?;
    link.settings.validate(options).map_err(link_error)?;
    test_credential_at(
        &link.settings,
        Credential::Bearer(&tokens.access_token),
        options,
        &addrs,
    )
    .await
    .map_err(link_error)?;
    let mailbox = store_oauth_mailbox(
        store,
        vault,
        actor.user(),
        LinkOAuth {
            settings: link.settings.clone(),
            address: link.address.clone(),
            name: link.name.clone(),
            list: pending.list,
            excluded_domains: link.excluded_domains.clone(),
            tokens,
        },
    )
    .await?;
    audit(
        store,
        actor,
        AuditAction::MailboxAdd,
        AuditObject::Mailbox,
        Some(mailbox.id.0),
        Some("imap-oauth"),
    )
    .await?;
    Ok(mailbox.into())
}

/// An OAuth link whose fields are valid and whose authorization completed.
pub struct LinkOAuth {
    pub settings: ImapSettings,
    pub address: String,
    pub name: Option<String>,
    pub list: ListId,
    pub excluded_domains: Vec<String>,
    pub tokens: BearerTokens,
}

/// The operator links an OAuth mailbox for the user it acts as: the list must be editable by
/// the owner, the access token must open every folder, and the link is audited.
pub async fn link_imap_oauth_trusted(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    actor: Actor,
    mut link: LinkOAuth,
) -> ServiceResult<MailboxView> {
    if !actor.is_operator() {
        return Err(ServiceError::Forbidden {
            action: "link a mailbox without the host check (operator only)",
        });
    }
    require_role(store, actor, link.list, Role::Editor).await?;
    let mut c = Checker::new();
    check_domains(&mut c, &link.excluded_domains);
    c.finish()?;
    link.settings.operator_trusted = true;
    link.settings.validate(options).map_err(link_error)?;
    test_credential(
        &link.settings,
        Credential::Bearer(&link.tokens.access_token),
        options,
    )
    .await
    .map_err(link_error)?;
    let mailbox = store_oauth_mailbox(store, vault, actor.user(), link).await?;
    audit(
        store,
        actor,
        AuditAction::MailboxAdd,
        AuditObject::Mailbox,
        Some(mailbox.id.0),
        Some("imap-oauth"),
    )
    .await?;
    Ok(mailbox.into())
}

/// Seals the tokens and stores them with the mailbox ([`create_with_secret`]).
async fn store_oauth_mailbox(
    store: &Store,
    vault: &Vault,
    owner: UserId,
    link: LinkOAuth,
) -> ServiceResult<Mailbox> {
    let key_version = current_key_version(store).await?;
    let secret = store
        .put_secret_sealed_by(SecretKind::OauthTokens, key_version, |id| {
            link.tokens
                .seal(vault, id)
                .map(crate::vault::SealedSecret::into_bytes)
                .map_err(|e| ServiceError::Internal(format!("seal the tokens: {e}")))
        })
        .await?;
    let settings = serde_json::to_value(&link.settings)
        .map_err(|e| ServiceError::Internal(format!("serialise mailbox settings: {e}")))?;
    create_with_secret(
        store,
        NewMailbox {
            owner,
            kind: MailboxKind::Imap,
            address: link.address,
            display_name: link.name,
            target_list: link.list,
            excluded_domains: link.excluded_domains,
            settings,
            secret: None,
        },
        secret,
    )
    .await
}
