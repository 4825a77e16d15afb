//! Mailbox health across the organisation, for an org admin (or the operator): every mailbox of
//! every user with its owner, list, kind, status and reason, reconnecting since, the last message
//! read and what waits to be read. Read-only; what a mailbox's owner can do about it (a new
//! password, a re-consent) stays the owner's.

use crate::store::{MailboxHealthRow, Store};

use super::super::ServiceResult;
use super::AdminActor;

/// Every active mailbox, those needing attention first, then those reconnecting.
pub async fn mailboxes(store: &Store, _admin: AdminActor) -> ServiceResult<Vec<MailboxHealthRow>> {
    Ok(store.org_mailbox_health().await?)
}
