//! Signed outgoing webhooks end to end: a list owner adds an endpoint through the API, the
//! delivery worker (its real loop) posts the list's events to a receiver in this test, which
//! checks every signature with its own HMAC-SHA256, answers 500 to each first attempt and 200
//! after, and so sees the retries. The delivery log, the body's fields, the sealed secret and
//! the SSRF guard are checked too. Runs on SQLite and PostgreSQL.

use crate::api_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use api_support::{App, Auth, BACKENDS, World, add_suggestion};
use axum::http::{HeaderMap, Method, StatusCode};
use mailsig_daemon::webhooks::{WebhookSettings, Worker};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "a shared secret the receiver also knows";

/// HMAC-SHA256 written out from its definition (RFC 2104), so the check does not share code
/// with the daemon's signer.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// What the receiver saw of one request.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    event: String,
    signature_ok: bool,
    body: Value,
    answered: u16,
}

#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<Received>>,
    changed: tokio::sync::Notify,
}

/// Checks `Mailsig-Signature: t=…,v1=…` over `"{t}.{body}"`, with a 5-minute tolerance.
fn signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers
        .get("mailsig-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let now = mailsig_daemon::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    (now - t).abs() <= 300 && hmac_sha256(SECRET.as_bytes(), &message).as_slice() == v1
}

/// Starts the receiver on 127.0.0.1; the first attempt of each delivery gets 500, later ones 200.
async fn start_receiver() -> Result<(Arc<Receiver>, String)> {
    let receiver = Arc::new(Receiver::default());
    let state = Arc::clone(&receiver);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = Arc::clone(&state);
            async move {
                let delivery = headers
                    .get("mailsig-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut seen = state.seen.lock().expect("receiver lock");
                let first = !seen.iter().any(|r| r.delivery == delivery);
                let answered = if first { 500 } else { 200 };
                seen.push(Received {
                    event: headers
                        .get("mailsig-event")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                    delivery,
                    signature_ok: signature_ok(&headers, &body),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    answered,
                });
                drop(seen);
                state.changed.notify_waiters();
                StatusCode::from_u16(answered).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((receiver, url))
}

/// Waits until the receiver has answered 200 to `n` distinct deliveries.
async fn wait_for_delivered(receiver: &Receiver, n: usize) -> Result<Vec<Received>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let changed = receiver.changed.notified();
        {
            let seen = receiver.seen.lock().expect("receiver lock");
            let delivered: BTreeSet<&str> = seen
                .iter()
                .filter(|r| r.answered == 200)
                .map(|r| r.delivery.as_str())
                .collect();
            if delivered.len() >= n {
                return Ok(seen.clone());
            }
        }
        ensure!(
            tokio::time::timeout_at(deadline, changed).await.is_ok(),
            "the receiver saw {:?}",
            receiver.seen.lock().expect("receiver lock")
        );
    }
}

fn local_settings() -> WebhookSettings {
    WebhookSettings {
        // The receiver runs on loopback over plain HTTP, as an operator's local relay would.
        allow_private_hosts: true,
        allow_http: true,
        poll_interval: Duration::from_millis(50),
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        max_attempts: 5,
        timeout: Duration::from_secs(5),
        ..WebhookSettings::default()
    }
}

#[tokio::test]
async fn a_receiver_verifies_signed_events_and_sees_each_retried_after_a_500() -> Result<()> {
    for backend in BACKENDS {
        let app = App::with_webhooks(backend, local_settings()).await?;
        let w = World::from_app(app).await?;
        let owner = Auth::Bearer(w.owner.1.clone());
        let (receiver, url) = start_receiver().await?;
        let hooks = format!("/api/v1/lists/{}/webhooks", w.list.0);
        // The world's own webhook points at a documentation address: removed, so that only the
        // receiver's gets events (and its removal is checked on the way).
        let reply = w
            .app
            .call(
                Method::DELETE,
                &format!("{hooks}/{}", w.webhook.0),
                &owner,
                None,
            )
            .await?;
        ensure!(reply.status == 204, "{backend:?}: remove {}", reply.status);
        ensure!(
            w.app.store.webhooks_of_list(w.list).await?.is_empty(),
            "{backend:?}: still there"
        );
        let reply = w
            .app
            .call(
                Method::POST,
                &hooks,
                &owner,
                Some(json!({"url": url, "secret": SECRET})),
            )
            .await?;
        ensure!(
            reply.status == 201,
            "{backend:?}: {} {}",
            reply.status,
            reply.text()
        );
        let hook = reply.json()?;
        ensure!(
            hook.get("secret").is_none() && !reply.text().contains(SECRET),
            "{backend:?}: {hook}"
        );
        let hook_id = hook["id"].as_i64().context("id")?;

        // The secret is sealed: the stored record does not hold it.
        let stored = w
            .app
            .store
            .webhook(mailsig_daemon::domain::WebhookId(hook_id))
            .await?;
        let sealed = w.app.store.get_secret(stored.secret).await?.sealed;
        ensure!(
            !sealed.windows(SECRET.len()).any(|s| s == SECRET.as_bytes()),
            "{backend:?}: the secret is stored in clear"
        );

        let shutdown = CancellationToken::new();
        let worker = Worker::new(
            w.app.store.clone(),
            w.app.vault.clone(),
            local_settings(),
            "webhook-test",
        );
        tokio::spawn(worker.run(shutdown.clone()));

        // Mail proposes Zoe; the editor accepts her, then edits her title.
        let zoe = add_suggestion(
            &w.app.store,
            w.mailbox,
            "zoe@hooks.example",
            &[
                ("name", "Zoe Hook"),
                ("title", "Buyer"),
                ("phone", "+49301234567"),
            ],
        )
        .await?;
        let seen = wait_for_delivered(&receiver, 1).await?;
        let editor = Auth::Bearer(w.editor.1.clone());
        let reply = w
            .app
            .call(
                Method::POST,
                &format!("/api/v1/suggestions/{}/accept", zoe.0),
                &editor,
                None,
            )
            .await?;
        ensure!(reply.status == 200, "{backend:?}: accept {}", reply.status);
        wait_for_delivered(&receiver, 2).await?;
        let reply = w
            .app
            .call(
                Method::POST,
                &format!("/api/v1/suggestions/{}/merge", zoe.0),
                &editor,
                Some(json!({"fields": [{"field": "title", "choice": "typed", "value": "Head of Buying"}]})),
            )
            .await?;
        ensure!(reply.status == 200, "{backend:?}: merge {}", reply.status);
        let seen_all = wait_for_delivered(&receiver, 3).await?;
        ensure!(!seen.is_empty(), "{backend:?}");

        // Every request carried a valid signature; each delivery was answered 500 first and
        // delivered by a retry with the same delivery id and the same body.
        let mut by_delivery: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
        for r in &seen_all {
            ensure!(r.signature_ok, "{backend:?}: bad signature on {r:?}");
            by_delivery.entry(r.delivery.as_str()).or_default().push(r);
        }
        let mut events = BTreeSet::new();
        for (id, attempts) in &by_delivery {
            ensure!(
                attempts.len() >= 2
                    && attempts[0].answered == 500
                    && attempts[1].answered == 200
                    && attempts[0].body == attempts[1].body,
                "{backend:?}: delivery {id}: {attempts:?}"
            );
            events.insert(attempts[0].event.clone());
        }
        ensure!(
            events
                == [
                    "contact.changed",
                    "suggestion.accepted",
                    "suggestion.created"
                ]
                .map(str::to_owned)
                .into(),
            "{backend:?}: {events:?}"
        );

        // The body: the event, the list, when, and the contact's fields; nothing else.
        let changed = seen_all
            .iter()
            .find(|r| r.event == "contact.changed")
            .context("contact.changed")?;
        let body = &changed.body;
        let keys: BTreeSet<&str> = body
            .as_object()
            .context("object")?
            .keys()
            .map(String::as_str)
            .collect();
        ensure!(
            keys == ["contact", "event", "list_id", "queued_at"].into(),
            "{backend:?}: {body}"
        );
        let contact = &body["contact"];
        ensure!(
            body["event"] == "contact.changed"
                && body["list_id"] == w.list.0
                && contact["id"] == zoe.0
                && contact["email"] == "zoe@hooks.example"
                && contact["name"] == "Zoe Hook"
                && contact["title"] == "Head of Buying"
                && contact["phones"][0]["number"] == "+49301234567",
            "{backend:?}: {body}"
        );
        let text = body.to_string();
        for word in ["confidence", "rule", "subject", "message"] {
            ensure!(!text.contains(word), "{backend:?}: {word} in {text}");
        }

        // The delivery log: a 500 and a delivered attempt per delivery. The worker writes an
        // attempt once the receiver's answer is in, so the last one may trail the receiver.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let reply = w
                .app
                .call(
                    Method::GET,
                    &format!("{hooks}/{hook_id}/deliveries"),
                    &owner,
                    None,
                )
                .await?;
            ensure!(reply.status == 200, "{backend:?}: log {}", reply.status);
            let log = reply.json()?;
            let lines = log.as_array().context("array")?;
            let complete = by_delivery.keys().all(|id| {
                let of: Vec<&Value> = lines
                    .iter()
                    .filter(|l| l["delivery_id"] == id.parse::<i64>().unwrap_or(-1))
                    .collect();
                of.iter()
                    .any(|l| l["http_status"] == 500 && l["outcome"] == "http_status")
                    && of
                        .iter()
                        .any(|l| l["http_status"] == 200 && l["outcome"] == "delivered")
                    && of.iter().all(|l| l["delivery_status"] == "delivered")
            });
            if complete {
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: the log does not show a 500 and a delivery for each of {:?}: {log}",
                by_delivery.keys().collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
    }
    Ok(())
}

#[tokio::test]
async fn webhook_targets_are_checked_like_every_user_named_host() -> Result<()> {
    let w = World::new(BACKENDS[0]).await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let hooks = format!("/api/v1/lists/{}/webhooks", w.list.0);
    for (url, secret, field, says) in [
        ("https://127.0.0.1:8443/hook", SECRET, "url", "loopback"),
        ("https://10.1.2.3/hook", SECRET, "url", "private"),
        (
            "https://169.254.169.254/latest",
            SECRET,
            "url",
            "link-local",
        ),
        ("https://[::1]:9000/hook", SECRET, "url", "loopback"),
        ("https://192.0.2.10:22/hook", SECRET, "url", "port"),
        ("http://192.0.2.10/hook", SECRET, "url", "https://"),
        ("https://user:pw@192.0.2.10/hook", SECRET, "url", "password"),
        ("https://192.0.2.10/hook", "short", "secret", "characters"),
    ] {
        let reply = w
            .app
            .call(
                Method::POST,
                &hooks,
                &owner,
                Some(json!({"url": url, "secret": secret})),
            )
            .await?;
        ensure!(
            reply.status == 400,
            "{url}: {} {}",
            reply.status,
            reply.text()
        );
        let body = reply.json()?;
        let error = &body["fields"][0];
        ensure!(
            error["field"] == field && error["message"].as_str().unwrap_or_default().contains(says),
            "{url}: {body}"
        );
        ensure!(
            !reply.text().contains(secret) && !reply.text().contains("10.1.2.3"),
            "{url}: echoed: {body}"
        );
    }
    // Nothing was added.
    let reply = w.app.call(Method::GET, &hooks, &owner, None).await?;
    let list = reply.json()?;
    ensure!(
        list.as_array().map(Vec::len) == Some(1),
        "only the world's own webhook: {list}"
    );
    Ok(())
}

/// The guard runs again before every delivery: a webhook added while its target was allowed is
/// not delivered to once the target is refused (as after a DNS change to an internal address).
#[tokio::test]
async fn each_delivery_passes_the_host_guard_again() -> Result<()> {
    let app = App::with_webhooks(BACKENDS[0], local_settings()).await?;
    let w = World::from_app(app).await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let (receiver, url) = start_receiver().await?;
    let hooks = format!("/api/v1/lists/{}/webhooks", w.list.0);
    w.app
        .call(
            Method::DELETE,
            &format!("{hooks}/{}", w.webhook.0),
            &owner,
            None,
        )
        .await?;
    let reply = w
        .app
        .call(
            Method::POST,
            &hooks,
            &owner,
            Some(json!({"url": url, "secret": SECRET})),
        )
        .await?;
    ensure!(reply.status == 201, "{} {}", reply.status, reply.text());
    let hook_id = reply.json()?["id"].as_i64().context("id")?;
    add_suggestion(
        &w.app.store,
        w.mailbox,
        "guard@hooks.example",
        &[("name", "Guard Case")],
    )
    .await?;
    // The worker now runs under a policy that refuses loopback.
    let strict = WebhookSettings {
        allow_private_hosts: false,
        ..local_settings()
    };
    let worker = Worker::new(w.app.store.clone(), w.app.vault.clone(), strict, "strict");
    let mut refused = false;
    for _ in 0..5 {
        let round = worker.round().await?;
        if round.attempts > 0 {
            refused = true;
            break;
        }
    }
    ensure!(refused, "no attempt was made");
    let reply = w
        .app
        .call(
            Method::GET,
            &format!("{hooks}/{hook_id}/deliveries"),
            &owner,
            None,
        )
        .await?;
    let log = reply.json()?;
    ensure!(
        log[0]["outcome"] == "refused_host" && log[0]["http_status"].is_null(),
        "{log}"
    );
    ensure!(
        receiver.seen.lock().expect("receiver lock").is_empty(),
        "the receiver was reached"
    );
    Ok(())
}
