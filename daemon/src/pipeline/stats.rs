//! Process-wide pipeline counters: plain atomics, cheap to bump from every worker and easy for
//! operations to export later. The durable per-mailbox counters live in the store; these are
//! what this process did since it started.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::{AuthResult, SkipReason};

/// Counters of one running pipeline.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Messages taken from the queue by a worker.
    pub received: AtomicU64,
    /// Messages whose outcome was committed (suggestion or skip).
    pub committed: AtomicU64,
    /// Commits that created a new suggestion.
    pub suggestions_created: AtomicU64,
    /// Commits that merged into an existing suggestion.
    pub suggestions_merged: AtomicU64,
    /// Commits that failed (the source was told and will retry).
    pub commit_failures: AtomicU64,
    /// Raw bytes handed to the parser.
    pub bytes_parsed: AtomicU64,
    /// Messages currently being worked on.
    pub in_flight: AtomicU64,
    skipped: [AtomicU64; SkipReason::ALL.len()],
    /// Senders of messages with a suggestion, by authentication result.
    sender_auth: [AtomicU64; AuthResult::ALL.len()],
}

/// A point-in-time copy of [`PipelineStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub received: u64,
    pub committed: u64,
    pub suggestions_created: u64,
    pub suggestions_merged: u64,
    pub commit_failures: u64,
    pub bytes_parsed: u64,
    pub in_flight: u64,
    /// Skips by reason, in the order of [`SkipReason::ALL`].
    pub skipped: Vec<(SkipReason, u64)>,
    /// Sender authentication results, in the order of [`AuthResult::ALL`].
    pub sender_auth: Vec<(AuthResult, u64)>,
}

impl StatsSnapshot {
    /// The number of skips for one reason.
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }
}

impl PipelineStats {
    /// Counts one skip.
    pub fn record_skip(&self, reason: SkipReason) {
        self.skipped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one sender authentication result.
    pub fn record_auth(&self, result: AuthResult) {
        if let Some(i) = AuthResult::ALL.iter().position(|r| *r == result) {
            self.sender_auth[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Skips counted so far for one reason.
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped[reason.index()].load(Ordering::Relaxed)
    }

    /// Copies every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            received: load(&self.received),
            committed: load(&self.committed),
            suggestions_created: load(&self.suggestions_created),
            suggestions_merged: load(&self.suggestions_merged),
            commit_failures: load(&self.commit_failures),
            bytes_parsed: load(&self.bytes_parsed),
            in_flight: load(&self.in_flight),
            skipped: SkipReason::ALL
                .into_iter()
                .map(|r| (r, self.skipped(r)))
                .collect(),
            sender_auth: AuthResult::ALL
                .into_iter()
                .zip(&self.sender_auth)
                .map(|(r, n)| (r, load(n)))
                .collect(),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_counted_by_reason() {
        let stats = PipelineStats::default();
        stats.record_skip(SkipReason::Bulk);
        stats.record_skip(SkipReason::Bulk);
        stats.record_skip(SkipReason::RoleAddress);
        let snap = stats.snapshot();
        assert_eq!(snap.skipped(SkipReason::Bulk), 2);
        assert_eq!(snap.skipped(SkipReason::RoleAddress), 1);
        assert_eq!(snap.skipped(SkipReason::AutoReply), 0);
    }
}
