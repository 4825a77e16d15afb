//! Users and their API tokens.
//!
//! A token is 256 random bits shown to the user once; the store keeps only its SHA-256.
//! A plain (unsalted, fast) hash is right here: the input has full entropy, so there is
//! nothing to brute-force, and a lookup by hash needs a deterministic function.

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use super::tokens::{NewToken, TokenScope};
use super::{Error, Result, Store, TokenId, UserId, col, parse_col};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: UserId,
    /// Lower-cased, trimmed.
    pub email: String,
    pub display_name: Option<String>,
    pub created_at: i64,
}

/// A token row; never contains the token itself.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user: UserId,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// What the token may do.
    pub scope: TokenScope,
    /// Epoch milliseconds after which the token is refused.
    pub expires_at: i64,
}

/// What [`Store::create_token`] returns: the row and the plaintext token, which exists only
/// here (redacted in Debug by `secrecy`).
#[derive(Debug)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: SecretString,
}

/// Prefix that makes a leaked token recognisable by secret scanners.
const TOKEN_PREFIX: &str = "msig_";

pub(crate) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: UserId(col(row, "id")?),
        email: col(row, "email")?,
        display_name: col(row, "display_name")?,
        created_at: col(row, "created_at")?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId(col(row, "id")?),
        user: UserId(col(row, "user_id")?),
        label: col(row, "label")?,
        created_at: col(row, "created_at")?,
        last_used_at: col(row, "last_used_at")?,
        revoked_at: col(row, "revoked_at")?,
        scope: parse_col(row, "scope", "token scope")?,
        // A row from before expiry existed that the migration missed counts as expired.
        expires_at: col::<Option<i64>>(row, "expires_at")?.unwrap_or(0),
    })
}

impl Store {
    /// Creates a user; the e-mail must be new (case-insensitive).
    pub async fn create_user(&self, email: &str, display_name: Option<&str>) -> Result<User> {
        let email = normalise_email(email);
        if email.is_empty() || !email.contains('@') {
            return Err(Error::Invalid {
                what: "email",
                reason: "not an e-mail address".into(),
            });
        }
        let row = sqlx::query(
            "INSERT INTO users (email, display_name, created_at) VALUES ($1, $2, $3) \
             RETURNING id, email, display_name, created_at",
        )
        .bind(&email)
        .bind(display_name)
        .bind(self.now_ms())
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("create user", "user"))?;
        user_from_row(&row)
    }

    /// All active users, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, display_name, created_at FROM users \
             WHERE deleted_at IS NULL ORDER BY id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list users", "user"))?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn get_user(&self, id: UserId) -> Result<User> {
        let row = sqlx::query(
            "SELECT id, email, display_name, created_at FROM users \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get user", "user"))?
        .ok_or(Error::NotFound { what: "user" })?;
        user_from_row(&row)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User> {
        let row = sqlx::query(
            "SELECT id, email, display_name, created_at FROM users \
             WHERE email = $1 AND deleted_at IS NULL",
        )
        .bind(normalise_email(email))
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get user by email", "user"))?
        .ok_or(Error::NotFound { what: "user" })?;
        user_from_row(&row)
    }

    /// Soft-deletes a user and revokes their tokens; purged after the retention period.
    pub async fn soft_delete_user(&self, id: UserId) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE users SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("delete user", "user"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "user" });
        }
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("revoke tokens of deleted user", "token"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit user deletion", "user"))
    }

    /// Issues a new full-scope API token for `user` that lives [`super::tokens::DEFAULT_TOKEN_TTL`].
    /// The plaintext is returned once and never stored.
    pub async fn create_token(&self, user: UserId, label: &str) -> Result<IssuedToken> {
        let expires_at = self
            .now_ms()
            .saturating_add(super::duration_ms(super::tokens::DEFAULT_TOKEN_TTL));
        self.issue_token(
            user,
            &NewToken {
                label,
                scope: TokenScope::Full,
                expires_at,
            },
        )
        .await
    }

    /// Issues a new API token for `user` with the scope and expiry of `new` (the caller has
    /// checked both against what it may grant). The plaintext is returned once and never stored.
    pub async fn issue_token(&self, user: UserId, new: &NewToken<'_>) -> Result<IssuedToken> {
        let mut random = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(random.as_mut()).map_err(|e| Error::Invalid {
            what: "token randomness",
            reason: e.to_string(),
        })?;
        let plaintext = format!("{TOKEN_PREFIX}{}", hex::encode(random.as_ref()));
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, label, created_at, scope, expires_at) \
             SELECT id, $2, $3, $4, $5, $6 FROM users WHERE id = $1 AND deleted_at IS NULL \
             RETURNING id, user_id, label, created_at, last_used_at, revoked_at, scope, expires_at",
        )
        .bind(user.0)
        .bind(hash_token(&plaintext))
        .bind(new.label)
        .bind(self.now_ms())
        .bind(new.scope.as_str())
        .bind(new.expires_at)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("create token", "token"))?
        .ok_or(Error::NotFound { what: "user" })?;
        Ok(IssuedToken {
            token: token_from_row(&row)?,
            secret: SecretString::from(plaintext),
        })
    }

    /// Checks a presented token: returns its row (and records its use) if it is known,
    /// not revoked, not expired and its user is active; otherwise `NotFound`.
    ///
    /// The use is recorded at most once a minute per token: every API request checks its token,
    /// and a write per request would contend with the pipeline's commits for SQLite's one writer.
    pub async fn verify_token(&self, presented: &str) -> Result<ApiToken> {
        const TOUCH_EVERY_MS: i64 = 60_000;
        let row = sqlx::query(
            "SELECT id, user_id, label, created_at, last_used_at, revoked_at, scope, expires_at \
             FROM api_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 \
               AND user_id IN (SELECT id FROM users WHERE deleted_at IS NULL AND disabled_at IS NULL)",
        )
        .bind(hash_token(presented.trim()))
        .bind(self.now_ms())
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("verify token", "token"))?
        .ok_or(Error::NotFound { what: "token" })?;
        let mut token = token_from_row(&row)?;
        let now = self.now_ms();
        if token
            .last_used_at
            .is_none_or(|at| now.saturating_sub(at) >= TOUCH_EVERY_MS)
        {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token.id.0)
                .execute(self.writer())
                .await
                .map_err(Error::db("record token use", "token"))?;
            token.last_used_at = Some(now);
        }
        Ok(token)
    }

    pub async fn list_tokens(&self, user: UserId) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, user_id, label, created_at, last_used_at, revoked_at, scope, expires_at \
             FROM api_tokens WHERE user_id = $1 ORDER BY id",
        )
        .bind(user.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list tokens", "token"))?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token; revoking twice is `NotFound` the second time.
    pub async fn revoke_token(&self, token: TokenId) -> Result<()> {
        self.revoke(token, None).await
    }
}
