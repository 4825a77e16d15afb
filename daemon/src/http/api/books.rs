//! `/api/v1/lists/{id}/book`: the list's connected address book: its state, connecting a
//! CardDAV book (`PUT …/book`) or Outlook contacts (`PUT …/book/outlook`, with the consent for
//! contacts started by `POST …/book/outlook/consent`), disconnecting it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::{books, outlook_book};
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

/// The Outlook opt-in: which of the owner's linked Microsoft 365 mailboxes, which folder.
#[derive(serde::Deserialize)]
pub struct OutlookBody {
    #[serde(default, deserialize_with = "super::extract::integer")]
    mailbox: Option<i64>,
    folder: Option<String>,
}

/// `PUT /api/v1/lists/{id}/book/outlook`.
pub async fn connect_outlook(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<OutlookBody>,
) -> ApiResult {
    let state = outlook_book::connect_outlook(
        &app.store,
        &app.vault,
        app.settings.graph.as_deref(),
        &app.book_wake,
        user.actor(),
        ListId(ids.one()?),
        outlook_book::OutlookForm {
            mailbox: body.mailbox,
            folder: body.folder,
        },
    )
    .await?;
    Ok(Json(state).into_response())
}

/// `POST /api/v1/lists/{id}/book/outlook/consent`: the consent URL for mail and contacts.
pub async fn outlook_consent(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
) -> ApiResult {
    let url = outlook_book::start_contacts_consent(
        &app.store,
        &app.vault,
        app.settings.graph.as_deref(),
        user.actor(),
        ListId(ids.one()?),
        crate::sources::graph::LinkOrigin::Api,
    )
    .await?;
    Ok(Json(serde_json::json!({ "authorize_url": url.as_str() })).into_response())
}
