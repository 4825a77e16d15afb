//! The pipeline: turns raw messages pushed by the sources into committed suggestions.
//!
//! Data flow: a source fetches a message into a [`RawMessage`] and pushes an [`InboundMessage`]
//! through a [`PipelineHandle`] into one bounded queue (it waits while the queue is full:
//! backpressure). Workers take messages from the queue, read the header facts
//! ([`mailsig_parser::envelope`]), apply the [`filter`]s, run [`mailsig_parser::extract`] off
//! the async reactor, and commit the outcome (suggestion or skip), the source position and the
//! counters in one store transaction, so each message is processed exactly once. Then the
//! source's [`Ack`] resolves and the raw bytes are zeroized and dropped.
//!
//! Log lines carry only the mailbox id and the first 12 hex digits of the SHA-256 of the
//! Message-ID: never addresses, subjects, bodies or signature text.

pub mod error;
pub mod filter;
pub mod handle;
pub mod message;
pub mod skip;
pub mod stats;

pub use error::PipelineError;
pub use filter::{FilterConfig, MailboxRules};
pub use handle::{Ack, PipelineHandle, Processed};
pub use message::{InboundMessage, Payload, RawMessage, SourcePosition};
pub use skip::SkipReason;
pub use stats::{PipelineStats, StatsSnapshot};

/// Identifies a linked mailbox.
///
/// Interim definition until the store publishes its id types; it will become a re-export of
/// the store's `MailboxId` with the same shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub i64);

impl std::fmt::Display for MailboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
