//! The durable notification queue (`graph_jobs`) and the delta rounds that feed it.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::any::AnyRow;

use crate::domain::text_enum;
use crate::store::claim_sql::locked_select;
use crate::store::cursors::advance_cursor;
use crate::store::fencing;
use crate::store::multi_row;
use crate::store::{Cursor, Error, MailboxId, Result, Store, col, duration_ms, parse_col};

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
               AND m.deleted_at IS NULL AND m.status = 'ok' AND m.paused_at IS NULL AND ($5 IS NULL OR m.lease_owner = $5) \
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
