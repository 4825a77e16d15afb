//! Process-wide metrics that modules without a stats struct of their own feed, and that
//! `/metrics` renders: the per-source lag histograms, the Graph webhook latency histogram and
//! subscription states, the vault's operation counters, and configuration reloads.
//!
//! They are `static`s rather than values threaded through constructors because their producers
//! (the vault, the sources, the webhook handler) are created in many places, including the CLI,
//! and a counter needs no owner. Counts are per process: two daemons in one test process share
//! them, so tests that assert exact values spawn the `mailsigd` binary.
//!
//! Feeding them:
//! ```
//! use mailsig_daemon::telemetry::metrics::{metrics, SourceKind};
//! let arrived = mailsig_daemon::clock::now(); // IMAP INTERNALDATE / Graph receivedDateTime
//! metrics().source_lag(SourceKind::Imap).observe_since(arrived); // after the commit
//! metrics().graph_subscriptions.set("active", 3);
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::histogram::{Histogram, LAG_BUCKETS, LATENCY_BUCKETS};

/// Where a message came from, as the `source` label of the lag histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Imap,
    Graph,
}

impl SourceKind {
    pub const ALL: [SourceKind; 2] = [SourceKind::Imap, SourceKind::Graph];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Imap => "imap",
            SourceKind::Graph => "graph",
        }
    }
}

/// Counters of vault operations by outcome.
#[derive(Debug, Default)]
pub struct VaultCounters {
    pub seal_ok: AtomicU64,
    pub seal_failed: AtomicU64,
    pub open_ok: AtomicU64,
    pub open_failed: AtomicU64,
}

impl VaultCounters {
    const fn new() -> Self {
        Self {
            seal_ok: AtomicU64::new(0),
            seal_failed: AtomicU64::new(0),
            open_ok: AtomicU64::new(0),
            open_failed: AtomicU64::new(0),
        }
    }

    /// Counts a seal by its outcome.
    pub fn record_seal<T, E>(&self, result: &Result<T, E>) {
        let counter = if result.is_ok() {
            &self.seal_ok
        } else {
            &self.seal_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an open by its outcome.
    pub fn record_open<T, E>(&self, result: &Result<T, E>) {
        let counter = if result.is_ok() {
            &self.open_ok
        } else {
            &self.open_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(operation, result, count)` for the exposition.
    pub fn samples(&self) -> [(&'static str, &'static str, u64); 4] {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("seal", "ok", load(&self.seal_ok)),
            ("seal", "failed", load(&self.seal_failed)),
            ("open", "ok", load(&self.open_ok)),
            ("open", "failed", load(&self.open_failed)),
        ]
    }
}

/// Gauges keyed by a state name (e.g. Graph subscriptions `active`, `expired`), set by their
/// owner from time to time. State names must be snake_case (they are not escaped).
#[derive(Debug)]
pub struct StateGauges {
    values: Mutex<Vec<(String, u64)>>,
}

impl StateGauges {
    const fn new() -> Self {
        Self {
            values: Mutex::new(Vec::new()),
        }
    }

    /// Sets one state's value (adds the state the first time).
    pub fn set(&self, state: &str, value: u64) {
        let mut values = self
            .values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match values.iter_mut().find(|(name, _)| name == state) {
            Some(entry) => entry.1 = value,
            None => values.push((state.to_owned(), value)),
        }
    }

    /// The states and their values, in the order they were first set.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Outcomes of `SIGHUP` reloads.
#[derive(Debug)]
pub struct ReloadCounters {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    /// 1 when the last reload applied, 0 when it was refused (the daemon runs on the old one).
    pub last_ok: AtomicU64,
}

impl ReloadCounters {
    const fn new() -> Self {
        Self {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_ok: AtomicU64::new(1),
        }
    }

    pub fn record(&self, ok: bool) {
        let counter = if ok { &self.ok } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        self.last_ok.store(u64::from(ok), Ordering::Relaxed);
    }
}

/// Every process-wide metric.
#[derive(Debug)]
pub struct ProcessMetrics {
    lag_imap: Histogram,
    lag_graph: Histogram,
    /// Time from a Graph webhook request's arrival to its answer.
    pub graph_webhook_latency: Histogram,
    /// Graph subscriptions by state.
    pub graph_subscriptions: StateGauges,
    pub vault: VaultCounters,
    pub reloads: ReloadCounters,
}

impl ProcessMetrics {
    /// The lag histogram (message arrival at the mail server → committed here) of a source kind.
    pub fn source_lag(&self, kind: SourceKind) -> &Histogram {
        match kind {
            SourceKind::Imap => &self.lag_imap,
            SourceKind::Graph => &self.lag_graph,
        }
    }
}

static METRICS: ProcessMetrics = ProcessMetrics {
    lag_imap: Histogram::new(LAG_BUCKETS),
    lag_graph: Histogram::new(LAG_BUCKETS),
    graph_webhook_latency: Histogram::new(LATENCY_BUCKETS),
    graph_subscriptions: StateGauges::new(),
    vault: VaultCounters::new(),
    reloads: ReloadCounters::new(),
};

/// This process's metrics.
pub fn metrics() -> &'static ProcessMetrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_gauges_replace_values_and_keep_order() {
        let gauges = StateGauges::new();
        gauges.set("active", 2);
        gauges.set("expired", 1);
        gauges.set("active", 5);
        assert_eq!(
            gauges.snapshot(),
            vec![("active".to_owned(), 5), ("expired".to_owned(), 1)]
        );
    }

    #[test]
    fn vault_counters_count_by_outcome() {
        let counters = VaultCounters::new();
        counters.record_open(&Ok::<(), ()>(()));
        counters.record_open(&Err::<(), ()>(()));
        counters.record_seal(&Ok::<(), ()>(()));
        assert_eq!(
            counters.samples(),
            [
                ("seal", "ok", 1),
                ("seal", "failed", 0),
                ("open", "ok", 1),
                ("open", "failed", 1)
            ]
        );
    }
}
