//! `/admin/audit`: the audit log with its filters (actor, action, object, time range) as a form
//! that is a plain GET (the filters are in the address, so a filtered view can be bookmarked
//! and the export link carries the same filters), newest first, fifty entries a page with a link
//! to the older ones; `/admin/audit/export.csv` downloads every entry the filters select.
//! Reading and the export are `service::org::audit`'s; the export is audited.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AdminNav;
use crate::domain::{AuditAction, AuditObject};
use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::http::web::render::{Moment, PageError, html};
use crate::service::ServiceError;
use crate::service::org::audit::{self, AuditQuery};

/// Where the section lives.
pub const PATH: &str = "/admin/audit";

struct Row {
    id: i64,
    at: Moment,
    actor: String,
    action: &'static str,
    object: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: AdminNav,
    entries: Vec<Row>,
    /// The filters as typed, shown again in the form.
    actor: String,
    action: String,
    object: String,
    object_id: String,
    from: String,
    to: String,
    actions: Vec<&'static str>,
    objects: Vec<&'static str>,
    errors: Vec<String>,
    /// The query of the export link and of the next page (filters only), URL-encoded.
    filters: String,
    older: Option<i64>,
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// The filters (not the page) as a query string.
fn filters_query(query: &AuditQuery) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("actor", &query.actor),
        ("action", &query.action),
        ("object", &query.object),
        ("object_id", &query.object_id),
        ("from", &query.from),
        ("to", &query.to),
    ] {
        if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            out.append_pair(name, value);
        }
    }
    out.finish()
}

/// `GET /admin/audit`.
pub async fn page(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let (entries, older, errors) = match audit::page(&state.store, admin.admin, &query).await {
        Ok(page) => (page.entries, page.next_before, Vec::new()),
        Err(ServiceError::Validation(fields)) => (
            Vec::new(),
            None,
            fields
                .into_iter()
                .map(|f| format!("{}: {}", label(&f.field), f.message))
                .collect(),
        ),
        Err(e) => return Err(e.into()),
    };
    let refused = !errors.is_empty();
    let mut response = html(&AuditPage {
        nav: AdminNav::new(&admin, "audit")?,
        entries: entries
            .into_iter()
            .map(|e| Row {
                id: e.id,
                at: Moment::exact(e.at),
                actor: match (e.actor, e.actor_email) {
                    (None, _) => "the operator or the daemon".to_owned(),
                    (Some(_), Some(email)) => email,
                    (Some(id), None) => format!("deleted user {}", id.0),
                },
                action: e.action,
                object: match e.object_id {
                    Some(id) => format!("{} {id}", e.object_kind),
                    None => e.object_kind.to_owned(),
                },
                detail: e.detail.unwrap_or_default(),
            })
            .collect(),
        actor: text(&query.actor),
        action: text(&query.action),
        object: text(&query.object),
        object_id: text(&query.object_id),
        from: text(&query.from),
        to: text(&query.to),
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        objects: AuditObject::ALL.iter().map(|o| o.as_str()).collect(),
        errors,
        filters: filters_query(&query),
        older,
    })?;
    if refused {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

fn label(field: &str) -> &str {
    match field {
        "actor" => "Who",
        "action" => "Action",
        "object" => "Object",
        "object_id" => "Object id",
        "from" => "From",
        "to" => "To",
        other => other,
    }
}

/// `GET /admin/audit/export.csv`: every entry the filters select.
pub async fn export(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let csv = audit::export_csv(&state.store, admin.admin, &query).await?;
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
        csv,
    )
        .into_response())
}
