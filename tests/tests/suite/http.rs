//! The operations endpoints over real HTTP: the supervisor binds its listener, `/healthz` and
//! `/readyz` answer, `/metrics` follows what the pipeline did, readiness follows the store, and
//! shutdown closes the port. Requests are plain HTTP/1.1 over a TCP socket, like a probe's.

use crate::pipeline_support;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::http::{HttpListener, MetricSources};
use mailsig_daemon::pipeline::stats::PipelineStats;
use mailsig_daemon::pipeline::{Processed, SkipReason};
use mailsig_daemon::store::Store;
use mailsig_daemon::supervisor::{Supervisor, SupervisorError, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use pipeline_support::{Account, BACKENDS, Backend, Mail, inbound, signed_mail, unique_id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// One response: status code and body.
struct Reply {
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// `GET path` on `addr`, with `Connection: close` so the body ends at EOF.
async fn get(addr: SocketAddr, path: &str) -> Result<Reply> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("response within 10 s")??;
    let text = String::from_utf8(raw).context("utf-8 response")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("header/body separator")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("status line of {head:?}"))?;
    let content_type = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-type:")
            .map(|v| v.trim().to_owned())
    });
    // axum answers HTTP/1.1 without chunking for these fixed bodies; fail loudly if that changes.
    ensure!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked reply to {path}"
    );
    Ok(Reply {
        status,
        content_type,
        body: body.to_owned(),
    })
}

/// The value of one sample line (`name` includes its labels) in a metrics body.
fn sample(body: &str, name: &str) -> Result<u64> {
    let prefix = format!("{name} ");
    let line = body
        .lines()
        .find(|l| l.starts_with(&prefix))
        .with_context(|| format!("no sample {name} in:\n{body}"))?;
    line[prefix.len()..]
        .trim()
        .parse()
        .with_context(|| format!("value of {line:?}"))
}

fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_serves_health_readiness_and_metrics_that_follow_the_pipeline() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    let vault = Vault::new(MasterKey::generate()?);
    let shutdown = CancellationToken::new();
    let options = SupervisorOptions {
        http: Some(loopback_any_port()),
        shutdown_grace: Duration::from_secs(30),
        ..SupervisorOptions::default()
    };
    let supervisor = Supervisor::start(options, store.clone(), vault, shutdown.clone()).await?;
    let addr = supervisor
        .http_addr()
        .context("the supervisor reports its http address")?;
    ensure!(addr.port() != 0 && addr.ip().is_loopback(), "bound {addr}");

    let health = get(addr, "/healthz").await?;
    ensure!(
        health.status == 200 && health.body.trim() == "ok",
        "healthz: {} {:?}",
        health.status,
        health.body
    );
    let ready = get(addr, "/readyz").await?;
    ensure!(
        ready.status == 200,
        "readyz with a migrated store: {} {:?}",
        ready.status,
        ready.body
    );
    let missing = get(addr, "/nothing-here").await?;
    ensure!(
        missing.status == 404,
        "unknown path gave {}",
        missing.status
    );

    let before = get(addr, "/metrics").await?;
    ensure!(before.status == 200, "metrics: {}", before.status);
    let content_type = before.content_type.clone().unwrap_or_default();
    ensure!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content type {content_type:?}"
    );
    for name in [
        "mailsig_messages_processed_total",
        "mailsig_suggestions_created_total",
        "mailsig_notifications_sent_total",
        "mailsig_notifications_failed_total",
        "mailsig_store_up",
        "mailsig_outbox_depth{status=\"pending\"}",
        "mailsig_imap_connections{state=\"logged_in\"}",
    ] {
        sample(&before.body, name)?;
    }
    for reason in SkipReason::ALL {
        ensure!(
            sample(
                &before.body,
                &format!(
                    "mailsig_messages_skipped_total{{reason=\"{}\"}}",
                    reason.as_str()
                )
            )? == 0,
            "{reason:?} skipped before any message"
        );
    }
    ensure!(sample(&before.body, "mailsig_messages_processed_total")? == 0);
    ensure!(sample(&before.body, "mailsig_store_up")? == 1);

    // One message that becomes a suggestion and one bulk message that is skipped.
    let account = Account::create(&store, "mycorp.example", &[]).await?;
    let handle = supervisor.pipeline();
    let signed = signed_mail(
        "Jane Doe",
        "jane.doe",
        "partner.example",
        &unique_id("http"),
    );
    let outcome = handle.process(inbound(account.mailbox, 1, signed)).await?;
    ensure!(
        outcome == Processed::Suggested,
        "signed mail gave {outcome:?}"
    );
    let bulk_id = unique_id("bulk");
    let bulk = Mail {
        from: "Anna Schmidt <anna.schmidt@partner.example>",
        subject: "Newsletter",
        message_id: &bulk_id,
        body: "Our news.\n",
        signature: "",
        extra_headers: &["Precedence: bulk", "List-Id: <news.partner.example>"],
    }
    .bytes();
    let outcome = handle.process(inbound(account.mailbox, 2, bulk)).await?;
    ensure!(
        outcome == Processed::Skipped(SkipReason::Bulk),
        "bulk mail gave {outcome:?}"
    );

    let after = get(addr, "/metrics").await?.body;
    ensure!(
        sample(&after, "mailsig_messages_processed_total")? == 2,
        "{after}"
    );
    ensure!(
        sample(&after, "mailsig_suggestions_created_total")? == 1,
        "{after}"
    );
    ensure!(
        sample(&after, "mailsig_messages_skipped_total{reason=\"bulk\"}")? == 1,
        "{after}"
    );
    ensure!(
        sample(
            &after,
            "mailsig_messages_skipped_total{reason=\"duplicate\"}"
        )? == 0,
        "{after}"
    );
    // Nothing about the mail itself is exported.
    for secret in ["Jane", "Anna", "partner.example", "Newsletter", "jane.doe"] {
        ensure!(!after.contains(secret), "metrics leak {secret:?}");
    }

    shutdown.cancel();
    supervisor.wait().await?;
    ensure!(
        TcpStream::connect(addr).await.is_err(),
        "{addr} still accepts connections after shutdown"
    );
    Ok(())
}

/// Readiness follows the store: 503 before the migrations ran, 200 after; liveness does not care.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_unavailable_until_the_store_is_migrated() -> Result<()> {
    for backend in BACKENDS {
        let dir = tempfile::tempdir()?;
        let url = match backend {
            Backend::Sqlite => Store::sqlite_url(&dir.path().join("mailsig.db")),
            Backend::Postgres => mailsig_tests::servers::fresh_pg_database().await?,
        };
        let store = Store::open(&url)
            .await
            .with_context(|| format!("open {backend:?} store"))?;
        let listener = HttpListener::bind(loopback_any_port()).await?;
        let addr = listener.local_addr();
        let shutdown = CancellationToken::new();
        let sources = MetricSources {
            store: store.clone(),
            pipeline: std::sync::Arc::new(PipelineStats::default()),
            notify: None,
            imap: None,
        };
        let server = tokio::spawn(listener.serve(sources, shutdown.clone()));

        let ready = get(addr, "/readyz").await?;
        ensure!(
            ready.status == 503,
            "{backend:?}: readyz before migrations: {} {:?}",
            ready.status,
            ready.body
        );
        ensure!(
            get(addr, "/healthz").await?.status == 200,
            "{backend:?}: healthz"
        );
        let metrics = get(addr, "/metrics").await?;
        ensure!(
            metrics.status == 200 && sample(&metrics.body, "mailsig_store_up")? == 0,
            "{backend:?}: {}",
            metrics.body
        );

        store.migrate().await.context("migrate")?;
        let ready = get(addr, "/readyz").await?;
        ensure!(
            ready.status == 200,
            "{backend:?}: readyz after migrations: {} {:?}",
            ready.status,
            ready.body
        );
        ensure!(
            sample(&get(addr, "/metrics").await?.body, "mailsig_store_up")? == 1,
            "{backend:?}: store up"
        );

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .context("server stops on cancel")??;
    }
    Ok(())
}

/// A taken port is a start-up error, before READY=1, not a silently missing endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_refuses_to_start_on_a_taken_port() -> Result<()> {
    let taken = std::net::TcpListener::bind(loopback_any_port())?;
    let addr = taken.local_addr()?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    let options = SupervisorOptions {
        http: Some(addr),
        ..SupervisorOptions::default()
    };
    match Supervisor::start(
        options,
        store,
        Vault::new(MasterKey::generate()?),
        CancellationToken::new(),
    )
    .await
    {
        Err(SupervisorError::Http(_)) => Ok(()),
        Err(other) => bail!("expected an http bind error, got {other:?}"),
        Ok(_) => bail!("started although {addr} is taken"),
    }
}
