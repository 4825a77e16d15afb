//! One watcher per (mailbox, folder): log in, EXAMINE, catch up by UID, then wait for news with IDLE
//! (or by polling) and catch up again; on transient faults reconnect with backoff, on an
//! authentication failure mark the mailbox as needing attention and stop.
//!
//! Read-only by construction: the only commands sent are CAPABILITY, LOGIN or AUTHENTICATE, EXAMINE,
//! `UID FETCH (UID RFC822.SIZE)`, `UID FETCH (UID BODY.PEEK[])`, `UID SEARCH SINCE` (after a
//! UIDVALIDITY change), NOOP, IDLE/DONE and LOGOUT.
//! Never SELECT, never STORE, never anything that changes a flag.
//!
//! Bounded against a hostile server: every command has `imap.command_timeout`, every body fetch
//! `imap.fetch_timeout` (however slowly the bytes trickle in), and the session's stream refuses
//! literals over the message size limit and overlong lines (`framing`); a message whose literal
//! is over the limit is committed as too large, so it is not fetched again.

use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use futures::TryStreamExt;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::checkpoints::{Checkpoints, FolderCursor};
use super::connect::ImapSession;
use super::credential::{self, MailboxCredential};
use super::error::{ImapError, ImapErrorKind};
use super::limiter::HostLimiter;
use super::settings::{ImapOptions, ImapSettings};
use super::stats::{ConnectedGuard, ImapStats};
use crate::pipeline::{
    InboundMessage, MailboxId, Payload, PipelineHandle, RawMessage, SourcePosition,
};

/// DONE after IDLE: a dead socket makes it hang, so it gets a short timeout (then we reconnect).
const DONE_TIMEOUT: Duration = Duration::from_secs(15);
/// LOGOUT at shutdown: polite, but never worth waiting for.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything one folder watcher needs; cheap to clone pieces are shared with the other watchers.
#[derive(Clone)]
pub(crate) struct FolderWatch {
    pub mailbox: MailboxId,
    pub folder: String,
    pub settings: Arc<ImapSettings>,
    pub credential: Arc<MailboxCredential>,
    pub options: Arc<ImapOptions>,
    pub pipeline: PipelineHandle,
    pub checkpoints: Arc<dyn Checkpoints>,
    pub limiter: HostLimiter,
    pub stats: Arc<ImapStats>,
    pub commits: tokio::sync::broadcast::Sender<CommittedMessage>,
    pub cancel: CancellationToken,
}

/// Announced after each message the pipeline committed (for metrics such as source lag, and the load tool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedMessage {
    pub mailbox: MailboxId,
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
    /// When the watcher learnt of new mail (IDLE wake-up, poll or session start) before fetching
    /// this message: `now - noticed` is the daemon's own share of the latency.
    pub noticed: std::time::Instant,
}

/// Why a watcher stopped.
#[derive(Debug)]
pub(crate) enum WatchEnd {
    Cancelled,
    NeedsAttention(ImapError),
}

/// Runs until cancelled or until the mailbox needs attention.
pub(crate) async fn run(watch: FolderWatch) -> WatchEnd {
    let mut backoff = Backoff::new(watch.options.backoff_initial, watch.options.backoff_max);
    // The store may still say "reconnecting" from before a restart: the first session that
    // gets going checks and clears it.
    let mut reconnecting = true;
    loop {
        let error = match session(&watch, &mut backoff, &mut reconnecting).await {
            Ok(()) => return WatchEnd::Cancelled,
            Err(error) => error,
        };
        if watch.cancel.is_cancelled() {
            return WatchEnd::Cancelled;
        }
        if error.needs_attention() {
            ImapStats::bump(&watch.stats.needs_attention);
            tracing::warn!(
                mailbox = %watch.mailbox, folder = %watch.folder, kind = error.kind().as_str(),
                "imap watcher stopped, mailbox needs attention: {error}"
            );
            let detail = error.to_string();
            if let Err(store_error) = watch
                .checkpoints
                .needs_attention(watch.mailbox, error.kind(), &detail)
                .await
            {
                tracing::error!(mailbox = %watch.mailbox, "could not record needs-attention: {store_error}");
            }
            return WatchEnd::NeedsAttention(error);
        }
        ImapStats::bump(&watch.stats.reconnects);
        mark_reconnecting(&watch, Some(error.kind())).await;
        reconnecting = true;
        let delay = backoff.next_delay();
        tracing::info!(
            mailbox = %watch.mailbox, folder = %watch.folder, kind = error.kind().as_str(),
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "imap session ended, reconnecting: {error}"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = watch.cancel.cancelled() => return WatchEnd::Cancelled,
        }
    }
}

/// [`run`], restarted after a panic: a bug met on one mailbox's data must not end its watching
/// for good (nor the daemon). The panic hook has logged where it happened; the restart waits
/// with the same backoff as a reconnect.
pub(crate) async fn run_supervised(watch: FolderWatch) -> WatchEnd {
    use futures::FutureExt;
    let mut backoff = Backoff::new(watch.options.backoff_initial, watch.options.backoff_max);
    loop {
        match std::panic::AssertUnwindSafe(run(watch.clone()))
            .catch_unwind()
            .await
        {
            Ok(end) => return end,
            Err(_payload) => {
                ImapStats::bump(&watch.stats.reconnects);
                tracing::error!(
                    mailbox = %watch.mailbox, folder = %watch.folder,
                    "imap watcher panicked; restarting it"
                );
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = watch.cancel.cancelled() => return WatchEnd::Cancelled,
        }
    }
}

/// Records "reconnecting since T (reason)" (`Some`) or "connected" (`None`) for the mailbox; a
/// store failure is only logged (the next change tries again).
async fn mark_reconnecting(watch: &FolderWatch, kind: Option<ImapErrorKind>) {
    if let Err(error) = watch.checkpoints.reconnecting(watch.mailbox, kind).await {
        tracing::warn!(mailbox = %watch.mailbox, "could not record the connection state: {error}");
    }
}

/// One connection's life. `Ok` only when cancelled. `reconnecting` says whether the mailbox may
/// be marked as reconnecting; the session clears the mark once it is ready.
async fn session(
    watch: &FolderWatch,
    backoff: &mut Backoff,
    reconnecting: &mut bool,
) -> Result<(), ImapError> {
    let host = watch.settings.host.as_str();
    let _permit = tokio::select! {
        permit = watch.limiter.acquire(host) => permit,
        () = watch.cancel.cancelled() => return Ok(()),
    };
    let connecting = credential::connect(&watch.settings, &watch.credential, &watch.options);
    let mut session = tokio::select! {
        result = connecting => result.inspect_err(|e| {
            if e.is_auth_failure() {
                ImapStats::bump(&watch.stats.auth_failures);
            }
        })?,
        () = watch.cancel.cancelled() => return Ok(()),
    };
    // Counted once the server accepted the login, not per attempt.
    ImapStats::bump(&watch.stats.logins);
    crate::pipeline::fault_injection::watcher(&watch.folder);
    let _connected = ConnectedGuard::new(&watch.stats);

    let limit = watch.options.command_timeout;
    let capabilities = command(host, limit, "CAPABILITY", session.capabilities()).await?;
    let has_idle = capabilities.has_str("IDLE");
    let folder = watch.folder.as_str();
    let mailbox = match timeout(limit, session.examine(folder)).await {
        Err(_) => return Err(ImapError::timeout(host, "EXAMINE")),
        Ok(Err(async_imap::error::Error::No(_))) => {
            return Err(ImapError::new(
                ImapErrorKind::FolderUnavailable,
                host,
                format!("EXAMINE {folder:?}: the server refused to open the folder"),
            ));
        }
        Ok(Err(e)) => return Err(ImapError::from_session(host, "EXAMINE", e)),
        Ok(Ok(mailbox)) => mailbox,
    };
    let uidvalidity = mailbox.uid_validity.ok_or_else(|| {
        ImapError::new(ImapErrorKind::Protocol, host, "EXAMINE gave no UIDVALIDITY")
    })?;
    let uid_next = match mailbox.uid_next {
        Some(next) => next,
        None => highest_uid(&mut session, host, limit)
            .await?
            .saturating_add(1),
    };
    let mut last_uid =
        starting_point(watch, &mut session, uidvalidity, uid_next, mailbox.exists).await?;
    backoff.reset();
    if std::mem::take(reconnecting) {
        mark_reconnecting(watch, None).await;
    }
    tracing::debug!(mailbox = %watch.mailbox, folder, uidvalidity, last_uid, has_idle, "imap watcher ready");

    let mut noticed = std::time::Instant::now();
    // What the store says waits in this folder is unknown at first (an earlier session or
    // daemon may have left a count): the first completed catch-up clears it.
    let mut waiting_recorded = true;
    loop {
        drain_unsolicited(&mut session);
        last_uid = catch_up(
            watch,
            &mut session,
            uidvalidity,
            last_uid,
            noticed,
            &mut waiting_recorded,
        )
        .await?;
        ImapStats::bump(&watch.stats.catch_ups);
        if watch.cancel.is_cancelled() {
            logout(session).await;
            return Ok(());
        }
        // Mail that arrived while the catch-up ran was announced (EXISTS) on this connection
        // already, after its listing was taken; the server does not announce it again when IDLE
        // starts, so going idle now would leave it waiting until `idle_wake`.
        if drain_unsolicited(&mut session) {
            noticed = std::time::Instant::now();
            continue;
        }
        let next = if has_idle {
            idle(watch, session).await?
        } else {
            poll(watch, session).await?
        };
        noticed = std::time::Instant::now();
        match next {
            Some(s) => session = s,
            None => return Ok(()),
        }
    }
}

/// Decides after which UID to start, from the committed cursor and the folder's current state.
async fn starting_point(
    watch: &FolderWatch,
    session: &mut ImapSession,
    uidvalidity: u32,
    uid_next: u32,
    exists: u32,
) -> Result<u32, ImapError> {
    let host = watch.settings.host.as_str();
    let stored = watch
        .checkpoints
        .load(watch.mailbox, &watch.folder)
        .await
        .map_err(|e| ImapError::new(ImapErrorKind::Sink, host, e.to_string()))?;
    let start = match stored {
        Some(cursor) if cursor.uidvalidity == uidvalidity => return Ok(cursor.last_uid),
        Some(cursor) => {
            // The folder was recreated (or the server rebuilt its index): old UIDs mean nothing
            // now. Mail of the recent window is offered again, so that what arrived around the
            // change is not lost; what was already processed is recognised by the store's
            // processed-message markers and skipped as a duplicate.
            ImapStats::bump(&watch.stats.uidvalidity_resets);
            tracing::warn!(
                mailbox = %watch.mailbox, folder = %watch.folder,
                old = cursor.uidvalidity, new = uidvalidity,
                "imap UIDVALIDITY changed, offering the recent window again"
            );
            let window = watch.options.uidvalidity_rescan;
            let limit = watch.options.command_timeout;
            rescan_start(session, (host, limit), uid_next, window).await?
        }
        None if watch.settings.backfill > 0 && exists > 0 => {
            let limit = watch.options.command_timeout;
            backfill_start(session, (host, limit), exists, watch.settings.backfill).await?
        }
        None => uid_next.saturating_sub(1),
    };
    watch
        .checkpoints
        .reset(
            watch.mailbox,
            &watch.folder,
            FolderCursor {
                uidvalidity,
                last_uid: start,
            },
        )
        .await
        .map_err(|e| ImapError::new(ImapErrorKind::Sink, host, e.to_string()))?;
    Ok(start)
}

/// The UID just below the oldest message that arrived within `window` (by INTERNALDATE, in the
/// whole days IMAP's SEARCH SINCE counts), or the new UIDNEXT's predecessor when none did.
async fn rescan_start(
    session: &mut ImapSession,
    (host, limit): (&str, Duration),
    uid_next: u32,
    window: Duration,
) -> Result<u32, ImapError> {
    let fresh = uid_next.saturating_sub(1);
    if window.is_zero() {
        return Ok(fresh);
    }
    let since = crate::clock::now()
        .checked_sub(window)
        .unwrap_or(std::time::UNIX_EPOCH);
    let query = format!("SINCE {}", imap_date(since));
    let uids = command(host, limit, "UID SEARCH SINCE", session.uid_search(query)).await?;
    Ok(uids
        .into_iter()
        .min()
        .map_or(fresh, |uid| uid.saturating_sub(1).min(fresh)))
}

/// A date as IMAP's SEARCH wants it (RFC 3501 `date`): `7-Dec-2026`, in UTC.
fn imap_date(at: std::time::SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = time::OffsetDateTime::from(at);
    let month = MONTHS[usize::from(u8::from(at.month())).saturating_sub(1) % 12];
    format!("{}-{month}-{}", at.day(), at.year())
}

/// The UID just below the `count` most recent messages (by sequence number).
async fn backfill_start(
    session: &mut ImapSession,
    (host, limit): (&str, Duration),
    exists: u32,
    count: u32,
) -> Result<u32, ImapError> {
    let first_seq = exists.saturating_sub(count).saturating_add(1).max(1);
    let uids: Vec<u32> = command(host, limit, "FETCH (UID)", async {
        let fetches: Vec<_> = session
            .fetch(format!("{first_seq}:{exists}"), "(UID)")
            .await?
            .try_collect()
            .await?;
        Ok(fetches.iter().filter_map(|f| f.uid).collect())
    })
    .await?;
    Ok(uids
        .into_iter()
        .min()
        .map_or(0, |uid| uid.saturating_sub(1)))
}

async fn highest_uid(
    session: &mut ImapSession,
    host: &str,
    limit: Duration,
) -> Result<u32, ImapError> {
    command(host, limit, "UID FETCH * (UID)", async {
        let fetches: Vec<_> = session.uid_fetch("*", "(UID)").await?.try_collect().await?;
        Ok(fetches.iter().filter_map(|f| f.uid).max().unwrap_or(0))
    })
    .await
}

/// Records in the store how many listed messages wait (0: none); a failure is logged and
/// otherwise ignored, as the count only informs the organisation's mailbox health.
async fn record_waiting(watch: &FolderWatch, count: usize) {
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    if let Err(error) = watch
        .checkpoints
        .waiting(watch.mailbox, &watch.folder, count)
        .await
    {
        tracing::warn!(mailbox = %watch.mailbox, "could not record what waits: {error}");
    }
}

/// Hands every message above `last_uid` to the pipeline, in UID order, advancing only after each
/// commit. Returns the new last UID. What the listing found is recorded as waiting until all of
/// it is committed (`waiting_recorded`: the store may hold a count this watcher must clear).
async fn catch_up(
    watch: &FolderWatch,
    session: &mut ImapSession,
    uidvalidity: u32,
    mut last_uid: u32,
    noticed: std::time::Instant,
    waiting_recorded: &mut bool,
) -> Result<u32, ImapError> {
    let host = watch.settings.host.as_str();
    let first = last_uid.saturating_add(1);
    // INTERNALDATE (the server's arrival time) feeds the per-source lag histogram.
    let mut listing: Vec<(u32, u64, Option<std::time::SystemTime>)> = command(
        host,
        watch.options.command_timeout,
        "UID FETCH (UID RFC822.SIZE INTERNALDATE)",
        async {
            let fetches: Vec<_> = session
                .uid_fetch(format!("{first}:*"), "(UID RFC822.SIZE INTERNALDATE)")
                .await?
                .try_collect()
                .await?;
            Ok(fetches
                .iter()
                .filter_map(|f| {
                    Some((
                        f.uid?,
                        u64::from(f.size.unwrap_or(0)),
                        f.internal_date().map(std::time::SystemTime::from),
                    ))
                })
                .collect())
        },
    )
    .await?;
    // RFC 3501: `n:*` always includes the highest UID, even when it is below n.
    listing.retain(|(uid, _, _)| *uid > last_uid);
    listing.sort_unstable_by_key(|(uid, _, _)| *uid);
    listing.dedup_by_key(|(uid, _, _)| *uid);
    if !listing.is_empty() {
        record_waiting(watch, listing.len()).await;
        *waiting_recorded = true;
    }

    for (uid, size, arrived) in listing {
        if watch.cancel.is_cancelled() {
            break;
        }
        // A literal over the size limit despite a small RFC822.SIZE ends the session (the
        // stream is cut where the literal starts); the message is still committed as too
        // large so that the next session does not ask for it again.
        let mut oversized = None;
        let payload = if size > watch.options.max_message_bytes {
            ImapStats::bump(&watch.stats.too_large);
            Payload::TooLarge
        } else {
            match fetch_body(session, host, watch.options.fetch_timeout, uid).await {
                Ok(Some(raw)) => {
                    tracing::trace!(mailbox = %watch.mailbox, uid, bytes = raw.len(), "imap message fetched");
                    Payload::Raw(raw)
                }
                // Expunged between the listing and the fetch: nothing to process.
                Ok(None) => continue,
                Err(error) if error.kind() == ImapErrorKind::Oversized => {
                    ImapStats::bump(&watch.stats.too_large);
                    oversized = Some(error);
                    Payload::TooLarge
                }
                Err(error) => return Err(error),
            }
        };
        let message = InboundMessage {
            mailbox: watch.mailbox,
            folder: watch.folder.clone(),
            position: SourcePosition::Imap { uidvalidity, uid },
            size,
            payload,
        };
        let sink_error = |e: crate::pipeline::PipelineError| {
            ImapError::new(ImapErrorKind::Sink, host, e.to_string())
        };
        let ack = watch.pipeline.submit(message).await.map_err(sink_error)?;
        ack.committed().await.map_err(sink_error)?;
        ImapStats::bump(&watch.stats.committed);
        if let Some(arrived) = arrived {
            crate::telemetry::metrics::metrics()
                .source_lag(crate::telemetry::metrics::SourceKind::Imap)
                .observe_since(arrived);
        }
        // Nobody listening is fine: the announcement is optional.
        let _ = watch.commits.send(CommittedMessage {
            mailbox: watch.mailbox,
            folder: watch.folder.clone(),
            uidvalidity,
            uid,
            noticed,
        });
        last_uid = uid;
        if let Some(error) = oversized {
            return Err(error);
        }
    }
    if *waiting_recorded && !watch.cancel.is_cancelled() {
        record_waiting(watch, 0).await;
        *waiting_recorded = false;
    }
    Ok(last_uid)
}

/// Fetches one message without setting \Seen (BODY.PEEK). `None` if the message is gone.
///
/// Zeroizing: our copy of the body goes straight into a [`RawMessage`], which zeroizes it when
/// dropped (after extraction, or here on any error path). What we cannot reach are async-imap's
/// own buffers: the framed reader's `BytesMut` read buffer and the `Fetch` response that borrows
/// from it hold the same bytes and are freed, not wiped, when `fetches` is dropped (their API
/// gives only `&[u8]`). Those allocations are reused by the next read of the same connection.
async fn fetch_body(
    session: &mut ImapSession,
    host: &str,
    limit: Duration,
    uid: u32,
) -> Result<Option<RawMessage>, ImapError> {
    let fetching = async {
        let fetches: Vec<_> = session
            .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await?
            .try_collect()
            .await?;
        Ok::<_, async_imap::error::Error>(
            fetches
                .iter()
                .find(|f| f.uid == Some(uid))
                .and_then(|f| f.body())
                .map(|body| RawMessage::new(body.to_vec())),
        )
    };
    match timeout(limit, fetching).await {
        Err(_) => Err(ImapError::timeout(host, "UID FETCH BODY.PEEK[]")),
        Ok(result) => result.map_err(|e| ImapError::from_session(host, "UID FETCH BODY.PEEK[]", e)),
    }
}

/// Waits in IDLE for news. Returns the session ready for the next catch-up, or `None` when cancelled.
async fn idle(watch: &FolderWatch, session: ImapSession) -> Result<Option<ImapSession>, ImapError> {
    let host = watch.settings.host.as_str();
    let mut handle = session.idle();
    timeout(watch.options.command_timeout, handle.init())
        .await
        .map_err(|_| ImapError::timeout(host, "IDLE"))?
        .map_err(|e| ImapError::from_session(host, "IDLE", e))?;

    let outcome = {
        // `stop` must outlive the wait: dropping it interrupts the IDLE.
        let (wait, stop) = handle.wait_with_timeout(watch.options.idle_wake);
        let outcome = tokio::select! {
            result = timeout(watch.options.idle_renew, wait) => Some(result),
            () = watch.cancel.cancelled() => None,
        };
        drop(stop);
        outcome
    };

    let news = match outcome {
        None => {
            if let Ok(Ok(session)) = timeout(LOGOUT_TIMEOUT, handle.done()).await {
                logout(session).await;
            }
            return Ok(None);
        }
        // Time to renew the IDLE (RFC 2177: at most 29 minutes).
        Some(Err(_renew)) => false,
        Some(Ok(Err(e))) => return Err(ImapError::from_session(host, "IDLE", e)),
        // We never interrupt the wait ourselves, so this means the stream ended: the server hung up.
        Some(Ok(Ok(IdleResponse::ManualInterrupt))) => {
            return Err(ImapError::new(
                ImapErrorKind::ConnectionLost,
                host,
                "server closed the connection during IDLE",
            ));
        }
        // Silence for `idle_wake`: DONE below proves the link is alive (or fails and we reconnect).
        Some(Ok(Ok(IdleResponse::Timeout))) => false,
        Some(Ok(Ok(IdleResponse::NewData(response)))) => {
            if let Response::Data {
                status: Status::Bye,
                ..
            } = response.parsed()
            {
                return Err(ImapError::new(
                    ImapErrorKind::ConnectionLost,
                    host,
                    "server said BYE during IDLE",
                ));
            }
            true
        }
    };
    if news {
        ImapStats::bump(&watch.stats.idle_wakeups);
    }
    let session = timeout(DONE_TIMEOUT, handle.done())
        .await
        .map_err(|_| ImapError::timeout(host, "DONE"))?
        .map_err(|e| ImapError::from_session(host, "DONE", e))?;
    Ok(Some(session))
}

/// Waits one poll interval, then checks the link with NOOP (which also makes the server notice new mail).
async fn poll(
    watch: &FolderWatch,
    mut session: ImapSession,
) -> Result<Option<ImapSession>, ImapError> {
    tokio::select! {
        () = tokio::time::sleep(watch.options.poll_interval) => {}
        () = watch.cancel.cancelled() => {
            logout(session).await;
            return Ok(None);
        }
    }
    ImapStats::bump(&watch.stats.polls);
    let limit = watch.options.command_timeout;
    command(&watch.settings.host, limit, "NOOP", session.noop()).await?;
    Ok(Some(session))
}

/// Unsolicited responses (EXISTS, EXPUNGE…) pile up in a bounded channel; we resync by UID
/// instead of reading them, so they are drained to free their memory. Returns whether any of
/// them announced new mail (EXISTS or RECENT).
fn drain_unsolicited(session: &mut ImapSession) -> bool {
    let mut news = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        news |= matches!(
            response,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    news
}

async fn logout(mut session: ImapSession) {
    let _ = timeout(LOGOUT_TIMEOUT, session.logout()).await;
}

/// Runs one command under `limit` (`imap.command_timeout`), mapping both failure kinds.
async fn command<T>(
    host: &str,
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, ImapError> {
    match timeout(limit, fut).await {
        Err(_) => Err(ImapError::timeout(host, what)),
        Ok(result) => result.map_err(|e| ImapError::from_session(host, what, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_dates_are_day_month_year_without_padding() {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_796_083_200); // 2026-12-01
        assert_eq!(imap_date(at), "1-Dec-2026");
        assert_eq!(imap_date(std::time::UNIX_EPOCH), "1-Jan-1970");
    }
}
