//! `/api/v1/suggestions/{id}…`: read, accept, dismiss, merge, history, erase.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::suggestions::{self, FieldChoice};
use crate::store::SuggestionId;

use super::error::ApiError;
use super::extract::{Ids, JsonBody};

type ApiResult = Result<Response, ApiError>;

/// `{"fields": [{"field": "title", "choice": "keep_old"}, {"field": "name", "choice": "typed", "value": "Ann"}]}`
#[derive(Deserialize)]
pub struct MergeBody {
    #[serde(default)]
    fields: Vec<FieldChoice>,
}

pub async fn show(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(
        Json(suggestions::get(&app.store, user.actor(), SuggestionId(ids.one()?)).await?)
            .into_response(),
    )
}

pub async fn accept(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(Json(
        suggestions::accept(
            &app.store,
            &app.book_wake,
            user.actor(),
            SuggestionId(ids.one()?),
        )
        .await?,
    )
    .into_response())
}

pub async fn dismiss(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(
        Json(suggestions::dismiss(&app.store, user.actor(), SuggestionId(ids.one()?)).await?)
            .into_response(),
    )
}

/// Erases the suggestion for good (the list's owner): 204.
pub async fn erase(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    suggestions::erase(&app.store, user.actor(), SuggestionId(ids.one()?)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

pub async fn merge(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<MergeBody>,
) -> ApiResult {
    let merged = suggestions::merge(
        &app.store,
        &app.book_wake,
        user.actor(),
        SuggestionId(ids.one()?),
        &body.fields,
    )
    .await?;
    Ok(Json(merged).into_response())
}

pub async fn history(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(
        Json(suggestions::history(&app.store, user.actor(), SuggestionId(ids.one()?)).await?)
            .into_response(),
    )
}
