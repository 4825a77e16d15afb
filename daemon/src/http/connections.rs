//! Serving HTTP/1.1 connections with limits a slow or hostile client cannot get around:
//!
//! - at most [`MAX_CONNECTIONS`] open connections, so slow clients cannot use up the file
//!   descriptors the IMAP watchers and the database pool need. At the cap, a new connection
//!   closes the one that has waited longest for a request head (a client that connected and
//!   sent nothing, or half a head, or an idle keep-alive connection) or for the rest of a
//!   request body its handler is reading (counted from the first time the handler had to wait
//!   for body bytes; bytes trickling in do not make the wait younger): a flood of slow or idle
//!   connections cannot keep a normal client out, it only shortens its own connections' lives.
//!   A connection whose request is being served (its body complete, or not read) is never
//!   closed for another; when all of them are busy, the new one waits for a free place (the
//!   kernel's backlog holds the rest);
//! - a request head (request line and headers) must arrive within [`HEADER_READ_TIMEOUT`]
//!   (hyper's `header_read_timeout`, which `axum::serve` leaves off), on the first request and
//!   on every keep-alive request after it;
//! - a request body must arrive within [`BODY_READ_TIMEOUT`] (or sooner, closed at the cap as
//!   above) and be at most
//!   [`MAX_BODY_BYTES`] on every route (`tower-http` layers, see [`with_request_limits`]).
//!
//! The client's address reaches handlers as `ConnectInfo<SocketAddr>`, as with `axum::serve`.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// Open connections at most (each holds one file descriptor).
pub const MAX_CONNECTIONS: usize = 1_024;
/// Time for a request's head to arrive.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a request's body to arrive.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body on any route (the Graph webhook's own limit is the same).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long shutdown waits for open connections to finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Adds the body size and body read-time limits to every route of `router`.
pub fn with_request_limits(router: Router) -> Router {
    router
        .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
}

/// Serves `app` on `listener` until `shutdown`, with the limits of the module docs; then
/// lets open connections finish (at most [`SHUTDOWN_GRACE`]).
pub async fn serve<L>(listener: L, app: Router, shutdown: CancellationToken)
where
    L: Listener<Addr = SocketAddr>,
{
    serve_with(listener, app, shutdown, MAX_CONNECTIONS).await;
}

/// [`serve`] with another connection cap (tests use a small one).
pub async fn serve_with<L>(
    mut listener: L,
    app: Router,
    shutdown: CancellationToken,
    max_connections: usize,
) where
    L: Listener<Addr = SocketAddr>,
{
    let app = with_request_limits(app);
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let waiting = Arc::new(Waiting::default());
    let connections = TaskTracker::new();
    loop {
        let (io, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // At the cap: the longest wait for the client makes room; when every
                // connection is busy, the first place that frees, or the first connection
                // that starts waiting (and is then closed).
                let slot = loop {
                    let waiter = waiting.started.notified();
                    if waiting.close_longest() {
                        tracing::debug!("http connection cap reached: closed the longest-idle one");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break None,
                        slot = Arc::clone(&slots).acquire_owned() => break slot.ok(),
                        () = waiter => {}
                    }
                };
                match slot {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        // Registered here, before its task first runs: a connection that holds a place is
        // always one the next accept at the cap can close.
        let handle = Arc::clone(&waiting).open();
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            serve_connection(io, peer, app, shutdown, handle).await;
        });
    }
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("http connections still open after the shutdown grace period");
    }
}

/// The open connections that are waiting for a request head, longest first, and how to close
/// each.
#[derive(Default)]
struct Waiting {
    inner: Mutex<WaitingInner>,
    /// Woken when a connection starts waiting (the accept loop may then close it at the cap).
    started: tokio::sync::Notify,
}

#[derive(Default)]
struct WaitingInner {
    /// Numbers the connections and their waits, in order.
    next: u64,
    /// Wait number -> connection number, for connections waiting for a head.
    by_age: BTreeMap<u64, u64>,
    /// Connection number -> its current wait number (if waiting) and its close signal.
    open: HashMap<u64, (Option<u64>, CancellationToken)>,
}

/// One connection's place in [`Waiting`]; leaves it when dropped.
struct ConnectionHandle {
    waiting: Arc<Waiting>,
    id: u64,
    close: CancellationToken,
}

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitingInner> {
        // Plain bookkeeping: usable even if a panic interrupted an update.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new connection, waiting for its first request head.
    fn open(self: Arc<Self>) -> ConnectionHandle {
        let close = CancellationToken::new();
        let id = {
            let mut inner = self.lock();
            inner.next += 1;
            let id = inner.next;
            inner.by_age.insert(id, id);
            inner.open.insert(id, (Some(id), close.clone()));
            id
        };
        ConnectionHandle {
            waiting: self,
            id,
            close,
        }
    }

    /// Closes the connection that has waited longest for a request head; `false` when every
    /// open connection is serving a request.
    fn close_longest(&self) -> bool {
        let mut inner = self.lock();
        let Some((_, id)) = inner.by_age.pop_first() else {
            return false;
        };
        if let Some((wait, close)) = inner.open.get_mut(&id) {
            *wait = None;
            close.cancel();
        }
        true
    }
}

impl ConnectionHandle {
    /// A request head arrived: this connection is busy until [`Self::idle`].
    fn busy(&self) {
        let mut inner = self.waiting.lock();
        if let Some((wait, _)) = inner.open.get_mut(&self.id)
            && let Some(wait) = wait.take()
        {
            inner.by_age.remove(&wait);
        }
    }

    /// The response is out: the connection waits for its next request head.
    fn idle(&self) {
        self.wait();
    }

    /// The connection waits for the client (a request head, or the rest of a body): from now
    /// on it may be closed for a newer connection at the cap.
    fn wait(&self) {
        {
            let mut inner = self.waiting.lock();
            inner.next += 1;
            let wait = inner.next;
            let id = self.id;
            let Some((current, close)) = inner.open.get_mut(&id) else {
                return;
            };
            if close.is_cancelled() {
                return;
            }
            if let Some(old) = current.replace(wait) {
                inner.by_age.remove(&old);
            }
            inner.by_age.insert(wait, id);
        }
        self.waiting.started.notify_waiters();
    }
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        let mut inner = self.waiting.lock();
        if let Some((Some(wait), _)) = inner.open.remove(&self.id) {
            inner.by_age.remove(&wait);
        }
    }
}

/// A request body that puts its connection among the waiting ones (see the module docs) while
/// its handler waits for bytes the client has not sent, until the body ends or is dropped.
struct WatchedBody {
    inner: Incoming,
    handle: Arc<ConnectionHandle>,
    state: BodyWait,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyWait {
    /// The handler has not had to wait for the client yet.
    NotYet,
    /// The handler waits, or has waited, for the rest of the body: the connection is waiting.
    Waiting,
    /// The body is complete: the connection is busy until its response is out.
    Done,
}

impl WatchedBody {
    fn new(inner: Incoming, handle: Arc<ConnectionHandle>) -> WatchedBody {
        WatchedBody {
            inner,
            handle,
            state: BodyWait::NotYet,
        }
    }

    fn finish(&mut self) {
        if self.state == BodyWait::Waiting {
            self.handle.busy();
        }
        self.state = BodyWait::Done;
    }
}

impl HttpBody for WatchedBody {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Pending => {
                if self.state == BodyWait::NotYet {
                    self.state = BodyWait::Waiting;
                    self.handle.wait();
                }
            }
            Poll::Ready(None | Some(Err(_))) => self.finish(),
            Poll::Ready(Some(Ok(_))) => {
                if self.inner.is_end_stream() {
                    self.finish();
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        // A handler that stops reading serves its request from here on.
        self.finish();
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
    handle: ConnectionHandle,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let handle = Arc::new(handle);
    let close = handle.close.clone();
    let service = {
        let handle = Arc::clone(&handle);
        tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            let handle = Arc::clone(&handle);
            handle.busy();
            let request =
                request.map(|body| Body::new(WatchedBody::new(body, Arc::clone(&handle))));
            async move {
                let response = app.oneshot(request).await;
                handle.idle();
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(error = %error, "http connection ended with an error");
            }
        }
        // Closed for a newer connection at the cap: dropping it closes the socket.
        () = close.cancelled() => {}
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Connections that queued up before the server accepted any of them: the accept loop
    /// takes every place and reaches the cap before a single connection task has run. The
    /// cap's eviction must still find the slow ones, so the last connection's request is
    /// answered at once rather than when the first slow head times out.
    ///
    /// The clock is paused: no virtual time passes unless the server waits for a timer, so
    /// "at once" is exact and a machine under load cannot change the outcome.
    #[tokio::test(start_paused = true)]
    async fn a_connection_accepted_at_the_cap_evicts_slow_ones_whose_tasks_have_not_run()
    -> Result<(), Box<dyn std::error::Error>> {
        const CAP: usize = 2;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut slow = Vec::new();
        for _ in 0..CAP {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await?;
            slow.push(stream);
        }
        let mut normal = tokio::net::TcpStream::connect(addr).await?;
        normal
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;

        let started = tokio::time::Instant::now();
        let shutdown = CancellationToken::new();
        let app = Router::new().route("/", axum::routing::get(|| async { "served" }));
        let server = tokio::spawn(serve_with(listener, app, shutdown.clone(), CAP));
        let mut reply = Vec::new();
        normal.read_to_end(&mut reply).await?;
        let waited = started.elapsed();

        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(
            waited < HEADER_READ_TIMEOUT,
            "the request was answered only after {waited:?}: no slow connection was evicted"
        );
        shutdown.cancel();
        server.await?;
        Ok(())
    }
}
