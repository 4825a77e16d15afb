//! The Microsoft 365 routes: Graph's webhook (`POST /graph/notifications`, `POST
//! /graph/lifecycle`), the OAuth redirect (`GET /oauth/microsoft/callback`) and the admin
//! consent's (`GET /oauth/microsoft/admin-consent`).
//!
//! Webhook rules (Microsoft's): a `?validationToken=` POST is answered 200 `text/plain` with the
//! token, URL-decoded, echoed verbatim (never as HTML) within 10 s; a notification is answered
//! 202 within 3 s after its jobs are persisted, and nothing calls Graph inline. Bodies are
//! limited in size. The decisions live in [`crate::sources::graph::Webhook`].

use std::collections::HashMap;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::service::org::tenant::{AdminConsentAnswer, AdminConsentError, complete_admin_consent};
use crate::sources::graph::config::{
    ADMIN_CONSENT_PATH, CALLBACK_PATH, LIFECYCLE_PATH, NOTIFICATIONS_PATH,
};
use crate::sources::graph::{GraphSource, LinkError, Verdict, Webhook, complete_linking};
use crate::store::Store;
use crate::vault::Vault;

/// Largest notification body accepted (Graph batches stay far below).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the routes need.
#[derive(Clone)]
pub struct GraphRoutes {
    pub source: GraphSource,
    pub webhook: Webhook,
    pub store: Store,
    pub vault: Vault,
}

impl GraphRoutes {
    pub fn new(source: GraphSource, store: Store, vault: Vault) -> Self {
        Self {
            webhook: source.webhook(),
            source,
            store,
            vault,
        }
    }
}

/// The routes, with their state applied (merge into the daemon's router).
pub fn router(routes: GraphRoutes) -> Router {
    Router::new()
        .route(NOTIFICATIONS_PATH, post(notifications))
        .route(LIFECYCLE_PATH, post(lifecycle))
        .route(CALLBACK_PATH, get(callback))
        .route(ADMIN_CONSENT_PATH, get(admin_consent))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(routes)
}

async fn notifications(
    State(routes): State<GraphRoutes>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    webhook(&routes, &query, &body, false).await
}

async fn lifecycle(
    State(routes): State<GraphRoutes>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    webhook(&routes, &query, &body, true).await
}

async fn webhook(
    routes: &GraphRoutes,
    query: &HashMap<String, String>,
    body: &[u8],
    lifecycle: bool,
) -> Response {
    let started = Instant::now();
    if let Some(token) = query.get("validationToken") {
        // Query decoding already URL-decoded it; echoed as plain text, never interpreted.
        return (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            token.clone(),
        )
            .into_response();
    }
    let verdict = if lifecycle {
        routes.webhook.lifecycle(body).await
    } else {
        routes.webhook.notifications(body).await
    };
    let response = match verdict {
        Verdict::Accepted => StatusCode::ACCEPTED.into_response(),
        Verdict::BadRequest => (StatusCode::BAD_REQUEST, "not a notification\n").into_response(),
        Verdict::Unavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "try again later\n").into_response()
        }
    };
    routes.webhook.stats().observe_latency(started.elapsed());
    crate::telemetry::metrics::metrics()
        .graph_webhook_latency
        .observe(started.elapsed());
    response
}

/// Where the user's browser lands after the consent page. A linking started from the web page
/// or the API completes only with the starting user's session cookie (SameSite=Lax: browsers
/// send it on this top-level redirect); see [`crate::store::LinkOrigin`].
async fn callback(
    State(routes): State<GraphRoutes>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(error) = query.get("error") {
        // Consent refused or failed at Microsoft; the pending linking is consumed if known.
        if let Some(state) = query.get("state")
            && crate::sources::graph::oauth::state_is_ours(&routes.vault, state)
        {
            let _ = routes
                .store
                .take_oauth_state(&crate::sources::graph::oauth::state_hash(state))
                .await;
        }
        let code = if error
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            error.as_str()
        } else {
            "error"
        };
        return page_text(
            StatusCode::BAD_REQUEST,
            &format!("Microsoft 365 was not linked: consent was not given ({code})."),
        );
    }
    let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Microsoft 365 was not linked: the answer lacks its code or state.",
        );
    };
    // A state this daemon never issued ends here, before the session or the store is asked.
    if !crate::sources::graph::oauth::state_is_ours(&routes.vault, state) {
        return page(
            StatusCode::BAD_REQUEST,
            "Microsoft 365 was not linked: this link is unknown, used or expired. Start again.",
        );
    }
    let signed_in = match crate::http::auth::session::from_headers(&routes.store, &headers).await {
        Ok(session) => session.map(|s| s.user),
        Err(error) => {
            tracing::warn!(error = %error, "microsoft 365 callback: session check failed");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Microsoft 365 was not linked: try again in a moment.",
            );
        }
    };
    match complete_linking(
        &routes.source,
        &routes.store,
        &routes.vault,
        code,
        state,
        signed_in,
    )
    .await
    {
        Ok(mailbox) => {
            // Start it now rather than at the next reconciliation.
            if let Err(error) = routes.source.reconcile().await {
                tracing::warn!(mailbox = %mailbox.id, error = %error, "graph mailbox linked but not started yet");
            }
            page(
                StatusCode::OK,
                "Your Microsoft 365 mailbox is linked. You can close this page.",
            )
        }
        Err(LinkError::WrongSession) => page(
            StatusCode::FORBIDDEN,
            "Microsoft 365 was not linked: open the consent link in the browser where you are signed in to mailsig \
             as the user who started the linking, then start again.",
        ),
        Err(LinkError::ManagedByOrganisation) => page(
            StatusCode::CONFLICT,
            "This Microsoft 365 mailbox is managed by your organisation and linked already; it needs no consent of yours.",
        ),
        Err(LinkError::UnknownState) => page(
            StatusCode::BAD_REQUEST,
            "Microsoft 365 was not linked: this link is unknown, used or expired. Start again.",
        ),
        Err(error) => {
            tracing::warn!(error = %error, "graph linking failed");
            page(
                StatusCode::BAD_GATEWAY,
                "Microsoft 365 was not linked: the sign-in could not be completed. Try again.",
            )
        }
    }
}

/// Where the administrator's browser lands after Microsoft's admin-consent page:
/// `admin_consent=True&tenant=…&state=…`, or `error=…&error_description=…&state=…` (the
/// description is neither kept nor logged). The consent completes only in the session that
/// started it; the browser then goes back to the admin page, which says what happened.
async fn admin_consent(
    State(routes): State<GraphRoutes>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    const PAGE: &str = "/admin/microsoft-365";
    let Some(state) = query.get("state") else {
        return axum::response::Redirect::to(&format!("{PAGE}?consent=expired")).into_response();
    };
    let session = match crate::http::auth::session::from_headers(&routes.store, &headers).await {
        Ok(session) => session.map(|s| s.id),
        Err(error) => {
            tracing::warn!(error = %error, "admin consent callback: session check failed");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Access was not granted: try again in a moment.",
            );
        }
    };
    let answer = match (query.get("error"), query.get("tenant")) {
        (Some(error), _) => AdminConsentAnswer::Refused { error },
        (None, Some(tenant))
            if query
                .get("admin_consent")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")) =>
        {
            AdminConsentAnswer::Granted { tenant }
        }
        _ => AdminConsentAnswer::Refused {
            error: "no_consent",
        },
    };
    let outcome =
        complete_admin_consent(&routes.store, &routes.vault, state, session, answer).await;
    let to = match outcome {
        Ok(_) => "done=consented",
        Err(AdminConsentError::Refused(code)) => {
            let code = if code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                code.as_str()
            } else {
                "error"
            };
            tracing::info!(error = code, "microsoft 365 admin consent not given");
            "consent=refused"
        }
        Err(AdminConsentError::UnknownState | AdminConsentError::WrongSession) => "consent=expired",
        Err(error) => {
            tracing::warn!(error = %error, "microsoft 365 admin consent failed");
            "consent=failed"
        }
    };
    axum::response::Redirect::to(&format!("{PAGE}?{to}")).into_response()
}

/// A minimal page with a fixed sentence (no user input is reflected).
fn page(status: StatusCode, sentence: &'static str) -> Response {
    page_text(status, sentence)
}

fn page_text(status: StatusCode, sentence: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mailsig</title></head>\
         <body><p>{sentence}</p></body></html>\n"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        html,
    )
        .into_response()
}
