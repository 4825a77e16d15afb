//! The org-wide sender blocklist (`org_blocklist`): domains and single addresses whose mail no
//! mailbox turns into suggestions. Every change bumps `org_settings.blocklist_version` in its
//! own transaction, which is how each running replica learns that it must read the list again.
//!
//! The configuration file's `[filters] excluded_domains` is the list's initial value:
//! [`Store::apply_blocklist_file`] adds what the file names that it did not name when it was last
//! applied (everything, the first time), so an entry an admin removed does not come back at the
//! next start while the file still names it.

use sqlx::any::AnyRow;

use super::{Error, Result, Store, col, parse_col};
use crate::domain::text_enum;

text_enum! {
    /// What an entry of the blocklist matches.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum BlocklistKind("blocklist entry kind") {
        /// The domain and every subdomain of it.
        Domain => "domain",
        /// This one address.
        Address => "address",
    }
    impl Display;
}

/// One entry of the blocklist. `value` is lower case (a domain without a leading `@` or `.`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BlocklistEntry {
    pub id: i64,
    pub kind: BlocklistKind,
    pub value: String,
    pub created_at: i64,
}

/// The whole list and the version it was read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlocklistSnapshot {
    pub version: i64,
    pub entries: Vec<BlocklistEntry>,
}

fn entry_from_row(row: &AnyRow) -> Result<BlocklistEntry> {
    Ok(BlocklistEntry {
        id: col(row, "id")?,
        kind: parse_col(row, "kind", "blocklist entry kind")?,
        value: col(row, "value")?,
        created_at: col(row, "created_at")?,
    })
}

const BUMP: &str = "UPDATE org_settings SET blocklist_version = blocklist_version + 1 WHERE id = 1";

impl Store {
    /// The version of the blocklist: changes with every change of it (one cheap row read, for
    /// the replicas' poll).
    pub async fn blocklist_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT blocklist_version FROM org_settings WHERE id = 1")
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("read blocklist version", "org settings"))?;
        col(&row, "blocklist_version")
    }

    /// Every entry, by kind and value, with the version they were read at (one transaction,
    /// so the two agree).
    pub async fn blocklist(&self) -> Result<BlocklistSnapshot> {
        let mut tx = self
            .reader()
            .begin()
            .await
            .map_err(Error::db("begin blocklist read", "blocklist entry"))?;
        let row = sqlx::query("SELECT blocklist_version FROM org_settings WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(Error::db("read blocklist version", "org settings"))?;
        let version = col(&row, "blocklist_version")?;
        let rows = sqlx::query(
            "SELECT id, kind, value, created_at FROM org_blocklist ORDER BY kind, value",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::db("read blocklist", "blocklist entry"))?;
        tx.commit()
            .await
            .map_err(Error::db("end blocklist read", "blocklist entry"))?;
        Ok(BlocklistSnapshot {
            version,
            entries: rows.iter().map(entry_from_row).collect::<Result<_>>()?,
        })
    }

    /// Adds an entry (`value` already normalised); `Conflict` when it is there already,
    /// `Invalid` when the list already holds `at_most` entries.
    ///
    /// The version is bumped first: on PostgreSQL that locks the settings row, so concurrent
    /// additions take turns and each counts the entries the one before it added (SQLite's write
    /// transactions are serialised anyway). The cap cannot be overrun by adding in parallel.
    pub async fn add_blocklist_entry(
        &self,
        kind: BlocklistKind,
        value: &str,
        at_most: usize,
    ) -> Result<BlocklistEntry> {
        let mut tx = self.begin_write().await?;
        sqlx::query(BUMP)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("bump blocklist version", "org settings"))?;
        let held: i64 = col(
            &sqlx::query("SELECT COUNT(*) AS n FROM org_blocklist")
                .fetch_one(&mut *tx)
                .await
                .map_err(Error::db("count blocklist entries", "blocklist entry"))?,
            "n",
        )?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= at_most {
            return Err(Error::Invalid {
                what: "blocklist entry",
                reason: format!("the blocklist holds at most {at_most} entries"),
            });
        }
        let row = sqlx::query(
            "INSERT INTO org_blocklist (kind, value, created_at) VALUES ($1, $2, $3) \
             RETURNING id, kind, value, created_at",
        )
        .bind(kind.as_str())
        .bind(value)
        .bind(self.now_ms())
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::db("add blocklist entry", "blocklist entry"))?;
        let entry = entry_from_row(&row)?;
        tx.commit()
            .await
            .map_err(Error::db("commit blocklist entry", "blocklist entry"))?;
        Ok(entry)
    }

    /// Removes an entry by id; `NotFound` when there is none.
    pub async fn remove_blocklist_entry(&self, id: i64) -> Result<BlocklistEntry> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "DELETE FROM org_blocklist WHERE id = $1 RETURNING id, kind, value, created_at",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::db("remove blocklist entry", "blocklist entry"))?
        .ok_or(Error::NotFound {
            what: "blocklist entry",
        })?;
        let entry = entry_from_row(&row)?;
        sqlx::query(BUMP)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("bump blocklist version", "org settings"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit blocklist removal", "blocklist entry"))?;
        Ok(entry)
    }

    /// Applies the configuration file's list (normalised entries): adds those it did not name
    /// when it was last applied and that are not in the list yet, remembers the file's list,
    /// and returns what was added. One transaction.
    pub async fn apply_blocklist_file(
        &self,
        file: &[(BlocklistKind, String)],
    ) -> Result<Vec<BlocklistEntry>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT blocklist_file, blocklist_seeded_at FROM org_settings WHERE id = 1",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::db("read blocklist file", "org settings"))?;
        let before: Option<String> = col(&row, "blocklist_file")?;
        let seeded_at: Option<i64> = col(&row, "blocklist_seeded_at")?;
        let before: Vec<&str> = before.as_deref().unwrap_or("").lines().collect();
        let text: String = file
            .iter()
            .map(|(_, value)| value.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let now = self.now_ms();
        let mut added = Vec::new();
        for (kind, value) in file {
            if before.contains(&value.as_str()) {
                continue;
            }
            let row = sqlx::query(
                "INSERT INTO org_blocklist (kind, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (value) DO NOTHING RETURNING id, kind, value, created_at",
            )
            .bind(kind.as_str())
            .bind(value)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::db("seed blocklist entry", "blocklist entry"))?;
            if let Some(row) = row {
                added.push(entry_from_row(&row)?);
            }
        }
        if seeded_at.is_none() || before.join("\n") != text {
            sqlx::query(
                "UPDATE org_settings SET blocklist_file = $1, \
                 blocklist_seeded_at = COALESCE(blocklist_seeded_at, $2) WHERE id = 1",
            )
            .bind(text)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("remember blocklist file", "org settings"))?;
        }
        if !added.is_empty() {
            sqlx::query(BUMP)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("bump blocklist version", "org settings"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit blocklist file", "blocklist entry"))?;
        Ok(added)
    }
}
