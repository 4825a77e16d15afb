//! Sealed secrets for the vault. The store keeps opaque encrypted bytes; it never sees a
//! plaintext. Rotation replaces every record in one transaction, so a crash halfway leaves
//! all records under the old key.
//!
//! A record is sealed for its own row (the vault binds it to the id as associated data), and
//! the id exists only once the row does: [`Store::put_secret_sealed_by`] inserts the row, hands
//! its id to the sealing function and stores the result in the same transaction, so no row is
//! ever visible without its record.

use sqlx::any::AnyRow;

use super::{Error, Result, SecretId, Store, col, parse_col};
use crate::domain::text_enum;

text_enum! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum SecretKind("secret kind") {
        ImapPassword => "imap_password",
        OauthTokens => "oauth_tokens",
        SmtpPassword => "smtp_password",
        OauthClientSecret => "oauth_client_secret",
        GraphClientState => "graph_client_state",
        WebhookSecret => "webhook_secret",
        /// A user's TOTP secret (the second factor of a password account).
        TotpSecret => "totp_secret",
        /// The password of a list's connected address book (CardDAV Basic authentication).
        BookPassword => "book_password",
    }
}

/// A sealed record as stored. `sealed` is ciphertext from the vault; Debug omits it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub id: SecretId,
    pub kind: SecretKind,
    /// A unique name for secrets that belong to the installation rather than a mailbox
    /// (e.g. `smtp`), so they can be found again.
    pub name: Option<String>,
    pub sealed: Vec<u8>,
    /// Which master key sealed it (bumped by rotation).
    pub key_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecret")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("sealed_len", &self.sealed.len())
            .field("key_version", &self.key_version)
            .finish()
    }
}

fn secret_from_row(row: &AnyRow) -> Result<StoredSecret> {
    Ok(StoredSecret {
        id: SecretId(col(row, "id")?),
        kind: parse_col(row, "kind", "secret kind")?,
        name: col(row, "name")?,
        sealed: col(row, "sealed")?,
        key_version: col(row, "key_version")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

impl Store {
    /// Stores a sealed secret and returns its id.
    pub async fn put_secret(
        &self,
        kind: SecretKind,
        sealed: &[u8],
        key_version: i64,
    ) -> Result<SecretId> {
        let now = self.now_ms();
        let row = sqlx::query(
            "INSERT INTO secrets (kind, sealed, key_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(sealed.to_vec())
        .bind(key_version)
        .bind(now)
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("store secret", "secret"))?;
        Ok(SecretId(col(&row, "id")?))
    }

    /// Stores a secret sealed for its own row: inserts the row, calls `seal` with its id and
    /// stores what it returns, all in one transaction (nothing is left when `seal` fails).
    pub async fn put_secret_sealed_by<E: From<Error>>(
        &self,
        kind: SecretKind,
        key_version: i64,
        seal: impl FnOnce(SecretId) -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<SecretId, E> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO secrets (kind, sealed, key_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(Vec::<u8>::new())
        .bind(key_version)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::db("store secret", "secret"))?;
        let id = SecretId(col(&row, "id")?);
        let sealed = seal(id)?;
        set_sealed(&mut tx, id, sealed).await?;
        tx.commit()
            .await
            .map_err(Error::db("commit secret", "secret"))?;
        Ok(id)
    }

    /// Stores (or replaces) the installation-wide secret called `name`, sealed for its row as
    /// [`Store::put_secret_sealed_by`] does.
    pub async fn set_named_secret_sealed_by<E: From<Error>>(
        &self,
        name: &str,
        kind: SecretKind,
        key_version: i64,
        seal: impl FnOnce(SecretId) -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<SecretId, E> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO secrets (kind, name, sealed, key_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, \
             key_version = excluded.key_version, updated_at = excluded.updated_at RETURNING id",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(Vec::<u8>::new())
        .bind(key_version)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::db("store named secret", "secret"))?;
        let id = SecretId(col(&row, "id")?);
        let sealed = seal(id)?;
        set_sealed(&mut tx, id, sealed).await?;
        tx.commit()
            .await
            .map_err(Error::db("commit named secret", "secret"))?;
        Ok(id)
    }

    /// Whether every record has been re-sealed under its binding (the upgrade from unbound
    /// records has run on this database).
    pub async fn vault_records_bound(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM vault_format")
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("read vault format", "vault format"))?;
        Ok(col::<i64>(&row, "n")? > 0)
    }

    /// The sealed PKCE verifiers of linkings in progress, by state hash (for the upgrade).
    pub async fn oauth_state_records(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query("SELECT state_hash, verifier_sealed FROM oauth_states")
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("list oauth states", "oauth state"))?;
        rows.iter()
            .map(|row| Ok((col(row, "state_hash")?, col(row, "verifier_sealed")?)))
            .collect()
    }

    /// The end of the upgrade to bound records, in ONE transaction: records that the upgrade
    /// is done, then replaces each record that still holds the bytes it was re-sealed from
    /// (one written meanwhile is already bound and is left alone). Returns `false`, changing
    /// nothing, when another process finished the upgrade first.
    pub async fn finish_vault_binding(
        &self,
        secrets: Vec<ResealedRecord<SecretId>>,
        oauth_states: Vec<ResealedRecord<String>>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let marked = sqlx::query(
            "INSERT INTO vault_format (id, bound_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("record vault format", "vault format"))?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        for record in secrets {
            sqlx::query("UPDATE secrets SET sealed = $1 WHERE id = $2 AND sealed = $3")
                .bind(record.sealed)
                .bind(record.row.0)
                .bind(record.was)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("re-seal secret", "secret"))?;
        }
        for record in oauth_states {
            sqlx::query(
                "UPDATE oauth_states SET verifier_sealed = $1 \
                 WHERE state_hash = $2 AND verifier_sealed = $3",
            )
            .bind(record.sealed)
            .bind(record.row)
            .bind(record.was)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("re-seal oauth state", "oauth state"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit vault format", "vault format"))?;
        Ok(true)
    }

    /// Stores (or replaces) the installation-wide secret called `name`.
    pub async fn set_named_secret(
        &self,
        name: &str,
        kind: SecretKind,
        sealed: &[u8],
        key_version: i64,
    ) -> Result<SecretId> {
        let now = self.now_ms();
        let row = sqlx::query(
            "INSERT INTO secrets (kind, name, sealed, key_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, sealed = excluded.sealed, \
             key_version = excluded.key_version, updated_at = excluded.updated_at RETURNING id",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(sealed.to_vec())
        .bind(key_version)
        .bind(now)
        .fetch_one(self.writer())
        .await
        .map_err(Error::db("store named secret", "secret"))?;
        Ok(SecretId(col(&row, "id")?))
    }

    pub async fn named_secret(&self, name: &str) -> Result<StoredSecret> {
        let row = sqlx::query(
            "SELECT id, kind, name, sealed, key_version, created_at, updated_at FROM secrets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get named secret", "secret"))?
        .ok_or(Error::NotFound { what: "secret" })?;
        secret_from_row(&row)
    }

    pub async fn get_secret(&self, id: SecretId) -> Result<StoredSecret> {
        let row = sqlx::query(
            "SELECT id, kind, name, sealed, key_version, created_at, updated_at FROM secrets WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get secret", "secret"))?
        .ok_or(Error::NotFound { what: "secret" })?;
        secret_from_row(&row)
    }

    /// Every stored secret (for rotation and start-up decryption), by id.
    pub async fn all_secrets(&self) -> Result<Vec<StoredSecret>> {
        let rows = sqlx::query(
            "SELECT id, kind, name, sealed, key_version, created_at, updated_at FROM secrets ORDER BY id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("list secrets", "secret"))?;
        rows.iter().map(secret_from_row).collect()
    }

    /// Replaces one sealed record (e.g. a rotated OAuth refresh token).
    pub async fn replace_secret(
        &self,
        id: SecretId,
        sealed: &[u8],
        key_version: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE secrets SET sealed = $1, key_version = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(sealed.to_vec())
        .bind(key_version)
        .bind(self.now_ms())
        .bind(id.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("replace secret", "secret"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "secret" });
        }
        Ok(())
    }

    /// Master-key rotation: replaces every listed record in ONE transaction. If any id is
    /// unknown or any write fails, nothing changes. Returns how many records were replaced.
    pub async fn replace_all_secrets(
        &self,
        records: Vec<(SecretId, Vec<u8>)>,
        key_version: i64,
    ) -> Result<u64> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for (id, sealed) in records {
            let done = sqlx::query(
                "UPDATE secrets SET sealed = $1, key_version = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(sealed)
            .bind(key_version)
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(Error::db("rotate secret", "secret"))?;
            if done.rows_affected() == 0 {
                // Dropping `tx` rolls back every record replaced so far.
                return Err(Error::NotFound { what: "secret" });
            }
            n += 1;
        }
        tx.commit()
            .await
            .map_err(Error::db("commit secret rotation", "secret"))?;
        Ok(n)
    }

    /// Deletes a secret at once (no soft delete: secrets are wiped, not kept for retention).
    pub async fn delete_secret(&self, id: SecretId) -> Result<()> {
        let done = sqlx::query("DELETE FROM secrets WHERE id = $1")
            .bind(id.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("delete secret", "secret"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "secret" });
        }
        Ok(())
    }
}

/// One record re-sealed by the upgrade to bound records: the row, the bytes it held, and the
/// bytes that replace them.
pub struct ResealedRecord<Row> {
    pub row: Row,
    pub was: Vec<u8>,
    pub sealed: Vec<u8>,
}

pub(super) async fn set_sealed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: SecretId,
    sealed: Vec<u8>,
) -> Result<()> {
    sqlx::query("UPDATE secrets SET sealed = $1 WHERE id = $2")
        .bind(sealed)
        .bind(id.0)
        .execute(&mut **tx)
        .await
        .map_err(Error::db("seal secret", "secret"))?;
    Ok(())
}
