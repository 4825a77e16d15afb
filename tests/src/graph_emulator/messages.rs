//! `/me` and the message resources: metadata (`GET …/messages/{id}`, `$select` honoured) and the raw
//! MIME (`GET …/messages/{id}/$value`, the exact bytes delivered).

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mail_parser::MessageParser;
use serde_json::{Map, Value, json};

use super::reply::{graph_error, json};
use super::routing::{Call, Caller};
use super::state::{Emulator, Message, State, graph_time, message_id};
use super::{EmulatorError, notifier};

const MAIL_SCOPES: &[&str] = &["mail.read", "mail.readbasic", "mail.readwrite"];
const MIME_SCOPES: &[&str] = &["mail.read", "mail.readwrite"];

pub fn me(emu: &Emulator, caller: &Caller) -> Response {
    if !caller.has_any(&["user.read"]) {
        return super::routing::access_denied();
    }
    let st = emu.lock();
    let Some(user) = st.users.get(&caller.user_id) else {
        return not_found();
    };
    json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}/$metadata#users/$entity", emu.graph_url()),
            "id": user.id,
            "displayName": user.display_name,
            "mail": user.email,
            "userPrincipalName": user.email,
            "businessPhones": [],
            "jobTitle": null,
            "officeLocation": null,
            "preferredLanguage": null,
        }),
    )
}

pub fn metadata(emu: &Emulator, caller: &Caller, id: &str, call: &Call) -> Response {
    if !caller.has_any(MAIL_SCOPES) {
        return super::routing::access_denied();
    }
    let st = emu.lock();
    let Some(m) = st.message(&caller.user_id, id) else {
        return not_found();
    };
    let mut body = message_json(&st, m, call.query.get("$select").map(String::as_str));
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#users('{}')/messages/$entity",
            emu.graph_url(),
            caller.user_id
        )),
    );
    json(StatusCode::OK, Value::Object(body))
}

pub fn mime(emu: &Arc<Emulator>, caller: &Caller, id: &str) -> Response {
    if !caller.has_any(MIME_SCOPES) {
        return super::routing::access_denied();
    }
    let raw = {
        let st = emu.lock();
        let Some(m) = st.message(&caller.user_id, id) else {
            return not_found();
        };
        Arc::clone(&m.raw)
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        raw.as_ref().clone(),
    )
        .into_response()
}

/// Adds a message to the user's folder (created if new) and notifies the subscriptions watching it.
pub async fn deliver(
    emu: &Arc<Emulator>,
    email: &str,
    folder: &str,
    raw: Vec<u8>,
) -> Result<String, EmulatorError> {
    let folder_id = emu.folder(email, folder)?;
    let id = {
        let mut st = emu.lock();
        let Some(user_id) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return Err(EmulatorError::UnknownUser(email.to_owned()));
        };
        let id = message_id();
        let seq = st.next_seq;
        st.next_seq += 1;
        let received = st.now();
        st.messages.push(Message {
            id: id.clone(),
            user_id,
            folder_id,
            seq,
            received,
            raw: Arc::new(raw),
            deleted: None,
        });
        id
    };
    notifier::notify(emu, &id, "created").await;
    Ok(id)
}

/// Deletes a message (as the user would): gone from `$value` and from new delta rounds, shown as
/// `@removed` by deltaLinks issued before, and notified to subscriptions with changeType `deleted`.
pub async fn delete(emu: &Arc<Emulator>, email: &str, id: &str) -> Result<(), EmulatorError> {
    {
        let mut st = emu.lock();
        let Some(user_id) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return Err(EmulatorError::UnknownUser(email.to_owned()));
        };
        let seq = st.next_seq;
        let Some(m) = st
            .messages
            .iter_mut()
            .find(|m| m.user_id == user_id && m.id == id && m.deleted.is_none())
        else {
            return Err(EmulatorError::UnknownMessage(id.to_owned()));
        };
        m.deleted = Some(seq);
        st.next_seq += 1;
    }
    notifier::notify(emu, id, "deleted").await;
    Ok(())
}

pub fn not_found() -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

/// A message as Graph shows it, restricted to `select` (comma-separated) when given; `id` and
/// `@odata.etag` are always present, as in Graph.
pub fn message_json(st: &State, m: &Message, select: Option<&str>) -> Map<String, Value> {
    let parsed = MessageParser::default().parse(m.raw.as_slice());
    let subject = parsed.as_ref().and_then(|p| p.subject()).map(str::to_owned);
    let internet_id = parsed
        .as_ref()
        .and_then(|p| p.message_id())
        .map(|id| format!("<{id}>"));
    let from = parsed.as_ref().and_then(|p| p.from()).and_then(|a| a.first()).map(|a| {
        json!({ "emailAddress": { "name": a.name().unwrap_or_default(), "address": a.address().unwrap_or_default() } })
    });
    let received = graph_time(m.received);
    let all = [
        ("createdDateTime", json!(received)),
        ("receivedDateTime", json!(received)),
        ("subject", json!(subject)),
        ("internetMessageId", json!(internet_id)),
        ("from", from.clone().unwrap_or(Value::Null)),
        ("sender", from.unwrap_or(Value::Null)),
        ("parentFolderId", json!(m.folder_id)),
        ("hasAttachments", json!(false)),
        ("isRead", json!(false)),
    ];
    let wanted: Option<Vec<String>> = select.map(|s| {
        s.split(',')
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect()
    });
    let mut out = Map::new();
    out.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", etag(st, m))),
    );
    out.insert("id".into(), json!(m.id));
    for (k, v) in all {
        if wanted
            .as_ref()
            .is_none_or(|w| w.iter().any(|f| f.eq_ignore_ascii_case(k)))
        {
            out.insert(k.into(), v);
        }
    }
    out
}

fn etag(_st: &State, m: &Message) -> String {
    format!("CQAAABYAAA{:010}", m.seq)
}
