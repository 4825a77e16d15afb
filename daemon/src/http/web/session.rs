//! Signing in and out. The sign-in form is the only page for anonymous visitors; a wrong e-mail
//! and a wrong password get the same answer.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::{PageError, html};
use crate::http::app::AppState;
use crate::http::auth::{self, AuthError, CurrentUser};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    email: String,
    error: Option<String>,
}

pub async fn sign_in_page(user: Option<CurrentUser>) -> Result<Response, PageError> {
    if user.as_ref().is_some_and(|u| u.session().is_some()) {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    html(&SignInPage { email: String::new(), error: None })
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

impl Drop for SignInForm {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

pub async fn sign_in(State(state): State<AppState>, Form(form): Form<SignInForm>) -> Result<Response, PageError> {
    let email = form.email.trim().to_owned();
    match auth::sign_in_for(&state.store, &email, &form.password, state.settings.session_ttl).await {
        Ok(new) => Ok(([(header::SET_COOKIE, new.set_cookie())], Redirect::to("/dashboard")).into_response()),
        Err(e) => {
            let (status, message) = match &e {
                AuthError::BadCredentials => (StatusCode::UNAUTHORIZED, "Wrong e-mail or password.".to_owned()),
                AuthError::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
                _ => {
                    tracing::warn!(error = %e, "sign-in failed");
                    (StatusCode::SERVICE_UNAVAILABLE, "Signing in is not possible right now; try again later.".to_owned())
                }
            };
            let page = SignInPage { email, error: Some(message) };
            let body = page.render().map_err(|e| PageError::Internal(format!("render: {e}")))?;
            Ok((status, Html(body)).into_response())
        }
    }
}

pub async fn sign_out(State(state): State<AppState>, user: Option<CurrentUser>) -> Response {
    if let Some(session) = user.as_ref().and_then(CurrentUser::session)
        && let Err(e) = auth::sign_out(&state.store, session).await
    {
        tracing::warn!(error = %e, "sign-out failed");
    }
    ([(header::SET_COOKIE, auth::clear_cookie())], Redirect::to("/sign-in")).into_response()
}
