//! API token operations scoped to their owner, for the self-service API: a user can only see
//! and revoke their own tokens, and another user's token id is simply "not found".

use super::{Error, Result, Store, TokenId, UserId};

impl Store {
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
