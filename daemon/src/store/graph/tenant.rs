//! The tenant-wide Microsoft 365 rollout (migration 0055): the tenant whose administrator granted
//! the app's application permissions, admin consents in progress, the mail-enabled groups whose
//! members' mailboxes are linked app-only (with the deltaLink of their membership and the claim
//! of the replica following it), and which mailbox was linked for which member.

use std::time::Duration;

use crate::store::{Error, MailboxId, Result, Store, UserId, col, duration_ms};

/// The admin consent the organisation gave.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantGrant {
    /// The Microsoft Entra tenant id (a GUID).
    pub tenant_id: String,
    pub granted_by: Option<UserId>,
    pub granted_at: i64,
}

/// An admin consent in progress, as the callback takes it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConsentState {
    pub user: UserId,
    /// The session (row id) the consent was started in.
    pub session: i64,
    pub expires_at: i64,
}

/// Row id of a linked group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantGroupId(pub i64);

impl std::fmt::Display for TenantGroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A mail-enabled group whose members' mailboxes are linked app-only.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantGroup {
    pub id: TenantGroupId,
    /// The group's id in Microsoft Graph.
    pub group_id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    /// Where the next membership round starts; `None` before the first.
    #[serde(skip)]
    pub delta_link: Option<String>,
    pub created_at: i64,
}

/// A member of a linked group and the mailbox linked for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantMember {
    pub group: TenantGroupId,
    pub graph_user_id: String,
    pub mailbox: MailboxId,
}

fn group_from_row(row: &sqlx::any::AnyRow) -> Result<TenantGroup> {
    Ok(TenantGroup {
        id: TenantGroupId(col(row, "id")?),
        group_id: col(row, "group_id")?,
        display_name: col(row, "display_name")?,
        mail: col(row, "mail")?,
        delta_link: col(row, "delta_link")?,
        created_at: col(row, "created_at")?,
    })
}

/// `SELECT` of a linked group's columns, followed by `$rest` (static SQL for sqlx).
macro_rules! select_groups {
    ($rest:literal) => {
        concat!(
            "SELECT id, group_id, display_name, mail, delta_link, created_at FROM graph_tenant_groups ",
            $rest
        )
    };
}

impl Store {
    // ---- the organisation's admin consent --------------------------------------------------

    /// Records (or replaces) the organisation's admin consent for `tenant_id`.
    pub async fn set_tenant_grant(
        &self,
        tenant_id: &str,
        granted_by: Option<UserId>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM graph_tenant_grant")
            .execute(&mut *tx)
            .await
            .map_err(Error::db("replace tenant grant", "tenant grant"))?;
        sqlx::query(
            "INSERT INTO graph_tenant_grant (id, tenant_id, granted_by, granted_at) \
             VALUES (1, $1, $2, $3)",
        )
        .bind(tenant_id)
        .bind(granted_by.map(|u| u.0))
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("record tenant grant", "tenant grant"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit tenant grant", "tenant grant"))
    }

    /// The organisation's admin consent, if one was given.
    pub async fn tenant_grant(&self) -> Result<Option<TenantGrant>> {
        let row = sqlx::query(
            "SELECT tenant_id, granted_by, granted_at FROM graph_tenant_grant WHERE id = 1",
        )
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read tenant grant", "tenant grant"))?;
        row.map(|row| {
            Ok(TenantGrant {
                tenant_id: col(&row, "tenant_id")?,
                granted_by: col::<Option<i64>>(&row, "granted_by")?.map(UserId),
                granted_at: col(&row, "granted_at")?,
            })
        })
        .transpose()
    }

    /// Records an admin consent started by `user` in the session `session`; `state_hash`
    /// is the SHA-256 of the `state` parameter (the state itself is never stored).
    pub async fn put_admin_consent_state(
        &self,
        state_hash: &str,
        user: UserId,
        session: i64,
        ttl: Duration,
    ) -> Result<()> {
        let now = self.now_ms();
        sqlx::query("DELETE FROM graph_admin_consents WHERE expires_at < $1")
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(Error::db("purge admin consents", "admin consent"))?;
        sqlx::query(
            "INSERT INTO graph_admin_consents (state_hash, user_id, session_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_hash)
        .bind(user.0)
        .bind(session)
        .bind(now)
        .bind(now.saturating_add(duration_ms(ttl)))
        .execute(self.writer())
        .await
        .map_err(Error::db("record admin consent", "admin consent"))?;
        Ok(())
    }

    /// Takes (deletes and returns) an admin consent in progress, so a `state` works once.
    /// `NotFound` when unknown or expired.
    pub async fn take_admin_consent_state(&self, state_hash: &str) -> Result<AdminConsentState> {
        let not_found = || Error::NotFound {
            what: "admin consent",
        };
        let row = sqlx::query(
            "DELETE FROM graph_admin_consents WHERE state_hash = $1 \
             RETURNING user_id, session_id, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("take admin consent", "admin consent"))?
        .ok_or_else(not_found)?;
        let state = AdminConsentState {
            user: UserId(col(&row, "user_id")?),
            session: col(&row, "session_id")?,
            expires_at: col(&row, "expires_at")?,
        };
        if state.expires_at < self.now_ms() {
            return Err(not_found());
        }
        Ok(state)
    }

    // ---- linked groups ---------------------------------------------------------------------

    /// Links a group (by its Graph id); linking it again returns the existing row.
    pub async fn add_tenant_group(
        &self,
        group_id: &str,
        display_name: Option<&str>,
        mail: Option<&str>,
        linked_by: Option<UserId>,
    ) -> Result<TenantGroup> {
        sqlx::query(
            "INSERT INTO graph_tenant_groups (group_id, display_name, mail, linked_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_id) DO NOTHING",
        )
        .bind(group_id)
        .bind(display_name)
        .bind(mail)
        .bind(linked_by.map(|u| u.0))
        .bind(self.now_ms())
        .execute(self.writer())
        .await
        .map_err(Error::db("link group", "group"))?;
        let row = sqlx::query(select_groups!("WHERE group_id = $1"))
            .bind(group_id)
            .fetch_one(self.writer())
            .await
            .map_err(Error::db("read linked group", "group"))?;
        group_from_row(&row)
    }

    /// Every linked group, oldest first.
    pub async fn tenant_groups(&self) -> Result<Vec<TenantGroup>> {
        let rows = sqlx::query(select_groups!("ORDER BY id"))
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("list linked groups", "group"))?;
        rows.iter().map(group_from_row).collect()
    }

    pub async fn tenant_group(&self, id: TenantGroupId) -> Result<TenantGroup> {
        let row = sqlx::query(select_groups!("WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await
            .map_err(Error::db("read linked group", "group"))?
            .ok_or(Error::NotFound { what: "group" })?;
        group_from_row(&row)
    }

    /// Removes a linked group and its member rows (the mailboxes are the caller's to unlink).
    pub async fn remove_tenant_group(&self, id: TenantGroupId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM graph_tenant_members WHERE group_row = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("remove group members", "group"))?;
        let done = sqlx::query("DELETE FROM graph_tenant_groups WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("remove group", "group"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "group" });
        }
        tx.commit()
            .await
            .map_err(Error::db("commit group removal", "group"))
    }

    /// Claims a group's membership round for `replica` for `lease`, unless another replica holds
    /// a claim that has not expired. Returns whether this replica holds it now.
    pub async fn claim_tenant_group(
        &self,
        id: TenantGroupId,
        replica: &str,
        lease: Duration,
    ) -> Result<bool> {
        let now = self.now_ms();
        let claimed = sqlx::query(
            "UPDATE graph_tenant_groups SET claimed_by = $1, claim_until = $2 WHERE id = $3 \
             AND (claimed_by IS NULL OR claimed_by = $4 OR claim_until < $5)",
        )
        .bind(replica)
        .bind(now.saturating_add(duration_ms(lease)))
        .bind(id.0)
        .bind(replica)
        .bind(now)
        .execute(self.writer())
        .await
        .map_err(Error::db("claim group", "group"))?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Gives back `replica`'s claim on a group.
    pub async fn release_tenant_group(&self, id: TenantGroupId, replica: &str) -> Result<()> {
        sqlx::query(
            "UPDATE graph_tenant_groups SET claimed_by = NULL, claim_until = NULL \
             WHERE id = $1 AND claimed_by = $2",
        )
        .bind(id.0)
        .bind(replica)
        .execute(self.writer())
        .await
        .map_err(Error::db("release group", "group"))?;
        Ok(())
    }

    /// Where the group's next membership round starts.
    pub async fn set_tenant_group_delta(&self, id: TenantGroupId, link: &str) -> Result<()> {
        sqlx::query("UPDATE graph_tenant_groups SET delta_link = $1 WHERE id = $2")
            .bind(link)
            .bind(id.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("store group delta link", "group"))?;
        Ok(())
    }

    // ---- members ---------------------------------------------------------------------------

    /// The members of a group with their mailboxes.
    pub async fn tenant_members(&self, group: TenantGroupId) -> Result<Vec<TenantMember>> {
        let rows = sqlx::query(
            "SELECT group_row, graph_user_id, mailbox_id FROM graph_tenant_members \
             WHERE group_row = $1 ORDER BY graph_user_id",
        )
        .bind(group.0)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list group members", "group member"))?;
        rows.iter()
            .map(|row| {
                Ok(TenantMember {
                    group: TenantGroupId(col(row, "group_row")?),
                    graph_user_id: col(row, "graph_user_id")?,
                    mailbox: MailboxId(col(row, "mailbox_id")?),
                })
            })
            .collect()
    }

    /// Records that `mailbox` was linked for the group's member `graph_user_id`.
    pub async fn add_tenant_member(
        &self,
        group: TenantGroupId,
        graph_user_id: &str,
        mailbox: MailboxId,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO graph_tenant_members (group_row, graph_user_id, mailbox_id) \
             VALUES ($1, $2, $3) ON CONFLICT (group_row, graph_user_id) \
             DO UPDATE SET mailbox_id = excluded.mailbox_id",
        )
        .bind(group.0)
        .bind(graph_user_id)
        .bind(mailbox.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("record group member", "group member"))?;
        Ok(())
    }

    /// Forgets a member of a group; returns the mailbox that was linked for them, if any.
    pub async fn remove_tenant_member(
        &self,
        group: TenantGroupId,
        graph_user_id: &str,
    ) -> Result<Option<MailboxId>> {
        let row = sqlx::query(
            "DELETE FROM graph_tenant_members WHERE group_row = $1 AND graph_user_id = $2 \
             RETURNING mailbox_id",
        )
        .bind(group.0)
        .bind(graph_user_id)
        .fetch_optional(self.writer())
        .await
        .map_err(Error::db("forget group member", "group member"))?;
        row.map(|row| col(&row, "mailbox_id").map(MailboxId))
            .transpose()
    }

    /// How many linked groups and chosen users still count `mailbox` as theirs.
    pub async fn tenant_member_references(&self, mailbox: MailboxId) -> Result<i64> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM graph_tenant_members WHERE mailbox_id = $1) \
             + (SELECT COUNT(*) FROM graph_tenant_users WHERE mailbox_id = $2) AS n",
        )
        .bind(mailbox.0)
        .bind(mailbox.0)
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("count group members", "group member"))?;
        col(&row, "n")
    }
}
