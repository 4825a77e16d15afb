//! What offboarding a person needs from the store beyond mailbox removal and disabling: the
//! lists they own (to hand over or delete), their shares in other lists, and wiping every
//! credential of the account in one transaction. The account row itself stays, disabled, as the
//! tombstone the audit log refers to.

use super::{Error, ListId, Result, Store, UserId, col};

/// What [`Store::wipe_account_credentials`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WipedCredentials {
    pub sessions: u64,
    pub api_tokens: u64,
    pub provider_links: u64,
}

impl Store {
    /// The live lists `user` owns, oldest first.
    pub async fn lists_owned_by(&self, user: UserId) -> Result<Vec<ListId>> {
        let rows = sqlx::query(
            "SELECT id FROM contact_lists WHERE owner_id = $1 AND deleted_at IS NULL ORDER BY id",
        )
        .bind(user.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read owned lists", "list"))?;
        rows.iter().map(|r| Ok(ListId(col(r, "id")?))).collect()
    }

    /// The live lists of `user` into which a live mailbox of someone else delivers (deleting
    /// one would leave that mailbox without a list).
    pub async fn owned_lists_fed_by_others(&self, user: UserId) -> Result<Vec<ListId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT l.id FROM contact_lists l JOIN mailboxes m ON m.target_list_id = l.id \
             WHERE l.owner_id = $1 AND l.deleted_at IS NULL AND m.deleted_at IS NULL \
             AND m.owner_id <> $1 ORDER BY l.id",
        )
        .bind(user.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read lists fed by others", "list"))?;
        rows.iter().map(|r| Ok(ListId(col(r, "id")?))).collect()
    }

    /// Makes `to` the owner of `list` (owned by `from`): `from` loses every role on it, and a
    /// share `to` had on it becomes the ownership. One transaction.
    pub async fn hand_over_list(&self, list: ListId, from: UserId, to: UserId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE contact_lists SET owner_id = $1 \
             WHERE id = $2 AND owner_id = $3 AND deleted_at IS NULL",
        )
        .bind(to.0)
        .bind(list.0)
        .bind(from.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("hand over list", "list"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "list" });
        }
        sqlx::query("DELETE FROM list_members WHERE list_id = $1 AND user_id IN ($2, $3)")
            .bind(list.0)
            .bind(from.0)
            .bind(to.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("hand over list membership", "list member"))?;
        sqlx::query(
            "INSERT INTO list_members (list_id, user_id, role, created_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(list.0)
        .bind(to.0)
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("make the new owner", "list member"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit list hand-over", "list"))
    }

    /// Ends `user`'s shares in other people's lists; how many.
    pub async fn leave_shared_lists(&self, user: UserId) -> Result<u64> {
        let done = sqlx::query("DELETE FROM list_members WHERE user_id = $1 AND role <> 'owner'")
            .bind(user.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("end shares of user", "list member"))?;
        Ok(done.rows_affected())
    }

    /// Wipes every credential of `user` in one transaction: sessions (with the sealed ID
    /// tokens of provider sessions), API tokens (deleted, not only revoked), pending sign-in
    /// challenges, links to OpenID provider accounts, open invitations and the password hash.
    /// The second factor goes through [`Store::remove_second_factor`] (its own sealed secret).
    pub async fn wipe_account_credentials(&self, user: UserId) -> Result<WipedCredentials> {
        let mut tx = self.begin_write().await?;
        let steps: [(&'static str, &'static str); 7] = [
            (
                "DELETE FROM oidc_sessions WHERE session_id IN \
                 (SELECT id FROM sessions WHERE user_id = $1)",
                "oidc session",
            ),
            ("DELETE FROM sessions WHERE user_id = $1", "session"),
            ("DELETE FROM api_tokens WHERE user_id = $1", "token"),
            (
                "DELETE FROM sign_in_challenges WHERE user_id = $1",
                "sign-in challenge",
            ),
            (
                "DELETE FROM oidc_identities WHERE user_id = $1",
                "oidc identity",
            ),
            (
                "DELETE FROM account_invitations WHERE user_id = $1",
                "invitation",
            ),
            (
                "UPDATE users SET password_hash = NULL WHERE id = $1",
                "user",
            ),
        ];
        let mut counts = [0u64; 7];
        for (i, (sql, what)) in steps.into_iter().enumerate() {
            let done = sqlx::query(sql)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("wipe account credentials", what))?;
            counts[i] = done.rows_affected();
        }
        let [_, sessions, api_tokens, _, provider_links, _, _] = counts;
        tx.commit()
            .await
            .map_err(Error::db("commit credential wipe", "user"))?;
        Ok(WipedCredentials {
            sessions,
            api_tokens,
            provider_links,
        })
    }
}
