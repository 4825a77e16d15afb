//! Binary attachment bodies cut out before mail-parser decodes them.
//!
//! mail-parser decodes every part of a message eagerly, and half the bytes of ordinary mail
//! are base64 attachments (PDFs, images) that the engine never reads: decoding them cost the
//! extraction 14% of its time on the generated corpus. This module finds such bodies with
//! one forward scan and returns a copy of the message without them, which mail-parser then
//! parses into the same structure, headers and text parts (the attachment parts stay, with
//! an empty body).
//!
//! Hand-rolled on purpose, and deliberately conservative: a body is cut only when the scan is
//! sure mail-parser would decode it as a base64 binary part without an error, i.e. when
//! - it follows a delimiter line `--<boundary>` of the innermost open multipart (found the way
//!   mail-parser finds it: the first `--<boundary>` anywhere after the previous part),
//! - its header block has exactly one `Content-Type` of `application/`, `image/`, `audio/` or
//!   `video/`, exactly one `Content-Transfer-Encoding: base64`, and no hint of a vCard (`vcf`,
//!   `vcard`) or of an encoded word (`=?`) that could hide one,
//! - the body holds only base64 characters and white space and ends at a line that starts
//!   with `--<boundary>`.
//!
//! Anything the scan does not model (a nested `message/*`, `multipart/digest`, a malformed
//! header block, unusual boundary syntax) makes it give up, and the message is parsed as it
//! came. The output of [`crate::extract`] is unchanged by this step: the test
//! `same_extraction_as_unstripped` and the byte-identity check in `parser/README.md`
//! ("Timing") compare both.

use memchr::{memchr, memmem};

/// Most multipart levels followed; deeper nesting is parsed unstripped.
const MAX_DEPTH: usize = 16;

/// A copy of `raw` without the bodies of its base64 binary attachments, or `None` when there
/// is nothing to cut (or the structure is outside what the scan models).
pub(crate) fn without_binary_bodies(raw: &[u8]) -> Option<Vec<u8>> {
    // Most messages have no base64 part at all: three SIMD searches say so before any
    // header is read. (A rarer spelling of the encoding name only means nothing is cut.)
    if !["base64", "BASE64", "Base64"]
        .iter()
        .any(|name| memmem::find(raw, name.as_bytes()).is_some())
    {
        return None;
    }
    let top = header_block(raw, 0)?;
    // The delimiter searcher of each open multipart, innermost last (built once per level).
    let mut stack = vec![Delimiter::new(&multipart_boundary(&top)?)];
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut pos = top.end;
    while let Some(delimiter) = stack.last() {
        let Some(found) = delimiter.finder.find(raw.get(pos..)?) else {
            break;
        };
        let after = pos + found + delimiter.finder.needle().len();
        if raw.get(after..after + 2) == Some(b"--") {
            // The close delimiter of the innermost multipart: back to its parent.
            stack.pop();
            pos = after + 2;
            continue;
        }
        // The delimiter must end its line for the header block to start on the next one, as
        // the scan assumes.
        let line_end = memchr(b'\n', raw.get(after..)?)? + after;
        if !matches!(raw.get(after..line_end)?, b"" | b"\r") {
            return None;
        }
        let headers = header_block(raw, line_end + 1)?;
        match headers.kind(raw) {
            PartKind::Multipart => {
                if stack.len() >= MAX_DEPTH {
                    return None;
                }
                stack.push(Delimiter::new(&multipart_boundary(&headers)?));
            }
            PartKind::Unmodelled => return None,
            PartKind::Base64Binary => {
                if let Some(end) = base64_body_end(raw, headers.end, delimiter.finder.needle()) {
                    cuts.push((headers.end, end));
                    pos = end;
                    continue;
                }
            }
            PartKind::Other => {}
        }
        pos = headers.end;
    }
    if cuts.is_empty() {
        return None;
    }
    let cut_len: usize = cuts.iter().map(|(s, e)| e - s).sum();
    let mut out = Vec::with_capacity(raw.len() - cut_len);
    let mut from = 0;
    for (start, end) in cuts {
        out.extend_from_slice(raw.get(from..start)?);
        from = end;
    }
    out.extend_from_slice(raw.get(from..)?);
    Some(out)
}

/// `--<boundary>`, searched the way mail-parser finds it: anywhere, first occurrence.
struct Delimiter {
    finder: memmem::Finder<'static>,
}

impl Delimiter {
    fn new(boundary: &[u8]) -> Delimiter {
        let needle = [b"--".as_slice(), boundary].concat();
        Delimiter {
            finder: memmem::Finder::new(&needle).into_owned(),
        }
    }
}

/// Whether every byte may appear in a base64 body that mail-parser decodes without an error
/// and without looking for a boundary (`-` would make it look). Branch-free per byte so the
/// compiler vectorizes it: this check runs over every attachment byte.
fn all_base64_body_bytes(bytes: &[u8]) -> bool {
    let invalid = |b: u8| {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        let other = (b == b'+') | (b == b'/') | (b == b'=');
        let space = (b == b'\r') | (b == b'\n') | (b == b' ') | (b == b'\t');
        u8::from(!(letter | digit | other | space))
    };
    let mut chunks = bytes.chunks_exact(64);
    let body_ok = chunks
        .by_ref()
        .all(|chunk| chunk.iter().fold(0u8, |bad, &b| bad | invalid(b)) == 0);
    body_ok && chunks.remainder().iter().all(|&b| invalid(b) == 0)
}

/// End of a base64 body starting at `start`: the start of the delimiter line that follows
/// it, when everything before is base64 and the body is not empty.
fn base64_body_end(raw: &[u8], start: usize, delimiter: &[u8]) -> Option<usize> {
    let body = raw.get(start..)?;
    // The first `-` must start the delimiter line.
    let len = memchr(b'-', body)?;
    let end = start + len;
    let at_line_start = len > 0 && body.get(len - 1) == Some(&b'\n');
    (at_line_start
        && raw.get(end..)?.starts_with(delimiter)
        && all_base64_body_bytes(body.get(..len)?))
    .then_some(end)
}

/// The header fields the scan reads from one header block.
pub(crate) struct Headers {
    /// Unfolded `Content-Type` values (more than one makes the block unmodelled).
    pub content_types: Vec<String>,
    /// Unfolded `Content-Transfer-Encoding` values.
    pub encodings: Vec<String>,
    /// Offset of the block's first line.
    start: usize,
    /// Offset just after the blank line that ends the block.
    pub end: usize,
}

enum PartKind {
    Multipart,
    /// A base64 `application/`, `image/`, `audio/` or `video/` part, no vCard.
    Base64Binary,
    /// Text and everything else mail-parser decodes as the engine may need it.
    Other,
    /// Nested messages, digests, duplicate or malformed fields: the scan stops.
    Unmodelled,
}

impl Headers {
    /// The lower-cased MIME type of the first `Content-Type` and the whole value.
    pub(crate) fn content_type(&self) -> Option<(String, &str)> {
        let value = self.content_types.first()?;
        let mime = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Some((mime, value))
    }

    fn kind(&self, raw: &[u8]) -> PartKind {
        if self.content_types.len() > 1 || self.encodings.len() > 1 {
            return PartKind::Unmodelled;
        }
        let Some((mime, _)) = self.content_type() else {
            return PartKind::Other;
        };
        let (main, sub) = mime.split_once('/').unwrap_or((mime.as_str(), ""));
        match main {
            "multipart" if sub == "digest" => PartKind::Unmodelled,
            "multipart" => PartKind::Multipart,
            "message" => PartKind::Unmodelled,
            "application" | "image" | "audio" | "video" if is_plain_mime(&mime) => {
                let base64 = self
                    .encodings
                    .first()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"));
                if base64 && !maybe_vcard(raw.get(self.start..self.end).unwrap_or_default()) {
                    PartKind::Base64Binary
                } else {
                    PartKind::Other
                }
            }
            _ => PartKind::Other,
        }
    }
}

/// Whether a lower-cased MIME type is written plainly (`type/subtype`, token characters):
/// a malformed one may be read differently by mail-parser, which the scan must not risk.
fn is_plain_mime(mime: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'+' | b'_')
            })
    };
    mime.split_once('/')
        .is_some_and(|(main, sub)| token(main) && token(sub))
}

/// The boundary of a multipart header block, when written plainly: a `type/subtype` followed
/// by `;`-separated `name=value` parameters, exactly one of them `boundary` (token or quoted,
/// RFC 2046 boundary characters only). Anything else is left to mail-parser alone.
fn multipart_boundary(headers: &Headers) -> Option<Vec<u8>> {
    let (mime, value) = headers.content_type()?;
    if !is_plain_mime(&mime) || !mime.starts_with("multipart/") || mime == "multipart/digest" {
        return None;
    }
    let mut found = None;
    for param in value.split(';').skip(1) {
        if param.trim().is_empty() {
            continue;
        }
        let (name, v) = param.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        if name == "boundary" && found.is_none() {
            found = Some(v.trim());
        } else if name.starts_with("boundary") {
            return None; // repeated, or RFC 2231 `boundary*`
        }
    }
    let value = found?;
    let boundary = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None if value.contains([' ', '\t']) => return None,
        None => value,
    };
    let plain = boundary.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'\''
                    | b'('
                    | b')'
                    | b'+'
                    | b'_'
                    | b','
                    | b'-'
                    | b'.'
                    | b'/'
                    | b':'
                    | b'='
                    | b'?'
                    | b' '
            )
    });
    (plain && !boundary.is_empty() && boundary.len() <= 200).then(|| boundary.as_bytes().to_vec())
}

/// Whether a header block mentions `vcf`, `vcard` or an encoded word (`=?`), which could
/// name a vCard the engine reads.
fn maybe_vcard(block: &[u8]) -> bool {
    memmem::find(block, b"=?").is_some()
        || block.windows(3).any(|w| w.eq_ignore_ascii_case(b"vcf"))
        || block.windows(5).any(|w| w.eq_ignore_ascii_case(b"vcard"))
}

/// Reads the header block starting at `start`, up to and including its blank line. `None`
/// when the block never ends or has a line that is neither a field nor a continuation.
/// Works on bytes: only `Content-Type` and `Content-Transfer-Encoding` values are copied.
pub(crate) fn header_block(raw: &[u8], start: usize) -> Option<Headers> {
    let mut headers = Headers {
        content_types: Vec::new(),
        encodings: Vec::new(),
        start,
        end: start,
    };
    // Which collected value a continuation line extends.
    let mut current: Option<(bool, usize)> = None;
    let mut pos = start;
    loop {
        let rest = raw.get(pos..)?;
        let len = memchr(b'\n', rest)?;
        let line = rest.get(..len)?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += len + 1;
        if line.is_empty() {
            headers.end = pos;
            return Some(headers);
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some((is_type, i)) = current {
                let text = std::str::from_utf8(line).ok()?;
                let values = if is_type {
                    &mut headers.content_types
                } else {
                    &mut headers.encodings
                };
                values.get_mut(i)?.push_str(text);
            }
            continue;
        }
        let colon = memchr(b':', line)?;
        let (name, value) = (line.get(..colon)?, line.get(colon + 1..)?);
        current = if name.eq_ignore_ascii_case(b"content-type") {
            headers
                .content_types
                .push(std::str::from_utf8(value).ok()?.to_string());
            Some((true, headers.content_types.len() - 1))
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            headers
                .encodings
                .push(std::str::from_utf8(value).ok()?.to_string());
            Some((false, headers.encodings.len() - 1))
        } else {
            None
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: Ann <ann@example.com>\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
--XX\r\n\
Content-Type: text/plain\r\n\
\r\n\
Hello\r\n\
Ann\r\n\
--XX\r\n\
Content-Type: application/pdf; name=\"a.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
AAAA\r\n\
--XX\r\n\
Content-Type: application/octet-stream; name=\"card.vcf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
QkVHSU46VkNBUkQK\r\n\
--XX--\r\n";

    #[test]
    fn cuts_binary_bodies_only() {
        let out = without_binary_bodies(MIXED).unwrap_or_default();
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("JVBERi0xLjQK"), "{text}");
        assert!(text.contains("QkVHSU46VkNBUkQK"), "a vCard body is kept");
        assert!(text.contains("Hello\r\nAnn\r\n--XX\r\n"));
        assert_eq!(out.len(), MIXED.len() - b"JVBERi0xLjQK\r\nAAAA\r\n".len());
    }

    #[test]
    fn leaves_unmodelled_messages_alone() {
        // Not multipart.
        assert!(without_binary_bodies(b"Content-Type: text/plain\n\nhi\n").is_none());
        // A nested message.
        let nested = b"Content-Type: multipart/mixed; boundary=B\n\n--B\n\
Content-Type: message/rfc822\n\nContent-Type: text/plain\n\nx\n--B\n\
Content-Type: image/png\nContent-Transfer-Encoding: base64\n\nAAAA\n--B--\n";
        assert!(without_binary_bodies(nested).is_none());
        // A Content-Type mail-parser may read otherwise (no `;` before the boundary).
        let sloppy = b"Content-Type: multipart/mixed boundary=B\n\n--B\n\
Content-Type: image/png\nContent-Transfer-Encoding: base64\n\nAAAA\n--B--\n";
        assert!(without_binary_bodies(sloppy).is_none());
        // A body with a character that is not base64 is decoded as it came.
        let broken = b"Content-Type: multipart/mixed; boundary=B\n\n--B\n\
Content-Type: image/png\nContent-Transfer-Encoding: base64\n\nAA*A\n--B--\n";
        assert!(without_binary_bodies(broken).is_none());
    }

    #[test]
    fn same_extraction_as_unstripped() {
        let stripped = without_binary_bodies(MIXED).unwrap_or_default();
        let a = crate::mime::PARSER.parse(MIXED);
        let b = crate::mime::PARSER.parse(&stripped[..]);
        let (Some(a), Some(b)) = (a, b) else {
            panic!("both parse");
        };
        assert_eq!(a.parts.len(), b.parts.len());
        assert_eq!(a.text_body, b.text_body);
        assert_eq!(a.attachments, b.attachments);
        for (pa, pb) in a.parts.iter().zip(&b.parts) {
            assert_eq!(pa.is_encoding_problem, pb.is_encoding_problem);
            // Offsets after a cut move; names and values do not.
            assert_eq!(pa.headers.len(), pb.headers.len());
            for (ha, hb) in pa.headers.iter().zip(&pb.headers) {
                assert_eq!((&ha.name, &ha.value), (&hb.name, &hb.value));
            }
        }
        assert_eq!(a.body_text(0), b.body_text(0));
    }
}
