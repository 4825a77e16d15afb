//! The per-host connection limit: one semaphore per server host name, shared by every watcher,
//! so thousands of linked mailboxes on one provider cannot open more connections than allowed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hands out connection permits per host; a permit is held for the whole life of a connection.
#[derive(Debug, Clone)]
pub struct HostLimiter {
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl HostLimiter {
    pub fn new(per_host: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            hosts: Arc::default(),
        }
    }

    /// Waits for a free connection slot to `host` (case-insensitive).
    pub async fn acquire(&self, host: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            // A poisoned lock only means another thread panicked while inserting; the map is still usable.
            let mut hosts = self
                .hosts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            hosts
                .entry(host.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        loop {
            // The semaphore is never closed, so acquire_owned cannot fail; loop instead of unwrapping.
            if let Ok(permit) = semaphore.clone().acquire_owned().await {
                return permit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_host_gets_at_most_its_limit() {
        let limiter = HostLimiter::new(2);
        let a = limiter.acquire("Mail.example.com").await;
        let _b = limiter.acquire("mail.example.com").await;
        let third = tokio::time::timeout(
            Duration::from_millis(50),
            limiter.acquire("MAIL.example.com"),
        )
        .await;
        assert!(
            third.is_err(),
            "a third connection to the same host must wait"
        );
        let _other = limiter.acquire("other.example.com").await;
        drop(a);
        let third = tokio::time::timeout(
            Duration::from_millis(500),
            limiter.acquire("mail.example.com"),
        )
        .await;
        assert!(third.is_ok());
    }
}
