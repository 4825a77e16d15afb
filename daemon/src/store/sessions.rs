//! Sign-in passwords and browser sessions.
//!
//! The store only ever sees an argon2id PHC string (hashed by `http::auth::password`) and the
//! SHA-256 of a session cookie (the cookie is 256 random bits, so a fast hash is enough and a
//! lookup needs a deterministic one). It never sees a password, a cookie value or a CSRF token
//! (derived from the cookie by `http::auth::csrf_token`).

use sqlx::any::AnyRow;

use super::{Error, Result, Store, User, UserId, col};

/// A live session row.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id: i64,
    pub user: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    /// The sign-in passed a second factor (see `[api] require_second_factor`).
    pub second_factor: bool,
    /// The user is an org admin now (read with the session, for the pages' navigation; the
    /// admin routes check the role again themselves).
    pub org_admin: bool,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn session_from_row(row: &AnyRow) -> Result<StoredSession> {
    Ok(StoredSession {
        id: col(row, "id")?,
        user: UserId(col(row, "user_id")?),
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        second_factor: col::<i64>(row, "second_factor")? != 0,
        org_admin: col::<i64>(row, "org_admin")? != 0,
    })
}

impl Store {
    /// Gives a user who has no password yet their first one. Changing an existing password
    /// goes through [`Store::replace_password`], which also ends sessions and revokes tokens;
    /// here there is nothing to end, and a user who already has a password is `NotFound`.
    pub async fn set_first_password_hash(&self, user: UserId, phc: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1 \
             WHERE id = $2 AND deleted_at IS NULL AND password_hash IS NULL",
        )
        .bind(phc)
        .bind(user.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("set first password hash", "user"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "user without a password",
            });
        }
        Ok(())
    }

    /// The active user with this e-mail and their password hash (`None` when they have none).
    pub async fn user_with_password_hash(&self, email: &str) -> Result<(User, Option<String>)> {
        let row = sqlx::query(
            "SELECT id, email, display_name, created_at, password_hash FROM users \
             WHERE email = $1 AND deleted_at IS NULL AND disabled_at IS NULL",
        )
        .bind(super::users::normalise_email(email))
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get user for sign-in", "user"))?
        .ok_or(Error::NotFound { what: "user" })?;
        let user = User {
            id: UserId(col(&row, "id")?),
            email: col(&row, "email")?,
            display_name: col(&row, "display_name")?,
            created_at: col(&row, "created_at")?,
        };
        Ok((user, col(&row, "password_hash")?))
    }

    /// Stores a new session under the hash of its cookie value.
    pub async fn create_session(
        &self,
        user: UserId,
        id_hash: &str,
        expires_at: i64,
        second_factor: bool,
    ) -> Result<StoredSession> {
        let row = sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, second_factor) \
             SELECT $1, id, $3, $4, $5 FROM users \
             WHERE id = $2 AND deleted_at IS NULL AND disabled_at IS NULL \
             RETURNING id, user_id, created_at, expires_at, second_factor, \
               (SELECT CASE WHEN u.org_role = 'admin' THEN 1 ELSE 0 END \
                  FROM users u WHERE u.id = user_id) AS org_admin",
        )
        .bind(id_hash)
        .bind(user.0)
        .bind(self.now_ms())
        .bind(expires_at)
        .bind(i64::from(second_factor))
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("create session", "session"))?
        .ok_or(Error::NotFound { what: "user" })?;
        session_from_row(&row)
    }

    /// The unexpired session with this cookie hash whose user is still active.
    pub async fn session_by_hash(&self, id_hash: &str) -> Result<StoredSession> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.second_factor, \
               CASE WHEN u.org_role = 'admin' THEN 1 ELSE 0 END AS org_admin \
             FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.deleted_at IS NULL \
               AND u.disabled_at IS NULL",
        )
        .bind(id_hash)
        .bind(self.now_ms())
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get session", "session"))?
        .ok_or(Error::NotFound { what: "session" })?;
        session_from_row(&row)
    }

    /// Records that the session has passed a second factor (its user just enrolled one).
    pub async fn mark_session_second_factor(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET second_factor = 1 WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(Error::db("mark session", "session"))?;
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub async fn sessions_of(&self, user: UserId) -> Result<Vec<StoredSession>> {
        let rows = sqlx::query(
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.second_factor, \
               CASE WHEN u.org_role = 'admin' THEN 1 ELSE 0 END AS org_admin \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.user_id = $1 AND s.expires_at > $2 ORDER BY s.created_at DESC, s.id DESC",
        )
        .bind(user.0)
        .bind(self.now_ms())
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list sessions", "session"))?;
        rows.iter().map(session_from_row).collect()
    }

    /// Ends one session of `user` (sign-out elsewhere); `NotFound` when the user has no such
    /// session, so another user's session cannot be ended or probed.
    pub async fn delete_session_of(&self, user: UserId, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("end session", "session"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "session" });
        }
        Ok(())
    }

    /// Ends a session (sign-out). Ending an unknown session is not an error.
    pub async fn delete_session(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(Error::db("delete session", "session"))?;
        Ok(())
    }

    /// Ends every session of a user (after a password change).
    pub async fn delete_sessions_of(&self, user: UserId) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("delete sessions of user", "session"))?;
        Ok(done.rows_affected())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(self.now_ms())
            .execute(self.writer())
            .await
            .map_err(Error::db("purge expired sessions", "session"))?;
        Ok(done.rows_affected())
    }
}
