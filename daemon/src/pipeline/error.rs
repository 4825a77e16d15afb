//! The pipeline's error type. Sources decide on [`PipelineError::is_transient`] whether to
//! offer the message again (after a reconnect or backoff) or give up.

use crate::pipeline::MailboxId;

/// The underlying store error, kept as a source for the error chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a message was not committed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The pipeline is shutting down or stopped; nothing was committed.
    #[error("pipeline is shut down")]
    ShutDown,
    /// The queue is full (only from `try_submit`).
    #[error("pipeline queue is full")]
    QueueFull,
    /// The mailbox is unknown or removed; its messages are dropped uncommitted.
    #[error("mailbox {mailbox} is not active")]
    UnknownMailbox { mailbox: MailboxId },
    /// Committing to the store failed (after retries when the failure was transient).
    #[error("commit message of mailbox {mailbox}")]
    Commit {
        mailbox: MailboxId,
        /// Whether the store said a later attempt may succeed.
        transient: bool,
        #[source]
        source: BoxError,
    },
    /// Loading the mailbox's filter settings failed.
    #[error("load settings of mailbox {mailbox}")]
    Settings {
        mailbox: MailboxId,
        transient: bool,
        #[source]
        source: BoxError,
    },
}

impl PipelineError {
    /// Whether offering the same message again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::ShutDown | PipelineError::QueueFull => true,
            PipelineError::Commit { transient, .. } | PipelineError::Settings { transient, .. } => {
                *transient
            }
            PipelineError::UnknownMailbox { .. } => false,
        }
    }
}
