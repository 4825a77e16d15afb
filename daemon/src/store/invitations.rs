//! Invitations to a list by e-mail address.
//!
//! Sharing a list with an address must not reveal whether a user has it, so it never touches
//! the membership of someone who is not yet a member: it records an invitation (the same two
//! statements for a registered and an unknown address), and the invitation turns into a
//! membership when a user with that address signs in or lists their lists
//! ([`Store::accept_invitations`]). Changing the role of someone already a member is immediate:
//! the owner already sees them in the member list.

use super::{Error, ListId, Result, Role, Store, UserId};

impl Store {
    /// Shares `list` with whoever has (or will have) `email`, as `role`: an existing member's
    /// role changes at once; anyone else gets an invitation (replacing an earlier one).
    pub async fn invite(&self, list: ListId, email: &str, role: Role) -> Result<()> {
        if role == Role::Owner {
            return Err(Error::Invalid {
                what: "role",
                reason: "a list has exactly one owner".into(),
            });
        }
        let email = super::users::normalise_email(email);
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE list_members SET role = $1 \
             WHERE list_id = $2 AND role <> 'owner' \
               AND user_id IN (SELECT id FROM users WHERE email = $3 AND deleted_at IS NULL)",
        )
        .bind(role.as_str())
        .bind(list.0)
        .bind(&email)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("change member role", "list member"))?;
        if changed.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO list_invitations (list_id, email, role, created_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (list_id, email) DO UPDATE SET role = excluded.role",
            )
            .bind(list.0)
            .bind(&email)
            .bind(role.as_str())
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await
            .map_err(Error::db("record invitation", "list invitation"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit invitation", "list invitation"))
    }

    /// Turns the invitations for `user`'s e-mail into memberships of the lists that still
    /// exist (not their own); returns how many. One read when there are none.
    pub async fn accept_invitations(&self, user: UserId) -> Result<u64> {
        let pending = sqlx::query(
            "SELECT 1 AS one FROM list_invitations i JOIN users u ON u.email = i.email \
             WHERE u.id = $1 AND u.deleted_at IS NULL LIMIT 1",
        )
        .bind(user.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("find invitations", "list invitation"))?;
        if pending.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let joined = sqlx::query(
            "INSERT INTO list_members (list_id, user_id, role, created_at) \
             SELECT i.list_id, u.id, i.role, $2 FROM list_invitations i \
             JOIN users u ON u.email = i.email \
             JOIN contact_lists l ON l.id = i.list_id \
             WHERE u.id = $1 AND u.deleted_at IS NULL AND l.deleted_at IS NULL \
               AND l.owner_id <> u.id \
             ON CONFLICT (list_id, user_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("accept invitations", "list invitation"))?;
        sqlx::query(
            "DELETE FROM list_invitations \
             WHERE email IN (SELECT email FROM users WHERE id = $1)",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("remove accepted invitations", "list invitation"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit accepted invitations", "list invitation"))?;
        Ok(joined.rows_affected())
    }
}
