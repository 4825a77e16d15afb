//! Linked mailboxes: who owns them, where their suggestions go, their health, their
//! provider settings (JSON owned by the source module) and their ownership lease.

use sqlx::any::AnyRow;

use super::{
    Error, ListId, MailboxId, Result, SecretId, Store, UserId, col, fencing, json_col, parse_col,
    to_json,
};
use crate::domain::text_enum;

text_enum! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum MailboxKind("mailbox kind") {
        Imap => "imap",
        Graph => "graph",
    }
    unknown(s) => format!("{s:?} is not imap or graph");
}

text_enum! {
    /// Health of a mailbox as shown to its owner.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum MailboxStatus("mailbox status") {
        Ok => "ok",
        /// Stop retrying until the credentials change (e.g. IMAP authentication failed).
        NeedsAttention => "needs_attention",
        /// Microsoft consent was revoked (`invalid_grant`).
        NeedsReconsent => "needs_reconsent",
        /// Shown, never stored: its owner stopped the watching for a while (`paused_at`);
        /// resuming starts again from where it stopped.
        Paused => "paused",
    }
}

/// Input of [`Store::create_mailbox`].
#[derive(Clone, Debug)]
pub struct NewMailbox {
    pub owner: UserId,
    pub kind: MailboxKind,
    /// The mailbox's own address (the user's), used e.g. for the own-domain filter.
    pub address: String,
    pub display_name: Option<String>,
    pub target_list: ListId,
    /// Sender domains never turned into suggestions, lower-cased.
    pub excluded_domains: Vec<String>,
    /// Provider settings (host, port, security, username, folders, backfill …) as the
    /// source module serialises them. Never a password.
    pub settings: serde_json::Value,
    /// The sealed credentials, stored beforehand with [`Store::put_secret`].
    pub secret: Option<SecretId>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Mailbox {
    pub id: MailboxId,
    pub owner: UserId,
    pub kind: MailboxKind,
    pub address: String,
    pub display_name: Option<String>,
    pub target_list: ListId,
    pub excluded_domains: Vec<String>,
    pub status: MailboxStatus,
    pub status_reason: Option<String>,
    /// Set while the source cannot connect or keeps losing its connection (transient errors).
    pub reconnecting: Option<Reconnecting>,
    /// A fixed sentence the running source sets while it works only in part (the status stays
    /// `ok`, so it keeps running): see [`Mailbox::shown_status`].
    pub warning: Option<String>,
    /// When its owner paused it (epoch ms); the sources watch it only while this is `None`.
    pub paused_at: Option<i64>,
    pub settings: serde_json::Value,
    pub secret: Option<SecretId>,
    pub created_at: i64,
}

/// Which mailboxes [`Store::list_mailboxes`] returns (always only active ones).
#[derive(Clone, Debug, Default)]
pub struct MailboxFilter {
    pub owner: Option<UserId>,
    pub kind: Option<MailboxKind>,
}

/// Ownership of one mailbox by one replica until `until`; every state write carries
/// `fencing`, which grows with each new owner, so a stalled ex-owner cannot clobber state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub mailbox: MailboxId,
    pub fencing: i64,
    pub until: i64,
}

/// Since when a mailbox's source has been failing to stay connected, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reconnecting {
    /// Milliseconds since the epoch of the first failure of the current outage.
    pub since: i64,
    /// A fixed sentence naming the kind of the latest failure, never the server's text.
    pub reason: String,
}

impl Mailbox {
    /// The status and reason people are shown: the stored ones, except that a running mailbox
    /// whose source works only in part (a warning) needs attention for that reason.
    pub fn shown_status(&self) -> (MailboxStatus, Option<&str>) {
        if self.paused_at.is_some() {
            return (MailboxStatus::Paused, None);
        }
        match (&self.status, &self.warning) {
            (MailboxStatus::Ok, Some(warning)) => {
                (MailboxStatus::NeedsAttention, Some(warning.as_str()))
            }
            (status, _) => (*status, self.status_reason.as_deref()),
        }
    }
}

fn mailbox_from_row(row: &AnyRow) -> Result<Mailbox> {
    let settings_text: String = col(row, "settings")?;
    Ok(Mailbox {
        id: MailboxId(col(row, "id")?),
        owner: UserId(col(row, "owner_id")?),
        kind: parse_col(row, "kind", "mailbox kind")?,
        address: col(row, "address")?,
        display_name: col(row, "display_name")?,
        target_list: ListId(col(row, "target_list_id")?),
        excluded_domains: json_col(row, "excluded_domains", "excluded domains")?,
        status: parse_col(row, "status", "mailbox status")?,
        status_reason: col(row, "status_reason")?,
        reconnecting: match (
            col::<Option<i64>>(row, "reconnecting_since")?,
            col::<Option<String>>(row, "reconnecting_reason")?,
        ) {
            (Some(since), reason) => Some(Reconnecting {
                since,
                reason: reason.unwrap_or_default(),
            }),
            (None, _) => None,
        },
        warning: col(row, "source_warning")?,
        paused_at: col(row, "paused_at")?,
        settings: serde_json::from_str(&settings_text).map_err(|e| Error::Corrupt {
            what: "mailbox settings",
            reason: e.to_string(),
        })?,
        secret: col::<Option<i64>>(row, "secret_id")?.map(SecretId),
        created_at: col(row, "created_at")?,
    })
}

fn normalise_domains(domains: &[String]) -> Vec<String> {
    let mut out: Vec<String> = domains
        .iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Store {
    /// Links a mailbox. The target list must be one the owner may edit.
    pub async fn create_mailbox(&self, new: NewMailbox) -> Result<Mailbox> {
        match self.role_of(new.owner, new.target_list).await? {
            Some(role) if role.can_edit() => {}
            _ => {
                return Err(Error::Invalid {
                    what: "target list",
                    reason: "the owner cannot edit it".into(),
                });
            }
        }
        let excluded = to_json(
            &normalise_domains(&new.excluded_domains),
            "excluded domains",
        )?;
        let settings = to_json(&new.settings, "mailbox settings")?;
        let row = sqlx::query(
            "INSERT INTO mailboxes (owner_id, kind, address, display_name, target_list_id, excluded_domains, \
             settings, secret_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id, owner_id, kind, address, display_name, target_list_id, excluded_domains, \
             status, status_reason, reconnecting_since, reconnecting_reason, source_warning, paused_at, settings, secret_id, created_at",
        )
        .bind(new.owner.0)
        .bind(new.kind.as_str())
        .bind(new.address.trim().to_lowercase())
        .bind(new.display_name)
        .bind(new.target_list.0)
        .bind(excluded)
        .bind(settings)
        .bind(new.secret.map(|s| s.0))
        .bind(self.now_ms())
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("create mailbox", "mailbox"))?;
        mailbox_from_row(&row)
    }

    /// An active mailbox.
    pub async fn get_mailbox(&self, id: MailboxId) -> Result<Mailbox> {
        let row = sqlx::query(
            "SELECT id, owner_id, kind, address, display_name, target_list_id, excluded_domains, \
             status, status_reason, reconnecting_since, reconnecting_reason, source_warning, paused_at, settings, secret_id, created_at FROM mailboxes \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get mailbox", "mailbox"))?
        .ok_or(Error::NotFound { what: "mailbox" })?;
        mailbox_from_row(&row)
    }

    /// Active mailboxes matching `filter`, by id.
    pub async fn list_mailboxes(&self, filter: &MailboxFilter) -> Result<Vec<Mailbox>> {
        let rows = sqlx::query(
            "SELECT id, owner_id, kind, address, display_name, target_list_id, excluded_domains, \
             status, status_reason, reconnecting_since, reconnecting_reason, source_warning, paused_at, settings, secret_id, created_at FROM mailboxes \
             WHERE deleted_at IS NULL AND ($1 IS NULL OR owner_id = $1) AND ($2 IS NULL OR kind = $2) \
             ORDER BY id",
        )
        .bind(filter.owner.map(|u| u.0))
        .bind(filter.kind.map(|k| k.as_str()))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list mailboxes", "mailbox"))?;
        rows.iter().map(mailbox_from_row).collect()
    }

    /// Unlinks a mailbox: soft-deletes it and wipes its secret at once (in one transaction).
    pub async fn soft_remove_mailbox(&self, id: MailboxId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE mailboxes SET deleted_at = $1, lease_owner = NULL, lease_until = 0 \
             WHERE id = $2 AND deleted_at IS NULL RETURNING secret_id",
        )
        .bind(self.now_ms())
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("remove mailbox", "mailbox"))?
        .ok_or(Error::NotFound { what: "mailbox" })?;
        if let Some(secret) = col::<Option<i64>>(&row, "secret_id")? {
            // The FK is ON DELETE SET NULL, so deleting the secret also clears the reference.
            sqlx::query("DELETE FROM secrets WHERE id = $1")
                .bind(secret)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("wipe mailbox secret", "secret"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit mailbox removal", "mailbox"))?;
        self.mailbox_settings_changed();
        Ok(())
    }

    pub async fn set_exclusions(&self, id: MailboxId, domains: &[String]) -> Result<()> {
        let excluded = to_json(&normalise_domains(domains), "excluded domains")?;
        self.update_mailbox(id, "set exclusions", excluded, MailboxUpdate::Exclusions)
            .await?;
        self.mailbox_settings_changed();
        Ok(())
    }

    /// Sets the health shown to the owner; `reason` is a short operator-facing text (never
    /// message content). Unfenced: for operators, the API and tools; a source marking the
    /// mailbox it watches uses [`Store::set_mailbox_status_fenced`].
    pub async fn set_mailbox_status(
        &self,
        id: MailboxId,
        status: MailboxStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        self.set_mailbox_status_fenced(id, status, reason, None)
            .await
    }

    /// [`Store::set_mailbox_status`] by the holder of the mailbox's lease with fencing token
    /// `fencing` (a source marking its mailbox needs-attention or needs-reconsent): refused with
    /// [`Error::Fenced`] and nothing written when the lease changed hands, so a stalled ex-owner
    /// cannot mark (and have its owner told about) a mailbox another replica now watches.
    /// `None` writes unchecked (no leases in use).
    pub async fn set_mailbox_status_fenced(
        &self,
        id: MailboxId,
        status: MailboxStatus,
        reason: Option<&str>,
        fencing: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        fencing::check(&mut tx, self.backend, id, fencing).await?;
        let done = sqlx::query(
            "UPDATE mailboxes SET status = $1, status_reason = $2 WHERE id = $3 AND deleted_at IS NULL",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("set mailbox status", "mailbox"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "mailbox" });
        }
        tx.commit()
            .await
            .map_err(Error::db("commit mailbox status", "mailbox"))
    }

    /// Records that the mailbox's source is reconnecting after a transient failure (`Some`, a
    /// fixed sentence; the outage's start is kept from its first failure) or that it is
    /// connected again (`None`). Fenced like the other writes of the mailbox's own state.
    pub async fn set_mailbox_reconnecting_fenced(
        &self,
        id: MailboxId,
        reason: Option<&str>,
        fencing: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        fencing::check(&mut tx, self.backend, id, fencing).await?;
        let query = match reason {
            Some(reason) => sqlx::query(
                "UPDATE mailboxes SET reconnecting_since = COALESCE(reconnecting_since, $1), \
                 reconnecting_reason = $2 WHERE id = $3 AND deleted_at IS NULL",
            )
            .bind(self.now_ms())
            .bind(reason),
            None => sqlx::query(
                "UPDATE mailboxes SET reconnecting_since = NULL, reconnecting_reason = NULL \
                 WHERE id = $1 AND deleted_at IS NULL",
            ),
        };
        query
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("set mailbox reconnecting", "mailbox"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit mailbox reconnecting", "mailbox"))
    }

    /// Pauses the mailbox now (`true`, unless it is paused already) or resumes it; returns
    /// whether that changed anything.
    pub async fn set_mailbox_paused(&self, id: MailboxId, paused: bool) -> Result<bool> {
        let query = if paused {
            sqlx::query(
                "UPDATE mailboxes SET paused_at = $1 \
                 WHERE id = $2 AND deleted_at IS NULL AND paused_at IS NULL",
            )
            .bind(self.now_ms())
        } else {
            sqlx::query(
                "UPDATE mailboxes SET paused_at = NULL \
                 WHERE id = $1 AND deleted_at IS NULL AND paused_at IS NOT NULL",
            )
        };
        let done = query
            .bind(id.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("pause or resume mailbox", "mailbox"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets (`Some`, a fixed sentence) or clears the warning of a running mailbox whose source
    /// works only in part; fenced like the other writes of the mailbox's own state. Returns
    /// whether the stored warning changed.
    pub async fn set_mailbox_warning_fenced(
        &self,
        id: MailboxId,
        warning: Option<&str>,
        fencing: Option<i64>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        fencing::check(&mut tx, self.backend, id, fencing).await?;
        let done = sqlx::query(
            "UPDATE mailboxes SET source_warning = $1 WHERE id = $2 AND deleted_at IS NULL \
             AND source_warning IS DISTINCT FROM $1",
        )
        .bind(warning)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("set mailbox warning", "mailbox"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit mailbox warning", "mailbox"))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_mailbox_settings(
        &self,
        id: MailboxId,
        settings: &serde_json::Value,
    ) -> Result<()> {
        let settings = to_json(settings, "mailbox settings")?;
        self.update_mailbox(
            id,
            "set mailbox settings",
            settings,
            MailboxUpdate::Settings,
        )
        .await
    }

    pub async fn set_target_list(&self, id: MailboxId, list: ListId) -> Result<()> {
        let mailbox = self.get_mailbox(id).await?;
        match self.role_of(mailbox.owner, list).await? {
            Some(role) if role.can_edit() => {}
            _ => {
                return Err(Error::Invalid {
                    what: "target list",
                    reason: "the owner cannot edit it".into(),
                });
            }
        }
        let done = sqlx::query(
            "UPDATE mailboxes SET target_list_id = $1 WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(list.0)
        .bind(id.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("set target list", "mailbox"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "mailbox" });
        }
        self.mailbox_settings_changed();
        Ok(())
    }

    /// New credentials: points the mailbox at `secret`, wipes the previous secret and resets
    /// the status to `ok` (a mailbox that needed attention is retried).
    pub async fn set_mailbox_secret(&self, id: MailboxId, secret: SecretId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query("SELECT secret_id FROM mailboxes WHERE id = $1 AND deleted_at IS NULL")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::db("get mailbox secret", "mailbox"))?
                .ok_or(Error::NotFound { what: "mailbox" })?;
        let old: Option<i64> = col(&row, "secret_id")?;
        sqlx::query("UPDATE mailboxes SET secret_id = $1, status = 'ok', status_reason = NULL WHERE id = $2")
            .bind(secret.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("set mailbox secret", "mailbox"))?;
        if let Some(old) = old.filter(|old| *old != secret.0) {
            sqlx::query("DELETE FROM secrets WHERE id = $1")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("wipe old mailbox secret", "secret"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit mailbox secret", "mailbox"))
    }

    async fn update_mailbox(
        &self,
        id: MailboxId,
        op: &'static str,
        value: String,
        what: MailboxUpdate,
    ) -> Result<()> {
        let sql = match what {
            MailboxUpdate::Exclusions => {
                "UPDATE mailboxes SET excluded_domains = $1 WHERE id = $2 AND deleted_at IS NULL"
            }
            MailboxUpdate::Settings => {
                "UPDATE mailboxes SET settings = $1 WHERE id = $2 AND deleted_at IS NULL"
            }
        };
        let done = sqlx::query(sql)
            .bind(value)
            .bind(id.0)
            .execute(self.writer())
            .await
            .map_err(Error::db(op, "mailbox"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "mailbox" });
        }
        Ok(())
    }

    /// Gives a lease up (e.g. at shutdown) so another replica can take it at once.
    pub async fn release_lease(&self, owner: &str, lease: Lease) -> Result<()> {
        sqlx::query(
            "UPDATE mailboxes SET lease_owner = NULL, lease_until = 0 \
             WHERE id = $1 AND lease_owner = $2 AND lease_fencing = $3",
        )
        .bind(lease.mailbox.0)
        .bind(owner)
        .bind(lease.fencing)
        .execute(self.writer())
        .await
        .map_err(Error::db("release lease", "mailbox"))?;
        Ok(())
    }
}

enum MailboxUpdate {
    Exclusions,
    Settings,
}
