//! The composition point of everything served over HTTP: the operations endpoints
//! (`/healthz`, `/readyz`, `/metrics`), the JSON API (`/api/v1`), the pages (`http::web`) and the
//! Microsoft Graph routes, with the layers every request goes through:
//!
//! 1. correlation id: `x-request-id` taken from the request (when it is at most 64 plain
//!    characters) or made up, echoed on the response,
//!    and recorded in the tracing span that every log line of the request belongs to;
//! 2. (API and pages only) the rate limit per client address and per bearer token (429 with
//!    `Retry-After`), then [`auth::authenticate`] (who is calling; CSRF for cookie requests).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::http::MetricSources;
use crate::http::auth;
use crate::sources::imap::ImapOptions;
use crate::store::Store;
use crate::vault::Vault;

/// Settings of the user-facing HTTP side (the `[api]` configuration section).
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Requests per minute allowed per client address (and, separately, per API token).
    pub rate_per_minute: u32,
    /// How many requests may come at once before the per-minute rate applies.
    pub rate_burst: u32,
    /// Lifetime of a browser session.
    pub session_ttl: Duration,
    /// Behind a reverse proxy (`[http] behind_proxy`): the client address for the rate limit is
    /// the last entry of `X-Forwarded-For` (the one the proxy added), not the proxy's own.
    pub trust_forwarded_for: bool,
    /// `[graph]`, for `POST /api/v1/mailboxes/microsoft`; `None`: Microsoft 365 is not configured.
    pub graph: Option<std::sync::Arc<crate::sources::graph::GraphConfig>>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            rate_per_minute: 600,
            rate_burst: 60,
            session_ttl: auth::session::DEFAULT_SESSION_TTL,
            trust_forwarded_for: false,
            graph: None,
        }
    }
}

/// What the API and the pages' handlers need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Seals the credentials of mailboxes linked through the API.
    pub vault: Vault,
    /// IMAP limits (plaintext on loopback allowed or not, …) for testing a login before linking.
    pub imap: ImapOptions,
    pub settings: ApiSettings,
    limits: Arc<RateLimits>,
    /// The running Microsoft 365 source, when there is one (unlinking stops its mailbox task).
    graph_source: Option<crate::sources::graph::GraphSource>,
}

impl AppState {
    pub fn new(store: Store, vault: Vault, imap: ImapOptions, settings: ApiSettings) -> AppState {
        let limits = Arc::new(RateLimits::new(&settings));
        AppState {
            store,
            vault,
            imap,
            settings,
            limits,
            graph_source: None,
        }
    }

    /// Lets unlinking reach the running Microsoft 365 source.
    pub fn with_graph_source(mut self, source: crate::sources::graph::GraphSource) -> AppState {
        self.graph_source = Some(source);
        self
    }

    /// How this process unlinks a Microsoft 365 mailbox (running source, else `[graph]`, else
    /// the local wipe only).
    pub fn graph_unlinker(&self) -> crate::sources::graph::GraphUnlinker {
        crate::sources::graph::GraphUnlinker::new(
            self.vault.clone(),
            self.settings.graph.clone(),
            self.graph_source.clone(),
        )
    }
}

impl axum::extract::FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Store {
        state.store.clone()
    }
}

/// Every HTTP route of the daemon.
pub fn app_router(state: AppState, metrics: MetricSources) -> Router {
    let user_facing: Router<AppState> = Router::new()
        .merge(crate::http::api::router())
        .merge(crate::http::web::router());
    let user_facing = user_facing
        .layer(middleware::from_fn_with_state(
            state.store.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .with_state(state);
    let router = Router::new()
        .merge(crate::http::router(metrics))
        .merge(user_facing);
    // The Microsoft Graph webhook and OAuth callback routes merge here:
    // `.merge(crate::http::graph::router(...))` — they carry their own state and auth.
    with_correlation_id(router)
}

/// Adds the correlation-id layers and the request span to `router`.
pub fn with_correlation_id(router: Router) -> Router {
    let x_request_id = header::HeaderName::from_static("x-request-id");
    router
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The path only: query strings can hold search text (names) and are never logged.
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(x_request_id, RandomRequestId))
        .layer(middleware::map_request(drop_unusable_request_id))
}

/// The longest client-supplied `x-request-id` kept (a UUID is 36, a W3C trace id 32).
const MAX_CLIENT_REQUEST_ID: usize = 64;

/// Removes a client's `x-request-id` that is too long or holds anything but letters, digits and
/// `-_.:`, so that [`SetRequestIdLayer`] replaces it with a random one: the id is echoed and
/// written into every log line of the request, and must not become a way to inject text there.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get("x-request-id").is_none_or(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_CLIENT_REQUEST_ID
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !usable {
        request.headers_mut().remove("x-request-id");
    }
    request
}

/// 128 random bits in hex for requests that came without an `x-request-id`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        HeaderValue::from_str(&hex::encode(bytes))
            .ok()
            .map(RequestId::new)
    }
}

/// Keyed token buckets (GCRA, `governor`): one by client address, one by bearer token.
struct RateLimits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_token: DefaultKeyedRateLimiter<String>,
}

impl RateLimits {
    fn new(settings: &ApiSettings) -> RateLimits {
        let per_minute =
            NonZeroU32::new(settings.rate_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        RateLimits {
            by_address: RateLimiter::keyed(quota),
            by_token: RateLimiter::keyed(quota),
        }
    }

    /// `Err(wait)` when the caller must wait.
    fn check(&self, address: Option<IpAddr>, token: Option<&str>) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        if let Some(address) = address
            && let Err(not_until) = self.by_address.check_key(&address)
        {
            return Err(not_until.wait_time_from(clock.now()));
        }
        if let Some(token) = token {
            // Keyed by the token's hash: the limiter never holds a usable token.
            let key = hex::encode(Sha256::digest(token.as_bytes()));
            if let Err(not_until) = self.by_token.check_key(&key) {
                return Err(not_until.wait_time_from(clock.now()));
            }
        }
        // Forget idle keys now and then so the maps do not grow without bound.
        if self.by_address.len() > 10_000 {
            self.by_address.retain_recent();
        }
        if self.by_token.len() > 10_000 {
            self.by_token.retain_recent();
        }
        Ok(())
    }
}

/// The last address of the `X-Forwarded-For` headers: the one our own proxy appended (earlier
/// entries come from the client and can be forged).
fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|last| last.trim().parse().ok())
}

/// Middleware: 429 with `Retry-After` (whole seconds, at least 1) over the limit.
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = state
        .settings
        .trust_forwarded_for
        .then(|| forwarded_for(request.headers()))
        .flatten();
    let address = forwarded.or(peer);
    let token = auth::bearer(request.headers());
    if let Err(wait) = state.limits.check(address, token) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(serde_json::json!({ "error": "rate_limited", "message": "too many requests; retry later" })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    next.run(request).await
}
