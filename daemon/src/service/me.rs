//! The signed-in user: who they are, their API tokens (created, listed, revoked) and their
//! browser sessions (listed, ended). A token's plaintext exists only in the answer to its
//! creation; a session is shown by its row id, never its cookie.

use crate::domain::{AuditAction, AuditObject};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::store::{ApiToken, NewToken, Store, TokenId, TokenScope, User};

use super::tokens::{Credential, Issuer, TokenLimits, TokenRequest, grant};
use super::validate::Checker;
use super::{Actor, ServiceResult, audit};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MeView {
    #[serde(flatten)]
    pub user: User,
    pub lists: usize,
    pub mailboxes: usize,
}

/// A freshly created token: the only time the plaintext is shown.
#[derive(Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    pub secret: String,
}

pub async fn me(store: &Store, actor: Actor) -> ServiceResult<MeView> {
    let user = store.get_user(actor.user()).await?;
    let lists = store.lists_for_user(actor.user()).await?.len();
    let mailboxes = super::mailboxes::my_mailboxes(store, actor).await?.len();
    Ok(MeView {
        user,
        lists,
        mailboxes,
    })
}

pub async fn tokens(store: &Store, actor: Actor) -> ServiceResult<Vec<ApiToken>> {
    Ok(store.list_tokens(actor.user()).await?)
}

/// Issues a token to the actor within what `credential` may grant ([`super::tokens::grant`]).
pub async fn create_token(
    store: &Store,
    actor: Actor,
    credential: Credential,
    limits: TokenLimits,
    label: Option<&str>,
    request: TokenRequest,
) -> ServiceResult<CreatedToken> {
    let mut c = Checker::new();
    let label = c.text("label", label, 100);
    c.finish()?;
    let (scope, expires_at) = grant(limits, Issuer::User(credential), request, store.now_ms())?;
    let issued = store
        .issue_token(
            actor.user(),
            &NewToken {
                label: label.as_deref().unwrap_or_default(),
                scope,
                expires_at,
            },
        )
        .await?;
    audit(
        store,
        actor,
        AuditAction::TokenIssue,
        AuditObject::Token,
        Some(issued.token.id.0),
        None,
    )
    .await?;
    Ok(CreatedToken {
        secret: issued.secret.expose_secret().to_owned(),
        token: issued.token,
    })
}

/// Revokes one of the actor's tokens; needs a full-scope credential (a leaked `write` token
/// must not be able to revoke its owner's other tokens).
pub async fn revoke_token(
    store: &Store,
    actor: Actor,
    credential: Credential,
    token: TokenId,
) -> ServiceResult<()> {
    credential.require(
        TokenScope::Full,
        "revoke API tokens (sign in, or use a token with the full scope)",
    )?;
    store.revoke_token_of(actor.user(), token).await?;
    audit(
        store,
        actor,
        AuditAction::TokenRevoke,
        AuditObject::Token,
        Some(token.0),
        None,
    )
    .await?;
    Ok(())
}

/// One of the user's browser sessions, as their security page lists it (never the cookie or the
/// CSRF token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionView {
    pub id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub second_factor: bool,
}

/// The actor's live sessions, newest first.
pub async fn sessions(store: &Store, actor: Actor) -> ServiceResult<Vec<SessionView>> {
    Ok(store
        .sessions_of(actor.user())
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            second_factor: s.second_factor,
        })
        .collect())
}

/// Ends one of the actor's sessions (another user's is "not found"); needs a full-scope
/// credential, like revoking a token.
pub async fn end_session(
    store: &Store,
    actor: Actor,
    credential: Credential,
    session: i64,
) -> ServiceResult<()> {
    credential.require(
        TokenScope::Full,
        "end sessions (sign in, or use a token with the full scope)",
    )?;
    store.delete_session_of(actor.user(), session).await?;
    audit(
        store,
        actor,
        AuditAction::SessionEnd,
        AuditObject::User,
        Some(actor.user().0),
        None,
    )
    .await?;
    Ok(())
}
