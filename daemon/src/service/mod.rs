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

pub mod auto_accept;
pub mod book_check;
pub mod books;
pub mod change_feed;
pub mod changes;
pub mod error;
pub mod export;
pub mod host_guard;
pub mod identity;
pub mod imap_oauth;
pub mod lists;
pub mod mailboxes;
pub mod me;
pub mod org;
pub mod outlook_book;
pub mod postal;
pub mod suggestions;
pub mod tokens;
pub mod users;
pub mod validate;
pub mod webhooks;

pub use error::{ServiceError, ServiceResult};
pub use validate::{FieldCode, FieldError};

use crate::domain::{AuditAction, AuditObject};
use crate::store::{ListId, Role, Store, UserId};

/// Who acts, and as which user.
///
/// A user signed in to the pages or holding an API token acts as themself. The operator at the
/// host's command line acts *as* a user (the owner of the list or mailbox the command names), so
/// a CLI command goes through the same validation and role checks as the same action on a page;
/// its audit entries name the operator (no user id) instead of that user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    user: UserId,
    by_operator: bool,
}

impl Actor {
    /// A user acting through a session or an API token.
    pub fn signed_in(user: UserId) -> Actor {
        Actor {
            user,
            by_operator: false,
        }
    }

    /// The operator, acting as `user` (whose roles and ownership decide what is allowed).
    pub fn operator_as(user: UserId) -> Actor {
        Actor {
            user,
            by_operator: true,
        }
    }

    /// The user whose roles and ownership the action is checked against.
    pub fn user(self) -> UserId {
        self.user
    }

    /// Whether the operator (the host's command line) acts.
    pub fn is_operator(self) -> bool {
        self.by_operator
    }

    /// The user id an audit entry names: none for the operator.
    fn audited(self) -> Option<UserId> {
        (!self.by_operator).then_some(self.user)
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
    match store.role_of(actor.user(), list).await? {
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
        .record_audit(actor.audited(), action, kind, id, detail)
        .await?;
    Ok(())
}
