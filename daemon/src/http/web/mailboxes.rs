//! Linking a mailbox (the IMAP form, the Microsoft 365 button), and a mailbox's own page: its
//! status, the list its suggestions go to, its excluded domains, unlinking.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::{PageError, Visitor, html, when};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::{self, ServiceError};
use crate::sources::imap::Security;
use crate::store::{ListId, MailboxId};

/// A list the visitor may send suggestions to (owner or editor).
pub struct ListChoice {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

/// The IMAP form's values, kept when the form comes back with errors (never the password).
#[derive(Default)]
pub struct LinkValues {
    pub address: String,
    pub host: String,
    pub port: String,
    pub security: String,
    pub username: String,
    pub folders: String,
    pub exclusions: String,
}

#[derive(Template)]
#[template(path = "link_mailbox.html")]
struct LinkPage {
    csrf: String,
    lists: Vec<ListChoice>,
    values: LinkValues,
    /// Field name → message, shown beside the field.
    errors: BTreeMap<String, String>,
    /// A message for the whole form (the server refused the login, …).
    failure: Option<String>,
}

impl LinkPage {
    fn error(&self, field: &str) -> String {
        self.errors.get(field).cloned().unwrap_or_default()
    }
}

async fn editable_lists(
    state: &AppState,
    visitor: &Visitor,
    selected: Option<i64>,
) -> Result<Vec<ListChoice>, PageError> {
    let lists = service::lists::my_lists(&state.store, visitor.actor).await?;
    Ok(lists
        .into_iter()
        .filter(|l| l.role.can_edit())
        .map(|l| ListChoice {
            id: l.id.0,
            selected: Some(l.id.0) == selected,
            name: l.name,
        })
        .collect())
}

pub async fn link_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let lists = editable_lists(&state, &visitor, None).await?;
    let values = LinkValues {
        port: Security::ImplicitTls.default_port().to_string(),
        security: Security::ImplicitTls.form_name().to_owned(),
        folders: "INBOX".to_owned(),
        ..LinkValues::default()
    };
    html(&LinkPage {
        csrf: visitor.csrf,
        lists,
        values,
        errors: BTreeMap::new(),
        failure: None,
    })
}

#[derive(Deserialize, Default)]
pub struct LinkForm {
    #[serde(default)]
    list: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    folders: String,
    #[serde(default)]
    exclusions: String,
}

impl Drop for LinkForm {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// Splits a textarea or comma list into trimmed, non-empty lines.
fn items(text: &str) -> Vec<String> {
    text.split([',', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn link_imap(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = form.list.trim().parse::<i64>().ok();
    let request = service::mailboxes::LinkImap {
        list,
        host: Some(form.host.trim().to_owned()),
        port: form
            .port
            .trim()
            .parse::<i64>()
            .ok()
            .or(if form.port.trim().is_empty() {
                None
            } else {
                Some(-1)
            }),
        security: Some(form.security.trim().to_owned()).filter(|s| !s.is_empty()),
        username: Some(form.username.trim().to_owned()),
        address: Some(form.address.trim().to_owned()).filter(|a| !a.is_empty()),
        password: Some(SecretString::from(form.password.clone())),
        folders: items(&form.folders),
        excluded_domains: items(&form.exclusions),
        ..service::mailboxes::LinkImap::default()
    };
    match service::mailboxes::link_imap(
        &state.store,
        &state.vault,
        &state.imap,
        visitor.actor,
        request,
    )
    .await
    {
        Ok(mailbox) => Ok(Redirect::to(&format!("/mailboxes/{}", mailbox.id.0)).into_response()),
        Err(e @ (ServiceError::Validation(_) | ServiceError::LinkFailed { .. })) => {
            let (errors, failure) = match e {
                ServiceError::Validation(fields) => {
                    let summary = fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    (
                        fields.into_iter().map(|f| (f.field, f.message)).collect(),
                        Some(format!("Please check the marked fields ({summary}).")),
                    )
                }
                ServiceError::LinkFailed {
                    reason,
                    tls_untrusted,
                    ..
                } => (
                    BTreeMap::new(),
                    Some(crate::service::error::link_failure_text(
                        &reason,
                        tls_untrusted,
                    )),
                ),
                _ => (BTreeMap::new(), None),
            };
            let page = LinkPage {
                csrf: visitor.csrf.clone(),
                lists: editable_lists(&state, &visitor, list).await?,
                values: LinkValues {
                    address: form.address.clone(),
                    host: form.host.clone(),
                    port: form.port.clone(),
                    security: form.security.clone(),
                    username: form.username.clone(),
                    folders: form.folders.clone(),
                    exclusions: form.exclusions.clone(),
                },
                errors,
                failure,
            };
            let body = page
                .render()
                .map_err(|e| PageError::Internal(format!("render: {e}")))?;
            Ok((StatusCode::BAD_REQUEST, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "microsoft_unavailable.html")]
struct MicrosoftUnavailable {
    csrf: String,
}

/// The Microsoft 365 settings, present as a request extension when `[graph]` is configured and
/// its source started (the supervisor adds it); the "Connect Microsoft 365" button needs them.
#[derive(Clone)]
pub struct MicrosoftLinking(pub crate::sources::graph::GraphConfig);

#[derive(Deserialize)]
pub struct MicrosoftForm {
    #[serde(default)]
    list: String,
}

/// The "Connect Microsoft 365" button: sends the browser to Microsoft's consent page (the
/// daemon's OAuth callback completes the link), or says plainly that Microsoft 365 is not
/// configured when `[graph]` is absent.
pub async fn connect_microsoft(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    linking: Option<axum::Extension<MicrosoftLinking>>,
    Form(form): Form<MicrosoftForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let Some(axum::Extension(MicrosoftLinking(config))) = linking else {
        let page = MicrosoftUnavailable { csrf: visitor.csrf };
        let body = page
            .render()
            .map_err(|e| PageError::Internal(format!("render: {e}")))?;
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response());
    };
    let Ok(list) = form.list.trim().parse::<i64>() else {
        return Err(
            ServiceError::field("list", service::FieldCode::Choice, "choose a list").into(),
        );
    };
    let url = service::mailboxes::start_microsoft_link(
        &state.store,
        &state.vault,
        Some(&config),
        visitor.actor,
        ListId(list),
        crate::sources::graph::LinkOrigin::Web,
    )
    .await?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Template)]
#[template(path = "mailbox.html")]
struct MailboxPage {
    csrf: String,
    id: i64,
    address: String,
    kind: &'static str,
    status: &'static str,
    reason: String,
    needs_attention: bool,
    /// "since <time> (<fixed reason>)" while the source keeps failing to connect, else empty.
    reconnecting: String,
    settings: Vec<(String, String)>,
    lists: Vec<ListChoice>,
    exclusions: String,
    counters: Vec<(String, i64)>,
    skipped: Vec<(String, i64)>,
    last_activity: String,
}

pub async fn settings_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let mailbox =
        service::mailboxes::get_mailbox(&state.store, visitor.actor, MailboxId(id)).await?;
    let status = service::mailboxes::status(&state.store, visitor.actor, MailboxId(id)).await?;
    let settings = match &mailbox.settings {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    html(&MailboxPage {
        lists: editable_lists(&state, &visitor, Some(mailbox.list.0)).await?,
        csrf: visitor.csrf,
        id,
        address: mailbox.address,
        kind: mailbox.kind.as_str(),
        status: mailbox.status.as_str(),
        reason: mailbox.status_reason.unwrap_or_default(),
        needs_attention: mailbox.needs_attention,
        reconnecting: match (mailbox.reconnecting_since, mailbox.reconnecting_reason) {
            (Some(since), reason) => {
                format!("since {} ({})", when(since), reason.unwrap_or_default())
            }
            (None, _) => String::new(),
        },
        settings,
        exclusions: mailbox.excluded_domains.join("\n"),
        counters: status.counters.into_iter().collect(),
        skipped: status.skipped.into_iter().collect(),
        last_activity: status
            .last_activity
            .map_or_else(|| "never".to_owned(), when),
    })
}

#[derive(Deserialize)]
pub struct ListForm {
    #[serde(default)]
    list: String,
}

pub async fn set_list(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<ListForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let Ok(list) = form.list.trim().parse::<i64>() else {
        return Err(
            ServiceError::field("list", service::FieldCode::Choice, "choose a list").into(),
        );
    };
    service::mailboxes::set_list(&state.store, visitor.actor, MailboxId(id), ListId(list)).await?;
    Ok(Redirect::to(&format!("/mailboxes/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct ExclusionsForm {
    #[serde(default)]
    exclusions: String,
}

pub async fn set_exclusions(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<ExclusionsForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::mailboxes::set_exclusions(
        &state.store,
        visitor.actor,
        MailboxId(id),
        &items(&form.exclusions),
    )
    .await?;
    Ok(Redirect::to(&format!("/mailboxes/{id}")).into_response())
}

pub async fn unlink(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::mailboxes::unlink(
        &state.store,
        &state.graph_unlinker(),
        visitor.actor,
        MailboxId(id),
    )
    .await?;
    Ok(Redirect::to("/dashboard").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(reconnecting: &str) -> MailboxPage {
        MailboxPage {
            csrf: "c".into(),
            id: 7,
            address: "ann@example.com".into(),
            kind: "imap",
            status: "ok",
            reason: String::new(),
            needs_attention: false,
            reconnecting: reconnecting.into(),
            settings: vec![],
            lists: vec![],
            exclusions: String::new(),
            counters: vec![],
            skipped: vec![],
            last_activity: "never".into(),
        }
    }

    #[test]
    fn the_page_says_reconnecting_since_when_and_why_only_while_it_is_so()
    -> Result<(), askama::Error> {
        let shown = page("since 2026-12-07 00:20 (IMAP server unreachable)").render()?;
        assert!(
            shown.contains("reconnecting since 2026-12-07 00:20 (IMAP server unreachable)"),
            "{shown}"
        );
        let healthy = page("").render()?;
        assert!(!healthy.contains("reconnecting"), "{healthy}");
        Ok(())
    }
}
