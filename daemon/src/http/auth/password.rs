//! User passwords: argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane, the
//! OWASP minimum) in PHC string form. Hashing runs on a blocking thread: it is deliberately slow.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use zeroize::Zeroizing;

use super::AuthError;

/// Longest password accepted (long inputs only cost CPU).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Hashes `password` with a fresh random salt.
pub async fn hash_password(password: Zeroizing<String>) -> Result<String, AuthError> {
    let len = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
        return Err(AuthError::WeakPassword {
            min: MIN_PASSWORD_LEN,
            max: MAX_PASSWORD_LEN,
        });
    }
    tokio::task::spawn_blocking(move || hash_blocking(password.as_bytes()))
        .await
        .map_err(|e| AuthError::Internal(format!("hash task: {e}")))?
}

fn hash_blocking(password: &[u8]) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Internal(format!("salt randomness: {e}")))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| AuthError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("hash password: {e}")))
}

/// Checks `password` against a stored PHC string; `None` (no password set, or unknown user)
/// is checked against a fixed dummy hash so that the answer takes the same time.
pub async fn verify_password(password: Zeroizing<String>, stored: Option<String>) -> bool {
    if password.len() > MAX_PASSWORD_LEN * 4 {
        return false;
    }
    // The blocking pool does not inherit the request's span: carry it over, so the warning
    // below keeps the request's correlation id.
    let span = tracing::Span::current();
    let result = tokio::task::spawn_blocking(move || {
        let _request = span.enter();
        let dummy = stored.is_none();
        let phc = match &stored {
            Some(phc) => phc.as_str(),
            None => dummy_hash(),
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            tracing::warn!("a stored password hash does not parse");
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && !dummy
    })
    .await;
    result.unwrap_or(false)
}

/// A hash of a random password, computed once, for timing-equal failures.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 24];
        // If randomness fails the fixed bytes still give a hash nobody knows the input of
        // only by accident; verification of the dummy always fails anyway (see above).
        let _ = getrandom::fill(&mut random);
        hash_blocking(&random).unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0000000000000000000000000000000000000000000".to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let phc = hash_password(Zeroizing::new("correct horse battery".into()))
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            verify_password(
                Zeroizing::new("correct horse battery".into()),
                Some(phc.clone())
            )
            .await
        );
        assert!(!verify_password(Zeroizing::new("wrong horse battery".into()), Some(phc)).await);
        assert!(!verify_password(Zeroizing::new("anything at all".into()), None).await);
        assert!(hash_password(Zeroizing::new("short".into())).await.is_err());
    }
}
