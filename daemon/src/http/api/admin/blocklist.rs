//! `/api/v1/admin/blocklist`: the org-wide sender blocklist (domains and addresses).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::service::org::blocklist;

use super::super::error::ApiError;
use super::super::extract::{Ids, JsonBody};

type ApiResult<T = Response> = Result<T, ApiError>;

#[derive(serde::Deserialize)]
pub struct AddBody {
    /// A domain (`example.com`, with its subdomains) or an address (`name@example.com`).
    #[serde(default)]
    value: String,
}

pub async fn index(State(app): State<AppState>, admin: OrgAdmin) -> ApiResult {
    let entries = blocklist::list(&app.store, admin.admin).await?;
    Ok(Json(entries).into_response())
}

pub async fn add(
    State(app): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<AddBody>,
) -> ApiResult {
    let entry = blocklist::add(&app.store, admin.admin, Some(&app.blocklist), &body.value).await?;
    Ok((StatusCode::CREATED, Json(entry)).into_response())
}

pub async fn remove(State(app): State<AppState>, admin: OrgAdmin, ids: Ids) -> ApiResult {
    blocklist::remove(&app.store, admin.admin, Some(&app.blocklist), ids.one()?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
