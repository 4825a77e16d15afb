//! `/api/v1/admin/users…`: the org admin's account management, the same service functions as
//! the `/admin/users` page (`service::org::users`), so the checks and audit entries are the
//! same. Every handler takes [`OrgAdmin`]: anyone else is refused (401 without credentials,
//! 403 for a user who is not an org admin) before the handler runs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::service::org::users as org_users;
use crate::store::UserId;

use super::error::ApiError;
use super::extract::{Ids, JsonBody};

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

#[derive(Deserialize)]
pub struct InviteBody {
    email: Option<String>,
    display_name: Option<String>,
}

/// Invites a person by e-mail: the account (201) and the invitation mail in the outbox.
pub async fn invite(
    State(app): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<InviteBody>,
) -> ApiResult {
    let member = crate::service::org::invite::invite(
        &app.store,
        admin.admin,
        body.email.as_deref().unwrap_or_default(),
        body.display_name.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(member)).into_response())
}

#[derive(Deserialize)]
pub struct OffboardBody {
    /// Who takes over the leaver's lists.
    new_owner: Option<i64>,
    /// Delete the leaver's lists instead.
    delete_lists: Option<bool>,
}

/// Offboards a person who leaves (`service::org::offboard`): what was done.
pub async fn offboard(
    State(app): State<AppState>,
    admin: OrgAdmin,
    ids: Ids,
    JsonBody(body): JsonBody<OffboardBody>,
) -> ApiResult {
    use crate::service::org::offboard::ListHandover;
    use crate::service::{FieldCode, ServiceError};
    let user = UserId(ids.one()?);
    let handover = match (body.new_owner, body.delete_lists.unwrap_or(false)) {
        (Some(to), false) => ListHandover::To(UserId(to)),
        (None, true) => ListHandover::Delete,
        _ => {
            return Err(ServiceError::field(
                "new_owner",
                FieldCode::Required,
                "give either new_owner or delete_lists: true",
            )
            .into());
        }
    };
    let done = crate::service::org::offboard::offboard(
        &app.store,
        &app.graph_unlinker(),
        admin.admin,
        user,
        handover,
    )
    .await?;
    Ok(Json(done).into_response())
}
