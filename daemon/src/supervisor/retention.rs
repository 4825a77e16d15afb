//! The periodic retention purge: soft-deleted rows older than the configured number of days
//! are removed for good (deletion is soft; the purge follows a configurable retention), and
//! audit log entries older than `[retention] audit_days`.
//! The numbers of days come through a `watch` channel so that a configuration reload changes
//! them in place (and purges at once with the new values).

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long what is purged is kept, in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionDays {
    /// Soft-deleted rows and sent notifications.
    pub deleted: u32,
    /// Audit log entries.
    pub audit: u32,
}

/// Purges now, then every `interval` and whenever `days` changes, until `shutdown`.
pub async fn run(
    store: Store,
    mut days: watch::Receiver<RetentionDays>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let RetentionDays {
            deleted: retention_days,
            audit: audit_days,
        } = *days.borrow_and_update();
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
        match store.purge_audit(audit_days).await {
            Ok(purged) => tracing::info!(purged, audit_days, "audit log purge done"),
            Err(error) => tracing::warn!(error = %error, "audit log purge failed"),
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
