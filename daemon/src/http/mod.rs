//! The daemon's operations endpoints over HTTP: `/healthz` (the process is alive), `/readyz`
//! (the store answers and is migrated) and `/metrics` (Prometheus text format), so that systemd,
//! Docker, a load balancer and Prometheus can watch mailsigd.
//!
//! The listener is bound by the supervisor before it tells systemd `READY=1` (a taken port is a
//! start-up failure, not a silent gap in monitoring) and serves until the shutdown token is
//! cancelled. No endpoint here returns anything about mail: counters only.

pub mod api;
pub mod app;
pub mod auth;
pub mod client_address;
pub mod connections;
pub mod graph;
pub mod metrics;
pub mod tls;
pub mod web;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use metrics::MetricSources;

/// The content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the HTTP listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("bind the http listener on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("read the address of the http listener")]
    LocalAddr(#[source] std::io::Error),
    #[error("take over the bound http listener")]
    Adopt(#[source] std::io::Error),
    #[error("prepare https")]
    Https(#[from] tls::ExposureError),
}

/// A bound, not yet serving, listener.
pub struct HttpListener {
    listener: TcpListener,
    addr: SocketAddr,
    /// HTTPS, the redirect listener and CORS (see [`tls`]); plain HTTP by default.
    exposure: tls::Exposure,
}

impl HttpListener {
    /// Binds `addr` (port 0 picks a free port; see [`HttpListener::local_addr`]).
    pub async fn bind(addr: SocketAddr) -> Result<HttpListener, HttpError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(HttpError::LocalAddr)?;
        Ok(HttpListener {
            listener,
            addr,
            exposure: tls::Exposure::plain(),
        })
    }

    /// Serves on a socket the caller bound already (a test that keeps its port for its whole run
    /// instead of finding a free one and racing other processes for it).
    pub fn from_std(listener: std::net::TcpListener) -> Result<HttpListener, HttpError> {
        let addr = listener.local_addr().map_err(HttpError::LocalAddr)?;
        let adopt = |listener: std::net::TcpListener| {
            listener.set_nonblocking(true)?;
            TcpListener::from_std(listener)
        };
        let listener = adopt(listener).map_err(|source| HttpError::Bind { addr, source })?;
        Ok(HttpListener {
            listener,
            addr,
            exposure: tls::Exposure::plain(),
        })
    }

    /// Serves HTTPS (and the redirect listener, CORS) as `exposure` says.
    pub fn with_exposure(mut self, exposure: tls::Exposure) -> HttpListener {
        self.exposure = exposure;
        self
    }

    /// The HTTPS certificate, when serving HTTPS.
    pub fn tls_certificate(&self) -> Option<std::sync::Arc<tls::ReloadableCertificate>> {
        self.exposure.certificate()
    }

    /// The redirect listener's address, when configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.exposure.redirect_addr()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves the operations endpoints until `shutdown` is cancelled. Spawn it on the
    /// supervisor's tracker.
    pub async fn serve(self, sources: MetricSources, shutdown: CancellationToken) {
        self.exposure
            .serve(self.listener, self.addr, router(sources), shutdown)
            .await;
    }

    /// Serves a whole application router (see [`app::app_router`]) until `shutdown` is
    /// cancelled, with the client's address available to the rate limit.
    pub async fn serve_app(self, app: Router, shutdown: CancellationToken) {
        // HTTPS + HSTS, the redirect listener and CORS when configured (see `tls`); the client's
        // address reaches `ConnectInfo<SocketAddr>` on HTTP and HTTPS alike.
        self.exposure
            .serve(self.listener, self.addr, app, shutdown)
            .await;
    }
}

/// What the operations endpoints share: the metric sources and one cached store reading.
#[derive(Clone)]
struct Operations {
    sources: MetricSources,
    readings: std::sync::Arc<metrics::StoreReadings>,
}

/// The routes, for serving or for calling in process.
pub fn router(sources: MetricSources) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Operations {
            sources,
            readings: std::sync::Arc::default(),
        })
}

/// Alive: the runtime answers requests.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: the store answered a query on a table the migrations create, at most
/// [`metrics::STORE_READ_INTERVAL`] ago.
async fn readyz(State(operations): State<Operations>) -> Response {
    // `outbox_depth` is a trivial aggregate over a migrated table: it fails both when the
    // database is unreachable and when the migrations have not run.
    match operations
        .readings
        .outbox_depth(&operations.sources.store)
        .await
    {
        Some(_) => (StatusCode::OK, "ready\n").into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "store not ready\n").into_response(),
    }
}

async fn metrics(State(operations): State<Operations>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        operations.sources.render_with(&operations.readings).await,
    )
        .into_response()
}
