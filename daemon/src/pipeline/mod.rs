//! The pipeline: turns raw messages pushed by the sources into committed suggestions.
//!
//! Data flow: a source fetches a message into a [`RawMessage`] and pushes an [`InboundMessage`]
//! through a [`PipelineHandle`] into one bounded queue (it waits while the queue is full:
//! backpressure). Workers take messages from the queue, read the header facts
//! ([`mailsig_parser::envelope`]), apply the [`filter`]s, run [`mailsig_parser::extract`] off
//! the async reactor (the raw bytes are zeroized and dropped right there), and commit the
//! outcome (suggestion or skip), the source position and the counters in one store transaction,
//! so each message is processed exactly once; the commits of several messages share one
//! transaction ([`group_commit`]). Then the source's [`Ack`] resolves.
//!
//! Messages of one folder commit in arrival order (extraction still runs in parallel), so a
//! folder's cursor never passes a message that is not committed yet.
//!
//! Log lines carry only the mailbox id and the first 12 hex digits of the message's identity
//! hash ([`identity`]: the SHA-256 of the Message-ID, or a keyed hash of its identity headers):
//! never addresses, subjects, bodies or signature text.

pub mod blocklist;
mod domains;
pub mod error;
pub mod fault_injection;
pub mod fences;
pub mod filter;
pub mod group_commit;
pub mod handle;
pub mod identity;
pub mod message;
mod order;
pub mod rules;
pub mod stats;
mod worker;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::Store;

pub use crate::domain::SkipReason;
pub use blocklist::{BlockedBy, Blocklist, SharedBlocklist};
pub use error::PipelineError;
pub use fences::Fences;
pub use filter::{FilterConfig, MailboxRules};
pub use group_commit::GroupCommit;
pub use handle::{Ack, PipelineHandle, Processed};
pub use identity::IdentityKey;
pub use message::{InboundMessage, Payload, RawMessage, SourcePosition};
pub use stats::{PipelineStats, StatsSnapshot};

pub use crate::store::MailboxId;

/// Sizing of the pipeline (from the `[pipeline]` and `[filters]` configuration sections).
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Messages processed at the same time (extraction runs on the blocking pool).
    pub workers: usize,
    /// Places in the bounded queue between the sources and the workers.
    pub queue_capacity: usize,
    /// The filters applied before extraction.
    pub filters: FilterConfig,
    /// Authenticates each sender before the commit; `None` leaves every sender unknown (and so
    /// unable to change existing data).
    pub sender_auth: Option<Arc<crate::sender_auth::SenderAuthenticator>>,
    /// How many messages share one store transaction ([`group_commit`]).
    pub group_commit: GroupCommit,
    /// Keys the identity of messages without a Message-ID ([`identity`]); the daemon derives
    /// it from the master key, a pipeline built in code gets a random one.
    pub identity: IdentityKey,
}

/// Workers when `[pipeline] workers` is not set: extraction is CPU bound, and a small host
/// gives it two cores.
pub const DEFAULT_WORKERS: u32 = 2;
/// Queue places when `[pipeline] queue_capacity` is not set.
pub const DEFAULT_QUEUE_CAPACITY: u32 = 256;

/// The configuration's defaults (so a pipeline built in code sizes like one from a file).
impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            workers: DEFAULT_WORKERS as usize,
            queue_capacity: DEFAULT_QUEUE_CAPACITY as usize,
            filters: FilterConfig::default(),
            sender_auth: None,
            group_commit: GroupCommit::default(),
            identity: IdentityKey::random(),
        }
    }
}

/// A running pipeline: the handle for sources, the shared counters and the daemon-wide filters.
#[derive(Clone)]
pub struct Pipeline {
    handle: PipelineHandle,
    stats: Arc<PipelineStats>,
    filters: Arc<std::sync::RwLock<Arc<FilterConfig>>>,
    blocklist: SharedBlocklist,
}

impl Pipeline {
    /// Starts the dispatcher and its workers on `tracker`. They stop taking messages when
    /// `shutdown` is cancelled, finish what is queued and in flight, and then the tracked
    /// task ends (wait for it with `tracker.close(); tracker.wait()`).
    pub fn spawn(
        store: Store,
        config: PipelineConfig,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Pipeline {
        Self::spawn_fenced(store, config, Fences::unenforced(), tracker, shutdown)
    }

    /// Like [`Pipeline::spawn`], with every commit carrying the fencing token of the mailbox's
    /// lease from `fences` (several replicas).
    pub fn spawn_fenced(
        store: Store,
        config: PipelineConfig,
        fences: Fences,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Pipeline {
        let (sender, queue) = mpsc::channel(config.queue_capacity.max(1));
        let stats = Arc::new(PipelineStats::default());
        // Until the store's list is put in force (the supervisor does at start), the
        // configuration's domains are the blocklist.
        let blocklist =
            SharedBlocklist::new(Blocklist::of_domains(&config.filters.excluded_domains));
        let filters = Arc::new(std::sync::RwLock::new(Arc::new(config.filters)));
        let committer = group_commit::Committer::spawn(store.clone(), config.group_commit, tracker);
        let context = Arc::new(worker::WorkerContext {
            store,
            filters: Arc::clone(&filters),
            blocklist: blocklist.clone(),
            rules: Arc::new(rules::RulesCache::default()),
            stats: Arc::clone(&stats),
            fences,
            sender_auth: config.sender_auth,
            committer,
            identity: config.identity,
        });
        tracker.spawn(worker::dispatch(queue, context, config.workers, shutdown));
        Pipeline {
            handle: PipelineHandle::new(sender),
            stats,
            filters,
            blocklist,
        }
    }

    /// The entry point for sources (cheap to clone).
    pub fn handle(&self) -> PipelineHandle {
        self.handle.clone()
    }

    /// This process's counters.
    pub fn stats(&self) -> &Arc<PipelineStats> {
        &self.stats
    }

    /// Replaces the daemon-wide filters (a configuration reload); messages already being
    /// filtered finish with the old ones.
    pub fn set_filters(&self, filters: FilterConfig) {
        *self
            .filters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(filters);
    }

    /// The org-wide sender blocklist the workers apply (swap a new list in with
    /// [`SharedBlocklist::replace`]).
    pub fn blocklist(&self) -> &SharedBlocklist {
        &self.blocklist
    }

    /// The daemon-wide filters in force.
    pub fn filters(&self) -> Arc<FilterConfig> {
        Arc::clone(
            &self
                .filters
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}
