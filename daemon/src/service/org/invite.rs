//! Inviting a person by e-mail: an org admin (or the operator) names an address, the account
//! exists at once (without a password, so nobody can sign in to it yet), and the notifier's
//! durable outbox sends the invitation mail with a one-time link. The link's token is made only
//! when the mail is composed (`notify::worker`), and only its hash is stored. Following the link
//! before it expires lets the person choose their first password ([`accept`]); signing in
//! through an OpenID provider with the same verified address works as well and closes the
//! invitation. Inviting an address again while its account has never been used sends a new
//! link (the old one stops working); an address whose account is in use is a conflict.

use crate::domain::{AuditAction, AuditObject, InvitationPayload, OutboxMessage};
use crate::store::{AccountInvitation, OrgMember, Store, new_link_token};

use super::super::users::MAX_NAME_CHARS;
use super::super::validate::Checker;
use super::super::{Actor, ServiceError, ServiceResult, audit};
use super::AdminActor;

/// How long an invitation link works: 7 days.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Invites `email` (with an optional display name): the account, the invitation and its mail in
/// the outbox; audited as `user.invite` by the admin. Returns the account.
pub async fn invite(
    store: &Store,
    admin: AdminActor,
    email: &str,
    name: Option<&str>,
) -> ServiceResult<OrgMember> {
    let mut c = Checker::new();
    let email = c.email("email", Some(email));
    let name = c.optional_text("name", name, MAX_NAME_CHARS);
    c.finish()?;
    let email = email.unwrap_or_default();
    let user = match store.user_by_email(&email).await {
        Ok(existing) => {
            let member = store.org_member(existing.id).await?;
            let unused = !member.has_password
                && member.last_sign_in.is_none()
                && member.disabled_at.is_none()
                && store.oidc_identities_of(existing.id).await?.is_empty();
            if !unused {
                return Err(ServiceError::Conflict { what: "account" });
            }
            existing.id
        }
        Err(e) if e.is_not_found() => store.create_user(&email, name.as_deref()).await?.id,
        Err(e) => return Err(e.into()),
    };
    let placeholder = new_link_token().map_err(|e| ServiceError::Internal(e.to_owned()))?;
    let expires_at = store.now_ms().saturating_add(INVITATION_TTL_MS);
    // Only the newest invitation of an account is open.
    store.close_account_invitations(user).await?;
    let invitation = store
        .create_account_invitation(user, &placeholder, expires_at)
        .await?;
    store
        .enqueue(
            &OutboxMessage::Invitation(InvitationPayload { invitation }),
            user,
            store.now_ms(),
        )
        .await?;
    audit(
        store,
        admin.actor(),
        AuditAction::UserInvite,
        AuditObject::User,
        Some(user.0),
        None,
    )
    .await?;
    Ok(store.org_member(user).await?)
}

/// The open invitation whose link carries `token`; `NotFound` when it is unknown, used or
/// expired (one answer for all three).
pub async fn pending(store: &Store, token: &str) -> ServiceResult<AccountInvitation> {
    store
        .account_invitation_by_token(token)
        .await?
        .ok_or(ServiceError::NotFound { what: "invitation" })
}

/// Uses the invitation of `token`: the account gets `phc` (an argon2id hash, already checked for
/// length) as its first password and the link stops working. Audited as the invited user's
/// `user.accept_invitation`. `NotFound` when the link is no longer valid.
pub async fn accept(store: &Store, token: &str, phc: &str) -> ServiceResult<AccountInvitation> {
    let invitation = pending(store, token).await?;
    if !store.accept_account_invitation(invitation.id, phc).await? {
        return Err(ServiceError::NotFound { what: "invitation" });
    }
    audit(
        store,
        Actor::signed_in(invitation.user),
        AuditAction::UserAcceptInvitation,
        AuditObject::User,
        Some(invitation.user.0),
        None,
    )
    .await?;
    Ok(invitation)
}
