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
use crate::service::{self, ServiceError};
use crate::store::{ListId, UserId};

/// One list row on the dashboard.
pub struct ListRow {
    pub id: i64,
    pub name: String,
    pub role: &'static str,
    pub is_owner: bool,
    /// Whose list it is, for a list shared with the visitor ("ann@example.com").
    pub owner_email: String,
    /// Suggestions waiting for review.
    pub waiting: i64,
    /// How many of the visitor's mailboxes deliver into it (deleting waits for 0).
    pub mailboxes: usize,
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
    /// The confirmation of what was just done.
    notice: String,
    /// A refused new-list or rename form: its list (0 for a new one), the text and the error.
    refused: Option<(i64, String, String)>,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

#[derive(Deserialize, Default)]
pub struct DashboardQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub async fn dashboard(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let name = query.name.unwrap_or_default();
    let notice = match query.done.as_deref() {
        Some("created") => format!("Created the list “{name}”."),
        Some("renamed") => format!("Saved: the list is now called “{name}”."),
        Some("deleted") => format!("Deleted the list “{name}”."),
        Some("unlinked") => "Unlinked the mailbox and erased its password.".to_owned(),
        _ => String::new(),
    };
    render_dashboard(&state, &visitor, notice, None).await
}

async fn render_dashboard(
    state: &AppState,
    visitor: &Visitor,
    notice: String,
    refused: Option<(i64, String, String)>,
) -> Result<Response, PageError> {
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
            kind: match m.kind.as_str() {
                "imap" => "IMAP",
                "graph" => "Microsoft 365",
                other => other,
            },
            status: m.status.as_str(),
            reason: m.status_reason.clone().unwrap_or_default(),
            needs_attention: m.needs_attention,
            list_name: list_name(m.list),
        })
        .collect();
    let mut list_rows = Vec::with_capacity(lists.len());
    for l in &lists {
        let is_owner = l.role == crate::store::Role::Owner;
        let owner_email = if is_owner {
            String::new()
        } else {
            service::lists::members(&state.store, visitor.actor, l.id)
                .await?
                .into_iter()
                .find(|m| m.role == crate::store::Role::Owner)
                .map(|m| m.email)
                .unwrap_or_default()
        };
        let waiting = service::suggestions::counts(&state.store, visitor.actor, l.id)
            .await?
            .into_iter()
            .find(|(s, _)| *s == crate::store::SuggestionStatus::New)
            .map_or(0, |(_, n)| n);
        list_rows.push(ListRow {
            id: l.id.0,
            name: l.name.clone(),
            role: l.role.as_str(),
            is_owner,
            owner_email,
            waiting,
            mailboxes: mailboxes.iter().filter(|m| m.list == l.id).count(),
        });
    }
    let page = DashboardPage {
        org_admin: visitor.org_admin,
        csrf: visitor.csrf.clone(),
        email: me.user.email,
        lists: list_rows,
        mailboxes: mailbox_rows,
        notice,
        refused: refused.clone(),
    };
    let response = html(&page)?;
    Ok(if refused.is_some() {
        (axum::http::StatusCode::BAD_REQUEST, response).into_response()
    } else {
        response
    })
}

#[derive(Deserialize)]
pub struct NewListForm {
    #[serde(default)]
    name: String,
}

/// The dashboard again with the refused name kept and the reason beside the field.
async fn refused_name(
    state: &AppState,
    visitor: &Visitor,
    list: i64,
    typed: &str,
    e: ServiceError,
) -> Result<Response, PageError> {
    match e {
        ServiceError::Validation(fields) => {
            let reason = fields
                .into_iter()
                .map(|f| f.message)
                .collect::<Vec<_>>()
                .join("; ");
            let text = format!("This name {reason}: choose another.");
            render_dashboard(
                state,
                visitor,
                String::new(),
                Some((list, typed.to_owned(), text)),
            )
            .await
        }
        other => Err(other.into()),
    }
}

pub async fn create(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Form(form): Form<NewListForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    match service::lists::create_list(&state.store, visitor.actor, Some(&form.name)).await {
        Ok(list) => Ok(Redirect::to(&done_url("created", &list.name)).into_response()),
        Err(e) => refused_name(&state, &visitor, 0, &form.name, e).await,
    }
}

/// Renames a list (owner).
pub async fn rename(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<NewListForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    match service::lists::rename_list(&state.store, visitor.actor, ListId(id), Some(&form.name))
        .await
    {
        Ok(list) => Ok(Redirect::to(&done_url("renamed", &list.name)).into_response()),
        Err(e) => refused_name(&state, &visitor, id, &form.name, e).await,
    }
}

fn done_url(done: &str, name: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("done", done)
        .append_pair("name", name)
        .finish();
    format!("/dashboard?{query}")
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
    /// Suggestions waiting for review.
    waiting: i64,
    /// What was just done ("Shared with …").
    notice: String,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

#[derive(Deserialize, Default)]
pub struct ShareQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

pub async fn share_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<ShareQuery>,
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
    let waiting = service::suggestions::counts(&state.store, visitor.actor, list.id)
        .await?
        .into_iter()
        .find(|(s, _)| *s == crate::store::SuggestionStatus::New)
        .map_or(0, |(_, n)| n);
    let email = query.email.unwrap_or_default();
    let notice = match query.done.as_deref() {
        Some("shared") => format!("Shared with {email}."),
        Some("unshared") => format!("Stopped sharing with {email}."),
        _ => String::new(),
    };
    html(&SharePage {
        org_admin: visitor.org_admin,
        csrf: visitor.csrf,
        waiting,
        notice,
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
    Ok(Redirect::to(&share_done(id, "shared", form.email.trim())).into_response())
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
    let email = service::lists::members(&state.store, visitor.actor, ListId(id))
        .await?
        .into_iter()
        .find(|m| m.user.0 == form.user_id)
        .map(|m| m.email)
        .unwrap_or_default();
    service::lists::unshare_list(
        &state.store,
        visitor.actor,
        ListId(id),
        UserId(form.user_id),
    )
    .await?;
    Ok(Redirect::to(&share_done(id, "unshared", &email)).into_response())
}

fn share_done(list: i64, done: &str, email: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("done", done)
        .append_pair("email", email)
        .finish();
    format!("/lists/{list}/share?{query}")
}

#[derive(Template)]
#[template(path = "delete_list.html")]
struct DeleteListPage {
    csrf: String,
    list_id: i64,
    list_name: String,
    /// Live mailboxes that still deliver into the list (deleting is refused while > 0).
    mailboxes: usize,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
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
        org_admin: visitor.org_admin,
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
    let list = service::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    service::lists::delete_list(&state.store, visitor.actor, list.id).await?;
    Ok(Redirect::to(&done_url("deleted", &list.name)).into_response())
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
