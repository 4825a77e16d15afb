//! The lease loop: makes each mailbox watched by exactly one replica at a time.
//!
//! Every replica registers a heartbeat row and, every 2 seconds (with jitter, so replicas
//! started together do not claim in lockstep):
//! 1. renews all the leases it holds in one statement; any it believed held that did not come
//!    back was taken over (it stalled past the expiry) and is dropped at once;
//! 2. claims free or expired mailboxes up to its fair share `ceil(mailboxes / live replicas)`
//!    (the shares add up to at least the mailbox count, so every mailbox finds an owner); a
//!    replica holding more than its share (it claimed when fewer replicas were live) gives back
//!    down to its share, for the one that joined, when it holds more than share + slack or when
//!    another live replica holds at least two fewer than it (so with 3 mailboxes and 3
//!    replicas each ends up with one, although 2 is within share + slack);
//! 3. publishes the result: fencing tokens to the pipeline (every commit carries one, and the
//!    store refuses a stale one) and the owned set to the sources, which start and stop
//!    watchers accordingly.
//!
//! A replica that dies stops renewing: its heartbeat expires first (three renewals), its leases
//! after [`LEASE`], and the next claim round of the others (every [`CLAIM_EVERY`]) takes its
//! mailboxes, so they are watched again within about `LEASE + CLAIM_EVERY` (17 s). When the database cannot be reached
//! a replica keeps its leases until their expiry, then stops its watchers.
//!
//! On SQLite the same loop runs with a single owner: one process per database by design, so it
//! claims every mailbox, including those a previous (killed) run of it still holds.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pipeline::Fences;
use crate::sources::ownership::{Ownership, OwnershipPublisher};
use crate::store::{Backend, Lease, MailboxId, Store};

/// How long a lease (and a heartbeat) lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(15);
/// Time between two renewals (several can fail before the lease expires). One statement
/// per replica, so frequent renewals cost little.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// Time between two claim rounds: after a lease expires it is taken within this time.
pub const CLAIM_EVERY: Duration = Duration::from_secs(2);
/// Leases a replica may hold beyond its fair share before it gives some back (hysteresis).
pub const SLACK: u32 = 1;
/// Heartbeat rows of replicas dead for this long are deleted.
const FORGET_DEAD_AFTER: Duration = Duration::from_secs(3600);

/// How this replica takes part in sharing the mailboxes.
#[derive(Clone, Debug)]
pub struct ReplicaOptions {
    /// Unique among the replicas of one database: configured (`[replica] id`) or generated.
    pub id: String,
    pub lease: Duration,
    pub renew_every: Duration,
    pub claim_every: Duration,
    pub slack: u32,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        Self {
            id: generated_replica_id(),
            lease: LEASE,
            renew_every: RENEW_EVERY,
            claim_every: CLAIM_EVERY,
            slack: SLACK,
        }
    }
}

/// Host name, process id and a random suffix: unique even when a restarted container reuses
/// the pid of its previous life.
pub fn generated_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let suffix: u32 = rand::rng().random();
    format!(
        "{}-{}-{suffix:08x}",
        if host.is_empty() { "mailsigd" } else { host },
        std::process::id()
    )
}

/// The fair share of a replica: `ceil(mailboxes / live)`.
pub fn fair_share(mailboxes: u32, live: u32) -> u32 {
    mailboxes.div_ceil(live.max(1))
}

/// Whether a replica holding `held` leases gives back down to `share`: only above its share,
/// and then when above share + `slack` (the others were fewer when it claimed) or when another
/// live replica holds two or more fewer (moving one lease evens the load; the slack alone
/// would leave a replica that joined with none when there are few mailboxes).
pub fn must_give_back(held: u32, share: u32, slack: u32, least_loaded_other: Option<u32>) -> bool {
    held > share
        && (held > share.saturating_add(slack)
            || least_loaded_other.is_some_and(|other| other.saturating_add(1) < held))
}

/// The lease loop's state: what this replica holds.
struct LeaseLoop {
    options: ReplicaOptions,
    store: Store,
    fences: Fences,
    publisher: OwnershipPublisher,
    held: BTreeMap<MailboxId, Lease>,
    /// One process per database (SQLite): claim everything.
    single_owner: bool,
}

/// Starts the lease loop: registers the replica and claims a first share before returning (so
/// the sources start at once), then keeps renewing and claiming on `tracker` until `shutdown`,
/// when it gives every lease back. The pipeline must be spawned with `fences`.
pub async fn start(
    options: ReplicaOptions,
    store: Store,
    fences: Fences,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Ownership {
    let (publisher, ownership) = Ownership::channel();
    let single_owner = store.backend() == Backend::Sqlite;
    let mut state = LeaseLoop {
        options,
        store,
        fences,
        publisher,
        held: BTreeMap::new(),
        single_owner,
    };
    tracing::info!(replica = %state.options.id, single_owner, "replica starting");
    state.round(true).await;
    tracker.spawn(async move {
        let mut next_claim = tokio::time::Instant::now() + jittered(state.options.claim_every);
        loop {
            tokio::select! {
                () = tokio::time::sleep(jittered(state.options.renew_every.min(state.options.claim_every))) => {}
                () = shutdown.cancelled() => break,
            }
            let claim = tokio::time::Instant::now() >= next_claim;
            if claim {
                next_claim = tokio::time::Instant::now() + jittered(state.options.claim_every);
            }
            state.round(claim).await;
        }
        state.release_all().await;
    });
    ownership
}

/// `base` ± 20 %.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::rng().random_range(0.8..1.2))
}

impl LeaseLoop {
    async fn round(&mut self, claim: bool) {
        // The heartbeat lasts three renewals, less than a lease: a dead replica stops counting
        // as live before its leases expire, so when they do the survivors' shares already
        // cover its mailboxes.
        let heartbeat = self.options.lease.min(self.options.renew_every * 3);
        if let Err(error) = self
            .store
            .replica_heartbeat(&self.options.id, heartbeat)
            .await
        {
            tracing::warn!(replica = %self.options.id, error = %error, "replica heartbeat failed");
        }
        self.renew().await;
        if claim {
            self.claim().await;
        }
        self.publish();
    }

    /// Renews every held lease; drops the ones lost.
    async fn renew(&mut self) {
        match self
            .store
            .renew_owned_leases(&self.options.id, self.options.lease)
            .await
        {
            Ok(renewed) => {
                let renewed: BTreeMap<MailboxId, Lease> =
                    renewed.into_iter().map(|l| (l.mailbox, l)).collect();
                for (mailbox, lease) in &self.held {
                    match renewed.get(mailbox) {
                        Some(now) if now.fencing == lease.fencing => {}
                        _ => tracing::warn!(
                            replica = %self.options.id, mailbox = %mailbox, fencing = lease.fencing,
                            "mailbox lease lost; its watchers stop"
                        ),
                    }
                }
                // A lease held under this id but unknown here (a configured id reused after a
                // crash) is adopted with its fencing token.
                self.held = renewed;
            }
            Err(error) => {
                // Keep what has not expired yet; nobody else can take it before then.
                let now = self.store.now_ms();
                let before = self.held.len();
                self.held.retain(|_, lease| lease.until > now);
                tracing::warn!(
                    replica = %self.options.id, error = %error, dropped = before - self.held.len(),
                    "lease renewal failed; expired leases dropped"
                );
            }
        }
    }

    /// Claims free leases up to the share; a replica holding more than share + slack (the
    /// others were fewer when it claimed) gives back down to its share instead. The slack is
    /// hysteresis: a replica does not give back for a difference of one (e.g. while a dead
    /// replica's heartbeat has not expired yet and still counts as live).
    async fn claim(&mut self) {
        let limit = if self.single_owner {
            u32::MAX
        } else {
            match self.share().await {
                Ok((share, least_loaded_other)) => {
                    let held = u32::try_from(self.held.len()).unwrap_or(u32::MAX);
                    if must_give_back(held, share, self.options.slack, least_loaded_other) {
                        // Down to the share, and no claim this round: the given-back leases are
                        // for the others (a replica that joined), not to be taken back at once.
                        self.release_excess(usize::try_from(share).unwrap_or(usize::MAX))
                            .await;
                        return;
                    }
                    share.saturating_sub(held)
                }
                Err(error) => {
                    tracing::warn!(replica = %self.options.id, error = %error, "lease claim skipped");
                    return;
                }
            }
        };
        match self
            .store
            .claim_free_mailboxes(
                &self.options.id,
                self.options.lease,
                limit,
                self.single_owner,
            )
            .await
        {
            Ok(claimed) => {
                for lease in claimed {
                    tracing::info!(
                        replica = %self.options.id, mailbox = %lease.mailbox, fencing = lease.fencing,
                        "mailbox lease claimed"
                    );
                    self.held.insert(lease.mailbox, lease);
                }
            }
            Err(error) => {
                tracing::warn!(replica = %self.options.id, error = %error, "lease claim failed")
            }
        }
    }

    /// This replica's fair share now, and the fewest leases another live replica holds.
    async fn share(&self) -> Result<(u32, Option<u32>), crate::store::Error> {
        let mailboxes = self.store.count_active_mailboxes().await?;
        let loads = self.store.live_replica_loads().await?;
        // This replica counts even if its heartbeat row is missing (the write failed).
        let missing_self = usize::from(!loads.iter().any(|(id, _)| *id == self.options.id));
        let live = u32::try_from(loads.len() + missing_self).unwrap_or(u32::MAX);
        let least_loaded_other = loads
            .iter()
            .filter(|(id, _)| *id != self.options.id)
            .map(|(_, n)| *n)
            .min();
        Ok((fair_share(mailboxes, live), least_loaded_other))
    }

    /// Gives back the leases beyond `keep` (the highest mailbox ids), so a replica that joined
    /// can take them: fences first (commits of those mailboxes are refused from now on), then
    /// the sources stop their watchers, then the rows are freed.
    async fn release_excess(&mut self, keep: usize) {
        let excess: Vec<Lease> = self
            .held
            .values()
            .rev()
            .take(self.held.len().saturating_sub(keep))
            .copied()
            .collect();
        for lease in &excess {
            self.held.remove(&lease.mailbox);
        }
        self.publish();
        for lease in excess {
            match self.store.release_lease(&self.options.id, lease).await {
                Ok(()) => {
                    tracing::info!(replica = %self.options.id, mailbox = %lease.mailbox, "mailbox lease given back")
                }
                Err(error) => {
                    tracing::warn!(replica = %self.options.id, mailbox = %lease.mailbox, error = %error, "lease release failed")
                }
            }
        }
    }

    /// Tells the pipeline and the sources what is held now.
    fn publish(&self) {
        let owned: BTreeMap<MailboxId, i64> =
            self.held.values().map(|l| (l.mailbox, l.fencing)).collect();
        for (mailbox, fencing) in &owned {
            self.fences.hold(*mailbox, *fencing);
        }
        for mailbox in self.fences.held() {
            if !owned.contains_key(&mailbox) {
                self.fences.drop_lease(mailbox);
            }
        }
        self.publisher.publish(owned);
    }

    /// At shutdown: every lease back, so the other replicas take over at once, and the
    /// heartbeat row removed.
    async fn release_all(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.publish();
        for lease in held.into_values() {
            if let Err(error) = self.store.release_lease(&self.options.id, lease).await {
                tracing::warn!(replica = %self.options.id, mailbox = %lease.mailbox, error = %error, "lease release failed");
            }
        }
        if let Err(error) = self
            .store
            .remove_replica(&self.options.id, FORGET_DEAD_AFTER)
            .await
        {
            tracing::warn!(replica = %self.options.id, error = %error, "replica row not removed");
        }
        tracing::info!(replica = %self.options.id, "replica leases released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_share_rounds_up() {
        assert_eq!(fair_share(50, 3), 17);
        assert_eq!(fair_share(50, 2), 25);
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(5, 0), 5);
    }

    #[test]
    fn give_back_evens_out_small_counts() {
        // 3 mailboxes, 3 replicas: the one holding 2 gives one to the one holding none.
        assert!(must_give_back(2, 1, 1, Some(0)));
        // ... but not when the others hold one each (nobody to give to).
        assert!(!must_give_back(2, 1, 1, Some(1)));
        // 12 over 3: 5, 5, 2 → a 5 gives back; 5, 4, 4 stays (the hysteresis).
        assert!(must_give_back(5, 4, 1, Some(2)));
        assert!(!must_give_back(5, 4, 1, Some(4)));
        // Never below the share, whatever the others hold.
        assert!(!must_give_back(4, 4, 1, Some(0)));
        // Far above the share: always.
        assert!(must_give_back(7, 4, 1, None));
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(generated_replica_id(), generated_replica_id());
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(5));
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(6),
                "{d:?}"
            );
        }
    }
}
