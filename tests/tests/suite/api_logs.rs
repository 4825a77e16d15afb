//! Every log line of a request carries its correlation id (the `request` span), and no log line
//! carries what the user typed: query strings (search text), passwords.

use crate::api_support;

use anyhow::{Result, ensure};
use api_support::{App, Backend};
use axum::body::Body;
use axum::http::{Method, Request};
use mailsig_tests::log_capture::LogBuffer;

#[tokio::test]
async fn log_lines_of_a_request_carry_its_id_and_no_user_input() -> Result<()> {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // This test's runtime is single-threaded, so the default subscriber sees the whole request.
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = App::new(Backend::Sqlite).await?;
    let (user, token) = app.user("logs").await?;
    let id = format!("corr-{:016x}", rand::random::<u64>());
    let secret_query = format!("Zebediah{:08x}", rand::random::<u32>());
    let password = format!("Pw-{:016x}-canary", rand::random::<u64>());

    let search = Request::builder()
        .uri(format!("/api/v1/lists/1/suggestions?q={secret_query}"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-request-id", &id)
        .body(Body::empty())?;
    app.send(search, "192.0.2.7:1".parse()?).await?;
    let sign_in = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/session")
        .header("content-type", "application/json")
        .header("x-request-id", &id)
        .body(Body::from(serde_json::to_vec(
            &serde_json::json!({"email": user.email, "password": password}),
        )?))?;
    let reply = app.send(sign_in, "192.0.2.7:1".parse()?).await?;
    ensure!(reply.status == 400, "wrong password: {}", reply.status);

    // A service-layer line (the SSRF guard refusing an internal host) carries the id too, and
    // neither the host typed nor the password.
    let strict = App::with_imap(
        Backend::Sqlite,
        api_support::fast_settings(),
        Default::default(),
    )
    .await?;
    let (owner, owner_token) = strict.user("guarded").await?;
    let list = strict.store.create_list(owner.id, "Guarded").await?;
    let internal_host = format!("10.{}.{}.9", rand::random::<u8>(), rand::random::<u8>());
    let link = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/mailboxes/imap")
        .header("authorization", format!("Bearer {owner_token}"))
        .header("content-type", "application/json")
        .header("x-request-id", &id)
        .body(Body::from(serde_json::to_vec(&serde_json::json!({
            "list": list.id.0, "host": internal_host, "port": 993, "security": "tls",
            "username": "someone", "address": "someone@example.org", "password": password,
        }))?))?;
    let refused = strict.send(link, "192.0.2.8:1".parse()?).await?;
    ensure!(refused.status == 400, "internal host: {}", refused.status);

    let logs = buffer.contents();
    let ours: Vec<&str> = logs.lines().filter(|l| l.contains(&id)).collect();
    ensure!(
        ours.iter()
            .any(|l| l.contains("finished processing request")),
        "no response line with the id:\n{logs}"
    );
    ensure!(
        ours.iter().any(|l| l.contains("sign-in refused")),
        "the handler's own line lacks the id:\n{logs}"
    );
    ensure!(
        ours.iter().any(|l| l.contains("IMAP link refused")),
        "the service layer's line lacks the id:\n{logs}"
    );
    ensure!(
        !logs.contains(&internal_host),
        "the host the user typed reached the log"
    );
    ensure!(
        !logs.contains(&secret_query),
        "the search text reached the log"
    );
    ensure!(!logs.contains(&password), "the password reached the log");
    ensure!(!logs.contains(&token), "the token reached the log");
    Ok(())
}
