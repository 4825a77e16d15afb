//! A list's webhooks page (owner): its endpoints with their deliveries by state, adding one
//! (URL, events, a secret typed or generated), removing one behind a confirmation, and each
//! endpoint's delivery log.
//!
//! A generated secret is shown in the answer to the add form itself, not after a redirect (a
//! redirect would carry it in a URL, into the browser's history); that answer is `no-store`.
//! Everything goes through `service::webhooks`, so the page refuses what the API refuses.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;

use super::render::{PageError, Visitor, html};
use crate::domain::{WebhookEvent, WebhookId};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::webhooks::{self as service, NewEndpoint};
use crate::service::{self as services, ServiceError};
use crate::store::ListId;

/// One endpoint row.
pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    pub events: String,
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    /// The navigation's current page: none of its links.
    current: &'static str,
    csrf: String,
    list_id: i64,
    list_name: String,
    endpoints: Vec<EndpointRow>,
    notice: String,
    /// A secret mailsig generated for the endpoint just added, shown this once.
    secret: String,
    /// A refused add form: the URL typed, and the reasons.
    typed_url: String,
    errors: Vec<String>,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

/// One line of the delivery log.
pub struct AttemptRow {
    pub delivery: i64,
    pub event: &'static str,
    pub contact: i64,
    pub at: String,
    pub http: String,
    pub outcome: &'static str,
    pub state: String,
}

#[derive(Template)]
#[template(path = "webhook_log.html")]
struct LogPage {
    /// The navigation's current page: none of its links.
    current: &'static str,
    csrf: String,
    list_id: i64,
    list_name: String,
    url: String,
    lines: Vec<AttemptRow>,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    suggestion_created: Option<String>,
    #[serde(default)]
    suggestion_accepted: Option<String>,
    #[serde(default)]
    contact_changed: Option<String>,
}

/// `GET /lists/{id}/webhooks`.
pub async fn page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let notice = match query.done.as_deref() {
        Some("removed") => "Removed the endpoint, its queued deliveries and its log.".to_owned(),
        _ => String::new(),
    };
    render(
        &state,
        &visitor,
        ListId(id),
        Rendered {
            notice,
            ..Rendered::default()
        },
    )
    .await
}

#[derive(Default)]
struct Rendered {
    notice: String,
    secret: String,
    typed_url: String,
    errors: Vec<String>,
}

async fn render(
    state: &AppState,
    visitor: &Visitor,
    list: ListId,
    r: Rendered,
) -> Result<Response, PageError> {
    let found = services::lists::get_list(&state.store, visitor.actor, list).await?;
    let endpoints = service::list(&state.store, visitor.actor, list).await?;
    let endpoints = endpoints
        .into_iter()
        .map(|e| {
            let counts = e.deliveries.unwrap_or_default();
            EndpointRow {
                id: e.id.0,
                url: e.url,
                events: e
                    .events
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                pending: counts.pending,
                delivered: counts.delivered,
                failed: counts.failed,
            }
        })
        .collect();
    let refused = !r.errors.is_empty();
    let shows_secret = !r.secret.is_empty();
    let mut response = html(&WebhooksPage {
        current: "",
        org_admin: visitor.org_admin,
        csrf: visitor.csrf.clone(),
        list_id: found.id.0,
        list_name: found.name,
        endpoints,
        notice: r.notice,
        secret: r.secret,
        typed_url: r.typed_url,
        errors: r.errors,
    })?;
    if shows_secret {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if refused {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `POST /lists/{id}/webhooks`.
pub async fn add(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let mut events = Vec::new();
    for (ticked, event) in [
        (&form.suggestion_created, WebhookEvent::SuggestionCreated),
        (&form.suggestion_accepted, WebhookEvent::SuggestionAccepted),
        (&form.contact_changed, WebhookEvent::ContactChanged),
    ] {
        if ticked.is_some() {
            events.push(event.as_str().to_owned());
        }
    }
    let secret = (!form.secret.trim().is_empty()).then(|| SecretString::from(form.secret.clone()));
    let added = service::add(
        &state.store,
        &state.vault,
        &state.webhooks,
        visitor.actor,
        ListId(id),
        NewEndpoint {
            url: Some(form.url.clone()),
            secret,
            events: Some(events),
        },
    )
    .await;
    match added {
        Ok(added) => {
            let secret = added
                .secret
                .as_ref()
                .map(|s| s.expose().to_owned())
                .unwrap_or_default();
            let notice = if secret.is_empty() {
                format!(
                    "Added {}. It is signed with the secret you typed.",
                    added.endpoint.url
                )
            } else {
                format!("Added {}.", added.endpoint.url)
            };
            render(
                &state,
                &visitor,
                ListId(id),
                Rendered {
                    notice,
                    secret,
                    ..Rendered::default()
                },
            )
            .await
        }
        Err(ServiceError::Validation(fields)) => {
            let errors = fields
                .into_iter()
                .map(|f| format!("{}: {}", label(&f.field), f.message))
                .collect();
            render(
                &state,
                &visitor,
                ListId(id),
                Rendered {
                    typed_url: form.url,
                    errors,
                    ..Rendered::default()
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn label(field: &str) -> &str {
    match field {
        "url" => "URL",
        "secret" => "Secret",
        "events" => "Events",
        other => other,
    }
}

/// `POST /lists/{id}/webhooks/{hook}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path((id, hook)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::remove(&state.store, visitor.actor, ListId(id), WebhookId(hook)).await?;
    Ok(Redirect::to(&format!("/lists/{id}/webhooks?done=removed")).into_response())
}

/// `GET /lists/{id}/webhooks/{hook}`: the delivery log.
pub async fn log(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path((id, hook)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = services::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    let endpoint = service::list(&state.store, visitor.actor, list.id)
        .await?
        .into_iter()
        .find(|e| e.id == WebhookId(hook))
        .ok_or(ServiceError::NotFound { what: "webhook" })?;
    let lines = service::log(&state.store, visitor.actor, list.id, endpoint.id).await?;
    html(&LogPage {
        current: "",
        org_admin: visitor.org_admin,
        csrf: visitor.csrf,
        list_id: list.id.0,
        list_name: list.name,
        url: endpoint.url,
        lines: lines
            .into_iter()
            .map(|a| AttemptRow {
                delivery: a.delivery_id.0,
                event: a.event.as_str(),
                contact: a.suggestion_id.0,
                at: utc(a.at),
                http: a
                    .http_status
                    .map_or_else(|| "–".to_owned(), |s| s.to_string()),
                outcome: a.outcome.as_str(),
                state: a.delivery_status,
            })
            .collect(),
    })
}

/// Epoch ms as `2026-12-07 06:40 UTC`.
pub(super) fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}
