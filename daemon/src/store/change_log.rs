//! The change log of a list's suggestions, read for incremental export (not to be confused
//! with [`super::changes`], the change suggestions of accepted contacts).
//!
//! Database triggers write one row per change (`daemon/migrations/*/0020_list_changes.sql`), so
//! no write path can forget it. A row carries the state the suggestion had after the change: its
//! status, or `deleted` (a tombstone that outlives the purge of the suggestion).
//!
//! Positions: a reader asks for the [`ChangeHorizon`] first. Every row below the horizon was
//! committed (or rolled back) before the reader looked, and no later writer can add a row below
//! it; so "the rows between the previous horizon and this one" is a window that misses nothing
//! and repeats nothing. SQLite has one writer, and its position is the row's own sequence number;
//! PostgreSQL has many, and its position is the writing transaction's id, the horizon being the
//! xmin of the reader's snapshot (see the migration).

use super::{Backend, Error, ListId, Result, Store, Suggestion, SuggestionId, col};
use super::{SuggestionStatus, suggestions::suggestion_from_row};

/// A position in the change log, below which nothing changes any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChangeHorizon(pub i64);

/// The state a change left a suggestion in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeState {
    Live(SuggestionStatus),
    Deleted,
}

/// One row of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    pub suggestion: SuggestionId,
    pub state: ChangeState,
    /// The row's position (compared with horizons).
    pub position: i64,
    /// Orders the rows of one suggestion.
    pub seq: i64,
}

/// The page of a window: the first `$5` suggestions of list `$1` above id `$4` with a row in
/// `[$3, $2)`, by id; `$pos` is the column that holds a row's position on the backend. The rows
/// below `$2` are fixed (see the module doc), so the same bounds always name the same page.
macro_rules! page_sql {
    ($pos:literal) => {
        concat!(
            "SELECT DISTINCT suggestion_id FROM list_changes WHERE list_id = $1 AND ",
            $pos,
            " < $2 AND ",
            $pos,
            " >= $3 AND suggestion_id > $4 ORDER BY suggestion_id LIMIT $5"
        )
    };
}

/// The rows below `$2` of the suggestions of the page.
macro_rules! rows_sql {
    ($pos:literal) => {
        concat!(
            "SELECT suggestion_id, state, ",
            $pos,
            " AS position, seq FROM list_changes \
             WHERE list_id = $1 AND ",
            $pos,
            " < $2 AND suggestion_id IN (",
            page_sql!($pos),
            ") ORDER BY suggestion_id, seq"
        )
    };
}

/// The live suggestions of the page.
macro_rules! live_sql {
    ($pos:literal) => {
        concat!(
            "SELECT id, list_id, mailbox_id, sender_email, fields, confidence, status, created_at, \
             updated_at, auth_result, auth_method FROM suggestions WHERE list_id = $1 AND deleted_at IS NULL AND id IN (",
            page_sql!($pos),
            ") ORDER BY id"
        )
    };
}

/// Which suggestions of a window one read covers: the first `limit` above `after`, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangePage {
    pub after: SuggestionId,
    pub limit: u32,
}

impl Store {
    /// The current horizon: rows at or above it may still appear; rows below it never will.
    pub async fn change_horizon(&self) -> Result<ChangeHorizon> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT COALESCE(MAX(seq), 0) + 1 AS h FROM list_changes",
            Backend::Postgres => {
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS h"
            }
        };
        let row = sqlx::query(sql)
            .fetch_one(self.reader())
            .await
            .map_err(Error::db("read change horizon", "change"))?;
        Ok(ChangeHorizon(col(&row, "h")?))
    }

    /// Every row below `upto` of the suggestions of `list` that changed in `[since, upto)`
    /// (all of the list's suggestions when `since` is `None`) and fall in `page`, ordered by
    /// suggestion, then seq.
    pub async fn list_changes(
        &self,
        list: ListId,
        since: Option<ChangeHorizon>,
        upto: ChangeHorizon,
        page: ChangePage,
    ) -> Result<Vec<ChangeRow>> {
        let sql = match self.backend {
            Backend::Sqlite => rows_sql!("seq"),
            Backend::Postgres => rows_sql!("xid"),
        };
        let rows = sqlx::query(sql)
            .bind(list.0)
            .bind(upto.0)
            .bind(since.map_or(i64::MIN, |h| h.0))
            .bind(page.after.0)
            .bind(i64::from(page.limit))
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("read list changes", "change"))?;
        rows.iter()
            .map(|row| {
                let state: String = col(row, "state")?;
                let state = match state.as_str() {
                    "deleted" => ChangeState::Deleted,
                    other => ChangeState::Live(other.parse().map_err(|_| Error::Corrupt {
                        what: "change state",
                        reason: "not a suggestion status".to_owned(),
                    })?),
                };
                Ok(ChangeRow {
                    suggestion: SuggestionId(col(row, "suggestion_id")?),
                    state,
                    position: col(row, "position")?,
                    seq: col(row, "seq")?,
                })
            })
            .collect()
    }

    /// The live suggestions of `list` that changed in `[since, upto)` and fall in `page`, by id.
    pub async fn changed_suggestions(
        &self,
        list: ListId,
        since: Option<ChangeHorizon>,
        upto: ChangeHorizon,
        page: ChangePage,
    ) -> Result<Vec<Suggestion>> {
        let sql = match self.backend {
            Backend::Sqlite => live_sql!("seq"),
            Backend::Postgres => live_sql!("xid"),
        };
        let rows = sqlx::query(sql)
            .bind(list.0)
            .bind(upto.0)
            .bind(since.map_or(i64::MIN, |h| h.0))
            .bind(page.after.0)
            .bind(i64::from(page.limit))
            .fetch_all(self.reader())
            .await
            .map_err(Error::db("read changed suggestions", "suggestion"))?;
        rows.iter().map(suggestion_from_row).collect()
    }
}
