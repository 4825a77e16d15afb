//! Contact lists: the actor's lists, creating and renaming them, and sharing them with other
//! users as `editor` or `viewer`. Only the owner renames, shares and unshares.

use crate::domain::{AuditAction, AuditObject};
use serde::Serialize;

use crate::store::{
    ContactList, ListAccess, ListDeletion, ListId, ListMember, Role, Store, UserId,
};

use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceError, ServiceResult, audit, require_role};

/// Longest list name accepted.
pub const MAX_LIST_NAME: usize = 200;

/// A list as the actor sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListView {
    pub id: ListId,
    pub name: String,
    pub owner: UserId,
    /// The actor's role.
    pub role: Role,
    pub created_at: i64,
}

impl From<ListAccess> for ListView {
    fn from(a: ListAccess) -> Self {
        ListView {
            id: a.list.id,
            name: a.list.name,
            owner: a.list.owner,
            role: a.role,
            created_at: a.list.created_at,
        }
    }
}

fn view(list: ContactList, role: Role) -> ListView {
    ListView {
        id: list.id,
        name: list.name,
        owner: list.owner,
        role,
        created_at: list.created_at,
    }
}

/// Every list the actor owns or that was shared with them; invitations for their address
/// become memberships first.
pub async fn my_lists(store: &Store, actor: Actor) -> ServiceResult<Vec<ListView>> {
    store.accept_invitations(actor.user()).await?;
    Ok(store
        .lists_for_user(actor.user())
        .await?
        .into_iter()
        .map(ListView::from)
        .collect())
}

fn check_name(name: Option<&str>) -> ServiceResult<String> {
    let mut c = Checker::new();
    let name = c.text("name", name, MAX_LIST_NAME);
    c.finish()?;
    name.ok_or_else(|| ServiceError::field("name", FieldCode::Required, "is required"))
}

/// Refuses a name that another list of the actor's already has (compared without case and
/// surrounding space): two "Customers" could not be told apart in any menu.
async fn check_unique(
    store: &Store,
    actor: Actor,
    name: &str,
    except: Option<ListId>,
) -> ServiceResult<()> {
    let wanted = name.trim().to_lowercase();
    let taken = store
        .lists_for_user(actor.user())
        .await?
        .into_iter()
        .any(|a| {
            a.role == Role::Owner
                && Some(a.list.id) != except
                && a.list.name.trim().to_lowercase() == wanted
        });
    if taken {
        return Err(ServiceError::field(
            "name",
            FieldCode::Text,
            "is the name of another of your lists",
        ));
    }
    Ok(())
}

pub async fn create_list(
    store: &Store,
    actor: Actor,
    name: Option<&str>,
) -> ServiceResult<ListView> {
    let name = check_name(name)?;
    check_unique(store, actor, &name, None).await?;
    let list = store.create_list(actor.user(), &name).await?;
    audit(
        store,
        actor,
        AuditAction::ListCreate,
        AuditObject::List,
        Some(list.id.0),
        None,
    )
    .await?;
    Ok(view(list, Role::Owner))
}

pub async fn get_list(store: &Store, actor: Actor, list: ListId) -> ServiceResult<ListView> {
    let role = require_role(store, actor, list, Role::Viewer).await?;
    Ok(view(store.get_list(list).await?, role))
}

pub async fn rename_list(
    store: &Store,
    actor: Actor,
    list: ListId,
    name: Option<&str>,
) -> ServiceResult<ListView> {
    require_role(store, actor, list, Role::Owner).await?;
    let name = check_name(name)?;
    check_unique(store, actor, &name, Some(list)).await?;
    store.rename_list(list, &name).await?;
    audit(
        store,
        actor,
        AuditAction::ListRename,
        AuditObject::List,
        Some(list.0),
        None,
    )
    .await?;
    get_list(store, actor, list).await
}

/// Deletes a list (owner only). Refused with [`ServiceError::InUse`] while a live mailbox
/// (of the owner or of an editor it is shared with) still delivers into it: those mailboxes
/// must be pointed at another list or unlinked first. Its suggestions and shares vanish from
/// every view and export at once; the rows are purged after the retention period
/// (see [`Store::delete_list`]).
pub async fn delete_list(store: &Store, actor: Actor, list: ListId) -> ServiceResult<()> {
    require_role(store, actor, list, Role::Owner).await?;
    match store.delete_list(list).await? {
        ListDeletion::Deleted {
            suggestions,
            shares,
        } => {
            let detail = format!("{suggestions} suggestions, {shares} shares");
            audit(
                store,
                actor,
                AuditAction::ListDelete,
                AuditObject::List,
                Some(list.0),
                Some(&detail),
            )
            .await
        }
        ListDeletion::InUse { mailboxes } => Err(ServiceError::InUse {
            message: format!(
                "{mailboxes} linked mailbox{} still deliver{} suggestions into this list; choose another \
                 list for {} or unlink {} first",
                if mailboxes == 1 { "" } else { "es" },
                if mailboxes == 1 { "s" } else { "" },
                if mailboxes == 1 { "it" } else { "them" },
                if mailboxes == 1 { "it" } else { "them" },
            ),
        }),
    }
}

/// Members of a list (any member may see who else is in it).
pub async fn members(store: &Store, actor: Actor, list: ListId) -> ServiceResult<Vec<ListMember>> {
    require_role(store, actor, list, Role::Viewer).await?;
    Ok(store.list_members(list).await?)
}

/// Shares `list` with whoever has `email`, as `role` (`editor` or `viewer`): a member's role
/// changes at once, anyone else is invited and becomes a member when they next sign in or
/// list their lists ([`crate::store::Store::invite`]). The answer is the member list either
/// way, and the store work is the same for a registered and an unknown address, so the form
/// does not tell which addresses have an account.
pub async fn share_list(
    store: &Store,
    actor: Actor,
    list: ListId,
    email: Option<&str>,
    role: Option<&str>,
) -> ServiceResult<Vec<ListMember>> {
    require_role(store, actor, list, Role::Owner).await?;
    let mut c = Checker::new();
    let email = c.email("email", email);
    let role = c.choice("role", role, &["editor", "viewer"]);
    c.finish()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(ServiceError::Internal("checked fields missing".into()));
    };
    let role: Role = role.parse()?;
    if store.get_user(actor.user()).await?.email == email.trim().to_lowercase() {
        return Err(ServiceError::field(
            "email",
            FieldCode::Email,
            "you own this list",
        ));
    }
    store.invite(list, &email, role).await?;
    audit(
        store,
        actor,
        AuditAction::ListShare,
        AuditObject::List,
        Some(list.0),
        Some(role.as_str()),
    )
    .await?;
    Ok(store.list_members(list).await?)
}

/// Removes `user`'s access to `list`.
pub async fn unshare_list(
    store: &Store,
    actor: Actor,
    list: ListId,
    user: UserId,
) -> ServiceResult<()> {
    require_role(store, actor, list, Role::Owner).await?;
    store.unshare_list(list, user).await?;
    audit(
        store,
        actor,
        AuditAction::ListUnshare,
        AuditObject::List,
        Some(list.0),
        None,
    )
    .await?;
    Ok(())
}
