//! What an org admin may do across the organisation: manage accounts (`users`), invite people
//! (`invite`) and offboard those who leave (`offboard`), the org-wide sender blocklist
//! (`blocklist`), see every mailbox's health (`health`), handle notifications that failed
//! (`outbox`), read and export the audit log (`audit`), and roll Microsoft 365 out to the
//! organisation's tenant by admin consent and group membership (`tenant`) or by choosing people
//! one by one (`tenant_users`).
//!
//! Authorization is decided once, in [`require_admin`]: it is the only way to get an
//! [`AdminActor`] for a signed-in user, and every function here takes one. The operator at the
//! host's command line is trusted ([`AdminActor::operator`]); their audit entries name no user.

pub mod audit;
pub mod blocklist;
pub mod health;
pub mod invite;
pub mod offboard;
pub mod outbox;
pub mod tenant;
pub mod tenant_users;
pub mod users;

use crate::domain::OrgRole;
use crate::store::{Store, UserId};

use super::{Actor, ServiceError, ServiceResult};

/// Proof that the acting person may administer the organisation: an org admin, or the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminActor {
    actor: Actor,
}

impl AdminActor {
    /// The operator at the host's command line.
    pub const fn operator() -> AdminActor {
        AdminActor {
            actor: Actor {
                user: UserId(0),
                by_operator: true,
            },
        }
    }

    /// Who acts, for audit entries and for comparing with the target of an action.
    pub fn actor(self) -> Actor {
        self.actor
    }

    /// The admin's own user id; `None` for the operator.
    pub fn user(self) -> Option<UserId> {
        self.actor.audited()
    }
}

/// What a user who is not an org admin is told.
pub const NOT_ADMIN: &str = "administer the organisation (org admins only)";

/// The [`AdminActor`] of `actor` when they are an org admin (or the operator); `Forbidden`
/// otherwise. The one authorization check of everything under `/admin` and `/api/v1/admin`.
pub async fn require_admin(store: &Store, actor: Actor) -> ServiceResult<AdminActor> {
    if actor.is_operator() {
        return Ok(AdminActor { actor });
    }
    match store.org_role(actor.user()).await {
        Ok(OrgRole::Admin) => Ok(AdminActor { actor }),
        Ok(OrgRole::User) => Err(ServiceError::Forbidden { action: NOT_ADMIN }),
        Err(e) if e.is_not_found() => Err(ServiceError::Forbidden { action: NOT_ADMIN }),
        Err(e) => Err(e.into()),
    }
}

/// Whether `actor` is an org admin (for showing the "Admin" link; never for authorization).
pub async fn is_admin(store: &Store, actor: Actor) -> ServiceResult<bool> {
    match require_admin(store, actor).await {
        Ok(_) => Ok(true),
        Err(ServiceError::Forbidden { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
