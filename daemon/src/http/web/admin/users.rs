//! `/admin/users`: every account with its role, state, two-step verification, last sign-in and
//! mailbox count, and the admin's actions on one (disable, enable, reset the second factor).
//! Each action is a small form posting to `/admin/users/{id}/…` and is `service::org::users`'s
//! work, audited with the admin as the actor; the page then says what happened in a fixed
//! sentence (never text from the request).

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
use crate::service::org::invite as org_invite;
use crate::service::org::users as org_users;
use crate::store::{OrgMember, UserId};

/// Where the section lives.
pub const PATH: &str = "/admin/users";

struct Row {
    id: i64,
    email: String,
    name: String,
    admin: bool,
    disabled: bool,
    invited: bool,
    second_factor: bool,
    last_sign_in: Option<Moment>,
    mailboxes: i64,
    is_me: bool,
}

impl Row {
    fn new(m: OrgMember, me: Option<UserId>) -> Row {
        Row {
            id: m.id.0,
            is_me: me == Some(m.id),
            email: m.email,
            name: m.display_name.unwrap_or_default(),
            admin: m.org_role == crate::domain::OrgRole::Admin,
            disabled: m.disabled_at.is_some(),
            invited: !m.has_password && m.last_sign_in.is_none(),
            second_factor: m.second_factor,
            last_sign_in: m.last_sign_in.map(Moment::exact),
            mailboxes: m.mailboxes,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: AdminNav,
    notice: Option<String>,
    users: Vec<Row>,
    /// The invitation form's typed values and error, when it was refused.
    invite: InviteForm,
    invite_error: Option<String>,
}

/// What the last action did, as `?done=…&user=…` after the redirect.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
    user: Option<i64>,
}

pub async fn page(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    render(&state, &admin, done, InviteForm::default(), None).await
}

async fn render(
    state: &AppState,
    admin: &OrgAdmin,
    done: Done,
    invite: InviteForm,
    invite_error: Option<String>,
) -> Result<Response, PageError> {
    let members = org_users::list(&state.store, admin.admin).await?;
    let email_of = |id: i64| {
        members
            .iter()
            .find(|m| m.id.0 == id)
            .map(|m| m.email.clone())
            .unwrap_or_else(|| "the account".to_owned())
    };
    let notice = match (done.done.as_deref(), done.user) {
        (Some("disabled"), Some(id)) => Some(format!(
            "{} is disabled: its sessions and API tokens ended.",
            email_of(id)
        )),
        (Some("enabled"), Some(id)) => Some(format!("{} may sign in again.", email_of(id))),
        (Some("second-factor-reset"), Some(id)) => Some(format!(
            "Two-step verification of {} is off; they sign in with the password alone until they set it up again.",
            email_of(id)
        )),
        (Some("invited"), Some(id)) => Some(format!(
            "{} is invited: the invitation mail with a link to set a password is on its way (the link works once, for 7 days).",
            email_of(id)
        )),
        (Some("offboarded"), Some(id)) => Some(format!(
            "{} is offboarded: mailboxes stopped, credentials wiped, lists handed over or deleted, account disabled.",
            email_of(id)
        )),
        (Some("unchanged"), Some(id)) => Some(format!("Nothing changed for {}.", email_of(id))),
        _ => None,
    };
    let me = admin.admin.user();
    let status = if invite_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response = html(&UsersPage {
        nav: AdminNav::new(admin, "users")?,
        notice,
        users: members.into_iter().map(|m| Row::new(m, me)).collect(),
        invite,
        invite_error,
    })?;
    *response.status_mut() = status;
    Ok(response)
}

/// The invitation form.
#[derive(Deserialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

/// Invites a person: the account and the invitation mail (`service::org::invite`).
pub async fn invite(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Form(form): Form<InviteForm>,
) -> Result<Response, PageError> {
    let name = Some(form.name.trim()).filter(|n| !n.is_empty());
    match org_invite::invite(&state.store, admin.admin, &form.email, name).await {
        Ok(member) => Ok(back("invited", member.id.0, true)),
        Err(ServiceError::Validation(fields)) => {
            let text = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            let none = Done {
                done: None,
                user: None,
            };
            render(&state, &admin, none, form, Some(text)).await
        }
        Err(ServiceError::Conflict { .. }) => {
            let none = Done {
                done: None,
                user: None,
            };
            let text = "This address already has an account in use.".to_owned();
            render(&state, &admin, none, form, Some(text)).await
        }
        Err(e) => Err(e.into()),
    }
}

fn back(done: &str, user: i64, changed: bool) -> Response {
    let done = if changed { done } else { "unchanged" };
    Redirect::to(&format!("{PATH}?done={done}&user={user}")).into_response()
}

pub async fn disable(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let changed = org_users::disable(&state.store, admin.admin, UserId(id)).await?;
    Ok(back("disabled", id, changed))
}

pub async fn enable(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let changed = org_users::enable(&state.store, admin.admin, UserId(id)).await?;
    Ok(back("enabled", id, changed))
}

pub async fn reset_second_factor(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let changed = org_users::reset_second_factor(&state.store, admin.admin, UserId(id)).await?;
    Ok(back("second-factor-reset", id, changed))
}
