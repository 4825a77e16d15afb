//! Signing in with e-mail and password: the password step ([`session::check_password`]), then
//! either a session at once or, for a user with a second factor, a challenge that the second step
//! (`second_factor::challenge`) turns into a session. Kept apart from `session` (cookies and
//! session rows), which the second factor itself builds on.

use std::time::Duration;

use crate::store::Store;

use super::AuthError;
use super::second_factor::challenge::{self, Challenge};
use super::session::{DEFAULT_SESSION_TTL, NewSession, SessionKind, check_password, open_session};

/// Checks the e-mail and password and opens a session of `ttl`. A wrong e-mail and a wrong
/// password fail the same way, in about the same time.
pub async fn sign_in_for(
    store: &Store,
    email: &str,
    password: &str,
    ttl: Duration,
) -> Result<NewSession, AuthError> {
    sign_in_from(store, email, password, ttl, None).await
}

/// What a correct password leads to.
pub enum PasswordSignIn {
    /// Signed in (the user has no second factor).
    Session(NewSession),
    /// The user has a second factor: the sign-in goes on at its form with this challenge.
    SecondFactor(Challenge),
}

/// [`sign_in_for`] from the client address `client`: attempts are counted per e-mail address
/// *and* source (IPv6 per /64), so guessing from one source is throttled without locking the
/// account's owner out from theirs. A user with a second factor gets
/// [`AuthError::SecondFactorRequired`]: pages use [`sign_in_with_password`] instead.
pub async fn sign_in_from(
    store: &Store,
    email: &str,
    password: &str,
    ttl: Duration,
    client: Option<std::net::IpAddr>,
) -> Result<NewSession, AuthError> {
    match sign_in_with_password(store, email, password, ttl, client).await? {
        PasswordSignIn::Session(new) => Ok(new),
        PasswordSignIn::SecondFactor(_) => Err(AuthError::SecondFactorRequired),
    }
}

/// Checks the e-mail and password (throttled as [`sign_in_from`] says); opens a session, or a
/// second-factor challenge when the user has a confirmed factor.
pub async fn sign_in_with_password(
    store: &Store,
    email: &str,
    password: &str,
    ttl: Duration,
    client: Option<std::net::IpAddr>,
) -> Result<PasswordSignIn, AuthError> {
    let user = check_password(store, email, password, client).await?;
    if super::second_factor::is_required_for(store, user).await? {
        return Ok(PasswordSignIn::SecondFactor(
            challenge::issue(store, user).await?,
        ));
    }
    Ok(PasswordSignIn::Session(
        open_session(store, user, ttl, SessionKind::PasswordOnly).await?,
    ))
}

/// [`sign_in_for`] with the default lifetime.
pub async fn sign_in(store: &Store, email: &str, password: &str) -> Result<NewSession, AuthError> {
    sign_in_for(store, email, password, DEFAULT_SESSION_TTL).await
}
