//! Replacing the password of an IMAP mailbox in place (`/mailboxes/{id}/password`): after the
//! password was changed at the mail provider, or when the mailbox "needs attention" because the
//! server refused the login. The new password is tested against the server first; only then does
//! it replace the sealed one (the old one is wiped) and the watcher retries at once, from the
//! folders' stored cursors, so nothing that arrived meanwhile is skipped. The work is
//! `service::mailboxes::replace_password`'s; the API has the same (`PUT …/password`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::{PageError, Visitor, html};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::{self, ServiceError};
use crate::store::MailboxId;

#[derive(Template)]
#[template(path = "mailbox_password.html")]
struct PasswordPage {
    csrf: String,
    id: i64,
    address: String,
    error: Option<String>,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

async fn page(
    state: &AppState,
    visitor: Visitor,
    id: i64,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mailbox =
        service::mailboxes::get_mailbox(&state.store, visitor.actor, MailboxId(id)).await?;
    let mut response = html(&PasswordPage {
        org_admin: visitor.org_admin,
        csrf: visitor.csrf,
        id,
        address: mailbox.address,
        error,
    })?;
    *response.status_mut() = status;
    Ok(response)
}

pub async fn show(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    page(&state, visitor, id, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

impl Drop for PasswordForm {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

pub async fn replace(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let password = SecretString::from(form.password.clone());
    match service::mailboxes::replace_password(
        &state.store,
        &state.vault,
        &state.imap,
        visitor.actor,
        MailboxId(id),
        Some(password),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/mailboxes/{id}")).into_response()),
        Err(ServiceError::LinkFailed {
            reason,
            tls_untrusted,
            ..
        }) => {
            let text = service::error::link_failure_text(&reason, tls_untrusted);
            page(&state, visitor, id, Some(text), StatusCode::BAD_REQUEST).await
        }
        Err(ServiceError::Validation(fields)) => {
            let text = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            page(&state, visitor, id, Some(text), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}
