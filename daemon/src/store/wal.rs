//! SQLite's WAL checkpoints, moved off the write path.
//!
//! By default SQLite checkpoints inside the COMMIT that pushes the write-ahead log past 1,000
//! pages: that commit copies the log into the database file and syncs it while every other
//! writer waits. Under a webhook storm (thousands of small transactions a second) that
//! happened dozens of times a second and was the long tail of the time to 202. The writer
//! connection now checkpoints only as a backstop ([`WRITER_AUTOCHECKPOINT`]); the
//! supervisor calls [`Store::checkpoint_wal`] every 250 ms on a reader connection, where a
//! PASSIVE checkpoint copies what it can without blocking the writer or any reader.

use super::{Backend, Error, Result, Store, col};

/// The writer's own automatic checkpoint threshold: 16,384 pages of 4 KiB (64 MiB of log),
/// reached only if the background checkpoints stop (a tool that opens the store without the
/// supervisor, or a reader holding a snapshot for a long time).
pub(crate) const WRITER_AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 16384";

/// What one checkpoint did, in pages of the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Pages in the log.
    pub log_pages: i64,
    /// Pages of it now copied into the database file.
    pub checkpointed_pages: i64,
}

impl Store {
    /// A PASSIVE checkpoint on a reader connection (SQLite); PostgreSQL has nothing to do.
    pub async fn checkpoint_wal(&self) -> Result<WalCheckpoint> {
        if self.backend != Backend::Sqlite {
            return Ok(WalCheckpoint::default());
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("checkpoint the write-ahead log", "database"))?;
        // Columns: busy (0/1), log (pages in the WAL), checkpointed (pages copied).
        Ok(WalCheckpoint {
            log_pages: col(&row, "log")?,
            checkpointed_pages: col(&row, "checkpointed")?,
        })
    }
}
