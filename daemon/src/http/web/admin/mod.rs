//! The org admin's pages under `/admin`: one section per thing an organisation administers
//! (accounts, and whatever [`SECTIONS`] lists), with a small navigation of their own.
//!
//! Every handler here takes the [`OrgAdmin`] extractor, so a request that is not an org admin's
//! never reaches it (a signed-out visitor goes to the sign-in page, anyone else gets 403). What
//! an admin may do is the service's (`service::org`); the pages only show and post forms, which
//! work without JavaScript and carry the session's CSRF token like every other form.

mod audit;
mod blocklist;
mod health;
mod microsoft;
mod notifications;
mod offboard;
mod users;

use askama::Template;
use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};

use super::render::{PageError, html};
use crate::http::app::AppState;
use crate::http::auth::{self, OrgAdmin};

/// One section of the admin pages: where it is and what it is for.
pub struct Section {
    /// The nav's key for `aria-current` and the section's path under `/admin`.
    pub key: &'static str,
    pub path: &'static str,
    pub title: &'static str,
    pub summary: &'static str,
}

/// The admin sections, in the order the navigation and the landing page show them.
pub const SECTIONS: &[Section] = &[
    Section {
        key: "users",
        path: users::PATH,
        title: "Users",
        summary: "Who has an account, who is an admin, two-step verification; invite by e-mail, disable, enable, reset a second factor, offboard a person who leaves.",
    },
    Section {
        key: "mailboxes",
        path: health::PATH,
        title: "Mailboxes",
        summary: "Every linked mailbox: whose it is, whether it works, needs attention or is reconnecting, and why; the last message read.",
    },
    Section {
        key: "blocklist",
        path: blocklist::PATH,
        title: "Sender blocklist",
        summary: "Domains and addresses whose mail never becomes a suggestion, in any mailbox; in force for the next message.",
    },
    Section {
        key: "notifications",
        path: notifications::PATH,
        title: "Failed notifications",
        summary: "Notifications the mail server refused for good: queue one again or drop it.",
    },
    Section {
        key: "microsoft-365",
        path: microsoft::PATH,
        title: "Microsoft 365",
        summary: "Grant access for the organisation once, then link mail-enabled groups: their members' mailboxes are linked and unlinked as people join and leave.",
    },
    Section {
        key: "audit",
        path: audit::PATH,
        title: "Audit log",
        summary: "Who did what and when, filtered by person, action, object and time; export as CSV.",
    },
];

/// The admin navigation of a page: which section is the current one (`""` for the landing).
pub struct AdminNav {
    pub current: &'static str,
    pub csrf: String,
}

impl AdminNav {
    fn new(admin: &OrgAdmin, current: &'static str) -> Result<AdminNav, PageError> {
        let session = admin.user.session().ok_or(PageError::SignIn)?;
        Ok(AdminNav {
            current,
            csrf: auth::csrf_token(session).to_owned(),
        })
    }

    pub fn sections(&self) -> &'static [Section] {
        SECTIONS
    }
}

/// Every admin page route, merged into the pages' router (same headers, auth and CSRF).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(landing))
        .route(users::PATH, get(users::page))
        .route("/admin/users/invite", post(users::invite))
        .route("/admin/users/{id}/disable", post(users::disable))
        .route("/admin/users/{id}/enable", post(users::enable))
        .route(
            "/admin/users/{id}/offboard",
            get(offboard::page).post(offboard::submit),
        )
        .route(
            "/admin/users/{id}/reset-second-factor",
            post(users::reset_second_factor),
        )
        .route(health::PATH, get(health::page))
        .route(blocklist::PATH, get(blocklist::page).post(blocklist::add))
        .route("/admin/blocklist/{id}/remove", post(blocklist::remove))
        .route(notifications::PATH, get(notifications::page))
        .route(
            "/admin/notifications/{id}/retry",
            post(notifications::retry),
        )
        .route(
            "/admin/notifications/{id}/drop",
            post(notifications::discard),
        )
        .route(microsoft::PATH, get(microsoft::page))
        .route("/admin/microsoft-365/consent", post(microsoft::consent))
        .route("/admin/microsoft-365/groups", post(microsoft::link))
        .route(
            "/admin/microsoft-365/groups/{id}/unlink",
            post(microsoft::unlink),
        )
        .route("/admin/microsoft-365/users", post(microsoft::link_user))
        .route(
            "/admin/microsoft-365/users/{id}/unlink",
            post(microsoft::unlink_user),
        )
        .route(audit::PATH, get(audit::page))
        .route("/admin/audit/export.csv", get(audit::export))
}

#[derive(Template)]
#[template(path = "admin/index.html")]
struct Landing {
    nav: AdminNav,
}

async fn landing(admin: OrgAdmin) -> Result<Response, PageError> {
    html(&Landing {
        nav: AdminNav::new(&admin, "")?,
    })
}
