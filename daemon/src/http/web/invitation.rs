//! `/invitation?token=…`: where an invitation mail's link leads. A valid link shows a form to
//! choose the first password (and the OpenID providers' buttons, which work too when the
//! provider vouches for the same address); posting it sets the password, uses the link up and
//! signs the person in. An unknown, used or expired link gets one answer. The token travels in
//! the query, which the request log leaves out (it logs the path only). The form carries the
//! same pre-session CSRF token as the sign-in form (`auth::sign_in_csrf`). A browser that is
//! already signed in is asked to sign out first instead of being shown the form.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use super::render::PageError;
use crate::http::app::AppState;
use crate::http::auth::{self, AuthError, CurrentUser, SignInToken};
use crate::service::{self, ServiceError};

/// The path of the invitation link.
pub const PATH: &str = "/invitation";

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    /// `None`: the link is not (or no longer) valid.
    email: Option<String>,
    /// The browser already has a session: its sign-out form's CSRF token (accepting needs a
    /// browser without one, so nobody's session is mixed up with the invitee's).
    signed_in: Option<String>,
    token: String,
    csrf: String,
    error: Option<String>,
    local_passwords: bool,
    providers: Vec<(String, String)>,
}

fn page(
    state: &AppState,
    status: StatusCode,
    email: Option<String>,
    token: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    page_for(state, status, email, token, error, None)
}

fn page_for(
    state: &AppState,
    status: StatusCode,
    email: Option<String>,
    token: String,
    error: Option<String>,
    signed_in: Option<String>,
) -> Result<Response, PageError> {
    let csrf = SignInToken::issue().map_err(|e| PageError::Internal(e.to_string()))?;
    let identity = &state.settings.identity;
    let body = InvitationPage {
        email,
        signed_in,
        token,
        csrf: csrf.value().to_owned(),
        error,
        local_passwords: identity.local_passwords,
        providers: identity
            .providers()
            .map(|p| (p.name().to_owned(), p.display_name().to_owned()))
            .collect(),
    }
    .render()
    .map_err(|e| PageError::Internal(format!("render: {e}")))?;
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, csrf.set_cookie());
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

pub async fn show(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Query(query): Query<LinkQuery>,
) -> Result<Response, PageError> {
    let signed_in = user
        .as_ref()
        .and_then(CurrentUser::session)
        .map(|s| auth::csrf_token(s).to_owned());
    match service::org::invite::pending(&state.store, &query.token).await {
        Ok(invitation) => page_for(
            &state,
            StatusCode::OK,
            Some(invitation.email),
            query.token,
            None,
            signed_in,
        ),
        Err(ServiceError::NotFound { .. }) => {
            page(&state, StatusCode::NOT_FOUND, None, String::new(), None)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

impl Drop for AcceptForm {
    fn drop(&mut self) {
        self.password.zeroize();
        self.token.zeroize();
    }
}

/// Sets the first password, uses the link and signs in.
pub async fn accept(
    State(state): State<AppState>,
    client: Option<axum::Extension<crate::http::client_address::ClientAddress>>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Result<Response, PageError> {
    let token = form.token.clone();
    let invitation = match service::org::invite::pending(&state.store, &token).await {
        Ok(invitation) => invitation,
        Err(ServiceError::NotFound { .. }) => {
            return page(&state, StatusCode::NOT_FOUND, None, String::new(), None);
        }
        Err(e) => return Err(e.into()),
    };
    let email = Some(invitation.email.clone());
    if !state.settings.identity.local_passwords {
        let error = "Passwords are turned off here: sign in with your organisation's account.";
        return page(
            &state,
            StatusCode::FORBIDDEN,
            email,
            token,
            Some(error.into()),
        );
    }
    if auth::check_sign_in_token(&headers, form.csrf_token.as_deref()).is_err() {
        let error = "This form expired or did not come from this site. Please try again.";
        return page(
            &state,
            StatusCode::FORBIDDEN,
            email,
            token,
            Some(error.into()),
        );
    }
    let password = Zeroizing::new(form.password.clone());
    let phc = match auth::password::hash_password(password.clone()).await {
        Ok(phc) => phc,
        Err(e @ AuthError::WeakPassword { .. }) => {
            return page(
                &state,
                StatusCode::BAD_REQUEST,
                email,
                token,
                Some(e.to_string()),
            );
        }
        Err(e) => return Err(PageError::Internal(format!("hash password: {e}"))),
    };
    match service::org::invite::accept(&state.store, &token, &phc).await {
        Ok(_) => {}
        Err(ServiceError::NotFound { .. }) => {
            return page(&state, StatusCode::NOT_FOUND, None, String::new(), None);
        }
        Err(e) => return Err(e.into()),
    }
    let signed_in = auth::sign_in_with_password(
        &state.store,
        &invitation.email,
        &password,
        state.settings.session_ttl,
        client.and_then(|c| c.0.0),
    )
    .await;
    let mut response = match signed_in {
        Ok(auth::PasswordSignIn::Session(new)) => {
            let mut response = Redirect::to("/dashboard").into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, new.set_cookie());
            response
        }
        // The password is set either way; the sign-in page takes it from here.
        _ => Redirect::to("/sign-in").into_response(),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, auth::clear_sign_in_cookie());
    Ok(response)
}
