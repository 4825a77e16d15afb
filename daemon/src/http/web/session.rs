//! Signing in and out. The sign-in form is the only page for anonymous visitors; a wrong e-mail
//! and a wrong password get the same answer.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::PageError;
use super::return_to;
use crate::http::app::AppState;
use crate::http::auth::{self, AuthError, CurrentUser, SignInToken, second_factor};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    email: String,
    error: Option<String>,
    /// Why the visitor is here ("Your session ended…", "You are signed out.").
    notice: Option<String>,
    /// Where to go after signing in (a path of this site), carried in a hidden field.
    next: String,
    /// The pre-session CSRF token (hidden `csrf_token` field; also in the sign-in cookie).
    csrf: String,
    /// The e-mail and password form is shown (`[auth] local_passwords`).
    local_passwords: bool,
    /// One button per OpenID provider: (name, display name).
    providers: Vec<(String, String)>,
    /// `?next=` for the provider buttons, URL-encoded (empty: none).
    next_query: String,
}

/// The sign-in form with a fresh pre-session token (field + cookie), with `status`.
pub(super) fn sign_in_form(
    identity: &auth::oidc::Identity,
    status: StatusCode,
    email: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    sign_in_form_to(identity, status, email, error, None, String::new())
}

/// [`sign_in_form`] with a notice and the page to return to.
fn sign_in_form_to(
    identity: &auth::oidc::Identity,
    status: StatusCode,
    email: String,
    error: Option<String>,
    notice: Option<String>,
    next: String,
) -> Result<Response, PageError> {
    let token = SignInToken::issue().map_err(|e| PageError::Internal(e.to_string()))?;
    let next = Some(next)
        .filter(|n| return_to::is_local_path(n))
        .unwrap_or_default();
    let next_query = if next.is_empty() {
        String::new()
    } else {
        format!(
            "?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        )
    };
    let page = SignInPage {
        email,
        error,
        notice,
        next,
        csrf: token.value().to_owned(),
        local_passwords: identity.local_passwords,
        providers: identity
            .providers()
            .map(|p| (p.name().to_owned(), p.display_name().to_owned()))
            .collect(),
        next_query,
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

/// `?next=<path>&why=expired|signed-out`, set by `return_to` and by signing out.
#[derive(Deserialize, Default)]
pub struct SignInQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    why: Option<String>,
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Query(query): Query<SignInQuery>,
) -> Result<Response, PageError> {
    let next = query.next.unwrap_or_default();
    if user.as_ref().is_some_and(|u| u.session().is_some()) {
        let to = if return_to::is_local_path(&next) {
            next
        } else {
            "/dashboard".to_owned()
        };
        return Ok(Redirect::to(&to).into_response());
    }
    let notice = match query.why.as_deref() {
        Some("expired") => Some(
            "Your session has ended. Sign in again to go back to the page you were on; an action you had just sent was not carried out."
                .to_owned(),
        ),
        Some("signed-out") => Some("You are signed out.".to_owned()),
        _ => None,
    };
    sign_in_form_to(
        &state.settings.identity,
        StatusCode::OK,
        String::new(),
        None,
        notice,
        next,
    )
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
    /// Where to go once signed in (a path of this site; else the dashboard).
    #[serde(default)]
    next: String,
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
    // First: with passwords off there is no form to carry a token, and nothing to protect.
    if !state.settings.identity.local_passwords {
        tracing::info!("password sign-in refused: local passwords are off");
        return sign_in_form(
            &state.settings.identity,
            StatusCode::FORBIDDEN,
            String::new(),
            Some(LOCAL_PASSWORDS_OFF.to_owned()),
        );
    }
    let email = form.email.trim().to_owned();
    if let Err(refusal) = auth::check_sign_in_token(&headers, form.csrf_token.as_deref()) {
        tracing::info!(
            refusal = refusal.as_str(),
            "sign-in refused: missing or wrong sign-in form token"
        );
        return sign_in_form(
            &state.settings.identity,
            StatusCode::FORBIDDEN,
            email,
            Some(
                "This sign-in form expired or did not come from this site. Please sign in again."
                    .to_owned(),
            ),
        );
    }

    match auth::sign_in_with_password(
        &state.store,
        &email,
        &form.password,
        state.settings.session_ttl,
        client.and_then(|c| c.0.0),
    )
    .await
    {
        Ok(auth::PasswordSignIn::SecondFactor(challenge)) => {
            let mut response = Redirect::to(SECOND_FACTOR_PATH).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, challenge.set_cookie());
            response
                .headers_mut()
                .append(header::SET_COOKIE, auth::clear_sign_in_cookie());
            Ok(response)
        }
        Ok(auth::PasswordSignIn::Session(new)) => {
            let to = if return_to::is_local_path(&form.next) {
                form.next.as_str()
            } else {
                "/dashboard"
            };
            let mut response = Redirect::to(to).into_response();
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
            let mut response = sign_in_form_to(
                &state.settings.identity,
                status,
                email,
                Some(message),
                None,
                form.next.clone(),
            )?;
            if let AuthError::TooManyAttempts { retry_after } = e {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            Ok(response)
        }
    }
}

/// Ends the session here; a session opened through a provider with an end-session endpoint
/// then goes on to sign out there too ([`provider_sign_out_page`]).
pub async fn sign_out(State(state): State<AppState>, user: Option<CurrentUser>) -> Response {
    let mut at_provider = None;
    if let Some(session) = user.as_ref().and_then(CurrentUser::session) {
        at_provider = auth::oidc::end_session_url(
            &state.store,
            &state.vault,
            &state.settings.identity,
            session,
        )
        .await;
        if let Err(e) = auth::sign_out(&state.store, session).await {
            tracing::warn!(error = %e, "sign-out failed");
        }
    }
    let mut response = match at_provider {
        Some(url) => provider_sign_out_page(&url),
        None => Redirect::to("/sign-in?why=signed-out").into_response(),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, auth::clear_cookie());
    response
}

/// The second step of a sign-in (see `auth::second_factor::challenge`).
pub const SECOND_FACTOR_PATH: &str = "/sign-in/second-factor";

#[derive(Template)]
#[template(path = "sign_in_second_factor.html")]
struct SecondFactorPage {
    error: Option<String>,
    /// The challenge's own CSRF token.
    csrf: String,
}

/// What a password sign-in gets when `[auth] local_passwords` is off.
pub const LOCAL_PASSWORDS_OFF: &str =
    "Signing in with a password is turned off here. Use your organisation's sign-in below.";

/// Back to the password form, saying why.
fn start_again(identity: &auth::oidc::Identity, message: &str) -> Result<Response, PageError> {
    let mut response = sign_in_form(
        identity,
        StatusCode::UNAUTHORIZED,
        String::new(),
        Some(message.to_owned()),
    )?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, second_factor::challenge::clear_cookie());
    Ok(response)
}

fn second_factor_form(
    status: StatusCode,
    csrf: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let page = SecondFactorPage { error, csrf };
    let body = page
        .render()
        .map_err(|e| PageError::Internal(format!("render: {e}")))?;
    Ok((status, Html(body)).into_response())
}

pub async fn second_factor_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    match second_factor::challenge::from_headers(&state.store, &headers).await {
        Ok(Some(live)) => second_factor_form(StatusCode::OK, live.csrf_token().to_owned(), None),
        Ok(None) => start_again(
            &state.settings.identity,
            "The sign-in expired. Please enter your password again.",
        ),
        Err(e) => {
            tracing::warn!(error = %e, "second-factor page failed");
            start_again(
                &state.settings.identity,
                "Signing in is not possible right now; try again later.",
            )
        }
    }
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

impl Drop for SecondFactorForm {
    fn drop(&mut self) {
        self.code.zeroize();
    }
}

/// Checks the code of the second step; opens the session on success.
pub async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SecondFactorForm>,
) -> Result<Response, PageError> {
    use second_factor::challenge::StepError;
    match second_factor::challenge::complete(
        &state.store,
        &state.vault,
        &headers,
        form.csrf_token.as_deref(),
        &form.code,
        state.settings.session_ttl,
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
                .append(header::SET_COOKIE, second_factor::challenge::clear_cookie());
            Ok(response)
        }
        Err(StepError::WrongCode { left }) => second_factor_form(
            StatusCode::UNAUTHORIZED,
            form.csrf_token.clone().unwrap_or_default(),
            Some(format!(
                "That code is wrong or was already used. {left} more {} before you must enter your password again.",
                if left == 1 { "try" } else { "tries" }
            )),
        ),
        Err(StepError::TooManyAttempts { retry_after }) => second_factor_form(
            StatusCode::TOO_MANY_REQUESTS,
            form.csrf_token.clone().unwrap_or_default(),
            Some(format!(
                "Too many codes were tried. Wait {} s and try again.",
                retry_after.as_secs().max(1)
            )),
        ),
        Err(StepError::Expired) => start_again(
            &state.settings.identity,
            "The sign-in expired. Please enter your password again.",
        ),
        Err(StepError::UsedUp) => start_again(
            &state.settings.identity,
            "Too many wrong codes. Please enter your password again.",
        ),
        Err(StepError::Auth(e)) => {
            tracing::warn!(error = %e, "second sign-in step failed");
            start_again(
                &state.settings.identity,
                "Signing in is not possible right now; try again later.",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "signed_out_provider.html")]
struct ProviderSignOutPage<'a> {
    url: &'a str,
}

/// The page that forwards a signed-out browser to the provider's end-session endpoint.
pub fn provider_sign_out_page(url: &str) -> Response {
    match (ProviderSignOutPage { url }).render() {
        Ok(body) => (StatusCode::OK, Html(body)).into_response(),
        Err(_) => Redirect::to(url).into_response(),
    }
}
