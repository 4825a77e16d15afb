//! `/admin/users/{id}/offboard`: the confirmation page for offboarding a person who leaves
//! (what will happen, and who takes over their lists), and the form's action, which is
//! `service::org::offboard`'s work. Back on the users page a fixed sentence says what was done.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AdminNav;
use super::users::PATH as USERS;
use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::http::web::render::{PageError, html};
use crate::service::org::offboard::{ListHandover, offboard};
use crate::service::org::users as org_users;
use crate::service::{FieldCode, ServiceError};
use crate::store::UserId;

#[derive(Template)]
#[template(path = "admin/offboard.html")]
struct OffboardPage {
    nav: AdminNav,
    id: i64,
    email: String,
    mailboxes: i64,
    lists: usize,
    /// Who may take the lists over: (id, e-mail) of the other active accounts.
    takers: Vec<(i64, String)>,
}

pub async fn page(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let member = org_users::get(&state.store, admin.admin, UserId(id)).await?;
    let lists = state
        .store
        .lists_owned_by(member.id)
        .await
        .map_err(ServiceError::from)?
        .len();
    let takers = org_users::list(&state.store, admin.admin)
        .await?
        .into_iter()
        .filter(|m| m.id != member.id && m.disabled_at.is_none())
        .map(|m| (m.id.0, m.email))
        .collect();
    html(&OffboardPage {
        nav: AdminNav::new(&admin, "users")?,
        id,
        email: member.email,
        mailboxes: member.mailboxes,
        lists,
        takers,
    })
}

#[derive(Deserialize)]
pub struct OffboardForm {
    /// `handover` or `delete`.
    #[serde(default)]
    lists: String,
    #[serde(default)]
    new_owner: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
    Form(form): Form<OffboardForm>,
) -> Result<Response, PageError> {
    let handover = match form.lists.as_str() {
        "delete" => ListHandover::Delete,
        "handover" => {
            let to = form
                .new_owner
                .as_deref()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ServiceError::field("new_owner", FieldCode::Required, "choose who takes over")
                })?;
            ListHandover::To(UserId(to))
        }
        _ => {
            return Err(ServiceError::field(
                "lists",
                FieldCode::Choice,
                "choose to hand the lists over or to delete them",
            )
            .into());
        }
    };
    offboard(
        &state.store,
        &state.graph_unlinker(),
        admin.admin,
        UserId(id),
        handover,
    )
    .await?;
    Ok(Redirect::to(&format!("{USERS}?done=offboarded&user={id}")).into_response())
}
