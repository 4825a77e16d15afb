//! The organisation-level state of accounts: the org role (`users.org_role`) and whether an
//! admin has disabled the account (`users.disabled_at`). A disabled account is refused at every
//! door the store guards: password look-up, new sessions, session look-up, token check.

use sqlx::any::AnyRow;

use super::{Error, Result, Store, UserId, col, parse_col};
use crate::domain::OrgRole;

/// A user as an org admin sees them: account, role and state, never a credential.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrgMember {
    pub id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub org_role: OrgRole,
    pub created_at: i64,
    /// When an admin disabled the account; `None` while it may sign in.
    pub disabled_at: Option<i64>,
    /// Whether a password is set (an invited person has none until they use the link).
    pub has_password: bool,
    /// Whether a confirmed second factor is on.
    pub second_factor: bool,
    /// When the newest open browser session began (`None`: no open session, so not known).
    pub last_sign_in: Option<i64>,
    /// How many mailboxes the user has linked (not unlinked).
    pub mailboxes: i64,
}

fn member_from_row(row: &AnyRow) -> Result<OrgMember> {
    Ok(OrgMember {
        id: UserId(col(row, "id")?),
        email: col(row, "email")?,
        display_name: col(row, "display_name")?,
        org_role: parse_col(row, "org_role", "org role")?,
        created_at: col(row, "created_at")?,
        disabled_at: col(row, "disabled_at")?,
        has_password: col::<i64>(row, "has_password")? != 0,
        second_factor: col::<i64>(row, "second_factor")? != 0,
        last_sign_in: col(row, "last_sign_in")?,
        mailboxes: col(row, "mailboxes")?,
    })
}

/// The member columns of `users u`, then `$tail` (a `WHERE …` of literal text).
macro_rules! select_members {
    ($tail:literal) => {
        concat!(
            "SELECT u.id, u.email, u.display_name, u.org_role, u.created_at, u.disabled_at, \
             CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END AS has_password, \
             CASE WHEN EXISTS (SELECT 1 FROM second_factors f WHERE f.user_id = u.id \
               AND f.confirmed_at IS NOT NULL) THEN 1 ELSE 0 END AS second_factor, \
             (SELECT MAX(s.created_at) FROM sessions s WHERE s.user_id = u.id) AS last_sign_in, \
             (SELECT COUNT(*) FROM mailboxes m WHERE m.owner_id = u.id \
               AND m.deleted_at IS NULL) AS mailboxes \
             FROM users u ",
            $tail
        )
    };
}

impl Store {
    /// The org role of an active (not deleted, not disabled) user; `NotFound` otherwise.
    pub async fn org_role(&self, user: UserId) -> Result<OrgRole> {
        let row = sqlx::query(
            "SELECT org_role FROM users WHERE id = $1 AND deleted_at IS NULL \
             AND disabled_at IS NULL",
        )
        .bind(user.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read org role", "user"))?
        .ok_or(Error::NotFound { what: "user" })?;
        parse_col(&row, "org_role", "org role")
    }

    /// Sets the org role of a user who is not deleted.
    pub async fn set_org_role(&self, user: UserId, role: OrgRole) -> Result<()> {
        let done =
            sqlx::query("UPDATE users SET org_role = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(role.as_str())
                .bind(user.0)
                .execute(self.writer())
                .await
                .map_err(Error::db("set org role", "user"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "user" });
        }
        Ok(())
    }

    /// Every account that is not deleted (disabled ones included), oldest first.
    pub async fn org_members(&self) -> Result<Vec<OrgMember>> {
        let rows = sqlx::query(select_members!("WHERE u.deleted_at IS NULL ORDER BY u.id"))
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("list org members", "user"))?;
        rows.iter().map(member_from_row).collect()
    }

    /// One account that is not deleted.
    pub async fn org_member(&self, user: UserId) -> Result<OrgMember> {
        let row = sqlx::query(select_members!("WHERE u.id = $1 AND u.deleted_at IS NULL"))
            .bind(user.0)
            .fetch_optional(self.reader())
            .await
            .map_err(Error::db("read org member", "user"))?
            .ok_or(Error::NotFound { what: "user" })?;
        member_from_row(&row)
    }

    /// Disables an account: sign-in is refused from now on, and every session and API token
    /// of the user ends in the same transaction. `false` when it was already disabled.
    pub async fn disable_user(&self, user: UserId) -> Result<bool> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let exists =
            sqlx::query("SELECT disabled_at FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::db("read account state", "user"))?
                .ok_or(Error::NotFound { what: "user" })?;
        if col::<Option<i64>>(&exists, "disabled_at")?.is_some() {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("disable user", "user"))?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("end sessions of disabled user", "session"))?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("revoke tokens of disabled user", "token"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit user disabling", "user"))?;
        Ok(true)
    }

    /// Lets a disabled account sign in again (its old sessions and tokens stay ended).
    /// `false` when it was not disabled.
    pub async fn enable_user(&self, user: UserId) -> Result<bool> {
        self.org_member(user).await?;
        let done = sqlx::query(
            "UPDATE users SET disabled_at = NULL \
             WHERE id = $1 AND deleted_at IS NULL AND disabled_at IS NOT NULL",
        )
        .bind(user.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("enable user", "user"))?;
        Ok(done.rows_affected() > 0)
    }
}
