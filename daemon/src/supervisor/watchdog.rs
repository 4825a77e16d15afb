//! The systemd watchdog (`WatchdogSec=` in the unit): `WATCHDOG=1` at half the interval, but
//! only while the pipeline shows signs of life, so that a wedged pipeline (work in flight and
//! no commit for a whole interval) gets the daemon restarted. A free-running timer would only
//! prove that the async runtime is alive.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::pipeline::Pipeline;

use super::notify;

/// The watchdog interval systemd expects, from `$WATCHDOG_USEC` (when `$WATCHDOG_PID`, if set,
/// is this process).
pub fn interval_from_env() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Whether the pipeline made progress since the last check.
#[derive(Debug, Default)]
pub struct Heartbeat {
    last_finished: Option<u64>,
}

impl Heartbeat {
    /// Alive when the queue is open and either nothing is in flight or a message finished
    /// (committed or failed) since the previous call.
    pub fn alive(&mut self, pipeline: &Pipeline) -> bool {
        let stats = pipeline.stats().snapshot();
        let finished = stats.committed + stats.commit_failures;
        let progressed = self.last_finished.is_none_or(|last| finished != last);
        self.last_finished = Some(finished);
        !pipeline.handle().is_closed() && (stats.in_flight == 0 || progressed)
    }
}

/// Pings systemd every half `interval` while the pipeline is alive, until `shutdown`.
pub async fn run(pipeline: Pipeline, interval: Duration, shutdown: CancellationToken) {
    let mut heartbeat = Heartbeat::default();
    let period = interval / 2;
    loop {
        if heartbeat.alive(&pipeline) {
            if let Err(error) = notify::send("WATCHDOG=1") {
                tracing::warn!(error = %error, "systemd watchdog ping failed");
            }
        } else {
            tracing::warn!("pipeline shows no progress; withholding the systemd watchdog ping");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
    }
}
