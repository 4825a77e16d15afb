//! What a source hands to the pipeline: one message's raw bytes, where it came from, and the
//! position the source may advance to once the message is committed.
//!
//! The raw bytes are the only place in the daemon where mail content lives. They are kept in a
//! [`RawMessage`] that cannot be printed, serialised or copied, so content cannot reach a log line
//! or the database by accident; it is zeroized when dropped, right after extraction.

use zeroize::Zeroizing;

/// The raw RFC 5322 bytes of one message, held in memory only.
///
/// Privacy by construction: this type deliberately implements neither `Debug`, `Display`,
/// `Serialize` nor `Clone`, so the content can be neither logged, stored nor duplicated by
/// accident. The buffer is zeroized when the value is dropped.
///
/// ```compile_fail
/// fn printable<T: std::fmt::Debug>() {}
/// printable::<mailsig_daemon::pipeline::RawMessage>();
/// ```
/// ```compile_fail
/// fn copyable<T: Clone>() {}
/// copyable::<mailsig_daemon::pipeline::RawMessage>();
/// ```
/// ```compile_fail
/// fn storable<T: serde::Serialize>() {}
/// storable::<mailsig_daemon::pipeline::RawMessage>();
/// ```
/// ```compile_fail
/// fn displayable<T: std::fmt::Display>() {}
/// displayable::<mailsig_daemon::pipeline::RawMessage>();
/// ```
pub struct RawMessage {
    bytes: Zeroizing<Vec<u8>>,
}

impl RawMessage {
    /// Takes ownership of the fetched bytes (no copy is made).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// The raw bytes, for the parser. Do not copy them anywhere that outlives this value.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the message has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl From<Vec<u8>> for RawMessage {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

/// Where a message sits in its source, i.e. the checkpoint the source resumes from: the
/// store's [`Cursor`](crate::store::Cursor) (`Imap { uidvalidity, uid }`, `Delta { link }` or
/// `None`). The store commits it in the same transaction as the message's outcome, so a restart
/// neither reprocesses nor misses mail.
pub type SourcePosition = crate::store::Cursor;

/// What the source hands over: the bytes, or the fact that it did not fetch them.
pub enum Payload {
    /// The message was fetched into memory.
    Raw(RawMessage),
    /// The source saw from the announced size (e.g. IMAP `RFC822.SIZE`) that the message is
    /// over the limit and did not fetch it. It is still committed (as skipped), so the
    /// position advances and the skip is counted.
    TooLarge,
}

/// One message pushed by a source into the pipeline's bounded queue.
pub struct InboundMessage {
    /// The linked mailbox the message belongs to.
    pub mailbox: crate::pipeline::MailboxId,
    /// The folder (IMAP) or mail folder id (Graph) it was found in.
    pub folder: String,
    /// The checkpoint to commit with the message.
    pub position: SourcePosition,
    /// The size announced by the server (`RFC822.SIZE`), before fetching.
    pub size: u64,
    /// The bytes, or why there are none.
    pub payload: Payload,
}
