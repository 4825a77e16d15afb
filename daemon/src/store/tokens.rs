//! API token scopes and lifetimes, and the token operations scoped to their owner: a user can
//! only see and revoke their own tokens, and another user's token id is simply "not found".
//!
//! Every token has a scope and an expiry, both fixed when it is issued. The scopes are ordered
//! (`read < write < full`) so that "may this token grant that" is one comparison, and a
//! password change ends every session and revokes every token in one transaction
//! ([`Store::replace_password`]), whichever path changed it.

use std::time::Duration;

use super::{Error, Result, Store, TokenId, UserId};
use crate::domain::text_enum;

text_enum! {
    /// What an API token may do. Ordered: `Read < Write < Full`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum TokenScope("token scope") {
        /// Safe methods only (GET, HEAD, OPTIONS).
        Read => "read",
        /// Every change of the user's own data, but no tokens and no password.
        Write => "write",
        /// Everything the user may do, including issuing and revoking tokens and changing the
        /// password. A browser session counts as full.
        Full => "full",
    }
    unknown(s) => format!("{s:?} is not read, write or full");
    impl Display;
}

/// Lifetime of a token issued without one (`[api] token_ttl`'s default).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// The longest lifetime a token may be issued with (`[api] token_max_ttl`'s default).
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a new token is issued with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewToken<'a> {
    pub label: &'a str,
    pub scope: TokenScope,
    /// Epoch milliseconds.
    pub expires_at: i64,
}

/// What a password change ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordReplaced {
    pub sessions_ended: u64,
    pub tokens_revoked: u64,
}

impl Store {
    /// Sets (or with `None`, removes) a user's sign-in password hash and, in the same
    /// transaction, ends all their sessions and revokes all their API tokens: whoever knew the
    /// old password may have signed in or minted tokens with it. The one way a password
    /// changes, for the CLI, the API and the pages.
    pub async fn replace_password(
        &self,
        user: UserId,
        phc: Option<&str>,
    ) -> Result<PasswordReplaced> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(phc)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("set password hash", "user"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "user" });
        }
        let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("end sessions of user", "session"))?;
        let tokens = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("revoke tokens of user", "token"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit password change", "user"))?;
        Ok(PasswordReplaced {
            sessions_ended: sessions.rows_affected(),
            tokens_revoked: tokens.rows_affected(),
        })
    }

    /// Revokes `token` if it belongs to `user` and is not yet revoked; otherwise `NotFound`.
    pub async fn revoke_token_of(&self, user: UserId, token: TokenId) -> Result<()> {
        self.revoke(token, Some(user)).await
    }

    /// Revokes every live token of `user` (after a password change: whoever knew the old
    /// password may have minted some); returns how many.
    pub async fn revoke_tokens_of(&self, user: UserId) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(user.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("revoke tokens of user", "token"))?;
        Ok(done.rows_affected())
    }

    /// Revokes `token` if it is not yet revoked (and, with `owner`, belongs to them); otherwise
    /// `NotFound`. The one place a token is revoked, for the operator's and the owner's paths.
    pub(super) async fn revoke(&self, token: TokenId, owner: Option<UserId>) -> Result<()> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE id = $2 AND ($3 IS NULL OR user_id = $3) AND revoked_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(token.0)
        .bind(owner.map(|user| user.0))
        .execute(self.writer())
        .await
        .map_err(Error::db("revoke token", "token"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "token" });
        }
        Ok(())
    }
}
