//! MIME: from raw bytes to the sender and the lines of the body worth searching.
//!
//! Wraps mail-parser 0.11 (transfer encodings, charsets, encoded words). Chooses the HTML
//! alternative when it carries evidence the plain part cannot (link targets, images) or when
//! there is no plain part; collects `text/vcard` attachments.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind};
use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};
use once_cell::sync::Lazy;

use crate::line::Line;
use crate::{Diagnostic, html};

/// mail-parser configured to parse only the headers the engine reads: the MIME headers that
/// choose and decode the body, `From` and `Message-ID`. Every other header (`Received`,
/// `Date`, `To` …) is skipped unparsed; its raw value stays reachable through
/// `Message::headers_raw`, which is all the envelope needs of it. Built once: the parser
/// holds a map of header parsers.
pub(crate) static PARSER: Lazy<MessageParser> = Lazy::new(|| {
    MessageParser::new()
        .header_content_type(HeaderName::ContentType)
        .header_content_type(HeaderName::ContentDisposition)
        .header_text(HeaderName::ContentTransferEncoding)
        .header_address(HeaderName::From)
        .header_id(HeaderName::MessageId)
        .default_header_ignore()
});

/// Whether an HTML body carries evidence the plain alternative cannot (link targets, images),
/// searched ASCII-case-insensitively without copying the body.
static HTML_EVIDENCE: Lazy<Option<AhoCorasick>> = Lazy::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .kind(Some(AhoCorasickKind::DFA))
        .build(["href", "<img"])
        .ok()
});

/// Largest body (bytes) examined; the rest is ignored so the work per message stays bounded.
const MAX_BODY_BYTES: usize = 512 * 1024;
/// Largest HTML body scanned for history markers.
const MAX_HTML_BYTES: usize = 4 * 1024 * 1024;
/// Most plain-text lines examined.
const MAX_LINES: usize = 5_000;

/// What the later stages need from one message.
pub(crate) struct Body {
    pub envelope: crate::Envelope,
    /// Display name from `From` (or `X-From`).
    pub from_name: Option<String>,
    pub lines: Vec<Line>,
    pub is_html: bool,
    /// Text of `text/vcard` attachments.
    pub vcards: Vec<String>,
}

/// Parses the message; `None` when mail-parser cannot make a message of it.
pub(crate) fn read(raw: &[u8], diagnostics: &mut Vec<Diagnostic>) -> Option<Body> {
    // Attachment bodies and the tail of a long plain body, which the engine never reads, are
    // cut before mail-parser would decode them.
    let stripped = crate::binary_parts::without_binary_bodies(raw);
    let input = match &stripped {
        Some(copy) => copy.as_slice(),
        None => crate::long_body::cut(raw).unwrap_or(raw),
    };
    let message = PARSER.parse(input)?;
    let envelope = crate::envelope::from_message(&message);
    let from_name = envelope.from_name.clone().or_else(|| x_from_name(&message));
    let (lines, is_html) = body_lines(&message, diagnostics);
    Some(Body {
        envelope,
        from_name,
        lines,
        is_html,
        vcards: vcards(&message),
    })
}

/// Exports of old mail stores keep the display name in `X-From` when `From` has none.
fn x_from_name(message: &Message<'_>) -> Option<String> {
    let raw = message
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-from"))?
        .1;
    let name = raw.split('<').next()?.trim().trim_matches('"').trim();
    (!name.is_empty() && !name.contains('@')).then(|| name.to_string())
}

fn bounded(text: &str) -> &str {
    if text.len() <= MAX_BODY_BYTES {
        return text;
    }
    let mut end = MAX_BODY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// HTML is bounded far less: `html::to_lines` cuts it at the first history marker with one
/// linear scan and tokenizes only the tail of the sender's part.
fn bounded_html(html: &str) -> &str {
    let mut end = html.len().min(MAX_HTML_BYTES);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    &html[..end]
}

fn body_lines(message: &Message<'_>, diagnostics: &mut Vec<Diagnostic>) -> (Vec<Line>, bool) {
    let html = message.html_bodies().find_map(|p| match &p.body {
        PartType::Html(h) => Some(h.as_ref()),
        _ => None,
    });
    let text = message.text_bodies().find_map(|p| match &p.body {
        PartType::Text(t) => Some(t.as_ref()),
        _ => None,
    });
    if message.parts.iter().any(|p| p.is_encoding_problem) {
        diagnostics.push(Diagnostic {
            code: "mime.encoding_problem",
        });
    }
    let html_has_evidence = html.is_some_and(|h| {
        let head = &h.as_bytes()[..h.len().min(MAX_BODY_BYTES)];
        HTML_EVIDENCE.as_ref().is_some_and(|ac| ac.is_match(head))
    });
    match (text, html) {
        (Some(_), Some(h)) if html_has_evidence => (html::to_lines(bounded_html(h)), true),
        (None, Some(h)) => (html::to_lines(bounded_html(h)), true),
        (Some(t), _) => (text_lines(bounded(t)), false),
        (None, None) => {
            diagnostics.push(Diagnostic {
                code: "mime.no_text_body",
            });
            (Vec::new(), false)
        }
    }
}

/// Plain text to lines; blank lines are kept as paragraph separators.
pub(crate) fn text_lines(text: &str) -> Vec<Line> {
    text.lines().take(MAX_LINES).map(Line::plain).collect()
}

fn vcards(message: &Message<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for part in message.parts.iter().take(50) {
        let is_vcard = part.content_type().is_some_and(|ct| {
            let sub = ct.subtype().unwrap_or_default().to_ascii_lowercase();
            ct.ctype().eq_ignore_ascii_case("text")
                && (sub == "vcard" || sub == "x-vcard" || sub == "directory")
        }) || part
            .attachment_name()
            .is_some_and(|n| n.to_ascii_lowercase().ends_with(".vcf"));
        if !is_vcard {
            continue;
        }
        let text = match &part.body {
            PartType::Text(t) => t.to_string(),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                String::from_utf8_lossy(b).into_owned()
            }
            _ => continue,
        };
        out.push(bounded(&text).to_string());
    }
    out
}
