//! The store's one error type. Callers branch on its kind (`is_not_found`, `is_conflict`,
//! `is_transient`), never on its message text.

use std::time::Duration;

/// Every failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (or was soft-deleted).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A uniqueness rule was violated (an e-mail already registered, a list already shared …).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// The caller asked for something the data model forbids.
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// A stored value could not be read back (JSON or enum text that does not parse).
    #[error("corrupt {what} in the database: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// The caller's mailbox lease is gone or its fencing token is stale.
    #[error("mailbox {mailbox} lease lost (fencing token {fencing} is stale)")]
    Fenced { mailbox: i64, fencing: i64 },
    /// The database refused or failed the operation.
    #[error("{op}: {source}")]
    Database {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error("migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The connection URL is not one the store understands.
    #[error("unsupported database url (expected sqlite:// or postgres://): {scheme}")]
    UnsupportedUrl { scheme: String },
    /// Timed out waiting for the database.
    #[error("{op}: timed out after {after:?}")]
    Timeout { op: &'static str, after: Duration },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    pub fn is_fenced(&self) -> bool {
        matches!(self, Error::Fenced { .. })
    }

    /// True when retrying the same operation later may succeed: lost connections, pool
    /// exhaustion, SQLite busy/locked, PostgreSQL serialization failures and deadlocks.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Database { source, .. } => sqlx_is_transient(source),
            _ => false,
        }
    }

    /// Maps a sqlx error, turning unique violations into [`Error::Conflict`].
    pub(crate) fn db(op: &'static str, what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| match &source {
            sqlx::Error::Database(e) if e.is_unique_violation() => Error::Conflict { what },
            sqlx::Error::RowNotFound => Error::NotFound { what },
            _ => Error::Database { op, source },
        }
    }
}

fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and their extended codes, low byte).
            // PostgreSQL: 40001 serialization_failure, 40P01 deadlock_detected,
            // 08xxx connection exceptions, 57P0x admin/crash shutdown, 53300 too many connections.
            if let Ok(n) = code.parse::<i64>() {
                let primary = n & 0xff;
                return primary == 5 || primary == 6;
            }
            code == "40001"
                || code == "40P01"
                || code.starts_with("08")
                || code.starts_with("57P0")
                || code == "53300"
        }
        _ => false,
    }
}

/// A text that no variant of a stored enum has: refused as invalid, naming what and why.
impl From<crate::domain::UnknownText> for Error {
    fn from(e: crate::domain::UnknownText) -> Error {
        Error::Invalid {
            what: e.what,
            reason: e.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_drive_retry_decisions() {
        let timeout = Error::Database {
            op: "x",
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(timeout.is_transient());
        let nf = Error::NotFound { what: "user" };
        assert!(nf.is_not_found() && !nf.is_transient() && !nf.is_conflict());
        assert!(Error::db("x", "user")(sqlx::Error::RowNotFound).is_not_found());
        assert!(
            Error::Fenced {
                mailbox: 1,
                fencing: 2
            }
            .is_fenced()
        );
        assert!(!Error::Conflict { what: "user" }.is_transient());
        assert_eq!(
            Error::NotFound { what: "mailbox" }.to_string(),
            "mailbox not found"
        );
    }
}
