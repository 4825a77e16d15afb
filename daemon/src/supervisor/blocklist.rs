//! Keeps the pipeline's org-wide sender blocklist in step with the store: at start the
//! configuration file's list is applied as its initial value and the store's list is put in
//! force; then the list's version is read every [`POLL_INTERVAL`], and the list again when it
//! moved, so a change made by another replica or by the CLI reaches this daemon's pipeline
//! within one interval (a change made through this daemon's pages or API is in force at once).
//!
//! Polling one integer was chosen over PostgreSQL's LISTEN/NOTIFY: it works the same on
//! SQLite (where the CLI is the other writer), needs no dedicated connection that could drop
//! a notification while it reconnects, and costs one indexed row read per interval.

use tokio_util::sync::CancellationToken;

use crate::pipeline::SharedBlocklist;
use crate::service::org::blocklist::{self, POLL_INTERVAL};
use crate::store::Store;

/// Applies `excluded_domains` (the configuration file's list) and puts the store's list in
/// force. A failure is logged; the pipeline keeps the configuration's domains until the poll
/// succeeds.
pub async fn start(store: &Store, live: &SharedBlocklist, excluded_domains: &[String]) {
    match blocklist::apply_file(store, Some(live), excluded_domains).await {
        Ok(added) => tracing::info!(
            added_from_file = added.len(),
            entries = live.current().len(),
            "org blocklist in force"
        ),
        Err(error) => {
            tracing::warn!(error = %error, "org blocklist not read; the configuration's domains apply until it is")
        }
    }
}

/// Polls the list's version until `shutdown`.
pub async fn run(store: Store, live: SharedBlocklist, shutdown: CancellationToken) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        match blocklist::refresh(&store, &live).await {
            Ok(changed) => {
                if changed {
                    tracing::info!(
                        entries = live.current().len(),
                        "org blocklist changed; in force"
                    );
                }
                failing = false;
            }
            // Once per run of failures: the store being away is logged elsewhere too.
            Err(error) if !failing => {
                tracing::warn!(error = %error, "org blocklist poll failed; the list in force stays");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
