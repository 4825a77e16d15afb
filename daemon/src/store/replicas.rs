//! Several replicas on one database: heartbeat rows, so each replica knows how many
//! share the mailboxes and claims only its fair share of the leases; the lease queries the
//! supervisor's lease loop runs (claim free ones, renew or give up held ones); and the lock that
//! serialises the refreshes of one OAuth grant (a mailbox's, or an installation-wide one such as
//! the notifier's) across replicas.
//!
//! Times are the store clock's epoch milliseconds, like every other timestamp: replicas on
//! different machines need clocks within a fraction of the lease (NTP gives milliseconds).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use super::claim_sql::locked_select;
use super::{Backend, Error, Lease, MailboxId, Result, SecretId, Store, col, duration_ms};

/// One mailbox's lease as stored (for the lease loop's bookkeeping, tests and operators).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    pub mailbox: MailboxId,
    /// The replica holding the lease, `None` when free (never claimed or released).
    pub owner: Option<String>,
    pub until: i64,
    pub fencing: i64,
}

/// Held while an OAuth grant's tokens are refreshed: no other task of this process and (on
/// PostgreSQL) no other replica refreshes the same grant until it is dropped. Dropping it
/// releases both (the PostgreSQL lock is transaction-scoped, and the transaction rolls back).
pub struct GrantRefreshLock {
    // Field order is drop order: the database lock goes first, then its connection slot, then
    // the local one.
    _database: Option<sqlx::Transaction<'static, sqlx::Any>>,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// At most this share of the pool's connections is held by refresh locks at once (at least
/// one). A refresh lock keeps its transaction's connection while the holder re-reads and
/// stores the tokens on other connections: without a bound, as many mailboxes starting at
/// once as the pool has connections (every Graph mailbox takes the lock for its first token)
/// held every connection and each waited for one more, until the pool's acquire timeout; the
/// lease loop could not renew meanwhile and the replica lost all its leases (found by the
/// resilience suite with 10 Graph mailboxes and a pool of 8).
const REFRESH_LOCK_POOL_SHARE: u32 = 4;

/// One semaphore per pool size (in practice one per process).
static REFRESH_LOCK_SLOTS: LazyLock<Mutex<HashMap<u32, Arc<tokio::sync::Semaphore>>>> =
    LazyLock::new(Mutex::default);

fn refresh_lock_slots(pool_size: u32) -> Arc<tokio::sync::Semaphore> {
    let mut slots = REFRESH_LOCK_SLOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let permits = usize::try_from((pool_size / REFRESH_LOCK_POOL_SHARE).max(1)).unwrap_or(1);
    Arc::clone(
        slots
            .entry(pool_size)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(permits))),
    )
}

/// Whose OAuth grant a refresh lock serialises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum GrantKey {
    /// The grant of one mailbox, whose row names its sealed tokens.
    Mailbox(MailboxId),
    /// An installation-wide grant kept as a named secret (the notifier's technical user).
    Secret(SecretId),
}

/// The first half of PostgreSQL's two-key advisory locks taken for named secrets. The one-key
/// form (taken for mailboxes) and the two-key form are separate key spaces, so a secret's lock
/// never meets a mailbox's of the same number.
pub const SECRET_LOCK_SPACE: i32 = 0x6d73_6967; // "msig"

/// One async mutex per grant for this process. A process-wide map rather than a field of
/// [`Store`]: the store is cloned freely and every clone must see the same locks. Entries are
/// a few bytes per grant ever refreshed and are never removed.
static LOCAL_REFRESH_LOCKS: LazyLock<Mutex<HashMap<GrantKey, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

fn local_refresh_lock(grant: GrantKey) -> Arc<tokio::sync::Mutex<()>> {
    // Poisoning only means a panic elsewhere while holding the map lock; the map is intact.
    let mut locks = LOCAL_REFRESH_LOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(locks.entry(grant).or_default())
}

fn lease_from_row(row: &sqlx::any::AnyRow) -> Result<Lease> {
    Ok(Lease {
        mailbox: MailboxId(col(row, "id")?),
        fencing: col(row, "lease_fencing")?,
        until: col(row, "lease_until")?,
    })
}

impl Store {
    /// Records that replica `id` is alive for `ttl` more (inserted on first call).
    pub async fn replica_heartbeat(&self, id: &str, ttl: Duration) -> Result<()> {
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO replicas (id, started_at, heartbeat_at, heartbeat_until) VALUES ($1, $2, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
             heartbeat_until = excluded.heartbeat_until",
        )
        .bind(id)
        .bind(now)
        .bind(now.saturating_add(duration_ms(ttl)))
        .execute(self.writer())
        .await
        .map_err(Error::db("replica heartbeat", "replica"))?;
        Ok(())
    }

    /// Replicas whose heartbeat has not expired (at least 1: the caller is one).
    pub async fn live_replicas(&self) -> Result<u32> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM replicas WHERE heartbeat_until >= $1")
            .bind(self.now_ms())
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("count live replicas", "replica"))?;
        let n: i64 = col(&row, "n")?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX).max(1))
    }

    /// How many live leases each live replica holds (0 for one that holds none), by replica
    /// id: what a replica compares its own load with before giving leases back.
    pub async fn live_replica_loads(&self) -> Result<Vec<(String, u32)>> {
        let now = self.now_ms();
        let rows = sqlx::query(
            "SELECT r.id AS id, COUNT(m.id) AS n FROM replicas r \
             LEFT JOIN mailboxes m ON m.lease_owner = r.id AND m.lease_until >= $1 AND m.deleted_at IS NULL \
             WHERE r.heartbeat_until >= $1 GROUP BY r.id ORDER BY r.id",
        )
        .bind(now)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("count leases per replica", "replica"))?;
        rows.iter()
            .map(|row| {
                let n: i64 = col(row, "n")?;
                Ok((col(row, "id")?, u32::try_from(n).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    /// Forgets a replica (at shutdown) and the heartbeat rows of replicas dead for `older_than`.
    pub async fn remove_replica(&self, id: &str, older_than: Duration) -> Result<()> {
        let cutoff = self.now_ms().saturating_sub(duration_ms(older_than));
        sqlx::query("DELETE FROM replicas WHERE id = $1 OR heartbeat_until < $2")
            .bind(id)
            .bind(cutoff)
            .execute(self.writer())
            .await
            .map_err(Error::db("remove replica", "replica"))?;
        Ok(())
    }

    /// Active mailboxes (of every kind): what the replicas share.
    pub async fn count_active_mailboxes(&self) -> Result<u32> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM mailboxes WHERE deleted_at IS NULL")
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("count mailboxes", "mailbox"))?;
        let n: i64 = col(&row, "n")?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Claims up to `limit` active mailboxes that nobody holds (never claimed, released, or
    /// whose lease expired), each with a new fencing token. With `steal` every mailbox not held
    /// by `owner` counts as free: for SQLite, where one process is the only owner by design and a
    /// restarted daemon must not wait for its previous life's leases to expire.
    ///
    /// On PostgreSQL concurrent claimers skip each other's locked rows (`FOR UPDATE SKIP
    /// LOCKED`), so they take disjoint sets without waiting.
    pub async fn claim_free_mailboxes(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        steal: bool,
    ) -> Result<Vec<Lease>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.now_ms();
        let until = now.saturating_add(duration_ms(lease));
        let sql = locked_select!(
            self.backend,
            "UPDATE mailboxes SET lease_owner = $1, lease_until = $2, lease_fencing = lease_fencing + 1 \
             WHERE id IN (SELECT id FROM mailboxes WHERE deleted_at IS NULL \
               AND (lease_owner IS NULL OR lease_owner <> $1) AND (lease_until < $3 OR $5 = 1) \
               ORDER BY lease_until, id LIMIT $4",
            "FOR UPDATE SKIP LOCKED",
            ") RETURNING id, lease_fencing, lease_until",
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sql)
            .bind(owner)
            .bind(until)
            .bind(now)
            .bind(i64::from(limit))
            .bind(i64::from(steal))
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::db("claim free mailboxes", "mailbox"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit mailbox claim", "mailbox"))?;
        let mut leases = rows
            .iter()
            .map(lease_from_row)
            .collect::<Result<Vec<_>>>()?;
        leases.sort_by_key(|l| l.mailbox);
        Ok(leases)
    }

    /// Extends every lease `owner` still holds, in one statement, and returns them: a lease the
    /// caller believes it holds but that is missing here (or has another fencing token) was
    /// lost and its watchers must stop.
    pub async fn renew_owned_leases(&self, owner: &str, lease: Duration) -> Result<Vec<Lease>> {
        let until = self.now_ms().saturating_add(duration_ms(lease));
        let rows = sqlx::query(
            "UPDATE mailboxes SET lease_until = $1 WHERE lease_owner = $2 AND deleted_at IS NULL \
             RETURNING id, lease_fencing, lease_until",
        )
        .bind(until)
        .bind(owner)
        .fetch_all(self.writer())
        .await
        .map_err(Error::db("renew leases", "mailbox"))?;
        let mut leases = rows
            .iter()
            .map(lease_from_row)
            .collect::<Result<Vec<_>>>()?;
        leases.sort_by_key(|l| l.mailbox);
        Ok(leases)
    }

    /// Every active mailbox's lease, by mailbox id.
    pub async fn lease_rows(&self) -> Result<Vec<LeaseRow>> {
        let rows = sqlx::query(
            "SELECT id, lease_owner, lease_until, lease_fencing FROM mailboxes WHERE deleted_at IS NULL ORDER BY id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list leases", "mailbox"))?;
        rows.iter()
            .map(|row| {
                Ok(LeaseRow {
                    mailbox: MailboxId(col(row, "id")?),
                    owner: col(row, "lease_owner")?,
                    until: col(row, "lease_until")?,
                    fencing: col(row, "lease_fencing")?,
                })
            })
            .collect()
    }

    /// Serialises OAuth token refreshes of one mailbox: waits until no other task of this
    /// process, and on PostgreSQL no other replica (`pg_advisory_xact_lock` on the mailbox id,
    /// held by an open transaction), is refreshing it. Refresh, persist the rotated tokens (on
    /// any connection), then drop the lock. Re-read the tokens after taking the lock: another
    /// replica may have refreshed them meanwhile. At most a quarter of the pool's connections
    /// are held by these locks at once, so the holders' own reads and writes (and everything
    /// else) always find a connection; the pool needs at least 2.
    pub async fn lock_mailbox_refresh(&self, mailbox: MailboxId) -> Result<GrantRefreshLock> {
        self.lock_grant_refresh(GrantKey::Mailbox(mailbox)).await
    }

    /// As [`Store::lock_mailbox_refresh`], for a grant stored as the named secret `secret`
    /// (the notifier's technical user): every replica's notifier may refresh it.
    pub async fn lock_secret_refresh(&self, secret: SecretId) -> Result<GrantRefreshLock> {
        self.lock_grant_refresh(GrantKey::Secret(secret)).await
    }

    async fn lock_grant_refresh(&self, grant: GrantKey) -> Result<GrantRefreshLock> {
        let local = local_refresh_lock(grant).lock_owned().await;
        let (slot, database) = match self.backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let slots = refresh_lock_slots(self.pool.options().get_max_connections());
                // The semaphore is never closed.
                let slot = slots.acquire_owned().await.ok();
                let mut tx = self
                    .reader()
                    .begin()
                    .await
                    .map_err(Error::db("begin refresh lock", "oauth grant"))?;
                // The function returns `void`, which the Any driver cannot decode: select a constant.
                let lock = match grant {
                    GrantKey::Mailbox(mailbox) => sqlx::query(
                        "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l",
                    )
                    .bind(mailbox.0),
                    GrantKey::Secret(secret) => sqlx::query(
                        "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1, $2)) AS l",
                    )
                    .bind(SECRET_LOCK_SPACE)
                    // Secret ids are row numbers; one beyond i32 shares a lock, which only
                    // serialises two unrelated refreshes.
                    .bind(secret.0 as i32),
                };
                lock.fetch_one(&mut *tx)
                    .await
                    .map_err(Error::db("take refresh lock", "oauth grant"))?;
                (slot, Some(tx))
            }
        };
        Ok(GrantRefreshLock {
            _database: database,
            _slot: slot,
            _local: local,
        })
    }
}
