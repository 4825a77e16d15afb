//! A Prometheus histogram on atomics: fixed bucket bounds chosen at compile time, one counter
//! per bucket, a sum and a count, so that observing is lock-free and a histogram can be a
//! `static`.
//!
//! Hand-written rather than `prometheus-client`: the rest of the exposition reads the modules'
//! own atomic counters (see `http::metrics`), and a registry would only copy them; a histogram
//! is the one type the hand-written format lacked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// The most buckets a histogram can have (besides `+Inf`).
pub const MAX_BUCKETS: usize = 16;

/// Bucket bounds in seconds for delays from "at once" to "an hour late" (source lag).
pub const LAG_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Bucket bounds in seconds for request latencies (webhooks, HTTP handlers).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Observations of durations into fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in seconds, strictly increasing (checked at construction).
    bounds: &'static [f64],
    /// Non-cumulative count per bucket; index `bounds.len()` is `+Inf`.
    buckets: [AtomicU64; MAX_BUCKETS + 1],
    /// Sum of all observations in microseconds (whole seconds overflow in 584,000 years).
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// One consistent-enough reading of a histogram (each field is read atomically; a scrape
/// racing an observation may see the count one ahead of a bucket, which Prometheus tolerates).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, cumulative count)`, in increasing order, without `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of observations in seconds.
    pub sum_seconds: f64,
    /// Number of observations (the `+Inf` bucket).
    pub count: u64,
}

impl Histogram {
    /// A histogram with these bucket bounds (seconds). Panics — at compile time for a
    /// `static` — when there are more than [`MAX_BUCKETS`] bounds or they do not increase.
    pub const fn new(bounds: &'static [f64]) -> Histogram {
        assert!(bounds.len() <= MAX_BUCKETS, "too many histogram buckets");
        let mut i = 1;
        while i < bounds.len() {
            assert!(bounds[i - 1] < bounds[i], "histogram bounds must increase");
            i += 1;
        }
        Histogram {
            bounds,
            buckets: [const { AtomicU64::new(0) }; MAX_BUCKETS + 1],
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        let index = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the time from `since` (e.g. a message's arrival) until now. A `since` in the
    /// future (clock skew between the mail server and this host) counts as zero.
    pub fn observe_since(&self, since: SystemTime) {
        self.observe(
            crate::clock::now()
                .duration_since(since)
                .unwrap_or(Duration::ZERO),
        );
    }

    /// Reads the buckets as Prometheus wants them (cumulative).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let overflow = self
            .buckets
            .get(self.bounds.len())
            .map_or(0, |b| b.load(Ordering::Relaxed));
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            // The +Inf bucket must equal the count; derive it from the buckets so they agree.
            count: cumulative + overflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static STATIC_IS_POSSIBLE: Histogram = Histogram::new(LAG_BUCKETS);

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = Histogram::new(&[0.1, 1.0, 10.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(100)); // on the bound: le="0.1"
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(0.1, 2), (1.0, 3), (10.0, 3)]);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 60.65).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn a_future_arrival_counts_as_no_lag() {
        STATIC_IS_POSSIBLE.observe_since(crate::clock::now() + Duration::from_secs(3600));
        let s = STATIC_IS_POSSIBLE.snapshot();
        assert_eq!(s.count, 1);
        assert_eq!(s.buckets.first().map(|b| b.1), Some(1));
    }
}
