//! Invitations to an account (`account_invitations`): an org admin invites an address, the
//! account exists at once without a password, and the invitation's link lets the person set
//! their first password. Only the SHA-256 of the link's token is stored, and the token itself
//! is made when the invitation mail is composed ([`Store::arm_account_invitation`]): no row,
//! outbox payload or log ever holds a usable link. An invitation is used once and expires.

use super::users::hash_token;
use super::{Error, Result, Store, UserId, col};

/// What the invitation mail and the accepting page need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInvitation {
    pub id: i64,
    pub user: UserId,
    pub email: String,
    pub expires_at: i64,
}

impl Store {
    /// Records an invitation of `user` valid until `expires_at`. The stored hash is of a token
    /// nobody holds; the mail gets a fresh one ([`Store::arm_account_invitation`]).
    pub async fn create_account_invitation(
        &self,
        user: UserId,
        placeholder_token: &str,
        expires_at: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO account_invitations (user_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user.0)
        .bind(hash_token(placeholder_token))
        .bind(self.now_ms())
        .bind(expires_at)
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("record account invitation", "invitation"))?;
        col(&row, "id")
    }

    /// Makes `token` the invitation's link (replacing the hash of any earlier one, so only the
    /// newest mail's link works) while it is unused, unexpired and its account active; the
    /// invitation then, else `None` (nothing to send any more).
    pub async fn arm_account_invitation(
        &self,
        id: i64,
        token: &str,
    ) -> Result<Option<AccountInvitation>> {
        let now = self.now_ms();
        let done = sqlx::query(
            "UPDATE account_invitations SET token_hash = $1 \
             WHERE id = $2 AND used_at IS NULL AND expires_at > $3 \
             AND user_id IN (SELECT id FROM users WHERE deleted_at IS NULL AND disabled_at IS NULL)",
        )
        .bind(hash_token(token))
        .bind(id)
        .bind(now)
        .execute(self.writer())
        .await
        .map_err(Error::db("arm account invitation", "invitation"))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.invitation_by_id(id).await
    }

    /// The unused, unexpired invitation whose link carries `token`, of an active account.
    pub async fn account_invitation_by_token(
        &self,
        token: &str,
    ) -> Result<Option<AccountInvitation>> {
        let row = sqlx::query(
            "SELECT i.id, i.user_id, u.email, i.expires_at FROM account_invitations i \
             JOIN users u ON u.id = i.user_id \
             WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 \
             AND u.deleted_at IS NULL AND u.disabled_at IS NULL",
        )
        .bind(hash_token(token))
        .bind(self.now_ms())
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("find account invitation", "invitation"))?;
        row.map(|r| invitation_from_row(&r)).transpose()
    }

    async fn invitation_by_id(&self, id: i64) -> Result<Option<AccountInvitation>> {
        let row = sqlx::query(
            "SELECT i.id, i.user_id, u.email, i.expires_at FROM account_invitations i \
             JOIN users u ON u.id = i.user_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read account invitation", "invitation"))?;
        row.map(|r| invitation_from_row(&r)).transpose()
    }

    /// Uses the invitation: in one transaction it is marked used (only if it still is unused
    /// and unexpired) and the account gets its first password. `false` when the invitation
    /// was used or expired meanwhile, or the account already has a password (nothing changes).
    pub async fn accept_account_invitation(&self, id: i64, phc: &str) -> Result<bool> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE account_invitations SET used_at = $1 \
             WHERE id = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("use account invitation", "invitation"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let user: i64 = col(&row, "user_id")?;
        let set = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND deleted_at IS NULL \
             AND disabled_at IS NULL AND password_hash IS NULL",
        )
        .bind(phc)
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("set first password", "user"))?;
        if set.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit()
            .await
            .map_err(Error::db("commit invitation use", "invitation"))?;
        Ok(true)
    }

    /// Ends the open invitations of `user` (they signed in another way, or left); how many.
    pub async fn close_account_invitations(&self, user: UserId) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE account_invitations SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(user.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("close account invitations", "invitation"))?;
        Ok(done.rows_affected())
    }
}

fn invitation_from_row(row: &sqlx::any::AnyRow) -> Result<AccountInvitation> {
    Ok(AccountInvitation {
        id: col(row, "id")?,
        user: UserId(col(row, "user_id")?),
        email: col(row, "email")?,
        expires_at: col(row, "expires_at")?,
    })
}

/// A fresh link token: 256 random bits in hex.
pub fn new_link_token() -> std::result::Result<String, &'static str> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|_| "no randomness for an invitation link")?;
    Ok(hex::encode(bytes.as_ref()))
}
