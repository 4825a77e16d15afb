//! OAuth linkings in progress: the state a Microsoft 365 consent redirect brings back.

use std::time::Duration;

use crate::domain::text_enum;
use crate::store::{Error, ListId, Result, Store, UserId, col, duration_ms, parse_col};

text_enum! {
    /// Where a Microsoft 365 linking was started. The OAuth callback completes a linking started
    /// from the web page or the API only in a browser signed in as the same user (so a link
    /// started by one user cannot be completed with another person's Microsoft account by
    /// sending them the consent URL); one started by the operator's CLI needs no session.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum LinkOrigin("link origin") {
        Web => "web",
        Api => "api",
        Cli => "cli",
    }
}

impl LinkOrigin {
    /// Whether the callback must come with the starting user's browser session.
    pub fn needs_session(self) -> bool {
        !matches!(self, LinkOrigin::Cli)
    }
}

/// A linking in progress, as the OAuth callback takes it back.
#[derive(Clone, PartialEq, Eq)]
pub struct OauthState {
    pub user: UserId,
    pub list: ListId,
    pub origin: LinkOrigin,
    /// The PKCE code verifier, sealed by the vault.
    pub verifier_sealed: Vec<u8>,
    pub expires_at: i64,
}

impl std::fmt::Debug for OauthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthState")
            .field("user", &self.user)
            .field("list", &self.list)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Store {
    // ---- OAuth linkings in progress -------------------------------------------------------

    /// Records a linking started by `user` for `list`; `state_hash` is the SHA-256 of the
    /// `state` parameter (the state itself is never stored).
    pub async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        list: ListId,
        origin: LinkOrigin,
        verifier_sealed: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        let now = self.now_ms();
        // Expired linkings are dropped on the way (they hold sealed verifiers only).
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(Error::db("purge oauth states", "oauth state"))?;
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, user_id, list_id, origin, verifier_sealed, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(user.0)
        .bind(list.0)
        .bind(origin.as_str())
        .bind(verifier_sealed.to_vec())
        .bind(now)
        .bind(now.saturating_add(duration_ms(ttl)))
        .execute(self.writer())
        .await
        .map_err(Error::db("store oauth state", "oauth state"))?;
        Ok(())
    }

    /// Takes (deletes and returns) a linking, so a `state` works once. `NotFound` when unknown
    /// or expired.
    pub async fn take_oauth_state(&self, state_hash: &str) -> Result<OauthState> {
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state_hash = $1 \
             RETURNING user_id, list_id, origin, verifier_sealed, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("take oauth state", "oauth state"))?
        .ok_or(Error::NotFound {
            what: "oauth state",
        })?;
        let state = OauthState {
            user: UserId(col(&row, "user_id")?),
            list: ListId(col(&row, "list_id")?),
            origin: parse_col(&row, "origin", "link origin")?,
            verifier_sealed: col(&row, "verifier_sealed")?,
            expires_at: col(&row, "expires_at")?,
        };
        if state.expires_at < self.now_ms() {
            return Err(Error::NotFound {
                what: "oauth state",
            });
        }
        Ok(state)
    }
}
