//! Per-folder sync positions: IMAP `(UIDVALIDITY, last UID)` or a Graph delta link.
//!
//! Rule: an IMAP cursor never moves backwards within one UIDVALIDITY. A commit that carries
//! another UIDVALIDITY than the stored one is stale and leaves the cursor alone; the source
//! announces a new UIDVALIDITY explicitly with [`Store::reset_cursor`].
//!
//! Several replicas: a cursor is written either by `commit_message` (which checks the
//! lease's fencing token) or by a reset; [`Store::reset_cursor_fenced`] checks the token in the
//! same transaction as its write, so a stalled ex-owner cannot move a cursor back either.

use sqlx::AnyConnection;

use super::{Error, MailboxId, Result, Store, col, fencing};

/// Where a source is in one folder.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cursor {
    /// IMAP: the UID just processed, within `uidvalidity`.
    Imap { uidvalidity: u32, uid: u32 },
    /// Microsoft Graph: the delta link to continue from.
    Delta { link: String },
    /// The source has no position to record (e.g. a message fetched on its own).
    None,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FolderCursor {
    pub mailbox: MailboxId,
    pub folder: String,
    pub uidvalidity: Option<u32>,
    pub last_uid: Option<u32>,
    pub delta_link: Option<String>,
    pub updated_at: i64,
}

fn to_u32(v: Option<i64>, what: &'static str) -> Result<Option<u32>> {
    v.map(|v| {
        u32::try_from(v).map_err(|_| Error::Corrupt {
            what,
            reason: format!("{v} out of range"),
        })
    })
    .transpose()
}

impl Store {
    pub async fn get_cursor(
        &self,
        mailbox: MailboxId,
        folder: &str,
    ) -> Result<Option<FolderCursor>> {
        let row = sqlx::query(
            "SELECT uidvalidity, last_uid, delta_link, updated_at FROM folder_cursors \
             WHERE mailbox_id = $1 AND folder = $2",
        )
        .bind(mailbox.0)
        .bind(folder)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("get cursor", "cursor"))?;
        row.map(|row| {
            Ok(FolderCursor {
                mailbox,
                folder: folder.to_owned(),
                uidvalidity: to_u32(col(&row, "uidvalidity")?, "uidvalidity")?,
                last_uid: to_u32(col(&row, "last_uid")?, "last uid")?,
                delta_link: col(&row, "delta_link")?,
                updated_at: col(&row, "updated_at")?,
            })
        })
        .transpose()
    }

    /// Advances the cursor (never backwards within a UIDVALIDITY; see the module docs).
    pub async fn set_cursor(
        &self,
        mailbox: MailboxId,
        folder: &str,
        cursor: &Cursor,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        advance_cursor(&mut tx, mailbox, folder, cursor, now).await?;
        tx.commit()
            .await
            .map_err(Error::db("commit cursor", "cursor"))
    }

    /// Starts a folder over: a new UIDVALIDITY (or a first link) with `uid` as the last UID
    /// already accounted for (e.g. UIDNEXT - 1, so only new mail is processed).
    pub async fn reset_cursor(
        &self,
        mailbox: MailboxId,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
    ) -> Result<()> {
        self.reset_cursor_fenced(mailbox, folder, uidvalidity, uid, None)
            .await
    }

    /// [`Store::reset_cursor`] by the holder of the mailbox's lease with fencing token
    /// `fencing`: refused with [`Error::Fenced`] when the mailbox's token is another (its lease
    /// changed hands, or the mailbox was removed), checked in the same transaction as the write
    /// (`fencing::check`). `None` writes unchecked (no leases in use).
    pub async fn reset_cursor_fenced(
        &self,
        mailbox: MailboxId,
        folder: &str,
        uidvalidity: u32,
        uid: u32,
        fencing: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        fencing::check(&mut tx, self.backend, mailbox, fencing).await?;
        sqlx::query(
            "INSERT INTO folder_cursors (mailbox_id, folder, uidvalidity, last_uid, delta_link, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (mailbox_id, folder) DO UPDATE SET \
             uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, updated_at = excluded.updated_at",
        )
        .bind(mailbox.0)
        .bind(folder)
        .bind(i64::from(uidvalidity))
        .bind(i64::from(uid))
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(Error::db("reset cursor", "cursor"))?;
        tx.commit()
            .await
            .map_err(Error::db("commit cursor reset", "cursor"))
    }
}

impl Store {
    /// Records how many messages an IMAP folder's watcher found on the server beyond its cursor
    /// and has not processed yet (0: it has processed them all), and since when they wait: the
    /// moment of the first listing that found them, kept while later listings still find some
    /// (the oldest waits longest), cleared at 0. A folder without a cursor row (not linked yet,
    /// or removed meanwhile) is left alone.
    pub async fn set_folder_waiting(
        &self,
        mailbox: MailboxId,
        folder: &str,
        count: u32,
    ) -> Result<()> {
        let (count, since) = (i64::from(count), self.now_ms());
        sqlx::query(
            "UPDATE folder_cursors SET waiting = $3, \
               waiting_since = CASE WHEN $3 = 0 THEN NULL \
                 ELSE COALESCE(waiting_since, $4) END \
             WHERE mailbox_id = $1 AND folder = $2",
        )
        .bind(mailbox.0)
        .bind(folder)
        .bind(count)
        .bind(since)
        .execute(self.writer())
        .await
        .map_err(Error::db("record what waits in a folder", "cursor"))?;
        Ok(())
    }
}

/// Moves a cursor forward inside the caller's transaction.
pub(crate) async fn advance_cursor(
    conn: &mut AnyConnection,
    mailbox: MailboxId,
    folder: &str,
    cursor: &Cursor,
    now: i64,
) -> Result<()> {
    match cursor {
        Cursor::None => Ok(()),
        Cursor::Imap { uidvalidity, uid } => {
            // Insert if absent; otherwise raise last_uid only when the UIDVALIDITY matches.
            sqlx::query(
                "INSERT INTO folder_cursors (mailbox_id, folder, uidvalidity, last_uid, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (mailbox_id, folder) DO UPDATE SET \
                 uidvalidity = CASE WHEN folder_cursors.uidvalidity IS NULL THEN excluded.uidvalidity \
                                    ELSE folder_cursors.uidvalidity END, \
                 last_uid = CASE \
                   WHEN folder_cursors.uidvalidity IS NULL OR folder_cursors.last_uid IS NULL THEN excluded.last_uid \
                   WHEN folder_cursors.uidvalidity = excluded.uidvalidity AND excluded.last_uid > folder_cursors.last_uid \
                     THEN excluded.last_uid \
                   ELSE folder_cursors.last_uid END, \
                 updated_at = excluded.updated_at",
            )
            .bind(mailbox.0)
            .bind(folder)
            .bind(i64::from(*uidvalidity))
            .bind(i64::from(*uid))
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(Error::db("advance cursor", "cursor"))?;
            Ok(())
        }
        Cursor::Delta { link } => {
            sqlx::query(
                "INSERT INTO folder_cursors (mailbox_id, folder, delta_link, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (mailbox_id, folder) DO UPDATE SET delta_link = excluded.delta_link, \
                 updated_at = excluded.updated_at",
            )
            .bind(mailbox.0)
            .bind(folder)
            .bind(link.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(Error::db("advance delta cursor", "cursor"))?;
            Ok(())
        }
    }
}
