//! Which mailboxes this replica may watch, as the sources see it.
//!
//! Several `mailsigd` replicas share one PostgreSQL database; each mailbox is watched by the
//! one replica holding its lease. The supervisor's lease loop (`supervisor::leases`) claims,
//! renews and gives up leases and publishes the result here; every source (IMAP watchers, the
//! Graph source) starts work only for mailboxes in the current set and stops it at once when a
//! mailbox leaves the set. The fencing token of each lease is also here: the pipeline puts it
//! on every commit (see `pipeline::fences`), and the sources on their own writes of the
//! mailbox's state (IMAP cursor resets and needs-attention marks, the Graph task's delta links,
//! subscriptions and needs-reconsent marks), so a stalled ex-owner cannot write.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::store::MailboxId;

/// One published state of this replica's leases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// Every mailbox is this process's (no leases: tools and tests that run one source alone).
    pub everything: bool,
    /// The mailboxes whose lease this replica holds, with the lease's fencing token.
    pub leases: BTreeMap<MailboxId, i64>,
}

impl Owned {
    pub fn owns(&self, mailbox: MailboxId) -> bool {
        self.everything || self.leases.contains_key(&mailbox)
    }
}

/// Read side of the owned set; cheap to clone, every clone sees every update.
#[derive(Clone, Debug)]
pub struct Ownership {
    receiver: watch::Receiver<Arc<Owned>>,
    /// For [`Ownership::everything`]: keeps the channel open, so `changed()` waits forever
    /// rather than reporting a closed channel.
    _fixed: Option<Arc<watch::Sender<Arc<Owned>>>>,
}

/// Write side, held by the lease loop.
#[derive(Debug)]
pub struct OwnershipPublisher {
    sender: watch::Sender<Arc<Owned>>,
}

impl Ownership {
    /// An ownership of everything that never changes (a single process without leases).
    pub fn everything() -> Ownership {
        let (sender, receiver) = watch::channel(Arc::new(Owned {
            everything: true,
            leases: BTreeMap::new(),
        }));
        Ownership {
            receiver,
            _fixed: Some(Arc::new(sender)),
        }
    }

    /// A new, empty owned set and the handle that publishes changes to it.
    pub fn channel() -> (OwnershipPublisher, Ownership) {
        let (sender, receiver) = watch::channel(Arc::new(Owned::default()));
        (
            OwnershipPublisher { sender },
            Ownership {
                receiver,
                _fixed: None,
            },
        )
    }

    /// The current set.
    pub fn current(&self) -> Arc<Owned> {
        Arc::clone(&self.receiver.borrow())
    }

    pub fn owns(&self, mailbox: MailboxId) -> bool {
        self.receiver.borrow().owns(mailbox)
    }

    /// The fencing token of the lease held on `mailbox`, if held.
    pub fn fencing(&self, mailbox: MailboxId) -> Option<i64> {
        self.receiver.borrow().leases.get(&mailbox).copied()
    }

    /// Waits for the next change; `false` once the lease loop has ended (shutdown).
    pub async fn changed(&mut self) -> bool {
        self.receiver.changed().await.is_ok()
    }
}

impl OwnershipPublisher {
    /// Publishes a new set (only when it differs, so sources wake only for real changes).
    pub fn publish(&self, leases: BTreeMap<MailboxId, i64>) {
        self.sender.send_if_modified(|current| {
            if current.leases == leases && !current.everything {
                return false;
            }
            *current = Arc::new(Owned {
                everything: false,
                leases,
            });
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sources_see_each_change_once() {
        let (publisher, mut ownership) = Ownership::channel();
        assert!(!ownership.owns(MailboxId(1)));
        publisher.publish(BTreeMap::from([(MailboxId(1), 3)]));
        assert!(ownership.changed().await);
        assert!(ownership.owns(MailboxId(1)));
        assert_eq!(ownership.fencing(MailboxId(1)), Some(3));
        publisher.publish(BTreeMap::from([(MailboxId(1), 3)]));
        assert!(
            !ownership.receiver.has_changed().unwrap_or(true),
            "an identical set is not a change"
        );
        drop(publisher);
        assert!(!ownership.changed().await);
    }

    #[test]
    fn everything_owns_every_mailbox() {
        let ownership = Ownership::everything();
        assert!(ownership.owns(MailboxId(42)));
        assert_eq!(ownership.fencing(MailboxId(42)), None);
    }
}
