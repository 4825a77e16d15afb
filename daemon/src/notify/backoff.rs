//! Capped exponential backoff for notifications that failed transiently.

use std::time::Duration;

/// `base * 2^(attempt-1)`, capped at `max`, with up to 10 % random jitter added so that many rows
/// that failed together do not all come back in the same second.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 30 s, 1 min, 2 min … up to 1 h between attempts.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The delay before the next attempt, after `attempts` attempts (1 = the first one failed).
    pub fn delay(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let raw = self.base.saturating_mul(2u32.saturating_pow(exponent));
        let capped = raw.min(self.max);
        let jitter_ms = capped.as_millis() as u64 / 10;
        let jitter = if jitter_ms == 0 {
            0
        } else {
            rand::random_range(0..=jitter_ms)
        };
        capped.saturating_add(Duration::from_millis(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(100),
        };
        let d1 = backoff.delay(1);
        let d2 = backoff.delay(2);
        let d3 = backoff.delay(3);
        assert!(
            d1 >= Duration::from_secs(10) && d1 <= Duration::from_secs(11),
            "{d1:?}"
        );
        assert!(
            d2 >= Duration::from_secs(20) && d2 <= Duration::from_secs(22),
            "{d2:?}"
        );
        assert!(
            d3 >= Duration::from_secs(40) && d3 <= Duration::from_secs(44),
            "{d3:?}"
        );
        for attempts in [5, 50, i64::MAX] {
            let d = backoff.delay(attempts);
            assert!(
                d >= Duration::from_secs(100) && d <= Duration::from_secs(110),
                "{attempts}: {d:?}"
            );
        }
        assert!(backoff.delay(0) <= Duration::from_secs(11));
    }
}
