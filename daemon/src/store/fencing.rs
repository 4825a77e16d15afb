//! The one fencing check made by every write of a mailbox's own state by the replica
//! that holds its lease, inside the same transaction as the write.
//!
//! Several replicas share PostgreSQL and each mailbox is worked by the holder of its lease; a
//! claim gives the lease a new fencing token (`mailboxes.lease_fencing`). A replica that stalled
//! past its lease (SIGSTOP, a long pause, a partition) still believes it owns the mailbox when it
//! wakes up; its writes carry the token it was given, and [`check`] refuses them with
//! [`Error::Fenced`] once the stored token is another. On PostgreSQL the mailbox row stays
//! share-locked until the writing transaction ends, so a claim (which updates that row) cannot
//! slip in between the check and the write.
//!
//! Fenced writes (all with an `Option<i64>` token; `None` = no leases in use, no check: SQLite's
//! single owner, tools and tests):
//! - the pipeline's commits (suggestions, processed markers, IMAP cursors: `commit_message`,
//!   which makes the same comparison while reading the target list);
//! - IMAP cursor resets (`reset_cursor_fenced`) and needs-attention marks
//!   (`set_mailbox_status_fenced`);
//! - the Graph source's per-mailbox task: delta links with their jobs (`commit_delta_round`,
//!   `commit_delta_baseline`), subscription rows (`put_graph_subscription`,
//!   `renew_graph_subscription`, `set_graph_subscription_state`) and needs-reconsent marks.
//!
//! Deliberately not fenced, because they are not the lease holder's writes:
//! - the Graph job queue written by the webhook of ANY replica (`enqueue_graph_jobs`) and the job
//!   claims (a claim is its own lease; jobs and processed messages are deduplicated);
//! - OAuth token rotation, serialised per mailbox across replicas by the refresh lock (see
//!   `sources::graph::tokens`);
//! - user and operator actions through the CLI, the API or the pages (unlink, re-consent, status
//!   reset, settings), which any replica serves.

use sqlx::AnyConnection;

use super::{Backend, Error, MailboxId, Result, col};

/// Refuses the caller's write with [`Error::Fenced`] unless `fencing` is the mailbox's current
/// lease token, inside the caller's transaction `conn` (on PostgreSQL the mailbox row is
/// share-locked until that transaction ends). A soft-deleted mailbox counts as lost: its lease
/// was dropped with it. `None` checks nothing (no leases in use). `NotFound` when the mailbox
/// row does not exist.
pub(crate) async fn check(
    conn: &mut AnyConnection,
    backend: Backend,
    mailbox: MailboxId,
    fencing: Option<i64>,
) -> Result<()> {
    let Some(fencing) = fencing else {
        return Ok(());
    };
    let sql = match backend {
        Backend::Postgres => {
            "SELECT lease_fencing, deleted_at FROM mailboxes WHERE id = $1 FOR SHARE"
        }
        Backend::Sqlite => "SELECT lease_fencing, deleted_at FROM mailboxes WHERE id = $1",
    };
    let row = sqlx::query(sql)
        .bind(mailbox.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::db("read mailbox fencing", "mailbox"))?
        .ok_or(Error::NotFound { what: "mailbox" })?;
    let current: i64 = col(&row, "lease_fencing")?;
    let deleted = col::<Option<i64>>(&row, "deleted_at")?.is_some();
    if current != fencing || deleted {
        return Err(Error::Fenced {
            mailbox: mailbox.0,
            fencing,
        });
    }
    Ok(())
}
