//! Capped exponential backoff with jitter between reconnection attempts, so that a server restart
//! is not answered by every watcher reconnecting in the same second.

use std::time::Duration;

use rand::Rng;

/// The delay sequence of one watcher: initial, 2×, 4×, … up to `max`, each with "equal jitter"
/// (half fixed, half random), reset after a session that worked.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    /// Call after a session was set up successfully.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_stays_under_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let first = b.next_delay();
        assert!(
            first >= Duration::from_millis(500) && first <= Duration::from_secs(1),
            "{first:?}"
        );
        for _ in 0..30 {
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(60), "{d:?}");
        }
        let late = b.next_delay();
        assert!(late >= Duration::from_secs(30), "{late:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
