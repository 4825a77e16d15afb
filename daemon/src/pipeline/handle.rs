//! The sources' side of the pipeline: a cloneable [`PipelineHandle`] that pushes messages into
//! the bounded queue, and an [`Ack`] through which a source learns that its message was
//! committed, so it advances its own position only after the commit (exactly once).
//!
//! Backpressure: [`PipelineHandle::submit`] waits while the queue is full, so a source never
//! fetches faster than the workers commit.

use tokio::sync::{mpsc, oneshot};

use super::error::PipelineError;
use super::message::InboundMessage;
use crate::domain::SkipReason;

/// What became of a message (reported to the source after the commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Processed {
    /// A new suggestion was created in the mailbox's target list.
    Suggested,
    /// An existing suggestion (same email, or same name and company) was updated.
    Merged,
    /// No suggestion; the skip was committed and counted.
    Skipped(SkipReason),
}

/// One queued unit of work: the message and where to report its outcome.
pub(crate) struct Job {
    pub(crate) message: InboundMessage,
    pub(crate) ack: oneshot::Sender<Result<Processed, PipelineError>>,
}

/// Resolves once the message was committed (or failed to be).
#[must_use = "a source must wait for the ack before advancing its position"]
pub struct Ack {
    receiver: oneshot::Receiver<Result<Processed, PipelineError>>,
}

impl Ack {
    /// Waits for the commit. An error means nothing was committed: the source must not advance
    /// and should offer the message again later (the store's guard makes that safe).
    pub async fn committed(self) -> Result<Processed, PipelineError> {
        match self.receiver.await {
            Ok(result) => result,
            // The worker was dropped without answering: the pipeline stopped mid-way.
            Err(_) => Err(PipelineError::ShutDown),
        }
    }
}

/// Cloneable entry point for sources.
#[derive(Clone, Debug)]
pub struct PipelineHandle {
    sender: mpsc::Sender<Job>,
}

impl PipelineHandle {
    pub(crate) fn new(sender: mpsc::Sender<Job>) -> Self {
        Self { sender }
    }

    /// Queues a message, waiting while the queue is full (backpressure). Returns the [`Ack`]
    /// to await, so a source can keep several messages in flight and await their acks in order.
    pub async fn submit(&self, message: InboundMessage) -> Result<Ack, PipelineError> {
        let (ack, receiver) = oneshot::channel();
        self.sender
            .send(Job { message, ack })
            .await
            .map_err(|_| PipelineError::ShutDown)?;
        Ok(Ack { receiver })
    }

    /// Queues a message without waiting; fails with [`PipelineError::QueueFull`] when the queue
    /// is full (for callers that must answer quickly, like a webhook).
    pub fn try_submit(&self, message: InboundMessage) -> Result<Ack, PipelineError> {
        let (ack, receiver) = oneshot::channel();
        self.sender
            .try_send(Job { message, ack })
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => PipelineError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => PipelineError::ShutDown,
            })?;
        Ok(Ack { receiver })
    }

    /// Queues a message and waits for its commit.
    pub async fn process(&self, message: InboundMessage) -> Result<Processed, PipelineError> {
        self.submit(message).await?.committed().await
    }

    /// Free places in the queue right now.
    pub fn queue_capacity_left(&self) -> usize {
        self.sender.capacity()
    }

    /// Whether the pipeline stopped taking messages.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}
