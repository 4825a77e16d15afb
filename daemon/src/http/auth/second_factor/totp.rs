//! RFC 6238 time-based one-time passwords, as every authenticator app computes them: HMAC-SHA1,
//! six digits, 30-second steps, one step of clock skew either way. `totp-rs` does the
//! arithmetic; this module owns the secret's life (random, 160 bits, zeroized on drop) and the
//! rule that a code names the step it matched, so the caller can accept each step once.

use totp_rs::{Builder, Secret, Totp};
use zeroize::Zeroizing;

use super::SecondFactorError;

/// Length of a new secret: 160 bits, what RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// The name apps show above the code.
pub const ISSUER: &str = "mailsig";

/// A user's TOTP secret in memory. No Debug, Display or Clone: the bytes are wiped on drop.
pub struct TotpKey {
    secret: Zeroizing<Vec<u8>>,
}

impl TotpKey {
    /// A fresh random secret.
    pub fn generate() -> Result<TotpKey, SecondFactorError> {
        let mut secret = Zeroizing::new(vec![0u8; SECRET_LEN]);
        getrandom::fill(secret.as_mut_slice())
            .map_err(|e| SecondFactorError::Internal(format!("totp randomness: {e}")))?;
        Ok(TotpKey { secret })
    }

    /// The secret as opened from the vault.
    pub fn from_bytes(secret: Zeroizing<Vec<u8>>) -> TotpKey {
        TotpKey { secret }
    }

    /// The bytes to seal in the vault.
    pub fn as_bytes(&self) -> &[u8] {
        &self.secret
    }

    /// `account` is the user's e-mail address (shown in the app); a `:` in it is replaced, as
    /// the otpauth format uses it as the separator.
    fn totp(&self, account: &str) -> Result<Totp, SecondFactorError> {
        Builder::new()
            .with_secret(Secret::from(self.secret.as_slice()))
            .with_step_duration(STEP_SECONDS)
            .with_skew(1)
            .with_digits(6)
            .with_issuer(Some(ISSUER))
            .with_account_name(account.replace(':', "_"))
            .build()
            .map_err(|e| SecondFactorError::Internal(format!("totp parameters: {e}")))
    }

    /// The key to type into an app by hand: base32, in groups of four.
    pub fn manual_key(&self) -> Zeroizing<String> {
        let plain = Zeroizing::new(Secret::from(self.secret.as_slice()).to_base32());
        let mut grouped = Zeroizing::new(String::with_capacity(plain.len() + plain.len() / 4));
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                grouped.push(' ');
            }
            grouped.push(c);
        }
        grouped
    }

    /// The `otpauth://totp/…` URL an app reads from the QR code.
    pub fn otpauth_url(&self, account: &str) -> Result<Zeroizing<String>, SecondFactorError> {
        self.totp(account)?
            .to_url()
            .map(Zeroizing::new)
            .map_err(|e| SecondFactorError::Internal(format!("otpauth url: {e}")))
    }

    /// The step `code` is valid for at `unix_seconds` (the current step or one either side),
    /// or `None`. Spaces in the code are ignored; anything but six digits is `None`.
    pub fn matching_step(&self, code: &str, unix_seconds: u64) -> Option<i64> {
        let digits: Zeroizing<String> = Zeroizing::new(
            code.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect(),
        );
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("").ok()?;
        totp.check(&digits, unix_seconds)
            .and_then(|step| i64::try_from(step).ok())
    }

    /// The code an app shows at `unix_seconds` (for tests and the self-check).
    pub fn code_at(&self, unix_seconds: u64) -> Result<String, SecondFactorError> {
        Ok(self.totp("")?.generate(unix_seconds).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column (the last six digits of its eight-digit values).
    #[test]
    fn rfc_6238_test_vectors() {
        let key = TotpKey::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec()));
        for (time, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(key.code_at(time).expect("code"), expected, "at {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let key = TotpKey::generate().expect("key");
        let now = 1_700_000_000;
        let code = key.code_at(now).expect("code");
        let step = i64::try_from(now / STEP_SECONDS).expect("step");
        assert_eq!(key.matching_step(&code, now), Some(step));
        assert_eq!(key.matching_step(&code, now + STEP_SECONDS), Some(step));
        assert_eq!(key.matching_step(&code, now - STEP_SECONDS), Some(step));
        assert_eq!(key.matching_step(&code, now + 3 * STEP_SECONDS), None);
        assert_eq!(key.matching_step("12345", now), None);
        assert_eq!(key.matching_step("abcdef", now), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(key.matching_step(&spaced, now), Some(step));
    }

    #[test]
    fn the_manual_key_and_the_url_carry_the_same_secret() {
        let key = TotpKey::generate().expect("key");
        let manual: String = key.manual_key().chars().filter(|c| *c != ' ').collect();
        let url = key.otpauth_url("ada@mycorp.example").expect("url");
        assert!(
            url.starts_with("otpauth://totp/mailsig:ada%40mycorp.example?"),
            "{}",
            *url
        );
        assert!(url.contains(&format!("secret={manual}")), "{}", *url);
    }
}
