//! What a source hands to the pipeline: one message's raw bytes, where it came from, and the
//! position the source may advance to once the message is committed.
//!
//! The raw bytes are the only place in the daemon where mail content lives. They are kept in a
//! [`RawMessage`] that cannot be printed, serialised or copied, so content cannot reach a log line
//! or the database by accident; it is zeroized when dropped, right after extraction.

use sha2::{Digest, Sha256};
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

/// Full SHA-256 hex of a Message-ID; the value the store deduplicates on.
///
/// Messages without a Message-ID are identified by their source position when it is ordered,
/// else by a hash of their bytes, so that a redelivery of the same bytes is still caught.
pub fn message_id_hash(message_id: Option<&str>, fallback: FallbackIdentity<'_>) -> String {
    let mut hasher = Sha256::new();
    match message_id.map(str::trim).filter(|id| !id.is_empty()) {
        Some(id) => {
            hasher.update(b"mid:");
            hasher.update(id.trim_matches(|c| c == '<' || c == '>').as_bytes());
        }
        None => match fallback {
            FallbackIdentity::Position {
                folder,
                uidvalidity,
                uid,
            } => {
                hasher.update(b"pos:");
                hasher.update(folder.as_bytes());
                hasher.update(b"\0");
                hasher.update(uidvalidity.to_be_bytes());
                hasher.update(uid.to_be_bytes());
            }
            FallbackIdentity::Content(bytes) => {
                hasher.update(b"raw:");
                hasher.update(bytes);
            }
        },
    }
    hex::encode(hasher.finalize())
}

/// What identifies a message that has no Message-ID header (see [`message_id_hash`]).
pub enum FallbackIdentity<'a> {
    Position {
        folder: &'a str,
        uidvalidity: u32,
        uid: u32,
    },
    Content(&'a [u8]),
}

/// The form of a message-id hash that appears in log lines: its first 12 hex digits.
pub fn log_id(message_id_hash: &str) -> &str {
    message_id_hash.get(..12).unwrap_or(message_id_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_hash_ignores_angle_brackets_and_whitespace() {
        let a = message_id_hash(Some("<abc@example.com>"), FallbackIdentity::Content(b"x"));
        let b = message_id_hash(Some(" abc@example.com "), FallbackIdentity::Content(b"y"));
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(log_id(&a).len(), 12);
    }

    #[test]
    fn missing_message_id_falls_back_to_position_or_content() {
        let p1 = message_id_hash(
            None,
            FallbackIdentity::Position {
                folder: "INBOX",
                uidvalidity: 1,
                uid: 7,
            },
        );
        let p2 = message_id_hash(
            None,
            FallbackIdentity::Position {
                folder: "INBOX",
                uidvalidity: 1,
                uid: 8,
            },
        );
        let c1 = message_id_hash(Some("   "), FallbackIdentity::Content(b"hello"));
        let c2 = message_id_hash(None, FallbackIdentity::Content(b"hello"));
        assert_ne!(p1, p2);
        assert_eq!(c1, c2);
    }
}
