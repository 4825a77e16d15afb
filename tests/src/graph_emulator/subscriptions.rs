//! `/subscriptions`: create (after the validation handshake against `notificationUrl` and
//! `lifecycleNotificationUrl`), list, get, update (renew; a new `notificationUrl` is validated
//! again), delete, reauthorize.
//!
//! Rules, as Graph applies them to Outlook message subscriptions:
//! - `resource` is `me/messages`, `me/mailFolders('{id}')/messages`, `users/{id|upn}/messages` or
//!   `users/{id|upn}/mailFolders/{id}/messages`; delegated calls may only watch the caller's mailbox.
//! - `expirationDateTime` must be in the future; it is capped at the maximum lifetime (10,080 minutes
//!   unless the test sets another), and the answer carries the expiry actually granted.
//! - **409 Conflict** when the same app already has a live subscription of the same user on the same
//!   resource (same folder) with an overlapping `changeType`. The body is a Graph error with code
//!   `Conflict` and a message `Subscription Id {id} already exists for the same resource and change
//!   type.`; clients should `GET /subscriptions` and reuse the one whose `resource`, `changeType` and
//!   `notificationUrl` match rather than parse the message.
//! - `includeResourceData` (rich notifications) is not emulated: 400.
//! - `http://` notification URLs are accepted (tests listen on loopback); Graph requires https.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::notifier;
use super::reply::{graph_error, json};
use super::routing::{Call, Caller, access_denied, normalize_segments};
use super::state::{Emulator, State, Subscription, graph_time, guid, parse_graph_time};

const SUBSCRIBE_SCOPES: &[&str] = &["mail.read", "mail.readbasic", "mail.readwrite"];
const CHANGE_TYPES: &[&str] = &["created", "updated", "deleted"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    change_type: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
    resource: Option<String>,
    expiration_date_time: Option<String>,
    client_state: Option<String>,
    #[serde(default)]
    include_resource_data: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    expiration_date_time: Option<String>,
    notification_url: Option<String>,
}

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The object '{id}' was not found."),
    )
}

pub fn to_json(emu: &Emulator, s: &Subscription) -> Value {
    json!({
        "@odata.context": format!("{}/$metadata#subscriptions/$entity", emu.graph_url()),
        "id": s.id,
        "resource": s.resource,
        "applicationId": s.client_id,
        "changeType": s.change_types.join(","),
        "clientState": s.client_state,
        "notificationUrl": s.notification_url,
        "notificationQueryOptions": null,
        "lifecycleNotificationUrl": s.lifecycle_notification_url,
        "expirationDateTime": graph_time(s.expiration),
        "creatorId": s.user_id,
        "includeResourceData": null,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": null,
        "encryptionCertificateId": null,
        "notificationUrlAppId": null,
    })
}

/// `resource` → (user id, folder id or `None` for every folder).
fn parse_resource(
    st: &State,
    caller: &Caller,
    resource: &str,
) -> Result<(String, Option<String>), Response> {
    let segs = normalize_segments(resource);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (user_id, rest) = match s.as_slice() {
        ["me", rest @ ..] => (caller.user_id.clone(), rest),
        ["users", key, rest @ ..] => match st.user_by_key(key) {
            Some(u) => (u.id.clone(), rest),
            None => {
                return Err(bad_request(&format!(
                    "Resource '{resource}' does not exist."
                )));
            }
        },
        _ => {
            return Err(bad_request(&format!(
                "Resource '{resource}' is not supported."
            )));
        }
    };
    // An app with the application permission watches any user's mailbox; a delegated caller
    // only their own.
    if user_id != caller.user_id && !caller.is_app_only() {
        return Err(access_denied());
    }
    match rest {
        ["messages"] => Ok((user_id, None)),
        ["mailfolders", folder, "messages"] => match st.folder_id(&user_id, folder) {
            Some(f) => Ok((user_id, Some(f))),
            None => Err(bad_request(&format!(
                "Resource '{resource}' does not exist."
            ))),
        },
        _ => Err(bad_request(&format!(
            "Resource '{resource}' is not supported."
        ))),
    }
}

/// The expiry actually granted, or why the requested one is refused.
fn granted_expiry(st: &State, requested: Option<&str>) -> Result<OffsetDateTime, Response> {
    let Some(requested) = requested else {
        return Err(bad_request("expirationDateTime is required."));
    };
    let Some(t) = parse_graph_time(requested) else {
        return Err(bad_request(&format!(
            "Invalid expirationDateTime '{requested}'."
        )));
    };
    let now = st.now();
    if t <= now {
        return Err(bad_request(
            "Subscription expiration can only be in the future.",
        ));
    }
    Ok(t.min(now + st.settings.max_subscription_lifetime))
}

fn conflict(st: &State, candidate: &Subscription) -> Option<String> {
    st.live_subscriptions()
        .find(|s| {
            s.client_id == candidate.client_id
                && s.user_id == candidate.user_id
                && s.folder_id == candidate.folder_id
                && s.change_types
                    .iter()
                    .any(|c| candidate.change_types.contains(c))
        })
        .map(|s| s.id.clone())
}

fn conflict_response(id: &str) -> Response {
    graph_error(
        StatusCode::CONFLICT,
        "Conflict",
        &format!("Subscription Id {id} already exists for the same resource and change type."),
    )
}

pub async fn create(emu: &Arc<Emulator>, caller: &Caller, call: &Call) -> Response {
    if !caller.has_any(SUBSCRIBE_SCOPES) {
        return access_denied();
    }
    let body: CreateBody = match serde_json::from_slice(&call.body) {
        Ok(b) => b,
        Err(e) => return bad_request(&format!("Invalid request body: {e}")),
    };
    if body.include_resource_data {
        return bad_request("includeResourceData is not supported by this emulator.");
    }
    let (Some(change_type), Some(notification_url), Some(resource)) =
        (body.change_type, body.notification_url, body.resource)
    else {
        return bad_request("changeType, notificationUrl and resource are required.");
    };
    let change_types: Vec<String> = change_type
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if change_types
        .iter()
        .any(|c| !CHANGE_TYPES.contains(&c.as_str()))
    {
        return bad_request(&format!("Invalid changeType '{change_type}'."));
    }
    if body.client_state.as_ref().is_some_and(|c| c.len() > 128) {
        return bad_request("clientState must be at most 128 characters.");
    }
    for url in std::iter::once(&notification_url).chain(body.lifecycle_notification_url.iter()) {
        if !matches!(
            url::Url::parse(url)
                .map(|u| u.scheme().to_owned())
                .as_deref(),
            Ok("http" | "https")
        ) {
            return bad_request(&format!("Invalid notification url '{url}'."));
        }
    }
    let candidate = {
        let st = emu.lock();
        let (user_id, folder_id) = match parse_resource(&st, caller, &resource) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let expiration = match granted_expiry(&st, body.expiration_date_time.as_deref()) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let candidate = Subscription {
            id: guid(),
            client_id: caller.client_id.clone(),
            user_id,
            resource,
            folder_id,
            change_types,
            notification_url,
            lifecycle_notification_url: body.lifecycle_notification_url,
            client_state: body.client_state,
            expiration,
            reauthorized: 0,
        };
        if let Some(existing) = conflict(&st, &candidate) {
            return conflict_response(&existing);
        }
        candidate
    };
    let urls = std::iter::once(candidate.notification_url.clone())
        .chain(candidate.lifecycle_notification_url.clone());
    for url in urls {
        if let Err(reason) = notifier::validate_endpoint(emu, &url).await {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                &format!("Subscription validation request failed. {reason}"),
            );
        }
    }
    let mut st = emu.lock();
    // Another create may have won while the handshake ran.
    if let Some(existing) = conflict(&st, &candidate) {
        return conflict_response(&existing);
    }
    let body = to_json(emu, &candidate);
    st.subscriptions.insert(candidate.id.clone(), candidate);
    json(StatusCode::CREATED, body)
}

/// Whether the caller may see `s`: an app-only caller sees every subscription of its app, a
/// delegated one those of its own mailbox.
fn mine(caller: &Caller, s: &Subscription) -> bool {
    caller.is_app_only() || s.user_id == caller.user_id
}

/// The caller's own live subscription `id`, or the response saying why not.
fn owned<'a>(st: &'a State, caller: &Caller, id: &str) -> Result<&'a Subscription, Response> {
    match st.live_subscription(id) {
        Some(s) if s.client_id == caller.client_id && mine(caller, s) => Ok(s),
        _ => Err(not_found(id)),
    }
}

pub fn list(emu: &Emulator, caller: &Caller) -> Response {
    let st = emu.lock();
    let value: Vec<Value> = st
        .live_subscriptions()
        .filter(|s| s.client_id == caller.client_id && mine(caller, s))
        .map(|s| {
            let mut v = to_json(emu, s);
            if let Some(o) = v.as_object_mut() {
                o.remove("@odata.context");
            }
            v
        })
        .collect();
    json(
        StatusCode::OK,
        json!({ "@odata.context": format!("{}/$metadata#subscriptions", emu.graph_url()), "value": value }),
    )
}

pub fn get(emu: &Emulator, caller: &Caller, id: &str) -> Response {
    let st = emu.lock();
    match owned(&st, caller, id) {
        Ok(s) => json(StatusCode::OK, to_json(emu, s)),
        Err(r) => r,
    }
}

pub async fn update(emu: &Arc<Emulator>, caller: &Caller, id: &str, call: &Call) -> Response {
    let body: UpdateBody = match serde_json::from_slice(&call.body) {
        Ok(b) => b,
        Err(e) => return bad_request(&format!("Invalid request body: {e}")),
    };
    let expiration = {
        let st = emu.lock();
        if let Err(r) = owned(&st, caller, id) {
            return r;
        }
        match body.expiration_date_time.as_deref() {
            None => None,
            Some(requested) => match granted_expiry(&st, Some(requested)) {
                Ok(t) => Some(t),
                Err(r) => return r,
            },
        }
    };
    if let Some(url) = &body.notification_url
        && let Err(reason) = notifier::validate_endpoint(emu, url).await
    {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            &format!("Subscription validation request failed. {reason}"),
        );
    }
    let mut st = emu.lock();
    if let Err(r) = owned(&st, caller, id) {
        return r;
    }
    let Some(sub) = st.subscriptions.get_mut(id) else {
        return not_found(id);
    };
    if let Some(t) = expiration {
        sub.expiration = t;
        // Renewing also reauthorizes (lifecycle-events doc).
        sub.reauthorized += 1;
    }
    if let Some(url) = body.notification_url {
        sub.notification_url = url;
    }
    let Some(sub) = st.subscriptions.get(id) else {
        return not_found(id);
    };
    json(StatusCode::OK, to_json(emu, sub))
}

pub fn delete(emu: &Emulator, caller: &Caller, id: &str) -> Response {
    let mut st = emu.lock();
    if let Err(r) = owned(&st, caller, id) {
        return r;
    }
    st.subscriptions.remove(id);
    StatusCode::NO_CONTENT.into_response()
}

pub fn reauthorize(emu: &Emulator, caller: &Caller, id: &str) -> Response {
    let mut st = emu.lock();
    if let Err(r) = owned(&st, caller, id) {
        return r;
    }
    if let Some(sub) = st.subscriptions.get_mut(id) {
        sub.reauthorized += 1;
    }
    StatusCode::NO_CONTENT.into_response()
}
