//! The membership rounds of the tenant-wide Microsoft 365 rollout
//! (`service::org::tenant::follow_memberships`): one at start, then every
//! `[graph] membership_interval`, on every replica, and at once when an admin linked a group on
//! this replica (the `wake`); a claim on each group's row keeps its round to one replica at a
//! time, and a replica that dies leaves a claim that expires by itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use tokio_util::sync::CancellationToken;

use crate::service::org::tenant::follow_memberships;
use crate::sources::graph::{GraphSource, GraphUnlinker};
use crate::store::Store;

/// How long a replica holds a group's claim if it never gives it back (it dies mid-round).
pub const CLAIM_FOR: Duration = Duration::from_secs(10 * 60);

/// Runs membership rounds until `shutdown`.
pub async fn run(
    store: Store,
    source: GraphSource,
    unlinker: GraphUnlinker,
    replica: String,
    interval: Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        match follow_memberships(&store, &source, &unlinker, &replica, CLAIM_FOR).await {
            Ok(round) if round.linked + round.unlinked > 0 => tracing::info!(
                groups = round.groups,
                linked = round.linked,
                unlinked = round.unlinked,
                "group membership round done"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "group membership round failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
            () = wake.notified() => {}
        }
    }
}
