//! Signing in and out. The sign-in form is the only page for anonymous visitors; a wrong e-mail
//! and a wrong password get the same answer.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::PageError;
use crate::http::app::AppState;
use crate::http::auth::{self, AuthError, CurrentUser, SignInToken};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    email: String,
    error: Option<String>,
    /// The pre-session CSRF token (hidden `csrf_token` field; also in the sign-in cookie).
    csrf: String,
}

/// The sign-in form with a fresh pre-session token (field + cookie), with `status`.
fn sign_in_form(
    status: StatusCode,
    email: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let token = SignInToken::issue().map_err(|e| PageError::Internal(e.to_string()))?;
    let page = SignInPage {
        email,
        error,
        csrf: token.value().to_owned(),
    };
    let body = page
        .render()
        .map_err(|e| PageError::Internal(format!("render: {e}")))?;
    Ok((
        status,
        [(header::SET_COOKIE, token.set_cookie())],
        Html(body),
    )
        .into_response())
}

pub async fn sign_in_page(user: Option<CurrentUser>) -> Result<Response, PageError> {
    if user.as_ref().is_some_and(|u| u.session().is_some()) {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    sign_in_form(StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// The pre-session CSRF token of the form (see `auth::sign_in_csrf`).
    #[serde(default)]
    csrf_token: Option<String>,
}

impl Drop for SignInForm {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// Signs in. The form's pre-session token must match the sign-in cookie (login CSRF), checked
/// before the password, so a forged post neither signs anyone in nor spends the e-mail's
/// attempt budget; it gets a 403 with a fresh form.
pub async fn sign_in(
    State(state): State<AppState>,
    client: Option<axum::Extension<crate::http::client_address::ClientAddress>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let email = form.email.trim().to_owned();
    if let Err(refusal) = auth::check_sign_in_token(&headers, form.csrf_token.as_deref()) {
        tracing::info!(
            refusal = refusal.as_str(),
            "sign-in refused: missing or wrong sign-in form token"
        );
        return sign_in_form(
            StatusCode::FORBIDDEN,
            email,
            Some(
                "This sign-in form expired or did not come from this site. Please sign in again."
                    .to_owned(),
            ),
        );
    }
    match auth::sign_in_from(
        &state.store,
        &email,
        &form.password,
        state.settings.session_ttl,
        client.and_then(|c| c.0.0),
    )
    .await
    {
        Ok(new) => {
            let mut response = Redirect::to("/dashboard").into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, new.set_cookie());
            response
                .headers_mut()
                .append(header::SET_COOKIE, auth::clear_sign_in_cookie());
            Ok(response)
        }
        Err(e) => {
            let (status, message) = match &e {
                AuthError::BadCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "Wrong e-mail or password.".to_owned(),
                ),
                AuthError::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
                _ => {
                    tracing::warn!(error = %e, "sign-in failed");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Signing in is not possible right now; try again later.".to_owned(),
                    )
                }
            };
            sign_in_form(status, email, Some(message))
        }
    }
}

pub async fn sign_out(State(state): State<AppState>, user: Option<CurrentUser>) -> Response {
    if let Some(session) = user.as_ref().and_then(CurrentUser::session)
        && let Err(e) = auth::sign_out(&state.store, session).await
    {
        tracing::warn!(error = %e, "sign-out failed");
    }
    (
        [(header::SET_COOKIE, auth::clear_cookie())],
        Redirect::to("/sign-in"),
    )
        .into_response()
}
