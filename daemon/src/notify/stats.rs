//! Counters of the outbox worker since start (for the metrics endpoint and for tests). The outbox's
//! durable state (pending, failed rows) is in the store: `Store::outbox_depth` and `list_failed`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Plain atomic counters, bumped once per message.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Messages accepted by the SMTP server.
    pub sent: AtomicU64,
    /// Messages put back for a later attempt (transient or configuration failures).
    pub retried: AtomicU64,
    /// Messages marked failed (5xx, unbuildable, or given up after a long outage).
    pub failed: AtomicU64,
    /// Digests postponed to respect the digest interval.
    pub deferred: AtomicU64,
    /// Digest rows closed without a message because everything was already reviewed.
    pub empty: AtomicU64,
    /// Failures caused by the SMTP settings (password, certificate, STARTTLS): an operator must act.
    pub configuration_errors: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyStatsSnapshot {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub deferred: u64,
    pub empty: u64,
    pub configuration_errors: u64,
}

impl NotifyStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> NotifyStatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NotifyStatsSnapshot {
            sent: get(&self.sent),
            retried: get(&self.retried),
            failed: get(&self.failed),
            deferred: get(&self.deferred),
            empty: get(&self.empty),
            configuration_errors: get(&self.configuration_errors),
        }
    }
}
