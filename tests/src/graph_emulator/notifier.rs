//! The calls Graph makes itself: the validation handshake on a subscription's URLs, change
//! notifications when a message arrives (one body per notification, or batched), and lifecycle
//! events. Every call is recorded as a [`DeliveryRecord`] (status and latency).
//!
//! Graph retries failed notifications for hours with exponential backoff; the emulator retries only
//! when the test asks ([`super::GraphEmulator::set_notification_retries`]), because `deliver` waits
//! for the posts to finish. Without retries a test sees the failure in the records and can use
//! `missed` + delta, as a client must.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use serde_json::{Value, json};

use super::state::{Emulator, Message, PendingNotification, graph_time, guid};
use super::{DeliveryKind, DeliveryRecord, LifecycleEvent};

/// Graph's allowance for the handshake answer.
pub const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Graph's allowance for the answer to a notification (or a lifecycle event): a 2xx within 3 s
/// means delivered; later is a failure (recorded with no status).
pub const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// The allowance of a retried notification.
pub const RETRY_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The handshake: `POST {url}?validationToken=…` (text/plain), expecting 200, `text/plain`, and the
/// token verbatim. The token has spaces and colons, like Graph's, so a client that does not URL-decode
/// it fails here as it would with Graph.
pub async fn validate_endpoint(emu: &Arc<Emulator>, url: &str) -> Result<(), String> {
    let (chosen, unreachable) = {
        let st = emu.lock();
        (
            st.settings.validation_token.clone(),
            st.settings.endpoint_unreachable,
        )
    };
    if unreachable {
        let reason = "Notification endpoint must respond with 200 OK to validation request \
                      (connection refused)."
            .to_owned();
        record(
            emu,
            DeliveryKind::Validation,
            url,
            Vec::new(),
            0,
            None,
            Duration::ZERO,
            Some(reason.clone()),
        );
        return Err(reason);
    }
    let token = chosen.unwrap_or_else(|| {
        format!(
            "Validation: Testing client application reachability for subscription Request-Id: {}",
            guid()
        )
    });
    let mut target =
        url::Url::parse(url).map_err(|_| format!("Invalid notification url '{url}'."))?;
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let started = Instant::now();
    let sent = emu
        .http
        .post(target.as_str())
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .timeout(VALIDATION_TIMEOUT)
        .send()
        .await;
    let (status, outcome) = match sent {
        Err(e) => (
            None,
            Err(format!(
                "Notification endpoint must respond with 200 OK to validation request ({e}).",
            )),
        ),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text_plain = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"));
            let body = resp.bytes().await.map_err(|e| e.to_string());
            let outcome = match body {
                _ if status != 200 => Err(format!(
                    "Notification endpoint must respond with 200 OK, not {status}."
                )),
                _ if !text_plain => Err("Response must have Content-Type text/plain.".to_owned()),
                Ok(b) if b.as_ref() == token.as_bytes() => Ok(()),
                Ok(_) => {
                    Err("Response must exactly match validationToken query parameter.".to_owned())
                }
                Err(e) => Err(format!("Reading the validation response failed ({e}).")),
            };
            (Some(status), outcome)
        }
    };
    record(
        emu,
        DeliveryKind::Validation,
        url,
        Vec::new(),
        0,
        status,
        started.elapsed(),
        outcome.clone().err(),
    );
    outcome
}

/// Notifies every live subscription watching `message`'s folder for `change` (`created` or
/// `deleted`), or queues, or drops, per mode.
pub async fn notify(emu: &Arc<Emulator>, message_id: &str, change: &str) {
    let posts = {
        let mut st = emu.lock();
        let Some(m) = st.messages.iter().find(|m| m.id == message_id) else {
            return;
        };
        let tenant = st.tenant_id.clone();
        let items: Vec<PendingNotification> = st
            .live_subscriptions()
            .filter(|s| {
                s.user_id == m.user_id && s.folder_id.as_ref().is_none_or(|f| *f == m.folder_id)
            })
            .filter(|s| s.change_types.iter().any(|c| c == change))
            .map(|s| PendingNotification {
                url: s.notification_url.clone(),
                subscription_id: s.id.clone(),
                item: item(s, m, &tenant, change),
            })
            .collect();
        if st.settings.drop_notifications {
            st.dropped_notifications += items.len();
            return;
        }
        if st.settings.batch_notifications {
            st.pending.extend(items);
            return;
        }
        (items, st.settings.duplicate_notifications)
    };
    let (posts, duplicate) = posts;
    let sends = posts.into_iter().map(|p| async move {
        let body = json!({ "value": [p.item] });
        let ids = vec![p.subscription_id];
        if duplicate {
            post(
                emu,
                DeliveryKind::Notification,
                p.url.clone(),
                ids.clone(),
                1,
                body.clone(),
            )
            .await;
        }
        post(emu, DeliveryKind::Notification, p.url, ids, 1, body).await;
    });
    futures::future::join_all(sends).await;
}

/// The body Graph would post for `message_id` to subscription `subscription_id` (for tests that
/// forge or replay notifications, and for load tools).
pub fn body_for(emu: &Emulator, subscription_id: &str, message_id: &str) -> Option<Value> {
    let st = emu.lock();
    let sub = st.live_subscription(subscription_id)?;
    let m = st.messages.iter().find(|m| m.id == message_id)?;
    Some(json!({ "value": [item(sub, m, &st.tenant_id, "created")] }))
}

/// Posts the queued (batch mode) notifications: one body per notification URL, holding every
/// notification for that URL (even of different subscriptions, as Graph may). Returns the number of
/// bodies posted.
pub async fn flush(emu: &Arc<Emulator>) -> usize {
    let pending = std::mem::take(&mut emu.lock().pending);
    let mut by_url: Vec<(String, Vec<PendingNotification>)> = Vec::new();
    for p in pending {
        match by_url.iter_mut().find(|(u, _)| *u == p.url) {
            Some((_, v)) => v.push(p),
            None => by_url.push((p.url.clone(), vec![p])),
        }
    }
    let n = by_url.len();
    let sends = by_url.into_iter().map(|(url, items)| {
        let ids = items.iter().map(|p| p.subscription_id.clone()).collect();
        let count = items.len();
        let body = json!({ "value": items.into_iter().map(|p| p.item).collect::<Vec<_>>() });
        post(emu, DeliveryKind::Notification, url, ids, count, body)
    });
    futures::future::join_all(sends).await;
    n
}

/// Posts a lifecycle event to the subscription's `lifecycleNotificationUrl`. `subscriptionRemoved`
/// deletes the subscription first. `Ok(status)`; `Err` when there is no such subscription or URL.
pub async fn lifecycle(
    emu: &Arc<Emulator>,
    subscription_id: &str,
    event: LifecycleEvent,
) -> Result<Option<u16>, super::EmulatorError> {
    let (url, body) = {
        let mut st = emu.lock();
        let tenant = st.tenant_id.clone();
        let Some(sub) = st.live_subscription(subscription_id) else {
            return Err(super::EmulatorError::UnknownSubscription(
                subscription_id.to_owned(),
            ));
        };
        let Some(url) = sub.lifecycle_notification_url.clone() else {
            return Err(super::EmulatorError::NoLifecycleUrl(
                subscription_id.to_owned(),
            ));
        };
        let body = json!({ "value": [{
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expiration),
            "tenantId": tenant,
            "clientState": sub.client_state,
            "lifecycleEvent": event.as_str(),
        }]});
        if event == LifecycleEvent::SubscriptionRemoved {
            st.subscriptions.remove(subscription_id);
        }
        (url, body)
    };
    Ok(post(
        emu,
        DeliveryKind::Lifecycle,
        url,
        vec![subscription_id.to_owned()],
        1,
        body,
    )
    .await)
}

/// One notification item of the documented shape.
fn item(s: &super::state::Subscription, m: &Message, tenant: &str, change: &str) -> Value {
    let resource = format!("Users/{}/Messages/{}", m.user_id, m.id);
    json!({
        "id": guid(),
        "subscriptionId": s.id,
        "subscriptionExpirationDateTime": graph_time(s.expiration),
        "clientState": s.client_state,
        "changeType": change,
        "resource": resource,
        "tenantId": tenant,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": resource,
            "@odata.etag": format!("W/\"CQAAABYAAA{:010}\"", m.seq),
            "id": m.id,
        },
    })
}

/// Posts `body`; for notifications, retries a failed post (no 2xx within the allowance) as many
/// times as the test allows ([`super::GraphEmulator::set_notification_retries`]), with doubling
/// waits. Every attempt is recorded. Returns the last status.
async fn post(
    emu: &Arc<Emulator>,
    kind: DeliveryKind,
    url: String,
    subscription_ids: Vec<String>,
    items: usize,
    body: Value,
) -> Option<u16> {
    let (retries, mut wait) = match kind {
        DeliveryKind::Notification => emu.lock().settings.notification_retries,
        _ => (0, Duration::ZERO),
    };
    let body = body.to_string();
    let mut attempt = 0;
    loop {
        // Graph gives the first attempt 3 s and retries 10 s (webhooks doc).
        let timeout = if attempt == 0 {
            FIRST_ANSWER_TIMEOUT
        } else {
            RETRY_ANSWER_TIMEOUT
        };
        let started = Instant::now();
        let sent = emu
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .timeout(timeout)
            .send()
            .await;
        let (status, error) = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Drain the body so the connection can be reused.
                let _ = resp.bytes().await;
                (Some(status), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };
        record(
            emu,
            kind,
            &url,
            subscription_ids.clone(),
            items,
            status,
            started.elapsed(),
            error,
        );
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        if delivered || attempt >= retries {
            return status;
        }
        attempt += 1;
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    emu: &Emulator,
    kind: DeliveryKind,
    url: &str,
    subscription_ids: Vec<String>,
    items: usize,
    status: Option<u16>,
    latency: Duration,
    error: Option<String>,
) {
    emu.lock().deliveries.push(DeliveryRecord {
        kind,
        url: url.to_owned(),
        subscription_ids,
        items,
        status,
        latency,
        error,
    });
}
