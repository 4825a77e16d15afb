//! The JSON API under `/api/v1`: thin handlers over the service layer.
//!
//! Every route is declared once in [`routes`] with its method, path and summary; the router
//! and the OpenAPI document at `/api/v1/openapi.json` are both built from that table, so a
//! route cannot exist without being documented (and the authorization matrix test walks the
//! same document).

mod admin;
mod admin_users;
mod books;
mod changes;
pub mod error;
pub mod extract;
mod lists;
mod mailboxes;
mod me;
pub mod openapi;
pub mod schemas;
mod suggestions;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use crate::http::app::AppState;

pub use error::ApiError;

/// Largest JSON body accepted (413 above).
pub const BODY_LIMIT: usize = 64 * 1024;
/// The prefix of every route.
pub const PREFIX: &str = "/api/v1";

/// One route of the API, as documented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    /// Path in axum and OpenAPI syntax (`{id}` parameters).
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// False only for signing in and the OpenAPI document itself.
    pub authenticated: bool,
}

struct Entry {
    route: Route,
    handler: MethodRouter<AppState>,
}

fn entry(
    method: Method,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    handler: MethodRouter<AppState>,
) -> Entry {
    Entry {
        route: Route {
            method,
            path,
            summary,
            tag,
            authenticated: true,
        },
        handler,
    }
}

fn public(mut e: Entry) -> Entry {
    e.route.authenticated = false;
    e
}

/// The whole API: (route, handler) in documentation order.
fn entries() -> Vec<Entry> {
    use Method as M;
    vec![
        public(entry(
            M::POST,
            "/api/v1/session",
            "session",
            "Sign in with e-mail and password (sets the session cookie)",
            post(me::sign_in),
        )),
        entry(
            M::DELETE,
            "/api/v1/session",
            "session",
            "Sign out (ends the browser session)",
            delete(me::sign_out),
        ),
        entry(
            M::GET,
            "/api/v1/me",
            "me",
            "The signed-in user",
            get(me::show),
        ),
        entry(
            M::GET,
            "/api/v1/me/tokens",
            "me",
            "My API tokens (never their values)",
            get(me::tokens),
        ),
        entry(
            M::POST,
            "/api/v1/me/tokens",
            "me",
            "Create an API token (its value is shown once)",
            post(me::create_token),
        ),
        entry(
            M::DELETE,
            "/api/v1/me/tokens/{id}",
            "me",
            "Revoke one of my API tokens",
            delete(me::revoke_token),
        ),
        entry(
            M::PUT,
            "/api/v1/me/password",
            "me",
            "Change my password (ends all my sessions and revokes all my API tokens)",
            put(me::change_password),
        ),
        entry(
            M::GET,
            "/api/v1/lists",
            "lists",
            "Lists I own or that are shared with me",
            get(lists::index),
        ),
        entry(
            M::POST,
            "/api/v1/lists",
            "lists",
            "Create a list",
            post(lists::create),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}",
            "lists",
            "One list and my role on it",
            get(lists::show),
        ),
        entry(
            M::PATCH,
            "/api/v1/lists/{id}",
            "lists",
            "Rename a list (owner)",
            patch(lists::rename),
        ),
        entry(
            M::DELETE,
            "/api/v1/lists/{id}",
            "lists",
            "Delete a list with its suggestions and shares (owner; 409 while a mailbox delivers into it)",
            delete(lists::delete),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/members",
            "lists",
            "Members of a list and their roles",
            get(lists::members),
        ),
        entry(
            M::POST,
            "/api/v1/lists/{id}/members",
            "lists",
            "Share a list with a user as editor or viewer (owner)",
            post(lists::share),
        ),
        entry(
            M::DELETE,
            "/api/v1/lists/{id}/members/{user_id}",
            "lists",
            "Unshare a list (owner)",
            delete(lists::unshare),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/suggestions",
            "suggestions",
            "Suggestions of a list (filters status, q, mailbox; cursor paging)",
            get(lists::suggestions),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/change-alerts",
            "suggestions",
            "Change alerts of accepted contacts (\"Jane Doe: new title\"), with date and sender authentication",
            get(lists::change_alerts),
        ),
        entry(
            M::PUT,
            "/api/v1/lists/{id}/change-alerts",
            "suggestions",
            "Turn the list's change alerts on or off (owner)",
            put(lists::set_change_alerts),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/auto-accept",
            "lists",
            "Auto-accept of the list: mode, threshold, the expected error rate at it (from the calibrated confidences of the list's recent authenticated suggestions) and what a dry run would have accepted",
            get(lists::auto_accept),
        ),
        entry(
            M::PUT,
            "/api/v1/lists/{id}/auto-accept",
            "lists",
            "Set auto-accept: off, dry_run (mark what would be accepted) or on (accept new suggestions of authenticated senders whose every field reaches the threshold) (owner)",
            put(lists::set_auto_accept),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/export.vcf",
            "export",
            "Export a list as vCard 4.0 (accepted and merged contacts; include=all adds unreviewed ones)",
            get(lists::export_vcf),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/export.csv",
            "export",
            "Export a list as CSV (accepted and merged contacts; include=all adds unreviewed ones)",
            get(lists::export_csv),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/changes",
            "export",
            "Contacts created, changed and deleted since a cursor (incremental export; include as for the exports)",
            get(lists::changes),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/webhooks",
            "webhooks",
            "The list's signed outgoing webhooks (owner; never their secrets)",
            get(webhooks::index),
        ),
        entry(
            M::POST,
            "/api/v1/lists/{id}/webhooks",
            "webhooks",
            "Add a webhook: URL, signing secret (kept in the vault, never shown again; left out, one is generated and shown in this answer only), events (owner)",
            post(webhooks::add),
        ),
        entry(
            M::DELETE,
            "/api/v1/lists/{id}/webhooks/{webhook_id}",
            "webhooks",
            "Remove a webhook with its queued deliveries, log and secret (owner)",
            delete(webhooks::remove),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/webhooks/{webhook_id}/deliveries",
            "webhooks",
            "The webhook's delivery log: the newest attempts with status code or outcome (owner)",
            get(webhooks::deliveries),
        ),
        entry(
            M::GET,
            "/api/v1/lists/{id}/book",
            "books",
            "The list's connected address book: its URL, user, state, when it was last read and how many entries the duplicate check knows (owner; never the password)",
            get(books::show),
        ),
        entry(
            M::PUT,
            "/api/v1/lists/{id}/book",
            "books",
            "Connect the list to a CardDAV address book, found from the server's address or given by its URL; the credentials are tried on it and the password kept in the vault (owner)",
            put(books::connect),
        ),
        entry(
            M::PUT,
            "/api/v1/lists/{id}/book/outlook",
            "books",
            "Connect the list to Outlook contacts: a contact folder (created if missing) of one of the owner's own linked Microsoft 365 mailboxes, whose consent must include Contacts.ReadWrite (owner)",
            put(books::connect_outlook),
        ),
        entry(
            M::POST,
            "/api/v1/lists/{id}/book/outlook/consent",
            "books",
            "Start a Microsoft 365 consent for mail and contacts, for connecting the list to Outlook contacts: the consent URL to open in a browser signed in as this user (owner)",
            post(books::outlook_consent),
        ),
        entry(
            M::DELETE,
            "/api/v1/lists/{id}/book",
            "books",
            "Disconnect the list's address book: its password and the local index go, the book stays as it is (owner)",
            delete(books::disconnect),
        ),
        entry(
            M::GET,
            "/api/v1/mailboxes",
            "mailboxes",
            "My linked mailboxes",
            get(mailboxes::index),
        ),
        entry(
            M::POST,
            "/api/v1/mailboxes/imap",
            "mailboxes",
            "Link an IMAP mailbox (the login is tested first)",
            post(mailboxes::link_imap),
        ),
        entry(
            M::POST,
            "/api/v1/mailboxes/imap-oauth",
            "mailboxes",
            "Start linking an IMAP mailbox that signs in at an OAuth provider instead of a password: returns the provider's sign-in URL, to open in a browser signed in as the same user (the callback checks the session)",
            post(mailboxes::link_imap_oauth),
        ),
        entry(
            M::POST,
            "/api/v1/mailboxes/microsoft",
            "mailboxes",
            "Start linking a Microsoft 365 mailbox: returns the consent URL, to open in a browser signed in as the same user (the callback checks the session)",
            post(mailboxes::link_microsoft),
        ),
        entry(
            M::GET,
            "/api/v1/mailboxes/{id}",
            "mailboxes",
            "One of my mailboxes (never its password)",
            get(mailboxes::show),
        ),
        entry(
            M::DELETE,
            "/api/v1/mailboxes/{id}",
            "mailboxes",
            "Unlink a mailbox (its secrets are wiped at once)",
            delete(mailboxes::unlink),
        ),
        entry(
            M::PUT,
            "/api/v1/mailboxes/{id}/exclusions",
            "mailboxes",
            "Replace the excluded sender domains",
            put(mailboxes::exclusions),
        ),
        entry(
            M::PUT,
            "/api/v1/mailboxes/{id}/list",
            "mailboxes",
            "Choose the list that receives the suggestions",
            put(mailboxes::set_list),
        ),
        entry(
            M::PUT,
            "/api/v1/mailboxes/{id}/password",
            "mailboxes",
            "Replace an IMAP mailbox's password (the login is tested first; the old one is wiped)",
            put(mailboxes::replace_password),
        ),
        entry(
            M::POST,
            "/api/v1/mailboxes/{id}/pause",
            "mailboxes",
            "Stop watching one of my mailboxes until it is resumed",
            post(mailboxes::pause),
        ),
        entry(
            M::POST,
            "/api/v1/mailboxes/{id}/resume",
            "mailboxes",
            "Watch a paused mailbox again, from where it stopped",
            post(mailboxes::resume),
        ),
        entry(
            M::GET,
            "/api/v1/mailboxes/{id}/status",
            "mailboxes",
            "Health, counters, skip reasons, last activity",
            get(mailboxes::status),
        ),
        entry(
            M::GET,
            "/api/v1/suggestions/{id}",
            "suggestions",
            "One suggestion",
            get(suggestions::show),
        ),
        entry(
            M::DELETE,
            "/api/v1/suggestions/{id}",
            "suggestions",
            "Erase a suggestion for good, with its history (the list's owner; a data subject's erasure request)",
            delete(suggestions::erase),
        ),
        entry(
            M::POST,
            "/api/v1/suggestions/{id}/accept",
            "suggestions",
            "Accept a suggestion (editor)",
            post(suggestions::accept),
        ),
        entry(
            M::POST,
            "/api/v1/suggestions/{id}/dismiss",
            "suggestions",
            "Dismiss a suggestion (editor)",
            post(suggestions::dismiss),
        ),
        entry(
            M::POST,
            "/api/v1/suggestions/{id}/merge",
            "suggestions",
            "Merge with a per-field choice: take_new, keep_old, typed, keep or book (editor)",
            post(suggestions::merge),
        ),
        entry(
            M::GET,
            "/api/v1/suggestions/{id}/history",
            "suggestions",
            "Field history of a suggestion",
            get(suggestions::history),
        ),
        entry(
            M::GET,
            "/api/v1/suggestions/{id}/changes",
            "suggestions",
            "Open change suggestions of an accepted contact: field differences proposed by authenticated mail, old values kept",
            get(changes::open_for),
        ),
        entry(
            M::POST,
            "/api/v1/change-suggestions/{id}/accept",
            "suggestions",
            "Accept a change suggestion: the contact takes the new values, the old ones go to its history (editor)",
            post(changes::accept),
        ),
        entry(
            M::POST,
            "/api/v1/change-suggestions/{id}/dismiss",
            "suggestions",
            "Dismiss a change suggestion: the contact keeps its values (editor)",
            post(changes::dismiss),
        ),
        // Org administration: accounts.
        entry(
            M::GET,
            "/api/v1/admin/users",
            "admin",
            "Every account with role, state, two-step verification, last sign-in and mailbox count (org admin)",
            get(admin_users::list),
        ),
        entry(
            M::POST,
            "/api/v1/admin/users",
            "admin",
            "Invite a person by e-mail: the account exists at once, the invitation mail with a one-time link is queued (org admin)",
            post(admin_users::invite),
        ),
        entry(
            M::POST,
            "/api/v1/admin/users/{id}/disable",
            "admin",
            "Disable an account: sign-in refused, its sessions and API tokens end (org admin)",
            post(admin_users::disable),
        ),
        entry(
            M::POST,
            "/api/v1/admin/users/{id}/enable",
            "admin",
            "Let a disabled account sign in again (org admin)",
            post(admin_users::enable),
        ),
        entry(
            M::POST,
            "/api/v1/admin/users/{id}/offboard",
            "admin",
            "Offboard a person who leaves: mailboxes stopped, credentials wiped, lists handed over or deleted, account disabled (org admin)",
            post(admin_users::offboard),
        ),
        entry(
            M::POST,
            "/api/v1/admin/users/{id}/reset-second-factor",
            "admin",
            "Turn off an account's two-step verification (org admin)",
            post(admin_users::reset_second_factor),
        ),
        // Org administration: the blocklist, mailbox health, notifications, the audit log.
        entry(
            M::GET,
            "/api/v1/admin/blocklist",
            "admin",
            "The org-wide sender blocklist: domains (with their subdomains) and addresses whose mail no mailbox turns into suggestions (org admin)",
            get(admin::blocklist::index),
        ),
        entry(
            M::POST,
            "/api/v1/admin/blocklist",
            "admin",
            "Add a domain or an address to the blocklist; running pipelines apply it to the next message (org admin)",
            post(admin::blocklist::add),
        ),
        entry(
            M::DELETE,
            "/api/v1/admin/blocklist/{id}",
            "admin",
            "Remove an entry from the blocklist (org admin)",
            delete(admin::blocklist::remove),
        ),
        entry(
            M::GET,
            "/api/v1/admin/microsoft-365",
            "admin",
            "The organisation's Microsoft 365 tenant: the admin consent (tenant, when, by whom) and the linked groups with how many members' mailboxes are linked (org admin)",
            get(admin::microsoft::index),
        ),
        entry(
            M::POST,
            "/api/v1/admin/microsoft-365/groups",
            "admin",
            "Link a mail-enabled group by e-mail address or id: its members' mailboxes are linked app-only and follow its membership; needs the admin consent (org admin)",
            post(admin::microsoft::link),
        ),
        entry(
            M::DELETE,
            "/api/v1/admin/microsoft-365/groups/{id}",
            "admin",
            "Unlink a group: the mailboxes linked for its members (and no other linked group) are unlinked and wiped (org admin)",
            delete(admin::microsoft::unlink),
        ),
        entry(
            M::POST,
            "/api/v1/admin/microsoft-365/users",
            "admin",
            "Choose a person of the tenant by e-mail address or id: their mailbox is linked app-only as a group member's is; an unknown user is refused on the field `user`; needs the admin consent (org admin)",
            post(admin::microsoft::link_user),
        ),
        entry(
            M::DELETE,
            "/api/v1/admin/microsoft-365/users/{id}",
            "admin",
            "Unlink a chosen user: their mailbox is unlinked and wiped unless a linked group still counts them as a member (org admin)",
            delete(admin::microsoft::unlink_user),
        ),
        entry(
            M::GET,
            "/api/v1/admin/mailboxes",
            "admin",
            "Every mailbox of the organisation with its owner, list, status and reason, reconnecting since, last message read and messages waiting (org admin)",
            get(admin::org::mailboxes),
        ),
        entry(
            M::GET,
            "/api/v1/admin/notifications/failed",
            "admin",
            "Notifications that failed for good, newest first: kind, recipient, attempts, the reason (never the message) (org admin)",
            get(admin::org::failed_notifications),
        ),
        entry(
            M::POST,
            "/api/v1/admin/notifications/{id}/retry",
            "admin",
            "Queue a failed notification again, due now (org admin)",
            post(admin::org::retry_notification),
        ),
        entry(
            M::DELETE,
            "/api/v1/admin/notifications/{id}",
            "admin",
            "Drop a failed notification (org admin)",
            delete(admin::org::drop_notification),
        ),
        entry(
            M::GET,
            "/api/v1/admin/audit",
            "admin",
            "The audit log, newest first, filtered by actor, action, object and time; paged with before (org admin)",
            get(admin::org::audit_log),
        ),
        entry(
            M::GET,
            "/api/v1/admin/audit/export.csv",
            "admin",
            "The audit log as CSV, with the same filters (the export is audited) (org admin)",
            get(admin::org::audit_export),
        ),
        public(entry(
            M::GET,
            "/api/v1/openapi.json",
            "meta",
            "This OpenAPI document",
            get(openapi::serve),
        )),
    ]
}

/// Every route of the API (for the OpenAPI document and the tests).
pub fn routes() -> Vec<Route> {
    entries().into_iter().map(|e| e.route).collect()
}

/// The `/api/v1` router. Unknown paths under the prefix answer in the API's error format.
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for e in entries() {
        match by_path.iter_mut().find(|(p, _)| *p == e.route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(e.handler),
            None => by_path.push((e.route.path, e.handler)),
        }
    }
    for (path, handler) in by_path {
        router = router.route(
            path,
            handler.fallback(|| async { ApiError::MethodNotAllowed }),
        );
    }
    // Unknown paths under `/api` answer in the API's JSON error format (404), not with a page.
    let no_route = || axum::routing::any(|| async { ApiError::NoRoute });
    router
        .route("/api", no_route())
        .route("/api/{*rest}", no_route())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}
