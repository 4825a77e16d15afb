//! The periodic retention purge: soft-deleted rows older than the configured number of days
//! are removed for good (issue 2: "Deletion is soft, purged after a configurable retention").

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Purges now and then every `interval` until `shutdown`.
pub async fn run(store: Store, days: u32, interval: Duration, shutdown: CancellationToken) {
    loop {
        match store.purge_deleted(days).await {
            Ok(report) => tracing::info!(?report, "retention purge done"),
            Err(error) => tracing::warn!(error = %error, "retention purge failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
