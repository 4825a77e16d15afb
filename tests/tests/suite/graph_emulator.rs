//! The Graph emulator speaks the documented protocol: these tests drive it with plain HTTP calls (as
//! any Graph client would) and a small axum receiver standing in for a webhook endpoint.
//!
//!   cargo nextest run -p mailsig-tests --test graph_emulator
//!
//! No test server is needed: the emulator and the receiver run in the test's runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mailsig_tests::graph_emulator::{
    DeliveryKind, DeliveryRecord, Fault, GraphEmulator, LifecycleEvent,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "app-secret";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";
const ALICE: &str = "alice@contoso.test";
const SCOPES: &str = "offline_access User.Read Mail.Read";

// ---------------------------------------------------------------------------------------------
// A webhook receiver standing in for the daemon.

#[derive(Clone, Copy, PartialEq)]
enum Handshake {
    /// 200, text/plain, the token verbatim (the documented answer).
    Echo,
    /// 200 text/plain with another body.
    WrongBody,
    /// The token, but as text/html.
    Html,
}

#[derive(Default)]
struct Received {
    validation_tokens: Vec<String>,
    notifications: Vec<Value>,
    lifecycle: Vec<Value>,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    got: Arc<Mutex<Received>>,
}

impl Receiver {
    async fn start(handshake: Handshake) -> Result<Receiver> {
        let got = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/notify", post(receive))
            .route("/lifecycle", post(receive))
            .with_state((Arc::clone(&got), handshake));
        Ok(Receiver {
            base: serve(app).await?,
            got,
        })
    }
    fn notify_url(&self) -> String {
        format!("{}/notify?mailbox=42", self.base)
    }
    fn lifecycle_url(&self) -> String {
        format!("{}/lifecycle", self.base)
    }
    fn notifications(&self) -> Vec<Value> {
        self.got
            .lock()
            .map(|g| g.notifications.clone())
            .unwrap_or_default()
    }
    fn lifecycle(&self) -> Vec<Value> {
        self.got
            .lock()
            .map(|g| g.lifecycle.clone())
            .unwrap_or_default()
    }
    fn validation_tokens(&self) -> Vec<String> {
        self.got
            .lock()
            .map(|g| g.validation_tokens.clone())
            .unwrap_or_default()
    }
}

/// Serves `app` on a free loopback port for the rest of the test; returns its base URL.
async fn serve(app: Router) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

async fn receive(
    State((got, handshake)): State<(Arc<Mutex<Received>>, Handshake)>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(token) = q.get("validationToken") {
        if let Ok(mut g) = got.lock() {
            g.validation_tokens.push(token.clone());
        }
        return match handshake {
            Handshake::Echo => {
                ([(header::CONTENT_TYPE, "text/plain")], token.clone()).into_response()
            }
            Handshake::WrongBody => {
                ([(header::CONTENT_TYPE, "text/plain")], "nope").into_response()
            }
            Handshake::Html => {
                ([(header::CONTENT_TYPE, "text/html")], token.clone()).into_response()
            }
        };
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Ok(mut g) = got.lock() {
        if uri.path() == "/lifecycle" {
            g.lifecycle.push(value);
        } else {
            ensure_query_passed_back(&uri);
            g.notifications.push(value);
        }
    }
    StatusCode::ACCEPTED.into_response()
}

/// Graph passes the notification URL's query string back on every POST.
fn ensure_query_passed_back(uri: &axum::http::Uri) {
    assert_eq!(
        uri.query(),
        Some("mailbox=42"),
        "query string of notificationUrl not passed back"
    );
}

// ---------------------------------------------------------------------------------------------
// A minimal Graph client, as the daemon would call it.

struct Tokens {
    access: String,
    refresh: Option<String>,
}

fn pkce() -> (String, String) {
    let verifier: String = (0..64)
        .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
        .collect();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(
    graph: &GraphEmulator,
    challenge: &str,
    state: &str,
    scope: &str,
) -> Result<String> {
    let mut url = url::Url::parse(&format!("{}/oauth2/v2.0/authorize", graph.authority_url()))?;
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_mode", "query")
        .append_pair("scope", scope)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url.to_string())
}

fn query_of(location: &str) -> Result<HashMap<String, String>> {
    Ok(url::Url::parse(location)?
        .query_pairs()
        .into_owned()
        .collect())
}

/// The authorization-code redemption the daemon makes (client secret in the form).
fn code_grant<'a>(code: &'a str, verifier: &'a str) -> [(&'static str, &'a str); 6] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
    ]
}

/// Consents as Alice to an authorization request with `challenge` and returns the code of the redirect.
async fn consent_code(graph: &GraphEmulator, challenge: &str, scope: &str) -> Result<String> {
    let location = graph
        .consent(&authorize_url(graph, challenge, "s", scope)?, ALICE)
        .await?;
    query_of(&location)?
        .get("code")
        .cloned()
        .context("no code in the redirect")
}

async fn token_call(graph: &GraphEmulator, form: &[(&str, &str)]) -> Result<(u16, Value)> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = reqwest::Client::new()
        .post(format!("{}/oauth2/v2.0/token", graph.authority_url()))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, serde_json::from_slice(&resp.bytes().await?)?))
}

/// Runs the whole code flow for `email` and returns the tokens.
async fn sign_in(graph: &GraphEmulator, email: &str) -> Result<Tokens> {
    let (verifier, challenge) = pkce();
    let location = graph
        .consent(&authorize_url(graph, &challenge, "st-1", SCOPES)?, email)
        .await?;
    let q = query_of(&location)?;
    let code = q.get("code").context("no code in the redirect")?;
    let (status, body) = token_call(graph, &code_grant(code, &verifier)).await?;
    ensure!(status == 200, "token endpoint answered {status}: {body}");
    Ok(Tokens {
        access: body["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned(),
        refresh: body["refresh_token"].as_str().map(str::to_owned),
    })
}

async fn refresh(graph: &GraphEmulator, refresh_token: &str) -> Result<(u16, Value)> {
    token_call(
        graph,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", SCOPES),
        ],
    )
    .await
}

struct Api {
    http: reqwest::Client,
    graph: String,
    token: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
    /// The status and Graph's `error.code` of an error answer.
    fn error(&self) -> Result<(u16, String)> {
        let code = self.json()?["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok((self.status, code))
    }
}

impl Api {
    fn new(graph: &GraphEmulator, token: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            graph: graph.graph_url(),
            token: token.to_owned(),
        }
    }
    async fn call(
        &self,
        method: reqwest::Method,
        path_or_url: &str,
        body: Option<Value>,
    ) -> Result<Answer> {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.graph)
        };
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Ok(Answer {
            status,
            headers,
            body: resp.bytes().await?,
        })
    }
    async fn get(&self, path: &str) -> Result<Answer> {
        self.call(reqwest::Method::GET, path, None).await
    }
    /// Subscribes `rx` to `resource` for an hour and returns the new subscription's id.
    async fn subscription_id(&self, rx: &Receiver, resource: &str) -> Result<String> {
        let created = self.subscribe(rx, resource, 60).await?.json()?;
        Ok(created["id"]
            .as_str()
            .context("no subscription id")?
            .to_owned())
    }
    async fn patch_subscription(&self, id: &str, body: Value) -> Result<Answer> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/subscriptions/{id}"),
            Some(body),
        )
        .await
    }
    async fn subscribe(&self, rx: &Receiver, resource: &str, minutes: i64) -> Result<Answer> {
        let expiry = rfc3339_from_now(time::Duration::minutes(minutes))?;
        let body = json!({
            "changeType": "created",
            "notificationUrl": rx.notify_url(),
            "lifecycleNotificationUrl": rx.lifecycle_url(),
            "resource": resource,
            "expirationDateTime": expiry,
            "clientState": "state-secret-1",
        });
        self.call(reqwest::Method::POST, "/subscriptions", Some(body))
            .await
    }
}

/// An emulator with the app and Alice registered.
async fn emulator() -> Result<GraphEmulator> {
    let graph = GraphEmulator::start().await?;
    graph.register_app(CLIENT_ID, SECRET, REDIRECT);
    graph.add_user(ALICE, "Alice Example");
    Ok(graph)
}

/// An [`emulator`] with Alice signed in.
async fn world() -> Result<(GraphEmulator, Api)> {
    let graph = emulator().await?;
    let tokens = sign_in(&graph, ALICE).await?;
    let api = Api::new(&graph, &tokens.access);
    Ok((graph, api))
}

/// Now plus `offset`, as Graph writes times.
fn rfc3339_from_now(offset: time::Duration) -> Result<String> {
    Ok((time::OffsetDateTime::now_utc() + offset)
        .format(&time::format_description::well_known::Rfc3339)?)
}

fn parse_rfc3339(value: &Value) -> Result<time::OffsetDateTime> {
    let text = value
        .as_str()
        .with_context(|| format!("not a time: {value}"))?;
    Ok(time::OffsetDateTime::parse(
        text,
        &time::format_description::well_known::Rfc3339,
    )?)
}

/// The emulator's notification POSTs so far (not the handshakes, not the lifecycle events), in order.
fn notification_deliveries(graph: &GraphEmulator) -> Vec<DeliveryRecord> {
    graph
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == DeliveryKind::Notification)
        .collect()
}

fn mime(n: usize) -> Vec<u8> {
    format!(
        "From: Bob Sender <bob@fabrikam.test>\r\nTo: alice@contoso.test\r\nSubject: hello {n}\r\n\
         Message-ID: <m{n}@fabrikam.test>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nbody {n}\r\n--\r\nBob\r\n"
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// OAuth

#[tokio::test]
async fn code_flow_with_pkce_gives_tokens_and_a_wrong_verifier_is_refused() -> Result<()> {
    let graph = emulator().await?;
    let (verifier, challenge) = pkce();

    let location = graph
        .consent(&authorize_url(&graph, &challenge, "xyz", SCOPES)?, ALICE)
        .await?;
    ensure!(location.starts_with(REDIRECT), "redirected to {location}");
    let q = query_of(&location)?;
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    let code = q.get("code").context("no code")?.clone();

    let wrong = code_grant(&code, "wrong-verifier-wrong-verifier-wrong-verifier-123");
    let (status, body) = token_call(&graph, &wrong).await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("AADSTS501481"),
        "{body}"
    );

    // A code is single-use: the refused attempt consumed it, as a used code would be.
    let (status, body) = token_call(&graph, &code_grant(&code, &verifier)).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A fresh consent with the right verifier works; a wrong secret does not.
    let code = consent_code(&graph, &challenge, SCOPES).await?;
    let mut good = code_grant(&code, &verifier);
    good[5] = ("client_secret", "not-the-secret");
    let (status, body) = token_call(&graph, &good).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // The failed client authentication did not consume the code.
    good[5] = ("client_secret", SECRET);
    let (status, body) = token_call(&graph, &good).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 3000));
    assert!(body["refresh_token"].is_string());
    let scope = body["scope"].as_str().unwrap_or("");
    assert!(
        scope.contains("Mail.Read") && !scope.contains("offline_access"),
        "{scope}"
    );

    let me = Api::new(&graph, body["access_token"].as_str().unwrap_or(""))
        .get("/me")
        .await?;
    assert_eq!(me.status, 200);
    let me = me.json()?;
    assert_eq!(me["mail"], ALICE);
    assert_eq!(me["userPrincipalName"], ALICE);
    assert_eq!(me["displayName"], "Alice Example");
    assert!(me["id"].as_str().is_some_and(|id| id.len() == 36));
    Ok(())
}

#[tokio::test]
async fn authorize_refuses_requests_without_pkce_or_with_unknown_scopes() -> Result<()> {
    let graph = emulator().await?;
    let (_, challenge) = pkce();
    let no_pkce = authorize_url(&graph, &challenge, "s", SCOPES)?
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let q = query_of(&graph.consent(&no_pkce, ALICE).await?)?;
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert_eq!(q.get("state").map(String::as_str), Some("s"));
    let q = query_of(
        &graph
            .consent(&authorize_url(&graph, &challenge, "s", "Mail.Send")?, ALICE)
            .await?,
    )?;
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_scope"));
    // A redirect URI that is not registered is never redirected to.
    let other =
        authorize_url(&graph, &challenge, "s", SCOPES)?.replace("127.0.0.1%3A9", "evil.test");
    assert!(graph.consent(&other, ALICE).await.is_err());
    // Without offline_access there is no refresh token.
    let (verifier, challenge) = pkce();
    let code = consent_code(&graph, &challenge, "User.Read Mail.Read").await?;
    let (status, body) = token_call(&graph, &code_grant(&code, &verifier)).await?;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none(), "{body}");
    Ok(())
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_the_old_one_is_refused() -> Result<()> {
    let graph = emulator().await?;
    let first = sign_in(&graph, ALICE)
        .await?
        .refresh
        .context("no refresh token")?;

    let (status, body) = refresh(&graph, &first).await?;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"]
        .as_str()
        .context("no rotated refresh token")?
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(
        Api::new(&graph, body["access_token"].as_str().unwrap_or(""))
            .get("/me")
            .await?
            .status,
        200
    );
    assert_eq!(graph.refresh_count(ALICE), 1);

    let (status, body) = refresh(&graph, &first).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&graph, &second).await?;
    assert_eq!(status, 200);
    assert_eq!(graph.refresh_count(ALICE), 2);
    Ok(())
}

#[tokio::test]
async fn revoked_refresh_tokens_give_invalid_grant() -> Result<()> {
    let graph = emulator().await?;
    let tokens = sign_in(&graph, ALICE).await?;
    graph.revoke_refresh_tokens(ALICE);
    let (status, body) = refresh(&graph, tokens.refresh.as_deref().unwrap_or("")).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .starts_with("AADSTS50173"),
        "{body}"
    );
    assert!(
        body["error_codes"]
            .as_array()
            .is_some_and(|c| c.contains(&json!(50173)))
    );
    // The access token lives on until it expires.
    assert_eq!(
        Api::new(&graph, &tokens.access).get("/me").await?.status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn missing_unknown_and_expired_access_tokens_get_401() -> Result<()> {
    let (graph, api) = world().await?;
    let anonymous = reqwest::Client::new()
        .get(format!("{}/me", graph.graph_url()))
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = serde_json::from_slice(&anonymous.bytes().await?)?;
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(Api::new(&graph, "made-up").get("/me").await?.status, 401);

    // A short lifetime set by the test, then the clock moves past it.
    graph.set_access_token_lifetime(Duration::from_secs(60));
    let short = sign_in(&graph, ALICE).await?;
    let short_api = Api::new(&graph, &short.access);
    assert_eq!(short_api.get("/me").await?.status, 200);
    graph.advance_clock(Duration::from_secs(61));
    let expired = short_api.get("/me").await?;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.json()?["error"]["code"],
        "InvalidAuthenticationToken"
    );
    // The first token (about an hour) is still good; then it is expired by the test.
    assert_eq!(api.get("/me").await?.status, 200);
    graph.expire_access_tokens(ALICE);
    assert_eq!(api.get("/me").await?.status, 401);
    assert!(graph.requests().iter().filter(|r| r.status == 401).count() >= 4);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

#[tokio::test]
async fn subscription_create_performs_the_handshake_on_both_urls() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    let created = api
        .subscribe(&rx, "me/mailFolders('Inbox')/messages", 60)
        .await?;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let sub = created.json()?;
    assert_eq!(sub["changeType"], "created");
    assert_eq!(sub["resource"], "me/mailFolders('Inbox')/messages");
    assert_eq!(sub["clientState"], "state-secret-1");
    assert_eq!(sub["notificationUrl"], rx.notify_url());
    let tokens = rx.validation_tokens();
    assert_eq!(tokens.len(), 2, "one handshake per URL");
    assert!(
        tokens[0].starts_with("Validation: Testing client application reachability"),
        "{tokens:?}"
    );
    let validations: Vec<_> = graph
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == DeliveryKind::Validation)
        .collect();
    assert!(
        validations
            .iter()
            .all(|d| d.status == Some(200) && d.error.is_none()),
        "{validations:?}"
    );
    let views = graph.subscriptions();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].id, sub["id"].as_str().unwrap_or(""));
    assert_eq!(views[0].user, ALICE);
    Ok(())
}

#[tokio::test]
async fn subscription_create_fails_with_validation_error_when_the_handshake_fails() -> Result<()> {
    let (graph, api) = world().await?;
    for handshake in [Handshake::WrongBody, Handshake::Html] {
        let rx = Receiver::start(handshake).await?;
        let refused = api.subscribe(&rx, "me/messages", 60).await?;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.json()?["error"]["code"], "ValidationError");
    }
    // Nobody listening at all.
    let closed = mailsig_tests::servers::free_port()?;
    let nobody = Receiver {
        base: format!("http://127.0.0.1:{closed}"),
        got: Arc::default(),
    };
    let refused = api.subscribe(&nobody, "me/messages", 60).await?;
    assert_eq!(refused.error()?, (400, "ValidationError".to_owned()));
    assert!(graph.subscriptions().is_empty());
    Ok(())
}

#[tokio::test]
async fn duplicate_subscription_gives_409_naming_the_existing_one() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    let first = api
        .subscribe(&rx, "me/mailFolders('Inbox')/messages", 60)
        .await?
        .json()?;
    let id = first["id"].as_str().context("no id")?;
    // Same mailbox and folder, written another way.
    let again = api
        .subscribe(&rx, "/me/mailfolders/inbox/messages", 60)
        .await?;
    assert_eq!(again.status, 409);
    let err = again.json()?;
    assert_eq!(err["error"]["code"], "Conflict");
    assert!(
        err["error"]["message"].as_str().unwrap_or("").contains(id),
        "{err}"
    );
    // The documented recovery: list and reuse.
    let list = api.get("/subscriptions").await?.json()?;
    assert_eq!(list["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["value"][0]["id"], id);
    assert_eq!(graph.subscriptions().len(), 1);
    Ok(())
}

#[tokio::test]
async fn patch_renews_with_the_capped_expiry_and_delete_removes() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    // Asking for 30 days gets the documented maximum (10,080 minutes).
    let sub = api
        .subscribe(&rx, "me/messages", 30 * 24 * 60)
        .await?
        .json()?;
    let id = sub["id"].as_str().context("no id")?.to_owned();
    let granted = parse_rfc3339(&sub["expirationDateTime"])?;
    let lifetime = granted - time::OffsetDateTime::now_utc();
    assert!(
        lifetime <= time::Duration::minutes(10_080) && lifetime > time::Duration::minutes(10_070),
        "{lifetime}"
    );

    let later = rfc3339_from_now(time::Duration::hours(50))?;
    let renewed = api
        .patch_subscription(&id, json!({ "expirationDateTime": later }))
        .await?;
    assert_eq!(renewed.status, 200);
    let renewed = renewed.json()?;
    let renewed_at = parse_rfc3339(&renewed["expirationDateTime"])?;
    assert!(
        (renewed_at - time::OffsetDateTime::now_utc() - time::Duration::hours(50)).abs()
            < time::Duration::seconds(5)
    );
    assert_eq!(graph.subscriptions()[0].reauthorized, 1);

    let past = api
        .patch_subscription(&id, json!({ "expirationDateTime": "2020-01-01T00:00:00Z" }))
        .await?;
    assert_eq!(past.status, 400);
    assert_eq!(
        api.call(
            reqwest::Method::POST,
            &format!("/subscriptions/{id}/reauthorize"),
            None
        )
        .await?
        .status,
        204
    );

    assert_eq!(
        api.call(
            reqwest::Method::DELETE,
            &format!("/subscriptions/{id}"),
            None
        )
        .await?
        .status,
        204
    );
    assert_eq!(api.get(&format!("/subscriptions/{id}")).await?.status, 404);
    assert!(graph.subscriptions().is_empty());
    Ok(())
}

#[tokio::test]
async fn subscriptions_expire_with_the_clock() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    let id = api.subscription_id(&rx, "me/messages").await?;
    graph.advance_clock(Duration::from_secs(61 * 60));
    assert!(graph.subscriptions().is_empty());
    // The clock moved past the access token too: sign in again.
    let api = Api::new(&graph, &sign_in(&graph, ALICE).await?.access);
    assert_eq!(api.get(&format!("/subscriptions/{id}")).await?.status, 404);
    graph.deliver(ALICE, mime(1)).await?;
    assert!(
        rx.notifications().is_empty(),
        "an expired subscription was notified"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Messages and delta

#[tokio::test]
async fn value_returns_the_exact_bytes_and_metadata_honours_select() -> Result<()> {
    let (graph, api) = world().await?;
    let raw = b"From: =?utf-8?q?B=C3=B6b?= <bob@fabrikam.test>\r\nSubject: bytes\r\nMessage-ID: <x1@f.test>\r\n\r\n\xff\xfe raw\r\n".to_vec();
    let id = graph.deliver(ALICE, raw.clone()).await?;
    let value = api.get(&format!("/me/messages/{id}/$value")).await?;
    assert_eq!(value.status, 200);
    assert_eq!(value.body.as_ref(), raw.as_slice());
    // graph-rs-sdk style paths: %24value, and the /users/{id} form.
    let me = api.get("/me").await?.json()?;
    let user_id = me["id"].as_str().unwrap_or("");
    assert_eq!(
        api.get(&format!("/users/{user_id}/messages/{id}/%24value"))
            .await?
            .body
            .as_ref(),
        raw.as_slice()
    );
    assert_eq!(
        api.get(&format!("/users/{ALICE}/messages/{id}/$value"))
            .await?
            .status,
        200
    );

    let meta = api
        .get(&format!(
            "/me/messages/{id}?%24select=id,internetMessageId,from,subject"
        ))
        .await?
        .json()?;
    assert_eq!(meta["id"], id.as_str());
    assert_eq!(meta["internetMessageId"], "<x1@f.test>");
    assert_eq!(meta["subject"], "bytes");
    assert_eq!(meta["from"]["emailAddress"]["address"], "bob@fabrikam.test");
    assert_eq!(meta["from"]["emailAddress"]["name"], "Böb");
    assert!(
        meta.get("receivedDateTime").is_none(),
        "not selected: {meta}"
    );
    assert_eq!(
        api.get("/me/messages/AAMkADnothere/$value").await?.status,
        404
    );

    // Another user's mailbox is not reachable with Alice's token.
    graph.add_user("carol@contoso.test", "Carol");
    assert_eq!(
        api.get("/users/carol@contoso.test/messages/x/$value")
            .await?
            .status,
        403
    );
    Ok(())
}

/// Follows a delta round to its deltaLink; returns the ids seen and the deltaLink.
async fn delta_round(api: &Api, start: &str) -> Result<(Vec<String>, String, usize)> {
    let (mut ids, mut next, mut pages) = (Vec::new(), start.to_owned(), 0);
    loop {
        let page = api.get(&next).await?;
        ensure!(page.status == 200, "delta page answered {}", page.status);
        let page = page.json()?;
        pages += 1;
        for item in page["value"].as_array().context("no value")? {
            ensure!(item["@odata.type"] == "#microsoft.graph.message", "{item}");
            ids.push(item["id"].as_str().context("no id")?.to_owned());
        }
        if let Some(n) = page["@odata.nextLink"].as_str() {
            ensure!(n.contains("$skiptoken="), "{n}");
            next = n.to_owned();
        } else if let Some(d) = page["@odata.deltaLink"].as_str() {
            ensure!(d.contains("$deltatoken="), "{d}");
            return Ok((ids, d.to_owned(), pages));
        } else {
            bail!("a delta page with neither nextLink nor deltaLink: {page}");
        }
    }
}

#[tokio::test]
async fn delta_pages_through_the_folder_and_the_delta_link_returns_only_new_messages() -> Result<()>
{
    let (graph, api) = world().await?;
    let mut first = Vec::new();
    for n in 0..25 {
        first.push(graph.deliver(ALICE, mime(n)).await?);
    }
    graph.deliver_to(ALICE, "Archive", mime(99)).await?;
    let (ids, link, pages) =
        delta_round(&api, "/me/mailFolders('inbox')/messages/delta?$select=id").await?;
    assert_eq!(
        ids, first,
        "every Inbox message once, in order, nothing from other folders"
    );
    assert_eq!(pages, 3, "default page size 10");

    let (ids, link, _) = delta_round(&api, &link).await?;
    assert!(ids.is_empty(), "nothing new: {ids:?}");
    let new: Vec<String> = vec![
        graph.deliver(ALICE, mime(100)).await?,
        graph.deliver(ALICE, mime(101)).await?,
    ];
    let (ids, link2, _) = delta_round(&api, &link).await?;
    assert_eq!(ids, new);
    // The same deltaLink can be replayed (e.g. after a crash before the new one was saved).
    assert_eq!(delta_round(&api, &link).await?.0, new);
    assert!(delta_round(&api, &link2).await?.0.is_empty());

    // graph-rs-sdk's form (`delta()`), Prefer page size, the /users form.
    let me = api.get("/me").await?.json()?;
    let path = format!(
        "/users/{}/mailFolders/inbox/messages/delta()",
        me["id"].as_str().unwrap_or("")
    );
    let mut req = api
        .http
        .get(format!("{}{path}", api.graph))
        .bearer_auth(&api.token);
    req = req.header("Prefer", "odata.maxpagesize=5");
    let page: Value = serde_json::from_slice(&req.send().await?.bytes().await?)?;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(5));
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .is_some_and(|l| l.contains("/delta()?$skiptoken="))
    );

    let gone = api
        .get("/me/mailFolders/inbox/messages/delta?$deltatoken=forged")
        .await?;
    assert_eq!(gone.error()?, (410, "SyncStateNotFound".to_owned()));
    Ok(())
}

#[tokio::test]
async fn delta_filter_on_received_time_gives_a_baseline_without_old_mail() -> Result<()> {
    let (graph, api) = world().await?;
    graph.deliver(ALICE, mime(1)).await?;
    graph.advance_clock(Duration::from_secs(10));
    let since = rfc3339_from_now(time::Duration::seconds(5))?;
    let newer = graph.deliver(ALICE, mime(2)).await?;
    let mut url = url::Url::parse(&format!(
        "{}/me/mailFolders/inbox/messages/delta",
        api.graph
    ))?;
    url.query_pairs_mut()
        .append_pair("$filter", &format!("receivedDateTime ge {since}"))
        .append_pair("changeType", "created");
    assert_eq!(delta_round(&api, url.as_str()).await?.0, vec![newer]);
    let mut bad = url::Url::parse(&format!(
        "{}/me/mailFolders/inbox/messages/delta",
        api.graph
    ))?;
    bad.query_pairs_mut()
        .append_pair("$filter", "subject eq 'x'");
    assert_eq!(api.get(bad.as_str()).await?.status, 400);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Notifications

#[tokio::test]
async fn a_delivered_message_posts_a_notification_of_the_documented_shape() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    let sub = api
        .subscribe(&rx, "me/mailFolders('Inbox')/messages", 60)
        .await?
        .json()?;
    let user_id = api.get("/me").await?.json()?["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let id = graph.deliver(ALICE, mime(1)).await?;
    graph.deliver_to(ALICE, "Archive", mime(2)).await?; // not watched

    let got = rx.notifications();
    assert_eq!(got.len(), 1, "{got:?}");
    let items = got[0]["value"].as_array().context("no value array")?;
    assert_eq!(items.len(), 1);
    let n = &items[0];
    assert_eq!(n["subscriptionId"], sub["id"]);
    assert_eq!(n["clientState"], "state-secret-1");
    assert_eq!(n["changeType"], "created");
    assert_eq!(n["resource"], format!("Users/{user_id}/Messages/{id}"));
    assert_eq!(n["tenantId"], graph.tenant_id());
    assert_eq!(
        n["subscriptionExpirationDateTime"],
        sub["expirationDateTime"]
    );
    assert_eq!(n["resourceData"]["@odata.type"], "#Microsoft.Graph.Message");
    assert_eq!(
        n["resourceData"]["@odata.id"],
        format!("Users/{user_id}/Messages/{id}")
    );
    assert_eq!(n["resourceData"]["id"], id.as_str());
    // The id in the notification fetches the message.
    assert_eq!(
        api.get(&format!(
            "/me/messages/{}/$value",
            n["resourceData"]["id"].as_str().unwrap_or("")
        ))
        .await?
        .body
        .as_ref(),
        mime(1).as_slice()
    );

    let posted = notification_deliveries(&graph);
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].status, Some(202));
    assert!(posted[0].latency < Duration::from_secs(3));
    Ok(())
}

#[tokio::test]
async fn dropped_mode_posts_nothing_and_batch_mode_posts_one_body() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    api.subscribe(&rx, "me/messages", 60).await?;

    graph.set_drop_notifications(true);
    graph.deliver(ALICE, mime(1)).await?;
    graph.deliver(ALICE, mime(2)).await?;
    assert!(rx.notifications().is_empty());
    assert_eq!(graph.dropped_notifications(), 2);
    graph.set_drop_notifications(false);

    graph.set_batch_notifications(true);
    let ids = [
        graph.deliver(ALICE, mime(3)).await?,
        graph.deliver(ALICE, mime(4)).await?,
        graph.deliver(ALICE, mime(5)).await?,
    ];
    assert!(
        rx.notifications().is_empty(),
        "batched notifications wait for the flush"
    );
    assert_eq!(graph.flush_notifications().await, 1);
    let got = rx.notifications();
    assert_eq!(got.len(), 1);
    let ids_in_body: Vec<&str> = got[0]["value"]
        .as_array()
        .context("no value")?
        .iter()
        .filter_map(|n| n["resourceData"]["id"].as_str())
        .collect();
    assert_eq!(
        ids_in_body,
        ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let last = notification_deliveries(&graph)
        .pop()
        .context("no delivery")?;
    assert_eq!((last.items, last.status), (3, Some(202)));
    Ok(())
}

#[tokio::test]
async fn lifecycle_events_reach_the_lifecycle_url_and_subscription_removed_deletes() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    let id = api.subscription_id(&rx, "me/messages").await?;
    for event in [
        LifecycleEvent::ReauthorizationRequired,
        LifecycleEvent::Missed,
        LifecycleEvent::SubscriptionRemoved,
    ] {
        assert_eq!(graph.send_lifecycle(&id, event).await?, 202);
    }
    let got = rx.lifecycle();
    let events: Vec<&str> = got
        .iter()
        .filter_map(|b| b["value"][0]["lifecycleEvent"].as_str())
        .collect();
    assert_eq!(
        events,
        ["reauthorizationRequired", "missed", "subscriptionRemoved"]
    );
    let item = &got[0]["value"][0];
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["clientState"], "state-secret-1");
    assert_eq!(item["tenantId"], graph.tenant_id());
    assert!(item["subscriptionExpirationDateTime"].is_string());
    assert!(
        rx.notifications().is_empty(),
        "lifecycle events went to the notification URL"
    );
    assert!(
        graph.subscriptions().is_empty(),
        "subscriptionRemoved did not remove it"
    );
    assert_eq!(api.get(&format!("/subscriptions/{id}")).await?.status, 404);
    assert!(
        graph
            .send_lifecycle(&id, LifecycleEvent::Missed)
            .await
            .is_err()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn injected_429_carries_retry_after_then_503_then_normal_service() -> Result<()> {
    let (graph, api) = world().await?;
    graph.inject(Fault::Throttle {
        times: 2,
        retry_after_secs: 7,
    });
    graph.inject(Fault::Unavailable {
        times: 1,
        retry_after_secs: Some(3),
    });
    for _ in 0..2 {
        let r = api.get("/me").await?;
        assert_eq!(r.status, 429);
        assert_eq!(
            r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("7")
        );
        assert_eq!(r.json()?["error"]["code"], "ApplicationThrottled");
    }
    let r = api.get("/me").await?;
    assert_eq!(
        (
            r.status,
            r.headers.get("retry-after").and_then(|v| v.to_str().ok())
        ),
        (503, Some("3"))
    );
    assert_eq!(api.get("/me").await?.status, 200);
    let faults: Vec<_> = graph.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some("throttle"),
            Some("throttle"),
            Some("unavailable"),
            None
        ]
    );
    Ok(())
}

#[tokio::test]
async fn slow_fault_delays_and_requests_record_concurrency() -> Result<()> {
    let (graph, api) = world().await?;
    graph.inject(Fault::Slow {
        times: 3,
        delay: Duration::from_millis(400),
    });
    let started = Instant::now();
    let (a, b, c) = tokio::join!(api.get("/me"), api.get("/me"), api.get("/me"));
    assert!([a?.status, b?.status, c?.status] == [200, 200, 200]);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(graph.max_concurrency(ALICE), 3);

    // With Graph's per-mailbox limit on, a fifth concurrent call is throttled.
    graph.set_mailbox_concurrency_limit(Some(4));
    graph.inject(Fault::Slow {
        times: 5,
        delay: Duration::from_millis(400),
    });
    let calls = futures::future::join_all((0..5).map(|_| api.get("/me"))).await;
    let mut statuses: Vec<u16> = calls
        .into_iter()
        .map(|r| r.map(|a| a.status).unwrap_or(0))
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    Ok(())
}

#[tokio::test]
async fn duplicate_mode_posts_twice_and_notification_body_matches_what_is_posted() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    let sub_id = api.subscription_id(&rx, "me/messages").await?;
    graph.set_duplicate_notifications(true);
    let id = graph.deliver(ALICE, mime(1)).await?;
    let got = rx.notifications();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], got[1], "a duplicate is the same notification");
    let body = graph.notification_body(&sub_id, &id).context("no body")?;
    assert_eq!(body["value"][0]["resource"], got[0]["value"][0]["resource"]);
    assert_eq!(body["value"][0]["clientState"], "state-secret-1");
    assert!(graph.notification_body("nope", &id).is_none());
    Ok(())
}

#[tokio::test]
async fn token_endpoint_checks_the_redirect_uri_and_accepts_basic_client_authentication()
-> Result<()> {
    let graph = emulator().await?;
    let (verifier, challenge) = pkce();
    let code = consent_code(&graph, &challenge, SCOPES).await?;
    let mut other_redirect = code_grant(&code, &verifier);
    other_redirect[2] = ("redirect_uri", "http://127.0.0.1:9/other");
    let (status, body) = token_call(&graph, &other_redirect).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let code = consent_code(&graph, &challenge, SCOPES).await?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .finish();
    let resp = reqwest::Client::new()
        .post(format!("{}/oauth2/v2.0/token", graph.authority_url()))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&resp.bytes().await?)?;
    assert!(body["access_token"].is_string());
    Ok(())
}

#[tokio::test]
async fn patch_of_the_notification_url_validates_the_new_url_and_users_resources_work() -> Result<()>
{
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    let user_id = api.get("/me").await?.json()?["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let sub = api
        .subscribe(
            &rx,
            &format!("users/{user_id}/mailFolders/inbox/messages"),
            60,
        )
        .await?;
    assert_eq!(sub.status, 201);
    let id = sub.json()?["id"]
        .as_str()
        .context("no subscription id")?
        .to_owned();

    let bad = Receiver::start(Handshake::WrongBody).await?;
    let refused = api
        .patch_subscription(&id, json!({ "notificationUrl": bad.notify_url() }))
        .await?;
    assert_eq!(refused.error()?, (400, "ValidationError".to_owned()));
    assert_eq!(graph.subscriptions()[0].notification_url, rx.notify_url());

    let rx2 = Receiver::start(Handshake::Echo).await?;
    let moved = api
        .patch_subscription(&id, json!({ "notificationUrl": rx2.notify_url() }))
        .await?;
    assert_eq!(moved.status, 200);
    graph.deliver(ALICE, mime(1)).await?;
    assert_eq!(
        (rx.notifications().len(), rx2.notifications().len()),
        (0, 1)
    );

    // Another user's mailbox cannot be subscribed to with Alice's token.
    graph.add_user("carol@contoso.test", "Carol");
    assert_eq!(
        api.subscribe(&rx, "users/carol@contoso.test/messages", 60)
            .await?
            .status,
        403
    );
    Ok(())
}

#[tokio::test]
async fn the_control_api_registers_delivers_and_reports() -> Result<()> {
    let graph = GraphEmulator::start().await?;
    let http = reqwest::Client::new();
    let control = format!("{}/_emulator", graph.base_url());
    let app = json!({ "client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uri": REDIRECT });
    let r = http
        .post(format!("{control}/apps"))
        .json_body(&app)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 204);
    let r = http
        .post(format!("{control}/users"))
        .json_body(&json!({ "email": ALICE }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 201);
    let api = Api::new(&graph, &sign_in(&graph, ALICE).await?.access);
    let rx = Receiver::start(Handshake::Echo).await?;
    let sub_id = api.subscription_id(&rx, "me/messages").await?;

    let r = http
        .post(format!("{control}/users/{ALICE}/messages"))
        .body(mime(7))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 201);
    let id = serde_json::from_slice::<Value>(&r.bytes().await?)?["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(rx.notifications().len(), 1);
    let stats: Value = serde_json::from_slice(
        &http
            .get(format!("{control}/stats"))
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    assert_eq!(
        (
            stats["notifications_posted"].as_u64(),
            stats["notifications_2xx"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let body = http
        .get(format!(
            "{control}/notification?subscription_id={sub_id}&message_id={id}"
        ))
        .send()
        .await?;
    let body: Value = serde_json::from_slice(&body.bytes().await?)?;
    assert_eq!(body["value"][0]["resourceData"]["id"], id.as_str());
    let r = http
        .post(format!("{control}/lifecycle"))
        .json_body(&json!({ "subscription_id": sub_id, "event": "missed" }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(rx.lifecycle().len(), 1);
    Ok(())
}

/// reqwest is built without its `json` feature here; this is the one-liner it would add.
trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header(header::CONTENT_TYPE, "application/json")
            .body(v.to_string())
    }
}

#[tokio::test]
async fn failed_notifications_are_retried_when_the_test_asks_and_slow_answers_count_as_failures()
-> Result<()> {
    let (graph, api) = world().await?;
    // A receiver that answers the handshake, then 503 twice, then 202.
    let failures = Arc::new(Mutex::new(2u32));
    let slow = Arc::new(Mutex::new(false));
    let app = Router::new().route(
        "/notify",
        post({
            let (failures, slow) = (Arc::clone(&failures), Arc::clone(&slow));
            move |Query(q): Query<HashMap<String, String>>| async move {
                if let Some(token) = q.get("validationToken") {
                    return ([(header::CONTENT_TYPE, "text/plain")], token.clone()).into_response();
                }
                if slow.lock().map(|s| *s).unwrap_or(false) {
                    tokio::time::sleep(Duration::from_millis(3500)).await;
                    return StatusCode::ACCEPTED.into_response();
                }
                let fail = failures
                    .lock()
                    .map(|mut n| {
                        if *n > 0 {
                            *n -= 1;
                            true
                        } else {
                            false
                        }
                    })
                    .unwrap_or(false);
                if fail {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                } else {
                    StatusCode::ACCEPTED.into_response()
                }
            }
        }),
    );
    let base = serve(app).await?;
    let expiry = rfc3339_from_now(time::Duration::hours(1))?;
    let created = api
        .call(
            reqwest::Method::POST,
            "/subscriptions",
            Some(json!({ "changeType": "created", "notificationUrl": format!("{base}/notify"), "resource": "me/messages", "expirationDateTime": expiry })),
        )
        .await?;
    assert_eq!(created.status, 201);

    graph.set_notification_retries(3, Duration::from_millis(50));
    graph.deliver(ALICE, mime(1)).await?;
    let statuses: Vec<Option<u16>> = notification_deliveries(&graph)
        .iter()
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(202)]);

    // An answer after Graph's 3-second allowance is a failure, even if it is a 202.
    graph.set_notification_retries(0, Duration::ZERO);
    if let Ok(mut s) = slow.lock() {
        *s = true;
    }
    graph.deliver(ALICE, mime(2)).await?;
    let last = notification_deliveries(&graph)
        .pop()
        .context("no delivery")?;
    assert_eq!(last.status, None);
    assert!(
        last.latency >= Duration::from_secs(3) && last.latency < Duration::from_millis(3400),
        "{:?}",
        last.latency
    );
    Ok(())
}

#[tokio::test]
async fn a_test_chosen_validation_token_reaches_the_endpoint_decoded() -> Result<()> {
    let (graph, api) = world().await?;
    let token = "<script>alert('x')</script> & a+b=c %41";
    graph.set_validation_token(Some(token));
    let rx = Receiver::start(Handshake::Echo).await?;
    assert_eq!(api.subscribe(&rx, "me/messages", 60).await?.status, 201);
    assert_eq!(rx.validation_tokens(), [token, token]);
    Ok(())
}

#[tokio::test]
async fn mail_folders_can_be_listed_filtered_and_fetched_by_well_known_name() -> Result<()> {
    let (graph, api) = world().await?;
    let archive = graph.folder(ALICE, "Archive")?;
    graph.deliver_to(ALICE, "Archive", mime(1)).await?;
    let all = api.get("/me/mailFolders").await?.json()?;
    let names: Vec<&str> = all["value"]
        .as_array()
        .context("no value")?
        .iter()
        .filter_map(|f| f["displayName"].as_str())
        .collect();
    assert_eq!(names, ["Inbox", "Archive"]);
    let mut url = url::Url::parse(&format!("{}/me/mailFolders", api.graph))?;
    url.query_pairs_mut()
        .append_pair("$filter", "displayName eq 'archive'");
    let filtered = api.get(url.as_str()).await?.json()?;
    assert_eq!(filtered["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(filtered["value"][0]["id"], archive.as_str());
    assert_eq!(filtered["value"][0]["totalItemCount"], 1);
    let inbox = api.get("/me/mailFolders/inbox").await?.json()?;
    assert_eq!(inbox["displayName"], "Inbox");
    assert_eq!(api.get("/me/mailFolders/nope").await?.status, 404);
    // A subscription on the folder id watches that folder only.
    let rx = Receiver::start(Handshake::Echo).await?;
    assert_eq!(
        api.subscribe(&rx, &format!("me/mailFolders('{archive}')/messages"), 60)
            .await?
            .status,
        201
    );
    graph.deliver(ALICE, mime(2)).await?;
    assert!(rx.notifications().is_empty());
    graph.deliver_to(ALICE, "Archive", mime(3)).await?;
    assert_eq!(rx.notifications().len(), 1);
    Ok(())
}

#[tokio::test]
async fn deleted_messages_come_back_as_removed_in_the_next_delta_and_are_gone() -> Result<()> {
    let (graph, api) = world().await?;
    let rx = Receiver::start(Handshake::Echo).await?;
    assert_eq!(api.subscribe(&rx, "me/messages", 60).await?.status, 201);
    let a = graph.deliver(ALICE, mime(1)).await?;
    let b = graph.deliver(ALICE, mime(2)).await?;
    let (ids, link, _) = delta_round(&api, "/me/mailFolders/inbox/messages/delta").await?;
    assert_eq!(ids, [a.clone(), b.clone()]);
    graph.delete_message(ALICE, &a).await?;
    let c = graph.deliver(ALICE, mime(3)).await?;
    let page = api.get(&link).await?.json()?;
    let items = page["value"].as_array().context("no value")?;
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(
        (
            items[0]["id"].as_str(),
            items[0]["@removed"]["reason"].as_str()
        ),
        (Some(a.as_str()), Some("deleted"))
    );
    assert_eq!(
        (items[1]["id"].as_str(), items[1].get("@removed")),
        (Some(c.as_str()), None)
    );
    assert_eq!(
        api.get(&format!("/me/messages/{a}/$value")).await?.status,
        404
    );
    assert_eq!(
        delta_round(&api, "/me/mailFolders/inbox/messages/delta")
            .await?
            .0,
        [b, c]
    );
    // The created-only subscription heard of the creations, not of the deletion.
    assert_eq!(rx.notifications().len(), 3);
    assert!(
        graph.delete_message(ALICE, &a).await.is_err(),
        "deleted twice"
    );
    Ok(())
}

#[tokio::test]
async fn a_handshake_not_answered_within_ten_seconds_fails_the_subscription() -> Result<()> {
    let (graph, api) = world().await?;
    let app = Router::new().route(
        "/notify",
        post(|Query(q): Query<HashMap<String, String>>| async move {
            tokio::time::sleep(Duration::from_secs(12)).await;
            (
                [(header::CONTENT_TYPE, "text/plain")],
                q.get("validationToken").cloned().unwrap_or_default(),
            )
        }),
    );
    let base = serve(app).await?;
    let slow = Receiver {
        base,
        got: Arc::default(),
    };
    let started = Instant::now();
    let refused = api.subscribe(&slow, "me/messages", 60).await?;
    let waited = started.elapsed();
    assert_eq!(refused.error()?, (400, "ValidationError".to_owned()));
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(12),
        "{waited:?}"
    );
    assert!(graph.subscriptions().is_empty());
    Ok(())
}
