//! The review page: a contact list's suggestions as one card each (every extracted field with
//! its confidence), counts per status, search and paging, accept and dismiss one or many, and
//! after every action a confirmation with Undo on the same filtered page.
//!
//! Why the filters travel with every form: an action is a POST followed by a redirect, and the
//! reviewer must land where they were (same status, search and page), so each form carries the
//! view it was posted from (`back_*` fields) and the redirect puts it back into the query. The
//! confirmation is built from the redirect's query (`done`, `undo=<id>:<previous status>`), so
//! no server-side flash state is kept. A merge changed values, which a status cannot restore:
//! its Undo names the entry the store kept of the values before (`merge_undo=<id>:<entry>`,
//! `store::merge_undo`), never the values themselves. Viewers see the cards without any control that would
//! change them; the service refuses such changes anyway.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::render::{Moment, PageError, Visitor, html};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::{self, ServiceError};
use crate::store::{ListId, Suggestion, SuggestionId, SuggestionStatus};

/// The view a reviewer is on: status filter, search text and page cursor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReviewView {
    /// `new`, `accepted`, `merged`, `dismissed` or `all`.
    pub status: String,
    pub q: String,
    pub cursor: String,
}

impl ReviewView {
    /// Reads `status`, `q` and `cursor` (each with `prefix` before it) from form or query pairs.
    pub fn from_pairs(pairs: &[(String, String)], prefix: &str) -> ReviewView {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.strip_prefix(prefix) == Some(name))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let status = get("status");
        ReviewView {
            status: if status.is_empty() {
                "new".to_owned()
            } else {
                status
            },
            q: get("q"),
            cursor: get("cursor"),
        }
    }

    /// The view as a query string (without `?`), empty parts left out.
    pub fn query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("status", &self.status);
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if !self.cursor.is_empty() {
            query.append_pair("cursor", &self.cursor);
        }
        query.finish()
    }

    /// The review page of `list` in this view, with `extra` query pairs (the confirmation).
    pub fn url(&self, list: ListId, extra: &[(&str, String)]) -> String {
        let mut query = self.query();
        for (key, value) in extra {
            query.push('&');
            query.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(key, value)
                    .finish(),
            );
        }
        format!("/lists/{}/review?{query}", list.0)
    }
}

/// One value of a field, with its type (phones) and confidence ("97%").
pub struct FieldValue {
    pub text: String,
    /// "Work", "Mobile"… for phones; empty otherwise.
    pub kind: String,
    /// `tel:`/`mailto:`/`https:` link target, when the value is one.
    pub href: String,
    pub confidence: String,
    /// Below the level where a reviewer should look twice.
    pub low: bool,
}

/// One labelled field of a card (only fields with a value are shown).
pub struct FieldLine {
    /// CSS class, stable for tests and styles: `name`, `title`, `phones`…
    pub key: &'static str,
    pub label: &'static str,
    pub values: Vec<FieldValue>,
}

/// Below this a value is marked "check".
const LOW_CONFIDENCE: f64 = 0.7;

fn percent(confidence: f64) -> String {
    format!("{:.0}%", confidence.clamp(0.0, 1.0) * 100.0)
}

fn value(text: &str, kind: &str, href: String, confidence: f32) -> FieldValue {
    FieldValue {
        text: text.to_owned(),
        kind: kind.to_owned(),
        href,
        confidence: percent(f64::from(confidence)),
        low: f64::from(confidence) < LOW_CONFIDENCE,
    }
}

pub(super) fn phone_kind(kind: &str) -> &'static str {
    match kind {
        "work" => "Work",
        "mobile" => "Mobile",
        "fax" => "Fax",
        "direct" => "Direct",
        "main" => "Main",
        "home" => "Home",
        _ => "Phone",
    }
}

fn web_href(site: &str) -> String {
    if site.starts_with("https://") || site.starts_with("http://") {
        site.to_owned()
    } else {
        format!("https://{site}")
    }
}

/// A web address as people write it: without `https://`, `www.` or a trailing `/` (the link
/// keeps the full address).
fn short_url(site: &str) -> &str {
    let site = site
        .strip_prefix("https://")
        .or_else(|| site.strip_prefix("http://"))
        .unwrap_or(site);
    let site = site.strip_prefix("www.").unwrap_or(site);
    site.strip_suffix('/').unwrap_or(site)
}

/// Every field of a suggestion that has a value, in reading order.
pub fn field_lines(s: &Suggestion) -> Vec<FieldLine> {
    let f = &s.fields;
    let scalar = |key, label, field: &Option<crate::store::StoredField>| FieldLine {
        key,
        label,
        values: field
            .iter()
            .map(|v| value(&v.value, "", String::new(), v.confidence))
            .collect(),
    };
    let lines = vec![
        scalar("name", "Name", &f.name),
        scalar("title", "Job title", &f.title),
        scalar("company", "Company", &f.company),
        FieldLine {
            key: "phones",
            label: "Phones",
            values: f
                .phones
                .iter()
                .map(|p| {
                    value(
                        &p.e164,
                        phone_kind(&p.kind),
                        format!("tel:{}", p.e164),
                        p.confidence,
                    )
                })
                .collect(),
        },
        FieldLine {
            key: "emails",
            label: "E-mails",
            values: f
                .emails
                .iter()
                .map(|e| value(&e.value, "", format!("mailto:{}", e.value), e.confidence))
                .collect(),
        },
        FieldLine {
            key: "websites",
            label: "Websites",
            values: f
                .websites
                .iter()
                .map(|w| value(short_url(&w.value), "", web_href(&w.value), w.confidence))
                .collect(),
        },
        scalar("address", "Address", &f.address),
        FieldLine {
            key: "social",
            label: "Social profiles",
            values: f
                .social
                .iter()
                .map(|w| value(short_url(&w.value), "", web_href(&w.value), w.confidence))
                .collect(),
        },
    ];
    lines.into_iter().filter(|l| !l.values.is_empty()).collect()
}

/// The name a person knows the suggestion by: the extracted name, else the sender's address.
pub fn display_name(s: &Suggestion) -> String {
    s.fields
        .name
        .as_ref()
        .map(|n| n.value.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| s.sender_email.clone())
}

fn status_label(status: SuggestionStatus) -> &'static str {
    match status {
        SuggestionStatus::New => "New",
        SuggestionStatus::Accepted => "Accepted",
        SuggestionStatus::Merged => "Merged",
        SuggestionStatus::Dismissed => "Dismissed",
    }
}

/// One suggestion card.
pub struct Card {
    pub id: i64,
    /// Heading and accessible-name part ("Accept Rachel Kim").
    pub who: String,
    pub sender: String,
    /// No authenticated message backs it.
    pub unverified: bool,
    pub fields: Vec<FieldLine>,
    pub status: &'static str,
    pub status_key: &'static str,
    /// How sure the engine is that the contact is the sender's.
    pub confidence: String,
    pub updated: Moment,
    pub can_accept: bool,
    pub can_dismiss: bool,
    /// The duplicate check against the list's address book, when it has one.
    pub book: Option<super::book_light::BookLight>,
}

/// One status tab with its count.
pub struct StatusTab {
    pub key: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub current: bool,
    pub href: String,
}

/// What the page confirms after an action, with the Undo form's entries.
pub struct Notice {
    pub text: String,
    /// `<id>:<status>` pairs to post back to undo.
    pub undo: Vec<String>,
    /// After a merge: `<suggestion id>:<undo entry>` to post back to undo it.
    pub merge_undo: Option<String>,
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
    /// The list's owner: may erase a suggestion for good (behind a confirmation).
    can_erase: bool,
    view: ReviewView,
    show_status: bool,
    tabs: Vec<StatusTab>,
    /// The list has no suggestion at all (any status).
    list_empty: bool,
    /// Text for an empty result when the list has suggestions.
    empty_text: String,
    cards: Vec<Card>,
    notice: Option<Notice>,
    next_page: Option<String>,
    first_page: Option<String>,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

const STATUS_FILTERS: [&str; 5] = ["new", "accepted", "merged", "dismissed", "all"];

/// The most suggestions one bulk action or one undo changes (a page's worth).
const MAX_BATCH: usize = service::suggestions::MAX_PAGE as usize;

pub async fn review_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = service::lists::get_list(&state.store, visitor.actor, ListId(id)).await?;
    let mut view = ReviewView::from_pairs(&pairs, "");
    if !STATUS_FILTERS.contains(&view.status.as_str()) {
        view.status = "new".to_owned();
    }
    let filter = service::suggestions::Query {
        status: Some(view.status.clone()).filter(|s| s != "all"),
        q: Some(view.q.clone()).filter(|q| !q.is_empty()),
        cursor: Some(view.cursor.clone()).filter(|c| !c.is_empty()),
        ..service::suggestions::Query::default()
    };
    let page = service::suggestions::list(&state.store, visitor.actor, list.id, &filter).await?;
    let counts = service::suggestions::counts(&state.store, visitor.actor, list.id).await?;
    let auto = service::auto_accept::report(&state.store, visitor.actor, list.id).await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let can_edit = list.role.can_edit();
    let cards = page
        .items
        .iter()
        .map(|s| Card {
            id: s.id.0,
            who: display_name(s),
            sender: s.sender_email.clone(),
            unverified: s.unverified_sender,
            fields: field_lines(s),
            status: status_label(s.status),
            status_key: s.status.as_str(),
            confidence: percent(s.confidence),
            updated: Moment::ago(s.updated_at),
            can_accept: can_edit
                && matches!(
                    s.status,
                    SuggestionStatus::New | SuggestionStatus::Dismissed
                ),
            can_dismiss: can_edit && s.status != SuggestionStatus::Dismissed,
            book: s.book.as_ref().map(super::book_light::BookLight::of),
        })
        .collect();
    let tab = |key: &'static str, label: &'static str, count: i64| StatusTab {
        key,
        label,
        count,
        current: view.status == key,
        href: ReviewView {
            status: key.to_owned(),
            q: view.q.clone(),
            cursor: String::new(),
        }
        .url(list.id, &[]),
    };
    let mut tabs: Vec<StatusTab> = STATUS_FILTERS
        .iter()
        .filter_map(|&key| {
            let status = key.parse::<SuggestionStatus>().ok()?;
            let count = counts.iter().find(|(s, _)| *s == status).map(|(_, n)| *n);
            Some(tab(key, status_label(status), count.unwrap_or(0)))
        })
        .collect();
    tabs.push(tab("all", "All", total));
    let notice = notice(&state, &visitor, list.id, &pairs).await;
    let empty_text = match (view.q.is_empty(), view.status.as_str()) {
        (false, _) => format!("No suggestion matches “{}” here.", view.q),
        (true, "new") => {
            "Nothing waits for review: every suggestion has been accepted, merged or dismissed."
                .to_owned()
        }
        (true, "all") => "No suggestion.".to_owned(),
        (true, other) => format!("No {other} suggestion."),
    };
    html(&ReviewPage {
        auto: AutoSection::of(&auto),
        org_admin: visitor.org_admin,
        csrf: visitor.csrf,
        list_id: list.id.0,
        list_name: list.name,
        role: list.role.as_str(),
        can_edit,
        can_erase: list.role == crate::store::Role::Owner,
        show_status: view.status == "all",
        tabs,
        list_empty: total == 0,
        empty_text,
        cards,
        notice,
        next_page: page.next_cursor.map(|cursor| {
            ReviewView {
                cursor,
                ..view.clone()
            }
            .url(list.id, &[])
        }),
        first_page: (!view.cursor.is_empty()).then(|| {
            ReviewView {
                cursor: String::new(),
                ..view.clone()
            }
            .url(list.id, &[])
        }),
        view,
    })
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

/// The confirmation for `done=…` in the query: "Accepted Rachel Kim." with Undo entries.
async fn notice(
    state: &AppState,
    visitor: &Visitor,
    list: ListId,
    pairs: &[(String, String)],
) -> Option<Notice> {
    let done = pairs.iter().find(|(k, _)| k == "done").map(|(_, v)| v)?;
    let verb = match done.as_str() {
        "accepted" => "Accepted",
        "dismissed" => "Dismissed",
        "merged" => "Merged",
        "restored" => "Undone:",
        "erased" => "Erased",
        _ => return None,
    };
    let undo: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "undo")
        .filter(|(_, v)| parse_restore(v).is_some())
        .map(|(_, v)| v.clone())
        .take(MAX_BATCH)
        .collect();
    let count = pairs
        .iter()
        .find(|(k, _)| k == "n")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(undo.len());
    let one = pairs
        .iter()
        .find(|(k, _)| k == "one")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let named = match one {
        Some(id) => service::suggestions::get(&state.store, visitor.actor, SuggestionId(id))
            .await
            .ok()
            .filter(|s| s.list == list)
            .map(|s| display_name(&s)),
        None => None,
    };
    let what = match (named, count) {
        (Some(name), _) => name,
        (None, 1) => "1 suggestion".to_owned(),
        (None, n) => format!("{n} suggestions"),
    };
    let text = if done == "restored" {
        format!("{verb} {what} back to where {} were.", pronoun(count))
    } else if done == "erased" {
        format!("{verb} {what} for good.")
    } else {
        format!("{verb} {what}.")
    };
    let merge_undo = pairs
        .iter()
        .find(|(k, _)| k == "merge_undo")
        .filter(|_| done == "merged")
        .and_then(|(_, v)| parse_merge_undo(v))
        .map(|(id, undo)| format!("{}:{}", id.0, undo.0));
    Some(Notice {
        text,
        undo: if done == "restored" { vec![] } else { undo },
        merge_undo,
    })
}

fn pronoun(count: usize) -> &'static str {
    if count == 1 { "it" } else { "they" }
}

/// `<suggestion id>:<undo entry id>` of a merge's Undo.
fn parse_merge_undo(entry: &str) -> Option<(SuggestionId, crate::store::MergeUndoId)> {
    let (id, undo) = entry.split_once(':')?;
    let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    let undo = undo.parse::<i64>().ok().filter(|u| *u > 0)?;
    Some((SuggestionId(id), crate::store::MergeUndoId(undo)))
}

/// `<id>:<status>` of an Undo entry.
fn parse_restore(entry: &str) -> Option<(SuggestionId, SuggestionStatus)> {
    let (id, status) = entry.split_once(':')?;
    let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    let status = status.parse::<SuggestionStatus>().ok()?;
    (status != SuggestionStatus::Merged).then_some((SuggestionId(id), status))
}

/// What one accept or dismiss did, for the confirmation and its Undo.
struct Done {
    list: ListId,
    undo: Vec<String>,
    one: Option<i64>,
}

fn redirect_after(view: &ReviewView, done: &str, result: Done) -> Response {
    let mut extra = vec![("done", done.to_owned())];
    extra.push(("n", result.undo.len().max(1).to_string()));
    if let Some(id) = result.one {
        extra.push(("one", id.to_string()));
    }
    extra.extend(result.undo.into_iter().map(|u| ("undo", u)));
    Redirect::to(&view.url(result.list, &extra)).into_response()
}

async fn decide(
    state: &AppState,
    visitor: &Visitor,
    id: SuggestionId,
    accept: bool,
) -> Result<(ListId, String), PageError> {
    let before = service::suggestions::get(&state.store, visitor.actor, id).await?;
    let after = if accept {
        service::suggestions::accept(&state.store, &state.book_wake, visitor.actor, id).await?
    } else {
        service::suggestions::dismiss(&state.store, visitor.actor, id).await?
    };
    Ok((after.list, format!("{}:{}", id.0, before.status.as_str())))
}

async fn single(
    state: AppState,
    user: Option<CurrentUser>,
    id: i64,
    form: &[(String, String)],
    accept: bool,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let (list, undo) = decide(&state, &visitor, SuggestionId(id), accept).await?;
    let view = ReviewView::from_pairs(form, "back_");
    let done = if accept { "accepted" } else { "dismissed" };
    Ok(redirect_after(
        &view,
        done,
        Done {
            list,
            undo: vec![undo],
            one: Some(id),
        },
    ))
}

pub async fn accept(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    single(state, user, id, &form, true).await
}

pub async fn dismiss(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    single(state, user, id, &form, false).await
}

/// The ids ticked on the page (`pick`), at most a page's worth.
fn picked(form: &[(String, String)]) -> Result<Vec<SuggestionId>, PageError> {
    let ids: Vec<SuggestionId> = form
        .iter()
        .filter(|(k, _)| k == "pick")
        .filter_map(|(_, v)| v.parse::<i64>().ok())
        .map(SuggestionId)
        .collect();
    if ids.is_empty() {
        return Err(ServiceError::field(
            "pick",
            service::FieldCode::Required,
            "tick at least one suggestion first",
        )
        .into());
    }
    if ids.len() > MAX_BATCH {
        return Err(ServiceError::field(
            "pick",
            service::FieldCode::Number,
            format!("at most {MAX_BATCH} suggestions at once"),
        )
        .into());
    }
    Ok(ids)
}

/// Accepts or dismisses every ticked suggestion of the list (`action` = `accept`/`dismiss`).
pub async fn bulk(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(list_id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = ListId(list_id);
    let accept = match form
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str())
    {
        Some("accept") => true,
        Some("dismiss") => false,
        _ => {
            return Err(ServiceError::field(
                "action",
                service::FieldCode::Choice,
                "must be accept or dismiss",
            )
            .into());
        }
    };
    let ids = picked(&form)?;
    let mut undo = Vec::with_capacity(ids.len());
    for id in &ids {
        let suggestion = service::suggestions::get(&state.store, visitor.actor, *id).await?;
        if suggestion.list != list {
            return Err(ServiceError::NotFound { what: "suggestion" }.into());
        }
        undo.push(decide(&state, &visitor, *id, accept).await?.1);
    }
    let view = ReviewView::from_pairs(&form, "back_");
    let one = (ids.len() == 1).then(|| ids[0].0);
    let done = if accept { "accepted" } else { "dismissed" };
    Ok(redirect_after(&view, done, Done { list, undo, one }))
}

/// Puts suggestions back to the status they had before the confirmed action
/// (`restore` = `<id>:<status>`, repeated), or a merged suggestion back to its values before
/// the merge (`merge_undo` = `<id>:<entry>`).
pub async fn undo(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(list_id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = ListId(list_id);
    if let Some((_, entry)) = form.iter().find(|(k, _)| k == "merge_undo") {
        let (id, undo) = parse_merge_undo(entry).ok_or_else(|| {
            PageError::from(ServiceError::field(
                "merge_undo",
                service::FieldCode::Text,
                "is not an entry this page made",
            ))
        })?;
        let suggestion = service::suggestions::get(&state.store, visitor.actor, id).await?;
        if suggestion.list != list {
            return Err(ServiceError::NotFound { what: "suggestion" }.into());
        }
        service::suggestions::undo_merge(&state.store, &state.book_wake, visitor.actor, id, undo)
            .await?;
        let view = ReviewView::from_pairs(&form, "back_");
        let extra = vec![
            ("done", "restored".to_owned()),
            ("n", "1".to_owned()),
            ("one", id.0.to_string()),
        ];
        return Ok(Redirect::to(&view.url(list, &extra)).into_response());
    }
    let entries: Vec<(SuggestionId, SuggestionStatus)> = form
        .iter()
        .filter(|(k, _)| k == "restore")
        .map(|(_, v)| {
            parse_restore(v).ok_or_else(|| {
                PageError::from(ServiceError::field(
                    "restore",
                    service::FieldCode::Text,
                    "is not an entry this page made",
                ))
            })
        })
        .take(MAX_BATCH)
        .collect::<Result<_, _>>()?;
    for (id, status) in &entries {
        let suggestion = service::suggestions::get(&state.store, visitor.actor, *id).await?;
        if suggestion.list != list {
            return Err(ServiceError::NotFound { what: "suggestion" }.into());
        }
        service::suggestions::restore(&state.store, &state.book_wake, visitor.actor, *id, *status)
            .await?;
    }
    let view = ReviewView::from_pairs(&form, "back_");
    let mut extra = vec![("done", "restored".to_owned())];
    extra.push(("n", entries.len().to_string()));
    if let [(id, _)] = entries.as_slice() {
        extra.push(("one", id.0.to_string()));
    }
    Ok(Redirect::to(&view.url(list, &extra)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_round_trips_through_its_query() {
        let view = ReviewView {
            status: "all".to_owned(),
            q: "Kim & Co".to_owned(),
            cursor: "c40".to_owned(),
        };
        let query = view.query();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(ReviewView::from_pairs(&pairs, ""), view);
        let back: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (format!("back_{k}"), v.clone()))
            .collect();
        assert_eq!(ReviewView::from_pairs(&back, "back_"), view);
        assert_eq!(ReviewView::from_pairs(&[], "").status, "new");
    }

    #[test]
    fn undo_entries_never_restore_a_merge() {
        assert_eq!(
            parse_restore("12:new"),
            Some((SuggestionId(12), SuggestionStatus::New))
        );
        assert_eq!(parse_restore("12:merged"), None);
        assert_eq!(parse_restore("x:new"), None);
        assert_eq!(parse_restore("-3:new"), None);
        assert_eq!(parse_restore("12"), None);
    }
}
