//! The merge view of one suggestion: the fields whose value changed side by side (the earlier
//! value and the one from the latest mail, each with its date), and, when the list's connected
//! address book has an entry for the contact, the book's value beside the suggested one (chosen
//! by default: the book keeps what someone typed there); every other field as a pre-filled box,
//! each e-mail, phone, website and profile with a Keep box, and for e-mails and phones the choice
//! between the book's and the suggested ones; plus the open change proposals of an accepted
//! contact, and Accept, Dismiss and Cancel.
//!
//! Why the form is checked here before the service sees it: a reviewer's typed text must never
//! be lost or silently cleared. Text typed into a box counts even when its radio was not
//! chosen; text typed while "keep the earlier value" is chosen, or a box emptied without
//! ticking "Clear", is sent back on the same form with the text kept and the field's error
//! beside it, and nothing is stored.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::render::{Moment, PageError, Visitor, html, when};
use super::review::{ReviewView, display_name};
use crate::domain::{AuthMethod, AuthResult};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::suggestions::{Choice, FieldChoice, LIST_FIELDS, MERGE_FIELDS};
use crate::service::{self, ServiceError};
use crate::store::{HistoryEntry, Provenance, Suggestion, SuggestionId, SuggestionStatus};

/// Accepts a change suggestion of an accepted contact (the merge view's form).
pub async fn accept_change(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let change =
        service::changes::decide(&state.store, &state.book_wake, visitor.actor, id, true).await?;
    Ok(Redirect::to(&format!("/suggestions/{}/merge", change.suggestion.0)).into_response())
}

/// Dismisses a change suggestion (the contact keeps its values).
pub async fn dismiss_change(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let change =
        service::changes::decide(&state.store, &state.book_wake, visitor.actor, id, false).await?;
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

/// One single-valued field of the merge view.
pub struct MergeField {
    pub field: &'static str,
    pub label: &'static str,
    /// The suggestion's current (newest extracted) value: the box's starting text.
    pub new_value: String,
    /// When the current value arrived.
    pub new_at: Option<Moment>,
    /// The value before the latest change, when it differs from the current one.
    pub old_value: Option<String>,
    pub old_at: Option<Moment>,
    /// The connected book's value (empty when blank there), when it differs from the current one.
    pub book_value: Option<String>,
    /// Shown side by side (an earlier or a book value to choose from).
    pub compare: bool,
    /// What the box shows: the current value, or what the reviewer typed.
    pub typed: String,
    /// The chosen radio: `take_new`, `keep_old`, `book` or `typed`.
    pub choice: String,
    /// "Clear this field" was ticked.
    pub clear: bool,
    /// Why the form came back for this field.
    pub error: String,
}

/// One value of a list field with its Keep box.
pub struct ListValue {
    pub value: String,
    /// "Work", "Mobile"… for phones.
    pub kind: String,
    pub keep: bool,
}

/// A list field (e-mails, phones, websites, social profiles).
pub struct ListField {
    pub field: &'static str,
    pub label: &'static str,
    pub values: Vec<ListValue>,
    /// The connected book's values of this field (e-mails, phones), when its entry lacks some
    /// of the suggested ones: the reviewer chooses between the two.
    pub book_values: Option<String>,
    /// The book's values are chosen (nothing is added to the entry).
    pub book_chosen: bool,
}

#[derive(Template)]
#[template(path = "merge.html")]
struct MergePage {
    csrf: String,
    id: i64,
    who: String,
    sender: String,
    unverified: bool,
    /// "Seen 3 times; last: authenticated (DKIM) on 2026-12-07 04:10 UTC".
    seen: Option<String>,
    status: &'static str,
    is_new: bool,
    can_edit: bool,
    /// Fields whose earlier value or book value differs: shown side by side.
    changed: Vec<MergeField>,
    /// The list has a connected book with an entry for this contact.
    in_book: bool,
    /// Every other single-valued field: a pre-filled box.
    others: Vec<MergeField>,
    lists: Vec<ListField>,
    changes: Vec<ChangeRow>,
    /// The form came back: say so at the top.
    form_error: bool,
    /// The review page view the reviewer came from, carried through the form.
    view: ReviewView,
    back: String,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

fn label(field: &str) -> &'static str {
    match field {
        "name" => "Name",
        "title" => "Job title",
        "company" => "Company",
        "address" => "Address",
        "emails" => "E-mails",
        "phones" => "Phones",
        "websites" => "Websites",
        "social" => "Social profiles",
        _ => "Field",
    }
}

/// The form as posted, to show it again with the reviewer's input.
#[derive(Default)]
struct Posted {
    pairs: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

impl Posted {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn error(&self, field: &str) -> String {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.clone())
            .unwrap_or_default()
    }
}

/// The latest history entry of `field` and the one before it (when the current value came,
/// and when the earlier one did).
fn arrivals(history: &[HistoryEntry], field: &str, created: i64) -> (Option<i64>, Option<i64>) {
    let mut of_field = history.iter().filter(|h| h.field == field).rev();
    match of_field.next() {
        Some(latest) => (
            Some(latest.at),
            Some(of_field.next().map_or(created, |h| h.at)),
        ),
        None => (Some(created), None),
    }
}

async fn render_merge(
    state: &AppState,
    visitor: &Visitor,
    id: SuggestionId,
    view: ReviewView,
    posted: Option<&Posted>,
) -> Result<Response, PageError> {
    let suggestion = service::suggestions::get(&state.store, visitor.actor, id).await?;
    let history = service::suggestions::history(&state.store, visitor.actor, id).await?;
    let list = service::lists::get_list(&state.store, visitor.actor, suggestion.list).await?;
    let changes = service::changes::open_for(&state.store, visitor.actor, id)
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
    let book = service::book_check::entry_of(&state.store, &suggestion)
        .await?
        .map(|(_, contact)| contact);
    let empty = Posted::default();
    let posted = posted.unwrap_or(&empty);
    let mut changed = Vec::new();
    let mut others = Vec::new();
    for &field in &MERGE_FIELDS {
        let new_value = suggestion.fields.display(field).unwrap_or_default();
        let old_value = history
            .iter()
            .rev()
            .find(|h| h.field == field)
            .map(|h| h.old_value.clone().unwrap_or_default())
            .filter(|old| *old != new_value);
        let (new_at, old_at) = arrivals(&history, field, suggestion.created_at);
        // A blank in the book is filled from the contact: only a value there is offered.
        let book_value = book
            .as_ref()
            .and_then(|b| b.value(field))
            .filter(|b| *b != new_value)
            .map(str::to_owned);
        let default = if book_value.is_some() {
            "book"
        } else {
            "take_new"
        };
        let entry = MergeField {
            field,
            label: label(field),
            typed: posted
                .get(&format!("value_{field}"))
                .map_or_else(|| new_value.clone(), str::to_owned),
            choice: posted
                .get(&format!("choice_{field}"))
                .unwrap_or(default)
                .to_owned(),
            clear: posted.get(&format!("clear_{field}")) == Some("yes"),
            error: posted.error(field),
            new_at: new_at.map(Moment::ago),
            old_at: old_value.as_ref().and(old_at).map(Moment::ago),
            compare: old_value.is_some() || book_value.is_some(),
            new_value,
            old_value,
            book_value,
        };
        if entry.compare {
            changed.push(entry);
        } else {
            others.push(entry);
        }
    }
    let lists = LIST_FIELDS
        .iter()
        .filter_map(|&field| {
            let values = service::suggestions::list_values(&suggestion, field)?;
            let book_values = book
                .as_ref()
                .filter(|_| matches!(field, "emails" | "phones"))
                .filter(|b| {
                    values.iter().any(|v| match field {
                        "emails" => !b.has_email(v),
                        _ => !b.has_phone(v),
                    })
                })
                .map(|b| match field {
                    "emails" => b.emails.join(", "),
                    _ => b
                        .phones
                        .iter()
                        .map(|p| p.number.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            (!values.is_empty()).then(|| ListField {
                field,
                label: label(field),
                book_chosen: posted.get(&format!("side_{field}")) == Some("book"),
                book_values,
                values: values
                    .iter()
                    .map(|value| ListValue {
                        kind: phone_kind(&suggestion, field, value),
                        keep: posted.pairs.is_empty()
                            || posted.all(&format!("keep_{field}")).any(|k| k == value),
                        value: value.clone(),
                    })
                    .collect(),
            })
        })
        .collect();
    let page = MergePage {
        org_admin: visitor.org_admin,
        csrf: visitor.csrf.clone(),
        id: id.0,
        who: display_name(&suggestion),
        sender: suggestion.sender_email.clone(),
        unverified: suggestion.unverified_sender,
        seen: suggestion.provenance.as_ref().and_then(seen_line),
        status: suggestion.status.as_str(),
        is_new: suggestion.status == SuggestionStatus::New,
        can_edit: list.role.can_edit(),
        in_book: book.is_some(),
        changed,
        others,
        lists,
        changes,
        form_error: !posted.errors.is_empty(),
        back: view.url(suggestion.list, &[]),
        view,
    };
    let response = html(&page)?;
    if posted.errors.is_empty() {
        Ok(response)
    } else {
        Ok((StatusCode::BAD_REQUEST, response).into_response())
    }
}

fn phone_kind(suggestion: &Suggestion, field: &str, value: &str) -> String {
    if field != "phones" {
        return String::new();
    }
    suggestion
        .fields
        .phones
        .iter()
        .find(|p| p.e164 == value)
        .map(|p| super::review::phone_kind(&p.kind).to_owned())
        .unwrap_or_default()
}

pub async fn merge_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let view = ReviewView::from_pairs(&pairs, "");
    render_merge(&state, &visitor, SuggestionId(id), view, None).await
}

/// Reads the merge form into the service's choices, or the errors to show beside each field.
///
/// Per single-valued field: `value_<f>` (the box), `orig_<f>` (what the box started with),
/// `choice_<f>` (`take_new`, `keep_old`, `typed`) and `clear_<f>` (`yes` to confirm emptying).
/// Per list field: `keep_<f>` for every value to keep; `listed_<f>` marks that the field was
/// on the form, so that no box ticked means "remove all".
fn read_choices(
    suggestion: &Suggestion,
    form: &Posted,
) -> (Vec<FieldChoice>, Vec<(String, String)>) {
    let mut choices = Vec::new();
    let mut errors = Vec::new();
    for field in MERGE_FIELDS {
        let value = form.get(&format!("value_{field}"));
        let orig = form.get(&format!("orig_{field}")).unwrap_or_default();
        let choice = form.get(&format!("choice_{field}")).unwrap_or_default();
        let edited = value.is_some_and(|v| v.trim() != orig.trim());
        let choice = match (choice, edited) {
            ("book", true) => {
                errors.push((
                    field.to_owned(),
                    "You typed a value but chose the address book's: choose “Use the text in the box” to keep what you typed, or undo the typing.".to_owned(),
                ));
                continue;
            }
            ("book", false) => Choice::Book,
            ("keep_old", true) => {
                errors.push((
                    field.to_owned(),
                    "You typed a value but chose the earlier one: choose “Use the text in the box” to keep what you typed, or undo the typing.".to_owned(),
                ));
                continue;
            }
            (_, true) | ("typed", false) => Choice::Typed {
                value: value.unwrap_or_default().to_owned(),
            },
            ("keep_old", false) => Choice::KeepOld,
            ("take_new", false) => Choice::TakeNew,
            ("", false) => continue,
            (_, false) => {
                errors.push((field.to_owned(), "Choose one of the values.".to_owned()));
                continue;
            }
        };
        if let Choice::Typed { value } = &choice {
            let had_value = suggestion.fields.display(field).is_some();
            if value.trim().is_empty()
                && had_value
                && form.get(&format!("clear_{field}")) != Some("yes")
            {
                errors.push((
                    field.to_owned(),
                    format!(
                        "The box is empty: tick “Clear {}” to remove it from the contact, or type a value.",
                        label(field).to_lowercase()
                    ),
                ));
                continue;
            }
        }
        choices.push(FieldChoice {
            field: field.to_owned(),
            choice,
        });
    }
    for field in LIST_FIELDS {
        if form.get(&format!("listed_{field}")).is_none() {
            continue;
        }
        if form.get(&format!("side_{field}")) == Some("book") {
            choices.push(FieldChoice {
                field: field.to_owned(),
                choice: Choice::Book,
            });
            continue;
        }
        let current = service::suggestions::list_values(suggestion, field).unwrap_or_default();
        let keep: Vec<String> = form
            .all(&format!("keep_{field}"))
            .map(str::to_owned)
            .collect();
        if current.iter().all(|c| keep.contains(c)) {
            continue;
        }
        choices.push(FieldChoice {
            field: field.to_owned(),
            choice: Choice::Keep { values: keep },
        });
    }
    (choices, errors)
}

/// The merge form. Saving without any change accepts the suggestion as it is.
pub async fn merge(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let id = SuggestionId(id);
    let view = ReviewView::from_pairs(&pairs, "back_");
    let suggestion = service::suggestions::get(&state.store, visitor.actor, id).await?;
    let mut posted = Posted {
        pairs,
        errors: vec![],
    };
    let (choices, errors) = read_choices(&suggestion, &posted);
    if !errors.is_empty() {
        posted.errors = errors;
        return render_merge(&state, &visitor, id, view, Some(&posted)).await;
    }
    let mut extra = vec![("one", id.0.to_string()), ("n", "1".to_owned())];
    let (done, list) = if choices.is_empty() {
        let accepted =
            service::suggestions::accept(&state.store, &state.book_wake, visitor.actor, id).await?;
        if suggestion.status != SuggestionStatus::Merged {
            extra.push(("undo", format!("{}:{}", id.0, suggestion.status.as_str())));
        }
        ("accepted", accepted.list)
    } else {
        match service::suggestions::merge_undoable(
            &state.store,
            &state.book_wake,
            visitor.actor,
            id,
            &choices,
        )
        .await
        {
            Ok((merged, undo)) => {
                extra.push(("merge_undo", format!("{}:{}", id.0, undo.0)));
                ("merged", merged.list)
            }
            Err(ServiceError::Validation(fields)) => {
                // The service's own checks (length, characters): back to the form, text kept.
                posted.errors = fields
                    .into_iter()
                    .map(|f| {
                        let field = choices
                            .iter()
                            .enumerate()
                            .find(|(i, _)| f.field.starts_with(&format!("fields[{i}]")))
                            .map_or_else(|| f.field.clone(), |(_, c)| c.field.clone());
                        (
                            field,
                            format!("This value was not accepted: it {}.", f.message),
                        )
                    })
                    .collect();
                return render_merge(&state, &visitor, id, view, Some(&posted)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    extra.insert(0, ("done", done.to_owned()));
    Ok(Redirect::to(&view.url(list, &extra)).into_response())
}

/// The merge view's provenance line: how many messages stand behind the suggestion and how sure
/// the newest one's sender was; `None` before any was recorded.
fn seen_line(provenance: &Provenance) -> Option<String> {
    let last = provenance.last()?;
    let result = match last.sender_auth.result {
        AuthResult::Authenticated => "authenticated",
        AuthResult::NotAuthenticated => "not authenticated",
        AuthResult::Unknown => "unknown",
    };
    let method = match last.sender_auth.method {
        AuthMethod::AuthenticationResults => "Authentication-Results",
        AuthMethod::Dmarc => "DMARC",
        AuthMethod::Dkim => "DKIM",
        AuthMethod::Arc => "ARC",
        AuthMethod::None => "no check",
    };
    let times = match provenance.seen {
        1 => "once".to_owned(),
        n => format!("{n} times"),
    };
    Some(format!(
        "Seen {times}; last: {result} ({method}) on {}",
        when(last.at)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StoredField, SuggestionFields};

    fn suggestion() -> Suggestion {
        let field = |v: &str| {
            Some(StoredField {
                value: v.to_owned(),
                confidence: 0.9,
                rule: "t".to_owned(),
            })
        };
        Suggestion {
            id: SuggestionId(1),
            list: crate::store::ListId(1),
            mailbox: None,
            sender_email: "a@b.example".to_owned(),
            fields: SuggestionFields {
                name: field("Ann Example"),
                title: field("Buyer"),
                ..SuggestionFields::default()
            },
            confidence: 0.9,
            status: SuggestionStatus::New,
            created_at: 0,
            updated_at: 0,
            sender_auth: crate::domain::SenderAuth::new(
                crate::domain::AuthResult::Authenticated,
                crate::domain::AuthMethod::Dmarc,
            ),
            unverified_sender: false,
            provenance: None,
            book: None,
        }
    }

    fn posted(pairs: &[(&str, &str)]) -> Posted {
        Posted {
            pairs: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            errors: vec![],
        }
    }

    #[test]
    fn typed_text_counts_without_its_radio() {
        let form = posted(&[
            ("choice_title", "take_new"),
            ("orig_title", "Buyer"),
            ("value_title", "Head Buyer"),
        ]);
        let (choices, errors) = read_choices(&suggestion(), &form);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            choices,
            vec![FieldChoice {
                field: "title".to_owned(),
                choice: Choice::Typed {
                    value: "Head Buyer".to_owned()
                }
            }]
        );
    }

    #[test]
    fn an_emptied_box_needs_its_clear_box_and_typing_with_keep_old_is_asked_back() {
        let form = posted(&[("orig_title", "Buyer"), ("value_title", "")]);
        let (choices, errors) = read_choices(&suggestion(), &form);
        assert!(choices.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "title");
        let form = posted(&[
            ("orig_title", "Buyer"),
            ("value_title", ""),
            ("clear_title", "yes"),
        ]);
        let (choices, errors) = read_choices(&suggestion(), &form);
        assert!(errors.is_empty());
        assert_eq!(
            choices[0].choice,
            Choice::Typed {
                value: String::new()
            }
        );
        let form = posted(&[
            ("choice_name", "keep_old"),
            ("orig_name", "Ann Example"),
            ("value_name", "Ann Q. Example"),
        ]);
        let (_, errors) = read_choices(&suggestion(), &form);
        assert_eq!(errors.len(), 1);
    }
}
