//! What the Microsoft 365 (Graph) source keeps: OAuth linkings in progress, one change
//! subscription per mailbox folder, and the durable notification queue (`graph_jobs`).
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

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::any::AnyRow;

use super::claim_sql::locked_select;
use super::cursors::advance_cursor;
use super::fencing;
use super::multi_row;
use super::{
    Cursor, Error, ListId, MailboxId, Result, SecretId, Store, UserId, col, duration_ms, parse_col,
};
use crate::domain::text_enum;

text_enum! {
    /// Where a Microsoft 365 linking was started. The OAuth callback completes a linking started
    /// from the web page or the API only in a browser signed in as the same user (so a link
    /// started by one user cannot be completed with another person's Microsoft account by
    /// sending them the consent URL); one started by the operator's CLI needs no session.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum LinkOrigin("link origin") {
        Web => "web",
        Api => "api",
        Cli => "cli",
    }
}

impl LinkOrigin {
    /// Whether the callback must come with the starting user's browser session.
    pub fn needs_session(self) -> bool {
        !matches!(self, LinkOrigin::Cli)
    }
}

/// A linking in progress, as the OAuth callback takes it back.
#[derive(Clone, PartialEq, Eq)]
pub struct OauthState {
    pub user: UserId,
    pub list: ListId,
    pub origin: LinkOrigin,
    /// The PKCE code verifier, sealed by the vault.
    pub verifier_sealed: Vec<u8>,
    pub expires_at: i64,
}

impl std::fmt::Debug for OauthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthState")
            .field("user", &self.user)
            .field("list", &self.list)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

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

text_enum! {
    /// What a queued job asks for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum GraphJobKind("graph job kind") {
        /// Fetch the message `item` and hand it to the pipeline.
        Message => "message",
        /// Lifecycle `missed`: resync the folder by delta.
        Missed => "missed",
        /// Lifecycle `reauthorizationRequired`: renew subscription `item`.
        Reauthorize => "reauthorize",
        /// Lifecycle `subscriptionRemoved`: recreate subscription `item`, then resync.
        Removed => "removed",
    }
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

/// How a claimed job ended. Errors are operator-facing classes (`http_503`), never content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphJobOutcome {
    /// The message committed, or the event handled.
    Done,
    /// A transient failure: due again at `next_at` (epoch ms).
    Retry { next_at: i64, error: String },
    /// A permanent failure: kept as `failed`, never retried.
    Failed { error: String },
}

/// A job to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGraphJob {
    pub mailbox: MailboxId,
    pub kind: GraphJobKind,
    pub folder: String,
    /// The Graph message id (kind `Message`) or subscription id (lifecycle kinds).
    pub item: String,
}

/// A claimed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphJob {
    pub id: i64,
    pub mailbox: MailboxId,
    pub kind: GraphJobKind,
    pub folder: String,
    pub item: String,
    pub attempts: i64,
    /// When it was queued (epoch ms): for a message, when a notification or a delta round
    /// reported it (the Graph source's lag is measured from here).
    pub created_at: i64,
}

/// Jobs by status, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphJobCounts {
    pub pending: i64,
    pub done: i64,
    pub failed: i64,
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

fn job_from_row(row: &AnyRow) -> Result<GraphJob> {
    Ok(GraphJob {
        id: col(row, "id")?,
        mailbox: MailboxId(col(row, "mailbox_id")?),
        kind: parse_col(row, "kind", "graph job kind")?,
        folder: col(row, "folder")?,
        item: col(row, "item")?,
        attempts: col(row, "attempts")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    // ---- OAuth linkings in progress -------------------------------------------------------

    /// Records a linking started by `user` for `list`; `state_hash` is the SHA-256 of the
    /// `state` parameter (the state itself is never stored).
    pub async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        list: ListId,
        origin: LinkOrigin,
        verifier_sealed: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        let now = self.now_ms();
        // Expired linkings are dropped on the way (they hold sealed verifiers only).
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(Error::db("purge oauth states", "oauth state"))?;
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, user_id, list_id, origin, verifier_sealed, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(user.0)
        .bind(list.0)
        .bind(origin.as_str())
        .bind(verifier_sealed.to_vec())
        .bind(now)
        .bind(now.saturating_add(duration_ms(ttl)))
        .execute(self.writer())
        .await
        .map_err(Error::db("store oauth state", "oauth state"))?;
        Ok(())
    }

    /// Takes (deletes and returns) a linking, so a `state` works once. `NotFound` when unknown
    /// or expired.
    pub async fn take_oauth_state(&self, state_hash: &str) -> Result<OauthState> {
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state_hash = $1 \
             RETURNING user_id, list_id, origin, verifier_sealed, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("take oauth state", "oauth state"))?
        .ok_or(Error::NotFound {
            what: "oauth state",
        })?;
        let state = OauthState {
            user: UserId(col(&row, "user_id")?),
            list: ListId(col(&row, "list_id")?),
            origin: parse_col(&row, "origin", "link origin")?,
            verifier_sealed: col(&row, "verifier_sealed")?,
            expires_at: col(&row, "expires_at")?,
        };
        if state.expires_at < self.now_ms() {
            return Err(Error::NotFound {
                what: "oauth state",
            });
        }
        Ok(state)
    }

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

    // ---- The notification queue -----------------------------------------------------------

    /// Inserts jobs in one transaction; returns how many were new. A message already queued
    /// (or done) is not queued again; a lifecycle job already done is made due again.
    ///
    /// Not fenced, by design: the webhook of ANY replica queues jobs (Graph delivers a
    /// notification to whichever replica its load balancer picks), and only the lease holder
    /// claims and does them; a job queued twice is one row.
    pub async fn enqueue_graph_jobs(&self, jobs: &[NewGraphJob]) -> Result<u64> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = insert_jobs(&mut tx, jobs, now).await?;
        tx.commit()
            .await
            .map_err(Error::db("commit graph jobs", "graph job"))?;
        Ok(inserted)
    }

    /// One delta round of a folder: its new messages become jobs and the folder's delta link
    /// advances, in one transaction (a crash in between repeats the round, which is harmless).
    /// `fencing` is the token of the writer's lease on `mailbox`: `Fenced` when stale, and then
    /// neither the link nor any job is written (`None`: no leases in use).
    pub async fn commit_delta_round(
        &self,
        mailbox: MailboxId,
        folder: &str,
        message_ids: &[String],
        delta_link: &str,
        fencing: Option<i64>,
    ) -> Result<u64> {
        let now = self.now_ms();
        let jobs: Vec<NewGraphJob> = message_ids
            .iter()
            .map(|id| NewGraphJob {
                mailbox,
                kind: GraphJobKind::Message,
                folder: folder.to_owned(),
                item: id.clone(),
            })
            .collect();
        let mut tx = self.begin_write().await?;
        fencing::check(&mut tx, self.backend, mailbox, fencing).await?;
        let inserted = insert_jobs(&mut tx, &jobs, now).await?;
        advance_cursor(
            &mut tx,
            mailbox,
            folder,
            &Cursor::Delta {
                link: delta_link.to_owned(),
            },
            now,
        )
        .await?;
        tx.commit()
            .await
            .map_err(Error::db("commit delta round", "graph job"))?;
        Ok(inserted)
    }

    /// Marks messages as already seen without fetching them (the baseline of a new link: mail
    /// that was in the folder before the link is not processed), and sets the delta link.
    /// `fencing` as for [`Store::commit_delta_round`].
    pub async fn commit_delta_baseline(
        &self,
        mailbox: MailboxId,
        folder: &str,
        message_ids: &[String],
        delta_link: &str,
        fencing: Option<i64>,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        fencing::check(&mut tx, self.backend, mailbox, fencing).await?;
        for id in message_ids {
            sqlx::query(
                "INSERT INTO graph_jobs (mailbox_id, kind, folder, item, status, next_attempt_at, created_at, done_at) \
                 VALUES ($1, 'message', $2, $3, 'done', $4, $4, $4) ON CONFLICT (mailbox_id, kind, item) DO NOTHING",
            )
            .bind(mailbox.0)
            .bind(folder)
            .bind(id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("record baseline message", "graph job"))?;
        }
        advance_cursor(
            &mut tx,
            mailbox,
            folder,
            &Cursor::Delta {
                link: delta_link.to_owned(),
            },
            now,
        )
        .await?;
        tx.commit()
            .await
            .map_err(Error::db("commit delta baseline", "graph job"))
    }

    /// Claims up to `limit` due jobs of active mailboxes in status `ok` for `worker`, for
    /// `lease` (a crashed worker's jobs become due again after it). With `lease_owner`, only
    /// jobs of mailboxes whose lease that replica holds (any replica accepts webhooks; the
    /// owner does the work), and then also jobs still claimed by another worker: a replica
    /// claims in its own name, so such a claim is a previous owner's (killed, stalled or
    /// having given the mailbox back) and need not run its lease out (the pipeline's fencing
    /// and Message-ID dedupe make a late second run harmless).
    pub async fn claim_graph_jobs(
        &self,
        worker: &str,
        lease_owner: Option<&str>,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<GraphJob>> {
        let now = self.now_ms();
        let sql = locked_select!(
            self.backend,
            "UPDATE graph_jobs SET claimed_by = $1, claim_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT j.id FROM graph_jobs j JOIN mailboxes m ON m.id = j.mailbox_id \
               WHERE j.status = 'pending' AND j.next_attempt_at <= $3 \
               AND (j.claim_until IS NULL OR j.claim_until < $3 OR ($5 IS NOT NULL AND j.claimed_by <> $5)) \
               AND m.deleted_at IS NULL AND m.status = 'ok' AND ($5 IS NULL OR m.lease_owner = $5) \
               ORDER BY j.next_attempt_at, j.id LIMIT $4",
            "FOR UPDATE OF j SKIP LOCKED",
            ") RETURNING id, mailbox_id, kind, folder, item, attempts, created_at",
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sql)
            .bind(worker)
            .bind(now.saturating_add(duration_ms(lease)))
            .bind(now)
            .bind(i64::from(limit))
            .bind(lease_owner)
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::db("claim graph jobs", "graph job"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit graph job claim", "graph job"))?;
        let mut jobs = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Records how claimed jobs ended, all in one transaction (the job workers fold their
    /// outcomes, see `sources::graph::group_commit`).
    pub async fn record_graph_job_outcomes(
        &self,
        outcomes: &[(i64, GraphJobOutcome)],
    ) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        // Done and failed jobs go in multi-row statements (failed ones grouped by error class);
        // retries carry their own due time each.
        let mut done = Vec::new();
        let mut failed: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        let mut retries = Vec::new();
        for (id, outcome) in outcomes {
            match outcome {
                GraphJobOutcome::Done => done.push(*id),
                GraphJobOutcome::Failed { error } => {
                    failed.entry(error.as_str()).or_default().push(*id)
                }
                GraphJobOutcome::Retry { next_at, error } => {
                    retries.push((*id, *next_at, error.as_str()))
                }
            }
        }
        let mut tx = self.begin_write().await?;
        for chunk in done.chunks(multi_row::ROWS_PER_STATEMENT) {
            let mut query = sqlx::query(multi_row::finish_jobs(chunk.len())).bind(now);
            for id in chunk {
                query = query.bind(*id);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(Error::db("finish graph jobs", "graph job"))?;
        }
        for (error, ids) in &failed {
            for chunk in ids.chunks(multi_row::ROWS_PER_STATEMENT) {
                let mut query = sqlx::query(multi_row::fail_jobs(chunk.len()))
                    .bind(now)
                    .bind(*error);
                for id in chunk {
                    query = query.bind(*id);
                }
                query
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::db("fail graph jobs", "graph job"))?;
            }
        }
        for (id, next_at, error) in retries {
            sqlx::query(
                "UPDATE graph_jobs SET next_attempt_at = $1, last_error = $2, claimed_by = NULL, claim_until = NULL \
                 WHERE id = $3 AND status = 'pending'",
            )
            .bind(next_at)
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("retry graph job", "graph job"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit graph job outcomes", "graph job"))
    }

    /// Jobs by status (all mailboxes, or one).
    pub async fn graph_job_counts(&self, mailbox: Option<MailboxId>) -> Result<GraphJobCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM graph_jobs WHERE ($1 IS NULL OR mailbox_id = $1) GROUP BY status",
        )
        .bind(mailbox.map(|m| m.0))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("count graph jobs", "graph job"))?;
        let mut counts = GraphJobCounts::default();
        for row in &rows {
            let status: String = col(row, "status")?;
            let n: i64 = col(row, "n")?;
            match status.as_str() {
                "pending" => counts.pending = n,
                "done" => counts.done = n,
                _ => counts.failed += n,
            }
        }
        Ok(counts)
    }

    /// The earliest time a pending job is due, to sleep until then.
    pub async fn next_graph_job_due(&self) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) AS due FROM graph_jobs WHERE status = 'pending'",
        )
        .fetch_one(self.reader())
        .await
        .map_err(Error::db("next graph job", "graph job"))?;
        col::<Option<i64>>(&row, "due")
    }

    /// Drops finished jobs older than `before` (epoch ms); returns how many.
    pub async fn purge_graph_jobs(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM graph_jobs WHERE status <> 'pending' AND done_at < $1")
            .bind(before)
            .execute(self.writer())
            .await
            .map_err(Error::db("purge graph jobs", "graph job"))?;
        Ok(done.rows_affected())
    }

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

async fn insert_jobs(
    conn: &mut sqlx::AnyConnection,
    jobs: &[NewGraphJob],
    now: i64,
) -> Result<u64> {
    let (messages, events): (Vec<&NewGraphJob>, Vec<&NewGraphJob>) = jobs
        .iter()
        .partition(|job| job.kind == GraphJobKind::Message);
    let mut inserted = 0;
    for chunk in messages.chunks(multi_row::ROWS_PER_STATEMENT) {
        let mut query = sqlx::query(multi_row::insert_message_jobs(chunk.len())).bind(now);
        for job in chunk {
            query = query
                .bind(job.mailbox.0)
                .bind(job.kind.as_str())
                .bind(job.folder.as_str())
                .bind(job.item.as_str());
        }
        let done = query
            .execute(&mut *conn)
            .await
            .map_err(Error::db("queue graph jobs", "graph job"))?;
        inserted += done.rows_affected();
    }
    // A lifecycle event for a subscription whose earlier event was handled is due again.
    for job in events {
        let done = sqlx::query(
            "INSERT INTO graph_jobs (mailbox_id, kind, folder, item, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (mailbox_id, kind, item) DO UPDATE SET \
             status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, done_at = NULL \
             WHERE graph_jobs.status <> 'pending'",
        )
        .bind(job.mailbox.0)
        .bind(job.kind.as_str())
        .bind(job.folder.as_str())
        .bind(job.item.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(Error::db("queue graph job", "graph job"))?;
        inserted += done.rows_affected();
    }
    Ok(inserted)
}
