//! Erasing one suggestion for good (a data subject's request) through the API, on SQLite and
//! PostgreSQL: only the list's owner may; the row, its field history and its change proposals
//! are gone at once (not after the retention period); the change feed keeps an id-only
//! tombstone; the audit entry names the id and nothing of the erased values.

use crate::api_support;

use anyhow::{Result, ensure};
use api_support::{Auth, BACKENDS, World};
use axum::http::Method;
use mailsig_daemon::domain::AuditAction;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_erases_a_suggestion_and_nothing_of_it_remains_but_its_id() -> Result<()> {
    for backend in BACKENDS {
        let w = World::new(backend).await?;
        let owner = Auth::Bearer(w.owner.1.clone());
        let editor = Auth::Bearer(w.editor.1.clone());
        let path = format!("/api/v1/suggestions/{}", w.suggestion.0);
        // A typed edit gives the suggestion a field history holding values.
        let merged = w
            .app
            .call(
                Method::POST,
                &format!("{path}/merge"),
                &owner,
                Some(json!({"fields": [{"field": "title", "choice": "typed", "value": "Chief Erasable Officer"}]})),
            )
            .await?;
        ensure!(
            merged.status.as_u16() == 200,
            "{backend:?} merge: {}",
            merged.text()
        );
        ensure!(
            !w.app
                .store
                .suggestion_history(w.suggestion)
                .await?
                .is_empty(),
            "{backend:?}: no history to erase"
        );

        // An editor may not erase.
        let refused = w.app.call(Method::DELETE, &path, &editor, None).await?;
        ensure!(
            refused.status.as_u16() == 403,
            "{backend:?} editor: {}",
            refused.status
        );

        let erased = w.app.call(Method::DELETE, &path, &owner, None).await?;
        ensure!(
            erased.status.as_u16() == 204,
            "{backend:?} erase: {}",
            erased.text()
        );
        ensure!(
            w.app.store.get_suggestion(w.suggestion).await.is_err(),
            "{backend:?}: the row is still there"
        );
        ensure!(
            w.app
                .store
                .suggestion_history(w.suggestion)
                .await
                .map(|h| h.is_empty())
                .unwrap_or(true),
            "{backend:?}: the history is still there"
        );
        let again = w.app.call(Method::GET, &path, &owner, None).await?;
        ensure!(
            again.status.as_u16() == 404,
            "{backend:?} read after erase: {}",
            again.status
        );

        // The change feed tells exporters to delete it, by id.
        let changes = w
            .app
            .call(
                Method::GET,
                &format!("/api/v1/lists/{}/changes", w.list.0),
                &owner,
                None,
            )
            .await?;
        let feed = changes.text();
        ensure!(
            changes.status.as_u16() == 200 && feed.contains("deleted"),
            "{backend:?} feed: {feed}"
        );
        ensure!(
            !feed.contains("Chief Erasable Officer") && !feed.contains("ann@acme.example"),
            "{backend:?}: the feed still carries erased values"
        );

        // Audited by id, without values.
        let audit = w.app.store.audit_log(100).await?;
        let entry = audit
            .iter()
            .find(|e| e.action == AuditAction::SuggestionErase)
            .ok_or_else(|| anyhow::anyhow!("{backend:?}: no erase entry"))?;
        ensure!(
            entry.actor == Some(w.owner.0.id)
                && entry.object_id == Some(w.suggestion.0)
                && entry.detail.is_none(),
            "{backend:?}: {entry:?}"
        );
    }
    Ok(())
}
