//! The signed-in person's own security settings (`/account/security`): two-step verification
//! with an authenticator app, their password, their browser sessions and API tokens.
//!
//! Turning two-step verification on shows a QR code and the key to type by hand, asks for the
//! first code, then shows the recovery codes once; turning it off asks for a current code (the
//! work is `auth::second_factor`'s). Changing the password checks the current one and ends every
//! session and token (`auth::change_password`). Sessions and tokens are listed and ended through
//! `service::me`, which decides that only the user's own can be.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::{Moment, PageError, html};
use crate::http::app::AppState;
use crate::http::auth::second_factor::{self, SecondFactorError, Status};
use crate::http::auth::{self, AuthError, CurrentUser, csrf_token};
use crate::service::me;
use crate::service::tokens::Credential;
use crate::store::{TokenId, UserId};

/// The page's address.
pub const SECURITY_PATH: &str = "/account/security";

/// The session of a page request, or a redirect to the sign-in page.
/// The session's user, session row, CSRF token and whether the user is an org admin.
fn signed_in(user: Option<CurrentUser>) -> Result<(UserId, i64, String, bool), PageError> {
    let user = user.ok_or(PageError::SignIn)?;
    let session = user.session().ok_or(PageError::SignIn)?;
    Ok((
        user.user_id,
        session.id,
        csrf_token(session).to_owned(),
        session.org_admin,
    ))
}

#[derive(Template)]
#[template(path = "account_security.html")]
struct SecurityPage {
    csrf: String,
    status: Status,
    /// The pending enrolment's QR code (inline SVG markup of our own making).
    qr_svg: String,
    manual_key: String,
    error: Option<String>,
    /// `[api] require_second_factor` is on and this session has not passed one.
    required: bool,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    /// Why the password was not changed.
    password_error: Option<String>,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

/// A session as the page lists it.
struct SessionRow {
    id: i64,
    started: Moment,
    expires: Moment,
    current: bool,
    second_factor: bool,
}

/// A live API token as the page lists it (never its secret).
struct TokenRow {
    id: i64,
    label: String,
    scope: &'static str,
    created: Moment,
    expires: Moment,
    last_used: Option<Moment>,
}

impl Drop for SecurityPage {
    fn drop(&mut self) {
        self.manual_key.zeroize();
        self.qr_svg.zeroize();
    }
}

fn failure(e: SecondFactorError) -> PageError {
    match e {
        SecondFactorError::Store(e) => PageError::Service(e.into()),
        other => PageError::Internal(other.to_string()),
    }
}

/// What one rendering of the page shows besides the stored state.
struct Shown {
    user: UserId,
    session: i64,
    csrf: String,
    org_admin: bool,
    required: bool,
    error: Option<String>,
    password_error: Option<String>,
    status: StatusCode,
}

async fn security_page(state: &AppState, shown: Shown) -> Result<Response, PageError> {
    let Shown {
        user,
        session: current,
        csrf,
        org_admin,
        required,
        error,
        password_error,
        status: status_code,
    } = shown;
    let store = &state.store;
    let actor = crate::service::Actor::signed_in(user);
    let now = store.now_ms();
    let sessions = me::sessions(store, actor)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            started: Moment::exact(s.created_at),
            expires: Moment::exact(s.expires_at),
            current: s.id == current,
            second_factor: s.second_factor,
        })
        .collect();
    let tokens = me::tokens(store, actor)
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none() && t.expires_at > now)
        .map(|t| TokenRow {
            id: t.id.0,
            label: t.label,
            scope: t.scope.as_str(),
            created: Moment::exact(t.created_at),
            expires: Moment::exact(t.expires_at),
            last_used: t.last_used_at.map(Moment::exact),
        })
        .collect();
    let status = second_factor::status(store, user).await.map_err(failure)?;
    let (qr_svg, manual_key) = if status == Status::Pending {
        let email = store
            .get_user(user)
            .await
            .map_err(|e| PageError::Service(e.into()))?
            .email;
        match second_factor::pending_enrolment(store, &state.vault, user, &email)
            .await
            .map_err(failure)?
        {
            Some(enrolment) => (enrolment.qr_svg, enrolment.manual_key.to_string()),
            None => (String::new(), String::new()),
        }
    } else {
        (String::new(), String::new())
    };
    let page = SecurityPage {
        org_admin,
        csrf,
        status,
        qr_svg,
        manual_key,
        error,
        required,
        sessions,
        tokens,
        password_error,
    };
    let mut response = html(&page)?;
    *response.status_mut() = status_code;
    Ok(response)
}

fn policy_unmet(state: &AppState, user: &Option<CurrentUser>) -> bool {
    state.settings.require_second_factor
        && user
            .as_ref()
            .and_then(CurrentUser::session)
            .is_some_and(|s| !s.second_factor)
}

pub async fn show(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let required = policy_unmet(&state, &user);
    let (user, session, csrf, org_admin) = signed_in(user)?;
    security_page(
        &state,
        Shown {
            user,
            session,
            csrf,
            org_admin,
            required,
            error: None,
            password_error: None,
            status: StatusCode::OK,
        },
    )
    .await
}

/// Starts enrolment (a new secret) and shows it.
pub async fn start(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let (user, _, _, _) = signed_in(user)?;
    match second_factor::start_enrolment(&state.store, &state.vault, user).await {
        // Already on (a second tab): the page says so.
        Ok(()) | Err(SecondFactorError::WrongState) => {}
        Err(e) => return Err(failure(e)),
    }
    Ok(Redirect::to(SECURITY_PATH).into_response())
}

/// Abandons a pending enrolment.
pub async fn cancel(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let (user, _, _, _) = signed_in(user)?;
    match second_factor::cancel_enrolment(&state.store, user).await {
        Ok(()) | Err(SecondFactorError::WrongState) => {}
        Err(e) => return Err(failure(e)),
    }
    Ok(Redirect::to(SECURITY_PATH).into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

impl Drop for CodeForm {
    fn drop(&mut self) {
        self.code.zeroize();
    }
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    csrf: String,
    codes: Vec<String>,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

impl Drop for RecoveryCodesPage {
    fn drop(&mut self) {
        for code in &mut self.codes {
            code.zeroize();
        }
    }
}

/// The first code from the app turns the factor on; the recovery codes are shown once.
pub async fn confirm(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let required = policy_unmet(&state, &user);
    let (user, session, csrf, org_admin) = signed_in(user)?;
    match second_factor::confirm_enrolment(
        &state.store,
        &state.vault,
        user,
        &form.code,
        Some(session),
    )
    .await
    {
        Ok(codes) => html(&RecoveryCodesPage {
            org_admin,
            csrf,
            codes: codes.shown().map(str::to_owned).collect(),
        }),
        Err(e @ (SecondFactorError::WrongCode | SecondFactorError::TooManyAttempts { .. })) => {
            let status = if matches!(e, SecondFactorError::WrongCode) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            let message = match e {
                SecondFactorError::WrongCode => "That code is not right. Check the time on your phone and enter the code the app shows now.".to_owned(),
                other => format!("{other}."),
            };
            security_page(
                &state,
                Shown {
                    user,
                    session,
                    csrf,
                    org_admin,
                    required,
                    error: Some(message),
                    password_error: None,
                    status,
                },
            )
            .await
        }
        Err(SecondFactorError::WrongState) => Ok(Redirect::to(SECURITY_PATH).into_response()),
        Err(e) => Err(failure(e)),
    }
}

/// Turns the factor off after a current code (or a recovery code).
pub async fn disable(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let required = policy_unmet(&state, &user);
    let (user, session, csrf, org_admin) = signed_in(user)?;
    match second_factor::disable(&state.store, &state.vault, user, &form.code).await {
        Ok(()) | Err(SecondFactorError::WrongState) => {
            Ok(Redirect::to(SECURITY_PATH).into_response())
        }
        Err(e @ (SecondFactorError::WrongCode | SecondFactorError::TooManyAttempts { .. })) => {
            let status = if matches!(e, SecondFactorError::WrongCode) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            let message = format!("Two-step verification is still on: {e}.");
            security_page(
                &state,
                Shown {
                    user,
                    session,
                    csrf,
                    org_admin,
                    required,
                    error: Some(message),
                    password_error: None,
                    status,
                },
            )
            .await
        }
        Err(e) => Err(failure(e)),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

impl Drop for PasswordForm {
    fn drop(&mut self) {
        self.current_password.zeroize();
        self.new_password.zeroize();
    }
}

/// Changes the password: every session (this one too) and every API token end with it, so the
/// answer clears the cookie and goes to the sign-in page.
pub async fn change_password(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    client: Option<axum::Extension<crate::http::client_address::ClientAddress>>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let required = policy_unmet(&state, &user);
    let (user, session, csrf, org_admin) = signed_in(user)?;
    let result = auth::change_password(
        &state.store,
        user,
        zeroize::Zeroizing::new(form.current_password.clone()),
        zeroize::Zeroizing::new(form.new_password.clone()),
        client.and_then(|c| c.0.0),
    )
    .await;
    let (status, message) = match result {
        Ok(_) => {
            return Ok((
                [(axum::http::header::SET_COOKIE, auth::clear_cookie())],
                Redirect::to("/sign-in"),
            )
                .into_response());
        }
        Err(AuthError::BadCredentials) => (
            StatusCode::BAD_REQUEST,
            "The current password is wrong.".to_owned(),
        ),
        Err(e @ AuthError::WeakPassword { .. }) => (StatusCode::BAD_REQUEST, format!("{e}.")),
        Err(e @ AuthError::TooManyAttempts { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, format!("{e}."))
        }
        Err(e) => return Err(PageError::Internal(format!("change password: {e}"))),
    };
    security_page(
        &state,
        Shown {
            user,
            session,
            csrf,
            org_admin,
            required,
            error: None,
            password_error: Some(message),
            status,
        },
    )
    .await
}

/// Ends one of the user's sessions; ending this one signs out.
pub async fn end_session(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, PageError> {
    let (user, current, _, _) = signed_in(user)?;
    me::end_session(
        &state.store,
        crate::service::Actor::signed_in(user),
        Credential::SESSION,
        id,
    )
    .await?;
    if id == current {
        return Ok((
            [(axum::http::header::SET_COOKIE, auth::clear_cookie())],
            Redirect::to("/sign-in"),
        )
            .into_response());
    }
    Ok(Redirect::to(SECURITY_PATH).into_response())
}

/// Revokes one of the user's API tokens.
pub async fn revoke_token(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, PageError> {
    let (user, _, _, _) = signed_in(user)?;
    me::revoke_token(
        &state.store,
        crate::service::Actor::signed_in(user),
        Credential::SESSION,
        TokenId(id),
    )
    .await?;
    Ok(Redirect::to(SECURITY_PATH).into_response())
}
