//! The sign-in pages' side of OpenID Connect: a provider's button leads to [`start`] (a link,
//! not a form: the strict CSP's `form-action 'self'` would stop a form redirected to the
//! provider), the provider sends the browser back to [`callback`], and signing out of a
//! provider session passes through a page that forwards to the provider's end-session endpoint
//! without script (a `meta refresh`, with a link as well).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::PageError;
use super::return_to;
use super::session::sign_in_form;
use crate::http::app::AppState;
use crate::http::auth::oidc::{self, CallbackQuery, FinishError};

/// `?next=<path>` of a provider button.
#[derive(Deserialize, Default)]
pub struct StartQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /sign-in/oidc/{provider}`: to the provider, with the state cookie.
pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, PageError> {
    let identity = &state.settings.identity;
    let Some(provider) = identity.provider(&name) else {
        return sign_in_form(
            identity,
            StatusCode::NOT_FOUND,
            String::new(),
            Some(oidc::Failure::UnknownProvider.message().to_owned()),
        );
    };
    let next = query
        .next
        .filter(|n| return_to::is_local_path(n))
        .unwrap_or_default();
    match oidc::start(&state.store, &state.vault, provider, &next).await {
        Ok(started) => Ok((
            [(header::SET_COOKIE, started.set_cookie())],
            Redirect::to(&started.url),
        )
            .into_response()),
        Err(failure) => {
            tracing::warn!(provider = %name, failure = failure.as_str(), "OpenID sign-in could not start");
            sign_in_form(
                identity,
                StatusCode::SERVICE_UNAVAILABLE,
                String::new(),
                Some(failure.message().to_owned()),
            )
        }
    }
}

/// `GET /sign-in/oidc/{provider}/callback`: signed in, or the sign-in page saying why not.
pub async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let identity = &state.settings.identity;
    let finished = oidc::finish(
        &state.store,
        &state.vault,
        identity,
        &name,
        &query,
        &headers,
        state.settings.session_ttl,
    )
    .await;
    let mut response = match finished {
        Ok(done) => {
            let to = if return_to::is_local_path(&done.next) {
                done.next.as_str()
            } else {
                "/dashboard"
            };
            let mut response = Redirect::to(to).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, done.session.set_cookie());
            response
        }
        Err(FinishError::Refused(refusal)) => sign_in_form(
            identity,
            StatusCode::FORBIDDEN,
            String::new(),
            Some(refusal.message().to_owned()),
        )?,
        Err(FinishError::Failed(failure)) => {
            tracing::info!(provider = %name, failure = failure.as_str(), "OpenID sign-in failed");
            let status = match failure {
                oidc::Failure::Discovery | oidc::Failure::Unavailable => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                oidc::Failure::UnknownProvider => StatusCode::NOT_FOUND,
                _ => StatusCode::UNAUTHORIZED,
            };
            sign_in_form(
                identity,
                status,
                String::new(),
                Some(failure.message().to_owned()),
            )?
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, oidc::clear_cookie());
    Ok(response)
}
