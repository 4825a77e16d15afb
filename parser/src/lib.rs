//! The signature engine: raw email bytes in, the sender's contact suggestion out.
//!
//! Pure: no I/O, no async runtime, no logging. Extraction never fails on content;
//! malformed input yields "no signature" plus diagnostics. Work per message is bounded
//! (body size, line count and line length caps), so hostile input stays fast.
//!
//! # Pipeline
//!
//! 1. `mime`: mail-parser decodes the message (base64 attachment bodies and the unread tail
//!    of a long plain body are cut first: `binary_parts`, `long_body`); the HTML alternative
//!    is chosen when it carries link targets or images, and `text/vcard` attachments are
//!    collected.
//! 2. `html`: html5ever's tokenizer (no tree builder, so linear) turns HTML into lines, keeping
//!    link targets, icon names and alt texts; quoted history is cut before tokenizing.
//! 3. `segment`: quoted and forwarded history, interleaved quotes, device footers, disclaimers
//!    and registration blocks are removed, leaving the sender's own top message.
//! 4. `signature`: the block is located by a client signature container, the "-- " delimiter
//!    (a rule that opens a disclaimer is not one), a valediction (24 languages, also at the end
//!    of an unwrapped paragraph), the sender's name, or a trailing block of short lines; it
//!    ends at a disclaimer, a postscript or prose.
//! 5. `fields`: name, title, company, emails, phones (rlibphonenumber, typed by label, icon or
//!    number type), websites, postal address and social profiles, each with a confidence, the
//!    rule that found it and the signature line it came from.
//! 6. A contact is only suggested when the block carries a name and contact evidence (a title
//!    or department next to the name and an internal extension count too). The name must be
//!    the sender's — matched by words, nicknames, prefixes and transliteration
//!    (`fields::name_match`) — unless it heads a block with its own title or company and
//!    number, in a message with no missed quoted header above it: such a name is kept with
//!    confidence 0.5 (a shared mailbox sending a person's message). Other names are dropped, so
//!    nobody else's details are attributed to the sender.
//!
//! Language data (valedictions, labels, title words, legal forms …) lives in `tables/` as
//! plain constants.
//!
//! ```
//! let raw = b"From: Ann Lee <ann.lee@acme-freight.com>\n\
//! Subject: rates\n\
//! \n\
//! The new rates are attached.\n\
//! \n\
//! Best regards,\n\
//! Ann Lee\n\
//! Pricing Manager\n\
//! Acme Freight Inc.\n\
//! Cell: (510) 555-0178\n";
//! let x = mailsig_parser::extract(raw);
//! assert!(x.has_signature);
//! let contact = x.contact.expect("a contact");
//! assert_eq!(contact.name.map(|n| n.value).as_deref(), Some("Ann Lee"));
//! assert_eq!(contact.company.map(|c| c.value).as_deref(), Some("Acme Freight Inc."));
//! assert_eq!(contact.phones[0].value.e164, "+15105550178");
//! assert_eq!(contact.phones[0].value.kind, mailsig_parser::PhoneKind::Mobile);
//! ```

#![forbid(unsafe_code)]

use serde::Serialize;

mod binary_parts;
mod calibration;
mod envelope;
mod extract;
mod fields;
mod html;
mod line;
mod long_body;
mod mime;
mod prediction;
mod segment;
mod signature;
#[doc(hidden)]
pub mod stages;
mod tables;
mod vcard;

pub use prediction::prediction_json;

/// One extracted value with how sure we are and which rule found it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field<T> {
    pub value: T,
    /// In [0, 1].
    pub confidence: f32,
    /// Name of the rule that produced the value.
    pub rule: &'static str,
    /// Index of the signature line the value came from, if any.
    pub line: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneKind {
    Work,
    Mobile,
    Fax,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Phone {
    #[serde(rename = "type")]
    pub kind: PhoneKind,
    pub e164: String,
}

/// The contact suggestion for the sender of one message.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Contact {
    pub name: Option<Field<String>>,
    pub title: Option<Field<String>>,
    pub company: Option<Field<String>>,
    pub emails: Vec<Field<String>>,
    pub phones: Vec<Field<Phone>>,
    pub websites: Vec<Field<String>>,
    pub address: Option<Field<String>>,
    pub social: Vec<Field<String>>,
}

/// Header facts the daemon's filters need; never the subject or body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Lower-cased From address.
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub message_id: Option<String>,
    /// Value of `Auto-Submitted`, lower-cased.
    pub auto_submitted: Option<String>,
    /// Value of `Precedence`, lower-cased.
    pub precedence: Option<String>,
    pub has_list_id: bool,
    pub has_list_unsubscribe: bool,
    /// Common auto-reply markers (`X-Autoreply`, `X-Autorespond`, `X-MS-Exchange-Generated-Message-Source`…).
    pub auto_reply_marker: bool,
    /// How many addresses the To and Cc headers name (counted, never kept): an announcement to
    /// a crowd reads differently from a note to one person.
    pub recipients: usize,
    /// How many of them are in another domain than the From address: none means mail among
    /// colleagues of one organisation.
    pub recipients_elsewhere: usize,
}

/// A non-fatal observation made while extracting (never message content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
}

/// Result of [`extract`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Extraction {
    pub has_signature: bool,
    pub contact: Option<Contact>,
    /// Overall confidence that the contact belongs to the sender, in [0, 1].
    pub confidence: f32,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads the header facts of a raw message (never the subject or body).
pub fn envelope(raw: &[u8]) -> Envelope {
    envelope::envelope(raw)
}

/// Visits the headers that identify a message without a Message-ID (date, addresses, subject,
/// threading), each as (lower-case name, whitespace-folded value); returns how many there were.
pub fn identity_headers(raw: &[u8], visit: impl FnMut(&str, &str)) -> usize {
    envelope::identity_headers(raw, visit)
}

/// Finds the sender's own signature in a raw message and turns it into a contact.
pub fn extract(raw: &[u8]) -> Extraction {
    extract::run(raw)
}

/// Development aid: the top message's lines with the signature block marked. This is message
/// content; never log it.
#[doc(hidden)]
pub fn debug_trace(raw: &[u8]) -> Vec<String> {
    extract::trace(raw)
}
