//! IMAP OAuth linkings in progress (`imap_oauth_links`): a user who links an IMAP mailbox by
//! signing in at an OAuth provider from the pages or the API leaves here, under the hash of the
//! `state` they are sent off with, who they are, the list, and the pending link sealed by the
//! vault; the callback takes the row back once. Kept apart from the Microsoft 365 linkings
//! (`oauth_states`): a state issued for one can never complete the other.

use std::time::Duration;

use super::{Error, LinkOrigin, ListId, Result, Store, UserId, col, duration_ms, parse_col};

/// A linking in progress, as the callback takes it back.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingImapOAuth {
    pub user: UserId,
    pub list: ListId,
    pub origin: LinkOrigin,
    /// The pending link (provider, settings, PKCE verifier), sealed by the vault.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for PendingImapOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingImapOAuth")
            .field("user", &self.user)
            .field("list", &self.list)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Records a linking started by `user` for `list`; `state_hash` is the SHA-256 of the
    /// `state` parameter (the state itself is never stored). Expired linkings are dropped on
    /// the way.
    pub async fn put_imap_oauth_link(
        &self,
        state_hash: &str,
        pending: &PendingImapOAuth,
        ttl: Duration,
    ) -> Result<()> {
        let now = self.now_ms();
        sqlx::query("DELETE FROM imap_oauth_links WHERE expires_at < $1")
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(Error::db("purge imap oauth links", "imap oauth link"))?;
        sqlx::query(
            "INSERT INTO imap_oauth_links (state_hash, user_id, list_id, origin, sealed, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(pending.user.0)
        .bind(pending.list.0)
        .bind(pending.origin.as_str())
        .bind(pending.sealed.clone())
        .bind(now)
        .bind(now.saturating_add(duration_ms(ttl)))
        .execute(self.writer())
        .await
        .map_err(Error::db("store imap oauth link", "imap oauth link"))?;
        Ok(())
    }

    /// Takes (deletes and returns) a linking, so a `state` works once. `NotFound` when unknown
    /// or expired.
    pub async fn take_imap_oauth_link(&self, state_hash: &str) -> Result<PendingImapOAuth> {
        let row = sqlx::query(
            "DELETE FROM imap_oauth_links WHERE state_hash = $1 \
             RETURNING user_id, list_id, origin, sealed, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("take imap oauth link", "imap oauth link"))?
        .ok_or(Error::NotFound {
            what: "imap oauth link",
        })?;
        let expires_at: i64 = col(&row, "expires_at")?;
        if expires_at < self.now_ms() {
            return Err(Error::NotFound {
                what: "imap oauth link",
            });
        }
        Ok(PendingImapOAuth {
            user: UserId(col(&row, "user_id")?),
            list: ListId(col(&row, "list_id")?),
            origin: parse_col(&row, "origin", "link origin")?,
            sealed: col(&row, "sealed")?,
        })
    }
}
