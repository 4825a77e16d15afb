//! `/api/v1/admin/mailboxes`, `/api/v1/admin/notifications…` and `/api/v1/admin/audit…`: every
//! mailbox's health, the failed notifications (retry, drop), and the audit log with its filters
//! and CSV export.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::service::org::{audit, health, outbox};
use crate::store::OutboxId;

use super::super::error::ApiError;
use super::super::extract::Ids;

type ApiResult<T = Response> = Result<T, ApiError>;
type QueryOf<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query_of<T>(query: QueryOf<T>) -> ApiResult<T> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::BadBody(e.body_text()))
}

pub async fn mailboxes(State(app): State<AppState>, admin: OrgAdmin) -> ApiResult {
    Ok(Json(health::mailboxes(&app.store, admin.admin).await?).into_response())
}

#[derive(serde::Deserialize)]
pub struct FailedQuery {
    #[serde(default)]
    limit: Option<u32>,
}

pub async fn failed_notifications(
    State(app): State<AppState>,
    admin: OrgAdmin,
    query: QueryOf<FailedQuery>,
) -> ApiResult {
    let limit = query_of(query)?.limit.unwrap_or(100);
    Ok(Json(outbox::failed(&app.store, admin.admin, limit).await?).into_response())
}

pub async fn retry_notification(
    State(app): State<AppState>,
    admin: OrgAdmin,
    ids: Ids,
) -> ApiResult {
    outbox::retry(&app.store, admin.admin, OutboxId(ids.one()?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn drop_notification(
    State(app): State<AppState>,
    admin: OrgAdmin,
    ids: Ids,
) -> ApiResult {
    outbox::discard(&app.store, admin.admin, OutboxId(ids.one()?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn audit_log(
    State(app): State<AppState>,
    admin: OrgAdmin,
    query: QueryOf<audit::AuditQuery>,
) -> ApiResult {
    let query = query_of(query)?;
    Ok(Json(audit::page(&app.store, admin.admin, &query).await?).into_response())
}

pub async fn audit_export(
    State(app): State<AppState>,
    admin: OrgAdmin,
    query: QueryOf<audit::AuditQuery>,
) -> ApiResult {
    let query = query_of(query)?;
    let text = audit::export_csv(&app.store, admin.admin, &query).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/csv; charset=utf-8; header=present",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"mailsig-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}
