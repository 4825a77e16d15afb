//! `/api/v1/lists/{id}/book`: the list's connected address book (CardDAV): its state, connecting
//! one, disconnecting it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::books;
use crate::store::ListId;

use super::error::ApiError;
use super::extract::{Ids, JsonBody};

type ApiResult<T = Response> = Result<T, ApiError>;

/// The connect form. The password moves straight into a `SecretString`; no answer echoes it.
#[derive(serde::Deserialize)]
pub struct ConnectBody {
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    ca_pem: Option<String>,
}

pub async fn show(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let state = books::status(&app.store, user.actor(), ListId(ids.one()?)).await?;
    Ok(Json(state).into_response())
}

pub async fn connect(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<ConnectBody>,
) -> ApiResult {
    let state = books::connect(
        &app.store,
        &app.vault,
        &app.books,
        &app.book_wake,
        user.actor(),
        ListId(ids.one()?),
        books::ConnectForm {
            url: body.url,
            user: body.user,
            password: body.password.map(secrecy::SecretString::from),
            ca_pem: body.ca_pem,
        },
    )
    .await?;
    Ok(Json(state).into_response())
}

pub async fn disconnect(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    books::disconnect(&app.store, user.actor(), ListId(ids.one()?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
