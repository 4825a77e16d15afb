//! [`Checkpoints`] over the real [`Store`]: folder cursors in `folder_cursors`, needs-attention in
//! the mailbox's status plus one "needs attention" notice to its owner through the outbox, and
//! "reconnecting since T (reason)" in the mailbox row.

use futures::future::BoxFuture;

use super::checkpoints::{CheckpointError, Checkpoints, FolderCursor};
use super::error::ImapErrorKind;
use crate::pipeline::MailboxId;
use crate::pipeline::fences::NOT_HELD;
use crate::sources::ownership::Ownership;
use crate::store::{self, MailboxStatus, Store};

/// The store seen through the watcher's narrow needs.
#[derive(Clone)]
pub struct StoreCheckpoints {
    store: Store,
    /// With leases (several replicas): cursor resets and needs-attention marks carry the lease's
    /// fencing token.
    ownership: Option<Ownership>,
}

impl StoreCheckpoints {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            ownership: None,
        }
    }

    /// Cursor resets carry the fencing token of the lease `ownership` says this replica holds
    /// (a mailbox it does not hold gets a token no lease has): a stalled ex-owner's reset is
    /// refused like its commits.
    pub fn fenced_by(mut self, ownership: Ownership) -> Self {
        self.ownership = Some(ownership);
        self
    }

    fn fencing(&self, mailbox: MailboxId) -> Option<i64> {
        let owned = self.ownership.as_ref()?.current();
        if owned.everything {
            return None;
        }
        Some(
            owned
                .leases
                .get(&store_id(mailbox))
                .copied()
                .unwrap_or(NOT_HELD),
        )
    }
}

fn store_id(mailbox: MailboxId) -> store::MailboxId {
    store::MailboxId(mailbox.0)
}

fn failed(what: &str, error: store::Error) -> CheckpointError {
    CheckpointError(format!("{what}: {error}"))
}

impl Checkpoints for StoreCheckpoints {
    fn load(
        &self,
        mailbox: MailboxId,
        folder: &str,
    ) -> BoxFuture<'_, Result<Option<FolderCursor>, CheckpointError>> {
        let folder = folder.to_owned();
        Box::pin(async move {
            let cursor = self
                .store
                .get_cursor(store_id(mailbox), &folder)
                .await
                .map_err(|e| failed("load cursor", e))?;
            Ok(cursor.and_then(|c| match (c.uidvalidity, c.last_uid) {
                (Some(uidvalidity), Some(last_uid)) => Some(FolderCursor {
                    uidvalidity,
                    last_uid,
                }),
                _ => None,
            }))
        })
    }

    fn reset(
        &self,
        mailbox: MailboxId,
        folder: &str,
        cursor: FolderCursor,
    ) -> BoxFuture<'_, Result<(), CheckpointError>> {
        let folder = folder.to_owned();
        Box::pin(async move {
            self.store
                .reset_cursor_fenced(
                    store_id(mailbox),
                    &folder,
                    cursor.uidvalidity,
                    cursor.last_uid,
                    self.fencing(mailbox),
                )
                .await
                .map_err(|e| failed("reset cursor", e))
        })
    }

    fn needs_attention(
        &self,
        mailbox: MailboxId,
        kind: ImapErrorKind,
        detail: &str,
    ) -> BoxFuture<'_, Result<(), CheckpointError>> {
        let reason = format!("{}: {detail}", kind.as_str());
        Box::pin(async move {
            let id = store_id(mailbox);
            let before = self
                .store
                .get_mailbox(id)
                .await
                .map_err(|e| failed("load mailbox", e))?;
            // An OAuth grant that is gone is repaired by signing in again, not by new settings.
            let status = if kind == ImapErrorKind::NeedsReconsent {
                MailboxStatus::NeedsReconsent
            } else {
                MailboxStatus::NeedsAttention
            };
            // Fenced like the resets: a stalled ex-owner marks nothing and tells nobody.
            self.store
                .set_mailbox_status_fenced(id, status, Some(&reason), self.fencing(mailbox))
                .await
                .map_err(|e| failed("set needs-attention", e))?;
            // Tell the owner by email, once, on the transition (several folders of one
            // mailbox fail together). The notice carries a fixed sentence, not the server's text.
            if before.status != status
                && let Err(error) =
                    crate::notify::enqueue_attention(&self.store, &before, kind.describe()).await
            {
                tracing::warn!(mailbox = %id, "could not queue the needs-attention notice: {error}");
            }
            Ok(())
        })
    }

    fn waiting(
        &self,
        mailbox: MailboxId,
        folder: &str,
        count: u32,
    ) -> BoxFuture<'_, Result<(), CheckpointError>> {
        let folder = folder.to_owned();
        Box::pin(async move {
            self.store
                .set_folder_waiting(store_id(mailbox), &folder, count)
                .await
                .map_err(|e| failed("record what waits", e))
        })
    }

    fn reconnecting(
        &self,
        mailbox: MailboxId,
        kind: Option<ImapErrorKind>,
    ) -> BoxFuture<'_, Result<(), CheckpointError>> {
        Box::pin(async move {
            let id = store_id(mailbox);
            if kind.is_none() {
                // Connected: a read first, so that a healthy mailbox costs no write.
                let current = self
                    .store
                    .get_mailbox(id)
                    .await
                    .map_err(|e| failed("load mailbox", e))?;
                if current.reconnecting.is_none() {
                    return Ok(());
                }
            }
            self.store
                .set_mailbox_reconnecting_fenced(
                    id,
                    kind.map(ImapErrorKind::describe),
                    self.fencing(mailbox),
                )
                .await
                .map_err(|e| failed("set reconnecting", e))
        })
    }
}
