//! The deployment's second-factor policy (`[api] require_second_factor`): when it is on, a
//! browser session whose sign-in did not pass a second factor reaches only what it needs to set
//! one up (the security page and its forms), the stylesheet and sign-out. Every other page
//! redirects to the security page; the API answers 403 `second_factor_required`.
//!
//! Sessions carry the fact (`sessions.second_factor`, set at sign-in or when the user turns the
//! factor on), so the check costs no query. API tokens are not sessions and are not affected:
//! a session held back here cannot issue one.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::CurrentUser;

/// Is a second factor required of every password sign-in?
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecondFactorPolicy {
    pub required: bool,
}

/// Where a held-back session is sent.
const SET_UP_PATH: &str = "/account/security";

/// What a session without a second factor may still reach.
fn allowed(method: &axum::http::Method, path: &str) -> bool {
    path == SET_UP_PATH
        || path.starts_with("/account/security/two-factor/")
        || path == "/sign-out"
        || path == "/static/style.css"
        || (path == "/api/v1/session" && method == axum::http::Method::DELETE)
}

/// Middleware (inside `authenticate`): see the module docs.
pub async fn require_second_factor(
    State(policy): State<SecondFactorPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if !policy.required {
        return next.run(request).await;
    }
    let held_back = request
        .extensions()
        .get::<CurrentUser>()
        .and_then(CurrentUser::session)
        .is_some_and(|s| !s.second_factor);
    if !held_back || allowed(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    if request.uri().path().starts_with(crate::http::api::PREFIX) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "error": "second_factor_required",
                "message": "this deployment requires two-step verification: turn it on at /account/security",
            })),
        )
            .into_response();
    }
    Redirect::to(SET_UP_PATH).into_response()
}
