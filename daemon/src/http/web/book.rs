//! A list's address book page (owner): the connected book and how it stands, connecting a
//! CardDAV book (server or book URL, user name, password, an optional CA) or Outlook contacts
//! (one of the owner's linked Microsoft 365 mailboxes and a folder name; when the mailbox's
//! consent lacks contacts, a button to consent again for mail and contacts), and disconnecting
//! behind a confirmation. Everything goes through `service::books` and `service::outlook_book`,
//! so the page refuses what the API refuses, in the same words.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;

use super::render::{PageError, Visitor, html};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::books::{self as service, ConnectForm};
use crate::service::outlook_book::{self, NEEDS_CONTACTS_CONSENT, OutlookForm};
use crate::service::{self as services, ServiceError};
use crate::store::{BookStatus, ListId};

/// The connected book as shown.
pub struct BookRow {
    /// Outlook contacts (else a CardDAV book).
    pub outlook: bool,
    pub url: String,
    pub name: String,
    pub user: String,
    pub status: String,
    pub last_read: String,
    pub entries: i64,
}

#[derive(Template)]
#[template(path = "book.html")]
struct BookPage {
    /// The navigation's current page: none of its links.
    current: &'static str,
    csrf: String,
    list_id: i64,
    list_name: String,
    book: Option<BookRow>,
    notice: String,
    typed_url: String,
    typed_user: String,
    errors: Vec<String>,
    /// Microsoft 365 is configured: Outlook contacts are offered.
    outlook_offered: bool,
    /// The owner's linked Microsoft 365 mailboxes: id and address.
    outlook_mailboxes: Vec<(i64, String)>,
    typed_folder: String,
    typed_mailbox: i64,
    outlook_errors: Vec<String>,
    /// The chosen mailbox's consent lacks contacts: offer consenting again.
    needs_consent: bool,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct ConnectFields {
    #[serde(default)]
    url: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    ca_pem: String,
}

#[derive(Deserialize)]
pub struct OutlookFields {
    #[serde(default)]
    mailbox: String,
    #[serde(default)]
    folder: String,
}

#[derive(Default)]
struct Rendered {
    notice: String,
    typed_url: String,
    typed_user: String,
    errors: Vec<String>,
    typed_folder: String,
    typed_mailbox: i64,
    outlook_errors: Vec<String>,
    needs_consent: bool,
}

/// Default name of the contact folder offered.
const DEFAULT_FOLDER: &str = "From mailsig";

fn status_words(outlook: bool, status: BookStatus, reason: Option<&str>) -> String {
    match (status, reason) {
        (BookStatus::Ok, _) => "in working order".to_owned(),
        (BookStatus::NeedsAttention, Some("auth")) if outlook => {
            "needs attention: Microsoft 365 refused access to the contacts, or the mailbox was \
             unlinked; consent again for mail and contacts, or connect another mailbox"
                .to_owned()
        }
        (BookStatus::NeedsAttention, Some("not_found")) if outlook => {
            "needs attention: the contact folder is gone from Outlook; connect again to create it"
                .to_owned()
        }
        (BookStatus::NeedsAttention, Some("auth")) => {
            "needs attention: the server refused the password; connect again with the new one"
                .to_owned()
        }
        (BookStatus::NeedsAttention, Some("tls")) => {
            "needs attention: the server's certificate is not trusted".to_owned()
        }
        (BookStatus::NeedsAttention, Some("not_found")) => {
            "needs attention: the address book is gone from the server".to_owned()
        }
        (BookStatus::NeedsAttention, Some("refused_host")) => {
            "needs attention: the server's address is no longer allowed".to_owned()
        }
        (BookStatus::NeedsAttention, _) => {
            "needs attention: the server could not be reached or answered unexpectedly; it is tried again"
                .to_owned()
        }
    }
}

async fn render(
    state: &AppState,
    visitor: &Visitor,
    list: ListId,
    r: Rendered,
) -> Result<Response, PageError> {
    let found = services::lists::get_list(&state.store, visitor.actor, list).await?;
    let current = service::status(&state.store, visitor.actor, list).await?;
    let outlook_offered = state.settings.graph.is_some();
    let outlook_mailboxes = if outlook_offered {
        outlook_book::outlook_mailboxes(&state.store, visitor.actor)
            .await?
            .into_iter()
            .map(|(id, address)| (id.0, address))
            .collect()
    } else {
        Vec::new()
    };
    let book = current.book.map(|b| BookRow {
        outlook: b.kind == "outlook",
        status: status_words(b.kind == "outlook", b.status, b.status_reason.as_deref()),
        last_read: b
            .last_sync_at
            .map_or_else(|| "not yet".to_owned(), super::webhooks::utc),
        url: b.url,
        name: b.name.unwrap_or_default(),
        user: b.user,
        entries: b.entries,
    });
    let refused = !r.errors.is_empty() || !r.outlook_errors.is_empty();
    let mut response = html(&BookPage {
        current: "",
        org_admin: visitor.org_admin,
        csrf: visitor.csrf.clone(),
        list_id: found.id.0,
        list_name: found.name,
        book,
        notice: r.notice,
        typed_url: r.typed_url,
        typed_user: r.typed_user,
        errors: r.errors,
        outlook_offered,
        outlook_mailboxes,
        typed_folder: if r.typed_folder.is_empty() {
            DEFAULT_FOLDER.to_owned()
        } else {
            r.typed_folder
        },
        typed_mailbox: r.typed_mailbox,
        outlook_errors: r.outlook_errors,
        needs_consent: r.needs_consent,
    })?;
    if refused {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// `GET /lists/{id}/book`.
pub async fn page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let notice = match query.done.as_deref() {
        Some("connected") => {
            "Connected. The book is read and accepted contacts are written at the next sync."
                .to_owned()
        }
        Some("disconnected") => "Disconnected. Nothing in the address book was changed.".to_owned(),
        _ => String::new(),
    };
    render(
        &state,
        &visitor,
        ListId(id),
        Rendered {
            notice,
            ..Rendered::default()
        },
    )
    .await
}

/// `POST /lists/{id}/book`.
pub async fn connect(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<ConnectFields>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let connected = service::connect(
        &state.store,
        &state.vault,
        &state.books,
        &state.book_wake,
        visitor.actor,
        ListId(id),
        ConnectForm {
            url: Some(form.url.clone()),
            user: Some(form.user.clone()),
            password: Some(SecretString::from(form.password)),
            ca_pem: Some(form.ca_pem),
        },
    )
    .await;
    match connected {
        Ok(_) => Ok(Redirect::to(&format!("/lists/{id}/book?done=connected")).into_response()),
        Err(ServiceError::Validation(fields)) => {
            let errors = fields
                .into_iter()
                .map(|f| format!("{}: {}", label(&f.field), f.message))
                .collect();
            render(
                &state,
                &visitor,
                ListId(id),
                Rendered {
                    typed_url: form.url,
                    typed_user: form.user,
                    errors,
                    ..Rendered::default()
                },
            )
            .await
        }
        Err(ServiceError::Unavailable(_)) => {
            render(
                &state,
                &visitor,
                ListId(id),
                Rendered {
                    typed_url: form.url,
                    typed_user: form.user,
                    errors: vec![
                        "URL: the server cannot be reached; check the address, or try again later"
                            .to_owned(),
                    ],
                    ..Rendered::default()
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn label(field: &str) -> &str {
    match field {
        "url" => "URL",
        "user" => "User name",
        "password" => "Password",
        "ca_pem" => "Certificate authority",
        other => other,
    }
}

/// `POST /lists/{id}/book/disconnect`.
pub async fn disconnect(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::disconnect(&state.store, visitor.actor, ListId(id)).await?;
    Ok(Redirect::to(&format!("/lists/{id}/book?done=disconnected")).into_response())
}

fn outlook_label(field: &str) -> &str {
    match field {
        "mailbox" => "Mailbox",
        "folder" => "Contact folder",
        other => other,
    }
}

/// `POST /lists/{id}/book/outlook`.
pub async fn connect_outlook(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<OutlookFields>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let mailbox = form.mailbox.trim().parse::<i64>().ok();
    let connected = outlook_book::connect_outlook(
        &state.store,
        &state.vault,
        state.settings.graph.as_deref(),
        &state.book_wake,
        visitor.actor,
        ListId(id),
        OutlookForm {
            mailbox,
            folder: Some(form.folder.clone()),
        },
    )
    .await;
    let (outlook_errors, needs_consent) = match connected {
        Ok(_) => {
            return Ok(Redirect::to(&format!("/lists/{id}/book?done=connected")).into_response());
        }
        Err(ServiceError::Validation(fields)) => {
            let needs_consent = fields.iter().any(|f| f.message == NEEDS_CONTACTS_CONSENT);
            let errors = fields
                .into_iter()
                .map(|f| format!("{}: {}", outlook_label(&f.field), f.message))
                .collect();
            (errors, needs_consent)
        }
        Err(ServiceError::Unavailable(reason)) => (
            vec![format!("Microsoft 365: {reason}; try again later")],
            false,
        ),
        Err(e) => return Err(e.into()),
    };
    render(
        &state,
        &visitor,
        ListId(id),
        Rendered {
            typed_folder: form.folder,
            typed_mailbox: mailbox.unwrap_or_default(),
            outlook_errors,
            needs_consent,
            ..Rendered::default()
        },
    )
    .await
}

/// `POST /lists/{id}/book/outlook/consent`: on to Microsoft's consent for mail and contacts.
pub async fn outlook_consent(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let url = outlook_book::start_contacts_consent(
        &state.store,
        &state.vault,
        state.settings.graph.as_deref(),
        visitor.actor,
        ListId(id),
        crate::sources::graph::LinkOrigin::Web,
    )
    .await?;
    // Through a page rather than a redirect: the CSP's `form-action 'self'` stops a form
    // redirected to another origin.
    html(&super::mailboxes::ContinueAtProvider {
        csrf: visitor.csrf.clone(),
        provider: "Microsoft 365".to_owned(),
        address: String::new(),
        url: url.to_string(),
        contacts: true,
        org_admin: visitor.org_admin,
    })
}
