//! The other half of the tenant-wide Microsoft 365 rollout: an org admin chooses people of the
//! tenant one by one (by address or Graph user id) instead of, or next to, linking a group. A
//! chosen user's mailbox is linked app-only exactly as a joining group member's is
//! (`tenant::link_mailbox`); unlinking the user unlinks and wipes it the way a leaver's is,
//! unless a linked group still counts them as a member. Audited as `tenant.user_link` and
//! `tenant.user_unlink` with the admin as actor, the mailbox's own entries with `chosen user`.

use crate::domain::{AuditAction, AuditObject};
use crate::sources::graph::{GraphSource, GraphUnlinker};
use crate::store::{NewTenantUser, Store, TenantUser, TenantUserId};

use super::super::validate::FieldCode;
use super::super::{ServiceError, ServiceResult, audit};
use super::AdminActor;
use super::tenant::{
    Linker, NotLinked, app_only_mailbox_of, graph_error, link_mailbox, release_mailbox,
};

/// The audit detail of what is done for a chosen user.
const CHOSEN: &str = "chosen user";
/// The form field (and JSON member) that names the user.
const FIELD: &str = "user";

/// Every chosen user, oldest first.
pub async fn chosen_users(store: &Store, _admin: AdminActor) -> ServiceResult<Vec<TenantUser>> {
    Ok(store.tenant_users().await?)
}

/// Chooses a person of the tenant, named by their e-mail address (or user principal name) or
/// their Graph user id, resolved at Graph with the app's tokens, and links their mailbox
/// app-only. Choosing someone already chosen returns their row; someone whose mailbox a linked
/// group already brought is recorded against that mailbox.
pub async fn link_user(
    store: &Store,
    source: &GraphSource,
    admin: AdminActor,
    key: &str,
) -> ServiceResult<TenantUser> {
    let key = key.trim();
    if key.is_empty() || key.len() > 320 {
        return Err(ServiceError::field(
            FIELD,
            FieldCode::Required,
            "give the person's e-mail address or id",
        ));
    }
    if store.tenant_grant().await?.is_none() {
        return Err(ServiceError::InUse {
            message: "grant access for the organisation first (admin consent)".into(),
        });
    }
    let directory = source.directory().map_err(graph_error)?;
    let person = match directory.user(key).await {
        Ok(person) => person,
        Err(e) if e.is_not_found() => {
            return Err(ServiceError::field(
                FIELD,
                FieldCode::Choice,
                "no such user in the organisation's tenant",
            ));
        }
        Err(e) => return Err(graph_error(e)),
    };
    let linker = Linker {
        actor: admin,
        detail: CHOSEN,
    };
    let mailbox = match app_only_mailbox_of(store, &person.id).await? {
        Some(mailbox) => mailbox,
        None => match link_mailbox(store, source, &person, linker).await? {
            Ok(mailbox) => mailbox,
            Err(NotLinked::NoAddress) => {
                return Err(ServiceError::field(
                    FIELD,
                    FieldCode::Choice,
                    "this user has no mailbox address in the tenant",
                ));
            }
            Err(NotLinked::Disabled(_)) => {
                return Err(ServiceError::field(
                    FIELD,
                    FieldCode::Choice,
                    "this person's mailsig account is disabled",
                ));
            }
        },
    };
    let chosen = store
        .add_tenant_user(NewTenantUser {
            graph_user_id: &person.id,
            display_name: person.display_name.as_deref(),
            mail: person.address(),
            mailbox: mailbox.id,
            linked_by: admin.user(),
        })
        .await?;
    audit(
        store,
        admin.actor(),
        AuditAction::TenantUserLink,
        AuditObject::TenantUser,
        Some(chosen.id.0),
        None,
    )
    .await?;
    tracing::info!(mailbox = %chosen.mailbox, "graph mailbox linked app-only for a chosen user");
    Ok(chosen)
}

/// Unlinks a chosen user: their mailbox is unlinked and wiped unless a linked group still counts
/// them as a member.
pub async fn unlink_user(
    store: &Store,
    unlinker: &GraphUnlinker,
    admin: AdminActor,
    id: TenantUserId,
) -> ServiceResult<()> {
    let chosen = store.remove_tenant_user(id).await?;
    let linker = Linker {
        actor: admin,
        detail: CHOSEN,
    };
    release_mailbox(store, unlinker, chosen.mailbox, linker).await?;
    audit(
        store,
        admin.actor(),
        AuditAction::TenantUserUnlink,
        AuditObject::TenantUser,
        Some(id.0),
        None,
    )
    .await
}
