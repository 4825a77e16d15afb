//! The signature a receiver checks: HMAC-SHA256 over `"{timestamp}.{body}"` with the endpoint's
//! secret, sent as `Mailsig-Signature: t=<unix seconds>,v1=<hex>` (the scheme Stripe uses). The
//! timestamp is inside the MAC, so a receiver that refuses old timestamps also refuses a replay.
//! docs/webhooks.md shows a receiver's check in Python and Rust.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Mailsig-Signature";

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// A receiver's check: the header parses, a `v1` tag matches (in constant time), and the
/// timestamp is within `tolerance_secs` of `now`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => tags.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    tags.iter()
        .any(|tag| mac(secret, timestamp, body).verify_slice(tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let secret = b"whsec_0123456789abcdef0123456789";
        let body = br#"{"event":"suggestion.created"}"#;
        let header = signature(secret, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert!(verify(secret, &header, body, 1_700_000_100, 300));
        // Another body, secret, time, or a stale timestamp: refused.
        assert!(!verify(secret, &header, b"{}", 1_700_000_000, 300));
        assert!(!verify(
            b"another secret",
            &header,
            body,
            1_700_000_000,
            300
        ));
        assert!(!verify(secret, &header, body, 1_700_000_301, 300));
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert!(!verify(secret, &moved, body, 1_700_000_000, 300));
        assert!(!verify(secret, "v1=00", body, 1_700_000_000, 300));
        assert!(!verify(secret, "", body, 1_700_000_000, 300));
    }

    #[test]
    fn the_tag_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1.{}' | openssl dgst -sha256 -hmac key
        let header = signature(b"key", 1, b"{}");
        assert_eq!(
            header,
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}
