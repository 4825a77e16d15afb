//! Counters of sender authentication for `/metrics`: the outcome of every check by result and
//! method, the TXT cache's hits and misses, checks that ran out of their time budget, and DNS
//! look-ups that failed for a temporary reason (a resolver timeout or a server failure).
//!
//! Process-wide like the authenticator (one per process): the words exported are the fixed
//! names of [`AuthResult`] and [`AuthMethod`], never a domain or a header.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::{AuthMethod, AuthResult, SenderAuth};
use crate::telemetry::exposition::Exposition;

const CELLS: usize = AuthResult::ALL.len() * AuthMethod::ALL.len();

struct Counters {
    outcomes: [AtomicU64; CELLS],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    timeouts: AtomicU64,
    dns_temporary_failures: AtomicU64,
}

static COUNTERS: Counters = Counters {
    outcomes: [const { AtomicU64::new(0) }; CELLS],
    cache_hits: AtomicU64::new(0),
    cache_misses: AtomicU64::new(0),
    timeouts: AtomicU64::new(0),
    dns_temporary_failures: AtomicU64::new(0),
};

fn cell(auth: SenderAuth) -> usize {
    let r = AuthResult::ALL
        .iter()
        .position(|x| *x == auth.result)
        .unwrap_or(0);
    let m = AuthMethod::ALL
        .iter()
        .position(|x| *x == auth.method)
        .unwrap_or(0);
    r * AuthMethod::ALL.len() + m
}

/// Counts the outcome of one check.
pub fn record(auth: SenderAuth) {
    COUNTERS.outcomes[cell(auth)].fetch_add(1, Ordering::Relaxed);
}

/// Counts one TXT cache look-up.
pub fn record_cache(hit: bool) {
    let counter = if hit {
        &COUNTERS.cache_hits
    } else {
        &COUNTERS.cache_misses
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts one check that did not finish within its time budget.
pub fn record_timeout() {
    COUNTERS.timeouts.fetch_add(1, Ordering::Relaxed);
}

/// Counts one check during which a DNS look-up failed for a temporary reason.
pub fn record_dns_temporary_failure() {
    COUNTERS
        .dns_temporary_failures
        .fetch_add(1, Ordering::Relaxed);
}

/// A point-in-time copy of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthStatsSnapshot {
    /// Checks by outcome; every (result, method) pair, zeros included.
    pub outcomes: Vec<(SenderAuth, u64)>,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub timeouts: u64,
    pub dns_temporary_failures: u64,
}

impl AuthStatsSnapshot {
    /// Checks that ended with `auth`.
    pub fn outcome(&self, auth: SenderAuth) -> u64 {
        self.outcomes
            .iter()
            .find(|(a, _)| *a == auth)
            .map_or(0, |(_, n)| *n)
    }
}

pub fn snapshot() -> AuthStatsSnapshot {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut outcomes = Vec::with_capacity(CELLS);
    for result in AuthResult::ALL {
        for method in AuthMethod::ALL {
            let auth = SenderAuth::new(result, method);
            outcomes.push((auth, load(&COUNTERS.outcomes[cell(auth)])));
        }
    }
    AuthStatsSnapshot {
        outcomes,
        cache_hits: load(&COUNTERS.cache_hits),
        cache_misses: load(&COUNTERS.cache_misses),
        timeouts: load(&COUNTERS.timeouts),
        dns_temporary_failures: load(&COUNTERS.dns_temporary_failures),
    }
}

/// The `mailsig_sender_auth_*` families.
pub fn render_prometheus() -> String {
    let snap = snapshot();
    let mut out = Exposition::default();
    let name = "mailsig_sender_auth_checks_total";
    out.family(
        name,
        "counter",
        "Sender authentication checks, by result and the method that decided it.",
    );
    for (auth, n) in &snap.outcomes {
        out.sample(
            name,
            &[
                ("result", auth.result.as_str()),
                ("method", auth.method.as_str()),
            ],
            *n,
        );
    }
    out.labelled(
        "mailsig_sender_auth_dns_cache_lookups_total",
        "counter",
        "Look-ups of DKIM keys and DMARC records in the TXT cache, by outcome.",
        "outcome",
        &[("hit", snap.cache_hits), ("miss", snap.cache_misses)],
    );
    out.counters(&[
        (
            "mailsig_sender_auth_timeouts_total",
            "Checks that did not finish within the time budget (the sender is unknown).",
            snap.timeouts,
        ),
        (
            "mailsig_sender_auth_dns_temporary_failures_total",
            "Checks during which a DNS look-up timed out or failed temporarily.",
            snap.dns_temporary_failures,
        ),
    ]);
    out.into_text()
}
