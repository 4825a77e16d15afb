//! `/admin/mailboxes`: every mailbox of the organisation with its health in words: whose it is,
//! which list it fills, whether it works, needs attention (and why) or is reconnecting (since
//! when, and why), when it last read a message, and what waits to be read. Read-only: fixing a
//! mailbox (a new password, a consent) is its owner's, on their own pages.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::AdminNav;
use crate::http::app::AppState;
use crate::http::auth::OrgAdmin;
use crate::http::web::mailbox_words;
use crate::http::web::render::{Moment, PageError, html};
use crate::service::org::health;
use crate::store::{MailboxHealthRow, MailboxKind, MailboxStatus};

/// Where the section lives.
pub const PATH: &str = "/admin/mailboxes";

struct Row {
    id: i64,
    address: String,
    kind: &'static str,
    owner: String,
    list: String,
    attention: bool,
    status: String,
    reconnecting: Option<(Moment, String)>,
    last_message: Option<Moment>,
    messages_read: i64,
    waiting: i64,
    waiting_since: Option<Moment>,
}

impl Row {
    fn new(m: MailboxHealthRow) -> Row {
        Row {
            id: m.id.0,
            kind: match m.kind {
                MailboxKind::Imap => "IMAP",
                MailboxKind::Graph => "Microsoft 365",
            },
            attention: m.status != MailboxStatus::Ok,
            status: mailbox_words::status(m.status, m.status_reason.as_deref()),
            reconnecting: m.reconnecting_since.map(|since| {
                (
                    Moment::exact(since),
                    m.reconnecting_reason.unwrap_or_default(),
                )
            }),
            last_message: m.last_message_at.map(Moment::exact),
            messages_read: m.messages_read,
            waiting: m.waiting,
            waiting_since: m.waiting_since.map(Moment::exact),
            address: m.address,
            owner: m.owner_email,
            list: m.list_name,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/mailboxes.html")]
struct HealthPage {
    nav: AdminNav,
    mailboxes: Vec<Row>,
    attention: usize,
    reconnecting: usize,
}

/// `GET /admin/mailboxes`.
pub async fn page(State(state): State<AppState>, admin: OrgAdmin) -> Result<Response, PageError> {
    let mailboxes: Vec<Row> = health::mailboxes(&state.store, admin.admin)
        .await?
        .into_iter()
        .map(Row::new)
        .collect();
    html(&HealthPage {
        nav: AdminNav::new(&admin, "mailboxes")?,
        attention: mailboxes.iter().filter(|m| m.attention).count(),
        reconnecting: mailboxes
            .iter()
            .filter(|m| m.reconnecting.is_some())
            .count(),
        mailboxes,
    })
}
