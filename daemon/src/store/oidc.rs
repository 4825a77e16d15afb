//! Sign-in with OpenID Connect, as rows: the sign-ins started at a provider and not yet finished
//! (`oidc_logins`, taken once), which provider account belongs to which user
//! (`oidc_identities`), and the sealed ID token of a session opened through a provider
//! (`oidc_sessions`, for signing out there too). Only hashes and sealed records: never a
//! `state`, a nonce, a PKCE verifier or an ID token in the clear.

use std::time::Duration;

use super::{Error, Result, Store, UserId, col};
use crate::clock::duration_ms;

/// A started sign-in, as the callback takes it back.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcLogin {
    pub provider: String,
    /// SHA-256 (hex) of the nonce sent in the authorization request.
    pub nonce_hash: String,
    /// The PKCE verifier, sealed for this row (`vault::Binding::oidc_verifier`).
    pub verifier_sealed: Vec<u8>,
    /// Where the browser goes once signed in (a path of this site).
    pub next_path: String,
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Stores a started sign-in under the hash of its `state`; expired ones go on the way.
    pub async fn insert_oidc_login(
        &self,
        state_hash: &str,
        login: &OidcLogin,
        ttl: Duration,
    ) -> Result<()> {
        let now = self.now_ms();
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1")
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(Error::db("purge oidc logins", "oidc login"))?;
        sqlx::query(
            "INSERT INTO oidc_logins \
             (state_hash, provider, nonce_hash, verifier_sealed, next_path, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(&login.provider)
        .bind(&login.nonce_hash)
        .bind(login.verifier_sealed.clone())
        .bind(&login.next_path)
        .bind(now)
        .bind(now.saturating_add(duration_ms(ttl)))
        .execute(self.writer())
        .await
        .map_err(Error::db("store oidc login", "oidc login"))?;
        Ok(())
    }

    /// Takes (deletes and returns) a started sign-in, so its `state` and the code that came
    /// with it are used once. `NotFound` when unknown, already taken or expired.
    pub async fn take_oidc_login(&self, state_hash: &str) -> Result<OidcLogin> {
        let row = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_hash = $1 \
             RETURNING provider, nonce_hash, verifier_sealed, next_path, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("take oidc login", "oidc login"))?
        .ok_or(Error::NotFound { what: "oidc login" })?;
        if col::<i64>(&row, "expires_at")? < self.now_ms() {
            return Err(Error::NotFound { what: "oidc login" });
        }
        Ok(OidcLogin {
            provider: col(&row, "provider")?,
            nonce_hash: col(&row, "nonce_hash")?,
            verifier_sealed: col(&row, "verifier_sealed")?,
            next_path: col(&row, "next_path")?,
        })
    }

    /// The user linked to `subject` at `provider`, if any (a deleted user is none).
    pub async fn oidc_identity_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<UserId>> {
        let row = sqlx::query(
            "SELECT i.user_id FROM oidc_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.provider = $1 AND i.sub = $2 AND u.deleted_at IS NULL",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("find oidc identity", "oidc identity"))?;
        row.map(|r| col(&r, "user_id").map(UserId)).transpose()
    }

    /// Links `subject` at `provider` to `user` (once; linking again is `Conflict`).
    pub async fn link_oidc_identity(
        &self,
        provider: &str,
        subject: &str,
        user: UserId,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_identities (provider, sub, user_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(provider)
        .bind(subject)
        .bind(user.0)
        .bind(self.now_ms())
        .execute(self.writer())
        .await
        .map_err(Error::db("link oidc identity", "oidc identity"))?;
        Ok(())
    }

    /// How many provider accounts are linked to `user`.
    pub async fn oidc_identities_of(&self, user: UserId) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT provider, sub FROM oidc_identities WHERE user_id = $1 ORDER BY provider",
        )
        .bind(user.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list oidc identities", "oidc identity"))?;
        rows.iter()
            .map(|r| Ok((col(r, "provider")?, col(r, "sub")?)))
            .collect()
    }

    /// Remembers that `session` was opened through `provider`, with its sealed ID token.
    pub async fn insert_oidc_session(
        &self,
        session: i64,
        provider: &str,
        id_token_sealed: &[u8],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_sessions (session_id, provider, id_token_sealed) VALUES ($1, $2, $3)",
        )
        .bind(session)
        .bind(provider)
        .bind(id_token_sealed.to_vec())
        .execute(self.writer())
        .await
        .map_err(Error::db("store oidc session", "oidc session"))?;
        Ok(())
    }

    /// The provider and sealed ID token of `session`, when it was opened through a provider.
    pub async fn oidc_session(&self, session: i64) -> Result<Option<(String, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT provider, id_token_sealed FROM oidc_sessions WHERE session_id = $1",
        )
        .bind(session)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("find oidc session", "oidc session"))?;
        row.map(|r| Ok((col(&r, "provider")?, col(&r, "id_token_sealed")?)))
            .transpose()
    }
}
