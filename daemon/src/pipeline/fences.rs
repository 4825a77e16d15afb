//! The lease fencing tokens the pipeline puts on every commit.
//!
//! The supervisor's lease loop writes here which mailboxes this replica holds and with which
//! fencing token; a worker reads the token when it commits a message, and the store refuses the
//! commit when the token is stale (another replica took the mailbox over meanwhile). A mailbox
//! this replica does not hold gets a token no lease ever has, so its commits are refused too.
//! A pipeline without fences (tests, tools) commits with no token at all.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::store::MailboxId;

/// Never a real fencing token: leases start at 0 and every claim adds one.
pub const NOT_HELD: i64 = -1;

/// Shared map mailbox → fencing token. Cloning gives another handle to the same map.
#[derive(Clone, Debug, Default)]
pub struct Fences {
    /// `None`: fencing is not enforced.
    tokens: Option<Arc<RwLock<HashMap<MailboxId, i64>>>>,
}

impl Fences {
    /// Commits carry no fencing token (a pipeline used without leases).
    pub fn unenforced() -> Self {
        Self { tokens: None }
    }

    /// Commits carry the token of the lease held, or [`NOT_HELD`].
    pub fn enforced() -> Self {
        Self {
            tokens: Some(Arc::default()),
        }
    }

    /// The token to commit a message of `mailbox` with.
    pub fn token_for(&self, mailbox: MailboxId) -> Option<i64> {
        let tokens = self.tokens.as_ref()?;
        let tokens = tokens
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(tokens.get(&mailbox).copied().unwrap_or(NOT_HELD))
    }

    /// Records a lease now held (claimed, or reclaimed with a new token).
    pub fn hold(&self, mailbox: MailboxId, fencing: i64) {
        if let Some(tokens) = &self.tokens {
            tokens
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(mailbox, fencing);
        }
    }

    /// The mailboxes with a recorded token.
    pub fn held(&self) -> Vec<MailboxId> {
        match &self.tokens {
            Some(tokens) => tokens
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .keys()
                .copied()
                .collect(),
            None => Vec::new(),
        }
    }

    /// Forgets a lease (lost or released): commits of that mailbox are refused from now on.
    pub fn drop_lease(&self, mailbox: MailboxId) {
        if let Some(tokens) = &self.tokens {
            tokens
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .remove(&mailbox);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unenforced_fences_give_no_token() {
        assert_eq!(Fences::unenforced().token_for(MailboxId(1)), None);
    }

    #[test]
    fn enforced_fences_give_the_held_token_or_a_stale_one() {
        let fences = Fences::enforced();
        let clone = fences.clone();
        assert_eq!(fences.token_for(MailboxId(1)), Some(NOT_HELD));
        clone.hold(MailboxId(1), 7);
        assert_eq!(fences.token_for(MailboxId(1)), Some(7));
        clone.drop_lease(MailboxId(1));
        assert_eq!(fences.token_for(MailboxId(1)), Some(NOT_HELD));
    }
}
