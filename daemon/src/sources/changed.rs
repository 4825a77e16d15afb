//! A signal from the service layer to the running sources that a mailbox's state changed in this
//! process (paused or resumed), so the sources compare themselves with the store at once instead
//! of at their next reconcile interval. Changes made by another process (the CLI, another
//! replica) are still found by that interval.
//!
//! A `watch` channel rather than a `Notify`: every source loop (IMAP and Microsoft 365) must see
//! each change, and a change made while a loop is busy must not be lost.

use tokio::sync::watch;

/// The sender half, kept by the HTTP layer's state; cloning shares it.
#[derive(Clone, Debug)]
pub struct MailboxesChanged(watch::Sender<u64>);

impl Default for MailboxesChanged {
    fn default() -> Self {
        MailboxesChanged(watch::channel(0).0)
    }
}

impl MailboxesChanged {
    /// Tells every listening source to reconcile now.
    pub fn notify(&self) {
        self.0
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// A receiver for one source loop.
    pub fn subscribe(&self) -> MailboxChanges {
        MailboxChanges(self.0.subscribe())
    }
}

/// The receiving half of one source loop.
#[derive(Clone, Debug)]
pub struct MailboxChanges(watch::Receiver<u64>);

impl MailboxChanges {
    /// Resolves at the next change; never when every sender is gone (the loop then keeps its
    /// interval).
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_receiver_sees_a_change_made_while_it_was_not_waiting() {
        let changed = MailboxesChanged::default();
        let mut imap = changed.subscribe();
        let mut graph = changed.subscribe();
        changed.notify();
        tokio::time::timeout(std::time::Duration::from_secs(5), imap.changed())
            .await
            .unwrap_or_else(|_| panic!("imap missed the change"));
        tokio::time::timeout(std::time::Duration::from_secs(5), graph.changed())
            .await
            .unwrap_or_else(|_| panic!("graph missed the change"));
    }
}
