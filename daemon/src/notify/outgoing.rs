//! A formatted notification ready for submission, whichever transport takes it (SMTP or
//! Graph `sendMail`): its own module so that both transports use it without using each other.

use lettre::address::Envelope;

/// A formatted message ready for submission: envelope plus RFC 5322 bytes.
///
/// No `Debug`: the bytes are a notification for a user, and have no business in a log line.
pub struct OutgoingMail {
    pub(crate) envelope: Envelope,
    pub(crate) bytes: Vec<u8>,
    /// The Message-ID (with angle brackets), which is safe to log.
    pub message_id: String,
}

impl OutgoingMail {
    /// The formatted message, e.g. for a test that wants to inspect headers.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}
