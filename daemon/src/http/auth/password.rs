//! User passwords: argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane, the
//! OWASP minimum) in PHC string form. Hashing runs on a blocking thread: it is deliberately slow.
//!
//! Every hash (setting a password, checking one, the dummy check for an unknown user) goes
//! through one bounded pool: at most one hash per core runs at once, at most
//! [`QUEUE_PER_CORE`] per core wait, and a request beyond that is refused at once
//! ([`AuthError::TooManyAttempts`], 429 with `Retry-After`) instead of queueing 19 MiB hashes
//! on the 512-thread blocking pool. A sign-in flood costs the daemon a few cores' worth of
//! hashing, never its memory.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Semaphore;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use zeroize::Zeroizing;

use super::AuthError;

/// Longest password accepted (long inputs only cost CPU).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Hashes waiting for a core, per core, before new ones are refused.
pub const QUEUE_PER_CORE: usize = 4;

/// What a refused hash asks the client to wait.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Password checks that ran argon2 in this process (the throttle's tests show that a delayed
/// attempt runs none).
static VERIFICATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many password checks ran argon2 in this process so far.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The bounded hashing pool (see the module docs).
struct HashPool {
    /// Hashes admitted: running or waiting for a core.
    admitted: Semaphore,
    /// Hashes running.
    running: Semaphore,
}

impl HashPool {
    fn for_cores(cores: usize) -> HashPool {
        HashPool {
            admitted: Semaphore::new(cores * (1 + QUEUE_PER_CORE)),
            running: Semaphore::new(cores),
        }
    }
}

fn pool() -> &'static HashPool {
    static POOL: OnceLock<HashPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        HashPool::for_cores(cores)
    })
}

/// Runs `work` (one hash) on the bounded pool, or refuses at once when the pool is full.
async fn on_hash_pool<T: Send + 'static>(
    pool: &HashPool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthError> {
    let Ok(_admitted) = pool.admitted.try_acquire() else {
        tracing::info!("password hashing pool full: attempt refused");
        return Err(AuthError::TooManyAttempts {
            retry_after: BUSY_RETRY_AFTER,
        });
    };
    let _running = pool
        .running
        .acquire()
        .await
        .map_err(|_| AuthError::Internal("hashing pool closed".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AuthError::Internal(format!("hash task: {e}")))
}

/// Hashes `password` with a fresh random salt.
pub async fn hash_password(password: Zeroizing<String>) -> Result<String, AuthError> {
    let len = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
        return Err(AuthError::WeakPassword {
            min: MIN_PASSWORD_LEN,
            max: MAX_PASSWORD_LEN,
        });
    }
    on_hash_pool(pool(), move || hash_blocking(password.as_bytes())).await?
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
/// is checked against a fixed dummy hash so that the answer takes the same time. Refused
/// (`TooManyAttempts`) when the hashing pool is full.
pub async fn verify_password(
    password: Zeroizing<String>,
    stored: Option<String>,
) -> Result<bool, AuthError> {
    verify_on(pool(), password, stored).await
}

/// [`verify_password`] on a given pool (the process's own, or a test's).
async fn verify_on(
    pool: &HashPool,
    password: Zeroizing<String>,
    stored: Option<String>,
) -> Result<bool, AuthError> {
    if password.len() > MAX_PASSWORD_LEN * 4 {
        return Ok(false);
    }
    // The blocking pool does not inherit the request's span: carry it over, so the warning
    // below keeps the request's correlation id.
    let span = tracing::Span::current();
    let result = on_hash_pool(pool, move || {
        let _request = span.enter();
        VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    match result {
        Err(AuthError::TooManyAttempts { retry_after }) => {
            Err(AuthError::TooManyAttempts { retry_after })
        }
        other => Ok(other.unwrap_or(false)),
    }
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
        assert!(matches!(
            verify_password(
                Zeroizing::new("correct horse battery".into()),
                Some(phc.clone())
            )
            .await,
            Ok(true)
        ));
        assert!(matches!(
            verify_password(Zeroizing::new("wrong horse battery".into()), Some(phc)).await,
            Ok(false)
        ));
        assert!(matches!(
            verify_password(Zeroizing::new("anything at all".into()), None).await,
            Ok(false)
        ));
        assert!(hash_password(Zeroizing::new("short".into())).await.is_err());
    }

    /// A burst of sign-in checks far beyond the pool is refused at once (429), not queued on
    /// the blocking pool; what is admitted still gets its answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_password_checks_is_refused_beyond_the_pool() {
        // A pool of its own: the process's pool is shared with the other tests of this binary,
        // which `cargo test` runs in parallel threads.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let pool: &'static HashPool = Box::leak(Box::new(HashPool::for_cores(cores)));
        let capacity = cores * (1 + QUEUE_PER_CORE);
        let attempts = capacity * 10;
        let checks: Vec<_> = (0..attempts)
            .map(|_| {
                tokio::spawn(verify_on(
                    pool,
                    Zeroizing::new("not the password".into()),
                    None,
                ))
            })
            .collect();
        let mut refused = 0;
        let mut answered = 0;
        for check in checks {
            match check.await {
                Ok(Err(AuthError::TooManyAttempts { .. })) => refused += 1,
                Ok(Ok(false)) => answered += 1,
                other => panic!(
                    "unexpected result {:?}",
                    other.map(|r| r.map_err(|e| e.to_string()))
                ),
            }
        }
        assert!(answered >= 1, "nothing was admitted");
        assert!(
            refused >= attempts - 2 * capacity,
            "{refused} of {attempts} refused with a pool of {capacity}"
        );
    }
}
