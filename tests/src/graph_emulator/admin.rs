//! A small HTTP control API under `/_emulator/` for runs where no Rust test drives the emulator
//! (the standalone `graph-emulator` binary, load tests): register apps and users, deliver
//! messages, send lifecycle events, read subscriptions and delivery figures. Not part of Graph.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::reply::json;
use super::state::{Emulator, graph_time};
use super::{DeliveryKind, LifecycleEvent, messages, notifier};

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/_emulator/apps", post(add_app))
        .route("/_emulator/users", post(add_user))
        .route("/_emulator/users/{email}/messages", post(deliver))
        .route("/_emulator/lifecycle", post(lifecycle))
        .route("/_emulator/subscriptions", get(subscriptions))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/notification", get(notification))
}

#[derive(Deserialize)]
struct NewApp {
    client_id: String,
    client_secret: String,
    redirect_uri: String,
}

async fn add_app(State(emu): State<Arc<Emulator>>, Json(app): Json<NewApp>) -> StatusCode {
    emu.register_app(&app.client_id, &app.client_secret, &app.redirect_uri);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NewUser {
    email: String,
    display_name: Option<String>,
}

async fn add_user(State(emu): State<Arc<Emulator>>, Json(user): Json<NewUser>) -> Response {
    let id = emu.add_user(
        &user.email,
        user.display_name.as_deref().unwrap_or(&user.email),
    );
    json(StatusCode::CREATED, json!({ "id": id }))
}

async fn deliver(
    State(emu): State<Arc<Emulator>>,
    Path(email): Path<String>,
    body: Bytes,
) -> Response {
    match messages::deliver(&emu, &email, "inbox", body.to_vec()).await {
        Ok(id) => json(StatusCode::CREATED, json!({ "id": id })),
        Err(e) => json(StatusCode::NOT_FOUND, json!({ "error": e.to_string() })),
    }
}

#[derive(Deserialize)]
struct Lifecycle {
    subscription_id: String,
    event: String,
}

async fn lifecycle(State(emu): State<Arc<Emulator>>, Json(l): Json<Lifecycle>) -> Response {
    let event = match l.event.as_str() {
        "reauthorizationRequired" => LifecycleEvent::ReauthorizationRequired,
        "subscriptionRemoved" => LifecycleEvent::SubscriptionRemoved,
        "missed" => LifecycleEvent::Missed,
        other => {
            return json(
                StatusCode::BAD_REQUEST,
                json!({ "error": format!("unknown event {other}") }),
            );
        }
    };
    match notifier::lifecycle(&emu, &l.subscription_id, event).await {
        Ok(status) => json(StatusCode::OK, json!({ "status": status })),
        Err(e) => json(StatusCode::NOT_FOUND, json!({ "error": e.to_string() })),
    }
}

async fn subscriptions(State(emu): State<Arc<Emulator>>) -> Response {
    let st = emu.lock();
    let subs: Vec<_> = st
        .live_subscriptions()
        .map(|s| {
            json!({
                "id": s.id, "resource": s.resource, "notificationUrl": s.notification_url,
                "lifecycleNotificationUrl": s.lifecycle_notification_url,
                "expirationDateTime": graph_time(s.expiration),
            })
        })
        .collect();
    json(StatusCode::OK, json!({ "value": subs }))
}

#[derive(Deserialize)]
struct NotificationQuery {
    subscription_id: String,
    message_id: String,
}

/// The notification body for a subscription and message (a load tool posts it to the webhook).
async fn notification(
    State(emu): State<Arc<Emulator>>,
    axum::extract::Query(q): axum::extract::Query<NotificationQuery>,
) -> Response {
    match notifier::body_for(&emu, &q.subscription_id, &q.message_id) {
        Some(body) => json(StatusCode::OK, body),
        None => json(
            StatusCode::NOT_FOUND,
            json!({ "error": "no such live subscription or message" }),
        ),
    }
}

/// Notification figures: how many were posted, answered 2xx, failed, and latency percentiles.
async fn stats(State(emu): State<Arc<Emulator>>) -> Response {
    let st = emu.lock();
    let notes: Vec<_> = st
        .deliveries
        .iter()
        .filter(|d| d.kind == DeliveryKind::Notification)
        .collect();
    let ok = notes
        .iter()
        .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
        .count();
    let mut lat: Vec<f64> = notes
        .iter()
        .map(|d| d.latency.as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let i = ((lat.len() as f64 - 1.0) * p).round();
        lat.get(i.max(0.0) as usize).copied()
    };
    json(
        StatusCode::OK,
        json!({
            "graph_requests": st.requests.len(),
            "notifications_posted": notes.len(),
            "notifications_2xx": ok,
            "notifications_dropped": st.dropped_notifications,
            "latency_ms_p50": pct(0.5),
            "latency_ms_p99": pct(0.99),
            "latency_ms_max": lat.last(),
        }),
    )
}
