//! One-time recovery codes: the way in when the phone with the authenticator app is gone.
//!
//! Ten codes of 16 characters from a 32-letter alphabet without look-alikes (80 random bits
//! each), shown once, grouped `xxxx-xxxx-xxxx-xxxx`. Only the SHA-256 of each normalised code is
//! stored: with 80 bits of randomness a fast hash cannot be reversed by guessing, and a lookup
//! needs a deterministic one (as with the session cookie).

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::SecondFactorError;

/// How many codes a user gets at enrolment.
pub const CODES: usize = 10;
/// Characters per code (without the dashes).
const LEN: usize = 16;
/// Crockford's base32 alphabet in lower case: no i, l, o, u.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Freshly made codes, to show once; they are wiped from memory on drop.
pub struct RecoveryCodes {
    codes: Vec<Zeroizing<String>>,
}

impl RecoveryCodes {
    pub fn generate() -> Result<RecoveryCodes, SecondFactorError> {
        let mut codes = Vec::with_capacity(CODES);
        for _ in 0..CODES {
            let mut random = Zeroizing::new([0u8; LEN]);
            getrandom::fill(random.as_mut())
                .map_err(|e| SecondFactorError::Internal(format!("recovery randomness: {e}")))?;
            let mut code = Zeroizing::new(String::with_capacity(LEN + 3));
            for (i, byte) in random.iter().enumerate() {
                if i > 0 && i % 4 == 0 {
                    code.push('-');
                }
                // 256 is a multiple of 32: the low five bits are uniform.
                code.push(char::from(ALPHABET[usize::from(byte & 31)]));
            }
            codes.push(code);
        }
        Ok(RecoveryCodes { codes })
    }

    /// The codes as shown to the user.
    pub fn shown(&self) -> impl Iterator<Item = &str> {
        self.codes.iter().map(|c| c.as_str())
    }

    /// What the store keeps.
    pub fn hashes(&self) -> Vec<String> {
        self.codes.iter().filter_map(|c| hash(c)).collect()
    }
}

/// Is `input` shaped like a recovery code (rather than a six-digit TOTP code)?
pub fn looks_like_recovery_code(input: &str) -> bool {
    normalise(input).is_some_and(|n| n.len() == LEN)
}

/// The stored hash of a code as typed (case, spaces and dashes do not matter); `None` when it
/// holds characters no code has, or has the wrong length.
pub fn hash(input: &str) -> Option<String> {
    let normal = normalise(input).filter(|n| n.len() == LEN)?;
    let mut hasher = Sha256::new();
    hasher.update(b"mailsig recovery code\0");
    hasher.update(normal.as_bytes());
    Some(hex::encode(hasher.finalize()))
}

fn normalise(input: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(LEN));
    for c in input.chars() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        let c = c.to_ascii_lowercase();
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        if out.len() > LEN {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_hash_as_typed() {
        let codes = RecoveryCodes::generate().expect("codes");
        let shown: Vec<&str> = codes.shown().collect();
        assert_eq!(shown.len(), CODES);
        let mut hashes = codes.hashes();
        assert_eq!(hashes.len(), CODES);
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), CODES, "two codes alike");
        let first = shown[0];
        assert_eq!(first.len(), LEN + 3);
        assert!(looks_like_recovery_code(first));
        let typed = first.to_uppercase().replace('-', " ");
        assert_eq!(hash(&typed), hash(first));
        assert!(hash("123456").is_none());
        assert!(!looks_like_recovery_code("123456"));
        assert!(hash("!!!!-!!!!-!!!!-!!!!").is_none());
    }
}
