//! Counters of the Graph source and its webhook, for `/metrics` ([`GraphStatsSnapshot`]), and
//! the Graph families computed at scrape time (subscriptions by state, from the store).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::store::{Store, SubscriptionState};
use crate::telemetry::exposition::Exposition;

/// The running sources' counters, for `/metrics` (one per process in production; tests may
/// run several, whose counters are summed).
static RUNNING: Mutex<Vec<Weak<GraphStats>>> = Mutex::new(Vec::new());

/// Unlinks whose subscriptions could not all be deleted at Graph (unreachable, consent gone,
/// `[graph]` not configured): the local data was wiped anyway, the subscriptions expire.
static UNLINK_INCOMPLETE: AtomicU64 = AtomicU64::new(0);

/// Makes a source's counters part of `/metrics` ([`render_prometheus`]) while it lives.
pub fn register(stats: &Arc<GraphStats>) {
    let mut running = RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    running.retain(|w| w.strong_count() > 0);
    running.push(Arc::downgrade(stats));
}

/// Counts one unlink that left subscriptions at Graph.
pub fn count_incomplete_unlink() {
    UNLINK_INCOMPLETE.fetch_add(1, Ordering::Relaxed);
}

/// Unlinks counted by [`count_incomplete_unlink`] in this process.
pub fn incomplete_unlinks() -> u64 {
    UNLINK_INCOMPLETE.load(Ordering::Relaxed)
}

/// Sets `mailsig_graph_subscriptions{state}` from the store's rows now: every state of
/// [`SubscriptionState::ALL`] (zeros included) counts the unexpired subscriptions in it, and
/// `expired` those past their expiry whatever their state. A store that does not answer leaves
/// the previous values (the scrape's `mailsig_store_up` says so).
pub async fn refresh_subscription_gauges(store: &Store) {
    let counts = match store.count_graph_subscriptions(store.now_ms()).await {
        Ok(counts) => counts,
        Err(error) => {
            tracing::warn!(error = %error, "metrics: graph subscriptions unavailable");
            return;
        }
    };
    let gauges = &crate::telemetry::metrics::metrics().graph_subscriptions;
    for state in SubscriptionState::ALL {
        gauges.set(state.as_str(), counts.live(state));
    }
    gauges.set("expired", counts.expired);
}

/// The Graph source's counter families in the Prometheus text format (the unlink counter
/// always; the others while a source runs). Webhook latency and subscriptions by state are in
/// `telemetry::metrics`.
pub fn render_prometheus() -> String {
    let mut out = Exposition::default();
    out.counter(
        "mailsig_graph_unlink_incomplete_total",
        "Microsoft 365 unlinks whose Graph subscriptions could not be deleted (local data wiped; they expire).",
        incomplete_unlinks(),
    );
    let snapshots: Vec<GraphStatsSnapshot> = {
        let running = RUNNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| s.snapshot())
            .collect()
    };
    if snapshots.is_empty() {
        return out.into_text();
    }
    let sum = |f: fn(&GraphStatsSnapshot) -> u64| snapshots.iter().map(f).sum::<u64>();
    out.labelled(
        "mailsig_graph_notifications_total",
        "counter",
        "Graph change notifications received, by outcome.",
        "outcome",
        &[
            ("received", sum(|s| s.notifications_received)),
            ("forged", sum(|s| s.notifications_forged)),
            ("unknown_subscription", sum(|s| s.notifications_unknown)),
            ("lifecycle", sum(|s| s.lifecycle_received)),
        ],
    );
    out.counters(&[
        (
            "mailsig_graph_jobs_queued_total",
            "Graph jobs newly queued (duplicates queue nothing).",
            sum(|s| s.jobs_queued),
        ),
        (
            "mailsig_graph_webhook_failures_total",
            "Webhook requests answered 503 (queue not writable).",
            sum(|s| s.webhook_failures),
        ),
        (
            "mailsig_graph_webhook_shed_total",
            "Webhook requests answered 503 because the budget of store look-ups for unknown subscription ids was spent.",
            sum(|s| s.webhook_shed),
        ),
        (
            "mailsig_graph_requests_total",
            "Requests sent to Microsoft Graph.",
            sum(|s| s.requests),
        ),
        (
            "mailsig_graph_throttled_total",
            "Graph 429/503 answers waited out (Retry-After).",
            sum(|s| s.throttled),
        ),
        (
            "mailsig_graph_messages_fetched_total",
            "Messages fetched from Graph ($value).",
            sum(|s| s.messages_fetched),
        ),
        (
            "mailsig_graph_subscriptions_created_total",
            "Graph subscriptions created.",
            sum(|s| s.subscriptions_created),
        ),
        (
            "mailsig_graph_subscriptions_renewed_total",
            "Graph subscriptions renewed.",
            sum(|s| s.subscriptions_renewed),
        ),
        (
            "mailsig_graph_delta_rounds_total",
            "Delta rounds completed.",
            sum(|s| s.delta_rounds),
        ),
    ]);
    out.into_text()
}

/// Upper bounds (seconds) of the webhook latency histogram buckets (time to 202).
pub const LATENCY_BUCKETS: [f64; 10] =
    [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 3.0];

#[derive(Debug, Default)]
pub struct GraphStats {
    /// Notifications (items of `value`) received on the notification URL.
    pub notifications_received: AtomicU64,
    /// Items whose clientState did not match: dropped.
    pub notifications_forged: AtomicU64,
    /// Items for a subscription the daemon does not know: dropped.
    pub notifications_unknown: AtomicU64,
    /// Lifecycle events received.
    pub lifecycle_received: AtomicU64,
    /// Jobs newly queued (a duplicate notification queues nothing).
    pub jobs_queued: AtomicU64,
    /// Webhook requests answered 5xx because the queue could not be written.
    pub webhook_failures: AtomicU64,
    /// Webhook requests answered 503 because the store look-up budget was spent.
    pub webhook_shed: AtomicU64,
    pub requests: AtomicU64,
    /// 429/503 answers from Graph that were waited out.
    pub throttled: AtomicU64,
    pub messages_fetched: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub subscriptions_created: AtomicU64,
    pub subscriptions_renewed: AtomicU64,
    pub delta_rounds: AtomicU64,
    /// Webhook latency histogram: counts per bucket of [`LATENCY_BUCKETS`] plus +Inf.
    latency_buckets: [AtomicU64; 11],
    latency_sum_micros: AtomicU64,
}

/// A copy of the counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphStatsSnapshot {
    pub notifications_received: u64,
    pub notifications_forged: u64,
    pub notifications_unknown: u64,
    pub lifecycle_received: u64,
    pub jobs_queued: u64,
    pub webhook_failures: u64,
    pub webhook_shed: u64,
    pub requests: u64,
    pub throttled: u64,
    pub messages_fetched: u64,
    pub bytes_fetched: u64,
    pub subscriptions_created: u64,
    pub subscriptions_renewed: u64,
    pub delta_rounds: u64,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`], then the total (+Inf).
    pub latency_cumulative: Vec<u64>,
    pub latency_sum_seconds: f64,
}

impl GraphStats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one webhook request's time to answer.
    pub fn observe_latency(&self, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[index].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> GraphStatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut running = 0;
        let latency_cumulative = self
            .latency_buckets
            .iter()
            .map(|b| {
                running += load(b);
                running
            })
            .collect();
        GraphStatsSnapshot {
            notifications_received: load(&self.notifications_received),
            notifications_forged: load(&self.notifications_forged),
            notifications_unknown: load(&self.notifications_unknown),
            lifecycle_received: load(&self.lifecycle_received),
            jobs_queued: load(&self.jobs_queued),
            webhook_failures: load(&self.webhook_failures),
            webhook_shed: load(&self.webhook_shed),
            requests: load(&self.requests),
            throttled: load(&self.throttled),
            messages_fetched: load(&self.messages_fetched),
            bytes_fetched: load(&self.bytes_fetched),
            subscriptions_created: load(&self.subscriptions_created),
            subscriptions_renewed: load(&self.subscriptions_renewed),
            delta_rounds: load(&self.delta_rounds),
            latency_cumulative,
            latency_sum_seconds: load(&self.latency_sum_micros) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latency_histogram_is_cumulative() {
        let stats = GraphStats::default();
        stats.observe_latency(Duration::from_micros(500));
        stats.observe_latency(Duration::from_millis(7));
        stats.observe_latency(Duration::from_secs(10));
        let snap = stats.snapshot();
        assert_eq!(snap.latency_cumulative[0], 1);
        assert_eq!(snap.latency_cumulative[3], 2, "7 ms is within 10 ms");
        assert_eq!(snap.latency_cumulative.last().copied(), Some(3));
    }

    #[test]
    fn the_graph_families_pass_the_strict_check() {
        let stats = Arc::new(GraphStats::default());
        register(&stats);
        GraphStats::bump(&stats.notifications_forged);
        count_incomplete_unlink();
        let text = render_prometheus();
        assert_eq!(
            crate::telemetry::exposition_check::check_exposition(&text),
            Ok(()),
            "{text}"
        );
        assert!(
            text.contains("mailsig_graph_notifications_total{outcome=\"forged\"} "),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mailsig_graph_unlink_incomplete_total counter\n"),
            "{text}"
        );
        assert!(incomplete_unlinks() >= 1);
    }
}
