//! The second factor of password accounts: TOTP (RFC 6238) with one-time recovery codes.
//!
//! Enrolment: [`start_enrolment`] seals a fresh secret in the vault (pending), the page shows
//! it as a QR code and as a typed key ([`pending_enrolment`]), and [`confirm_enrolment`] turns
//! it on once the user enters a code from their app, handing back ten recovery codes to show
//! once (only their hashes are kept). [`disable`] needs a current code.
//!
//! Sign-in: after the password, a user with a confirmed factor gets no session but a
//! [`challenge`]: a short-lived cookie and a form asking for a code. [`verify`] accepts a TOTP
//! code for a step newer than any accepted before (a code works once) or an unused recovery
//! code (spent on use). Guessing is throttled twice: per user (a token bucket, whatever the
//! challenge) and per challenge ([`challenge::MAX_ATTEMPTS`], then the password again).
//! Failures are audited without the code.

pub mod challenge;
pub mod qr;
pub mod recovery;
pub mod totp;

use std::time::Duration;

use zeroize::Zeroizing;

use crate::domain::{AuditAction, AuditObject};
use crate::store::{SecretId, Store, UserId};
use crate::vault::{SealedSecret, Vault};

use recovery::RecoveryCodes;
use totp::TotpKey;

/// Why a second-factor step failed. The texts are fixed: no code, secret or store text.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("the code is wrong or was already used")]
    WrongCode,
    #[error("too many codes tried; try again in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    /// No factor (or no pending one, for a confirmation); already one, for a new enrolment.
    #[error("no two-step verification in that state")]
    WrongState,
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Which kind of code passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passed {
    Totp,
    RecoveryCode,
}

/// What a pending enrolment shows: the QR code (inline SVG) and the key to type by hand.
pub struct Enrolment {
    pub qr_svg: String,
    pub manual_key: Zeroizing<String>,
}

/// The user's second-factor state, for the account page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Off,
    Pending,
    On { unused_recovery_codes: i64 },
}

/// Code attempts per user: a burst of [`CODE_BURST`], then one every 12 seconds.
pub const CODE_BURST: u32 = 10;

fn attempt_allowed(user: UserId) -> Result<(), SecondFactorError> {
    use governor::clock::Clock as _;
    use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
    static LIMITER: std::sync::OnceLock<DefaultKeyedRateLimiter<i64>> = std::sync::OnceLock::new();
    let limiter = LIMITER.get_or_init(|| {
        let burst = std::num::NonZeroU32::new(CODE_BURST).unwrap_or(std::num::NonZeroU32::MIN);
        let per_minute = std::num::NonZeroU32::new(5).unwrap_or(std::num::NonZeroU32::MIN);
        RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
    });
    if limiter.len() > 10_000 {
        limiter.retain_recent();
    }
    limiter
        .check_key(&user.0)
        .map_err(|not_until| SecondFactorError::TooManyAttempts {
            retry_after: not_until.wait_time_from(limiter.clock().now()),
        })
}

fn unix_seconds(store: &Store) -> u64 {
    u64::try_from(store.now_ms().div_euclid(1000)).unwrap_or(0)
}

async fn open_key(
    store: &Store,
    vault: &Vault,
    secret: SecretId,
) -> Result<TotpKey, SecondFactorError> {
    let stored = store.get_secret(secret).await?;
    let bytes = vault
        .open(
            &crate::vault::Binding::secret(crate::store::SecretKind::TotpSecret, secret),
            &SealedSecret::from_bytes(stored.sealed),
        )
        .map_err(|_| SecondFactorError::Internal("open the totp secret".into()))?;
    Ok(TotpKey::from_bytes(bytes))
}

/// The user's state: off, waiting for the first code, or on.
pub async fn status(store: &Store, user: UserId) -> Result<Status, SecondFactorError> {
    match store.second_factor(user).await {
        Ok(factor) if factor.confirmed => Ok(Status::On {
            unused_recovery_codes: store.unused_recovery_codes(user).await?,
        }),
        Ok(_) => Ok(Status::Pending),
        Err(e) if e.is_not_found() => Ok(Status::Off),
        Err(e) => Err(e.into()),
    }
}

/// Does the user have to pass a second factor at sign-in?
pub async fn is_required_for(store: &Store, user: UserId) -> Result<bool, SecondFactorError> {
    Ok(matches!(status(store, user).await?, Status::On { .. }))
}

/// Starts (or restarts) enrolment with a fresh secret; `WrongState` when a factor is on.
pub async fn start_enrolment(
    store: &Store,
    vault: &Vault,
    user: UserId,
) -> Result<(), SecondFactorError> {
    let key = TotpKey::generate()?;
    let key_version = store.current_key_version().await?;
    let seal = |id| {
        vault
            .seal(
                &crate::vault::Binding::secret(crate::store::SecretKind::TotpSecret, id),
                key.as_bytes(),
            )
            .map(SealedSecret::into_bytes)
            .map_err(|_| crate::store::Error::Invalid {
                what: "totp secret",
                reason: "could not be sealed".to_owned(),
            })
    };
    match store.begin_second_factor(user, key_version, seal).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_conflict() => Err(SecondFactorError::WrongState),
        Err(e) => Err(e.into()),
    }
}

/// The pending enrolment's QR code and key (`None` when none is pending).
pub async fn pending_enrolment(
    store: &Store,
    vault: &Vault,
    user: UserId,
    account: &str,
) -> Result<Option<Enrolment>, SecondFactorError> {
    let factor = match store.second_factor(user).await {
        Ok(factor) if !factor.confirmed => factor,
        Ok(_) => return Ok(None),
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let key = open_key(store, vault, factor.secret).await?;
    let url = key.otpauth_url(account)?;
    Ok(Some(Enrolment {
        qr_svg: qr::svg(&url, "QR code of the key below, for an authenticator app")?,
        manual_key: key.manual_key(),
    }))
}

/// Turns the pending factor on with the first code from the app; returns the recovery codes to
/// show once. `session`: the session doing it, which counts as having passed the factor.
pub async fn confirm_enrolment(
    store: &Store,
    vault: &Vault,
    user: UserId,
    code: &str,
    session: Option<i64>,
) -> Result<RecoveryCodes, SecondFactorError> {
    attempt_allowed(user)?;
    let factor = match store.second_factor(user).await {
        Ok(factor) if !factor.confirmed => factor,
        Ok(_) => return Err(SecondFactorError::WrongState),
        Err(e) if e.is_not_found() => return Err(SecondFactorError::WrongState),
        Err(e) => return Err(e.into()),
    };
    let key = open_key(store, vault, factor.secret).await?;
    let Some(step) = key.matching_step(code, unix_seconds(store)) else {
        return Err(SecondFactorError::WrongCode);
    };
    let codes = RecoveryCodes::generate()?;
    match store
        .confirm_second_factor(user, step, &codes.hashes())
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return Err(SecondFactorError::WrongState),
        Err(e) => return Err(e.into()),
    }
    if let Some(session) = session {
        store.mark_session_second_factor(session).await?;
    }
    store
        .record_audit(
            Some(user),
            AuditAction::SecondFactorEnable,
            AuditObject::User,
            Some(user.0),
            None,
        )
        .await?;
    Ok(codes)
}

/// Checks a code of a user with a confirmed factor: a TOTP code (once per step) or an unused
/// recovery code (spent). Throttled per user; a failure is audited.
pub async fn verify(
    store: &Store,
    vault: &Vault,
    user: UserId,
    code: &str,
) -> Result<Passed, SecondFactorError> {
    attempt_allowed(user)?;
    let factor = match store.second_factor(user).await {
        Ok(factor) if factor.confirmed => factor,
        Ok(_) => return Err(SecondFactorError::WrongState),
        Err(e) if e.is_not_found() => return Err(SecondFactorError::WrongState),
        Err(e) => return Err(e.into()),
    };
    let passed = if recovery::looks_like_recovery_code(code) {
        match recovery::hash(code) {
            Some(hash) if store.use_recovery_code(user, &hash).await? => Some(Passed::RecoveryCode),
            _ => None,
        }
    } else {
        let key = open_key(store, vault, factor.secret).await?;
        match key.matching_step(code, unix_seconds(store)) {
            Some(step) if store.accept_second_factor_step(user, step).await? => Some(Passed::Totp),
            _ => None,
        }
    };
    match passed {
        Some(Passed::RecoveryCode) => {
            store
                .record_audit(
                    Some(user),
                    AuditAction::SessionRecoveryCodeUsed,
                    AuditObject::User,
                    Some(user.0),
                    None,
                )
                .await?;
            Ok(Passed::RecoveryCode)
        }
        Some(Passed::Totp) => Ok(Passed::Totp),
        None => {
            tracing::info!("second factor refused");
            store
                .record_audit(
                    Some(user),
                    AuditAction::SessionSecondFactorRefused,
                    AuditObject::User,
                    Some(user.0),
                    None,
                )
                .await?;
            Err(SecondFactorError::WrongCode)
        }
    }
}

/// Turns the factor off after checking a current code (or a recovery code); the secret is
/// wiped, the recovery codes deleted.
pub async fn disable(
    store: &Store,
    vault: &Vault,
    user: UserId,
    code: &str,
) -> Result<(), SecondFactorError> {
    verify(store, vault, user, code).await?;
    store.remove_second_factor(user).await?;
    store
        .record_audit(
            Some(user),
            AuditAction::SecondFactorDisable,
            AuditObject::User,
            Some(user.0),
            None,
        )
        .await?;
    Ok(())
}

/// Abandons a pending enrolment (its secret is wiped). A confirmed factor stays.
pub async fn cancel_enrolment(store: &Store, user: UserId) -> Result<(), SecondFactorError> {
    match store.second_factor(user).await {
        Ok(factor) if !factor.confirmed => {
            store.remove_second_factor(user).await?;
            Ok(())
        }
        Ok(_) => Err(SecondFactorError::WrongState),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A sign-in in one request (the API): e-mail, password and, for a user with a factor, its
/// code. Without a factor the code is not needed (and not checked).
pub async fn sign_in_with_code(
    store: &Store,
    vault: &Vault,
    email: &str,
    password: &str,
    code: Option<&str>,
    ttl: Duration,
    client: Option<std::net::IpAddr>,
) -> Result<super::NewSession, super::AuthError> {
    use super::session::{SessionKind, check_password, open_session};
    let user = check_password(store, email, password, client).await?;
    let kind = if is_required_for(store, user).await? {
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or(super::AuthError::SecondFactorRequired)?;
        verify(store, vault, user, code).await?;
        SessionKind::SecondFactorPassed
    } else {
        SessionKind::PasswordOnly
    };
    open_session(store, user, ttl, kind).await
}
