//! A list's connected address book and the local index of its entries
//! (`daemon/migrations/*/0036_address_books.sql`).
//!
//! The index holds one row per entry of the book (its version, the fields mailsig shows and
//! merges, the name, phonetic-name and company keys) and one row per e-mail and phone key, so
//! the duplicate check ([`Store::book_match`]) is one statement of indexed look-ups per
//! suggestion, never a scan of the book. It is filled only from what the book itself answered
//! ([`Store::apply_book_changes`]) and from what mailsig wrote there ([`Store::record_book_entry`]).

use std::collections::HashSet;
use std::sync::LazyLock;

use sqlx::any::AnyRow;

use super::{Error, ListId, Result, SecretId, Store, SuggestionId, UserId, col, parse_col};
use crate::domain::address_book::{
    BookChoice, BookContact, BookEntry, BookEntryId, BookKeys, BookKind, BookMatch, ETag,
    MatchReason, SyncState,
};
use crate::domain::text_enum;

text_enum! {
    /// Whether a connected book is in working order.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum BookStatus("address book status") {
        Ok => "ok",
        /// The last read or write failed for a reason that needs the user (credentials,
        /// certificate, a book that is gone); `status_reason` says which.
        NeedsAttention => "needs_attention",
    }
}

/// A list's connected book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectedBook {
    pub list: ListId,
    pub kind: BookKind,
    /// The collection URL or folder id.
    pub location: String,
    /// The adapter's settings (JSON), never a password.
    pub settings: String,
    pub secret: Option<SecretId>,
    pub sync_state: SyncState,
    pub status: BookStatus,
    /// A fixed word (`BookError::as_str`), never server text.
    pub status_reason: Option<String>,
    pub last_sync_at: Option<i64>,
    pub created_at: i64,
}

/// A book to connect; its secret, if any, already sealed and stored.
#[derive(Clone, Debug)]
pub struct NewBook<'a> {
    pub list: ListId,
    pub kind: BookKind,
    pub location: &'a str,
    pub settings: &'a str,
    pub secret: Option<SecretId>,
    pub created_by: UserId,
}

/// One entry with the keys the index stores for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedEntry {
    pub entry: BookEntry,
    pub keys: BookKeys,
}

/// What a read of the book found, keys computed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexedChanges {
    pub changed: Vec<IndexedEntry>,
    pub removed: Vec<BookEntryId>,
    /// The whole book was listed: index rows not in `changed` are dropped.
    pub complete: bool,
    pub state: SyncState,
}

/// An entry of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBookEntry {
    pub entry: BookEntry,
    /// mailsig created it in the book (only such entries may mailsig delete).
    pub created_by_mailsig: bool,
}

fn book_from_row(row: &AnyRow) -> Result<ConnectedBook> {
    Ok(ConnectedBook {
        list: ListId(col(row, "list_id")?),
        kind: parse_col(row, "kind", "address book kind")?,
        location: col(row, "location")?,
        settings: col(row, "settings")?,
        secret: col::<Option<i64>>(row, "secret_id")?.map(SecretId),
        sync_state: SyncState(col(row, "sync_state")?),
        status: parse_col(row, "status", "address book status")?,
        status_reason: col(row, "status_reason")?,
        last_sync_at: col(row, "last_sync_at")?,
        created_at: col(row, "created_at")?,
    })
}

fn entry_from_row(row: &AnyRow) -> Result<StoredBookEntry> {
    let fields: String = col(row, "fields")?;
    let contact: BookContact = serde_json::from_str(&fields).map_err(|_| Error::Corrupt {
        what: "address book entry",
        reason: "its stored fields are not valid JSON".to_owned(),
    })?;
    Ok(StoredBookEntry {
        entry: BookEntry {
            id: BookEntryId(col(row, "entry_id")?),
            etag: ETag(col(row, "etag")?),
            contact,
        },
        created_by_mailsig: col::<i64>(row, "created_by_mailsig")? != 0,
    })
}

async fn upsert_entry(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    list: ListId,
    indexed: &IndexedEntry,
    created_by_mailsig: bool,
    now: i64,
) -> Result<()> {
    let fields = super::to_json(&indexed.entry.contact, "address book entry")?;
    let keys = &indexed.keys;
    let id = indexed.entry.id.0.as_str();
    sqlx::query(
        "INSERT INTO book_entries (list_id, entry_id, etag, fields, name_key, phonetic_key, \
         company_key, created_by_mailsig, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (list_id, entry_id) DO UPDATE SET etag = excluded.etag, \
         fields = excluded.fields, name_key = excluded.name_key, \
         phonetic_key = excluded.phonetic_key, company_key = excluded.company_key, \
         created_by_mailsig = CASE WHEN excluded.created_by_mailsig = 1 THEN 1 \
         ELSE book_entries.created_by_mailsig END, updated_at = excluded.updated_at",
    )
    .bind(list.0)
    .bind(id)
    .bind(indexed.entry.etag.0.as_str())
    .bind(fields)
    .bind(keys.name.as_deref())
    .bind(keys.phonetic.as_deref())
    .bind(keys.company.as_deref())
    .bind(i64::from(created_by_mailsig))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(Error::db("index address book entry", "address book entry"))?;
    sqlx::query("DELETE FROM book_entry_keys WHERE list_id = $1 AND entry_id = $2")
        .bind(list.0)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(Error::db("index address book entry", "address book entry"))?;
    let keyed = keys
        .emails
        .iter()
        .map(|k| ("email", k))
        .chain(keys.phones.iter().map(|k| ("phone", k)));
    for (kind, key) in keyed {
        sqlx::query(
            "INSERT INTO book_entry_keys (list_id, entry_id, kind, key) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(list.0)
        .bind(id)
        .bind(kind)
        .bind(key.as_str())
        .execute(&mut **tx)
        .await
        .map_err(Error::db("index address book entry", "address book entry"))?;
    }
    Ok(())
}

async fn delete_entry(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    list: ListId,
    id: &BookEntryId,
) -> Result<()> {
    for sql in [
        "DELETE FROM book_entry_keys WHERE list_id = $1 AND entry_id = $2",
        "DELETE FROM book_entries WHERE list_id = $1 AND entry_id = $2",
    ] {
        sqlx::query(sql)
            .bind(list.0)
            .bind(id.0.as_str())
            .execute(&mut **tx)
            .await
            .map_err(Error::db("drop address book entry", "address book entry"))?;
    }
    Ok(())
}

/// E-mail and phone keys looked up per suggestion at most (each kind).
const KEYS_PER_KIND: usize = 8;

/// The duplicate check's statement: `$1` the list, then [`KEYS_PER_KIND`] e-mail keys and as
/// many phone keys (NULL where the suggestion has fewer; NULL meets nothing), then the name,
/// phonetic-name and company keys. Built once from constants (sqlx takes `'static` SQL text).
fn match_sql() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        let slots = |first: usize| {
            (first..first + KEYS_PER_KIND)
                .map(|p| format!("${p}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = 2 + 2 * KEYS_PER_KIND;
        let (phonetic, company) = (name + 1, name + 2);
        format!(
            "SELECT entry_id, '{email}' AS reason FROM book_entry_keys \
             WHERE list_id = $1 AND kind = 'email' AND key IN ({emails}) \
             UNION ALL SELECT entry_id, '{phone}' AS reason FROM book_entry_keys \
             WHERE list_id = $1 AND kind = 'phone' AND key IN ({phones}) \
             UNION ALL SELECT entry_id, '{by_name}' AS reason FROM book_entries \
             WHERE list_id = $1 AND name_key = ${name} AND company_key = ${company} \
             UNION ALL SELECT entry_id, '{by_sound}' AS reason FROM book_entries \
             WHERE list_id = $1 AND phonetic_key = ${phonetic} AND company_key = ${company} \
             LIMIT 50",
            email = MatchReason::Email.as_str(),
            phone = MatchReason::Phone.as_str(),
            by_name = MatchReason::NameAndCompany.as_str(),
            by_sound = MatchReason::PhoneticNameAndCompany.as_str(),
            emails = slots(2),
            phones = slots(2 + KEYS_PER_KIND),
        )
    });
    TEXT.as_str()
}

impl Store {
    /// Connects `new.list` to a book, replacing (and forgetting the index of) any book it had.
    /// Returns the secret of the book it replaced, for the caller to delete.
    pub async fn connect_book(&self, new: &NewBook<'_>) -> Result<Option<SecretId>> {
        let mut tx = self.begin_write().await?;
        let old = sqlx::query("SELECT secret_id FROM address_books WHERE list_id = $1")
            .bind(new.list.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::db("connect address book", "address book"))?;
        let old_secret = match old {
            Some(row) => col::<Option<i64>>(&row, "secret_id")?.map(SecretId),
            None => None,
        };
        for sql in [
            "DELETE FROM book_entry_keys WHERE list_id = $1",
            "DELETE FROM address_books WHERE list_id = $1",
        ] {
            sqlx::query(sql)
                .bind(new.list.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("connect address book", "address book"))?;
        }
        sqlx::query(
            "INSERT INTO address_books (list_id, kind, location, settings, secret_id, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.list.0)
        .bind(new.kind.as_str())
        .bind(new.location)
        .bind(new.settings)
        .bind(new.secret.map(|s| s.0))
        .bind(new.created_by.0)
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("connect address book", "address book"))?;
        tx.commit()
            .await
            .map_err(Error::db("connect address book", "address book"))?;
        Ok(old_secret)
    }

    /// The book `list` is connected to.
    pub async fn book_of_list(&self, list: ListId) -> Result<Option<ConnectedBook>> {
        let row = sqlx::query(
            "SELECT list_id, kind, location, settings, secret_id, sync_state, status, \
             status_reason, last_sync_at, created_at FROM address_books WHERE list_id = $1",
        )
        .bind(list.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read address book", "address book"))?;
        row.as_ref().map(book_from_row).transpose()
    }

    /// Every connected book (for the sync worker).
    pub async fn connected_books(&self) -> Result<Vec<ConnectedBook>> {
        let rows = sqlx::query(
            "SELECT list_id, kind, location, settings, secret_id, sync_state, status, \
             status_reason, last_sync_at, created_at FROM address_books ORDER BY list_id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read address books", "address book"))?;
        rows.iter().map(book_from_row).collect()
    }

    /// Disconnects `list` from its book and forgets the index; returns the book's secret, for
    /// the caller to delete. Nothing in the book itself changes.
    pub async fn disconnect_book(&self, list: ListId) -> Result<Option<SecretId>> {
        let Some(book) = self.book_of_list(list).await? else {
            return Err(Error::NotFound {
                what: "address book",
            });
        };
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM book_entry_keys WHERE list_id = $1",
            "DELETE FROM address_books WHERE list_id = $1",
        ] {
            sqlx::query(sql)
                .bind(list.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::db("disconnect address book", "address book"))?;
        }
        tx.commit()
            .await
            .map_err(Error::db("disconnect address book", "address book"))?;
        Ok(book.secret)
    }

    /// Marks the book in working order, or needing attention for `reason` (a fixed word).
    pub async fn set_book_status(&self, list: ListId, reason: Option<&'static str>) -> Result<()> {
        let status = match reason {
            None => BookStatus::Ok,
            Some(_) => BookStatus::NeedsAttention,
        };
        sqlx::query("UPDATE address_books SET status = $1, status_reason = $2 WHERE list_id = $3")
            .bind(status.as_str())
            .bind(reason)
            .bind(list.0)
            .execute(self.writer())
            .await
            .map_err(Error::db("mark address book", "address book"))?;
        Ok(())
    }

    /// Brings the index in line with what a read of the book found, and keeps where the read
    /// stopped, in one transaction.
    pub async fn apply_book_changes(&self, list: ListId, changes: &IndexedChanges) -> Result<()> {
        let gone: Vec<BookEntryId> = if changes.complete {
            let listed: HashSet<&str> = changes
                .changed
                .iter()
                .map(|c| c.entry.id.0.as_str())
                .collect();
            let rows = sqlx::query("SELECT entry_id FROM book_entries WHERE list_id = $1")
                .bind(list.0)
                .fetch_all(self.reader())
                .await
                .map_err(Error::db("read address book index", "address book"))?;
            let mut gone = Vec::new();
            for row in &rows {
                let id: String = col(row, "entry_id")?;
                if !listed.contains(id.as_str()) {
                    gone.push(BookEntryId(id));
                }
            }
            gone
        } else {
            Vec::new()
        };
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        for id in gone.iter().chain(&changes.removed) {
            delete_entry(&mut tx, list, id).await?;
        }
        for indexed in &changes.changed {
            upsert_entry(&mut tx, list, indexed, false, now).await?;
        }
        let updated = sqlx::query(
            "UPDATE address_books SET sync_state = $1, last_sync_at = $2, status = 'ok', \
             status_reason = NULL WHERE list_id = $3",
        )
        .bind(changes.state.0.as_deref())
        .bind(now)
        .bind(list.0)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("keep address book position", "address book"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "address book",
            });
        }
        tx.commit()
            .await
            .map_err(Error::db("index address book", "address book"))?;
        Ok(())
    }

    /// Puts one entry mailsig just wrote (or re-read) into the index.
    pub async fn record_book_entry(
        &self,
        list: ListId,
        indexed: &IndexedEntry,
        created_by_mailsig: bool,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        upsert_entry(&mut tx, list, indexed, created_by_mailsig, now).await?;
        tx.commit()
            .await
            .map_err(Error::db("index address book entry", "address book entry"))?;
        Ok(())
    }

    /// Drops one entry from the index (it is gone from the book).
    pub async fn forget_book_entry(&self, list: ListId, id: &BookEntryId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        delete_entry(&mut tx, list, id).await?;
        tx.commit()
            .await
            .map_err(Error::db("drop address book entry", "address book entry"))?;
        Ok(())
    }

    /// One entry of the index.
    pub async fn book_entry(
        &self,
        list: ListId,
        id: &BookEntryId,
    ) -> Result<Option<StoredBookEntry>> {
        let row = sqlx::query(
            "SELECT entry_id, etag, fields, created_by_mailsig FROM book_entries \
             WHERE list_id = $1 AND entry_id = $2",
        )
        .bind(list.0)
        .bind(id.0.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read address book entry", "address book entry"))?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// How many entries the index holds for `list`.
    pub async fn book_entry_count(&self, list: ListId) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM book_entries WHERE list_id = $1")
            .bind(list.0)
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("count address book entries", "address book"))?;
        col(&row, "n")
    }

    /// The duplicate check: which entry of `list`'s book the contact with `keys` meets, and
    /// why. One statement of index look-ups (e-mail and phone keys, name + company, phonetic
    /// name + company), whatever the size of the book.
    pub async fn book_match(&self, list: ListId, keys: &BookKeys) -> Result<BookMatch> {
        let none = keys.emails.is_empty()
            && keys.phones.is_empty()
            && (keys.company.is_none() || (keys.name.is_none() && keys.phonetic.is_none()));
        if none {
            return Ok(BookMatch::new_contact());
        }
        let mut query = sqlx::query(match_sql()).bind(list.0);
        for values in [&keys.emails, &keys.phones] {
            for slot in 0..KEYS_PER_KIND {
                query = query.bind(values.get(slot).map(String::as_str));
            }
        }
        query = query
            .bind(keys.name.as_deref())
            .bind(keys.phonetic.as_deref())
            .bind(keys.company.as_deref());
        let rows = query
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("check address book", "address book"))?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            hits.push((
                BookEntryId(col(row, "entry_id")?),
                parse_col::<MatchReason>(row, "reason", "match reason")?,
            ));
        }
        Ok(BookMatch::decide(&hits))
    }

    /// Records that `entry` of `list`'s book holds `suggestion`, written now.
    pub async fn link_book_entry(
        &self,
        suggestion: SuggestionId,
        list: ListId,
        entry: &BookEntryId,
        created: bool,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO book_links (suggestion_id, list_id, entry_id, created, pushed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (suggestion_id) DO UPDATE SET \
             list_id = excluded.list_id, entry_id = excluded.entry_id, \
             created = excluded.created, pushed_at = excluded.pushed_at",
        )
        .bind(suggestion.0)
        .bind(list.0)
        .bind(entry.0.as_str())
        .bind(i64::from(created))
        .bind(self.now_ms())
        .execute(self.writer())
        .await
        .map_err(Error::db("link address book entry", "address book entry"))?;
        Ok(())
    }

    /// The entry that holds `suggestion` in its list's book, if mailsig wrote it there.
    pub async fn book_link(&self, suggestion: SuggestionId) -> Result<Option<BookLink>> {
        let row = sqlx::query(
            "SELECT entry_id, created, pushed_at FROM book_links WHERE suggestion_id = $1",
        )
        .bind(suggestion.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read address book link", "address book entry"))?;
        row.map(|row| {
            Ok(BookLink {
                entry: BookEntryId(col(&row, "entry_id")?),
                created: col::<i64>(&row, "created")? != 0,
                pushed_at: col(&row, "pushed_at")?,
            })
        })
        .transpose()
    }

    /// Keeps the reviewer's merge-view choice for `suggestion` against an entry of `list`'s
    /// book (migration 0050), replacing the one it had; a choice naming no field removes it.
    pub async fn set_book_choice(
        &self,
        suggestion: SuggestionId,
        list: ListId,
        choice: &BookChoice,
    ) -> Result<()> {
        if choice.book.is_empty() && choice.ours.is_empty() {
            sqlx::query("DELETE FROM book_choices WHERE suggestion_id = $1")
                .bind(suggestion.0)
                .execute(self.writer())
                .await
                .map_err(Error::db(
                    "forget address book choice",
                    "address book entry",
                ))?;
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO book_choices (suggestion_id, list_id, entry_id, book_fields, our_fields) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (suggestion_id) DO UPDATE SET \
             list_id = excluded.list_id, entry_id = excluded.entry_id, \
             book_fields = excluded.book_fields, our_fields = excluded.our_fields",
        )
        .bind(suggestion.0)
        .bind(list.0)
        .bind(choice.entry.0.as_str())
        .bind(BookChoice::join(&choice.book))
        .bind(BookChoice::join(&choice.ours))
        .execute(self.writer())
        .await
        .map_err(Error::db("keep address book choice", "address book entry"))?;
        Ok(())
    }

    /// The reviewer's merge-view choice for `suggestion`, if one was kept.
    pub async fn book_choice(&self, suggestion: SuggestionId) -> Result<Option<BookChoice>> {
        let row = sqlx::query(
            "SELECT entry_id, book_fields, our_fields FROM book_choices WHERE suggestion_id = $1",
        )
        .bind(suggestion.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read address book choice", "address book entry"))?;
        row.map(|row| {
            Ok(BookChoice {
                entry: BookEntryId(col(&row, "entry_id")?),
                book: BookChoice::split(&col::<String>(&row, "book_fields")?),
                ours: BookChoice::split(&col::<String>(&row, "our_fields")?),
            })
        })
        .transpose()
    }

    /// Accepted (or merged) suggestions of `list` that its book does not hold yet, or that
    /// changed since they were written there; oldest first, at most `limit`.
    pub async fn book_pushes_due(&self, list: ListId, limit: u32) -> Result<Vec<SuggestionId>> {
        let rows = sqlx::query(
            "SELECT s.id FROM suggestions s LEFT JOIN book_links l ON l.suggestion_id = s.id \
             WHERE s.list_id = $1 AND s.status IN ('accepted', 'merged') AND s.deleted_at IS NULL \
             AND (l.suggestion_id IS NULL OR l.pushed_at < s.updated_at) \
             ORDER BY s.id LIMIT $2",
        )
        .bind(list.0)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read address book pushes", "address book"))?;
        rows.iter()
            .map(|r| col(r, "id").map(SuggestionId))
            .collect()
    }
}

impl Store {
    /// Claims `list`'s book for `replica` for `lease`, unless another replica holds a claim on
    /// it that has not expired (migration 0048). Returns whether this replica holds it now.
    pub async fn claim_book(
        &self,
        list: ListId,
        replica: &str,
        lease: std::time::Duration,
    ) -> Result<bool> {
        let now = self.now_ms();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let claimed = sqlx::query(
            "UPDATE address_books SET claimed_by = $1, claim_until = $2 WHERE list_id = $3 \
             AND (claimed_by IS NULL OR claimed_by = $4 OR claim_until < $5)",
        )
        .bind(replica)
        .bind(until)
        .bind(list.0)
        .bind(replica)
        .bind(now)
        .execute(self.writer())
        .await
        .map_err(Error::db("claim address book", "address book"))?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Gives back `replica`'s claim on `list`'s book.
    pub async fn release_book(&self, list: ListId, replica: &str) -> Result<()> {
        sqlx::query(
            "UPDATE address_books SET claimed_by = NULL, claim_until = NULL \
             WHERE list_id = $1 AND claimed_by = $2",
        )
        .bind(list.0)
        .bind(replica)
        .execute(self.writer())
        .await
        .map_err(Error::db("release address book", "address book"))?;
        Ok(())
    }
}

/// Where mailsig wrote an accepted suggestion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookLink {
    pub entry: BookEntryId,
    /// mailsig created the entry (rather than adding to one that was there).
    pub created: bool,
    pub pushed_at: i64,
}
