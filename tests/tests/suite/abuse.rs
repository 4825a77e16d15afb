//! Abuse resistance of the routes without authentication: what a stranger on the internet can
//! make the daemon do. Store work is measured with the store's own counters
//! ([`Store::queries`], [`Store::writes`]), never with a clock.

use crate::api_support;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use api_support::{
    App, Auth, BACKENDS, Backend, World, add_suggestion, commit_suggestion, fast_settings,
};
use axum::body::Body;
use axum::http::Method;
use axum::http::Request;
use mailsig_daemon::domain::SkipReason;
use mailsig_daemon::http::app::ApiSettings;
use mailsig_daemon::http::client_address::TrustedProxies;
use mailsig_daemon::sources::graph::registry::{MISS_LOOKUP_BURST, Registry};
use mailsig_daemon::sources::graph::{GraphStats, Verdict, Webhook};
use mailsig_daemon::store::{CommitResult, MailboxKind, NewMailbox, Role, Store, SuggestionFilter};
use mailsig_daemon::vault::{MasterKey, Vault};
use mailsig_tests::graph_support::GraphWorld;

/// A random Graph-shaped subscription id.
fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A notification body: one item per id, in order.
fn notifications(ids: &[String]) -> Vec<u8> {
    let value: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            serde_json::json!({
                "subscriptionId": id,
                "clientState": "guess",
                "resource": "Users/u/Messages/AAMk1",
                "resourceData": { "id": "AAMk1" },
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "value": value })).unwrap_or_default()
}

async fn sqlite_store(dir: &tempfile::TempDir) -> Result<Store> {
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    store.migrate().await?;
    Ok(store)
}

/// Forged notifications for unknown subscriptions: a repeated id is looked up once per body,
/// an unknown id is not looked up again (negative cache), and a body of many distinct unknown
/// ids stops at the look-up budget and asks Graph to come back (503) instead of querying the
/// store once per id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_notifications_cost_a_bounded_number_of_store_queries() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = sqlite_store(&dir).await?;
    let vault = Vault::new(MasterKey::generate()?);
    let stats = Arc::new(GraphStats::default());
    let webhook = Webhook::new(
        store.clone(),
        Registry::new(store.clone(), vault),
        Arc::clone(&stats),
        Arc::default(),
    );

    // 30 unknown ids, each 30 times: 900 notifications.
    let distinct: Vec<String> = (0..30).map(|_| random_id()).collect();
    let repeated: Vec<String> = (0..30).flat_map(|_| distinct.clone()).collect();
    let body = notifications(&repeated);
    let before = store.queries();
    ensure!(webhook.notifications(&body).await == Verdict::Accepted);
    let first = store.queries() - before;
    ensure!(
        first <= distinct.len() as u64,
        "{first} store queries for {} notifications of {} distinct ids",
        repeated.len(),
        distinct.len()
    );
    let before = store.queries();
    ensure!(webhook.notifications(&body).await == Verdict::Accepted);
    let again = store.queries() - before;
    ensure!(
        again == 0,
        "{again} store queries for ids already known to be unknown"
    );

    // 500 distinct unknown ids: the budget of look-ups ends the request with 503.
    let many: Vec<String> = (0..500).map(|_| random_id()).collect();
    let before = store.queries();
    let verdict = webhook.notifications(&notifications(&many)).await;
    let spent = store.queries() - before;
    ensure!(
        verdict == Verdict::Unavailable,
        "500 distinct unknown ids: {verdict:?}"
    );
    ensure!(
        spent <= u64::from(MISS_LOOKUP_BURST),
        "{spent} store queries for 500 distinct unknown ids"
    );
    ensure!(
        stats.snapshot().webhook_shed == 1,
        "the shed request is counted"
    );
    ensure!(
        store.writes() == 0,
        "forged notifications wrote to the store"
    );

    // Too many items in one body: refused whole, before any look-up.
    let huge: Vec<String> = (0..1_001).map(|_| random_id()).collect();
    let before = store.queries();
    ensure!(webhook.notifications(&notifications(&huge)).await == Verdict::BadRequest);
    ensure!(
        store.queries() == before,
        "an oversized body reached the store"
    );
    Ok(())
}

/// `GET /oauth/microsoft/callback` with a `state` the daemon never issued (with a code, or
/// with an error from the consent page) is refused without a store write: the state carries a
/// tag under the master key, checked first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_with_a_state_never_issued_writes_nothing() -> Result<()> {
    let world = GraphWorld::new("forged-state").await?;
    let daemon = world.start().await?;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}/oauth/microsoft/callback", world.port);
    // A genuine state's shape with a wrong tag, and plain garbage.
    let genuine = world
        .consent_url(mailsig_daemon::store::LinkOrigin::Cli)
        .await?;
    // The daemon's callback URL, with the code and the state it issued.
    let issued = url::Url::parse(&genuine)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .context("consent url has a state")?;
    let (nonce, _) = issued.split_once('.').context("state has a tag")?;
    let forged_tag = format!("{nonce}.AAAAAAAAAAAAAAAAAAAAAA");
    let rounds = 150;
    let writes_before = world.store.writes();
    for round in 0..rounds {
        let state = if round % 2 == 0 {
            forged_tag.clone()
        } else {
            random_id()
        };
        for query in [
            vec![("code", "c0de"), ("state", state.as_str())],
            vec![("error", "access_denied"), ("state", state.as_str())],
        ] {
            let status = client
                .get(&base)
                .query(&query)
                .send()
                .await
                .context("GET callback")?
                .status()
                .as_u16();
            ensure!(status == 400, "forged callback answered {status}");
        }
    }
    let writes = world.store.writes() - writes_before;
    // The daemon's own background work (reconciliation, checkpoints) may write a little; the
    // 300 forged callbacks must not add one write each.
    ensure!(
        writes < 30,
        "{writes} store writes during {} forged callbacks",
        rounds * 2
    );
    // The issued state still completes the linking: forged tags on its nonce did not burn it.
    let answer = client.get(&genuine).send().await?;
    let status = answer.status().as_u16();
    ensure!(
        status == 200,
        "the genuine callback answered {status}: {}",
        answer.text().await.unwrap_or_default()
    );
    daemon.stop().await
}

/// `/metrics` and `/readyz` are answered from one store reading per interval, however often
/// they are called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readyz_read_the_store_at_most_once_per_interval() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let probe: SocketAddr = "192.0.2.50:9000".parse()?;
    let get = |path: &str| -> Result<Request<Body>> {
        Ok(Request::builder().uri(path).body(Body::empty())?)
    };
    let before = app.store.queries();
    ensure!(app.send(get("/readyz")?, probe).await?.status == 200);
    let one_reading = app.store.queries() - before;
    ensure!(one_reading >= 1, "readyz read the store");
    let before = app.store.queries();
    for _ in 0..20 {
        ensure!(app.send(get("/metrics")?, probe).await?.status == 200);
        ensure!(app.send(get("/readyz")?, probe).await?.status == 200);
    }
    let spent = app.store.queries() - before;
    // At most one more reading if the interval ended during the loop.
    ensure!(
        spent <= one_reading,
        "{spent} store queries for 40 probes (one reading is {one_reading})"
    );
    Ok(())
}

fn limited(per_minute: u32, burst: u32, proxies: &[&str]) -> Result<ApiSettings> {
    Ok(ApiSettings {
        rate_per_minute: per_minute,
        rate_burst: burst,
        trusted_proxies: TrustedProxies::parse(proxies).map_err(anyhow::Error::msg)?,
        ..fast_settings()
    })
}

fn me_forwarded(forwarded: &str) -> Result<Request<Body>> {
    Ok(Request::builder()
        .uri("/api/v1/me")
        .header("x-forwarded-for", forwarded)
        .body(Body::empty())?)
}

/// A client that is not a named proxy cannot pick its rate-limit key with `X-Forwarded-For`.
#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_named_proxy() -> Result<()> {
    let app = App::with_settings(Backend::Sqlite, limited(60, 2, &["10.0.0.1"])?).await?;
    let stranger: SocketAddr = "203.0.113.9:5000".parse()?;
    for n in 0..2 {
        let status = app
            .send(me_forwarded(&format!("198.51.100.{n}"))?, stranger)
            .await?
            .status;
        ensure!(status == 401, "request {n}: {status}");
    }
    let status = app
        .send(me_forwarded("198.51.100.99")?, stranger)
        .await?
        .status;
    ensure!(
        status == 429,
        "a forged X-Forwarded-For escaped the limit: {status}"
    );
    // Through the named proxy, each forwarded client has its own share.
    let proxy: SocketAddr = "10.0.0.1:3000".parse()?;
    for client in ["198.51.100.7", "198.51.100.8"] {
        for _ in 0..2 {
            ensure!(app.send(me_forwarded(client)?, proxy).await?.status == 401);
        }
    }
    ensure!(app.send(me_forwarded("198.51.100.7")?, proxy).await?.status == 429);
    Ok(())
}

/// Addresses of one IPv6 /64 share one rate-limit key.
#[tokio::test]
async fn ipv6_clients_are_limited_per_64() -> Result<()> {
    let app = App::with_settings(Backend::Sqlite, limited(60, 3, &[])?).await?;
    let me = || -> Result<Request<Body>> {
        Ok(Request::builder().uri("/api/v1/me").body(Body::empty())?)
    };
    for n in 1..=3 {
        let from: SocketAddr = format!("[2001:db8:7:7::{n:x}]:4000").parse()?;
        ensure!(app.send(me()?, from).await?.status == 401);
    }
    let from: SocketAddr = "[2001:db8:7:7:ffff::1]:4000".parse()?;
    let status = app.send(me()?, from).await?.status;
    ensure!(status == 429, "a new address in the same /64 got {status}");
    let other: SocketAddr = "[2001:db8:7:8::1]:4000".parse()?;
    ensure!(
        app.send(me()?, other).await?.status == 401,
        "the next /64 is limited"
    );
    Ok(())
}

/// The routes without authentication shed load per client address and for the whole process
/// before their handlers run.
#[tokio::test]
async fn unauthenticated_routes_shed_load_per_address_and_globally() -> Result<()> {
    let settings = ApiSettings {
        public_rate_per_second: 8,
        public_rate_per_address: 3,
        ..fast_settings()
    };
    let app = App::with_settings(Backend::Sqlite, settings).await?;
    let health =
        || -> Result<Request<Body>> { Ok(Request::builder().uri("/healthz").body(Body::empty())?) };
    let one: SocketAddr = "198.51.100.1:1000".parse()?;
    for _ in 0..3 {
        ensure!(app.send(health()?, one).await?.status == 200);
    }
    let reply = app.send(health()?, one).await?;
    ensure!(
        reply.status == 429,
        "one address over its share: {}",
        reply.status
    );
    ensure!(
        reply.header("retry-after").is_some(),
        "429 without Retry-After"
    );
    // Other addresses use up the rest of the process-wide bucket (3 of 8 are spent).
    let mut answered = 0;
    for n in 2..=20 {
        let from: SocketAddr = format!("198.51.100.{n}:1000").parse()?;
        if app.send(health()?, from).await?.status == 200 {
            answered += 1;
        }
    }
    ensure!(
        answered <= 12,
        "{answered} requests from other addresses passed a process-wide limit of 8 per second"
    );
    Ok(())
}

/// One message of `mailbox` suggesting `sender`, through the store's real commit.
async fn suggestions_in(store: &Store, list: mailsig_daemon::store::ListId) -> Result<usize> {
    Ok(store
        .list_suggestions(list, &SuggestionFilter::default())
        .await?
        .len())
}

/// An editor's mailbox feeds a shared list. Made a viewer, then unshared, the editor's
/// mailbox delivers nothing more into the list (the commit checks the role in its
/// transaction), and the list's owner can unlink that mailbox; a stranger cannot.
#[tokio::test]
async fn an_unshared_editors_mailbox_stops_delivering_and_the_list_owner_can_unlink_it()
-> Result<()> {
    for backend in BACKENDS {
        let w = World::new(backend).await?;
        let store = &w.app.store;
        let feeding = store
            .create_mailbox(NewMailbox {
                owner: w.editor.0.id,
                kind: MailboxKind::Imap,
                address: w.editor.0.email.clone(),
                display_name: None,
                target_list: w.list,
                excluded_domains: vec![],
                settings: serde_json::json!({}),
                secret: None,
            })
            .await?
            .id;
        add_suggestion(
            store,
            feeding,
            "while-editor@acme.example",
            &[("name", "Ed Itor")],
        )
        .await?;
        let before = suggestions_in(store, w.list).await?;

        store
            .share_list(w.list, w.editor.0.id, Role::Viewer)
            .await?;
        let result = commit_suggestion(store, feeding, "as-viewer@acme.example", &[]).await?;
        ensure!(
            result == CommitResult::Skipped(SkipReason::TargetListNotEditable),
            "{backend:?}: a viewer's mailbox delivered: {result:?}"
        );
        store.unshare_list(w.list, w.editor.0.id).await?;
        let result = commit_suggestion(store, feeding, "after-unshare@acme.example", &[]).await?;
        ensure!(
            result == CommitResult::Skipped(SkipReason::TargetListNotEditable),
            "{backend:?}: an unshared mailbox delivered: {result:?}"
        );
        ensure!(
            suggestions_in(store, w.list).await? == before,
            "{backend:?}: the list grew"
        );

        let path = format!("/api/v1/mailboxes/{}", feeding.0);
        let stranger = Auth::Bearer(w.stranger.1.clone());
        let status = w
            .app
            .call(Method::DELETE, &path, &stranger, None)
            .await?
            .status;
        ensure!(status == 404, "{backend:?}: a stranger unlinking: {status}");
        let owner = Auth::Bearer(w.owner.1.clone());
        let status = w
            .app
            .call(Method::DELETE, &path, &owner, None)
            .await?
            .status;
        ensure!(
            status == 204,
            "{backend:?}: the list owner unlinking a feeding mailbox: {status}"
        );
        let left = store.list_mailboxes(&Default::default()).await?;
        ensure!(
            !left.iter().any(|m| m.id == feeding),
            "{backend:?}: the mailbox is still linked"
        );
    }
    Ok(())
}

/// Failing sign-ins for a user's e-mail from one address throttle that address, not the user:
/// the owner signs in from another address (attempts are counted per e-mail and source).
#[tokio::test]
async fn failed_sign_ins_from_elsewhere_do_not_lock_the_user_out() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let (user, _) = app.user("victim").await?;
    let password = "the right password 42";
    let phc = mailsig_daemon::http::auth::password::hash_password(zeroize::Zeroizing::new(
        password.to_owned(),
    ))
    .await?;
    app.store.set_password_hash(user.id, Some(&phc)).await?;
    let attacker: SocketAddr = "203.0.113.66:5000".parse()?;
    let sign_in = |password: &str| serde_json::json!({ "email": user.email, "password": password });
    let mut throttled = false;
    for _ in 0..=mailsig_daemon::http::auth::session::SIGN_IN_BURST {
        let status = app
            .call_from(
                Method::POST,
                "/api/v1/session",
                &Auth::None,
                Some(sign_in("wrong guess")),
                attacker,
            )
            .await?
            .status;
        throttled |= status == 429;
    }
    ensure!(throttled, "the attacker's address was never throttled");
    let owner: SocketAddr = "[2001:db8:42::1]:6000".parse()?;
    let status = app
        .call_from(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(sign_in(password)),
            owner,
        )
        .await?
        .status;
    ensure!(
        status == 200,
        "the owner, from their own address, got {status}"
    );
    Ok(())
}

/// Serves the operations endpoints on a loopback port through the daemon's own listener (the
/// connection loop every route goes through); returns the address and the stop token.
async fn operations_listener(
    app: &App,
) -> Result<(SocketAddr, tokio_util::sync::CancellationToken)> {
    let listener = mailsig_daemon::http::HttpListener::bind("127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sources = mailsig_daemon::http::MetricSources {
        store: app.store.clone(),
        pipeline: Arc::new(mailsig_daemon::pipeline::stats::PipelineStats::default()),
        notify: None,
        imap: None,
    };
    tokio::spawn(listener.serve(sources, shutdown.clone()));
    Ok((addr, shutdown))
}

/// A client that sends half a request head and then nothing is disconnected (hyper's header
/// read timeout); a body announced larger than the limit is refused with 413 on any route,
/// before the handler runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off_and_bodies_are_limited_on_every_route() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = App::new(Backend::Sqlite).await?;
    let (addr, shutdown) = operations_listener(&app).await?;

    let mut slow = tokio::net::TcpStream::connect(addr).await?;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let mut answer = Vec::new();
    // The guard only keeps a broken server from hanging the run; the event awaited is the
    // server closing the connection.
    let closed = tokio::time::timeout(
        mailsig_daemon::http::connections::HEADER_READ_TIMEOUT * 6,
        slow.read_to_end(&mut answer),
    )
    .await;
    ensure!(
        matches!(closed, Ok(Ok(_))),
        "a half-sent request head kept its connection open"
    );

    let mut big = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        mailsig_daemon::http::connections::MAX_BODY_BYTES * 4
    );
    big.write_all(head.as_bytes()).await?;
    let mut reply = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        big.read_to_end(&mut reply),
    )
    .await
    .context("reply to an oversized body")??;
    let reply = String::from_utf8_lossy(&reply);
    ensure!(
        reply.starts_with("HTTP/1.1 413"),
        "an oversized body on /healthz: {}",
        reply.lines().next().unwrap_or_default()
    );
    shutdown.cancel();
    Ok(())
}
