//! The second factor of password accounts as stored: the user's TOTP secret (a vault record of
//! kind `totp_secret`, referenced by id), its enrolment state and the last accepted time step,
//! the hashes of one-time recovery codes, and the challenges of sign-ins waiting for their
//! second step.
//!
//! The store never sees a TOTP secret in the clear, a code, a recovery code or a challenge
//! cookie: only vault ciphertext and SHA-256 hashes. Accepting a code is one conditional
//! `UPDATE` (the step must be newer than the last one accepted; the recovery code must be
//! unused), so two requests racing with the same code cannot both pass.

use sqlx::any::AnyRow;

use super::{Error, Result, SecretId, SecretKind, Store, UserId, col};

/// A user's TOTP factor: `confirmed` once the first code was entered (only then is it asked for
/// at sign-in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredSecondFactor {
    pub user: UserId,
    pub secret: SecretId,
    pub confirmed: bool,
    /// The highest 30-second step a code was accepted for.
    pub last_step: i64,
}

/// A sign-in between its password and its second step (its form's CSRF token is derived from
/// the challenge cookie, never stored).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredChallenge {
    pub id: i64,
    pub user: UserId,
    pub attempts: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for StoredChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredChallenge")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

fn factor_from_row(row: &AnyRow) -> Result<StoredSecondFactor> {
    let confirmed_at: Option<i64> = col(row, "confirmed_at")?;
    Ok(StoredSecondFactor {
        user: UserId(col(row, "user_id")?),
        secret: SecretId(col(row, "secret_id")?),
        confirmed: confirmed_at.is_some(),
        last_step: col(row, "last_step")?,
    })
}

fn challenge_from_row(row: &AnyRow) -> Result<StoredChallenge> {
    Ok(StoredChallenge {
        id: col(row, "id")?,
        user: UserId(col(row, "user_id")?),
        attempts: col(row, "attempts")?,
        expires_at: col(row, "expires_at")?,
    })
}

impl Store {
    /// The user's TOTP factor, confirmed or still being enrolled; `NotFound` when none.
    pub async fn second_factor(&self, user: UserId) -> Result<StoredSecondFactor> {
        let row = sqlx::query(
            "SELECT user_id, secret_id, confirmed_at, last_step FROM second_factors \
             WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get second factor", "second factor"))?
        .ok_or(Error::NotFound {
            what: "second factor",
        })?;
        factor_from_row(&row)
    }

    /// Starts (or restarts) enrolment with a freshly sealed secret: an unconfirmed factor of the
    /// user is replaced, its secret wiped. `Conflict` when the user already has a confirmed one.
    pub async fn begin_second_factor(
        &self,
        user: UserId,
        key_version: i64,
        seal: impl FnOnce(SecretId) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(
            "SELECT user_id, secret_id, confirmed_at, last_step FROM second_factors \
             WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("get second factor", "second factor"))?;
        if let Some(row) = existing {
            let old = factor_from_row(&row)?;
            if old.confirmed {
                return Err(Error::Conflict {
                    what: "second factor",
                });
            }
            sqlx::query("DELETE FROM second_factors WHERE user_id = $1")
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("replace pending second factor", "second factor"))?;
            sqlx::query("DELETE FROM secrets WHERE id = $1")
                .bind(old.secret.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("wipe pending second factor secret", "secret"))?;
        }
        let secret: i64 = sqlx::query(
            "INSERT INTO secrets (kind, sealed, key_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(SecretKind::TotpSecret.as_str())
        .bind(Vec::<u8>::new())
        .bind(key_version)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::db("store second factor secret", "secret"))
        .and_then(|row| col(&row, "id"))?;
        // Sealed for its own row, which exists only now (see `secrets`).
        let sealed = seal(SecretId(secret))?;
        super::secrets::set_sealed(&mut tx, SecretId(secret), sealed).await?;
        sqlx::query(
            "INSERT INTO second_factors (user_id, secret_id, created_at) \
             SELECT id, $2, $3 FROM users WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user.0)
        .bind(secret)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("begin second factor", "second factor"))
        .and_then(|done| {
            if done.rows_affected() == 1 {
                Ok(())
            } else {
                Err(Error::NotFound { what: "user" })
            }
        })?;
        tx.commit()
            .await
            .map_err(Error::db("commit second factor enrolment", "second factor"))
    }

    /// Confirms a pending factor with the step of its first code and stores the hashes of the
    /// user's recovery codes (replacing any earlier ones), in one transaction. `NotFound` when
    /// there is no pending factor (none, or already confirmed).
    pub async fn confirm_second_factor(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE second_factors SET confirmed_at = $1, last_step = $2 \
             WHERE user_id = $3 AND confirmed_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(step)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("confirm second factor", "second factor"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "pending second factor",
            });
        }
        replace_recovery_codes(&mut tx, user, recovery_hashes).await?;
        tx.commit()
            .await
            .map_err(Error::db("commit second factor", "second factor"))
    }

    /// Accepts a code's time step if it is newer than every step accepted before (each code
    /// works once). `false`: replayed, or no confirmed factor.
    pub async fn accept_second_factor_step(&self, user: UserId, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE second_factors SET last_step = $1 \
             WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(user.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("accept second factor code", "second factor"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends one unused recovery code of the user, by hash. `false`: unknown or already used.
    pub async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(user.0)
        .bind(code_hash)
        .execute(self.writer())
        .await
        .map_err(Error::db("use recovery code", "recovery code"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the user's recovery codes with new hashes (the old ones stop working).
    pub async fn replace_recovery_codes(&self, user: UserId, hashes: &[String]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        replace_recovery_codes(&mut tx, user, hashes).await?;
        tx.commit()
            .await
            .map_err(Error::db("commit recovery codes", "recovery code"))
    }

    /// How many recovery codes of the user are still unused.
    pub async fn unused_recovery_codes(&self, user: UserId) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.0)
        .fetch_one(self.reader())
        .await
        .map_err(Error::db("count recovery codes", "recovery code"))?;
        col(&row, "n")
    }

    /// Removes the user's factor (confirmed or pending): the sealed secret is wiped, the recovery
    /// codes and open challenges go with it. `false` when there was none.
    pub async fn remove_second_factor(&self, user: UserId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT secret_id FROM second_factors WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::db("get second factor", "second factor"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let secret: i64 = col(&row, "secret_id")?;
        for (sql, what) in [
            (
                "DELETE FROM second_factors WHERE user_id = $1",
                "second factor",
            ),
            (
                "DELETE FROM recovery_codes WHERE user_id = $1",
                "recovery code",
            ),
            (
                "DELETE FROM sign_in_challenges WHERE user_id = $1",
                "sign-in challenge",
            ),
        ] {
            sqlx::query(sql)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("remove second factor", what))?;
        }
        sqlx::query("DELETE FROM secrets WHERE id = $1")
            .bind(secret)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("wipe second factor secret", "secret"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit second factor removal", "second factor"))?;
        Ok(true)
    }

    /// The key version new vault records are sealed under (the newest in use; 1 when none).
    pub async fn current_key_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT MAX(key_version) AS v FROM secrets")
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("read key version", "secret"))?;
        let version: Option<i64> = col(&row, "v")?;
        Ok(version.unwrap_or(1))
    }

    /// Stores a sign-in challenge under the hash of its cookie value.
    pub async fn create_sign_in_challenge(
        &self,
        user: UserId,
        id_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sign_in_challenges (id_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(id_hash)
        .bind(user.0)
        .bind(expires_at)
        .execute(self.writer())
        .await
        .map_err(Error::db("create sign-in challenge", "sign-in challenge"))?;
        Ok(())
    }

    /// The unexpired challenge with this cookie hash whose user is still active.
    pub async fn sign_in_challenge(&self, id_hash: &str) -> Result<StoredChallenge> {
        let row = sqlx::query(
            "SELECT c.id, c.user_id, c.attempts, c.expires_at \
             FROM sign_in_challenges c JOIN users u ON u.id = c.user_id \
             WHERE c.id_hash = $1 AND c.expires_at > $2 AND u.deleted_at IS NULL",
        )
        .bind(id_hash)
        .bind(self.now_ms())
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get sign-in challenge", "sign-in challenge"))?
        .ok_or(Error::NotFound {
            what: "sign-in challenge",
        })?;
        challenge_from_row(&row)
    }

    /// Counts one code tried on the challenge, if fewer than `max` were tried; `false` when the
    /// challenge is used up (or gone).
    pub async fn count_challenge_attempt(&self, id: i64, max: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sign_in_challenges SET attempts = attempts + 1 \
             WHERE id = $1 AND attempts < $2",
        )
        .bind(id)
        .bind(max)
        .execute(self.writer())
        .await
        .map_err(Error::db("count sign-in attempt", "sign-in challenge"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a challenge (passed, used up or abandoned). Unknown ids are not an error.
    pub async fn delete_sign_in_challenge(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_challenges WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(Error::db("delete sign-in challenge", "sign-in challenge"))?;
        Ok(())
    }

    /// Removes expired challenges; returns how many.
    pub async fn purge_expired_sign_in_challenges(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sign_in_challenges WHERE expires_at <= $1")
            .bind(self.now_ms())
            .execute(self.writer())
            .await
            .map_err(Error::db("purge sign-in challenges", "sign-in challenge"))?;
        Ok(done.rows_affected())
    }
}

async fn replace_recovery_codes(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: UserId,
    hashes: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut **tx)
        .await
        .map_err(Error::db("replace recovery codes", "recovery code"))?;
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user.0)
            .bind(hash)
            .execute(&mut **tx)
            .await
            .map_err(Error::db("store recovery code", "recovery code"))?;
    }
    Ok(())
}
