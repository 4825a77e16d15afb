//! Load tool for the Graph webhook (issue 6 figure): notifications per second and time to 202.
//!
//! Starts, in this process, the Graph emulator and a real daemon (supervisor, HTTP listener,
//! webhook, store on SQLite in a temp dir), links one mailbox through the real OAuth flow, then
//! posts change notifications for that mailbox's subscription at a fixed rate (open loop: each
//! request has a scheduled send time, and its latency counts from that time, so a server that
//! falls behind is charged for the queueing). Every notification names a distinct message, so
//! "none lost" means: jobs persisted == notifications sent.
//!
//! ```text
//! cargo build --release -p mailsig-tests --bin webhook-load
//! target/release/webhook-load --rate 5000 --seconds 10 --connections 64
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mailsig_tests::graph_support::{GraphWorld, wait_until};

struct Args {
    rate: usize,
    seconds: usize,
    connections: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args { rate: 5000, seconds: 10, connections: 64 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let n: usize = value.parse().with_context(|| format!("{flag} {value}"))?;
        match flag.as_str() {
            "--rate" => args.rate = n.max(1),
            "--seconds" => args.seconds = n.max(1),
            "--connections" => args.connections = n.max(1),
            _ => bail!("unknown flag {flag} (--rate N --seconds N --connections N)"),
        }
    }
    Ok(args)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let world = GraphWorld::new("load").await?;
    let mut options = world.start_options(world.config()?);
    // Ingestion is measured; the fetches the jobs cause (404s here) run with few workers.
    options.jobs.workers = 2;
    let daemon = world.start_with(options).await?;
    let (mailbox, subscription) = world.link().await?;
    let client_state = subscription.client_state.clone().context("client state")?;
    let tenant = world.emulator.tenant_id();
    let url = format!("http://127.0.0.1:{}/graph/notifications", world.port);
    let total = args.rate * args.seconds;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..total)
            .map(|i| {
                let id = format!("AAMkLoad{i:08}");
                serde_json::to_vec(&serde_json::json!({"value": [{
                    "subscriptionId": subscription.id,
                    "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
                    "clientState": client_state,
                    "changeType": "created",
                    "resource": format!("Users/load@{tenant}/Messages/{id}"),
                    "tenantId": tenant,
                    "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": format!("Users/load/Messages/{id}"), "id": id}
                }]}))
                .unwrap_or_default()
            })
            .collect(),
    );
    let jobs_before = world.store.graph_job_counts(Some(mailbox.id)).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (client, url, bodies, next) = (client.clone(), url.clone(), Arc::clone(&bodies), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    break;
                }
                let scheduled = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                tokio::time::sleep_until(scheduled.into()).await;
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(bodies[i].clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 202 => latencies.push(scheduled.elapsed()),
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let persisted = wait_until(Duration::from_secs(60), "every job persisted", || async {
        let c = world.store.graph_job_counts(Some(mailbox.id)).await?;
        let n = (c.pending + c.done + c.failed) - (jobs_before.pending + jobs_before.done + jobs_before.failed);
        Ok((n >= i64::try_from(latencies.len()).unwrap_or(i64::MAX)).then_some(n))
    })
    .await
    .unwrap_or(-1);
    let server = daemon.supervisor.graph().context("graph source")?.stats();
    println!(
        "webhook load: {} notifications offered at {}/s over {} connections in {:.2} s = {:.0}/s answered 202; \
         failures {}; time to 202 (from scheduled send) p50 {:.2} ms p99 {:.2} ms max {:.2} ms; \
         jobs persisted {} (lost {}); server-side handler latency histogram: {:?} (<=1,2,5,10,25,50,100,250 ms,1,3 s,+Inf)",
        total,
        args.rate,
        args.connections,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        failures,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        persisted,
        i64::try_from(total).unwrap_or(0) - persisted,
        server.latency_cumulative,
    );
    daemon.stop().await?;
    Ok(())
}
