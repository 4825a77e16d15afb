//! Browser sessions: sign-in with e-mail and password, the session cookie, sign-out.
//!
//! The cookie `__Host-mailsig_session` (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain) holds
//! 256 random bits; the store keeps only their SHA-256. Each session has its own CSRF
//! synchronizer token, which the pages put into their forms (`csrf_token`) and scripts send as
//! `X-CSRF-Token`; it is derived from the cookie on each request ([`super::csrf_token`]) and never
//! stored.

use crate::domain::{AuditAction, AuditObject};
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::COOKIE;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::store::{Store, StoredSession, UserId};

use super::AuthError;
use super::csrf_token::{self, Purpose};
use super::password::verify_password;

/// The session cookie's name. The `__Host-` prefix makes browsers refuse it unless it is
/// Secure, has `Path=/` and no `Domain`, so a sibling subdomain cannot plant one.
pub const SESSION_COOKIE: &str = "__Host-mailsig_session";
/// How long a session lasts by default.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// A live session, as the pages and the extractor see it.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The session row (not the cookie value).
    pub id: i64,
    pub user: UserId,
    csrf: String,
    pub expires_at: i64,
    /// The sign-in passed a second factor (what `[api] require_second_factor` asks for).
    pub second_factor: bool,
    /// Its user is an org admin (the pages show the "Admin" link; the admin routes check the
    /// role again).
    pub org_admin: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session of row `s`, named by the cookie whose value is `cookie`.
    fn new(s: StoredSession, cookie: &str) -> Self {
        Session {
            id: s.id,
            user: s.user,
            csrf: csrf_token::derive(cookie, Purpose::Session),
            expires_at: s.expires_at,
            second_factor: s.second_factor,
            org_admin: s.org_admin,
        }
    }
}

/// A session just created by a sign-in: send [`NewSession::set_cookie`] with the response.
pub struct NewSession {
    pub session: Session,
    cookie: SecretString,
    max_age: Duration,
}

impl NewSession {
    /// The `Set-Cookie` header value that gives the browser the session.
    pub fn set_cookie(&self) -> HeaderValue {
        let value = format!(
            "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
            self.cookie.expose_secret(),
            self.max_age.as_secs()
        );
        // The value is hex and fixed ASCII: always a valid header value.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }

    /// The cookie value (for tests and clients that keep their own jar).
    pub fn cookie_value(&self) -> &str {
        self.cookie.expose_secret()
    }
}

/// The session's CSRF synchronizer token, for forms (`csrf_token`) and the `X-CSRF-Token` header.
pub fn csrf_token(session: &Session) -> &str {
    &session.csrf
}

/// The `Set-Cookie` value that removes the session cookie from the browser.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-mailsig_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

pub(crate) fn hash_cookie(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

pub(crate) fn random_hex() -> Result<String, AuthError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())
        .map_err(|e| AuthError::Internal(format!("session randomness: {e}")))?;
    Ok(hex::encode(bytes.as_ref()))
}

/// Did a session's sign-in pass a second factor?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    PasswordOnly,
    SecondFactorPassed,
    /// Opened through an OpenID provider, which owns the person's factors: it counts as
    /// passed for `[api] require_second_factor`, which governs password sign-ins.
    IdentityProvider,
}

/// The user whose e-mail and password these are (throttled; a wrong e-mail and a wrong
/// password fail alike).
pub(crate) async fn check_password(
    store: &Store,
    email: &str,
    password: &str,
    client: Option<std::net::IpAddr>,
) -> Result<UserId, AuthError> {
    let attempt = begin_attempt(email, client)?;
    let found = match store.user_with_password_hash(email).await {
        Ok(found) => Some(found),
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            attempt.not_tried();
            return Err(e.into());
        }
    };
    let (user, stored) = match found {
        Some((user, stored)) => (Some(user), stored),
        None => (None, None),
    };
    let verified = verify_password(Zeroizing::new(password.to_owned()), stored)
        .await
        .map(|ok| ok && user.is_some());
    end_attempt(attempt, &verified);
    let ok = verified?;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!("sign-in refused");
        return Err(AuthError::BadCredentials);
    };
    Ok(user.id)
}

/// Opens a session of `ttl` for `user`, whose sign-in just succeeded: accepts the lists shared
/// with them meanwhile and records the sign-in.
pub(crate) async fn open_session(
    store: &Store,
    user: UserId,
    ttl: Duration,
    kind: SessionKind,
) -> Result<NewSession, AuthError> {
    let cookie = random_hex()?;
    let expires_at = store
        .now_ms()
        .saturating_add(crate::store::duration_ms(ttl));
    let stored = store
        .create_session(
            user,
            &hash_cookie(&cookie),
            expires_at,
            kind != SessionKind::PasswordOnly,
        )
        .await?;
    // Lists shared with this address while the user was away become theirs now.
    store.accept_invitations(user).await?;
    store
        .record_audit(
            Some(user),
            AuditAction::SessionSignIn,
            AuditObject::User,
            Some(user.0),
            None,
        )
        .await?;
    Ok(NewSession {
        session: Session::new(stored, &cookie),
        cookie: SecretString::from(cookie),
        max_age: ttl,
    })
}

/// Starts a password attempt on `email` from `client` under the progressive delay of
/// [`super::throttle`], before anything is hashed.
pub(super) fn begin_attempt(
    email: &str,
    client: Option<std::net::IpAddr>,
) -> Result<super::throttle::Attempt<'static>, AuthError> {
    super::throttle::SignInThrottle::global()
        .begin(email, client)
        .map_err(|retry_after| {
            tracing::info!("sign-in attempt delayed");
            AuthError::TooManyAttempts { retry_after }
        })
}

/// Ends a password attempt: a right password or one never checked is refunded.
pub(super) fn end_attempt(
    attempt: super::throttle::Attempt<'static>,
    verified: &Result<bool, AuthError>,
) {
    match verified {
        Ok(true) => attempt.succeeded(),
        Err(AuthError::TooManyAttempts { .. }) => attempt.not_tried(),
        _ => drop(attempt),
    }
}

/// Ends the session; send [`clear_cookie`] with the response.
pub async fn sign_out(store: &Store, session: &Session) -> Result<(), AuthError> {
    store.delete_session(session.id).await?;
    store
        .record_audit(
            Some(session.user),
            AuditAction::SessionSignOut,
            AuditObject::User,
            Some(session.user.0),
            None,
        )
        .await?;
    Ok(())
}

/// The session named by the request's cookie, if it is live.
pub async fn from_headers(
    store: &Store,
    headers: &axum::http::HeaderMap,
) -> Result<Option<Session>, AuthError> {
    let Some(value) = cookie_value(headers, SESSION_COOKIE).map(Zeroizing::new) else {
        return Ok(None);
    };
    match store.session_by_hash(&hash_cookie(&value)).await {
        Ok(s) => Ok(Some(Session::new(s, &value))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Finds one cookie in the `Cookie` headers. Hand-written (a few lines) rather than pulling a
/// cookie crate: only one cookie of ours, with a hex value, is ever read.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}
