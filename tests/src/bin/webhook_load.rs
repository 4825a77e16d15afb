//! Load tool for the Graph webhook (issue 6 figure): notifications per second and time to 202.
//!
//! Starts, in this process, the Graph emulator and a real daemon (supervisor, HTTP listener,
//! webhook, store on SQLite in a temp dir) and links one mailbox through the real OAuth flow.
//! Every notification names a distinct message, so "none lost" means: jobs persisted ==
//! notifications answered 202. Three modes:
//!
//! - default: posts notifications itself at a fixed rate (open loop: each request has a
//!   scheduled send time, and its latency counts from that time, so a server that falls behind
//!   is charged for the queueing).
//! - `--serve FILE`: only serves, for an outside load tool (wrk with `tests/load/webhook.lua`):
//!   writes the notification URL, subscription id, clientState and tenant as shell
//!   `NAME='value'` lines to FILE, then waits; on SIGINT/SIGTERM it prints the jobs persisted
//!   and the server-side latency histogram, and stops.
//! - `--check N --file FILE`: while a `--serve` runs, counts the jobs persisted since it
//!   started (from its store, named in FILE) against N notifications answered 202: lost =
//!   N − jobs. Exits 1 when any was lost.
//!
//! ```text
//! cargo build --release -p mailsig-tests --bin webhook-load
//! target/release/webhook-load --rate 5000 --seconds 10 --connections 64
//! target/release/webhook-load --serve target/webhook-serve.env     # then wrk, see BENCHMARKS.md
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The allocator `mailsigd` ships with, so the daemon in this process behaves as deployed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use mailsig_daemon::store::{Mailbox, MailboxId, Store};
use mailsig_tests::graph_emulator::SubscriptionView;
use mailsig_tests::graph_support::{GraphWorld, RunningDaemon, wait_until};

struct Args {
    rate: usize,
    seconds: usize,
    connections: usize,
    mode: Mode,
}

enum Mode {
    /// Post the notifications from this process.
    Drive,
    /// Serve for an outside load tool; the target's description goes to this file.
    Serve(PathBuf),
    /// Count the jobs a `--serve` persisted against this many 202 answers.
    Check { accepted: i64, file: PathBuf },
}

const USAGE: &str = "usage: webhook-load [--rate N --seconds N --connections N] | --serve FILE | --check N --file FILE";

fn parse_args() -> Result<Args> {
    let mut args = Args { rate: 5000, seconds: 10, connections: 64, mode: Mode::Drive };
    let (mut serve, mut check, mut file) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value ({USAGE})"))?;
        let number = || value.parse::<usize>().with_context(|| format!("{flag} {value}"));
        match flag.as_str() {
            "--rate" => args.rate = number()?.max(1),
            "--seconds" => args.seconds = number()?.max(1),
            "--connections" => args.connections = number()?.max(1),
            "--serve" => serve = Some(PathBuf::from(&value)),
            "--check" => check = Some(i64::try_from(number()?)?),
            "--file" => file = Some(PathBuf::from(&value)),
            _ => bail!("unknown flag {flag} ({USAGE})"),
        }
    }
    args.mode = match (serve, check, file) {
        (None, None, None) => Mode::Drive,
        (Some(path), None, None) => Mode::Serve(path),
        (None, Some(accepted), Some(file)) => Mode::Check { accepted, file },
        _ => bail!("{USAGE}"),
    };
    Ok(args)
}

/// The target a `--serve` describes in its file (shell `NAME='value'` lines, so `set -a; . FILE`
/// hands them to wrk's script as environment variables).
struct Target {
    url: String,
    subscription: String,
    client_state: String,
    tenant: String,
    store_url: String,
    mailbox: i64,
    jobs_before: i64,
}

impl Target {
    const NAMES: [&'static str; 7] = [
        "WEBHOOK_URL",
        "WEBHOOK_SUBSCRIPTION_ID",
        "WEBHOOK_CLIENT_STATE",
        "WEBHOOK_TENANT_ID",
        "WEBHOOK_STORE_URL",
        "WEBHOOK_MAILBOX_ID",
        "WEBHOOK_JOBS_BEFORE",
    ];

    fn write(&self, path: &Path) -> Result<()> {
        let values = [
            self.url.clone(),
            self.subscription.clone(),
            self.client_state.clone(),
            self.tenant.clone(),
            self.store_url.clone(),
            self.mailbox.to_string(),
            self.jobs_before.to_string(),
        ];
        let mut text = String::from("# written by webhook-load --serve; source with: set -a; . THIS_FILE; set +a\n");
        for (name, value) in Self::NAMES.iter().zip(values) {
            if value.contains('\'') || value.contains('\n') {
                bail!("{name} holds a quote or line break");
            }
            text.push_str(&format!("{name}='{value}'\n"));
        }
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
    }

    fn read(path: &Path) -> Result<Target> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let value = |name: &str| -> Result<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
                .map(|v| v.trim().trim_matches('\'').to_owned())
                .with_context(|| format!("{name} missing in {}", path.display()))
        };
        Ok(Target {
            url: value("WEBHOOK_URL")?,
            subscription: value("WEBHOOK_SUBSCRIPTION_ID")?,
            client_state: value("WEBHOOK_CLIENT_STATE")?,
            tenant: value("WEBHOOK_TENANT_ID")?,
            store_url: value("WEBHOOK_STORE_URL")?,
            mailbox: value("WEBHOOK_MAILBOX_ID")?.parse().context("WEBHOOK_MAILBOX_ID")?,
            jobs_before: value("WEBHOOK_JOBS_BEFORE")?.parse().context("WEBHOOK_JOBS_BEFORE")?,
        })
    }
}

/// Jobs of `mailbox` in any status.
async fn jobs_of(store: &Store, mailbox: MailboxId) -> Result<i64> {
    let c = store.graph_job_counts(Some(mailbox)).await?;
    Ok(c.pending + c.done + c.failed)
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
    if let Mode::Check { accepted, file } = &args.mode {
        return check(*accepted, file).await;
    }
    let world = GraphWorld::new("load").await?;
    let mut options = world.start_options(world.config()?);
    // Ingestion is measured; the fetches the jobs cause (404s here) run with few workers.
    options.jobs.workers = 2;
    let daemon = world.start_with(options).await?;
    let (mailbox, subscription) = world.link().await?;
    if let Mode::Serve(path) = &args.mode {
        return serve(&world, daemon, &mailbox, &subscription, path).await;
    }
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
    let jobs_before = jobs_of(&world.store, mailbox.id).await?;
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
        let n = jobs_of(&world.store, mailbox.id).await? - jobs_before;
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

/// `--serve`: describe the target in `path`, wait for SIGINT/SIGTERM, report, stop.
async fn serve(
    world: &GraphWorld,
    daemon: RunningDaemon,
    mailbox: &Mailbox,
    subscription: &SubscriptionView,
    path: &Path,
) -> Result<()> {
    let target = Target {
        url: format!("http://127.0.0.1:{}/graph/notifications", world.port),
        subscription: subscription.id.clone(),
        client_state: subscription.client_state.clone().context("client state")?,
        tenant: world.emulator.tenant_id(),
        store_url: Store::sqlite_url(&world.dir.path().join("mailsig.db")),
        mailbox: mailbox.id.0,
        jobs_before: jobs_of(&world.store, mailbox.id).await?,
    };
    target.write(path)?;
    println!("webhook-load: serving {} (target described in {}); SIGINT or SIGTERM stops", target.url, path.display());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    let persisted = jobs_of(&world.store, mailbox.id).await? - target.jobs_before;
    let server = daemon.supervisor.graph().context("graph source")?.stats();
    println!(
        "webhook-load: notifications received {}, forged {}, unknown {}; jobs persisted since start {persisted}; \
         webhook failures (503) {}; server-side handler latency histogram: {:?} (<=1,2,5,10,25,50,100,250 ms,1,3 s,+Inf)",
        server.notifications_received,
        server.notifications_forged,
        server.notifications_unknown,
        server.webhook_failures,
        server.latency_cumulative,
    );
    daemon.stop().await?;
    Ok(())
}

/// `--check N --file FILE`: lost = N answered 202 − jobs persisted since the `--serve` began.
async fn check(accepted: i64, file: &Path) -> Result<()> {
    let target = Target::read(file)?;
    if target.subscription.is_empty() || target.client_state.is_empty() || target.tenant.is_empty() {
        bail!("{} is incomplete: start webhook-load --serve again", file.display());
    }
    println!("webhook-load check: {} (subscription {})", target.url, target.subscription);
    let store = Store::open(&target.store_url).await.context("open the serving daemon's store")?;
    let persisted = jobs_of(&store, MailboxId(target.mailbox)).await? - target.jobs_before;
    store.close().await;
    let lost = (accepted - persisted).max(0);
    println!(
        "webhook-load check: answered 202 {accepted}, jobs persisted {persisted}, lost {lost}{}",
        if persisted > accepted { " (the extra jobs are requests the load tool stopped waiting for)" } else { "" }
    );
    if lost > 0 {
        bail!("{lost} notifications answered 202 have no job");
    }
    Ok(())
}
