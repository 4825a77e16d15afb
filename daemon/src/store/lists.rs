//! Contact lists, their members and roles. The owner is a member with role `owner`;
//! sharing adds `editor` or `viewer` members.

use sqlx::any::AnyRow;

use super::{Error, ListId, Result, Store, UserId, col, parse_col};
use crate::domain::text_enum;

text_enum! {
    /// What a member may do with a list. Ordered: `Viewer < Editor < Owner`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Role("role") {
        Viewer => "viewer",
        Editor => "editor",
        Owner => "owner",
    }
    unknown(s) => format!("{s:?} is not owner, editor or viewer");
    impl Display;
}

impl Role {
    /// Editors and owners may change suggestions.
    pub fn can_edit(self) -> bool {
        self >= Role::Editor
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ContactList {
    pub id: ListId,
    pub owner: UserId,
    pub name: String,
    pub created_at: i64,
}

/// A list as seen by one user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ListAccess {
    pub list: ContactList,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ListMember {
    pub user: UserId,
    pub email: String,
    pub role: Role,
}

/// What [`Store::delete_list`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListDeletion {
    /// Deleted, with this many suggestions and shares.
    Deleted { suggestions: u64, shares: u64 },
    /// Not deleted: this many live mailboxes still deliver into the list.
    InUse { mailboxes: i64 },
}

fn list_from_row(row: &AnyRow) -> Result<ContactList> {
    Ok(ContactList {
        id: ListId(col(row, "id")?),
        owner: UserId(col(row, "owner_id")?),
        name: col(row, "name")?,
        created_at: col(row, "created_at")?,
    })
}

fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid {
            what: "list name",
            reason: "empty".into(),
        });
    }
    Ok(name)
}

impl Store {
    /// Creates a list owned by `owner` (who becomes its `owner` member).
    pub async fn create_list(&self, owner: UserId, name: &str) -> Result<ContactList> {
        let name = check_name(name)?;
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO contact_lists (owner_id, name, created_at) \
             SELECT id, $2, $3 FROM users WHERE id = $1 AND deleted_at IS NULL \
             RETURNING id, owner_id, name, created_at",
        )
        .bind(owner.0)
        .bind(name)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("create list", "list"))?
        .ok_or(Error::NotFound { what: "user" })?;
        let list = list_from_row(&row)?;
        sqlx::query("INSERT INTO list_members (list_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(list.id.0)
            .bind(owner.0)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("add list owner", "list member"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit list creation", "list"))?;
        Ok(list)
    }

    pub async fn get_list(&self, list: ListId) -> Result<ContactList> {
        let row = sqlx::query(
            "SELECT id, owner_id, name, created_at FROM contact_lists WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(list.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get list", "list"))?
        .ok_or(Error::NotFound { what: "list" })?;
        list_from_row(&row)
    }

    pub async fn rename_list(&self, list: ListId, name: &str) -> Result<()> {
        let name = check_name(name)?;
        let done =
            sqlx::query("UPDATE contact_lists SET name = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(name)
                .bind(list.0)
                .execute(self.writer())
                .await
                .map_err(Error::db("rename list", "list"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "list" });
        }
        Ok(())
    }

    /// Soft-deletes a list without any check (store-level primitive; users go through
    /// [`Store::delete_list`]). Its suggestions go with it when purged; commits into it are skipped.
    pub async fn soft_delete_list(&self, list: ListId) -> Result<()> {
        let done = sqlx::query(
            "UPDATE contact_lists SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(self.now_ms())
        .bind(list.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("delete list", "list"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "list" });
        }
        Ok(())
    }

    /// Deletes a list unless a live (not unlinked) mailbox still delivers into it, all in one
    /// transaction: the list and its suggestions are soft-deleted (the retention purge removes
    /// them, and with the list its members and history, for good), and its shares end at once.
    /// Every view of lists and suggestions already hides soft-deleted rows.
    ///
    /// The mailbox check and the deletion are one `UPDATE … WHERE NOT EXISTS`, so a mailbox
    /// re-pointed at the list between a separate check and the deletion cannot slip through.
    pub async fn delete_list(&self, list: ListId) -> Result<ListDeletion> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE contact_lists SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.target_list_id = $2 AND m.deleted_at IS NULL)",
        )
        .bind(now)
        .bind(list.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("delete list", "list"))?;
        if done.rows_affected() == 0 {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM contact_lists WHERE id = $1 AND deleted_at IS NULL) AS live, \
                 (SELECT COUNT(*) FROM mailboxes WHERE target_list_id = $1 AND deleted_at IS NULL) AS mailboxes",
            )
            .bind(list.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(Error::db("delete list", "list"))?;
            let live: i64 = col(&row, "live")?;
            let mailboxes: i64 = col(&row, "mailboxes")?;
            return if live == 0 {
                Err(Error::NotFound { what: "list" })
            } else {
                Ok(ListDeletion::InUse { mailboxes })
            };
        }
        let suggestions = sqlx::query(
            "UPDATE suggestions SET deleted_at = $1 WHERE list_id = $2 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(list.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("delete the list's suggestions", "suggestion"))?
        .rows_affected();
        let shares = sqlx::query("DELETE FROM list_members WHERE list_id = $1 AND role <> 'owner'")
            .bind(list.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("end the list's shares", "list member"))?
            .rows_affected();
        tx.commit()
            .await
            .map_err(Error::db("commit list deletion", "list"))?;
        Ok(ListDeletion::Deleted {
            suggestions,
            shares,
        })
    }

    /// Gives `user` the role `role` on `list` (or changes their role). The owner's role
    /// cannot be changed and nobody else can be made owner.
    pub async fn share_list(&self, list: ListId, user: UserId, role: Role) -> Result<()> {
        if role == Role::Owner {
            return Err(Error::Invalid {
                what: "role",
                reason: "a list has exactly one owner".into(),
            });
        }
        let owner = self.get_list(list).await?.owner;
        if owner == user {
            return Err(Error::Invalid {
                what: "share",
                reason: "the user owns the list".into(),
            });
        }
        self.get_user(user).await?;
        sqlx::query(
            "INSERT INTO list_members (list_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (list_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(list.0)
        .bind(user.0)
        .bind(role.as_str())
        .bind(self.now_ms())
        .execute(self.writer())
        .await
        .map_err(Error::db("share list", "list member"))?;
        Ok(())
    }

    /// Removes `user`'s access to `list`; the owner cannot be removed.
    pub async fn unshare_list(&self, list: ListId, user: UserId) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM list_members WHERE list_id = $1 AND user_id = $2 AND role <> 'owner'",
        )
        .bind(list.0)
        .bind(user.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("unshare list", "list member"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "list member",
            });
        }
        Ok(())
    }

    /// Members of a list, owner first.
    pub async fn list_members(&self, list: ListId) -> Result<Vec<ListMember>> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role FROM list_members m JOIN users u ON u.id = m.user_id \
             WHERE m.list_id = $1 AND u.deleted_at IS NULL \
             ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, u.email",
        )
        .bind(list.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list members", "list member"))?;
        rows.iter()
            .map(|row| {
                Ok(ListMember {
                    user: UserId(col(row, "user_id")?),
                    email: col(row, "email")?,
                    role: parse_col(row, "role", "role")?,
                })
            })
            .collect()
    }

    /// Every active list `user` can see, with their role.
    pub async fn lists_for_user(&self, user: UserId) -> Result<Vec<ListAccess>> {
        let rows = sqlx::query(
            "SELECT l.id, l.owner_id, l.name, l.created_at, m.role \
             FROM list_members m JOIN contact_lists l ON l.id = m.list_id \
             WHERE m.user_id = $1 AND l.deleted_at IS NULL ORDER BY l.id",
        )
        .bind(user.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("lists for user", "list"))?;
        rows.iter()
            .map(|row| {
                Ok(ListAccess {
                    list: list_from_row(row)?,
                    role: parse_col(row, "role", "role")?,
                })
            })
            .collect()
    }

    /// `user`'s role on `list`, or `None` when they have no access (or the list is deleted).
    pub async fn role_of(&self, user: UserId, list: ListId) -> Result<Option<Role>> {
        let row = sqlx::query(
            "SELECT m.role FROM list_members m JOIN contact_lists l ON l.id = m.list_id \
             JOIN users u ON u.id = m.user_id \
             WHERE m.user_id = $1 AND m.list_id = $2 AND l.deleted_at IS NULL AND u.deleted_at IS NULL",
        )
        .bind(user.0)
        .bind(list.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("role of user", "list member"))?;
        row.map(|row| parse_col(&row, "role", "role")).transpose()
    }
}
