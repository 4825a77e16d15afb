//! `/api/v1/lists/{id}/webhooks…`: a list's signed outgoing webhooks and their delivery logs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::WebhookId;
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::webhooks;
use crate::store::ListId;

use super::error::ApiError;
use super::extract::{Ids, JsonBody};

type ApiResult<T = Response> = Result<T, ApiError>;

/// The add form. The secret moves straight into a `SecretString`; no response echoes it (only a
/// secret mailsig generated, when none was sent, is shown in the 201 answer).
#[derive(serde::Deserialize)]
pub struct AddBody {
    url: Option<String>,
    secret: Option<String>,
    events: Option<Vec<String>>,
}

pub async fn index(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let hooks = webhooks::list(&app.store, user.actor(), ListId(ids.one()?)).await?;
    Ok(Json(hooks).into_response())
}

pub async fn add(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<AddBody>,
) -> ApiResult {
    let hook = webhooks::add(
        &app.store,
        &app.vault,
        &app.webhooks,
        user.actor(),
        ListId(ids.one()?),
        webhooks::NewEndpoint {
            url: body.url,
            secret: body.secret.map(secrecy::SecretString::from),
            events: body.events,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(hook)).into_response())
}

pub async fn remove(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let (list, hook) = ids.two()?;
    webhooks::remove(&app.store, user.actor(), ListId(list), WebhookId(hook)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn deliveries(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let (list, hook) = ids.two()?;
    let log = webhooks::log(&app.store, user.actor(), ListId(list), WebhookId(hook)).await?;
    Ok(Json(log).into_response())
}
