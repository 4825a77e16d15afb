//! Group commit: the commits of several messages share one store transaction.
//!
//! A commit costs one durable write (one fsync on SQLite, one WAL flush on PostgreSQL), and
//! that write, not extraction, bounded the pipeline. Workers hand their finished messages to one
//! committer task and go back to extracting; the committer takes whatever has queued up (at most
//! [`GroupCommit::max_messages`], waiting at most [`GroupCommit::max_wait`] after the first for
//! more) and commits it with [`Store::commit_messages`]. A single message waits at most
//! `max_wait`; under a burst or a backfill, many messages share one write.
//!
//! What does not change:
//! - **Exactly once**: each message is committed by the same statements as before, inside the
//!   shared transaction, so its processed-message guard, suggestion, counters and cursor commit
//!   together or not at all.
//! - **Order within a folder**: a worker hands its message over only after the previous message
//!   of its folder was handed over, and the committer commits in hand-over order, so a folder's
//!   cursor still never passes an uncommitted message.
//! - **Failures stay per message**: when the shared transaction fails, nothing of it was written.
//!   A transient failure (the database restarting, a deadlock between replicas) retries the
//!   whole group with backoff; any other failure means one message cannot commit (a lost lease,
//!   a removed mailbox), and the committer commits the group's messages one by one, in order, so
//!   each worker learns its own message's result. A message whose commit fails keeps the later
//!   messages of its folder from moving the cursor (see `order`), decided here at commit time.
//! - **Fencing**: every message carries its lease token; a stale one fails its commit alone.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::error::PipelineError;
use super::order::FolderOrder;
use crate::store::{CommitMessage, CommitResult, Cursor, Store};

/// Attempts at committing one message when the store reports a transient failure.
const COMMIT_ATTEMPTS: u32 = 4;
/// First wait between commit attempts; doubled after each failure.
const COMMIT_BACKOFF: Duration = Duration::from_millis(100);

/// How many messages share a transaction, and how long the first of them may wait for company.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupCommit {
    /// At most this many messages in one transaction (1 commits each message alone).
    pub max_messages: usize,
    /// The longest a message waits for others before its transaction starts.
    pub max_wait: Duration,
}

/// `[pipeline] group_commit_max` when not set.
pub const DEFAULT_GROUP_COMMIT_MAX: u32 = 64;
/// `[pipeline] group_commit_wait_ms` when not set.
pub const DEFAULT_GROUP_COMMIT_WAIT_MS: u64 = 2;

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            max_messages: DEFAULT_GROUP_COMMIT_MAX as usize,
            max_wait: Duration::from_millis(DEFAULT_GROUP_COMMIT_WAIT_MS),
        }
    }
}

/// One message handed to the committer.
struct Request {
    /// The commit, with `cursor` set to the message's own position (the committer decides
    /// whether the cursor may move there).
    commit: CommitMessage,
    folder: FolderOrder,
    reply: oneshot::Sender<Result<CommitResult, PipelineError>>,
}

/// The workers' side: hands messages to the committer.
#[derive(Clone)]
pub(crate) struct Committer {
    requests: mpsc::Sender<Request>,
}

/// Resolves to the result of one handed-over message's commit.
pub(crate) struct PendingCommit(oneshot::Receiver<Result<CommitResult, PipelineError>>);

impl PendingCommit {
    pub(crate) async fn result(self) -> Result<CommitResult, PipelineError> {
        // The committer ends only when every worker has gone, so a lost reply means shutdown.
        self.0.await.unwrap_or(Err(PipelineError::ShutDown))
    }
}

impl Committer {
    /// Starts the committer task; it ends once every [`Committer`] clone is dropped and the
    /// messages handed over before are committed.
    pub(crate) fn spawn(
        store: Store,
        settings: GroupCommit,
        tracker: &tokio_util::task::TaskTracker,
    ) -> Committer {
        let max_messages = settings.max_messages.max(1);
        // Room for one full transaction waiting while another commits: a worker that finds it
        // full waits, which slows extraction down to the store's pace (backpressure).
        let (requests, queue) = mpsc::channel(max_messages * 2);
        tracker.spawn(run(store, queue, max_messages, settings.max_wait));
        Committer { requests }
    }

    /// Hands a message over; it is committed after every message handed over before it.
    pub(crate) async fn hand_over(
        &self,
        commit: CommitMessage,
        folder: FolderOrder,
    ) -> Result<PendingCommit, PipelineError> {
        let (reply, receiver) = oneshot::channel();
        self.requests
            .send(Request {
                commit,
                folder,
                reply,
            })
            .await
            .map_err(|_| PipelineError::ShutDown)?;
        Ok(PendingCommit(receiver))
    }
}

async fn run(
    store: Store,
    mut queue: mpsc::Receiver<Request>,
    max_messages: usize,
    max_wait: Duration,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + max_wait;
        while batch.len() < max_messages {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, queue.recv()).await {
                        Ok(Some(request)) => batch.push(request),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        commit_batch(&store, batch).await;
    }
}

/// Commits a batch in one transaction. A transient failure (the database restarting, a
/// deadlock between replicas) retries the whole batch with backoff, as one message's commit
/// would be retried; any other failure means one message cannot commit (a lost lease, a removed
/// mailbox), and the messages are committed one by one so only that one fails.
async fn commit_batch(store: &Store, batch: Vec<Request>) {
    let commits: Vec<CommitMessage> = batch
        .iter()
        .map(|request| with_cursor(request, &request.commit.cursor))
        .collect();
    let mut backoff = COMMIT_BACKOFF;
    let mut attempt = 1;
    let error = loop {
        match store.commit_messages(&commits).await {
            // One result per message, in order (`Store::commit_messages`).
            Ok(results) => {
                for (request, result) in batch.into_iter().zip(results) {
                    request.folder.record(&request.commit.cursor, true);
                    let _ = request.reply.send(Ok(result));
                }
                return;
            }
            Err(error) if error.is_transient() && attempt < COMMIT_ATTEMPTS => {
                tracing::debug!(messages = batch.len(), attempt, error = %error, "group commit retry");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(error) if error.is_transient() => break Some(error),
            Err(error) => {
                tracing::debug!(messages = batch.len(), error = %error, "group commit refused, committing one by one");
                break None;
            }
        }
    };
    if let Some(error) = error {
        // The store stayed unavailable: nothing was committed, every message fails (its source
        // offers it again), and each folder remembers its first failed message.
        let error = GroupCommitFailed(std::sync::Arc::new(error));
        for request in batch {
            request.folder.record(&request.commit.cursor, false);
            let _ = request.reply.send(Err(PipelineError::Commit {
                mailbox: request.commit.mailbox,
                transient: true,
                source: Box::new(error.clone()),
            }));
        }
        return;
    }
    for request in batch {
        let position = request.commit.cursor.clone();
        let commit = with_cursor(&request, &position);
        let result = commit_with_retry(store, commit).await;
        request.folder.record(&position, result.is_ok());
        let _ = request.reply.send(result);
    }
}

/// The store error that failed a whole group, shared by each of its messages' errors.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
struct GroupCommitFailed(std::sync::Arc<crate::store::Error>);

/// The request's commit with the cursor its folder allows for `position` now.
fn with_cursor(request: &Request, position: &Cursor) -> CommitMessage {
    CommitMessage {
        cursor: request.folder.cursor_for(position),
        ..request.commit.clone()
    }
}

async fn commit_with_retry(
    store: &Store,
    commit: CommitMessage,
) -> Result<CommitResult, PipelineError> {
    let mailbox = commit.mailbox;
    let mut backoff = COMMIT_BACKOFF;
    let mut attempt = 1;
    loop {
        match store.commit_message(commit.clone()).await {
            Ok(result) => return Ok(result),
            Err(error) if error.is_transient() && attempt < COMMIT_ATTEMPTS => {
                tracing::debug!(mailbox = %mailbox, attempt, error = %error, "pipeline commit retry");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(error) if error.is_not_found() => {
                return Err(PipelineError::UnknownMailbox { mailbox });
            }
            Err(error) if error.is_fenced() => {
                // Another replica owns the mailbox now; it fetches the message again.
                tracing::warn!(mailbox = %mailbox, "commit refused: stale fencing token, the mailbox's lease is lost");
                return Err(PipelineError::Commit {
                    mailbox,
                    transient: false,
                    source: Box::new(error),
                });
            }
            Err(error) => {
                return Err(PipelineError::Commit {
                    mailbox,
                    transient: error.is_transient(),
                    source: Box::new(error),
                });
            }
        }
    }
}
