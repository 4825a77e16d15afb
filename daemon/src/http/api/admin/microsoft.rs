//! `/api/v1/admin/microsoft-365`: the tenant-wide Microsoft 365 rollout over JSON: whether access
//! was granted for the organisation and which groups and chosen users are linked, linking a group
//! or a user and unlinking one. The admin consent itself needs a browser (Microsoft's page) and starts on the admin page.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::service::ServiceError;
use crate::service::org::{tenant, tenant_users};
use crate::store::{TenantGroupId, TenantUserId};

use super::super::error::ApiError;
use super::super::extract::{Ids, JsonBody};

type ApiResult<T = Response> = Result<T, ApiError>;

#[derive(serde::Deserialize)]
pub struct LinkBody {
    /// The group's e-mail address or its id in Microsoft Graph.
    #[serde(default)]
    group: String,
}

#[derive(serde::Deserialize)]
pub struct ChooseBody {
    /// The user's e-mail address (or user principal name) or their id in Microsoft Graph.
    #[serde(default)]
    user: String,
}

pub async fn index(State(app): State<AppState>, admin: OrgAdmin) -> ApiResult {
    let overview = tenant::overview(&app.store, admin.admin).await?;
    Ok(Json(overview).into_response())
}

pub async fn link(
    State(app): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<LinkBody>,
) -> ApiResult {
    let Some(source) = app.graph_source() else {
        return Err(ServiceError::InUse {
            message: "Microsoft 365 is not configured on this server".into(),
        }
        .into());
    };
    let group = tenant::link_group(&app.store, &source, admin.admin, &body.group).await?;
    app.tenant_wake.notify_one();
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

pub async fn unlink(State(app): State<AppState>, admin: OrgAdmin, ids: Ids) -> ApiResult {
    tenant::unlink_group(
        &app.store,
        &app.graph_unlinker(),
        admin.admin,
        TenantGroupId(ids.one()?),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn link_user(
    State(app): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<ChooseBody>,
) -> ApiResult {
    let Some(source) = app.graph_source() else {
        return Err(ServiceError::InUse {
            message: "Microsoft 365 is not configured on this server".into(),
        }
        .into());
    };
    let chosen = tenant_users::link_user(&app.store, &source, admin.admin, &body.user).await?;
    Ok((StatusCode::CREATED, Json(chosen)).into_response())
}

pub async fn unlink_user(State(app): State<AppState>, admin: OrgAdmin, ids: Ids) -> ApiResult {
    tenant_users::unlink_user(
        &app.store,
        &app.graph_unlinker(),
        admin.admin,
        TenantUserId(ids.one()?),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
