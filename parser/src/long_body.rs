//! Oversized plain-text messages cut before mail-parser decodes them.
//!
//! The engine reads at most the first 512 KiB of a plain-text body (`mime::MAX_BODY_BYTES`),
//! but mail-parser decodes (and validates as UTF-8) all of it: for a 5-6 MB message that was
//! most of the worst-case time per message. A single-part `text/plain` message whose body is
//! longer than [`RAW_BODY_LIMIT`] is handed to mail-parser cut after that many bytes: the
//! first 512 KiB of decoded text are the same, because every transfer encoding and charset
//! accepted here decodes left to right and yields at least one byte of text per three bytes
//! of body (quoted-printable `=XX`), so 2 MiB of body give more than 512 KiB of text.
//!
//! Only what is modelled is cut: one `Content-Type` (absent, or `text/plain` with no charset
//! or an ASCII-compatible one), one `Content-Transfer-Encoding` (none, 7bit, 8bit, binary,
//! base64, quoted-printable). A quoted-printable body is cut at a line end, so no escape is
//! split (a split escape would count as an encoding problem); the other encodings cannot
//! fail on a truncated body.

use memchr::memchr;

use crate::binary_parts::header_block;

/// Body bytes handed to mail-parser at most (see the module docs for why 2 MiB).
const RAW_BODY_LIMIT: usize = 2 * 1024 * 1024;
/// How far past the limit a quoted-printable cut looks for a line end.
const LINE_END_WINDOW: usize = 64 * 1024;

/// The prefix of `raw` to parse, when the message is a long single-part plain-text one.
pub(crate) fn cut(raw: &[u8]) -> Option<&[u8]> {
    if raw.len() <= RAW_BODY_LIMIT {
        return None;
    }
    let headers = header_block(raw, 0)?;
    if raw.len() - headers.end <= RAW_BODY_LIMIT
        || headers.content_types.len() > 1
        || headers.encodings.len() > 1
    {
        return None;
    }
    if let Some((mime, value)) = headers.content_type()
        && (mime != "text/plain" || !ascii_compatible_charset(value))
    {
        return None;
    }
    let encoding = headers
        .encodings
        .first()
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let limit = headers.end + RAW_BODY_LIMIT;
    let end = match encoding.as_str() {
        "" | "7bit" | "8bit" | "binary" | "base64" => limit,
        "quoted-printable" => {
            let window = raw.get(limit..(limit + LINE_END_WINDOW).min(raw.len()))?;
            limit + memchr(b'\n', window)? + 1
        }
        _ => return None,
    };
    raw.get(..end)
}

/// Whether the `Content-Type` value names no charset or one that decodes at least one byte
/// of text per byte of body (ASCII, UTF-8, the ISO-8859 and Windows single-byte sets).
fn ascii_compatible_charset(content_type: &str) -> bool {
    let lower = content_type.to_ascii_lowercase();
    let mut params = lower.match_indices("charset");
    let Some((at, _)) = params.next() else {
        return true;
    };
    if params.next().is_some() {
        return false;
    }
    let Some(rest) = lower
        .get(at + "charset".len()..)
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
    else {
        return false;
    };
    let rest = rest.trim_start();
    let name = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or_default(),
        None => rest.split([';', ' ', '\t']).next().unwrap_or_default(),
    };
    matches!(name, "us-ascii" | "ascii" | "utf-8" | "utf8")
        || name.strip_prefix("iso-8859-").is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        || name.strip_prefix("windows-125").is_some_and(|n| n.len() == 1 && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(content_type: &str, encoding: &str, body: &[u8]) -> Vec<u8> {
        let mut raw = format!(
            "From: a@example.com\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw
    }

    #[test]
    fn cuts_long_plain_bodies_only() {
        let body = b"line of text\r\n".repeat(400_000);
        let plain = message("text/plain; charset=utf-8", "8bit", &body);
        let cut_len = cut(&plain).map(<[u8]>::len);
        assert!(cut_len.is_some_and(|n| n < plain.len() && n > RAW_BODY_LIMIT));
        let qp = message("text/plain; charset=\"iso-8859-1\"", "quoted-printable", &body);
        assert!(cut(&qp).is_some_and(|c| c.ends_with(b"\n")));
        for (ct, cte) in [
            ("text/html", "8bit"),
            ("text/plain; charset=utf-16", "8bit"),
            ("text/plain", "x-uuencode"),
            ("multipart/mixed; boundary=b", "8bit"),
        ] {
            assert!(cut(&message(ct, cte, &body)).is_none(), "{ct} {cte}");
        }
        assert!(cut(&message("text/plain", "8bit", b"short\r\n")).is_none());
    }

    #[test]
    fn same_extraction_as_uncut() {
        let mut body = b"Hello,\r\n\r\nthe report.\r\n\r\nBest regards,\r\nAnn Lee\r\nAcme Freight Inc.\r\nCell: (510) 555-0178\r\n\r\n".to_vec();
        body.extend(b"> quoted history line with T: +1 202 555 0147\r\n".repeat(60_000));
        let raw = message("text/plain; charset=utf-8", "quoted-printable", &body);
        let Some(prefix) = cut(&raw) else {
            panic!("a long body is cut");
        };
        let whole = crate::extract(&raw);
        let part = crate::extract(prefix);
        assert!(whole.has_signature);
        assert_eq!(format!("{whole:?}"), format!("{part:?}"));
    }
}
