//! `/admin/notifications`: the notifications that failed for good (digests, notices), with the
//! recipient, the attempts and the reason; the admin queues one again (after the mail server
//! was fixed) or drops it. Both are `service::org::outbox`'s work, audited with the admin as the
//! actor. The message itself is never shown (the page has only what the outbox row holds besides
//! its payload).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AdminNav;
use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::http::web::render::{Moment, PageError, html};
use crate::service::org::outbox;
use crate::store::OutboxId;

/// Where the section lives.
pub const PATH: &str = "/admin/notifications";

struct Row {
    id: i64,
    kind: &'static str,
    recipient: String,
    attempts: i64,
    reason: String,
    failed_at: Moment,
}

#[derive(Template)]
#[template(path = "admin/notifications.html")]
struct NotificationsPage {
    nav: AdminNav,
    notice: Option<&'static str>,
    failed: Vec<Row>,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
}

/// What a kind of notification is, in words.
fn kind_words(kind: &str) -> &'static str {
    match kind {
        "suggestion_digest" => "digest of new suggestions",
        "mailbox_attention" => "a mailbox needs attention",
        "account_invitation" => "an invitation to an account",
        _ => "other notice",
    }
}

/// `GET /admin/notifications`.
pub async fn page(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let notice = match query.done.as_deref() {
        Some("retried") => Some("Queued again. The notifier sends it with its next round."),
        Some("dropped") => Some("Dropped. It will not be sent."),
        _ => None,
    };
    let failed = outbox::failed(&state.store, admin.admin, outbox::MAX_LISTED)
        .await?
        .into_iter()
        .map(|f| Row {
            id: f.id.0,
            kind: kind_words(&f.kind),
            recipient: f
                .recipient_email
                .unwrap_or_else(|| format!("deleted user {}", f.recipient.0)),
            attempts: f.attempts,
            reason: f.reason.unwrap_or_default(),
            failed_at: Moment::exact(f.failed_at),
        })
        .collect();
    html(&NotificationsPage {
        nav: AdminNav::new(&admin, "notifications")?,
        notice,
        failed,
    })
}

/// `POST /admin/notifications/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    outbox::retry(&state.store, admin.admin, OutboxId(id)).await?;
    Ok(Redirect::to(&format!("{PATH}?done=retried")).into_response())
}

/// `POST /admin/notifications/{id}/drop`.
pub async fn discard(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    outbox::discard(&state.store, admin.admin, OutboxId(id)).await?;
    Ok(Redirect::to(&format!("{PATH}?done=dropped")).into_response())
}
