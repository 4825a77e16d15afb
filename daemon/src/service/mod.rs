//! The service layer: what a signed-in user may do, as plain async functions over the store.
//!
//! Both the JSON API (`http::api`) and the server-rendered pages (`http::web`) call these
//! functions, so authorization is decided in ONE place: every function takes the acting user
//! ([`Actor`]) and checks their role on the list (or their ownership of the mailbox) before
//! reading or changing anything. An object the actor may not see is reported as
//! [`ServiceError::NotFound`], never "forbidden", so ids cannot be probed; an object they may
//! see but not change gives [`ServiceError::Forbidden`].
//!
//! Reads and changes of suggestions are recorded in the audit log with the actor, the object
//! id and never any content.

pub mod changes;
pub mod error;
pub mod export;
pub mod host_guard;
pub mod lists;
pub mod mailboxes;
pub mod me;
pub mod suggestions;
pub mod validate;

pub use error::{ServiceError, ServiceResult};
pub use validate::{FieldCode, FieldError};

use crate::domain::{AuditAction, AuditObject};
use crate::store::{ListId, Role, Store, UserId};

/// The signed-in user on whose behalf a service function acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor(pub UserId);

impl Actor {
    pub fn user(self) -> UserId {
        self.0
    }
}

/// The actor's role on `list` if it is at least `min`. No access at all is `NotFound`
/// (the list's existence is not revealed); too small a role is `Forbidden`.
pub async fn require_role(
    store: &Store,
    actor: Actor,
    list: ListId,
    min: Role,
) -> ServiceResult<Role> {
    match store.role_of(actor.0, list).await? {
        None => Err(ServiceError::NotFound { what: "list" }),
        Some(role) if role >= min => Ok(role),
        Some(_) => Err(ServiceError::Forbidden {
            action: min_action(min),
        }),
    }
}

fn min_action(min: Role) -> &'static str {
    match min {
        Role::Viewer => "read this list",
        Role::Editor => "change this list's suggestions",
        Role::Owner => "manage this list (owner only)",
    }
}

/// Records a user's action in the audit log. Names objects by kind and id only.
pub(crate) async fn audit(
    store: &Store,
    actor: Actor,
    action: AuditAction,
    kind: AuditObject,
    id: Option<i64>,
    detail: Option<&str>,
) -> ServiceResult<()> {
    store
        .record_audit(Some(actor.0), action, kind, id, detail)
        .await?;
    Ok(())
}
