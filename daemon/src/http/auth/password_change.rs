//! A user changing their own password (the API and the pages): the current password is checked
//! first (throttled like a sign-in, since a wrong one is a guess), then the new one is hashed
//! and stored with [`Store::replace_password`], which ends every session and revokes every API
//! token of the user in the same transaction. The caller signs in again afterwards.

use zeroize::Zeroizing;

use crate::domain::{AuditAction, AuditObject};
use crate::store::{PasswordReplaced, Store, UserId};

use super::AuthError;
use super::password::{hash_password, verify_password};

/// Replaces `user`'s password after checking `current`; `BadCredentials` when it is wrong (or
/// the user has none), `WeakPassword` when `new` is too short or too long.
pub async fn change_password(
    store: &Store,
    user: UserId,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
    client: Option<std::net::IpAddr>,
) -> Result<PasswordReplaced, AuthError> {
    let email = store.get_user(user).await?.email;
    let attempt = super::session::begin_attempt(&email, client)?;
    let stored = match store.user_with_password_hash(&email).await {
        Ok((_, stored)) => stored,
        Err(e) => {
            attempt.not_tried();
            return Err(e.into());
        }
    };
    let verified = verify_password(current, stored).await;
    super::session::end_attempt(attempt, &verified);
    if !verified? {
        tracing::info!("password change refused: wrong current password");
        return Err(AuthError::BadCredentials);
    }
    let phc = hash_password(new).await?;
    let replaced = store.replace_password(user, Some(&phc)).await?;
    store
        .record_audit(
            Some(user),
            AuditAction::UserSetPassword,
            AuditObject::User,
            Some(user.0),
            None,
        )
        .await?;
    tracing::info!(
        sessions_ended = replaced.sessions_ended,
        tokens_revoked = replaced.tokens_revoked,
        "password changed"
    );
    Ok(replaced)
}
