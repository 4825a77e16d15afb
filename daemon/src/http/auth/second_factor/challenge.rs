//! A sign-in between its password step and its second step.
//!
//! The password step of a user with a confirmed factor issues a challenge instead of a session:
//! the cookie `__Host-mailsig_2fa` (256 random bits; Secure, HttpOnly, SameSite=Strict, five
//! minutes) names it, the store keeps only its SHA-256, and the form of the second step carries
//! the challenge's own CSRF token, derived from the cookie ([`crate::http::auth::csrf_token`]) and
//! never stored. [`complete`] counts every code tried against the challenge
//! ([`MAX_ATTEMPTS`], then it is gone and the password must be entered again) and, on success,
//! ends the challenge and opens a session marked as having passed the second factor.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::{SecondFactorError, verify};
use crate::http::auth::csrf_token::{self, Purpose};
use crate::http::auth::session::{
    NewSession, SessionKind, cookie_value, hash_cookie, open_session,
};
use crate::http::auth::{AuthError, same_token};
use crate::store::{Store, StoredChallenge, UserId};
use crate::vault::Vault;

/// The challenge cookie's name (`__Host-`: Secure, `Path=/`, no `Domain`).
pub const CHALLENGE_COOKIE: &str = "__Host-mailsig_2fa";
/// How long the second step may take.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Codes tried per challenge before the password is asked again.
pub const MAX_ATTEMPTS: i64 = 5;

/// A challenge just issued: send [`Challenge::set_cookie`] and go to the second step's form.
pub struct Challenge {
    cookie: SecretString,
}

impl Challenge {
    pub fn set_cookie(&self) -> HeaderValue {
        let value = format!(
            "{CHALLENGE_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
            self.cookie.expose_secret(),
            CHALLENGE_TTL.as_secs()
        );
        // Hex and fixed ASCII: always a valid header value.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }

    /// The cookie value (for clients that keep their own jar).
    pub fn cookie_value(&self) -> &str {
        self.cookie.expose_secret()
    }
}

/// The `Set-Cookie` value that removes the challenge cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-mailsig_2fa=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

fn random_hex() -> Result<String, AuthError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())
        .map_err(|e| AuthError::Internal(format!("challenge randomness: {e}")))?;
    Ok(hex::encode(bytes.as_ref()))
}

/// Issues a challenge for `user`, whose password was just checked.
pub async fn issue(store: &Store, user: UserId) -> Result<Challenge, AuthError> {
    // Expired challenges go here rather than in a loop of their own: they are few.
    store.purge_expired_sign_in_challenges().await?;
    let cookie = random_hex()?;
    let expires_at = store
        .now_ms()
        .saturating_add(crate::store::duration_ms(CHALLENGE_TTL));
    store
        .create_sign_in_challenge(user, &hash_cookie(&cookie), expires_at)
        .await?;
    Ok(Challenge {
        cookie: SecretString::from(cookie),
    })
}

/// A live challenge, as the request's cookie names it.
pub struct LiveChallenge {
    pub challenge: StoredChallenge,
    csrf: String,
}

impl LiveChallenge {
    /// The CSRF token the second step's form carries.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// The live challenge named by the request's cookie, if any.
pub async fn from_headers(
    store: &Store,
    headers: &HeaderMap,
) -> Result<Option<LiveChallenge>, AuthError> {
    let Some(value) = cookie_value(headers, CHALLENGE_COOKIE).map(Zeroizing::new) else {
        return Ok(None);
    };
    match store.sign_in_challenge(&hash_cookie(&value)).await {
        Ok(challenge) => Ok(Some(LiveChallenge {
            challenge,
            csrf: csrf_token::derive(&value, Purpose::SecondFactorChallenge),
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How the second step ended, when it did not open a session.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// No live challenge, or the form's token does not match it: start again with the password.
    #[error("the sign-in expired; enter your password again")]
    Expired,
    /// A wrong code; `left` more may be tried on this challenge.
    #[error("the code is wrong or was already used")]
    WrongCode { left: i64 },
    /// The last allowed code was wrong: the challenge is gone.
    #[error("too many wrong codes; enter your password again")]
    UsedUp,
    #[error("too many codes tried; try again in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<SecondFactorError> for StepError {
    fn from(e: SecondFactorError) -> Self {
        match e {
            SecondFactorError::TooManyAttempts { retry_after } => {
                StepError::TooManyAttempts { retry_after }
            }
            // The factor was removed meanwhile (an admin reset): start again.
            SecondFactorError::WrongState => StepError::Expired,
            SecondFactorError::WrongCode => StepError::WrongCode { left: 0 },
            SecondFactorError::Store(e) => StepError::Auth(e.into()),
            SecondFactorError::Internal(m) => StepError::Auth(AuthError::Internal(m)),
        }
    }
}

/// Checks `code` for the request's challenge (and the form's `csrf`), then opens a session.
pub async fn complete(
    store: &Store,
    vault: &Vault,
    headers: &HeaderMap,
    csrf: Option<&str>,
    code: &str,
    ttl: Duration,
) -> Result<NewSession, StepError> {
    let live = from_headers(store, headers)
        .await?
        .ok_or(StepError::Expired)?;
    if !csrf.is_some_and(|c| same_token(c, live.csrf_token())) {
        return Err(StepError::Expired);
    }
    let challenge = live.challenge;
    if !store
        .count_challenge_attempt(challenge.id, MAX_ATTEMPTS)
        .await
        .map_err(AuthError::from)?
    {
        store
            .delete_sign_in_challenge(challenge.id)
            .await
            .map_err(AuthError::from)?;
        return Err(StepError::UsedUp);
    }
    match verify(store, vault, challenge.user, code).await {
        Ok(_) => {
            store
                .delete_sign_in_challenge(challenge.id)
                .await
                .map_err(AuthError::from)?;
            Ok(open_session(store, challenge.user, ttl, SessionKind::SecondFactorPassed).await?)
        }
        Err(SecondFactorError::WrongCode) => {
            let left = MAX_ATTEMPTS - challenge.attempts - 1;
            if left <= 0 {
                store
                    .delete_sign_in_challenge(challenge.id)
                    .await
                    .map_err(AuthError::from)?;
                return Err(StepError::UsedUp);
            }
            Err(StepError::WrongCode { left })
        }
        Err(e) => Err(e.into()),
    }
}
