//! `POST /users/{id|upn}/sendMail` and `POST /me/sendMail` with the message in MIME form
//! (`Content-Type: text/plain`, the body the base64 of the RFC 5322 message), as documented for
//! Graph v1.0 ("Send an Outlook message using MIME format"): 202 with no body, recipients taken
//! from the message's To/Cc/Bcc.
//!
//! Permissions as at Microsoft: an app-only token needs the `Mail.Send` application permission
//! (here: the app role an admin granted, [`super::GraphEmulator::grant_app_role`]), and may then
//! send as any user; a delegated token needs `Mail.Send` and sends as its own user only.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::reply::graph_error;
use super::routing::{Call, Caller, access_denied};
use super::state::{Emulator, SentMail};

pub fn send_mail(emu: &Arc<Emulator>, caller: &Caller, user_id: &str, call: &Call) -> Response {
    let allowed =
        caller.has_any(&["mail.send"]) && (caller.is_app_only() || caller.user_id == user_id);
    if !allowed {
        return access_denied();
    }
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("text/plain") {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The emulator accepts sendMail in MIME format only (Content-Type: text/plain).",
        );
    }
    let text: String = String::from_utf8_lossy(&call.body)
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let Ok(mime) = STANDARD.decode(text.as_bytes()) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorMimeContentInvalidBase64String",
            "Invalid base64 string for MIME content.",
        );
    };
    let Some(message) = mail_parser::MessageParser::default().parse(&mime) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorMimeContentInvalid",
            "The MIME content is invalid.",
        );
    };
    let has_recipient = [message.to(), message.cc(), message.bcc()]
        .into_iter()
        .flatten()
        .any(|address| address.first().is_some());
    if !has_recipient {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid.",
        );
    }
    emu.lock().sent_mail.push(SentMail {
        user_id: user_id.to_owned(),
        mime,
    });
    StatusCode::ACCEPTED.into_response()
}
