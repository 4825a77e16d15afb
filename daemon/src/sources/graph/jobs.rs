//! The workers behind the webhook: claim due jobs from `graph_jobs`, do them, mark them.
//!
//! - `message`: `GET /me/messages/{id}/$value` into memory, then the same pipeline as IMAP
//!   (exactly once through the store's Message-ID dedupe); done after the pipeline's commit.
//! - `missed`: a delta round of the folder.
//! - `reauthorize`: renew the subscription now.
//! - `removed`: create the subscription again, then a delta round.
//!
//! A claim is a lease: a worker that dies leaves its jobs due again when the lease ends. A
//! transient failure (throttling, network, a busy store) retries with backoff; a message Graph
//! no longer has (404) is finished as `failed`; `invalid_grant` marks the mailbox
//! `needs_reconsent` and leaves its jobs queued for after the re-consent.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::client::Fetched;
use super::error::GraphError;
use super::group_commit::GroupCommit;
use super::source::GraphSource;
use crate::pipeline::{InboundMessage, Payload, PipelineHandle, RawMessage};
use crate::store::{Cursor, GraphJob, GraphJobKind, GraphJobOutcome, Store};
use crate::telemetry::metrics::{SourceKind, metrics};

/// How long a claimed job is ours before another worker may take it.
const CLAIM_LEASE: Duration = Duration::from_secs(5 * 60);
/// Longest wait between two retries of one job.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10 * 60);
/// Job outcomes recorded in one transaction at most.
const MAX_OUTCOMES_PER_COMMIT: usize = 256;

/// Knobs of the job runner.
#[derive(Clone, Debug)]
pub struct JobOptions {
    /// Names this runner in `claimed_by`.
    pub worker_id: String,
    /// Jobs done at the same time (Graph requests are further limited per mailbox).
    pub workers: usize,
    /// Poll for jobs queued by other processes this often (the webhook of this process wakes
    /// the runner at once).
    pub poll_interval: Duration,
    /// Messages larger than this are not handed over (counted as too large).
    pub max_message_bytes: u64,
    /// First retry wait (doubles with each attempt).
    pub retry_backoff: Duration,
    /// Claim only jobs of mailboxes whose lease this replica id holds (`None`: all).
    pub lease_owner: Option<String>,
}

pub(crate) struct JobRunner {
    pub store: Store,
    pub source: GraphSource,
    pub pipeline: PipelineHandle,
    pub wake: Arc<Notify>,
    pub options: JobOptions,
}

impl JobRunner {
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.options.workers.max(1)));
        let running = TaskTracker::new();
        // Workers that finish together record their outcomes in one transaction, and their
        // slots come free together, so the next claim takes several jobs at once as well.
        let outcomes = GroupCommit::spawn(MAX_OUTCOMES_PER_COMMIT, {
            let store = self.store.clone();
            move |outcomes: Vec<(i64, GraphJobOutcome)>| {
                let store = store.clone();
                async move {
                    match store.record_graph_job_outcomes(&outcomes).await {
                        Ok(()) => true,
                        Err(error) => {
                            // The claim lease runs out and the jobs are done again; the pipeline dedupes.
                            tracing::warn!(jobs = outcomes.len(), error = %error, "graph jobs: could not record the outcomes");
                            false
                        }
                    }
                }
            }
        });
        let this = Arc::new(self);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
            let jobs = if free == 0 {
                Vec::new()
            } else {
                match this
                    .store
                    .claim_graph_jobs(
                        &this.options.worker_id,
                        this.options.lease_owner.as_deref(),
                        free,
                        CLAIM_LEASE,
                    )
                    .await
                {
                    Ok(jobs) => jobs,
                    Err(error) => {
                        tracing::warn!(error = %error, "graph jobs: claim failed");
                        Vec::new()
                    }
                }
            };
            let claimed = jobs.len();
            for job in jobs {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let (this, outcomes) = (Arc::clone(&this), outcomes.clone());
                running.spawn(async move {
                    let id = job.id;
                    let outcome = this.process_isolated(job).await;
                    outcomes.submit((id, outcome)).await;
                    drop(permit);
                });
            }
            if claimed == 0 || slots.available_permits() == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = this.wake.notified() => {}
                    () = tokio::time::sleep(this.options.poll_interval) => {}
                    // A slot freed up while jobs may still be waiting.
                    permit = Arc::clone(&slots).acquire_owned(), if claimed > 0 => drop(permit),
                }
            }
        }
        running.close();
        running.wait().await;
    }

    /// [`Self::process`], with a panic turned into a retry later: a bug met on one job must
    /// neither lose the job nor stop the worker. The panic hook has logged where it happened
    /// (never the panic's message); the retry backs off like a transient failure.
    async fn process_isolated(&self, job: GraphJob) -> GraphJobOutcome {
        use futures::FutureExt;
        let (mailbox, id, attempts) = (job.mailbox, job.id, job.attempts);
        match std::panic::AssertUnwindSafe(self.process(job))
            .catch_unwind()
            .await
        {
            Ok(outcome) => outcome,
            Err(_payload) => {
                tracing::error!(mailbox = %mailbox, job = id, "graph job panicked; retried later");
                let wait = self.backoff(attempts.saturating_add(1));
                GraphJobOutcome::Retry {
                    next_at: self
                        .store
                        .now_ms()
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
                    error: "panic".to_owned(),
                }
            }
        }
    }

    /// Does the job and says how it ended (recorded by the caller).
    async fn process(&self, job: GraphJob) -> GraphJobOutcome {
        crate::pipeline::fault_injection::graph_job();
        let result = match self.source.runtime(job.mailbox) {
            Some(runtime) => match job.kind {
                GraphJobKind::Message => self.fetch_and_hand_over(&runtime, &job).await,
                GraphJobKind::Missed => runtime.resync(&job.folder).await.map(|_| ()),
                GraphJobKind::Reauthorize => runtime.reauthorize(&job.item).await,
                GraphJobKind::Removed => runtime.recreate(&job.folder, &job.item).await,
            },
            // Not (yet) running here, e.g. right after linking: try again shortly.
            None => Err(GraphError::Network {
                op: "job",
                reason: "mailbox not running".into(),
            }),
        };
        match result {
            Ok(()) => GraphJobOutcome::Done,
            Err(error) if error.needs_reconsent() => {
                if let Some(runtime) = self.source.runtime(job.mailbox) {
                    runtime.mark_needs_reconsent().await;
                }
                GraphJobOutcome::Retry {
                    next_at: self.store.now_ms(),
                    error: error.class(),
                }
            }
            Err(error) if error.is_not_found() => {
                tracing::debug!(mailbox = %job.mailbox, job = job.id, "graph job target gone");
                GraphJobOutcome::Failed {
                    error: error.class(),
                }
            }
            Err(error)
                if error.is_transient()
                    || matches!(error, GraphError::Protocol { .. }) && job.attempts < 5 =>
            {
                let wait = error
                    .retry_after()
                    .unwrap_or_else(|| self.backoff(job.attempts));
                tracing::debug!(mailbox = %job.mailbox, job = job.id, error = %error, "graph job retried later");
                let next_at = self
                    .store
                    .now_ms()
                    .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                GraphJobOutcome::Retry {
                    next_at,
                    error: error.class(),
                }
            }
            Err(error) => {
                tracing::warn!(mailbox = %job.mailbox, job = job.id, error = %error, "graph job failed");
                GraphJobOutcome::Failed {
                    error: error.class(),
                }
            }
        }
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
        self.options
            .retry_backoff
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(MAX_RETRY_WAIT)
    }

    async fn fetch_and_hand_over(
        &self,
        runtime: &super::runtime::MailboxRuntime,
        job: &GraphJob,
    ) -> Result<(), GraphError> {
        let fetched = runtime
            .api()
            .message_mime(&job.item, self.options.max_message_bytes)
            .await?;
        let (size, payload) = match fetched {
            Fetched::Raw(bytes) => (bytes.len() as u64, Payload::Raw(RawMessage::new(bytes))),
            Fetched::TooLarge(size) => (size, Payload::TooLarge),
        };
        let message = InboundMessage {
            mailbox: job.mailbox,
            folder: job.folder.clone(),
            position: Cursor::None,
            size,
            payload,
        };
        let ack = self
            .pipeline
            .submit(message)
            .await
            .map_err(|e| GraphError::Network {
                op: "hand over",
                reason: e.to_string(),
            })?;
        ack.committed().await.map_err(|e| GraphError::Network {
            op: "commit",
            reason: e.to_string(),
        })?;
        // Lag from when Graph told us (notification or delta round queued the job): Graph's
        // receivedDateTime would cost one more request per message.
        let queued_for = self.store.now_ms().saturating_sub(job.created_at);
        metrics()
            .source_lag(SourceKind::Graph)
            .observe(Duration::from_millis(
                u64::try_from(queued_for).unwrap_or(0),
            ));
        Ok(())
    }
}
