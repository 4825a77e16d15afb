//! Incremental export: what changed in a list's exported contacts since a cursor.
//!
//! A client keeps the `cursor` of each answer and sends it back as `since`; the answer lists the
//! contacts that entered the export's [`Scope`] (`created`), changed while in it (`changed`) or
//! left it (`deleted`: deleted, dismissed, or, by default, sent back to review) in between. The
//! first call without `since` lists every contact in scope as created. A change is delivered at
//! least once: a contact may appear again in the next answer, never be missed.
//!
//! The cursor is opaque to clients: a backend letter and a store position in hexadecimal. A
//! cursor of another backend (a restored backup on PostgreSQL) is refused, not misread.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{AuditAction, AuditObject};
use crate::store::{
    Backend, ChangeHorizon, ChangeRow, ChangeState, ListId, Role, Store, Suggestion, SuggestionId,
};

use super::export::Scope;
use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceResult, audit, require_role};

/// A contact that left the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Tombstone {
    pub id: SuggestionId,
}

/// One answer of the change feed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Changes {
    /// Send as `since` next time.
    pub cursor: String,
    pub include: &'static str,
    pub created: Vec<Suggestion>,
    pub changed: Vec<Suggestion>,
    pub deleted: Vec<Tombstone>,
}

/// The query as typed.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Query {
    pub since: Option<String>,
    pub include: Option<String>,
}

fn backend_letter(backend: Backend) -> char {
    match backend {
        Backend::Sqlite => 's',
        Backend::Postgres => 'p',
    }
}

pub fn format_cursor(backend: Backend, horizon: ChangeHorizon) -> String {
    format!("{}{:x}", backend_letter(backend), horizon.0)
}

fn parse_cursor(c: &mut Checker, backend: Backend, since: Option<&str>) -> Option<ChangeHorizon> {
    let since = since.map(str::trim).filter(|s| !s.is_empty())?;
    let parsed = since
        .strip_prefix(backend_letter(backend))
        .filter(|hex| !hex.is_empty() && hex.len() <= 16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .and_then(|n| i64::try_from(n).ok());
    if parsed.is_none() {
        c.push(
            "since",
            FieldCode::Text,
            "is not a cursor returned by this server's change feed",
        );
    }
    parsed.map(ChangeHorizon)
}

/// What happened to one suggestion between `since` and the end of its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Created,
    Changed,
    Deleted,
}

/// Sorts the suggestions of `rows` (one suggestion's rows ordered by seq) by how they moved in
/// and out of `scope` across the window that starts at `since`.
fn classify(
    rows: &[ChangeRow],
    since: Option<ChangeHorizon>,
    scope: Scope,
) -> BTreeMap<SuggestionId, Kind> {
    let in_scope = |state: ChangeState| match state {
        ChangeState::Live(status) => scope.includes(status),
        ChangeState::Deleted => false,
    };
    // (state at `since`, latest state) per suggestion.
    let mut states: BTreeMap<SuggestionId, (Option<ChangeState>, ChangeState)> = BTreeMap::new();
    for row in rows {
        let before = since.is_some_and(|s| row.position < s.0);
        let entry = states.entry(row.suggestion).or_insert((None, row.state));
        if before {
            entry.0 = Some(row.state);
        }
        entry.1 = row.state;
    }
    states
        .into_iter()
        .filter_map(|(id, (before, now))| {
            let was = before.is_some_and(in_scope);
            let is = in_scope(now);
            let kind = match (was, is) {
                (false, true) => Kind::Created,
                (true, true) => Kind::Changed,
                (true, false) => Kind::Deleted,
                (false, false) => return None,
            };
            Some((id, kind))
        })
        .collect()
}

/// `GET /api/v1/lists/{id}/changes`: viewers and up.
pub async fn since(
    store: &Store,
    actor: Actor,
    list: ListId,
    query: &Query,
) -> ServiceResult<Changes> {
    require_role(store, actor, list, Role::Viewer).await?;
    let mut c = Checker::new();
    let since = parse_cursor(&mut c, store.backend(), query.since.as_deref());
    let scope = Scope::parse(&mut c, query.include.as_deref());
    c.finish()?;

    let upto = store.change_horizon().await?;
    let since = since.map(|s| s.min(upto));
    let kinds = classify(&store.list_changes(list, since, upto).await?, since, scope);
    let mut live: BTreeMap<SuggestionId, Suggestion> = store
        .changed_suggestions(list, since, upto)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut changes = Changes {
        cursor: format_cursor(store.backend(), upto),
        include: scope.as_str(),
        created: Vec::new(),
        changed: Vec::new(),
        deleted: Vec::new(),
    };
    for (id, kind) in kinds {
        // A suggestion changed again after the horizon: its newest state is what a client
        // needs, and the next window reports it once more.
        match (kind, live.remove(&id)) {
            (Kind::Created, Some(s)) if scope.includes(s.status) => changes.created.push(s),
            (Kind::Changed, Some(s)) if scope.includes(s.status) => changes.changed.push(s),
            (Kind::Created, _) => {}
            (Kind::Changed | Kind::Deleted, _) => changes.deleted.push(Tombstone { id }),
        }
    }
    let detail = format!(
        "changes, {}, {} created, {} changed, {} deleted",
        scope.as_str(),
        changes.created.len(),
        changes.changed.len(),
        changes.deleted.len()
    );
    audit(
        store,
        actor,
        AuditAction::SuggestionExport,
        AuditObject::List,
        Some(list.0),
        Some(&detail),
    )
    .await?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SuggestionStatus::{Accepted, Dismissed, Merged, New};

    fn row(id: i64, position: i64, state: ChangeState) -> ChangeRow {
        ChangeRow {
            suggestion: SuggestionId(id),
            state,
            position,
            seq: position,
        }
    }

    #[test]
    fn moves_in_and_out_of_the_scope_are_created_changed_and_deleted() {
        use ChangeState::{Deleted, Live};
        let rows = [
            // 1: new before, accepted in the window: created.
            row(1, 1, Live(New)),
            row(1, 5, Live(Accepted)),
            // 2: accepted before, merged in the window: changed.
            row(2, 2, Live(Accepted)),
            row(2, 6, Live(Merged)),
            // 3: accepted before, deleted in the window: deleted.
            row(3, 3, Live(Accepted)),
            row(3, 7, Deleted),
            // 4: accepted before, dismissed in the window: deleted.
            row(4, 4, Live(Accepted)),
            row(4, 8, Live(Dismissed)),
            // 5: created and deleted within the window: nothing to say.
            row(5, 9, Live(Accepted)),
            row(5, 10, Deleted),
            // 6: unreviewed throughout: not in the default scope.
            row(6, 11, Live(New)),
        ];
        let since = Some(ChangeHorizon(5));
        let kinds = classify(&rows, since, Scope::Accepted);
        let expected: BTreeMap<SuggestionId, Kind> = [
            (SuggestionId(1), Kind::Created),
            (SuggestionId(2), Kind::Changed),
            (SuggestionId(3), Kind::Deleted),
            (SuggestionId(4), Kind::Deleted),
        ]
        .into();
        assert_eq!(kinds, expected);

        let all = classify(&rows, since, Scope::All);
        assert_eq!(all[&SuggestionId(1)], Kind::Changed, "new was in scope all");
        assert_eq!(all[&SuggestionId(6)], Kind::Created);
        // Without a cursor everything in scope is new to the client.
        let first = classify(&rows, None, Scope::Accepted);
        assert!(first.values().all(|k| *k == Kind::Created), "{first:?}");
        assert_eq!(first.len(), 2, "{first:?}");
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = format_cursor(Backend::Sqlite, ChangeHorizon(0x2a));
        assert_eq!(cursor, "s2a");
        let mut c = Checker::new();
        assert_eq!(
            parse_cursor(&mut c, Backend::Sqlite, Some(&cursor)),
            Some(ChangeHorizon(42))
        );
        for bad in [
            "p2a",
            "s",
            "sxyz",
            "s-1",
            "s10000000000000000",
            "ffffffffffffffff",
        ] {
            let mut c = Checker::new();
            assert_eq!(
                parse_cursor(&mut c, Backend::Sqlite, Some(bad)),
                None,
                "{bad}"
            );
            assert!(c.finish().is_err(), "{bad} accepted");
        }
        let mut c = Checker::new();
        assert_eq!(parse_cursor(&mut c, Backend::Postgres, Some(" ")), None);
        assert!(c.finish().is_ok());
    }
}
