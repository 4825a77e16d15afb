//! The periodic retention purge: soft-deleted rows older than the configured number of days
//! are removed for good (deletion is soft; the purge follows a configurable retention).
//! The number of days comes through a `watch` channel so that a configuration reload changes
//! it in place (and purges at once with the new value).

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Purges now, then every `interval` and whenever `days` changes, until `shutdown`.
pub async fn run(
    store: Store,
    mut days: watch::Receiver<u32>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let retention_days = *days.borrow_and_update();
        match store.purge_deleted(retention_days).await {
            Ok(report) => tracing::info!(
                suggestions = report.suggestions,
                mailboxes = report.mailboxes,
                lists = report.lists,
                users = report.users,
                outbox = report.outbox,
                retention_days,
                "retention purge done"
            ),
            Err(error) => tracing::warn!(error = %error, "retention purge failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
            changed = days.changed() => {
                // The sender lives as long as the supervisor; if it is gone, keep the last value.
                if changed.is_err() {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(interval) => {}
                    }
                }
            }
        }
    }
}
