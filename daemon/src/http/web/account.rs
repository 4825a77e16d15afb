//! The signed-in person's own security settings (`/account/security`): two-step verification
//! with an authenticator app. Turning it on shows a QR code and the key to type by hand, asks
//! for the first code, then shows the recovery codes once; turning it off asks for a current
//! code. The work is `auth::second_factor`'s; this module only shows it.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::{PageError, html};
use crate::http::app::AppState;
use crate::http::auth::second_factor::{self, SecondFactorError, Status};
use crate::http::auth::{CurrentUser, csrf_token};
use crate::store::UserId;

/// The page's address.
pub const SECURITY_PATH: &str = "/account/security";

/// The session of a page request, or a redirect to the sign-in page.
fn signed_in(user: Option<CurrentUser>) -> Result<(UserId, i64, String), PageError> {
    let user = user.ok_or(PageError::SignIn)?;
    let session = user.session().ok_or(PageError::SignIn)?;
    Ok((user.user_id, session.id, csrf_token(session).to_owned()))
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
    /// `[auth] require_second_factor` is on and this session has not passed one.
    required: bool,
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

async fn security_page(
    state: &AppState,
    user: UserId,
    csrf: String,
    required: bool,
    error: Option<String>,
    status_code: StatusCode,
) -> Result<Response, PageError> {
    let store = &state.store;
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
        csrf,
        status,
        qr_svg,
        manual_key,
        error,
        required,
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
    let (user, _, csrf) = signed_in(user)?;
    security_page(&state, user, csrf, required, None, StatusCode::OK).await
}

/// Starts enrolment (a new secret) and shows it.
pub async fn start(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let (user, _, _) = signed_in(user)?;
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
    let (user, _, _) = signed_in(user)?;
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
    let (user, session, csrf) = signed_in(user)?;
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
            security_page(&state, user, csrf, required, Some(message), status).await
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
    let (user, _, csrf) = signed_in(user)?;
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
            security_page(&state, user, csrf, required, Some(message), status).await
        }
        Err(e) => Err(failure(e)),
    }
}
