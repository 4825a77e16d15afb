//! People of the tenant an org admin chose one by one (migration 0056), next to the linked groups
//! of `tenant.rs`: the chosen user's id in Microsoft Graph and the mailbox linked app-only for
//! them. A mailbox is unlinked only when no chosen-user row and no group member row counts it
//! ([`Store::tenant_member_references`]).

use crate::store::{Error, MailboxId, Result, Store, UserId, col};

/// Row id of a chosen user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantUserId(pub i64);

impl std::fmt::Display for TenantUserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A person of the tenant whose mailbox an admin linked app-only by choosing them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantUser {
    pub id: TenantUserId,
    /// The user's id in Microsoft Graph.
    pub graph_user_id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub mailbox: MailboxId,
    pub created_at: i64,
}

/// What [`Store::add_tenant_user`] records.
pub struct NewTenantUser<'a> {
    pub graph_user_id: &'a str,
    pub display_name: Option<&'a str>,
    pub mail: Option<&'a str>,
    pub mailbox: MailboxId,
    pub linked_by: Option<UserId>,
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<TenantUser> {
    Ok(TenantUser {
        id: TenantUserId(col(row, "id")?),
        graph_user_id: col(row, "graph_user_id")?,
        display_name: col(row, "display_name")?,
        mail: col(row, "mail")?,
        mailbox: MailboxId(col(row, "mailbox_id")?),
        created_at: col(row, "created_at")?,
    })
}

/// `SELECT` of a chosen user's columns, followed by `$rest` (static SQL for sqlx).
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT id, graph_user_id, display_name, mail, mailbox_id, created_at FROM graph_tenant_users ",
            $rest
        )
    };
}

impl Store {
    /// Records a chosen user and their mailbox. Choosing them again keeps the row and records the
    /// mailbox given now (the earlier one may have been unlinked by its owner meanwhile).
    pub async fn add_tenant_user(&self, new: NewTenantUser<'_>) -> Result<TenantUser> {
        sqlx::query(
            "INSERT INTO graph_tenant_users \
             (graph_user_id, display_name, mail, mailbox_id, linked_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (graph_user_id) \
             DO UPDATE SET mailbox_id = excluded.mailbox_id, display_name = excluded.display_name, \
             mail = excluded.mail",
        )
        .bind(new.graph_user_id)
        .bind(new.display_name)
        .bind(new.mail)
        .bind(new.mailbox.0)
        .bind(new.linked_by.map(|u| u.0))
        .bind(self.now_ms())
        .execute(self.writer())
        .await
        .map_err(Error::db("choose tenant user", "chosen user"))?;
        let row = sqlx::query(select_users!("WHERE graph_user_id = $1"))
            .bind(new.graph_user_id)
            .fetch_one(self.writer())
            .await
            .map_err(Error::db("read chosen user", "chosen user"))?;
        user_from_row(&row)
    }

    /// Every chosen user, oldest first.
    pub async fn tenant_users(&self) -> Result<Vec<TenantUser>> {
        let rows = sqlx::query(select_users!("ORDER BY id"))
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("list chosen users", "chosen user"))?;
        rows.iter().map(user_from_row).collect()
    }

    /// Forgets a chosen user; returns the row (its mailbox is the caller's to unlink).
    pub async fn remove_tenant_user(&self, id: TenantUserId) -> Result<TenantUser> {
        let row = sqlx::query(
            "DELETE FROM graph_tenant_users WHERE id = $1 \
             RETURNING id, graph_user_id, display_name, mail, mailbox_id, created_at",
        )
        .bind(id.0)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("forget chosen user", "chosen user"))?
        .ok_or(Error::NotFound {
            what: "chosen user",
        })?;
        user_from_row(&row)
    }
}
