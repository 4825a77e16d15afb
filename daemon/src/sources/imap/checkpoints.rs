//! What a watcher needs from the store besides the pipeline: its folder cursor, a way to reset it
//! (first link, UIDVALIDITY change), a way to mark its mailbox as needing attention, a way to
//! say that it is reconnecting (and, later, that it is connected again), and a way to say what
//! it found on the server and has not processed yet (the mailbox's lag).
//!
//! A trait object rather than the concrete store keeps the watcher testable and lets the load
//! tool run without a database; `store_adapter` implements it over the real store.

use futures::future::BoxFuture;

use super::error::ImapErrorKind;
use crate::pipeline::MailboxId;

/// Where a folder's processing stands: its UIDVALIDITY and the highest UID already committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderCursor {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// A failure of the checkpoint store; the watcher retries later.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint store: {0}")]
pub struct CheckpointError(pub String);

/// The store operations a watcher uses (message commits go through the pipeline instead).
pub trait Checkpoints: Send + Sync + 'static {
    /// The committed cursor of a folder, if the folder was ever linked.
    fn load(
        &self,
        mailbox: MailboxId,
        folder: &str,
    ) -> BoxFuture<'_, Result<Option<FolderCursor>, CheckpointError>>;

    /// Sets the cursor unconditionally: at first link (start after the current UIDNEXT) and after a
    /// UIDVALIDITY change (start again from the new UIDNEXT).
    fn reset(
        &self,
        mailbox: MailboxId,
        folder: &str,
        cursor: FolderCursor,
    ) -> BoxFuture<'_, Result<(), CheckpointError>>;

    /// Marks the mailbox as needing attention (and tells its owner once): `kind` says why,
    /// `detail` is the server's short explanation (no secrets, no message content).
    fn needs_attention(
        &self,
        mailbox: MailboxId,
        kind: ImapErrorKind,
        detail: &str,
    ) -> BoxFuture<'_, Result<(), CheckpointError>>;

    /// Records that the folder's latest listing found `count` messages beyond the cursor that
    /// are not processed yet (0: all processed). The store keeps since when some wait; the
    /// organisation's mailbox health shows it as the mailbox's lag.
    fn waiting(
        &self,
        mailbox: MailboxId,
        folder: &str,
        count: u32,
    ) -> BoxFuture<'_, Result<(), CheckpointError>>;

    /// Marks the mailbox as reconnecting since its first failure (`Some`: the kind of the latest
    /// one), or as connected again (`None`; cheap when it was not marked).
    fn reconnecting(
        &self,
        mailbox: MailboxId,
        kind: Option<ImapErrorKind>,
    ) -> BoxFuture<'_, Result<(), CheckpointError>>;
}
