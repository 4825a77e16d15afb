//! Reviewing suggestions: list with filters and cursor paging, read one, accept, dismiss,
//! merge with a per-field choice, and the field history. Viewers read; editors and owners
//! change. Every read and change is written to the audit log (ids only, never content).

use crate::books::worker::Wake;
use crate::domain::address_book::{BookChoice, BookContact, BookEntryId};
use crate::domain::{AuditAction, AuditObject};
use serde::{Deserialize, Serialize};

use crate::store::{
    FieldEdit, HistoryEntry, ListEdit, ListId, MailboxId, MergeUndoId, ReviewFilter, Role, Store,
    Suggestion, SuggestionId, SuggestionStatus,
};

use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceError, ServiceResult, audit, require_role};

/// Default and largest page sizes.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;
/// Fields a reviewer can choose per merge: take the new value, keep the old one, or type one.
pub const MERGE_FIELDS: [&str; 4] = ["name", "title", "company", "address"];
/// Fields with several values, of which a reviewer keeps some (`keep`) and removes the rest.
pub const LIST_FIELDS: [&str; 4] = ["emails", "phones", "websites", "social"];
/// Fields that can take the connected book's value (`book`).
pub use crate::domain::address_book::CHOICE_FIELDS as BOOK_FIELDS;

/// Filters as typed by the user (query string or form).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Query {
    pub status: Option<String>,
    pub q: Option<String>,
    pub mailbox: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// One page of suggestions; `next_cursor` is `None` on the last page.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page {
    pub items: Vec<Suggestion>,
    pub next_cursor: Option<String>,
}

/// The reviewer's choice for one field.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum Choice {
    /// Keep the newest extracted value (the suggestion's current value).
    TakeNew,
    /// Restore the value the field had before the latest extraction changed it.
    KeepOld,
    /// A value typed by the reviewer (empty clears the field).
    Typed { value: String },
    /// For a list field: keep only these of its current values (phones as E.164).
    Keep { values: Vec<String> },
    /// The value of the connected address book's entry that holds the contact (the merge view
    /// shows it): the contact takes it and the entry keeps it. For `emails` and `phones`: the
    /// contact keeps those of its values the entry has, and nothing is added to the entry.
    Book,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FieldChoice {
    pub field: String,
    #[serde(flatten)]
    pub choice: Choice,
}

/// Cursors are the last id of the page, opaque to clients ("c" + decimal id).
fn parse_cursor(c: &mut Checker, cursor: Option<&str>) -> Option<SuggestionId> {
    let cursor = cursor.map(str::trim).filter(|s| !s.is_empty())?;
    match cursor.strip_prefix('c').and_then(|n| n.parse::<i64>().ok()) {
        Some(id) if id >= 0 => Some(SuggestionId(id)),
        _ => {
            c.push(
                "cursor",
                FieldCode::Text,
                "is not a cursor returned by this API",
            );
            None
        }
    }
}

const STATUSES: [&str; 4] = ["new", "accepted", "dismissed", "merged"];

pub async fn list(store: &Store, actor: Actor, list: ListId, query: &Query) -> ServiceResult<Page> {
    require_role(store, actor, list, Role::Viewer).await?;
    let mut c = Checker::new();
    let status = match query
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => c
            .choice("status", Some(s), &STATUSES)
            .map(str::parse::<SuggestionStatus>)
            .transpose()?,
    };
    let after = parse_cursor(&mut c, query.cursor.as_deref());
    let limit = c.number("limit", query.limit, 1..=i64::from(MAX_PAGE));
    let mailbox = c
        .number("mailbox", query.mailbox, 1..=i64::MAX)
        .map(MailboxId);
    let text = c.optional_text("q", query.q.as_deref(), 200);
    c.finish()?;
    let limit = limit
        .and_then(|l| u32::try_from(l).ok())
        .unwrap_or(DEFAULT_PAGE);
    let filter = ReviewFilter {
        status,
        mailbox,
        text,
        after,
        limit: limit + 1,
    };
    let mut items = store.search_suggestions(list, &filter).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|s| format!("c{}", s.id.0))
    } else {
        None
    };
    super::book_check::check(store, &mut items).await?;
    let detail = format!("{} suggestions", items.len());
    audit(
        store,
        actor,
        AuditAction::SuggestionList,
        AuditObject::List,
        Some(list.0),
        Some(&detail),
    )
    .await?;
    Ok(Page { items, next_cursor })
}

/// The suggestion and the actor's role on its list, if they may see it.
async fn visible(
    store: &Store,
    actor: Actor,
    id: SuggestionId,
    min: Role,
) -> ServiceResult<Suggestion> {
    let suggestion = match store.get_suggestion(id).await {
        Err(e) if e.is_not_found() => return Err(ServiceError::NotFound { what: "suggestion" }),
        other => other?,
    };
    match require_role(store, actor, suggestion.list, min).await {
        Err(ServiceError::NotFound { .. }) => Err(ServiceError::NotFound { what: "suggestion" }),
        Err(e) => Err(e),
        Ok(_) => Ok(suggestion),
    }
}

/// One suggestion with its provenance (the messages behind it, `store::provenance`).
pub async fn get(store: &Store, actor: Actor, id: SuggestionId) -> ServiceResult<Suggestion> {
    let mut suggestion = visible(store, actor, id, Role::Viewer).await?;
    suggestion.provenance = Some(store.provenance(id).await?);
    super::book_check::check(store, std::slice::from_mut(&mut suggestion)).await?;
    audit(
        store,
        actor,
        AuditAction::SuggestionRead,
        AuditObject::Suggestion,
        Some(id.0),
        None,
    )
    .await?;
    Ok(suggestion)
}

/// Accepts a suggestion; `books` starts the connected book's sync round, which writes it there.
pub async fn accept(
    store: &Store,
    books: &Wake,
    actor: Actor,
    id: SuggestionId,
) -> ServiceResult<Suggestion> {
    let accepted = set_status(
        store,
        actor,
        id,
        SuggestionStatus::Accepted,
        AuditAction::SuggestionAccept,
    )
    .await?;
    books.poke();
    Ok(accepted)
}

pub async fn dismiss(store: &Store, actor: Actor, id: SuggestionId) -> ServiceResult<Suggestion> {
    set_status(
        store,
        actor,
        id,
        SuggestionStatus::Dismissed,
        AuditAction::SuggestionDismiss,
    )
    .await
}

/// Undoes an accept or dismiss: puts the suggestion back to the status it had before
/// (`new`, `accepted` or `dismissed`; a merge changed values and is not undone this way).
pub async fn restore(
    store: &Store,
    books: &Wake,
    actor: Actor,
    id: SuggestionId,
    status: SuggestionStatus,
) -> ServiceResult<Suggestion> {
    if status == SuggestionStatus::Merged {
        return Err(ServiceError::field(
            "status",
            FieldCode::Choice,
            "must be new, accepted or dismissed",
        ));
    }
    let action = match status {
        SuggestionStatus::Accepted => AuditAction::SuggestionAccept,
        SuggestionStatus::Dismissed => AuditAction::SuggestionDismiss,
        _ => AuditAction::SuggestionReopen,
    };
    let restored = set_status(store, actor, id, status, action).await?;
    if status == SuggestionStatus::Accepted {
        books.poke();
    }
    Ok(restored)
}

/// How many suggestions of a list have each status, in the order of `SuggestionStatus::ALL`.
pub async fn counts(
    store: &Store,
    actor: Actor,
    list: ListId,
) -> ServiceResult<Vec<(SuggestionStatus, i64)>> {
    require_role(store, actor, list, Role::Viewer).await?;
    let mut counts = Vec::with_capacity(SuggestionStatus::ALL.len());
    for status in SuggestionStatus::ALL {
        counts.push((status, store.count_suggestions(list, Some(status)).await?));
    }
    Ok(counts)
}

/// The suggestion of `id` for the confirmation before [`erase`], with the same rule: its list's
/// owner only (anyone else gets what [`erase`] would answer them).
pub async fn for_erasure(
    store: &Store,
    actor: Actor,
    id: SuggestionId,
) -> ServiceResult<Suggestion> {
    visible(store, actor, id, Role::Owner).await
}

/// Erases a suggestion for good (a GDPR erasure request); the list's owner only. The audit
/// entry names the suggestion's id and nothing of what it held.
pub async fn erase(store: &Store, actor: Actor, id: SuggestionId) -> ServiceResult<()> {
    visible(store, actor, id, Role::Owner).await?;
    store.erase_suggestion(id).await?;
    audit(
        store,
        actor,
        AuditAction::SuggestionErase,
        AuditObject::Suggestion,
        Some(id.0),
        None,
    )
    .await
}

async fn set_status(
    store: &Store,
    actor: Actor,
    id: SuggestionId,
    status: SuggestionStatus,
    action: AuditAction,
) -> ServiceResult<Suggestion> {
    visible(store, actor, id, Role::Editor).await?;
    store.set_suggestion_status(id, status).await?;
    audit(
        store,
        actor,
        action,
        AuditObject::Suggestion,
        Some(id.0),
        None,
    )
    .await?;
    Ok(store.get_suggestion(id).await?)
}

/// Applies one choice per field and marks the suggestion merged. `keep_old` restores the value
/// from before the field's most recent change (from the history); without such a change the
/// field keeps its value. `book` takes the value of the connected book's entry that holds the
/// contact; the choice made against that entry is kept for the write-back (`books::merge`).
pub async fn merge(
    store: &Store,
    books: &Wake,
    actor: Actor,
    id: SuggestionId,
    choices: &[FieldChoice],
) -> ServiceResult<Suggestion> {
    let merged = merge_inner(store, actor, id, choices, false).await?.0;
    books.poke();
    Ok(merged)
}

/// [`merge`], keeping what the suggestion was before so that the actor can [`undo_merge`] it
/// within the hour (the pages' confirmation offers it).
pub async fn merge_undoable(
    store: &Store,
    books: &Wake,
    actor: Actor,
    id: SuggestionId,
    choices: &[FieldChoice],
) -> ServiceResult<(Suggestion, MergeUndoId)> {
    let (merged, undo) = merge_inner(store, actor, id, choices, true).await?;
    books.poke();
    let undo = undo.ok_or_else(|| ServiceError::Internal("merge kept no undo entry".into()))?;
    Ok((merged, undo))
}

/// Puts back the values, confidence and status a suggestion had before the actor's merge
/// `undo` (see `store::merge_undo`): refused once the suggestion changed after the merge, and
/// "not found" for another person's, a used or an expired entry. Audited without values.
pub async fn undo_merge(
    store: &Store,
    books: &Wake,
    actor: Actor,
    id: SuggestionId,
    undo: MergeUndoId,
) -> ServiceResult<Suggestion> {
    visible(store, actor, id, Role::Editor).await?;
    let restored = store
        .undo_merge(undo, id, actor.user())
        .await
        .map_err(|e| match e {
            crate::store::Error::NotFound { .. } => ServiceError::field(
                "undo",
                FieldCode::Choice,
                "is no longer possible (it was used, or an hour has passed)",
            ),
            crate::store::Error::Invalid { reason, .. } => {
                ServiceError::field("undo", FieldCode::Choice, reason)
            }
            other => other.into(),
        })?;
    audit(
        store,
        actor,
        AuditAction::SuggestionMergeUndo,
        AuditObject::Suggestion,
        Some(id.0),
        None,
    )
    .await?;
    books.poke();
    Ok(restored)
}

async fn merge_inner(
    store: &Store,
    actor: Actor,
    id: SuggestionId,
    choices: &[FieldChoice],
    undoable: bool,
) -> ServiceResult<(Suggestion, Option<MergeUndoId>)> {
    let suggestion = visible(store, actor, id, Role::Editor).await?;
    let book = super::book_check::entry_of(store, &suggestion).await?;
    let mut c = Checker::new();
    if choices.is_empty() {
        c.push("fields", FieldCode::Required, "choose at least one field");
    }
    for (i, choice) in choices.iter().enumerate() {
        if choice.choice == Choice::Book {
            if !BOOK_FIELDS.contains(&choice.field.as_str()) {
                c.push(
                    &format!("fields[{i}].field"),
                    FieldCode::Choice,
                    format!("book is for: {}", BOOK_FIELDS.join(", ")),
                );
            } else if book.is_none() {
                c.push(
                    &format!("fields[{i}].choice"),
                    FieldCode::Choice,
                    "no entry of the list's address book holds this contact",
                );
            } else if choices[..i].iter().any(|o| o.field == choice.field) {
                c.push(
                    &format!("fields[{i}].field"),
                    FieldCode::Choice,
                    "is chosen twice",
                );
            }
            continue;
        }
        if let Choice::Keep { values } = &choice.choice {
            let current = list_values(&suggestion, &choice.field);
            match current {
                None => c.push(
                    &format!("fields[{i}].field"),
                    FieldCode::Choice,
                    format!("keep is for: {}", LIST_FIELDS.join(", ")),
                ),
                Some(current) => {
                    if values.iter().any(|v| !current.contains(v)) {
                        c.push(
                            &format!("fields[{i}].values"),
                            FieldCode::Choice,
                            "may only name current values",
                        );
                    }
                }
            }
            if choices[..i].iter().any(|o| o.field == choice.field) {
                c.push(
                    &format!("fields[{i}].field"),
                    FieldCode::Choice,
                    "is chosen twice",
                );
            }
            continue;
        }
        if !MERGE_FIELDS.contains(&choice.field.as_str()) {
            c.push(
                &format!("fields[{i}].field"),
                FieldCode::Choice,
                format!("must be one of: {}", MERGE_FIELDS.join(", ")),
            );
        } else if choices[..i].iter().any(|o| o.field == choice.field) {
            c.push(
                &format!("fields[{i}].field"),
                FieldCode::Choice,
                "is chosen twice",
            );
        }
        if let Choice::Typed { value } = &choice.choice {
            c.optional_text(&format!("fields[{i}].value"), Some(value), 500);
        }
    }
    c.finish()?;
    let history = store.suggestion_history(id).await?;
    let book_contact = book.as_ref().map(|(_, contact)| contact);
    let lists: Vec<ListEdit> = choices
        .iter()
        .filter_map(|choice| match &choice.choice {
            Choice::Keep { values } => Some(ListEdit {
                field: choice.field.clone(),
                keep: values.clone(),
            }),
            Choice::Book if LIST_FIELDS.contains(&choice.field.as_str()) => Some(ListEdit {
                field: choice.field.clone(),
                keep: book_contact
                    .map(|entry| kept_by_book(&suggestion, &choice.field, entry))
                    .unwrap_or_default(),
            }),
            _ => None,
        })
        .collect();
    let edits: Vec<FieldEdit> = choices
        .iter()
        .filter(|choice| MERGE_FIELDS.contains(&choice.field.as_str()))
        .filter(|choice| !matches!(choice.choice, Choice::Keep { .. }))
        .map(|choice| {
            let current = suggestion.fields.display(&choice.field);
            let value = match &choice.choice {
                Choice::TakeNew => current,
                Choice::KeepOld => history
                    .iter()
                    .rev()
                    .find(|h| h.field == choice.field)
                    .map_or(current, |h| h.old_value.clone()),
                Choice::Typed { value } => Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
                Choice::Book => book_contact
                    .and_then(|entry| entry.value(&choice.field))
                    .map(str::to_owned),
                Choice::Keep { .. } => current,
            };
            FieldEdit {
                field: choice.field.clone(),
                value,
            }
        })
        .collect();
    let (merged, undo) = if undoable {
        let (merged, undo) = store
            .merge_suggestion_undoable(id, &edits, &lists, actor.user())
            .await?;
        (merged, Some(undo))
    } else {
        (store.merge_suggestion_with(id, &edits, &lists).await?, None)
    };
    if let Some((entry, contact)) = &book {
        let choice = book_choice(entry, contact, choices, &edits);
        store.set_book_choice(id, merged.list, &choice).await?;
    }
    let fields: Vec<&str> = choices.iter().map(|c| c.field.as_str()).collect();
    audit(
        store,
        actor,
        AuditAction::SuggestionMerge,
        AuditObject::Suggestion,
        Some(id.0),
        Some(&fields.join(",")),
    )
    .await?;
    Ok((merged, undo))
}

/// The current values of `field` (`emails`, `phones`) that the book's entry has too.
fn kept_by_book(suggestion: &Suggestion, field: &str, entry: &BookContact) -> Vec<String> {
    list_values(suggestion, field)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| match field {
            "emails" => entry.has_email(v),
            _ => entry.has_phone(v),
        })
        .collect()
}

/// What the write-back follows for the book's entry: the fields chosen from the book keep its
/// value; a single-valued field whose chosen value differs from the entry's takes the contact's.
fn book_choice(
    entry: &BookEntryId,
    contact: &BookContact,
    choices: &[FieldChoice],
    edits: &[FieldEdit],
) -> BookChoice {
    let mut choice = BookChoice::new(entry.clone());
    for field in BOOK_FIELDS {
        let Some(chosen) = choices.iter().find(|c| c.field == field) else {
            continue;
        };
        if chosen.choice == Choice::Book {
            choice.book.push(field);
            continue;
        }
        let value = edits
            .iter()
            .find(|e| e.field == field)
            .and_then(|e| e.value.as_deref());
        if let (Some(book), Some(value)) = (contact.value(field), value)
            && book != value.trim()
        {
            choice.ours.push(field);
        }
    }
    choice
}

/// The current values of a list field (phones as E.164); `None` for any other field.
pub fn list_values(suggestion: &Suggestion, field: &str) -> Option<Vec<String>> {
    let f = &suggestion.fields;
    let values = |v: &[crate::store::StoredField]| v.iter().map(|f| f.value.clone()).collect();
    match field {
        "emails" => Some(values(&f.emails)),
        "phones" => Some(f.phones.iter().map(|p| p.e164.clone()).collect()),
        "websites" => Some(values(&f.websites)),
        "social" => Some(values(&f.social)),
        _ => None,
    }
}

pub async fn history(
    store: &Store,
    actor: Actor,
    id: SuggestionId,
) -> ServiceResult<Vec<HistoryEntry>> {
    visible(store, actor, id, Role::Viewer).await?;
    let entries = store.suggestion_history(id).await?;
    audit(
        store,
        actor,
        AuditAction::SuggestionHistory,
        AuditObject::Suggestion,
        Some(id.0),
        None,
    )
    .await?;
    Ok(entries)
}
