//! Commit order within one folder.
//!
//! Workers extract in parallel, but an IMAP folder's cursor must only move past a UID once
//! every earlier UID of that folder is committed: otherwise a crash after committing UID 7 but
//! before UID 5 would lose UID 5 for good (the cursor never goes backwards). So the dispatcher
//! chains the messages of each folder in arrival order, and each commit first waits for its
//! predecessor.
//!
//! When a commit fails, the folder remembers the lowest failed UID. Later messages above it
//! still commit their outcome, but without moving the cursor, until the failed UID itself is
//! committed (the source offers it again). After a restart the source resumes from the stored
//! cursor, and the already committed messages come back as duplicates: nothing is lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::store::{Cursor, MailboxId};

/// The lowest `(uidvalidity, uid)` of a folder whose commit failed and was not redone.
type Failure = Arc<Mutex<Option<(u32, u32)>>>;

#[derive(Debug)]
struct FolderSlot {
    /// Completion signal of the latest message dispatched in this folder.
    last: oneshot::Receiver<()>,
    failure: Failure,
}

/// Hands out one [`Turn`] per message, in dispatch order, per (mailbox, folder).
#[derive(Debug, Default)]
pub(crate) struct FolderSequencer {
    folders: HashMap<(MailboxId, String), FolderSlot>,
}

impl FolderSequencer {
    /// The next turn in this folder.
    pub(crate) fn next(&mut self, mailbox: MailboxId, folder: &str) -> Turn {
        let (done, last) = oneshot::channel();
        let key = (mailbox, folder.to_owned());
        let (previous, failure) = match self.folders.remove(&key) {
            Some(slot) => (Some(slot.last), slot.failure),
            None => (None, Failure::default()),
        };
        self.folders.insert(
            key,
            FolderSlot {
                last,
                failure: failure.clone(),
            },
        );
        Turn {
            previous,
            done: Some(done),
            failure,
        }
    }

    /// Forgets folders that are idle and healthy (keeps the map small when mailboxes come
    /// and go).
    pub(crate) fn prune(&mut self) {
        self.folders.retain(|_, slot| {
            let busy = matches!(
                slot.last.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            );
            if busy {
                return true;
            }
            // `try_recv` consumed the signal; a kept slot needs one that reads as finished
            // (a receiver whose sender is gone resolves at once).
            slot.last = oneshot::channel().1;
            slot.failure.lock().map_or(true, |f| f.is_some())
        });
    }
}

/// One message's place in its folder's commit order.
#[derive(Debug)]
pub(crate) struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    /// Signals the successor when this turn is dropped (finished, failed or abandoned).
    done: Option<oneshot::Sender<()>>,
    failure: Failure,
}

impl Turn {
    /// A turn that waits for nobody (sources without an ordered position).
    pub(crate) fn unordered() -> Turn {
        Turn {
            previous: None,
            done: None,
            failure: Failure::default(),
        }
    }

    /// The folder's failure memory, for the group commit that commits this message later.
    pub(crate) fn folder_order(&self) -> FolderOrder {
        FolderOrder(Arc::clone(&self.failure))
    }

    /// Lets the next message of the folder go ahead now: this one is handed to the group commit,
    /// which commits in hand-over order, so the successor can no longer overtake it.
    pub(crate) fn release(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }

    /// Waits until the previous message of the folder is finished (or handed to the group
    /// commit).
    pub(crate) async fn wait_for_predecessor(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error only means the predecessor was dropped, which also finishes it.
            let _ = previous.await;
        }
    }

    /// See [`FolderOrder::cursor_for`].
    #[cfg(test)]
    pub(crate) fn cursor_for(&self, position: &Cursor) -> Cursor {
        self.folder_order().cursor_for(position)
    }

    /// See [`FolderOrder::record`].
    pub(crate) fn record(&self, position: &Cursor, committed: bool) {
        self.folder_order().record(position, committed);
    }
}

/// What a folder remembers between commits: the lowest UID whose commit failed.
#[derive(Debug, Clone, Default)]
pub(crate) struct FolderOrder(Failure);

impl FolderOrder {
    /// The cursor to commit with a message at `position`: the position itself, or no cursor
    /// while an earlier UID of the folder waits to be committed again.
    pub(crate) fn cursor_for(&self, position: &Cursor) -> Cursor {
        let Cursor::Imap { uidvalidity, uid } = position else {
            return position.clone();
        };
        let failed = self.0.lock().ok().and_then(|f| *f);
        match failed {
            Some((failed_validity, failed_uid))
                if failed_validity == *uidvalidity && *uid > failed_uid =>
            {
                Cursor::None
            }
            _ => position.clone(),
        }
    }

    /// Records the result of committing a message at `position`.
    pub(crate) fn record(&self, position: &Cursor, committed: bool) {
        let Cursor::Imap { uidvalidity, uid } = *position else {
            return;
        };
        let Ok(mut failure) = self.0.lock() else {
            return;
        };
        *failure = match (*failure, committed) {
            (None, false) => Some((uidvalidity, uid)),
            (Some((v, f)), false) if v != uidvalidity || uid < f => Some((uidvalidity, uid)),
            // The failed message itself is committed now: the cursor may move again.
            (Some((v, f)), true) if v == uidvalidity && uid == f => None,
            // A new UIDVALIDITY starts the folder over; the old failure no longer matters.
            (Some((v, _)), true) if v != uidvalidity => None,
            (unchanged, _) => unchanged,
        };
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            // The successor may not exist yet or may have gone away; either is fine.
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imap(uid: u32) -> Cursor {
        Cursor::Imap {
            uidvalidity: 9,
            uid,
        }
    }

    #[tokio::test]
    async fn a_turn_waits_for_its_predecessor_in_the_same_folder_only() {
        let mut seq = FolderSequencer::default();
        let first = seq.next(MailboxId(1), "INBOX");
        let mut second = seq.next(MailboxId(1), "INBOX");
        let mut other_folder = seq.next(MailboxId(1), "Other");
        tokio::time::timeout(
            std::time::Duration::from_secs(1),
            other_folder.wait_for_predecessor(),
        )
        .await
        .unwrap_or_else(|_| panic!("a different folder must not wait"));
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            second.wait_for_predecessor(),
        )
        .await;
        assert!(
            waiting.is_err(),
            "the second message must wait for the first"
        );
        drop(first);
        second.wait_for_predecessor().await;
    }

    #[tokio::test]
    async fn after_a_failure_later_uids_commit_without_moving_the_cursor_until_it_is_redone() {
        let mut seq = FolderSequencer::default();
        let t5 = seq.next(MailboxId(1), "INBOX");
        assert_eq!(t5.cursor_for(&imap(5)), imap(5));
        t5.record(&imap(5), false);
        drop(t5);
        let t6 = seq.next(MailboxId(1), "INBOX");
        assert_eq!(t6.cursor_for(&imap(6)), Cursor::None);
        t6.record(&imap(6), true);
        drop(t6);
        let t5_again = seq.next(MailboxId(1), "INBOX");
        assert_eq!(t5_again.cursor_for(&imap(5)), imap(5));
        t5_again.record(&imap(5), true);
        drop(t5_again);
        let t7 = seq.next(MailboxId(1), "INBOX");
        assert_eq!(t7.cursor_for(&imap(7)), imap(7));
        drop(t7);
        seq.prune();
        assert!(seq.folders.is_empty());
    }
}
