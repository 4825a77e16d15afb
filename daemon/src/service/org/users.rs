//! Accounts as an org admin (or the operator) manages them: who is admin, who may sign in.
//! Every change is audited with the admin as the actor and the user as the object.

use crate::domain::{AuditAction, AuditObject, OrgRole};
use crate::store::{OrgMember, Store, UserId};

use super::super::{ServiceError, ServiceResult, audit};
use super::AdminActor;

/// Every account that is not deleted.
pub async fn list(store: &Store, _admin: AdminActor) -> ServiceResult<Vec<OrgMember>> {
    Ok(store.org_members().await?)
}

/// One account.
pub async fn get(store: &Store, _admin: AdminActor, user: UserId) -> ServiceResult<OrgMember> {
    Ok(store.org_member(user).await?)
}

/// Makes `user` an org admin or an ordinary user. An admin cannot take their own admin role
/// (so the organisation is never left without one by accident); the operator can.
pub async fn set_org_role(
    store: &Store,
    admin: AdminActor,
    user: UserId,
    role: OrgRole,
) -> ServiceResult<OrgMember> {
    if admin.user() == Some(user) && role != OrgRole::Admin {
        return Err(ServiceError::Forbidden {
            action: "take away your own admin role (ask another admin)",
        });
    }
    store.set_org_role(user, role).await?;
    audit(
        store,
        admin.actor(),
        AuditAction::UserSetRole,
        AuditObject::User,
        Some(user.0),
        Some(role.as_str()),
    )
    .await?;
    Ok(store.org_member(user).await?)
}

/// Disables `user`: sign-in refused, every session and API token ended. An admin cannot
/// disable themself. `false` when the account was already disabled (nothing is audited then).
pub async fn disable(store: &Store, admin: AdminActor, user: UserId) -> ServiceResult<bool> {
    if admin.user() == Some(user) {
        return Err(ServiceError::Forbidden {
            action: "disable your own account",
        });
    }
    if !store.disable_user(user).await? {
        return Ok(false);
    }
    audit(
        store,
        admin.actor(),
        AuditAction::UserDisable,
        AuditObject::User,
        Some(user.0),
        None,
    )
    .await?;
    Ok(true)
}

/// Lets a disabled account sign in again. `false` when it was not disabled.
pub async fn enable(store: &Store, admin: AdminActor, user: UserId) -> ServiceResult<bool> {
    if !store.enable_user(user).await? {
        return Ok(false);
    }
    audit(
        store,
        admin.actor(),
        AuditAction::UserEnable,
        AuditObject::User,
        Some(user.0),
        None,
    )
    .await?;
    Ok(true)
}

/// Turns off `user`'s two-step verification (a lost phone and lost recovery codes): the sealed
/// TOTP secret is wiped and the recovery codes deleted. `false` when none was set up (nothing
/// is audited then).
pub async fn reset_second_factor(
    store: &Store,
    admin: AdminActor,
    user: UserId,
) -> ServiceResult<bool> {
    store.org_member(user).await?;
    if !store.remove_second_factor(user).await? {
        return Ok(false);
    }
    audit(
        store,
        admin.actor(),
        AuditAction::SecondFactorReset,
        AuditObject::User,
        Some(user.0),
        None,
    )
    .await?;
    Ok(true)
}
