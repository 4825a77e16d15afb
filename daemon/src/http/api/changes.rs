//! Change suggestions over the API: the open ones of a contact (its merge view), and an editor's
//! accept or dismiss. The same item shape is the list's change alerts (`lists::change_alerts`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::changes::{self, ChangeItem};
use crate::store::SuggestionId;

use super::error::ApiError;
use super::extract::Ids;

type ApiResult = Result<Response, ApiError>;

#[derive(serde::Serialize)]
struct ChangeList {
    items: Vec<ChangeItem>,
}

/// `GET /api/v1/suggestions/{id}/changes`: the contact's open change suggestions.
pub async fn open_for(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let found = changes::open_for(&app.store, user.actor(), SuggestionId(ids.one()?)).await?;
    let items = found.into_iter().map(ChangeItem::from).collect();
    Ok(Json(ChangeList { items }).into_response())
}

/// `POST /api/v1/change-suggestions/{id}/accept`: the contact takes the new values (editors).
pub async fn accept(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    decide(&app, &user, ids, true).await
}

/// `POST /api/v1/change-suggestions/{id}/dismiss`: the contact keeps its values (editors).
pub async fn dismiss(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    decide(&app, &user, ids, false).await
}

async fn decide(app: &AppState, user: &CurrentUser, ids: Ids, accept: bool) -> ApiResult {
    let decided =
        changes::decide(&app.store, &app.book_wake, user.actor(), ids.one()?, accept).await?;
    Ok(Json(ChangeItem::from(decided)).into_response())
}
