//! One change-notification subscription per mailbox folder, with its sealed clientState.

use sqlx::any::AnyRow;

use crate::domain::text_enum;
use crate::store::fencing;
use crate::store::{Error, MailboxId, Result, SecretId, Store, col, parse_col};

text_enum! {
    /// Health of a Graph subscription as the daemon last knew it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum SubscriptionState("subscription state") {
        Active => "active",
        /// Graph asked for reauthorization; a renewal is due.
        Reauthorize => "reauthorize",
        /// Graph removed it; it must be created again.
        Removed => "removed",
    }
}

/// One change-notification subscription as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphSubscription {
    /// Graph's subscription id.
    pub id: String,
    pub mailbox: MailboxId,
    pub folder: String,
    pub resource: String,
    /// The sealed clientState.
    pub client_state: Option<SecretId>,
    pub state: SubscriptionState,
    /// When it was last created or renewed (epoch ms).
    pub renewed_at: i64,
    /// The expiry Graph returned (epoch ms): the truth for renewal.
    pub expires_at: i64,
}

/// Subscriptions by state at one moment ([`Store::count_graph_subscriptions`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionCounts {
    /// Unexpired subscriptions per state (states with none are absent).
    pub live: Vec<(SubscriptionState, u64)>,
    /// Subscriptions past their expiry, whatever their state.
    pub expired: u64,
}

impl SubscriptionCounts {
    /// Unexpired subscriptions in `state` (0 when none).
    pub fn live(&self, state: SubscriptionState) -> u64 {
        self.live
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, n)| n)
            .sum()
    }
}

fn subscription_from_row(row: &AnyRow) -> Result<GraphSubscription> {
    Ok(GraphSubscription {
        id: col(row, "id")?,
        mailbox: MailboxId(col(row, "mailbox_id")?),
        folder: col(row, "folder")?,
        resource: col(row, "resource")?,
        client_state: col::<Option<i64>>(row, "client_state_id")?.map(SecretId),
        state: parse_col(row, "state", "subscription state")?,
        renewed_at: col(row, "renewed_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

impl Store {
    // ---- Subscriptions --------------------------------------------------------------------

    /// Stores a subscription created (or adopted) for a mailbox folder. A previous subscription
    /// of the same folder is replaced, and its sealed clientState wiped. `fencing` is the token
    /// of the writer's lease on `sub.mailbox` (`Fenced` when stale, nothing written; `None`: no
    /// leases in use).
    pub async fn put_graph_subscription(
        &self,
        sub: &GraphSubscription,
        fencing: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        fencing::check(&mut tx, self.backend, sub.mailbox, fencing).await?;
        let old = sqlx::query(
            "SELECT id, client_state_id FROM graph_subscriptions WHERE (mailbox_id = $1 AND folder = $2) OR id = $3",
        )
        .bind(sub.mailbox.0)
        .bind(sub.folder.as_str())
        .bind(sub.id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::db("find previous subscription", "subscription"))?;
        for row in &old {
            let id: String = col(row, "id")?;
            if id != sub.id {
                sqlx::query("DELETE FROM graph_subscriptions WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("replace subscription", "subscription"))?;
            }
            if let Some(secret) = col::<Option<i64>>(row, "client_state_id")?
                && Some(SecretId(secret)) != sub.client_state
            {
                sqlx::query("DELETE FROM secrets WHERE id = $1")
                    .bind(secret)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("wipe previous client state", "secret"))?;
            }
        }
        sqlx::query(
            "INSERT INTO graph_subscriptions (id, mailbox_id, folder, resource, client_state_id, state, renewed_at, \
             expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET mailbox_id = excluded.mailbox_id, folder = excluded.folder, \
             resource = excluded.resource, client_state_id = excluded.client_state_id, state = excluded.state, \
             renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
        )
        .bind(sub.id.as_str())
        .bind(sub.mailbox.0)
        .bind(sub.folder.as_str())
        .bind(sub.resource.as_str())
        .bind(sub.client_state.map(|s| s.0))
        .bind(sub.state.as_str())
        .bind(sub.renewed_at)
        .bind(sub.expires_at)
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("store subscription", "subscription"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit subscription", "subscription"))
    }

    /// The subscriptions of one mailbox, by folder.
    pub async fn graph_subscriptions(&self, mailbox: MailboxId) -> Result<Vec<GraphSubscription>> {
        let rows = sqlx::query(
            "SELECT id, mailbox_id, folder, resource, client_state_id, state, renewed_at, expires_at \
             FROM graph_subscriptions WHERE mailbox_id = $1 ORDER BY folder",
        )
        .bind(mailbox.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list subscriptions", "subscription"))?;
        rows.iter().map(subscription_from_row).collect()
    }

    /// One subscription by Graph's id, if the daemon knows it (of an active mailbox).
    pub async fn graph_subscription(&self, id: &str) -> Result<Option<GraphSubscription>> {
        let row = sqlx::query(
            "SELECT s.id, s.mailbox_id, s.folder, s.resource, s.client_state_id, s.state, s.renewed_at, \
             s.expires_at FROM graph_subscriptions s JOIN mailboxes m ON m.id = s.mailbox_id \
             WHERE s.id = $1 AND m.deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get subscription", "subscription"))?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    /// Every subscription of an active mailbox (metrics, start-up).
    pub async fn all_graph_subscriptions(&self) -> Result<Vec<GraphSubscription>> {
        let rows = sqlx::query(
            "SELECT s.id, s.mailbox_id, s.folder, s.resource, s.client_state_id, s.state, s.renewed_at, \
             s.expires_at FROM graph_subscriptions s JOIN mailboxes m ON m.id = s.mailbox_id \
             WHERE m.deleted_at IS NULL ORDER BY s.mailbox_id, s.folder",
        )
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list all subscriptions", "subscription"))?;
        rows.iter().map(subscription_from_row).collect()
    }

    /// Subscriptions of active mailboxes by state, split into unexpired and expired at `now`
    /// (for `/metrics`; one grouped query).
    pub async fn count_graph_subscriptions(&self, now: i64) -> Result<SubscriptionCounts> {
        let rows = sqlx::query(
            "SELECT s.state, CAST(CASE WHEN s.expires_at <= $1 THEN 1 ELSE 0 END AS BIGINT) AS expired, COUNT(*) AS n \
             FROM graph_subscriptions s JOIN mailboxes m ON m.id = s.mailbox_id \
             WHERE m.deleted_at IS NULL GROUP BY s.state, CASE WHEN s.expires_at <= $1 THEN 1 ELSE 0 END",
        )
        .bind(now)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("count subscriptions", "subscription"))?;
        let mut counts = SubscriptionCounts::default();
        for row in &rows {
            let state: SubscriptionState = parse_col(row, "state", "subscription state")?;
            let n = u64::try_from(col::<i64>(row, "n")?).unwrap_or(0);
            if col::<i64>(row, "expired")? == 1 {
                counts.expired += n;
            } else {
                counts.live.push((state, n));
            }
        }
        Ok(counts)
    }

    /// Records a renewal: Graph's returned expiry is the truth. `fencing` is the token of the
    /// writer's lease on the subscription's mailbox (`Fenced` when stale, nothing written).
    pub async fn renew_graph_subscription(
        &self,
        id: &str,
        renewed_at: i64,
        expires_at: i64,
        fencing: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mailbox = subscription_mailbox(&mut tx, id)
            .await?
            .ok_or(Error::NotFound {
                what: "subscription",
            })?;
        fencing::check(&mut tx, self.backend, mailbox, fencing).await?;
        sqlx::query("UPDATE graph_subscriptions SET renewed_at = $1, expires_at = $2, state = 'active' WHERE id = $3")
            .bind(renewed_at)
            .bind(expires_at)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("renew subscription", "subscription"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit subscription renewal", "subscription"))
    }

    /// Records what Graph said about a subscription (e.g. removed). An unknown id changes
    /// nothing. `fencing` as for [`Store::renew_graph_subscription`].
    pub async fn set_graph_subscription_state(
        &self,
        id: &str,
        state: SubscriptionState,
        fencing: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let Some(mailbox) = subscription_mailbox(&mut tx, id).await? else {
            return Ok(());
        };
        fencing::check(&mut tx, self.backend, mailbox, fencing).await?;
        sqlx::query("UPDATE graph_subscriptions SET state = $1 WHERE id = $2")
            .bind(state.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("set subscription state", "subscription"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit subscription state", "subscription"))
    }

    /// Forgets a subscription and wipes its sealed clientState. Not fenced: the mailbox task
    /// never deletes a subscription on its own (a replacement goes through
    /// [`Store::put_graph_subscription`]); this is for operators and tests.
    pub async fn delete_graph_subscription(&self, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query("DELETE FROM graph_subscriptions WHERE id = $1 RETURNING client_state_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::db("delete subscription", "subscription"))?;
        if let Some(row) = row
            && let Some(secret) = col::<Option<i64>>(&row, "client_state_id")?
        {
            sqlx::query("DELETE FROM secrets WHERE id = $1")
                .bind(secret)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("wipe client state", "secret"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit subscription delete", "subscription"))
    }
}

/// The mailbox a subscription belongs to, read inside the caller's transaction.
async fn subscription_mailbox(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<MailboxId>> {
    let row = sqlx::query("SELECT mailbox_id FROM graph_subscriptions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::db("find subscription", "subscription"))?;
    row.map(|row| col(&row, "mailbox_id").map(MailboxId))
        .transpose()
}
