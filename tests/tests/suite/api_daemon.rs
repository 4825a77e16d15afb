//! The API as the daemon serves it: the supervisor binds its listener, `/api/v1` answers next to
//! the operations endpoints over real TCP, and the rate limit sees the real client address.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::http::app::ApiSettings;
use mailsig_daemon::store::Store;
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// One HTTP/1.1 request with `Connection: close`; returns (status, head, body).
async fn request(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("reply in 10 s")??;
    let text = String::from_utf8(raw).context("utf-8 reply")?;
    let (head, body) = text.split_once("\r\n\r\n").context("head and body")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status")?;
    Ok((status, head.to_ascii_lowercase(), body.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_the_api_with_its_rate_limit_and_correlation_id() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    store.migrate().await?;
    let user = store.create_user("served@example.test", None).await?;
    let token = store.create_token(user.id, "served").await?;
    let token = token.secret.expose_secret().to_owned();
    let options = SupervisorOptions {
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        api: ApiSettings {
            rate_per_minute: 60,
            rate_burst: 3,
            ..ApiSettings::default()
        },
        ..SupervisorOptions::default()
    };
    let supervisor = Supervisor::start(
        options,
        store.clone(),
        Vault::new(MasterKey::generate()?),
        CancellationToken::new(),
    )
    .await?;
    let addr = supervisor.http_addr().context("http address")?;

    let (status, head, body) = request(addr, "/api/v1/me", Some(&token)).await?;
    ensure!(
        status == 200 && body.contains("served@example.test"),
        "GET /api/v1/me: {status} {body}"
    );
    ensure!(
        head.contains("x-request-id: "),
        "no correlation id in {head}"
    );
    let (status, _, body) = request(addr, "/api/v1/openapi.json", None).await?;
    ensure!(
        status == 200 && body.contains("/api/v1/lists/{id}/export.vcf"),
        "openapi: {status}"
    );
    let (status, _, _) = request(addr, "/healthz", None).await?;
    ensure!(status == 200, "healthz next to the api: {status}");
    // Burst of 3 from 127.0.0.1 used up (the health check is not counted): the next is limited.
    let (status, _, _) = request(addr, "/api/v1/me", None).await?;
    ensure!(status == 401, "third api request: {status}");
    let (status, head2, _) = request(addr, "/api/v1/me", None).await?;
    ensure!(
        status == 429 && head2.contains("retry-after: "),
        "fourth api request from the same address: {status} {head2}"
    );
    supervisor.stop().await?;
    Ok(())
}
