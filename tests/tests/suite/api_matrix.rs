//! The authorization matrix: every route of the API (as listed in its OpenAPI document) against
//! every kind of caller: the list's owner, an editor, a viewer, a stranger (another user, for
//! whom the owner's objects must be "not found"), anonymous, a bad token and a revoked token.
//! The expected statuses are a table; a route without a row, or a row without a route, fails.
//! Runs on SQLite and on PostgreSQL.

use crate::api_support;

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};
use api_support::{App, Auth, BACKENDS, Backend, World};
use axum::http::Method;
use serde_json::json;

/// Who calls, in the order the row's calls are made (the owner last: some of its calls delete).
const CALLERS: [&str; 7] = [
    "anonymous",
    "bad",
    "revoked",
    "stranger",
    "viewer",
    "editor",
    "owner",
];

/// Expected status per caller, in [`CALLERS`] order.
struct Row {
    method: &'static str,
    path: &'static str,
    body: fn(&World) -> Option<serde_json::Value>,
    expect: [u16; 7],
}

fn none(_: &World) -> Option<serde_json::Value> {
    None
}

const A: u16 = 401; // unauthenticated
const NF: u16 = 404;
const FB: u16 = 403;

fn rows() -> Vec<Row> {
    let mut rows = vec![
        // Public: signing in with a wrong password is a validation error, but a bad or revoked
        // token is refused before anything else.
        Row {
            method: "POST",
            path: "/api/v1/session",
            body: |w| Some(json!({"email": w.owner.0.email, "password": "wrong password!"})),
            expect: [400, A, A, 400, 400, 400, 400],
        },
        Row {
            method: "DELETE",
            path: "/api/v1/session",
            body: none,
            expect: [A, A, A, 204, 204, 204, 204],
        },
        Row {
            method: "GET",
            path: "/api/v1/openapi.json",
            body: none,
            expect: [200, A, A, 200, 200, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/me",
            body: none,
            expect: [A, A, A, 200, 200, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/me/tokens",
            body: none,
            expect: [A, A, A, 200, 200, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/me/tokens",
            body: |_| Some(json!({"label": "ci"})),
            expect: [A, A, A, 201, 201, 201, 201],
        },
        Row {
            method: "DELETE",
            path: "/api/v1/me/tokens/{token}",
            body: none,
            expect: [A, A, A, NF, NF, NF, 204],
        },
        // A wrong current password is a field error, for everyone who may try at all.
        Row {
            method: "PUT",
            path: "/api/v1/me/password",
            body: |_| {
                Some(
                    json!({"current_password": "wrong password!", "new_password": "a brand new password"}),
                )
            },
            expect: [A, A, A, 400, 400, 400, 400],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists",
            body: none,
            expect: [A, A, A, 200, 200, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/lists",
            body: |_| Some(json!({"name": "New"})),
            expect: [A, A, A, 201, 201, 201, 201],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "PATCH",
            path: "/api/v1/lists/{list}",
            body: |_| Some(json!({"name": "Renamed"})),
            expect: [A, A, A, NF, FB, FB, 200],
        },
        // Deleting a list is the owner's; the world's mailbox still delivers into it, so even
        // the owner gets 409 (the deletion itself is tested in api.rs).
        Row {
            method: "DELETE",
            path: "/api/v1/lists/{list}",
            body: none,
            expect: [A, A, A, NF, FB, FB, 409],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/members",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/lists/{list}/members",
            body: |w| Some(json!({"email": w.stranger.0.email, "role": "viewer"})),
            expect: [A, A, A, NF, FB, FB, 200],
        },
        Row {
            method: "DELETE",
            path: "/api/v1/lists/{list}/members/{viewer}",
            body: none,
            expect: [A, A, A, NF, FB, FB, 204],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/suggestions",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/export.vcf",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/export.csv",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/changes",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/mailboxes",
            body: none,
            expect: [A, A, A, 200, 200, 200, 200],
        },
        // Without a password the form is invalid (400), but only for callers who may edit the list.
        Row {
            method: "POST",
            path: "/api/v1/mailboxes/imap",
            body: |w| {
                Some(json!({"list": w.list.0, "host": "127.0.0.1", "username": "u@example.test"}))
            },
            expect: [A, A, A, NF, FB, 400, 400],
        },
        // IMAP by OAuth: authorization first; this world has no mail OAuth provider, so the
        // provider named is not one (400).
        Row {
            method: "POST",
            path: "/api/v1/mailboxes/imap-oauth",
            body: |w| {
                Some(
                    json!({"provider": "none", "list": w.list.0, "host": "127.0.0.1", "username": "u@example.test"}),
                )
            },
            expect: [A, A, A, NF, FB, 400, 400],
        },
        // Microsoft 365 linking: authorization first; this world has no [graph], hence 503.
        Row {
            method: "POST",
            path: "/api/v1/mailboxes/microsoft",
            body: |w| Some(json!({"list": w.list.0})),
            expect: [A, A, A, NF, FB, 503, 503],
        },
        // A mailbox belongs to its owner alone: an editor of its list does not see it either.
        Row {
            method: "GET",
            path: "/api/v1/mailboxes/{mailbox}",
            body: none,
            expect: [A, A, A, NF, NF, NF, 200],
        },
        Row {
            method: "PUT",
            path: "/api/v1/mailboxes/{mailbox}/exclusions",
            body: |_| Some(json!({"domains": ["spam.example"]})),
            expect: [A, A, A, NF, NF, NF, 200],
        },
        Row {
            method: "PUT",
            path: "/api/v1/mailboxes/{mailbox}/list",
            body: |w| Some(json!({"list": w.list.0})),
            expect: [A, A, A, NF, NF, NF, 200],
        },
        // The world's mailbox has no usable settings: the owner gets past authorization to a
        // field error (no password given), everyone else is "not found".
        Row {
            method: "PUT",
            path: "/api/v1/mailboxes/{mailbox}/password",
            body: |_| Some(json!({})),
            expect: [A, A, A, NF, NF, NF, 400],
        },
        Row {
            method: "GET",
            path: "/api/v1/mailboxes/{mailbox}/status",
            body: none,
            expect: [A, A, A, NF, NF, NF, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/mailboxes/{mailbox}/pause",
            body: none,
            expect: [A, A, A, NF, NF, NF, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/mailboxes/{mailbox}/resume",
            body: none,
            expect: [A, A, A, NF, NF, NF, 200],
        },
        Row {
            method: "DELETE",
            path: "/api/v1/mailboxes/{mailbox}",
            body: none,
            expect: [A, A, A, NF, NF, NF, 204],
        },
        Row {
            method: "GET",
            path: "/api/v1/suggestions/{suggestion}",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/suggestions/{suggestion}/accept",
            body: none,
            expect: [A, A, A, NF, FB, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/suggestions/{suggestion}/dismiss",
            body: none,
            expect: [A, A, A, NF, FB, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/suggestions/{suggestion}/merge",
            body: |_| {
                Some(json!({"fields": [{"field": "title", "choice": "typed", "value": "CEO"}]}))
            },
            expect: [A, A, A, NF, FB, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/suggestions/{suggestion}/history",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        // Change suggestions: viewers read them, editors decide (the same decision again is
        // answered unchanged, so the owner after the editor is 200 too).
        Row {
            method: "GET",
            path: "/api/v1/suggestions/{suggestion}/changes",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/change-suggestions/{change}/accept",
            body: none,
            expect: [A, A, A, NF, FB, 200, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/change-suggestions/{change}/dismiss",
            body: none,
            expect: [A, A, A, NF, FB, 200, 200],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/auto-accept",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "PUT",
            path: "/api/v1/lists/{list}/auto-accept",
            body: |_| Some(json!({"mode": "dry_run", "threshold": 0.9})),
            expect: [A, A, A, NF, FB, FB, 200],
        },
        Row {
            method: "DELETE",
            path: "/api/v1/suggestions/{suggestion}",
            body: none,
            expect: [A, A, A, NF, FB, FB, 204],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/change-alerts",
            body: none,
            expect: [A, A, A, NF, 200, 200, 200],
        },
        Row {
            method: "PUT",
            path: "/api/v1/lists/{list}/change-alerts",
            body: |_| Some(json!({"enabled": true})),
            expect: [A, A, A, NF, FB, FB, 200],
        },
        // The address book receives every accepted contact and holds the owner's credentials:
        // owner only. The owner's connect names a loopback server, which the default
        // `[address_books]` policy refuses (400) before any connection.
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/book",
            body: none,
            expect: [A, A, A, NF, FB, FB, 200],
        },
        Row {
            method: "PUT",
            path: "/api/v1/lists/{list}/book",
            body: |_| {
                Some(
                    json!({"url": "https://127.0.0.1:15232/carddav/book/", "user": "ann", "password": "a matrix password"}),
                )
            },
            expect: [A, A, A, NF, FB, FB, 400],
        },
        // Outlook contacts: owner only, and only with the owner's own Microsoft 365 mailbox;
        // the world's mailbox is an IMAP one, refused (400) before any Graph call. Without
        // `[graph]` the consent cannot start (503).
        Row {
            method: "PUT",
            path: "/api/v1/lists/{list}/book/outlook",
            body: |w| Some(json!({"mailbox": w.mailbox.0, "folder": "From mailsig"})),
            expect: [A, A, A, NF, FB, FB, 400],
        },
        Row {
            method: "POST",
            path: "/api/v1/lists/{list}/book/outlook/consent",
            body: none,
            expect: [A, A, A, NF, FB, FB, 503],
        },
        Row {
            method: "DELETE",
            path: "/api/v1/lists/{list}/book",
            body: none,
            expect: [A, A, A, NF, FB, FB, 204],
        },
        // Webhooks receive every contact of the list: owner only. The target is a documentation
        // address (192.0.2.0/24), public to the guard, never delivered to here.
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/webhooks",
            body: none,
            expect: [A, A, A, NF, FB, FB, 200],
        },
        Row {
            method: "POST",
            path: "/api/v1/lists/{list}/webhooks",
            body: |_| {
                Some(
                    json!({"url": "https://192.0.2.11/hook", "secret": "a matrix secret that is long enough"}),
                )
            },
            expect: [A, A, A, NF, FB, FB, 201],
        },
        Row {
            method: "GET",
            path: "/api/v1/lists/{list}/webhooks/{webhook}/deliveries",
            body: none,
            expect: [A, A, A, NF, FB, FB, 200],
        },
        Row {
            method: "DELETE",
            path: "/api/v1/lists/{list}/webhooks/{webhook}",
            body: none,
            expect: [A, A, A, NF, FB, FB, 204],
        },
    ];
    rows.extend(admin_rows().into_iter().map(|(row, _)| row));
    rows
}

/// The org admin's routes, with what an org admin gets. None of [`CALLERS`] is an org admin
/// (the list's owner neither): all are refused, 401 without valid credentials, 403 otherwise.
/// [`an_org_admin_passes_every_admin_route`] calls them as an admin.
fn admin_rows() -> Vec<(Row, u16)> {
    const REFUSED: [u16; 7] = [A, A, A, FB, FB, FB, FB];
    let admin = |method, path| Row {
        method,
        path,
        body: none,
        expect: REFUSED,
    };
    vec![
        // Accounts (`{user}` is the stranger).
        (admin("GET", "/api/v1/admin/users"), 200),
        (
            Row {
                body: |_| Some(json!({"email": "invited@example.test"})),
                ..admin("POST", "/api/v1/admin/users")
            },
            201,
        ),
        (admin("POST", "/api/v1/admin/users/{user}/disable"), 200),
        (admin("POST", "/api/v1/admin/users/{user}/enable"), 200),
        (
            admin("POST", "/api/v1/admin/users/{user}/reset-second-factor"),
            200,
        ),
        // The stranger's list is fed by nobody else's mailbox, so it may be deleted.
        (
            Row {
                body: |_| Some(json!({"delete_lists": true})),
                ..admin("POST", "/api/v1/admin/users/{user}/offboard")
            },
            200,
        ),
        // The organisation: the sender blocklist, mailbox health, failed notifications (the
        // world has one, `{notification}`), the audit log.
        (admin("GET", "/api/v1/admin/blocklist"), 200),
        (
            Row {
                body: |_| Some(json!({"value": "matrix.example"})),
                ..admin("POST", "/api/v1/admin/blocklist")
            },
            201,
        ),
        (admin("DELETE", "/api/v1/admin/blocklist/{entry}"), 204),
        // Microsoft 365 for the organisation: this world runs no Microsoft 365 source, so
        // linking a group or choosing a user is refused as a conflict, and `{entry}` (a blocklist
        // entry) names no group and no chosen user.
        (admin("GET", "/api/v1/admin/microsoft-365"), 200),
        (
            Row {
                body: |_| Some(json!({"group": "sales@contoso.test"})),
                ..admin("POST", "/api/v1/admin/microsoft-365/groups")
            },
            409,
        ),
        (
            admin("DELETE", "/api/v1/admin/microsoft-365/groups/{entry}"),
            404,
        ),
        (
            Row {
                body: |_| Some(json!({"user": "megan@contoso.test"})),
                ..admin("POST", "/api/v1/admin/microsoft-365/users")
            },
            409,
        ),
        (
            admin("DELETE", "/api/v1/admin/microsoft-365/users/{entry}"),
            404,
        ),
        (admin("GET", "/api/v1/admin/mailboxes"), 200),
        (admin("GET", "/api/v1/admin/notifications/failed"), 200),
        (
            admin("POST", "/api/v1/admin/notifications/{notification}/retry"),
            204,
        ),
        (
            admin("DELETE", "/api/v1/admin/notifications/{notification}"),
            204,
        ),
        (admin("GET", "/api/v1/admin/audit"), 200),
        (admin("GET", "/api/v1/admin/audit/export.csv"), 200),
    ]
}

/// `/api/v1/lists/{list}/members/{viewer}` → `/api/v1/lists/{id}/members/{user_id}`: the
/// template as the router and the OpenAPI document spell it.
fn documented(path: &str) -> String {
    path.replace("{token}", "{id}")
        .replace("{list}", "{id}")
        .replace("{mailbox}", "{id}")
        .replace("{suggestion}", "{id}")
        .replace("{change}", "{id}")
        .replace("{viewer}", "{user_id}")
        .replace("{webhook}", "{webhook_id}")
        .replace("{user}", "{id}")
        .replace("{entry}", "{id}")
        .replace("{notification}", "{id}")
}

/// An open change suggestion in the world's list: Bob's contact is accepted, then his
/// authenticated mail gives him a new title.
async fn open_change(w: &World) -> Result<i64> {
    let bob = api_support::add_suggestion(
        &w.app.store,
        w.mailbox,
        "bob@acme.example",
        &[("name", "Bob Example"), ("title", "CFO")],
    )
    .await?;
    w.app
        .store
        .set_suggestion_status(bob, mailsig_daemon::store::SuggestionStatus::Accepted)
        .await?;
    match api_support::commit_suggestion(
        &w.app.store,
        w.mailbox,
        "bob@acme.example",
        &[("name", "Bob Example"), ("title", "CEO")],
    )
    .await?
    {
        mailsig_daemon::store::CommitResult::ChangeProposed { change, .. } => Ok(change),
        other => bail!("expected a change suggestion, got {other:?}"),
    }
}

fn concrete(path: &str, w: &World, change: Option<i64>) -> String {
    path.replace("{token}", &w.spare_token.to_string())
        .replace("{list}", &w.list.0.to_string())
        .replace("{mailbox}", &w.mailbox.0.to_string())
        .replace("{suggestion}", &w.suggestion.0.to_string())
        .replace("{change}", &change.unwrap_or(0).to_string())
        .replace("{viewer}", &w.viewer.0.id.0.to_string())
        .replace("{webhook}", &w.webhook.0.to_string())
        .replace("{user}", &w.stranger.0.id.0.to_string())
        .replace("{entry}", &w.blocklist_entry.to_string())
        .replace("{notification}", &w.failed_notification.to_string())
}

fn auth_of(caller: &str, w: &World) -> Auth {
    match caller {
        "anonymous" => Auth::None,
        "bad" => Auth::Bearer(
            "msig_0000000000000000000000000000000000000000000000000000000000000000".into(),
        ),
        "revoked" => Auth::Bearer(w.revoked.clone()),
        "stranger" => Auth::Bearer(w.stranger.1.clone()),
        "viewer" => Auth::Bearer(w.viewer.1.clone()),
        "editor" => Auth::Bearer(w.editor.1.clone()),
        _ => Auth::Bearer(w.owner.1.clone()),
    }
}

/// Every `METHOD path` the OpenAPI document lists.
async fn documented_operations(app: &App) -> Result<BTreeSet<String>> {
    let reply = app
        .call(Method::GET, "/api/v1/openapi.json", &Auth::None, None)
        .await?;
    ensure!(reply.status == 200, "openapi.json: {}", reply.status);
    let doc = reply.json()?;
    let paths = doc["paths"]
        .as_object()
        .context("paths in the OpenAPI document")?;
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().context("path item")?.keys() {
            ops.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    Ok(ops)
}

#[tokio::test]
async fn every_route_has_a_matrix_row_and_every_row_a_documented_route() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let documented_ops = documented_operations(&app).await?;
    let table: BTreeSet<String> = rows()
        .iter()
        .map(|r| format!("{} {}", r.method, documented(r.path)))
        .collect();
    let router: BTreeSet<String> = mailsig_daemon::http::api::routes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    ensure!(
        router == documented_ops,
        "router vs OpenAPI: {:?}",
        router
            .symmetric_difference(&documented_ops)
            .collect::<Vec<_>>()
    );
    ensure!(
        table == documented_ops,
        "matrix vs OpenAPI: {:?}",
        table
            .symmetric_difference(&documented_ops)
            .collect::<Vec<_>>()
    );
    ensure!(table.len() == rows().len(), "duplicate rows in the matrix");
    Ok(())
}

async fn run_matrix(backend: Backend) -> Result<()> {
    let mut failures = Vec::new();
    for row in rows() {
        // A fresh world per row: the owner's successful deletes do not leak into other rows.
        let w = World::new(backend).await?;
        let change = if row.path.contains("{change}") {
            Some(open_change(&w).await?)
        } else {
            None
        };
        let path = concrete(row.path, &w, change);
        for (caller, expected) in CALLERS.iter().zip(row.expect) {
            let method: Method = row.method.parse()?;
            let reply = w
                .app
                .call(method, &path, &auth_of(caller, &w), (row.body)(&w))
                .await?;
            if reply.status.as_u16() != expected {
                failures.push(format!(
                    "{} {} as {caller}: {} (expected {expected}) {}",
                    row.method,
                    row.path,
                    reply.status,
                    reply.text()
                ));
            }
            // No answer to anyone ever carries a token hash or a stored secret.
            let text = reply.text();
            if text.contains("token_hash")
                || text.contains("password_hash")
                || text.contains("sealed")
            {
                failures.push(format!(
                    "{} {} as {caller}: secret material in the reply",
                    row.method, row.path
                ));
            }
        }
    }
    // Every answer above was also checked against the OpenAPI document (status listed for the
    // route, body valid against its schema: `api_support::App::send`); every documented route
    // was among them.
    let contract = mailsig_tests::openapi_contract::contract();
    let seen: BTreeSet<(String, String)> = contract
        .seen()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    for (method, path) in contract.routes() {
        if !seen.contains(&(method.clone(), path.clone())) {
            failures.push(format!(
                "{method} {path}: no answer checked against the document"
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{backend:?}: {} cells failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

#[tokio::test]
async fn authorization_matrix_on_sqlite() -> Result<()> {
    run_matrix(BACKENDS[0]).await
}

#[tokio::test]
async fn authorization_matrix_on_postgres() -> Result<()> {
    run_matrix(BACKENDS[1]).await
}

/// The owner, made an org admin, passes every admin route, on both stores.
#[tokio::test]
async fn an_org_admin_passes_every_admin_route() -> Result<()> {
    let mut failures = Vec::new();
    for backend in BACKENDS {
        for (row, expected) in admin_rows() {
            let w = World::new(backend).await?;
            w.app
                .store
                .set_org_role(w.owner.0.id, mailsig_daemon::domain::OrgRole::Admin)
                .await?;
            let path = concrete(row.path, &w, None);
            let method: Method = row.method.parse()?;
            let bearer = Auth::Bearer(w.owner.1.clone());
            let reply = w
                .app
                .call(method.clone(), &path, &bearer, (row.body)(&w))
                .await?;
            if reply.status.as_u16() != expected {
                failures.push(format!(
                    "{backend:?} {} {} as an org admin: {} (expected {expected}) {}",
                    row.method,
                    row.path,
                    reply.status,
                    reply.text()
                ));
            }
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// Ids of the stranger's own objects used by the owner: "not found", and nothing changes.
#[tokio::test]
async fn another_users_objects_are_not_found_and_unchanged() -> Result<()> {
    let w = World::new(Backend::Sqlite).await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let path = format!("/api/v1/lists/{}", w.stranger_list.0);
    let reply = w
        .app
        .call(
            Method::PATCH,
            &path,
            &owner,
            Some(json!({"name": "hijacked"})),
        )
        .await?;
    ensure!(reply.status == 404, "{}", reply.status);
    ensure!(reply.json()?["error"] == "not_found");
    let list = w.app.store.get_list(w.stranger_list).await?;
    ensure!(list.name == "Stranger's", "renamed to {}", list.name);
    // An id that does not exist at all answers exactly the same.
    let missing = w
        .app
        .call(
            Method::PATCH,
            "/api/v1/lists/999999",
            &owner,
            Some(json!({"name": "x"})),
        )
        .await?;
    ensure!(
        missing.status == 404 && missing.body == reply.body,
        "existing and missing ids are told apart"
    );
    Ok(())
}

/// Every unsafe route refuses a cookie-authenticated request without the CSRF token (403) and
/// accepts the same request with it (the owner's expected status from the matrix).
#[tokio::test]
async fn every_unsafe_route_needs_the_csrf_token_with_a_session() -> Result<()> {
    let mut failures = Vec::new();
    for row in rows() {
        let method: Method = row.method.parse()?;
        if matches!(method, Method::GET | Method::HEAD)
            || row.path == "/api/v1/session" && method == Method::POST
        {
            continue;
        }
        let w = World::new(Backend::Sqlite).await?;
        let phc = mailsig_daemon::http::auth::password::hash_password(zeroize::Zeroizing::new(
            "owner's password".into(),
        ))
        .await?;
        w.app
            .store
            .set_first_password_hash(w.owner.0.id, &phc)
            .await?;
        let session =
            mailsig_daemon::http::auth::sign_in(&w.app.store, &w.owner.0.email, "owner's password")
                .await?;
        let cookie = session.cookie_value().to_owned();
        let csrf = mailsig_daemon::http::auth::csrf_token(&session.session).to_owned();
        let change = if row.path.contains("{change}") {
            Some(open_change(&w).await?)
        } else {
            None
        };
        let path = concrete(row.path, &w, change);
        let without = Auth::Cookie {
            cookie: cookie.clone(),
            csrf: None,
        };
        let reply = w
            .app
            .call(method.clone(), &path, &without, (row.body)(&w))
            .await?;
        if reply.status != 403 {
            failures.push(format!(
                "{} {} without CSRF token: {}",
                row.method, row.path, reply.status
            ));
        }
        let with = Auth::Cookie {
            cookie,
            csrf: Some(csrf),
        };
        let expected = row.expect[CALLERS.len() - 1];
        let reply = w.app.call(method, &path, &with, (row.body)(&w)).await?;
        if reply.status.as_u16() != expected {
            failures.push(format!(
                "{} {} with CSRF token: {} (expected {expected})",
                row.method, row.path, reply.status
            ));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
