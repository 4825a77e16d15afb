//! The dashboard (my lists, my mailboxes), creating a list, sharing it and exporting it.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{PageError, Visitor, html};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service;
use crate::store::{ListId, UserId};

/// One list row on the dashboard.
pub struct ListRow {
    pub id: i64,
    pub name: String,
    pub role: &'static str,
    pub is_owner: bool,
}

/// One mailbox row on the dashboard.
pub struct MailboxRow {
    pub id: i64,
    pub address: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub reason: String,
    pub needs_attention: bool,
    pub list_name: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    csrf: String,
    email: String,
    lists: Vec<ListRow>,
    mailboxes: Vec<MailboxRow>,
}

pub async fn dashboard(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let me = service::me::me(&state.store, visitor.actor).await?;
    let lists = service::lists::my_lists(&state.store, visitor.actor).await?;
    let mailboxes = service::mailboxes::my_mailboxes(&state.store, visitor.actor).await?;
    let list_name = |id: ListId| {
        lists
            .iter()
            .find(|l| l.id == id)
            .map_or_else(|| format!("#{}", id.0), |l| l.name.clone())
    };
    let mailbox_rows = mailboxes
        .iter()
        .map(|m| MailboxRow {
            id: m.id.0,
            address: m.address.clone(),
            kind: m.kind.as_str(),
            status: m.status.as_str(),
            reason: m.status_reason.clone().unwrap_or_default(),
            needs_attention: m.needs_attention,
            list_name: list_name(m.list),
        })
        .collect();
    let list_rows = lists
        .iter()
        .map(|l| ListRow {
            id: l.id.0,
            name: l.name.clone(),
            role: l.role.as_str(),
            is_owner: l.role == crate::store::Role::Owner,
        })
        .collect();
    html(&DashboardPage {
        csrf: visitor.csrf,
        email: me.user.email,
        lists: list_rows,
        mailboxes: mailbox_rows,
    })
}

#[derive(Deserialize)]
pub struct NewListForm {
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Form(form): Form<NewListForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::lists::create_list(&state.store, visitor.actor, Some(&form.name)).await?;
    Ok(Redirect::to("/dashboard").into_response())
}

/// One member row on the share page.
pub struct MemberRow {
    pub user_id: i64,
    pub email: String,
    pub role: &'static str,
    pub is_owner: bool,
}

#[derive(Template)]
#[template(path = "share.html")]
struct SharePage {
    csrf: String,
    list_id: i64,
    list_name: String,
    members: Vec<MemberRow>,
}

pub async fn share_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = service::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    if list.role != crate::store::Role::Owner {
        return Err(service::ServiceError::Forbidden {
            action: "share this list",
        }
        .into());
    }
    let members = service::lists::members(&state.store, visitor.actor, list.id).await?;
    html(&SharePage {
        csrf: visitor.csrf,
        list_id: list.id.0,
        list_name: list.name,
        members: members
            .into_iter()
            .map(|m| MemberRow {
                user_id: m.user.0,
                email: m.email,
                role: m.role.as_str(),
                is_owner: m.role == crate::store::Role::Owner,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct ShareForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn share(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<ShareForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::lists::share_list(
        &state.store,
        visitor.actor,
        ListId(id),
        Some(&form.email),
        Some(&form.role),
    )
    .await?;
    Ok(Redirect::to(&format!("/lists/{id}/share")).into_response())
}

#[derive(Deserialize)]
pub struct UnshareForm {
    user_id: i64,
}

pub async fn unshare(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<UnshareForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::lists::unshare_list(
        &state.store,
        visitor.actor,
        ListId(id),
        UserId(form.user_id),
    )
    .await?;
    Ok(Redirect::to(&format!("/lists/{id}/share")).into_response())
}

#[derive(Template)]
#[template(path = "delete_list.html")]
struct DeleteListPage {
    csrf: String,
    list_id: i64,
    list_name: String,
    /// Live mailboxes that still deliver into the list (deleting is refused while > 0).
    mailboxes: usize,
}

/// The confirm step before deleting a list (owner only).
pub async fn delete_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = service::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    if list.role != crate::store::Role::Owner {
        return Err(service::ServiceError::Forbidden {
            action: "delete this list",
        }
        .into());
    }
    let mailboxes = service::mailboxes::my_mailboxes(&state.store, visitor.actor)
        .await?
        .iter()
        .filter(|m| m.list == list.id)
        .count();
    html(&DeleteListPage {
        csrf: visitor.csrf,
        list_id: list.id.0,
        list_name: list.name,
        mailboxes,
    })
}

#[derive(Deserialize)]
pub struct DeleteListForm {
    #[serde(default)]
    confirm: String,
}

/// Deletes the list once confirmed (`confirm=yes` from the confirm page), then the dashboard.
pub async fn delete(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<DeleteListForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    if form.confirm != "yes" {
        return Ok(Redirect::to(&format!("/lists/{id}/delete")).into_response());
    }
    service::lists::delete_list(&state.store, visitor.actor, ListId(id)).await?;
    Ok(Redirect::to("/dashboard").into_response())
}

/// `?include=all` adds the unreviewed suggestions to an export.
#[derive(Deserialize)]
pub struct ExportQuery {
    include: Option<String>,
}

pub async fn export_vcard(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let scope = service::export::Scope::from_query(query.include.as_deref())?;
    let list = service::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    let body = service::export::vcard(&state.store, visitor.actor, list.id, scope).await?;
    Ok(download(
        "text/vcard; charset=utf-8",
        service::export::content_disposition(&list.name, "vcf"),
        body,
    ))
}

pub async fn export_csv(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let scope = service::export::Scope::from_query(query.include.as_deref())?;
    let list = service::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    let body = service::export::csv(&state.store, visitor.actor, list.id, scope).await?;
    Ok(download(
        "text/csv; charset=utf-8",
        service::export::content_disposition(&list.name, "csv"),
        body,
    ))
}

fn download(content_type: &'static str, disposition: String, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}
