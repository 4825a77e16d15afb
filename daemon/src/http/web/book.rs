//! A list's address book page (owner): the connected CardDAV book and how it stands, connecting
//! one (server or book URL, user name, password, an optional CA), and disconnecting it behind a
//! confirmation. Everything goes through `service::books`, so the page refuses what the API
//! refuses, in the same words.

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
use crate::service::{self as services, ServiceError};
use crate::store::{BookStatus, ListId};

/// The connected book as shown.
pub struct BookRow {
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

#[derive(Default)]
struct Rendered {
    notice: String,
    typed_url: String,
    typed_user: String,
    errors: Vec<String>,
}

fn status_words(status: BookStatus, reason: Option<&str>) -> String {
    match (status, reason) {
        (BookStatus::Ok, _) => "in working order".to_owned(),
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
    let book = current.book.map(|b| BookRow {
        status: status_words(b.status, b.status_reason.as_deref()),
        last_read: b
            .last_sync_at
            .map_or_else(|| "not yet".to_owned(), super::webhooks::utc),
        url: b.url,
        name: b.name.unwrap_or_default(),
        user: b.user,
        entries: b.entries,
    });
    let refused = !r.errors.is_empty();
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
