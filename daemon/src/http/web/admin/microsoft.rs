//! `/admin/microsoft-365`: the tenant-wide Microsoft 365 rollout. The admin sees whether access
//! was granted for the organisation (admin consent) and which groups are linked, grants access
//! (a page that moves the browser on to Microsoft: the CSP's `form-action 'self'` stops a form
//! redirected to another origin), links a group by address or id, chooses a person of the tenant
//! by address or id, and unlinks either. What each
//! does is `service::org::tenant`'s; Microsoft's answer to the consent comes back to
//! `http::graph` (`/oauth/microsoft/admin-consent`), which sends the browser here with the
//! outcome in `done` or `consent`.

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
use crate::service::org::tenant as service;
use crate::service::org::tenant_users;
use crate::store::{TenantGroupId, TenantUserId};

/// Where the section lives.
pub const PATH: &str = "/admin/microsoft-365";

struct Grant {
    tenant: String,
    at: Moment,
}

struct GroupRow {
    id: i64,
    name: String,
    members: usize,
    linked: Moment,
}

struct ChosenRow {
    id: i64,
    name: String,
    linked: Moment,
}

/// A refused form: which one, what was typed, and why it was refused.
#[derive(Default)]
struct Refused {
    /// `group` or `user`: the form's field.
    field: &'static str,
    typed: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/microsoft.html")]
struct MicrosoftPage {
    nav: AdminNav,
    configured: bool,
    notice: Option<&'static str>,
    problem: Option<&'static str>,
    grant: Option<Grant>,
    groups: Vec<GroupRow>,
    users: Vec<ChosenRow>,
    /// A refused group form: what was typed, and why it was refused.
    typed: String,
    errors: Vec<String>,
    /// A refused user form: what was typed, and why it was refused.
    typed_user: String,
    user_errors: Vec<String>,
}

/// Moves the browser on to Microsoft's admin-consent page.
#[derive(Template)]
#[template(path = "admin/microsoft_continue.html")]
struct ContinueAtMicrosoft {
    nav: AdminNav,
    url: String,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    consent: Option<String>,
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    group: String,
}

#[derive(Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    user: String,
}

/// `GET /admin/microsoft-365`.
pub async fn page(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_deref() {
        Some("consented") => Some(
            "Access for the organisation is granted. Link a group to link its members' mailboxes.",
        ),
        Some("linked") => Some("The group is linked. Its members' mailboxes are being linked now."),
        Some("unlinked") => Some("The group is unlinked, and its members' mailboxes with it."),
        Some("user-linked") => Some("The person's mailbox is linked."),
        Some("user-unlinked") => Some(
            "The person is unlinked, and their mailbox with them unless a linked group still counts them.",
        ),
        _ => None,
    };
    let problem = match query.consent.as_deref() {
        Some("refused") => Some(
            "Access was not granted: Microsoft reported that the administrator declined or the consent failed. Nothing changed.",
        ),
        Some("expired") => Some(
            "Access was not granted: that consent was unknown, used, expired or started in another session. Start again.",
        ),
        Some("failed") => {
            Some("Access was not granted: Microsoft's answer could not be used. Start again.")
        }
        _ => None,
    };
    render(&state, &admin, notice, problem, Refused::default()).await
}

async fn render(
    state: &AppState,
    admin: &OrgAdmin,
    notice: Option<&'static str>,
    problem: Option<&'static str>,
    refused: Refused,
) -> Result<Response, PageError> {
    let overview = service::overview(&state.store, admin.admin).await?;
    let now = state.store.now_ms();
    let is_refused = !refused.errors.is_empty();
    let (typed, errors, typed_user, user_errors) = if refused.field == "user" {
        (String::new(), Vec::new(), refused.typed, refused.errors)
    } else {
        (refused.typed, refused.errors, String::new(), Vec::new())
    };
    let mut response = html(&MicrosoftPage {
        nav: AdminNav::new(admin, "microsoft-365")?,
        configured: state.graph_source().is_some(),
        notice,
        problem,
        grant: overview.grant.map(|g| Grant {
            tenant: g.tenant_id,
            at: Moment::at(g.granted_at, now),
        }),
        groups: overview
            .groups
            .into_iter()
            .map(|g| GroupRow {
                id: g.group.id.0,
                name: g
                    .group
                    .mail
                    .clone()
                    .or(g.group.display_name.clone())
                    .unwrap_or(g.group.group_id.clone()),
                members: g.members,
                linked: Moment::at(g.group.created_at, now),
            })
            .collect(),
        users: overview
            .users
            .into_iter()
            .map(|u| ChosenRow {
                id: u.id.0,
                name: u.mail.or(u.display_name).unwrap_or(u.graph_user_id),
                linked: Moment::at(u.created_at, now),
            })
            .collect(),
        typed,
        errors,
        typed_user,
        user_errors,
    })?;
    if is_refused {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `POST /admin/microsoft-365/consent`: on to Microsoft's admin-consent page.
pub async fn consent(
    State(state): State<AppState>,
    admin: OrgAdmin,
) -> Result<Response, PageError> {
    let Some(source) = state.graph_source() else {
        return Err(not_configured());
    };
    let session = admin.user.session().ok_or(PageError::SignIn)?.id;
    let url = service::start_admin_consent(
        &state.store,
        &state.vault,
        source.config(),
        admin.admin,
        session,
    )
    .await?;
    html(&ContinueAtMicrosoft {
        nav: AdminNav::new(&admin, "microsoft-365")?,
        url: url.to_string(),
    })
}

/// `POST /admin/microsoft-365/groups`.
pub async fn link(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let Some(source) = state.graph_source() else {
        return Err(not_configured());
    };
    match service::link_group(&state.store, &source, admin.admin, &form.group).await {
        Ok(_) => {
            state.tenant_wake.notify_one();
            Ok(Redirect::to(&format!("{PATH}?done=linked")).into_response())
        }
        Err(ServiceError::Validation(fields)) => {
            let errors = fields.into_iter().map(|f| f.message).collect();
            let refused = Refused {
                field: "group",
                typed: form.group,
                errors,
            };
            render(&state, &admin, None, None, refused).await
        }
        Err(ServiceError::InUse { message }) => {
            let refused = Refused {
                field: "group",
                typed: form.group,
                errors: vec![message],
            };
            render(&state, &admin, None, None, refused).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/microsoft-365/groups/{id}/unlink`.
pub async fn unlink(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    service::unlink_group(
        &state.store,
        &state.graph_unlinker(),
        admin.admin,
        TenantGroupId(id),
    )
    .await?;
    Ok(Redirect::to(&format!("{PATH}?done=unlinked")).into_response())
}

/// `POST /admin/microsoft-365/users`.
pub async fn link_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Form(form): Form<ChooseForm>,
) -> Result<Response, PageError> {
    let Some(source) = state.graph_source() else {
        return Err(not_configured());
    };
    let errors = match tenant_users::link_user(&state.store, &source, admin.admin, &form.user).await
    {
        Ok(_) => return Ok(Redirect::to(&format!("{PATH}?done=user-linked")).into_response()),
        Err(ServiceError::Validation(fields)) => fields.into_iter().map(|f| f.message).collect(),
        Err(ServiceError::InUse { message }) => vec![message],
        Err(e) => return Err(e.into()),
    };
    let refused = Refused {
        field: "user",
        typed: form.user,
        errors,
    };
    render(&state, &admin, None, None, refused).await
}

/// `POST /admin/microsoft-365/users/{id}/unlink`.
pub async fn unlink_user(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    tenant_users::unlink_user(
        &state.store,
        &state.graph_unlinker(),
        admin.admin,
        TenantUserId(id),
    )
    .await?;
    Ok(Redirect::to(&format!("{PATH}?done=user-unlinked")).into_response())
}

fn not_configured() -> PageError {
    PageError::Service(ServiceError::InUse {
        message: "Microsoft 365 is not configured on this server".into(),
    })
}
