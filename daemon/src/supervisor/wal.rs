//! Background WAL checkpoints of the SQLite store (see `store::wal` for why they are not
//! left to the committing writer). Once a second; a failure is logged and tried again.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{Backend, Store};

/// Time between two checkpoints.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Checkpoints every `interval` until `shutdown`; returns at once on PostgreSQL.
pub async fn run(store: Store, interval: Duration, shutdown: CancellationToken) {
    if store.backend() != Backend::Sqlite {
        return;
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match store.checkpoint_wal().await {
            Ok(done) => tracing::trace!(log_pages = done.log_pages, checkpointed = done.checkpointed_pages, "wal checkpoint"),
            Err(error) => tracing::warn!(error = %error, "wal checkpoint failed"),
        }
    }
}
