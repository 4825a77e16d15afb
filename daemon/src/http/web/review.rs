//! Reviewing suggestions: the list of a contact list's suggestions with filters and paging,
//! accept and dismiss, and the merge view (per field: take the new value, keep the old one,
//! or type one). Viewers see the suggestions without any button that would change them; the
//! service refuses such changes anyway.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{PageError, Visitor, html, when};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::suggestions::{Choice, FieldChoice, MERGE_FIELDS};
use crate::service::{self, ServiceError};
use crate::store::{ListId, SuggestionId};

/// One extracted value with its confidence as a percentage ("97%"; empty without a value): how
/// often a value found the way this one was is right, so a reviewer knows which to check.
pub struct FieldCell {
    pub value: String,
    pub confidence: String,
}

impl FieldCell {
    fn of(value: &str, confidence: f32) -> FieldCell {
        FieldCell {
            value: value.to_owned(),
            confidence: percent(f64::from(confidence)),
        }
    }

    fn scalar(field: &Option<crate::store::StoredField>) -> FieldCell {
        field.as_ref().map_or(
            FieldCell {
                value: String::new(),
                confidence: String::new(),
            },
            |f| FieldCell::of(&f.value, f.confidence),
        )
    }
}

fn percent(confidence: f64) -> String {
    format!("{:.0}%", confidence.clamp(0.0, 1.0) * 100.0)
}

/// One suggestion row of the review table (display text only).
pub struct SuggestionRow {
    pub id: i64,
    pub sender: String,
    /// No authenticated message backs it.
    pub unverified: bool,
    pub name: FieldCell,
    pub title: FieldCell,
    pub company: FieldCell,
    pub phones: Vec<FieldCell>,
    pub status: &'static str,
    /// How sure the engine is that the contact is the sender's.
    pub confidence: String,
    pub updated: String,
}

/// The auto-accept section of the page (display text only).
pub struct AutoSection {
    pub mode: &'static str,
    pub threshold: String,
    /// "2.1%", or `None` while no recent suggestion reaches the threshold.
    pub expected_error: Option<String>,
    pub passing: u64,
    pub authenticated: u64,
    pub accepted: u64,
    /// (sender, name, least sure field) of what the dry run would have accepted.
    pub would_accept: Vec<(String, String, String)>,
    pub modes: Vec<(&'static str, bool)>,
}

impl AutoSection {
    fn of(report: &crate::store::AutoAcceptReport) -> AutoSection {
        use crate::store::AutoAcceptMode;
        AutoSection {
            mode: report.mode.as_str(),
            threshold: format!("{:.2}", report.threshold),
            expected_error: report
                .expected_error_rate
                .map(|r| format!("{:.1}%", r.clamp(0.0, 1.0) * 100.0)),
            passing: report.passing,
            authenticated: report.authenticated,
            accepted: report.accepted,
            would_accept: report
                .would_accept
                .iter()
                .map(|w| {
                    (
                        w.sender_email.clone(),
                        w.name.clone().unwrap_or_default(),
                        percent(w.lowest_confidence),
                    )
                })
                .collect(),
            modes: [
                AutoAcceptMode::Off,
                AutoAcceptMode::DryRun,
                AutoAcceptMode::On,
            ]
            .into_iter()
            .map(|m| (m.as_str(), m == report.mode))
            .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    auto: AutoSection,
    csrf: String,
    list_id: i64,
    list_name: String,
    role: &'static str,
    can_edit: bool,
    status: String,
    /// The status filter's options and whether each is the chosen one.
    statuses: Vec<(&'static str, bool)>,
    q: String,
    rows: Vec<SuggestionRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

pub async fn review_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<ReviewQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = service::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    // "new" by default; "all" shows every status.
    let status = query.status.clone().unwrap_or_else(|| "new".to_owned());
    let filter = service::suggestions::Query {
        status: Some(status.clone()).filter(|s| s != "all" && !s.is_empty()),
        q: query.q.clone().filter(|q| !q.trim().is_empty()),
        cursor: query.cursor.clone().filter(|c| !c.is_empty()),
        ..service::suggestions::Query::default()
    };
    let page = service::suggestions::list(&state.store, visitor.actor, list.id, &filter).await?;
    let auto = service::auto_accept::report(&state.store, visitor.actor, list.id).await?;
    let rows = page
        .items
        .iter()
        .map(|s| SuggestionRow {
            id: s.id.0,
            sender: s.sender_email.clone(),
            unverified: s.unverified_sender,
            name: FieldCell::scalar(&s.fields.name),
            title: FieldCell::scalar(&s.fields.title),
            company: FieldCell::scalar(&s.fields.company),
            phones: s
                .fields
                .phones
                .iter()
                .map(|p| FieldCell::of(&p.e164, p.confidence))
                .collect(),
            status: s.status.as_str(),
            confidence: percent(s.confidence),
            updated: when(s.updated_at),
        })
        .collect();
    html(&ReviewPage {
        auto: AutoSection::of(&auto),
        csrf: visitor.csrf,
        list_id: list.id.0,
        list_name: list.name,
        role: list.role.as_str(),
        can_edit: list.role.can_edit(),
        statuses: ["new", "accepted", "merged", "dismissed", "all"]
            .into_iter()
            .map(|s| (s, s == status))
            .collect(),
        status,
        q: query.q.unwrap_or_default(),
        rows,
        next_cursor: page.next_cursor,
    })
}

/// Where to go after an action: back to the review page of the suggestion's list.
async fn back_to_list(
    state: &AppState,
    visitor: &Visitor,
    id: SuggestionId,
) -> Result<Response, PageError> {
    let suggestion = service::suggestions::get(&state.store, visitor.actor, id).await?;
    Ok(Redirect::to(&format!("/lists/{}/review", suggestion.list.0)).into_response())
}

pub async fn accept(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let accepted =
        service::suggestions::accept(&state.store, visitor.actor, SuggestionId(id)).await?;
    Ok(Redirect::to(&format!("/lists/{}/review", accepted.list.0)).into_response())
}

pub async fn dismiss(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let dismissed =
        service::suggestions::dismiss(&state.store, visitor.actor, SuggestionId(id)).await?;
    Ok(Redirect::to(&format!("/lists/{}/review", dismissed.list.0)).into_response())
}

/// The review page's auto-accept form (the list's owner): mode and threshold.
pub async fn set_auto_accept(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let get = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim());
    let mode = get("mode")
        .and_then(|m| m.parse::<crate::store::AutoAcceptMode>().ok())
        .ok_or_else(|| {
            ServiceError::field(
                "mode",
                service::FieldCode::Choice,
                "choose off, dry_run or on",
            )
        })?;
    let threshold = match get("threshold").filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<f64>().map_err(|_| {
            ServiceError::field(
                "threshold",
                service::FieldCode::Number,
                "a number from 0.5 to 1",
            )
        })?),
    };
    service::auto_accept::set(&state.store, visitor.actor, ListId(id), mode, threshold).await?;
    Ok(Redirect::to(&format!("/lists/{id}/review")).into_response())
}

/// Accepts a change suggestion of an accepted contact (the merge view's form).
pub async fn accept_change(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let change = service::changes::decide(&state.store, visitor.actor, id, true).await?;
    Ok(Redirect::to(&format!("/suggestions/{}/merge", change.suggestion.0)).into_response())
}

/// Dismisses a change suggestion (the contact keeps its values).
pub async fn dismiss_change(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let change = service::changes::decide(&state.store, visitor.actor, id, false).await?;
    Ok(Redirect::to(&format!("/suggestions/{}/merge", change.suggestion.0)).into_response())
}

/// One proposed change of an accepted contact, as the merge view lists it.
pub struct ChangeRow {
    pub id: i64,
    /// "title: Sales Director → VP Sales; phones: …"
    pub diff: String,
    /// "authenticated (dmarc)".
    pub sender_auth: String,
    pub at: String,
}

/// One field of the merge view.
pub struct MergeField {
    pub field: &'static str,
    pub label: &'static str,
    /// The suggestion's current (newest extracted) value.
    pub new_value: String,
    /// The value before the latest change, when the history has one.
    pub old_value: Option<String>,
}

#[derive(Template)]
#[template(path = "merge.html")]
struct MergePage {
    csrf: String,
    id: i64,
    list_id: i64,
    sender: String,
    unverified: bool,
    status: &'static str,
    can_edit: bool,
    fields: Vec<MergeField>,
    changes: Vec<ChangeRow>,
    emails: String,
    phones: String,
    websites: String,
}

fn label(field: &str) -> &'static str {
    match field {
        "name" => "Name",
        "title" => "Job title",
        "company" => "Company",
        "address" => "Address",
        _ => "Field",
    }
}

pub async fn merge_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let suggestion =
        service::suggestions::get(&state.store, visitor.actor, SuggestionId(id)).await?;
    let history =
        service::suggestions::history(&state.store, visitor.actor, SuggestionId(id)).await?;
    let list = service::lists::get_list(&state.store, visitor.actor, suggestion.list).await?;
    let changes = service::changes::open_for(&state.store, visitor.actor, SuggestionId(id))
        .await?
        .into_iter()
        .map(|c| ChangeRow {
            id: c.id,
            diff: c
                .diff
                .iter()
                .map(|d| {
                    format!(
                        "{}: {} \u{2192} {}",
                        d.field,
                        d.old.as_deref().unwrap_or("(none)"),
                        d.new.as_deref().unwrap_or("(none)")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            sender_auth: c.sender_auth.to_string(),
            at: when(c.created_at),
        })
        .collect();
    let fields = MERGE_FIELDS
        .iter()
        .map(|&field| MergeField {
            field,
            label: label(field),
            new_value: suggestion.fields.display(field).unwrap_or_default(),
            old_value: history
                .iter()
                .rev()
                .find(|h| h.field == field)
                .map(|h| h.old_value.clone().unwrap_or_default()),
        })
        .collect();
    let join = |values: Vec<&str>| values.join(", ");
    html(&MergePage {
        csrf: visitor.csrf,
        id,
        list_id: suggestion.list.0,
        sender: suggestion.sender_email.clone(),
        unverified: suggestion.unverified_sender,
        status: suggestion.status.as_str(),
        can_edit: list.role.can_edit(),
        fields,
        changes,
        emails: join(
            suggestion
                .fields
                .emails
                .iter()
                .map(|f| f.value.as_str())
                .collect(),
        ),
        phones: join(
            suggestion
                .fields
                .phones
                .iter()
                .map(|p| p.e164.as_str())
                .collect(),
        ),
        websites: join(
            suggestion
                .fields
                .websites
                .iter()
                .map(|f| f.value.as_str())
                .collect(),
        ),
    })
}

/// The merge form: `choice_<field>` is `take_new`, `keep_old` or `typed`; `value_<field>` is
/// the typed text.
pub async fn merge(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let get = |key: String| form.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let mut choices = Vec::new();
    for field in MERGE_FIELDS {
        let choice = match get(format!("choice_{field}")).as_deref() {
            None | Some("") => continue,
            Some("take_new") => Choice::TakeNew,
            Some("keep_old") => Choice::KeepOld,
            Some("typed") => Choice::Typed {
                value: get(format!("value_{field}")).unwrap_or_default(),
            },
            Some(_) => {
                return Err(ServiceError::field(
                    &format!("choice_{field}"),
                    service::FieldCode::Choice,
                    "must be take_new, keep_old or typed",
                )
                .into());
            }
        };
        choices.push(FieldChoice {
            field: field.to_owned(),
            choice,
        });
    }
    service::suggestions::merge(&state.store, visitor.actor, SuggestionId(id), &choices).await?;
    back_to_list(&state, &visitor, SuggestionId(id)).await
}
