//! The composition point of everything served over HTTP: the operations endpoints
//! (`/healthz`, `/readyz`, `/metrics`), the JSON API (`/api/v1`), the pages (`http::web`) and the
//! Microsoft Graph routes, with the layers every request goes through:
//!
//! 1. correlation id: `x-request-id` taken from the request (when it is at most 64 plain
//!    characters) or made up, echoed on the response,
//!    and recorded in the tracing span that every log line of the request belongs to;
//! 2. (API and pages only) the rate limit per client address and per bearer token (429 with
//!    `Retry-After`), then [`auth::authenticate`] (who is calling; CSRF for cookie requests),
//!    then the second-factor policy ([`auth::policy`]);
//! 3. (routes without authentication: `/graph/*`, the OAuth callback, `/healthz`, `/readyz`,
//!    `/metrics`) [`PublicLimits`]: one token bucket for the whole process and one per client
//!    address, so a flood is shed with 429 before any handler (or the store) does work.
//!
//! Client addresses come from [`client_address`](crate::http::client_address): the peer, or
//! what a proxy named in `[http] trusted_proxies` forwarded; IPv6 is limited per /64.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::http::MetricSources;
use crate::http::auth;
use crate::http::client_address::{RateKey, TrustedProxies};
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
    /// Default and longest lifetime of an API token.
    pub tokens: crate::service::tokens::TokenLimits,
    /// The reverse proxies whose `X-Forwarded-For` names the client (`[http]
    /// trusted_proxies`); from any other peer the header is ignored.
    pub trusted_proxies: TrustedProxies,
    /// Requests per second to the routes without authentication, for the whole process.
    pub public_rate_per_second: u32,
    /// The same, per client address (IPv6: per /64).
    pub public_rate_per_address: u32,
    /// `[graph]`, for `POST /api/v1/mailboxes/microsoft`; `None`: Microsoft 365 is not configured.
    pub graph: Option<std::sync::Arc<crate::sources::graph::GraphConfig>>,
    /// `[api] require_second_factor`: password sign-ins must pass a second factor.
    pub require_second_factor: bool,
    /// `[auth]`: local passwords on or off, and the OpenID providers people sign in with.
    pub identity: auth::oidc::Identity,
    /// `[oauth.providers.*]` and the callback, for IMAP mailboxes linked by signing in at a
    /// provider from the pages and the API.
    pub mail_oauth: crate::service::imap_oauth::MailOAuthLinking,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            rate_per_minute: 600,
            rate_burst: 60,
            session_ttl: auth::session::DEFAULT_SESSION_TTL,
            tokens: crate::service::tokens::TokenLimits::default(),
            trusted_proxies: TrustedProxies::default(),
            public_rate_per_second: DEFAULT_PUBLIC_RATE_PER_SECOND,
            public_rate_per_address: DEFAULT_PUBLIC_RATE_PER_ADDRESS,
            graph: None,
            require_second_factor: false,
            identity: auth::oidc::Identity::default(),
            mail_oauth: crate::service::imap_oauth::MailOAuthLinking::default(),
        }
    }
}

/// Default of [`ApiSettings::public_rate_per_second`].
pub const DEFAULT_PUBLIC_RATE_PER_SECOND: u32 = 5_000;
/// Default of [`ApiSettings::public_rate_per_address`].
pub const DEFAULT_PUBLIC_RATE_PER_ADDRESS: u32 = 500;

/// What the API and the pages' handlers need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Seals the credentials of mailboxes linked through the API.
    pub vault: Vault,
    /// IMAP limits (plaintext on loopback allowed or not, …) for testing a login before linking.
    pub imap: ImapOptions,
    pub settings: ApiSettings,
    /// Where webhooks may point (checked when one is added).
    pub webhooks: crate::webhooks::WebhookSettings,
    /// Where connected address books may be (checked when one is connected).
    pub books: crate::books::BookSettings,
    /// Starts the local book sync worker's round when a contact is accepted or a book connected.
    pub book_wake: crate::books::worker::Wake,
    limits: Arc<RateLimits>,
    /// The limits of the routes without authentication (shared by every such router).
    public: Arc<PublicLimits>,
    /// The running Microsoft 365 source, when there is one (unlinking stops its mailbox task).
    graph_source: Option<crate::sources::graph::GraphSource>,
    /// The running pipeline's org blocklist, which a change made here replaces at once.
    pub blocklist: crate::pipeline::SharedBlocklist,
    /// Starts this replica's group membership round at once (a group was linked).
    pub tenant_wake: Arc<tokio::sync::Notify>,
    /// Tells the running sources that a mailbox was paused or resumed here.
    pub mailboxes_changed: crate::sources::changed::MailboxesChanged,
}

impl AppState {
    pub fn new(store: Store, vault: Vault, imap: ImapOptions, settings: ApiSettings) -> AppState {
        let limits = Arc::new(RateLimits::new(&settings));
        let public = Arc::new(PublicLimits::new(&settings));
        AppState {
            store,
            vault,
            imap,
            settings,
            webhooks: crate::webhooks::WebhookSettings::default(),
            books: crate::books::BookSettings::default(),
            book_wake: crate::books::worker::Wake::default(),
            limits,
            public,
            graph_source: None,
            blocklist: crate::pipeline::SharedBlocklist::default(),
            tenant_wake: Arc::default(),
            mailboxes_changed: crate::sources::changed::MailboxesChanged::default(),
        }
    }

    /// Lets a blocklist change reach the running pipeline at once.
    pub fn with_blocklist(mut self, blocklist: crate::pipeline::SharedBlocklist) -> AppState {
        self.blocklist = blocklist;
        self
    }

    /// Sets the `[webhooks]` policy for adding webhooks.
    pub fn with_webhooks(mut self, settings: crate::webhooks::WebhookSettings) -> AppState {
        self.webhooks = settings;
        self
    }

    /// Sets the `[address_books]` policy for connecting address books.
    pub fn with_books(mut self, settings: crate::books::BookSettings) -> AppState {
        self.books = settings;
        self
    }

    /// Lets accepting a contact start the running book sync worker's round at once.
    pub fn with_book_wake(mut self, wake: crate::books::worker::Wake) -> AppState {
        self.book_wake = wake;
        self
    }

    /// Lets linking a group start the running membership round at once.
    pub fn with_mailboxes_changed(
        mut self,
        changed: crate::sources::changed::MailboxesChanged,
    ) -> AppState {
        self.mailboxes_changed = changed;
        self
    }

    pub fn with_tenant_wake(mut self, wake: Arc<tokio::sync::Notify>) -> AppState {
        self.tenant_wake = wake;
        self
    }

    /// Lets unlinking reach the running Microsoft 365 source.
    pub fn with_graph_source(mut self, source: crate::sources::graph::GraphSource) -> AppState {
        self.graph_source = Some(source);
        self
    }

    /// The running Microsoft 365 source, when there is one.
    pub fn graph_source(&self) -> Option<crate::sources::graph::GraphSource> {
        self.graph_source.clone()
    }

    /// The limits of the routes without authentication, for [`with_public_limits`].
    pub fn public_limits(&self) -> Arc<PublicLimits> {
        Arc::clone(&self.public)
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
            auth::policy::SecondFactorPolicy {
                required: state.settings.require_second_factor,
            },
            auth::policy::require_second_factor,
        ))
        .layer(middleware::from_fn_with_state(
            state.store.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .with_state(state.clone());
    let router = Router::new()
        .merge(with_public_limits(
            crate::http::router(metrics),
            state.public_limits(),
        ))
        .merge(user_facing);
    // The Microsoft Graph webhook and OAuth callback routes merge here:
    // `.merge(crate::http::graph::router(...))` — they carry their own state and auth.
    with_correlation_id(router)
}

/// Puts `router` (routes without authentication) behind the process-wide and per-address
/// limits of `limits`.
pub fn with_public_limits(router: Router, limits: Arc<PublicLimits>) -> Router {
    router.layer(middleware::from_fn_with_state(limits, public_limit))
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
    by_address: DefaultKeyedRateLimiter<RateKey>,
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
        // The limiter's own clock: making a new one calibrates it (CPUID), far dearer than the
        // check itself.
        let clock = self.by_address.clock();
        if let Some(address) = address
            && let Err(not_until) = self.by_address.check_key(&RateKey::of(address))
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

/// The limits of the routes without authentication: one bucket for the process, one per
/// client address (IPv6 per /64). Both are checked before the handler runs.
pub struct PublicLimits {
    global: DefaultDirectRateLimiter,
    by_address: DefaultKeyedRateLimiter<RateKey>,
    trusted_proxies: TrustedProxies,
}

impl PublicLimits {
    pub fn new(settings: &ApiSettings) -> PublicLimits {
        let quota = |per_second: u32| {
            let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
            // A burst of one second's worth.
            Quota::per_second(rate).allow_burst(rate)
        };
        PublicLimits {
            global: RateLimiter::direct(quota(settings.public_rate_per_second)),
            by_address: RateLimiter::keyed(quota(settings.public_rate_per_address)),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// `Err(wait)` when the caller must wait. The address is checked first, so one client's
    /// flood uses up its own bucket before the shared one.
    fn check(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        // The limiter's own clock: making a new one calibrates it (CPUID), far dearer than the
        // check itself.
        let clock = self.global.clock();
        if let Some(address) = address {
            if let Err(not_until) = self.by_address.check_key(&RateKey::of(address)) {
                return Err(not_until.wait_time_from(clock.now()));
            }
            if self.by_address.len() > 100_000 {
                self.by_address.retain_recent();
            }
        }
        self.global
            .check()
            .map_err(|not_until| not_until.wait_time_from(clock.now()))
    }
}

/// 429 with `Retry-After` (whole seconds, at least 1).
fn too_many_requests(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(serde_json::json!({ "error": "rate_limited", "message": "too many requests; retry later" })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// Middleware of the routes without authentication.
async fn public_limit(
    State(limits): State<Arc<PublicLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let address = limits.trusted_proxies.of_request(&request);
    if let Err(wait) = limits.check(address) {
        return too_many_requests(wait);
    }
    next.run(request).await
}

/// Middleware: 429 with `Retry-After` (whole seconds, at least 1) over the limit.
async fn rate_limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let address = state.settings.trusted_proxies.of_request(&request);
    // Sign-in throttles per account *and* source, so it needs the same address.
    request
        .extensions_mut()
        .insert(crate::http::client_address::ClientAddress(address));
    let token = auth::bearer(request.headers());
    if let Err(wait) = state.limits.check(address, token) {
        return too_many_requests(wait);
    }
    next.run(request).await
}
