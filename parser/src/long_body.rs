//! Oversized plain-text messages cut before mail-parser decodes them.
//!
//! The engine reads at most the first 512 KiB of a plain-text body (`mime::MAX_BODY_BYTES`),
//! but mail-parser decodes (and validates as UTF-8) all of it: for a 5-6 MB message that was
//! most of the worst-case time per message. A single-part `text/plain` message whose body is
//! longer than [`RAW_BODY_LIMIT`] is handed to mail-parser cut after that many bytes: the
//! first 512 KiB of decoded text are the same, because the body is not transfer-encoded
//! (none, 7bit, 8bit, binary) and its charset decodes left to right into at least one byte of
//! UTF-8 per byte of body (ASCII, UTF-8 with replacement characters, the ISO-8859 and Windows
//! single-byte sets), so 2 MiB of body give at least 2 MiB of text.
//!
//! Quoted-printable and base64 bodies are not cut: soft line breaks and ignored white space
//! can decode to nothing, so no prefix length guarantees 512 KiB of text. Only what is
//! modelled is cut: one `Content-Type` (absent, or `text/plain` with no charset or one of
//! those above) and at most one `Content-Transfer-Encoding`.

use crate::binary_parts::header_block;

/// Body bytes handed to mail-parser at most (see the module docs for why 2 MiB).
const RAW_BODY_LIMIT: usize = 2 * 1024 * 1024;

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
    if !matches!(encoding.as_str(), "" | "7bit" | "8bit" | "binary") {
        return None;
    }
    let end = headers.end + RAW_BODY_LIMIT;
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
        || name
            .strip_prefix("iso-8859-")
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        || name
            .strip_prefix("windows-125")
            .is_some_and(|n| n.len() == 1 && n.bytes().all(|b| b.is_ascii_digit()))
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
        let latin = message("text/plain; charset=\"iso-8859-1\"", "7bit", &body);
        assert!(cut(&latin).is_some());
        for (ct, cte) in [
            ("text/html", "8bit"),
            ("text/plain; charset=utf-16", "8bit"),
            ("text/plain", "x-uuencode"),
            ("text/plain", "quoted-printable"),
            ("text/plain", "base64"),
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
        let raw = message("text/plain; charset=utf-8", "8bit", &body);
        let Some(prefix) = cut(&raw) else {
            panic!("a long body is cut");
        };
        let whole = crate::extract(&raw);
        let part = crate::extract(prefix);
        assert!(whole.has_signature);
        assert_eq!(format!("{whole:?}"), format!("{part:?}"));
    }
}
