//! `/api/v1/me…` and `/api/v1/session`: who am I, my API tokens, signing in and out.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::app::AppState;
use crate::http::auth::{self, CurrentUser};
use crate::service::me;
use crate::service::tokens::{TokenRequest, days};
use crate::store::{TokenId, TokenScope};

use super::error::ApiError;
use super::extract::{Ids, JsonBody};

type ApiResult = Result<Response, ApiError>;

#[derive(Deserialize)]
pub struct TokenBody {
    label: Option<String>,
    scope: Option<TokenScope>,
    expires_in_days: Option<u32>,
}

#[derive(Deserialize)]
pub struct PasswordBody {
    current_password: Option<String>,
    new_password: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInBody {
    email: Option<String>,
    password: Option<String>,
    /// The second factor's code, for an account that has one.
    second_factor: Option<String>,
}

pub async fn show(State(app): State<AppState>, user: CurrentUser) -> ApiResult {
    Ok(Json(me::me(&app.store, user.actor()).await?).into_response())
}

pub async fn tokens(State(app): State<AppState>, user: CurrentUser) -> ApiResult {
    Ok(Json(me::tokens(&app.store, user.actor()).await?).into_response())
}

pub async fn create_token(
    State(app): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<TokenBody>,
) -> ApiResult {
    let created = me::create_token(
        &app.store,
        user.actor(),
        user.credential(),
        app.settings.tokens,
        body.label.as_deref(),
        TokenRequest {
            scope: body.scope,
            ttl: body.expires_in_days.map(days),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(created),
    )
        .into_response())
}

pub async fn revoke_token(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    me::revoke_token(
        &app.store,
        user.actor(),
        user.credential(),
        TokenId(ids.one()?),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Changes the caller's password (full scope; the current password is checked). Every session
/// and API token of the user ends with it, this request's included, so the cookie is cleared.
pub async fn change_password(
    State(app): State<AppState>,
    user: CurrentUser,
    client: Option<axum::Extension<crate::http::client_address::ClientAddress>>,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult {
    user.credential().require(
        TokenScope::Full,
        "change the password (sign in, or use a token with the full scope)",
    )?;
    let mut c = crate::service::validate::Checker::new();
    let current = body.current_password.filter(|p| !p.is_empty());
    let new = body.new_password.filter(|p| !p.is_empty());
    for (field, value) in [("current_password", &current), ("new_password", &new)] {
        if value.is_none() {
            c.push(field, crate::service::FieldCode::Required, "is required");
        }
    }
    c.finish()?;
    let (Some(current), Some(new)) = (current, new) else {
        return Err(ApiError::BadBody("both passwords are required".into()));
    };
    auth::change_password(
        &app.store,
        user.user_id,
        zeroize::Zeroizing::new(current),
        zeroize::Zeroizing::new(new),
        client.and_then(|c| c.0.0),
    )
    .await
    .map_err(|e| {
        use crate::service::{FieldCode, ServiceError};
        match e {
            auth::AuthError::BadCredentials => ApiError::Service(ServiceError::field(
                "current_password",
                FieldCode::Text,
                "is wrong",
            )),
            auth::AuthError::WeakPassword { .. } => ApiError::Service(ServiceError::field(
                "new_password",
                FieldCode::Text,
                e.to_string(),
            )),
            e => e.into(),
        }
    })?;
    Ok((
        [(header::SET_COOKIE, auth::clear_cookie())],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// Signs in with e-mail and password; sets the session cookie and returns the CSRF token.
pub async fn sign_in(
    State(app): State<AppState>,
    client: Option<axum::Extension<crate::http::client_address::ClientAddress>>,
    JsonBody(body): JsonBody<SignInBody>,
) -> ApiResult {
    if !app.settings.identity.local_passwords {
        return Err(ApiError::Service(crate::service::ServiceError::Forbidden {
            action: "sign in with a password: local passwords are turned off on this server; sign in through the identity provider on the sign-in page",
        }));
    }
    let mut c = crate::service::validate::Checker::new();
    let email = c.email("email", body.email.as_deref());
    let password = body.password.filter(|p| !p.is_empty());
    if password.is_none() {
        c.push(
            "password",
            crate::service::FieldCode::Required,
            "is required",
        );
    }
    c.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::BadBody("email and password are required".into()));
    };
    let password = zeroize::Zeroizing::new(password);
    let code = body.second_factor.map(zeroize::Zeroizing::new);
    let new = auth::second_factor::sign_in_with_code(
        &app.store,
        &app.vault,
        &email,
        &password,
        code.as_ref().map(|c| c.as_str()),
        app.settings.session_ttl,
        client.and_then(|c| c.0.0),
    )
    .await?;
    let body = serde_json::json!({
        "user_id": new.session.user,
        "csrf_token": auth::csrf_token(&new.session),
        "expires_at": new.session.expires_at,
    });
    Ok((
        [
            (header::SET_COOKIE, new.set_cookie()),
            (
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            ),
        ],
        Json(body),
    )
        .into_response())
}

/// Ends the browser session (CSRF-checked like every cookie request with an unsafe method).
pub async fn sign_out(State(app): State<AppState>, user: CurrentUser) -> ApiResult {
    if let Some(session) = user.session() {
        auth::sign_out(&app.store, session).await?;
    }
    Ok((
        [(header::SET_COOKIE, auth::clear_cookie())],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}
