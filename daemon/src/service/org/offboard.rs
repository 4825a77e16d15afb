//! Offboarding a person who leaves: an org admin (or the operator) stops every mailbox of the
//! user, wipes the account's credentials and sealed secrets, hands each list the user owns to a
//! chosen owner or deletes it, and disables the account, which stays as the tombstone the audit
//! log refers to.
//!
//! Stopping a mailbox is unlinking it as `service::mailboxes::unlink` does: the row is
//! soft-removed with its lease cleared and its sealed password or OAuth tokens wiped (Microsoft
//! 365 mailboxes through the Graph unlinker). The replica that watches it finds the lease gone
//! at its next renewal (every `supervisor::leases::RENEW_EVERY`, 2 s) and its watchers log out,
//! in this process or any other.
//!
//! The steps run in an order that is safe to repeat: a refused hand-over (an unknown or
//! disabled new owner) or a refused deletion (another person's mailbox still delivers into a
//! list) is found before anything changes, and running the offboarding again after a failure
//! part-way finishes it.

use serde::Serialize;

use crate::domain::{AuditAction, AuditObject};
use crate::sources::graph::GraphUnlinker;
use crate::store::{ListDeletion, MailboxFilter, MailboxKind, Store, UserId, WipedCredentials};

use super::super::validate::FieldCode;
use super::super::{ServiceError, ServiceResult, audit};
use super::AdminActor;

/// What becomes of the lists the leaver owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListHandover {
    /// Every owned list gets this owner (an active account other than the leaver).
    To(UserId),
    /// Every owned list is deleted (its suggestions go with it; the retention purge follows).
    Delete,
}

/// What offboarding did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Offboarded {
    pub mailboxes_stopped: u64,
    pub lists_handed_over: u64,
    pub lists_deleted: u64,
    pub shares_ended: u64,
    pub second_factor_wiped: bool,
    pub credentials: WipedCredentials,
}

/// Offboards `user` (see the module docs). An admin cannot offboard themself. Audited as
/// `user.offboard` with the admin as actor and, as detail, `handover` or `delete`.
pub async fn offboard(
    store: &Store,
    graph: &GraphUnlinker,
    admin: AdminActor,
    user: UserId,
    handover: ListHandover,
) -> ServiceResult<Offboarded> {
    if admin.user() == Some(user) {
        return Err(ServiceError::Forbidden {
            action: "offboard your own account",
        });
    }
    store.org_member(user).await?;
    let lists = store.lists_owned_by(user).await?;
    match handover {
        ListHandover::To(to) => {
            if to == user {
                return Err(ServiceError::field(
                    "new_owner",
                    FieldCode::Choice,
                    "must be someone other than the person who leaves",
                ));
            }
            let taker = match store.org_member(to).await {
                Ok(member) => member,
                Err(e) if e.is_not_found() => {
                    return Err(ServiceError::field(
                        "new_owner",
                        FieldCode::Choice,
                        "no such account",
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            if taker.disabled_at.is_some() {
                return Err(ServiceError::field(
                    "new_owner",
                    FieldCode::Choice,
                    "this account is disabled",
                ));
            }
        }
        ListHandover::Delete => {
            let fed = store.owned_lists_fed_by_others(user).await?;
            if !fed.is_empty() {
                return Err(ServiceError::InUse {
                    message: format!(
                        "{} of the lists still receive(s) from another person's mailbox; hand the lists over instead",
                        fed.len()
                    ),
                });
            }
        }
    }

    let mut done = Offboarded::default();
    // 1. Stop every mailbox (and wipe its sealed credentials).
    let filter = MailboxFilter {
        owner: Some(user),
        kind: None,
    };
    for mailbox in store.list_mailboxes(&filter).await? {
        match mailbox.kind {
            MailboxKind::Graph => graph.unlink(store, mailbox.id).await.map_err(|e| match e {
                crate::sources::graph::LinkError::Store(e) => ServiceError::from(e),
                other => ServiceError::Internal(format!("unlink microsoft 365 mailbox: {other}")),
            })?,
            _ => match store.soft_remove_mailbox(mailbox.id).await {
                Ok(()) => {}
                // Removed meanwhile: already stopped.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            },
        }
        done.mailboxes_stopped += 1;
        audit(
            store,
            admin.actor(),
            AuditAction::MailboxRemove,
            AuditObject::Mailbox,
            Some(mailbox.id.0),
            Some("offboard"),
        )
        .await?;
    }
    // 2. The account can no longer be used: disabled (sessions and tokens end with it), then
    //    every credential and the second factor wiped.
    store.disable_user(user).await?;
    done.credentials = store.wipe_account_credentials(user).await?;
    done.second_factor_wiped = store.remove_second_factor(user).await?;
    // 3. The lists: handed over or deleted; shares in other people's lists end.
    for list in lists {
        match handover {
            ListHandover::To(to) => {
                store.hand_over_list(list, user, to).await?;
                done.lists_handed_over += 1;
            }
            ListHandover::Delete => match store.delete_list(list).await? {
                ListDeletion::Deleted { .. } => done.lists_deleted += 1,
                ListDeletion::InUse { .. } => {
                    return Err(ServiceError::InUse {
                        message: "a list still receives from another person's mailbox; hand the lists over instead".to_owned(),
                    });
                }
            },
        }
    }
    done.shares_ended = store.leave_shared_lists(user).await?;
    let detail = match handover {
        ListHandover::To(_) => "handover",
        ListHandover::Delete => "delete",
    };
    audit(
        store,
        admin.actor(),
        AuditAction::UserOffboard,
        AuditObject::User,
        Some(user.0),
        Some(detail),
    )
    .await?;
    Ok(done)
}
