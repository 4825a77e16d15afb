//! The daemon's one source of wall-clock time. Production reads the system clock; tests use a
//! manual clock so that retention, leases and outbox retries can be checked without sleeping.
//! Every other module reads the time through here (clippy.toml bans direct reads elsewhere).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The system's wall-clock time, for code that has no [`Clock`] at hand (log and metric timestamps,
/// mail `Date:` headers, backup file names).
#[allow(clippy::disallowed_methods)] // the one permitted read
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Milliseconds of a duration, saturating at `i64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// A clock that only moves when told to; clones share the same time.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => now()
                .duration_since(UNIX_EPOCH)
                .map(duration_ms)
                .unwrap_or(0),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            t.fetch_add(duration_ms(by), Ordering::SeqCst);
        }
    }

    /// Sets a manual clock; no effect on the system clock.
    pub fn set(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.store(ms, Ordering::SeqCst);
        }
    }
}
