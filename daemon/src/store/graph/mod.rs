//! What the Microsoft 365 (Graph) source keeps: OAuth linkings in progress, one change
//! subscription per mailbox folder, the durable notification queue (`graph_jobs`), and the
//! tenant-wide rollout (`tenant`: the admin consent, linked groups and their members).
//!
//! The queue is what lets the webhook answer Graph within its 3-second budget: a notification
//! becomes a row here and nothing else happens inline; workers claim rows and fetch. A row is
//! unique per (mailbox, kind, item), so a notification delivered twice, or a message seen by both
//! a notification and a delta round, is fetched once. Lifecycle events (`missed`,
//! `reauthorize`, `removed`) are rows too, coalesced per subscription.
//!
//! Several replicas: what the task of the mailbox's lease holder writes (delta links
//! with the jobs of their round, subscription rows) carries the lease's fencing token and is
//! refused with [`Error::Fenced`] when another replica took the mailbox over (see
//! `store::fencing`). The job queue is not the holder's state: the webhook of any replica queues
//! jobs, and claims are leases of their own.

mod jobs;
mod oauth_states;
mod subscriptions;
mod tenant;
mod tenant_users;

pub use jobs::{GraphJob, GraphJobCounts, GraphJobKind, GraphJobOutcome, NewGraphJob};
pub use oauth_states::{LinkOrigin, OauthState};
pub use subscriptions::{GraphSubscription, SubscriptionCounts, SubscriptionState};
pub use tenant::{AdminConsentState, TenantGrant, TenantGroup, TenantGroupId, TenantMember};
pub use tenant_users::{NewTenantUser, TenantUser, TenantUserId};

use crate::store::{Error, MailboxId, Result, Store, col};

impl Store {
    /// Wipes everything the Graph source kept for a mailbox except its row: subscriptions (and
    /// their sealed clientStates), queued jobs, delta links.
    pub async fn forget_graph_mailbox(&self, mailbox: MailboxId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "DELETE FROM graph_subscriptions WHERE mailbox_id = $1 RETURNING client_state_id",
        )
        .bind(mailbox.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::db("delete subscriptions", "subscription"))?;
        for row in &rows {
            if let Some(secret) = col::<Option<i64>>(row, "client_state_id")? {
                sqlx::query("DELETE FROM secrets WHERE id = $1")
                    .bind(secret)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("wipe client state", "secret"))?;
            }
        }
        sqlx::query("DELETE FROM graph_jobs WHERE mailbox_id = $1")
            .bind(mailbox.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("delete graph jobs", "graph job"))?;
        sqlx::query("UPDATE folder_cursors SET delta_link = NULL WHERE mailbox_id = $1")
            .bind(mailbox.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("clear delta links", "cursor"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit graph forget", "graph job"))
    }
}
