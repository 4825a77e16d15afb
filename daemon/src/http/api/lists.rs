//! `/api/v1/lists…`: the actor's lists, rename, members and sharing, suggestions of a list, export
//! (whole files, or the changes since a cursor).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::{change_feed, changes, export, lists, suggestions};
use crate::store::{ListId, UserId};

use super::error::ApiError;
use super::extract::{Ids, JsonBody};

#[derive(Deserialize)]
pub struct NameBody {
    name: Option<String>,
}

#[derive(Deserialize)]
pub struct AlertsBody {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
pub struct ShareBody {
    email: Option<String>,
    role: Option<String>,
}

type ApiResult<T = Response> = Result<T, ApiError>;

pub async fn index(State(app): State<AppState>, user: CurrentUser) -> ApiResult {
    Ok(Json(lists::my_lists(&app.store, user.actor()).await?).into_response())
}

pub async fn create(
    State(app): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<NameBody>,
) -> ApiResult {
    let list = lists::create_list(&app.store, user.actor(), body.name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(list)).into_response())
}

pub async fn show(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(Json(lists::get_list(&app.store, user.actor(), ListId(ids.one()?)).await?).into_response())
}

pub async fn rename(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<NameBody>,
) -> ApiResult {
    let list = lists::rename_list(
        &app.store,
        user.actor(),
        ListId(ids.one()?),
        body.name.as_deref(),
    )
    .await?;
    Ok(Json(list).into_response())
}

/// `DELETE /api/v1/lists/{id}`: 204, or 409 `in_use` while a live mailbox delivers into it.
pub async fn delete(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    lists::delete_list(&app.store, user.actor(), ListId(ids.one()?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn members(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(Json(lists::members(&app.store, user.actor(), ListId(ids.one()?)).await?).into_response())
}

pub async fn share(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<ShareBody>,
) -> ApiResult {
    let members = lists::share_list(
        &app.store,
        user.actor(),
        ListId(ids.one()?),
        body.email.as_deref(),
        body.role.as_deref(),
    )
    .await?;
    Ok(Json(members).into_response())
}

pub async fn unshare(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let (list, member) = ids.two()?;
    lists::unshare_list(&app.store, user.actor(), ListId(list), UserId(member)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn suggestions(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    query: QueryOf<suggestions::Query>,
) -> ApiResult {
    let query = query_of(query)?;
    let page = suggestions::list(&app.store, user.actor(), ListId(ids.one()?), &query).await?;
    Ok(Json(page).into_response())
}

/// `?include=accepted|all` of the exports.
#[derive(Deserialize)]
pub struct ExportQuery {
    include: Option<String>,
}

type QueryOf<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query_of<T>(query: QueryOf<T>) -> ApiResult<T> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::BadBody(e.body_text()))
}

/// `GET /api/v1/lists/{id}/changes?since=<cursor>&include=accepted|all`.
pub async fn changes(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    query: QueryOf<change_feed::Query>,
) -> ApiResult {
    let query = query_of(query)?;
    let page = change_feed::since(&app.store, user.actor(), ListId(ids.one()?), &query).await?;
    Ok(Json(page).into_response())
}

pub async fn export_vcf(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    query: QueryOf<ExportQuery>,
) -> ApiResult {
    let scope = export::Scope::from_query(query_of(query)?.include.as_deref())?;
    let list = lists::get_list(&app.store, user.actor(), ListId(ids.one()?)).await?;
    let text = export::vcard(&app.store, user.actor(), list.id, scope).await?;
    Ok(download(
        text,
        "text/vcard; charset=utf-8",
        export::content_disposition(&list.name, "vcf"),
    ))
}

pub async fn export_csv(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    query: QueryOf<ExportQuery>,
) -> ApiResult {
    let scope = export::Scope::from_query(query_of(query)?.include.as_deref())?;
    let list = lists::get_list(&app.store, user.actor(), ListId(ids.one()?)).await?;
    let text = export::csv(&app.store, user.actor(), list.id, scope).await?;
    Ok(download(
        text,
        "text/csv; charset=utf-8; header=present",
        export::content_disposition(&list.name, "csv"),
    ))
}

/// A list's change alerts as the API shows them.
#[derive(serde::Serialize)]
struct ChangeAlerts {
    enabled: bool,
    items: Vec<crate::service::changes::ChangeItem>,
}

async fn alerts_answer(app: &AppState, user: &CurrentUser, list: ListId) -> ApiResult {
    let items = changes::alerts(&app.store, user.actor(), list).await?;
    let enabled = app.store.change_alerts_enabled(list).await?;
    let items = items.into_iter().map(Into::into).collect();
    Ok(Json(ChangeAlerts { enabled, items }).into_response())
}

/// `GET /api/v1/lists/{id}/change-alerts`: "Jane Doe: new title", with date and authentication.
pub async fn change_alerts(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    alerts_answer(&app, &user, ListId(ids.one()?)).await
}

/// `PUT /api/v1/lists/{id}/change-alerts`: turn the list's change alerts on or off (owner).
pub async fn set_change_alerts(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<AlertsBody>,
) -> ApiResult {
    let list = ListId(ids.one()?);
    let enabled = body
        .enabled
        .ok_or_else(|| ApiError::BadBody("enabled: required (true or false)".into()))?;
    changes::set_alerts(&app.store, user.actor(), list, enabled).await?;
    alerts_answer(&app, &user, list).await
}

/// A file answer; `disposition` names it after the list (`export::content_disposition`).
fn download(text: String, content_type: &'static str, disposition: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        text,
    )
        .into_response()
}

/// `{"mode": "off" | "dry_run" | "on", "threshold": 0.95}` (threshold optional: the list's own).
#[derive(Deserialize)]
pub struct AutoAcceptBody {
    mode: Option<crate::store::AutoAcceptMode>,
    threshold: Option<f64>,
}

/// `GET /api/v1/lists/{id}/auto-accept`: the setting, the expected error rate at its threshold
/// and what the dry run would have accepted.
pub async fn auto_accept(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let report =
        crate::service::auto_accept::report(&app.store, user.actor(), ListId(ids.one()?)).await?;
    Ok(Json(report).into_response())
}

/// `PUT /api/v1/lists/{id}/auto-accept`: set mode and threshold (owner).
pub async fn set_auto_accept(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<AutoAcceptBody>,
) -> ApiResult {
    let list = ListId(ids.one()?);
    let mode = body
        .mode
        .ok_or_else(|| ApiError::BadBody("mode: required (off, dry_run or on)".into()))?;
    let report =
        crate::service::auto_accept::set(&app.store, user.actor(), list, mode, body.threshold)
            .await?;
    Ok(Json(report).into_response())
}
