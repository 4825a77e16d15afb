//! The workers: take messages from the queue, filter, extract off the reactor, commit exactly
//! once, acknowledge the source, and drop (zeroize) the raw bytes.
//!
//! One dispatcher task reads the queue only when a worker slot is free, so a full set of busy
//! workers leaves messages in the bounded queue and the sources wait (backpressure end to end).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mailsig_parser::Extraction;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::{CommitMessage, CommitResult, Cursor, NewSuggestion, Outcome, Store};

use super::error::PipelineError;
use super::filter::{self, FilterConfig, MailboxRules};
use super::handle::{Job, Processed};
use super::identity::{FallbackIdentity, IdentityKey, log_id, message_id_hash};
use super::message::{InboundMessage, Payload, RawMessage};
use super::order::{FolderSequencer, Turn};
use super::rules::RulesCache;
use super::stats::PipelineStats;
use crate::domain::SkipReason;

/// How many dispatched messages between two clean-ups of the folder sequencer.
const PRUNE_EVERY: u64 = 1024;

/// What every worker shares.
pub(crate) struct WorkerContext {
    pub(crate) store: Store,
    /// Replaced as a whole by a configuration reload ([`super::Pipeline::set_filters`]).
    pub(crate) filters: Arc<std::sync::RwLock<Arc<FilterConfig>>>,
    /// The org-wide sender blocklist, swapped whole when it changes.
    pub(crate) blocklist: super::SharedBlocklist,
    pub(crate) rules: Arc<RulesCache>,
    pub(crate) stats: Arc<PipelineStats>,
    pub(crate) fences: super::Fences,
    /// `None`: every sender stays unknown ([`crate::domain::SenderAuth::UNCHECKED`]).
    pub(crate) sender_auth: Option<Arc<crate::sender_auth::SenderAuthenticator>>,
    /// Commits handed-over messages, several to a transaction.
    pub(crate) committer: super::group_commit::Committer,
    /// Keys the identity of messages without a Message-ID.
    pub(crate) identity: IdentityKey,
}

/// Runs the dispatcher until the queue is closed and drained, then waits for the workers.
///
/// On `shutdown` the queue is closed (sources get [`PipelineError::ShutDown`] from then on),
/// the messages already queued are still processed, and in-flight work finishes.
pub(crate) async fn dispatch(
    mut queue: mpsc::Receiver<Job>,
    context: Arc<WorkerContext>,
    workers: usize,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(workers.max(1)));
    let running = TaskTracker::new();
    let mut sequencer = FolderSequencer::default();
    let mut dispatched: u64 = 0;
    let mut closing = false;
    loop {
        // Shutdown closes the intake even while every worker is busy.
        let slot = tokio::select! {
            biased;
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                queue.close();
                tracing::debug!(queued = queue.len(), "pipeline intake closed");
                continue;
            }
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let job = tokio::select! {
            biased;
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                queue.close();
                tracing::debug!(queued = queue.len(), "pipeline intake closed");
                // Keep the slot: the queued messages are still processed.
                queue.recv().await
            }
            job = queue.recv() => job,
        };
        let Some(job) = job else { break };
        let turn = match &job.message.position {
            Cursor::Imap { .. } => sequencer.next(job.message.mailbox, &job.message.folder),
            _ => Turn::unordered(),
        };
        let context = Arc::clone(&context);
        running.spawn(async move {
            let Job { message, ack } = job;
            // The worker's slot is given back once the message is handed to the committer.
            let result = context.process(message, turn, slot).await;
            // The source may have stopped waiting; then nothing needs to be told.
            let _ = ack.send(result);
        });
        dispatched += 1;
        if dispatched.is_multiple_of(PRUNE_EVERY) {
            sequencer.prune();
        }
    }
    running.close();
    running.wait().await;
    tracing::debug!("pipeline workers stopped");
}

/// The decision made for one message before committing.
struct Decision {
    message_id_hash: String,
    outcome: Outcome,
}

impl WorkerContext {
    /// Processes one message end to end; the raw bytes are dropped (zeroized) before the commit.
    async fn process(
        &self,
        message: InboundMessage,
        mut turn: Turn,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Processed, PipelineError> {
        PipelineStats::bump(&self.stats.received);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let position = message.position.clone();
        let mut slot = Some(slot);
        let mut handed_over = false;
        let result = self
            .process_inner(message, &mut turn, &mut slot, &mut handed_over)
            .await;
        if result.is_err() && !handed_over {
            // Nothing was committed: no later message of the folder may move its cursor past it.
            // (A handed-over message's failure was recorded by the committer, in commit order.)
            turn.record(&position, false);
        }
        drop(slot);
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        match &result {
            Ok(Processed::Skipped(reason)) => self.stats.record_skip(*reason),
            Ok(Processed::Suggested) => PipelineStats::bump(&self.stats.suggestions_created),
            Ok(Processed::Merged) => PipelineStats::bump(&self.stats.suggestions_merged),
            Err(_) => {}
        }
        result
    }

    async fn process_inner(
        &self,
        message: InboundMessage,
        turn: &mut Turn,
        slot: &mut Option<tokio::sync::OwnedSemaphorePermit>,
        handed_over: &mut bool,
    ) -> Result<Processed, PipelineError> {
        let InboundMessage {
            mailbox,
            folder,
            position,
            size,
            payload,
        } = message;
        let rules = self.rules.get(&self.store, mailbox).await?;
        let fallback_position = match &position {
            Cursor::Imap { uidvalidity, uid } => Some((*uidvalidity, *uid)),
            _ => None,
        };
        // One message sees one version of the filters, even if a reload happens meanwhile.
        let filters = Arc::clone(
            &self
                .filters
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let blocklist = self.blocklist.current();
        let (decision, kept) = match payload {
            Payload::Raw(raw)
                if (raw.len() as u64) <= filters.max_message_bytes
                    && size <= filters.max_message_bytes =>
            {
                PipelineStats::add(&self.stats.bytes_parsed, raw.len() as u64);
                let folder_name = folder.clone();
                // Extraction is CPU-bound: keep it off the async reactor. The raw message moves
                // into the blocking task and is dropped (zeroized) there.
                let task_rules = Arc::clone(&rules);
                let key = self.identity.clone();
                match tokio::task::spawn_blocking(move || {
                    decide(
                        raw,
                        &filters,
                        &blocklist,
                        &task_rules,
                        &folder_name,
                        fallback_position,
                        &key,
                    )
                })
                .await
                {
                    Ok(decided) => decided,
                    // `decide` catches the engine's panics itself; this is a panic elsewhere in
                    // the task. Skipped and counted like one, rather than offered again and again.
                    Err(_) => {
                        tracing::error!(mailbox = %mailbox, "extraction task failed; message skipped");
                        let decision = Decision {
                            message_id_hash: unread_hash(
                                &folder,
                                fallback_position,
                                None,
                                &self.identity,
                            ),
                            outcome: Outcome::Skipped(SkipReason::EngineError),
                        };
                        (decision, None)
                    }
                }
            }
            Payload::Raw(raw) => {
                let hash = unread_hash(&folder, fallback_position, Some(&raw), &self.identity);
                drop(raw);
                let decision = Decision {
                    message_id_hash: hash,
                    outcome: Outcome::Skipped(SkipReason::TooLarge),
                };
                (decision, None)
            }
            Payload::TooLarge => {
                let decision = Decision {
                    message_id_hash: unread_hash(&folder, fallback_position, None, &self.identity),
                    outcome: Outcome::Skipped(SkipReason::TooLarge),
                };
                (decision, None)
            }
        };
        let mut decision = decision;
        tracing::trace!(
            mailbox = %mailbox,
            msg = %log_id(&decision.message_id_hash),
            suggestion = matches!(decision.outcome, Outcome::Suggestion(_)),
            "message extracted"
        );
        // Only a message that yields a suggestion is authenticated (the bytes were kept for it);
        // then the bytes are dropped (zeroized) before the commit.
        if let (Outcome::Suggestion(suggestion), Some(raw)) = (&mut decision.outcome, kept) {
            if let Some(authenticator) = &self.sender_auth {
                suggestion.auth = authenticator
                    .authenticate(raw.as_bytes(), &rules.trusted_authserv_ids)
                    .await;
                self.stats.record_auth(suggestion.auth.result);
            }
            drop(raw);
        }

        turn.wait_for_predecessor().await;
        // The committer decides at commit time whether the cursor may move to this position.
        let commit = CommitMessage {
            mailbox,
            cursor: position,
            folder,
            message_id_hash: decision.message_id_hash,
            outcome: decision.outcome,
            fencing: self.fences.token_for(mailbox),
        };
        let log_hash = log_id(&commit.message_id_hash).to_owned();
        let pending = self
            .committer
            .hand_over(commit, turn.folder_order())
            .await?;
        *handed_over = true;
        // The committer keeps hand-over order: the folder's next message may follow now, and
        // this worker may extract another message while the commit waits for company.
        turn.release();
        drop(slot.take());
        let result = pending.result().await;
        let committed = match result {
            Ok(committed) => committed,
            Err(error) => {
                PipelineStats::bump(&self.stats.commit_failures);
                tracing::warn!(mailbox = %mailbox, msg = %log_hash, error = %error, "pipeline commit failed");
                return Err(error);
            }
        };
        PipelineStats::bump(&self.stats.committed);
        let processed = match committed {
            CommitResult::Inserted { .. } => Processed::Suggested,
            CommitResult::Merged { .. }
            | CommitResult::Unchanged { .. }
            | CommitResult::ChangeProposed { .. } => Processed::Merged,
            CommitResult::Duplicate => Processed::Skipped(SkipReason::Duplicate),
            CommitResult::Skipped(reason) => Processed::Skipped(reason),
        };
        tracing::debug!(mailbox = %mailbox, msg = %log_hash, outcome = processed.as_str(), "message committed");
        Ok(processed)
    }
}

/// Filters and extracts one message (runs on a blocking thread). Consumes the raw bytes, and
/// hands them back only with a suggestion (its sender is authenticated next).
fn decide(
    raw: RawMessage,
    filters: &FilterConfig,
    blocklist: &super::Blocklist,
    rules: &MailboxRules,
    folder: &str,
    position: Option<(u32, u32)>,
    key: &IdentityKey,
) -> (Decision, Option<RawMessage>) {
    let bytes = raw.as_bytes();
    let Some(envelope) = engine(|| mailsig_parser::envelope(bytes)) else {
        // The headers could not be read: the position (or the bytes) is all there is.
        let decision = Decision {
            message_id_hash: unread_hash(folder, position, Some(&raw), key),
            outcome: Outcome::Skipped(SkipReason::EngineError),
        };
        return (decision, None);
    };
    // A panic while reading the identity headers falls back like the envelope above.
    let message_id_hash = engine(|| {
        message_id_hash(
            envelope.message_id.as_deref(),
            FallbackIdentity::Raw(bytes),
            key,
        )
    })
    .unwrap_or_else(|| unread_hash(folder, position, Some(&raw), key));
    let skip = |reason: SkipReason| {
        let decision = Decision {
            message_id_hash: message_id_hash.clone(),
            outcome: Outcome::Skipped(reason),
        };
        (decision, None)
    };
    if let Err(reason) = filter::check(&envelope, filters, blocklist, rules) {
        return skip(reason);
    }
    let Some(sender) = envelope.from_address.as_deref() else {
        return skip(SkipReason::ParseError);
    };
    let Some(extraction) = engine(|| {
        super::fault_injection::engine(bytes);
        mailsig_parser::extract(bytes)
    }) else {
        return skip(SkipReason::EngineError);
    };
    match suggestion_of(sender, &extraction) {
        Some(suggestion) => {
            let decision = Decision {
                message_id_hash,
                outcome: Outcome::Suggestion(suggestion),
            };
            (decision, Some(raw))
        }
        None => skip(SkipReason::NoSignature),
    }
}

/// Runs one step of the signature engine, turning a panic into `None`.
///
/// The engine must never panic, but one crafted message must not stop the daemon either: the
/// panic is caught here (the release profile unwinds), its payload dropped unread (it can quote
/// the message), and the message is skipped with [`SkipReason::EngineError`] and committed as
/// processed, so it is not fetched again. The panic hook (`telemetry::panic`) logs only where
/// it happened.
fn engine<T>(step: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).ok()
}

/// The suggestion for the sender, when the parser found their signature.
fn suggestion_of(sender: &str, extraction: &Extraction) -> Option<NewSuggestion> {
    if !extraction.has_signature {
        return None;
    }
    NewSuggestion::from_extraction(sender, extraction)
}

/// Identity of a message whose headers were not read (too large, or reading them failed): its
/// position in an ordered source, else (if fetched) its bytes, keyed.
fn unread_hash(
    folder: &str,
    position: Option<(u32, u32)>,
    raw: Option<&RawMessage>,
    key: &IdentityKey,
) -> String {
    let fallback = match (position, raw) {
        (Some((uidvalidity, uid)), _) => FallbackIdentity::Position {
            folder,
            uidvalidity,
            uid,
        },
        (None, Some(raw)) => FallbackIdentity::Bytes(raw.as_bytes()),
        (None, None) => FallbackIdentity::Unknown,
    };
    message_id_hash(None, fallback, key)
}

impl Processed {
    /// Stable name for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Processed::Suggested => "suggested",
            Processed::Merged => "merged",
            Processed::Skipped(reason) => reason.as_str(),
        }
    }
}
