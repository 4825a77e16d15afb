//! Counters of the IMAP source, shared by all watchers (exported as metrics by operations, read by tests).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Plain atomic counters; cheap enough to bump on every event.
#[derive(Debug, Default)]
pub struct ImapStats {
    /// Login attempts (successful or not).
    pub logins: AtomicU64,
    /// Logins refused by the server (wrong credentials).
    pub auth_failures: AtomicU64,
    /// Sessions that ended with a transient error and were retried.
    pub reconnects: AtomicU64,
    /// Connections currently logged in.
    pub connected: AtomicI64,
    /// Messages handed to the pipeline and committed.
    pub committed: AtomicU64,
    /// Messages skipped because RFC822.SIZE exceeded the limit.
    pub too_large: AtomicU64,
    /// UIDVALIDITY changes seen (each one is a resync from UIDNEXT).
    pub uidvalidity_resets: AtomicU64,
    /// Catch-ups completed (the first one of a session means the folder is linked and watched).
    pub catch_ups: AtomicU64,
    /// Times the server woke an IDLE with news.
    pub idle_wakeups: AtomicU64,
    /// Polls done on servers without IDLE.
    pub polls: AtomicU64,
    /// Watchers that stopped because their mailbox needs attention.
    pub needs_attention: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImapStatsSnapshot {
    pub logins: u64,
    pub auth_failures: u64,
    pub reconnects: u64,
    pub connected: i64,
    pub committed: u64,
    pub too_large: u64,
    pub uidvalidity_resets: u64,
    pub catch_ups: u64,
    pub idle_wakeups: u64,
    pub polls: u64,
    pub needs_attention: u64,
}

impl ImapStats {
    pub fn snapshot(&self) -> ImapStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ImapStatsSnapshot {
            logins: get(&self.logins),
            auth_failures: get(&self.auth_failures),
            reconnects: get(&self.reconnects),
            connected: self.connected.load(Ordering::Relaxed),
            committed: get(&self.committed),
            too_large: get(&self.too_large),
            uidvalidity_resets: get(&self.uidvalidity_resets),
            catch_ups: get(&self.catch_ups),
            idle_wakeups: get(&self.idle_wakeups),
            polls: get(&self.polls),
            needs_attention: get(&self.needs_attention),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Decrements `connected` when a session ends, however it ends.
pub(crate) struct ConnectedGuard<'a>(&'a ImapStats);

impl<'a> ConnectedGuard<'a> {
    pub(crate) fn new(stats: &'a ImapStats) -> Self {
        stats.connected.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for ConnectedGuard<'_> {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}
