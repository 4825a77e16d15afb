//! `/api/v1/admin/users…`: the org admin's account management, the same service functions as
//! the `/admin/users` page (`service::org::users`), so the checks and audit entries are the
//! same. Every handler takes [`OrgAdmin`]: anyone else is refused (401 without credentials,
//! 403 for a user who is not an org admin) before the handler runs.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::service::org::users as org_users;
use crate::store::UserId;

use super::error::ApiError;
use super::extract::Ids;

type ApiResult = Result<Response, ApiError>;

/// Every account (disabled ones included), oldest first.
pub async fn list(State(app): State<AppState>, admin: OrgAdmin) -> ApiResult {
    let users = org_users::list(&app.store, admin.admin).await?;
    Ok(Json(users).into_response())
}

/// The account after an action.
async fn member(app: &AppState, admin: &OrgAdmin, user: UserId) -> ApiResult {
    Ok(Json(org_users::get(&app.store, admin.admin, user).await?).into_response())
}

pub async fn disable(State(app): State<AppState>, admin: OrgAdmin, ids: Ids) -> ApiResult {
    let user = UserId(ids.one()?);
    org_users::disable(&app.store, admin.admin, user).await?;
    member(&app, &admin, user).await
}

pub async fn enable(State(app): State<AppState>, admin: OrgAdmin, ids: Ids) -> ApiResult {
    let user = UserId(ids.one()?);
    org_users::enable(&app.store, admin.admin, user).await?;
    member(&app, &admin, user).await
}

pub async fn reset_second_factor(
    State(app): State<AppState>,
    admin: OrgAdmin,
    ids: Ids,
) -> ApiResult {
    let user = UserId(ids.one()?);
    org_users::reset_second_factor(&app.store, admin.admin, user).await?;
    member(&app, &admin, user).await
}
