//! Where an OAuth provider sends the browser back after a user signed in there to link an
//! IMAP mailbox (`GET /oauth/imap/callback`): the link completes only with the session of the
//! user who started it (see `service::imap_oauth`), then the mailbox's page opens.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::render::PageError;
use crate::http::app::AppState;
use crate::http::auth::{CurrentUser, Via};
use crate::service::{self, ServiceError};

pub async fn callback(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let signed_in = user
        .filter(|u| matches!(u.via, Via::Session(_)))
        .map(|u| u.user_id);
    let state_param = query.get("state").map(String::as_str).unwrap_or_default();
    let code = match (query.get("code"), query.get("error")) {
        (Some(code), None) => code.as_str(),
        // Refused or failed at the provider: the pending link is used up all the same (an empty
        // code is never redeemed), and the page says nothing was linked.
        _ => "",
    };
    if code.is_empty() {
        let _ =
            service::imap_oauth::abandon_imap_oauth_link(&state.store, &state.vault, state_param)
                .await;
        return Err(
            ServiceError::Unavailable("the provider did not complete the sign-in".into()).into(),
        );
    }
    let mailbox = service::imap_oauth::complete_imap_oauth_link(
        &state.store,
        &state.vault,
        &state.imap,
        &state.settings.mail_oauth,
        signed_in,
        code,
        state_param,
    )
    .await?;
    Ok(Redirect::to(&format!("/mailboxes/{}?saved=linked", mailbox.id.0)).into_response())
}
