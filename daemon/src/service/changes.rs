//! Change suggestions and change alerts of a list: what authenticated mail said that differs from
//! an accepted contact (`store::changes`). Viewers read them; editors accept or dismiss them in
//! the merge view; the list's owner turns its change alerts on or off. Every decision is audited
//! (ids only).

use crate::domain::{AuditAction, AuditObject, SenderAuth};
use crate::store::{ChangeStatus, ChangeSuggestion, FieldDiff, ListId, Role, Store, SuggestionId};

use super::{Actor, ServiceError, ServiceResult, audit, require_role};

/// One change suggestion as the API and the CLI show it (`ChangeSuggestion` in the OpenAPI
/// document): the store's row with its alert line.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChangeItem {
    pub id: i64,
    pub suggestion: i64,
    pub contact_name: Option<String>,
    /// "Jane Doe: new title".
    pub line: String,
    pub diff: Vec<FieldDiff>,
    pub sender_auth: SenderAuth,
    pub status: ChangeStatus,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl From<ChangeSuggestion> for ChangeItem {
    fn from(c: ChangeSuggestion) -> ChangeItem {
        ChangeItem {
            line: c.alert_line(),
            id: c.id,
            suggestion: c.suggestion.0,
            contact_name: c.contact_name,
            diff: c.diff,
            sender_auth: c.sender_auth,
            status: c.status,
            created_at: c.created_at,
            decided_at: c.decided_at,
        }
    }
}

/// The open change suggestions of one contact, for its merge view.
pub async fn open_for(
    store: &Store,
    actor: Actor,
    suggestion: SuggestionId,
) -> ServiceResult<Vec<ChangeSuggestion>> {
    let contact = match store.get_suggestion(suggestion).await {
        Err(e) if e.is_not_found() => return Err(ServiceError::NotFound { what: "suggestion" }),
        other => other?,
    };
    require_role(store, actor, contact.list, Role::Viewer).await?;
    Ok(store
        .list_change_suggestions(contact.list, Some(ChangeStatus::Open))
        .await?
        .into_iter()
        .filter(|c| c.suggestion == suggestion)
        .collect())
}

/// Accepts (the contact takes the new values) or dismisses a change suggestion (editors).
pub async fn decide(
    store: &Store,
    books: &crate::books::worker::Wake,
    actor: Actor,
    change: i64,
    accept: bool,
) -> ServiceResult<ChangeSuggestion> {
    let found = match store.get_change_suggestion(change).await {
        Err(e) if e.is_not_found() => {
            return Err(ServiceError::NotFound {
                what: "change suggestion",
            });
        }
        other => other?,
    };
    match require_role(store, actor, found.list, Role::Editor).await {
        Err(ServiceError::NotFound { .. }) => {
            return Err(ServiceError::NotFound {
                what: "change suggestion",
            });
        }
        other => other?,
    };
    let decided = store
        .decide_change_suggestion(change, accept, actor.user())
        .await?;
    let action = if accept {
        AuditAction::SuggestionAccept
    } else {
        AuditAction::SuggestionDismiss
    };
    audit(
        store,
        actor,
        action,
        AuditObject::Suggestion,
        Some(decided.suggestion.0),
        Some("change suggestion"),
    )
    .await?;
    if accept {
        // The contact's values changed: its card in a connected book follows.
        books.poke();
    }
    Ok(decided)
}

/// The list's change suggestions, newest first; only those with `status` when given (viewers).
pub async fn of_list(
    store: &Store,
    actor: Actor,
    list: ListId,
    status: Option<ChangeStatus>,
) -> ServiceResult<Vec<ChangeSuggestion>> {
    require_role(store, actor, list, Role::Viewer).await?;
    Ok(store.list_change_suggestions(list, status).await?)
}

/// The list's change alerts, newest first (none while they are off).
pub async fn alerts(
    store: &Store,
    actor: Actor,
    list: ListId,
) -> ServiceResult<Vec<ChangeSuggestion>> {
    require_role(store, actor, list, Role::Viewer).await?;
    Ok(store.change_alerts(list).await?)
}

/// Turns the list's change alerts on or off (its owner).
pub async fn set_alerts(store: &Store, actor: Actor, list: ListId, on: bool) -> ServiceResult<()> {
    require_role(store, actor, list, Role::Owner).await?;
    Ok(store.set_change_alerts(list, on).await?)
}
