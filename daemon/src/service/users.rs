//! Accounts as the operator manages them from the host's command line: creating a user,
//! setting a first or replacement password, and turning off a user's two-step verification. These are the only ways in, so the command line
//! validates and audits exactly as any other front end would; the audit entries name the operator
//! (no user id). A user changing their own password goes through `http::auth::change_password`,
//! which also checks the current one.

use crate::domain::{AuditAction, AuditObject};
use crate::store::{PasswordReplaced, Store, User, UserId};

use super::validate::Checker;
use super::{Actor, ServiceResult, audit};

/// Longest display name kept.
pub(crate) const MAX_NAME_CHARS: usize = 200;

/// Creates a user with `email` (their sign-in and notification address) and an optional name.
pub async fn add(store: &Store, email: &str, name: Option<&str>) -> ServiceResult<User> {
    let mut c = Checker::new();
    let email = c.email("email", Some(email));
    let name = c.optional_text("name", name, MAX_NAME_CHARS);
    c.finish()?;
    let email = email.unwrap_or_default();
    let user = store.create_user(&email, name.as_deref()).await?;
    audit(
        store,
        Actor::operator_as(user.id),
        AuditAction::UserCreate,
        AuditObject::User,
        Some(user.id.0),
        None,
    )
    .await?;
    Ok(user)
}

/// Stores `phc` (an argon2id PHC string, already hashed) as `user`'s password; every session
/// and API token of the user ends in the same transaction.
pub async fn set_password(
    store: &Store,
    user: UserId,
    phc: &str,
) -> ServiceResult<PasswordReplaced> {
    let replaced = store.replace_password(user, Some(phc)).await?;
    audit(
        store,
        Actor::operator_as(user),
        AuditAction::UserSetPassword,
        AuditObject::User,
        Some(user.0),
        None,
    )
    .await?;
    Ok(replaced)
}

/// Turns off `user`'s two-step verification (lost phone and lost recovery codes): the sealed
/// TOTP secret is wiped, the recovery codes and open sign-in challenges deleted. `false` when
/// the user had none (nothing is audited then). The operator's, like the admin pages' action.
pub async fn reset_second_factor(store: &Store, user: UserId) -> ServiceResult<bool> {
    super::org::users::reset_second_factor(store, super::org::AdminActor::operator(), user).await
}

pub use super::org::users::set_org_role;

/// Sets `user`'s org role as a sign-in says it should be (an identity provider's claim or group
/// mapped to the admin role). Audited, with no user as the actor, only when the role changes;
/// `true` then.
pub async fn apply_org_role_from_sign_in(
    store: &Store,
    user: UserId,
    role: crate::domain::OrgRole,
) -> ServiceResult<bool> {
    if store.org_role(user).await? == role {
        return Ok(false);
    }
    set_org_role(store, super::org::AdminActor::operator(), user, role).await?;
    Ok(true)
}
