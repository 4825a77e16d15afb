//! `/admin/blocklist`: the org-wide sender blocklist. The admin sees every entry (a domain with
//! its subdomains, or one address), adds one with a small form, and removes one; each change is
//! `service::org::blocklist`'s work (checked, audited with the admin as the actor) and is in
//! force in the running pipelines for the next message. The page then says what happened in a
//! fixed sentence after a redirect, or shows the form again with the reason it was refused.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AdminNav;
use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::http::web::render::{Moment, PageError, html};
use crate::service::ServiceError;
use crate::service::org::blocklist as service;
use crate::store::BlocklistKind;

/// Where the section lives.
pub const PATH: &str = "/admin/blocklist";

struct Row {
    id: i64,
    domain: bool,
    value: String,
    added: Moment,
}

#[derive(Template)]
#[template(path = "admin/blocklist.html")]
struct BlocklistPage {
    nav: AdminNav,
    notice: Option<&'static str>,
    entries: Vec<Row>,
    /// A refused add form: what was typed, and why it was refused.
    typed: String,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    value: String,
}

/// `GET /admin/blocklist`.
pub async fn page(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_deref() {
        Some("added") => Some("Added. Mail from it that arrives from now on is skipped."),
        Some("removed") => Some("Removed. Mail from it becomes suggestions again."),
        _ => None,
    };
    render(&state, &admin, notice, String::new(), Vec::new()).await
}

async fn render(
    state: &AppState,
    admin: &OrgAdmin,
    notice: Option<&'static str>,
    typed: String,
    errors: Vec<String>,
) -> Result<Response, PageError> {
    let entries = service::list(&state.store, admin.admin)
        .await?
        .into_iter()
        .map(|e| Row {
            id: e.id,
            domain: e.kind == BlocklistKind::Domain,
            value: e.value,
            added: Moment::exact(e.created_at),
        })
        .collect();
    let refused = !errors.is_empty();
    let mut response = html(&BlocklistPage {
        nav: AdminNav::new(admin, "blocklist")?,
        notice,
        entries,
        typed,
        errors,
    })?;
    if refused {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `POST /admin/blocklist`.
pub async fn add(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    match service::add(
        &state.store,
        admin.admin,
        Some(&state.blocklist),
        &form.value,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("{PATH}?done=added")).into_response()),
        Err(ServiceError::Validation(fields)) => {
            let errors = fields.into_iter().map(|f| f.message).collect();
            render(&state, &admin, None, form.value, errors).await
        }
        Err(ServiceError::Conflict { .. }) => {
            let errors = vec!["is on the blocklist already".to_owned()];
            render(&state, &admin, None, form.value, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/blocklist/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    service::remove(&state.store, admin.admin, Some(&state.blocklist), id).await?;
    Ok(Redirect::to(&format!("{PATH}?done=removed")).into_response())
}
