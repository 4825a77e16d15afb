//! Notifications that failed for good, as an org admin (or the operator) handles them: see
//! them, queue one again (after the mail server was fixed), or drop it. Both actions are
//! audited with the admin as the actor.
//!
//! What is shown is what the outbox row holds apart from its payload: the kind, the recipient,
//! the attempts and the reason of the last failure, which the notifier writes as a fixed text
//! with at most an SMTP reply code (never the server's words, never the message). The payload
//! (a digest's suggestion and list ids) is not shown.

use crate::domain::{AuditAction, AuditObject};
use crate::store::{OutboxId, Store, UserId};

use super::super::{ServiceResult, audit};
use super::AdminActor;

/// Most rows one listing returns.
pub const MAX_LISTED: u32 = 500;

/// One failed notification.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FailedNotification {
    pub id: OutboxId,
    /// `suggestion_digest`, `mailbox_attention`, …
    pub kind: String,
    pub recipient: UserId,
    /// The recipient's address; `None` when the account is gone.
    pub recipient_email: Option<String>,
    pub attempts: i64,
    /// Why it failed, as the notifier wrote it.
    pub reason: Option<String>,
    pub queued_at: i64,
    /// When it was marked failed.
    pub failed_at: i64,
}

/// Failed notifications, newest first, at most `limit` (capped at [`MAX_LISTED`]).
pub async fn failed(
    store: &Store,
    _admin: AdminActor,
    limit: u32,
) -> ServiceResult<Vec<FailedNotification>> {
    let items = store.list_failed(limit.min(MAX_LISTED)).await?;
    let members = store.org_members().await?;
    Ok(items
        .into_iter()
        .map(|item| FailedNotification {
            id: item.id,
            kind: item.message.kind().to_owned(),
            recipient: item.recipient,
            recipient_email: members
                .iter()
                .find(|m| m.id == item.recipient)
                .map(|m| m.email.clone()),
            attempts: item.attempts,
            reason: item.last_error,
            queued_at: item.created_at,
            failed_at: item.next_attempt_at,
        })
        .collect())
}

/// Queues the failed notification `id` again, due now.
pub async fn retry(store: &Store, admin: AdminActor, id: OutboxId) -> ServiceResult<()> {
    store.requeue_failed(id).await?;
    audit(
        store,
        admin.actor(),
        AuditAction::OutboxRetry,
        AuditObject::Outbox,
        Some(id.0),
        None,
    )
    .await
}

/// Deletes the failed notification `id`.
pub async fn discard(store: &Store, admin: AdminActor, id: OutboxId) -> ServiceResult<()> {
    store.drop_failed(id).await?;
    audit(
        store,
        admin.actor(),
        AuditAction::OutboxDrop,
        AuditObject::Outbox,
        Some(id.0),
        None,
    )
    .await
}
