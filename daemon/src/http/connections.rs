//! Serving HTTP/1.1 connections with limits a slow or hostile client cannot get around:
//!
//! - at most [`MAX_CONNECTIONS`] open connections: beyond it the listener stops accepting
//!   (the kernel's backlog holds the rest), so slow clients cannot use up the file
//!   descriptors the IMAP watchers and the database pool need;
//! - a request head (request line and headers) must arrive within [`HEADER_READ_TIMEOUT`]
//!   (hyper's `header_read_timeout`, which `axum::serve` leaves off), on the first request and
//!   on every keep-alive request after it;
//! - a request body must arrive within [`BODY_READ_TIMEOUT`] and be at most
//!   [`MAX_BODY_BYTES`] on every route (`tower-http` layers, see [`with_request_limits`]).
//!
//! The client's address reaches handlers as `ConnectInfo<SocketAddr>`, as with `axum::serve`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
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
    let connections = TaskTracker::new();
    loop {
        // A slot first: at the cap, connections wait in the kernel's backlog, not in memory.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (io, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            serve_connection(io, peer, app, shutdown).await;
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

async fn serve_connection<I>(io: I, peer: SocketAddr, app: Router, shutdown: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
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
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
