//! Synchronizer CSRF tokens derived from a cookie's secret, so that nothing usable is at rest.
//!
//! A browser session (and a sign-in between its password and its second step) is named by a
//! cookie of 256 random bits, of which the store keeps only the SHA-256. Its CSRF token is
//! `HMAC-SHA256(key = the cookie's secret, purpose)`: the server recomputes it from the cookie
//! of each request, a page embeds it, and the store never holds it. Reading the database (or a
//! backup, or a dump) yields neither the cookie nor the token; the hash of the cookie cannot be
//! turned back into the key. A cross-site attacker, who cannot read the cookie, cannot compute
//! the token either.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What a token is for: tokens of one cookie differ per purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The forms and scripts of a signed-in session.
    Session,
    /// The form of a sign-in's second step.
    SecondFactorChallenge,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"mailsig csrf v1: session",
            Purpose::SecondFactorChallenge => b"mailsig csrf v1: second-factor challenge",
        }
    }
}

/// The CSRF token for the cookie whose value is `cookie_secret`, as 64 hex digits.
pub fn derive(cookie_secret: &str, purpose: Purpose) -> String {
    // HMAC accepts a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(cookie_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(purpose.label());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stable_for_one_cookie_and_differs_per_cookie_and_purpose() {
        let a = derive("aa", Purpose::Session);
        assert_eq!(a, derive("aa", Purpose::Session));
        assert_eq!(a.len(), 64);
        assert_ne!(a, derive("ab", Purpose::Session));
        assert_ne!(a, derive("aa", Purpose::SecondFactorChallenge));
    }

    #[test]
    fn the_token_is_not_the_stored_hash_of_the_cookie() {
        use sha2::Digest as _;
        let cookie = "00112233";
        assert_ne!(
            derive(cookie, Purpose::Session),
            hex::encode(sha2::Sha256::digest(cookie.as_bytes()))
        );
    }
}
