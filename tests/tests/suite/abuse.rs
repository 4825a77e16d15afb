//! Abuse resistance of the routes without authentication: what a stranger on the internet can
//! make the daemon do. Store work is measured with the store's own counters
//! ([`Store::queries`], [`Store::writes`]), never with a clock.

use crate::api_support;
use crate::ops_support;

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
use mailsig_daemon::store::{
    CommitResult, DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, MailboxKind, NewMailbox, NewToken, Role, Store,
    SuggestionFilter, TokenScope,
};
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
    app.store.set_first_password_hash(user.id, &phc).await?;
    let attacker: SocketAddr = "203.0.113.66:5000".parse()?;
    let sign_in = |password: &str| serde_json::json!({ "email": user.email, "password": password });
    let mut throttled = false;
    for _ in 0..=mailsig_daemon::http::auth::throttle::SOURCE.free {
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

/// A sign-in over the API from `from`.
async fn api_sign_in(app: &App, email: &str, password: &str, from: SocketAddr) -> Result<u16> {
    Ok(app
        .call_from(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(serde_json::json!({ "email": email, "password": password })),
            from,
        )
        .await?
        .status
        .as_u16())
}

/// A sign-in through the page's form from `from` (with its pre-session token).
async fn page_sign_in(
    app: &App,
    email: &str,
    password: &str,
    from: SocketAddr,
) -> Result<api_support::Reply> {
    let token = mailsig_daemon::http::auth::SignInToken::issue()?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("email", email)
        .append_pair("password", password)
        .append_pair("csrf_token", token.value())
        .finish();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/sign-in")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "cookie",
            format!(
                "{}={}",
                mailsig_daemon::http::auth::SIGN_IN_COOKIE,
                token.value()
            ),
        )
        .body(Body::from(form))?;
    app.send(request, from).await
}

/// A user with this password.
async fn user_with_password(app: &App, name: &str, password: &str) -> Result<String> {
    let (user, _) = app.user(name).await?;
    let phc = mailsig_daemon::http::auth::password::hash_password(zeroize::Zeroizing::new(
        password.to_owned(),
    ))
    .await?;
    app.store.set_first_password_hash(user.id, &phc).await?;
    Ok(user.email)
}

/// One source (an IPv6 /64) failing on many different accounts is delayed after the free
/// failures, on the API and on the page, even with a right password, and the delayed attempts
/// run no password hash; another /64 is not delayed.
#[tokio::test]
async fn failed_sign_ins_from_one_source_are_delayed_across_accounts_without_hashing() -> Result<()>
{
    use mailsig_daemon::http::auth::{password, throttle};
    let app = App::new(Backend::Sqlite).await?;
    let password = "the right password 42";
    let email = user_with_password(&app, "victim", password).await?;
    let guesser: SocketAddr = "[2001:db8:66:1::1]:5000".parse()?;
    for i in 0..throttle::SOURCE.free {
        let status =
            api_sign_in(&app, &format!("nobody{i}@example.org"), "a guess", guesser).await?;
        ensure!(status == 400, "failure {i} before any delay: {status}");
    }
    let hashed = password::verifications();
    // The same /64, another address in it, the right password: still delayed.
    let neighbour: SocketAddr = "[2001:db8:66:1:ffff::9]:5001".parse()?;
    let api = app
        .call_from(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(serde_json::json!({ "email": email, "password": password })),
            neighbour,
        )
        .await?;
    ensure!(
        api.status == 429 && api.header("retry-after").is_some(),
        "the API after the free failures: {}",
        api.status
    );
    let page = page_sign_in(&app, &email, password, neighbour).await?;
    ensure!(
        page.status == 429 && page.header("retry-after").is_some(),
        "the page after the free failures: {}",
        page.status
    );
    ensure!(
        password::verifications() == hashed,
        "delayed attempts ran {} password hashes",
        password::verifications() - hashed
    );
    let elsewhere: SocketAddr = "[2001:db8:66:2::1]:5000".parse()?;
    let status = api_sign_in(&app, &email, password, elsewhere).await?;
    ensure!(
        status == 200,
        "another /64 with the right password: {status}"
    );
    Ok(())
}

/// Failures on one account from many sources (one each, so no source is delayed) delay the
/// account for sources it has never signed in from, even with the right password; the owner's
/// own source, which signed in before, is not delayed.
#[tokio::test]
async fn failures_on_one_account_from_many_sources_delay_new_sources_but_not_the_owners()
-> Result<()> {
    use mailsig_daemon::http::auth::throttle;
    let app = App::new(Backend::Sqlite).await?;
    let password = "the right password 42";
    let email = user_with_password(&app, "target", password).await?;
    let owner: SocketAddr = "198.51.100.7:6000".parse()?;
    ensure!(api_sign_in(&app, &email, password, owner).await? == 200);
    for i in 0..throttle::ACCOUNT.free {
        let from: SocketAddr = format!("[2001:db8:{i:x}::1]:5000").parse()?;
        let status = api_sign_in(&app, &email, "a guess", from).await?;
        ensure!(status == 400, "failure {i} before any delay: {status}");
    }
    let stranger: SocketAddr = "[2001:db8:ffff::1]:5000".parse()?;
    let status = api_sign_in(&app, &email, password, stranger).await?;
    ensure!(
        status == 429,
        "a new source with the right password: {status}"
    );
    let page = page_sign_in(&app, &email, password, stranger).await?;
    ensure!(
        page.status == 429,
        "the page from a new source: {}",
        page.status
    );
    let status = api_sign_in(&app, &email, password, owner).await?;
    ensure!(status == 200, "the owner from their own source: {status}");
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

/// Connections at the cap: a flood of slow clients (each sends half a request head and then
/// nothing), three times the cap, does not keep a normal request out. The server keeps at most
/// the cap open: it closes the connections that waited longest for a head to make room.
///
/// Without that, no place frees before a slow connection's header read timeout ends it, so the
/// guard below (just before the first slow connection's timeout) is what tells the two apart; it
/// bounds a hang, it does not time the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_slow_connections_does_not_keep_a_normal_request_out() -> Result<()> {
    use mailsig_daemon::http::connections::{HEADER_READ_TIMEOUT, serve_with};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const CAP: usize = 16;
    let app = App::new(Backend::Sqlite).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(serve_with(
        listener,
        app.router.clone(),
        shutdown.clone(),
        CAP,
    ));

    // Without the cap's eviction no place frees before the first slow connection's header read
    // timeout ends it: the normal request must be served before that moment.
    let first_place_frees = tokio::time::Instant::now() + HEADER_READ_TIMEOUT;
    let mut slow = Vec::new();
    for _ in 0..CAP * 3 {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await?;
        slow.push(stream);
    }

    let normal = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /sign-in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        anyhow::Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = tokio::time::timeout_at(
        first_place_frees - std::time::Duration::from_millis(500),
        normal,
    )
    .await
    .context("the normal request was not served while slow connections held every place")??;
    ensure!(
        reply.starts_with("HTTP/1.1 200"),
        "the normal request: {}",
        reply.lines().next().unwrap_or_default()
    );

    // The server holds at most CAP connections: of the slow ones, all but CAP - 1 (one place
    // went to the normal request) are closed by the server.
    let mut closed = 0;
    let want = slow.len() - (CAP - 1);
    for stream in &mut slow {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(HEADER_READ_TIMEOUT / 2, stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => closed += 1,
            Ok(Ok(_)) => anyhow::bail!("a slow connection got an answer to half a head"),
            Err(_) => {}
        }
        if closed >= want {
            break;
        }
    }
    ensure!(
        closed >= want,
        "{closed} of {} slow connections were closed; the cap is {CAP}",
        slow.len()
    );
    shutdown.cancel();
    Ok(())
}

/// At the connection cap, a request whose body does not arrive gives its place to a new
/// connection, as a slow request head does: a handful of clients that send a head and part of
/// a body cannot keep everyone else out for the body read timeout.
///
/// The guard (just before the first slow body's read timeout) tells eviction from timeout
/// apart; it bounds a hang, it does not time the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_do_not_keep_a_normal_request_out() -> Result<()> {
    use mailsig_daemon::http::connections::{BODY_READ_TIMEOUT, serve_with};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const CAP: usize = 4;
    let app = App::new(Backend::Sqlite).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(serve_with(
        listener,
        app.router.clone(),
        shutdown.clone(),
        CAP,
    ));

    // Every place goes to a sign-in whose handler reads a body that never completes (the
    // server's `100 Continue` says the handler is reading it). Without eviction no place frees
    // before the first body's read timeout ends its request.
    let first_place_frees = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    let mut slow = Vec::new();
    for _ in 0..CAP {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(
                b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
            )
            .await?;
        let mut interim = Vec::new();
        while !interim.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            ensure!(
                stream.read(&mut byte).await? == 1,
                "a slow body's connection closed before 100 Continue"
            );
            interim.push(byte[0]);
        }
        ensure!(
            interim.starts_with(b"HTTP/1.1 100"),
            "the handler did not ask for the body: {}",
            String::from_utf8_lossy(&interim)
        );
        stream.write_all(b"{\"email\":").await?;
        slow.push(stream);
    }

    let normal = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /sign-in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        anyhow::Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = tokio::time::timeout_at(
        first_place_frees - std::time::Duration::from_millis(500),
        normal,
    )
    .await
    .context("the normal request was not served while slow bodies held every place")??;
    ensure!(
        reply.starts_with("HTTP/1.1 200"),
        "the normal request: {}",
        reply.lines().next().unwrap_or_default()
    );

    // The place came from a slow body: the server closed one of them without an answer.
    let mut closed = 0;
    for stream in &mut slow {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(
            std::time::Duration::from_millis(100),
            stream.read(&mut byte),
        )
        .await
        {
            Ok(Ok(0) | Err(_)) => closed += 1,
            Ok(Ok(_)) => anyhow::bail!("a slow body got an answer before it was complete"),
            Err(_) => {}
        }
    }
    ensure!(closed >= 1, "no slow body was closed; the cap is {CAP}");
    shutdown.cancel();
    Ok(())
}

/// A token of `user` with this scope and expiry (epoch ms), as the operator's CLI issues it.
async fn token_of(
    app: &App,
    user: &mailsig_daemon::store::User,
    scope: TokenScope,
    expires_at: i64,
) -> Result<String> {
    use secrecy::ExposeSecret;
    let issued = app
        .store
        .issue_token(
            user.id,
            &NewToken {
                label: "test",
                scope,
                expires_at,
            },
        )
        .await?;
    Ok(issued.secret.expose_secret().to_owned())
}

/// Every API token expires: one past its expiry is refused like a revoked one, a new token
/// gets the default lifetime, and a lifetime beyond the maximum is refused.
#[tokio::test]
async fn api_tokens_expire() -> Result<()> {
    for backend in BACKENDS {
        let app = App::new(backend).await?;
        let (user, full) = app.user("expiry").await?;
        let now = app.store.now_ms();
        let expired = token_of(&app, &user, TokenScope::Full, now - 1).await?;
        let reply = app
            .call(Method::GET, "/api/v1/me", &Auth::Bearer(expired), None)
            .await?;
        ensure!(
            reply.status == 401,
            "{backend:?}: an expired token got {}",
            reply.status
        );

        let created = app
            .call(
                Method::POST,
                "/api/v1/me/tokens",
                &Auth::Bearer(full.clone()),
                Some(serde_json::json!({ "label": "default" })),
            )
            .await?;
        ensure!(created.status == 201, "{backend:?}: {}", created.status);
        let body = created.json()?;
        let expires_at = body["expires_at"].as_i64().context("expires_at")?;
        let default_ms = i64::try_from(DEFAULT_TOKEN_TTL.as_millis())?;
        ensure!(
            expires_at > now && expires_at <= app.store.now_ms() + default_ms,
            "{backend:?}: a new token expires at {expires_at} (now {now})"
        );
        ensure!(body["scope"] == "read", "{backend:?}: default scope {body}");

        let max_days = MAX_TOKEN_TTL.as_secs() / 86_400;
        let too_long = app
            .call(
                Method::POST,
                "/api/v1/me/tokens",
                &Auth::Bearer(full),
                Some(serde_json::json!({ "label": "forever", "expires_in_days": max_days + 1 })),
            )
            .await?;
        ensure!(
            too_long.status == 400 && too_long.text().contains("expires_in_days"),
            "{backend:?}: a token beyond the maximum lifetime: {} {}",
            too_long.status,
            too_long.text()
        );
    }
    Ok(())
}

/// Scopes: a `read` token changes nothing and mints nothing; a `write` token changes the
/// user's data but can neither mint nor revoke tokens; a `full` token mints, but never a
/// token that outlives it.
#[tokio::test]
async fn token_scopes_bound_what_a_token_may_do_and_mint() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let (user, _) = app.user("scoped").await?;
    let later = app.store.now_ms() + 3_600_000;
    let read = Auth::Bearer(token_of(&app, &user, TokenScope::Read, later).await?);
    let write = Auth::Bearer(token_of(&app, &user, TokenScope::Write, later).await?);
    let full = Auth::Bearer(token_of(&app, &user, TokenScope::Full, later).await?);
    let new_list = || Some(serde_json::json!({ "name": "Scoped" }));
    let mint = |scope: &str| {
        Some(serde_json::json!({ "label": "child", "scope": scope, "expires_in_days": 300 }))
    };

    let status = |reply: api_support::Reply| reply.status.as_u16();
    let me = app.call(Method::GET, "/api/v1/me", &read, None).await?;
    ensure!(status(me) == 200, "a read token cannot read");
    let listed = app
        .call(Method::POST, "/api/v1/lists", &read, new_list())
        .await?;
    ensure!(status(listed) == 403, "a read token created a list");
    for (name, auth) in [("read", &read), ("write", &write)] {
        let minted = app
            .call(Method::POST, "/api/v1/me/tokens", auth, mint("read"))
            .await?;
        ensure!(
            minted.status == 403,
            "a {name} token minted a token: {}",
            minted.status
        );
    }
    let created = app
        .call(Method::POST, "/api/v1/lists", &write, new_list())
        .await?;
    ensure!(status(created) == 201, "a write token cannot write");
    let spare = app.store.create_token(user.id, "spare").await?;
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{}", spare.token.id.0),
            &write,
            None,
        )
        .await?;
    ensure!(
        revoked.status == 403,
        "a write token revoked another token: {}",
        revoked.status
    );

    let child = app
        .call(Method::POST, "/api/v1/me/tokens", &full, mint("full"))
        .await?;
    ensure!(
        child.status == 201,
        "a full token cannot mint: {}",
        child.status
    );
    let child = child.json()?;
    ensure!(child["scope"] == "full", "{child}");
    let child_expiry = child["expires_at"].as_i64().context("expires_at")?;
    ensure!(
        child_expiry <= later,
        "a minted token outlives its parent: {child_expiry} > {later}"
    );
    Ok(())
}

/// Changing one's password over the API ends every session and revokes every API token of
/// the user (also the ones of the request that changed it); the old password no longer signs
/// in, the new one does.
#[tokio::test]
async fn a_password_change_over_the_api_ends_all_sessions_and_tokens() -> Result<()> {
    for backend in BACKENDS {
        let app = App::new(backend).await?;
        let (user, token) = app.user("changer").await?;
        let old = "the old password 1";
        let new = "the new password 22";
        let phc = mailsig_daemon::http::auth::password::hash_password(zeroize::Zeroizing::new(
            old.to_owned(),
        ))
        .await?;
        app.store.set_first_password_hash(user.id, &phc).await?;
        let other = mailsig_daemon::http::auth::sign_in(&app.store, &user.email, old).await?;
        let other = Auth::Cookie {
            cookie: other.cookie_value().to_owned(),
            csrf: None,
        };
        let session = mailsig_daemon::http::auth::sign_in(&app.store, &user.email, old).await?;
        let this = Auth::Cookie {
            cookie: session.cookie_value().to_owned(),
            csrf: Some(mailsig_daemon::http::auth::csrf_token(&session.session).to_owned()),
        };
        let change = |current: &str| {
            Some(serde_json::json!({ "current_password": current, "new_password": new }))
        };

        let wrong = app
            .call(
                Method::PUT,
                "/api/v1/me/password",
                &this,
                change("not it at all"),
            )
            .await?;
        ensure!(
            wrong.status == 400,
            "{backend:?}: wrong current password: {}",
            wrong.status
        );
        let changed = app
            .call(Method::PUT, "/api/v1/me/password", &this, change(old))
            .await?;
        ensure!(
            changed.status == 204,
            "{backend:?}: {} {}",
            changed.status,
            changed.text()
        );

        for (what, auth) in [
            ("the token", Auth::Bearer(token.clone())),
            ("the other session", other.clone()),
            ("the changing session", this.clone()),
        ] {
            let status = app
                .call(Method::GET, "/api/v1/me", &auth, None)
                .await?
                .status;
            ensure!(
                status == 401,
                "{backend:?}: {what} still works after the password change: {status}"
            );
        }
        ensure!(
            mailsig_daemon::http::auth::sign_in(&app.store, &user.email, old)
                .await
                .is_err(),
            "{backend:?}: the old password still signs in"
        );
        mailsig_daemon::http::auth::sign_in(&app.store, &user.email, new).await?;
    }
    Ok(())
}

/// The PostgreSQL password comes from a file or the systemd credential, against a real cluster
/// that checks passwords: without it (or with a wrong one) the store cannot connect, with the
/// file it can, and a daemon given the credential serves while its logs name the database
/// without the password and never contain it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_password_comes_from_a_file_or_a_credential_and_is_never_logged() -> Result<()>
{
    use mailsig_daemon::config::{Config, DATABASE_PASSWORD_CREDENTIAL};
    use std::os::unix::fs::PermissionsExt;

    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let pg = mailsig_tests::servers::PrivatePg::start(&env).await?;
    let password = format!("pw{}", hex::encode(rand::random::<[u8; 12]>()));
    let url = pg.require_password("mailsig_app", &password).await?;
    // The cluster now checks passwords (the reload is applied to new connections shortly).
    let mut refused = false;
    for _ in 0..100 {
        if Store::open(&url).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ensure!(refused, "the cluster accepts the role without a password");

    let mut daemon = ops_support::Daemon::init(ops_support::OpsConfig::new()?)?;
    let secrets = tempfile::tempdir()?;
    let write_secret = |name: &str, text: &str| -> Result<std::path::PathBuf> {
        let path = secrets.path().join(name);
        std::fs::write(&path, format!("{text}\n"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(path)
    };
    let config_with = |file: &std::path::Path| {
        format!(
            "database_url = {url:?}\ndatabase_password_file = {:?}\n{}",
            file.display().to_string(),
            daemon.config.to_toml(&daemon.data_dir)
        )
    };

    let wrong = write_secret("wrong", "not-the-password")?;
    daemon.write_config_text(&config_with(&wrong))?;
    let config = Config::load(&daemon.config_path)?;
    ensure!(
        Store::open(&config.database_connect_url()?).await.is_err(),
        "a wrong password file connected"
    );
    let right = write_secret("right", &password)?;
    daemon.write_config_text(&config_with(&right))?;
    let config = Config::load(&daemon.config_path)?;
    ensure!(
        !config.database_url.to_string().contains(&password),
        "the URL's display shows the password"
    );
    let store = Store::open(&config.database_connect_url()?)
        .await
        .context("connect with the password from database_password_file")?;
    store.migrate().await?;
    store.close().await;

    // Under systemd: the credential wins over the (wrong) file.
    daemon.write_config_text(&config_with(&wrong))?;
    let credentials = tempfile::tempdir()?;
    let credential = credentials.path().join(DATABASE_PASSWORD_CREDENTIAL);
    std::fs::write(&credential, &password)?;
    std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o400))?;
    let credentials_dir = credentials.path().display().to_string();
    daemon
        .start(&[
            ("CREDENTIALS_DIRECTORY", credentials_dir.as_str()),
            ("RUST_LOG", "debug"),
        ])
        .await?;
    daemon
        .wait_for_log(
            "naming the database",
            std::time::Duration::from_secs(10),
            |l| l.contains("starting") && l.contains("postgres://mailsig_app@127.0.0.1"),
        )
        .await?;
    daemon.stop()?;
    ensure!(
        !daemon.logs_text().contains(&password),
        "the password is in the daemon's logs"
    );
    Ok(())
}

/// Sharing a list with an address nobody has answers exactly like sharing it with a registered
/// user who is not a member yet: the same status and body over the API, the same redirect from
/// the page, the same number of store statements. The registered user gets the list when they
/// list their lists; an address registered later gets it at its first sign-in.
#[tokio::test]
async fn sharing_does_not_reveal_which_addresses_have_an_account() -> Result<()> {
    for backend in BACKENDS {
        let w = World::new(backend).await?;
        let owner = Auth::Bearer(w.owner.1.clone());
        // The first request of a token records its use; later ones (within a minute) do not.
        w.app.call(Method::GET, "/api/v1/me", &owner, None).await?;
        let path = format!("/api/v1/lists/{}/members", w.list.0);
        let share = |email: &str| Some(serde_json::json!({ "email": email, "role": "viewer" }));
        let unknown = format!("nobody{:08x}@example.test", rand::random::<u32>());

        let at_start = w.app.store.queries();
        let known = w
            .app
            .call(Method::POST, &path, &owner, share(&w.stranger.0.email))
            .await?;
        let between = w.app.store.queries();
        let nobody = w
            .app
            .call(Method::POST, &path, &owner, share(&unknown))
            .await?;
        let at_end = w.app.store.queries();
        ensure!(
            known.status == nobody.status && known.body == nobody.body,
            "{backend:?}: a registered address got {} {}, an unknown one {} {}",
            known.status,
            known.text(),
            nobody.status,
            nobody.text()
        );
        ensure!(
            between - at_start == at_end - between,
            "{backend:?}: {} store statements for a registered address, {} for an unknown one",
            between - at_start,
            at_end - between
        );

        // The pages: the same redirect for both.
        let phc = mailsig_daemon::http::auth::password::hash_password(zeroize::Zeroizing::new(
            "owner's password 1".to_owned(),
        ))
        .await?;
        w.app
            .store
            .set_first_password_hash(w.owner.0.id, &phc)
            .await?;
        let session = mailsig_daemon::http::auth::sign_in(
            &w.app.store,
            &w.owner.0.email,
            "owner's password 1",
        )
        .await?;
        let csrf = mailsig_daemon::http::auth::csrf_token(&session.session).to_owned();
        let form = |email: &str| -> Result<Request<Body>> {
            Ok(Request::builder()
                .method(Method::POST)
                .uri(format!("/lists/{}/share", w.list.0))
                .header(
                    "cookie",
                    format!("__Host-mailsig_session={}", session.cookie_value()),
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "csrf_token={csrf}&email={}&role=editor",
                    email.replace('@', "%40")
                )))?)
        };
        let from: SocketAddr = "192.0.2.1:40000".parse()?;
        let other = format!("nobody{:08x}@example.test", rand::random::<u32>());
        let known_page = w.app.send(form(&w.stranger.0.email)?, from).await?;
        let nobody_page = w.app.send(form(&other)?, from).await?;
        // The page repeats the address that was typed ("Shared with …"); apart from that echo the
        // two answers must be the same.
        let typed = |page: &api_support::Reply, email: &str| {
            page.header("location")
                .map(|l| l.replace(&email.replace('@', "%40"), "ADDRESS"))
        };
        ensure!(
            known_page.status == nobody_page.status
                && typed(&known_page, &w.stranger.0.email) == typed(&nobody_page, &other)
                && known_page.body == nobody_page.body,
            "{backend:?}: the share page answered {} {:?} for a registered address, {} {:?} for an unknown one",
            known_page.status,
            known_page.header("location"),
            nobody_page.status,
            nobody_page.header("location")
        );

        // The invitations turn into memberships.
        let stranger = Auth::Bearer(w.stranger.1.clone());
        let lists = w
            .app
            .call(Method::GET, "/api/v1/lists", &stranger, None)
            .await?
            .json()?;
        ensure!(
            lists.as_array().is_some_and(|l| l
                .iter()
                .any(|l| l["id"] == w.list.0 && l["role"] == "editor")),
            "{backend:?}: the invited user does not see the list: {lists}"
        );
        let late = w.app.store.create_user(&unknown, None).await?;
        let phc = mailsig_daemon::http::auth::password::hash_password(zeroize::Zeroizing::new(
            "late comer password".to_owned(),
        ))
        .await?;
        w.app.store.set_first_password_hash(late.id, &phc).await?;
        ensure!(w.app.store.role_of(late.id, w.list).await?.is_none());
        mailsig_daemon::http::auth::sign_in(&w.app.store, &unknown, "late comer password").await?;
        ensure!(
            w.app.store.role_of(late.id, w.list).await? == Some(Role::Viewer),
            "{backend:?}: a user registered after the invitation did not get the list"
        );
    }
    Ok(())
}
