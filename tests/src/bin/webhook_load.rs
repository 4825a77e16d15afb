//! Load tool for the Graph webhook: notifications per second and time to 202.
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
//! - `--drive FILE [--rate N --seconds N --connections N]`: the default mode's open-loop
//!   client in its own process (one thread), against a `--serve` described in FILE, so the
//!   daemon's runtime serves only the daemon, as in production; then counts the jobs
//!   persisted like `--check` (exit 1 when any was lost).
//!
//! ```text
//! cargo build --release -p mailsig-tests --bin webhook-load
//! target/release/webhook-load --rate 5000 --seconds 10 --connections 64
//! target/release/webhook-load --serve target/webhook-serve.env     # then wrk, see BENCHMARKS.md
//! target/release/webhook-load --drive target/webhook-serve.env --rate 5000 --seconds 10
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
    /// Post open loop to the `--serve` this file describes.
    DriveRemote(PathBuf),
}

const USAGE: &str = "usage: webhook-load [--drive FILE] [--rate N --seconds N --connections N] | --serve FILE | --check N --file FILE";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        rate: 5000,
        seconds: 10,
        connections: 64,
        mode: Mode::Drive,
    };
    let (mut serve, mut check, mut file, mut drive) = (None, None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value ({USAGE})"))?;
        let number = || {
            value
                .parse::<usize>()
                .with_context(|| format!("{flag} {value}"))
        };
        match flag.as_str() {
            "--rate" => args.rate = number()?.max(1),
            "--seconds" => args.seconds = number()?.max(1),
            "--connections" => args.connections = number()?.max(1),
            "--serve" => serve = Some(PathBuf::from(&value)),
            "--check" => check = Some(i64::try_from(number()?)?),
            "--file" => file = Some(PathBuf::from(&value)),
            "--drive" => drive = Some(PathBuf::from(&value)),
            _ => bail!("unknown flag {flag} ({USAGE})"),
        }
    }
    args.mode = match (serve, check, file, drive) {
        (None, None, None, None) => Mode::Drive,
        (None, None, None, Some(path)) => Mode::DriveRemote(path),
        (Some(path), None, None, None) => Mode::Serve(path),
        (None, Some(accepted), Some(file), None) => Mode::Check { accepted, file },
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
        let mut text = String::from(
            "# written by webhook-load --serve; source with: set -a; . THIS_FILE; set +a\n",
        );
        for (name, value) in Self::NAMES.iter().zip(values) {
            if value.contains('\'') || value.contains('\n') {
                bail!("{name} holds a quote or line break");
            }
            text.push_str(&format!("{name}='{value}'\n"));
        }
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
    }

    fn read(path: &Path) -> Result<Target> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
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
            mailbox: value("WEBHOOK_MAILBOX_ID")?
                .parse()
                .context("WEBHOOK_MAILBOX_ID")?,
            jobs_before: value("WEBHOOK_JOBS_BEFORE")?
                .parse()
                .context("WEBHOOK_JOBS_BEFORE")?,
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

fn main() -> Result<()> {
    let args = parse_args()?;
    if let Mode::DriveRemote(file) = &args.mode {
        // One thread: the client should take as little of the two cores as it can.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(drive_remote(&args, file));
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
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
    let bodies = notification_bodies(&subscription.id, &client_state, &tenant, "AAMkLoad", total);
    let jobs_before = jobs_of(&world.store, mailbox.id).await?;
    let offered = offer(&url, bodies, &args).await?;
    let persisted = wait_until(Duration::from_secs(60), "every job persisted", || async {
        let n = jobs_of(&world.store, mailbox.id).await? - jobs_before;
        Ok((n >= i64::try_from(offered.latencies.len()).unwrap_or(i64::MAX)).then_some(n))
    })
    .await
    .unwrap_or(-1);
    let server = daemon.supervisor.graph().context("graph source")?.stats();
    println!(
        "webhook load: {}; jobs persisted {} (lost {}); server-side handler latency histogram: {:?} \
         (<=1,2,5,10,25,50,100,250 ms,1,3 s,+Inf)",
        offered.summary(&args),
        persisted,
        i64::try_from(total).unwrap_or(0) - persisted,
        server.latency_cumulative,
    );
    daemon.stop().await?;
    Ok(())
}

/// One valid change notification per message id `<prefix><n>`, n < `total`.
fn notification_bodies(
    subscription: &str,
    client_state: &str,
    tenant: &str,
    prefix: &str,
    total: usize,
) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..total)
            .map(|i| {
                let id = format!("{prefix}{i:08}");
                serde_json::to_vec(&serde_json::json!({"value": [{
                    "subscriptionId": subscription,
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
    )
}

/// What an open-loop run measured.
struct Offered {
    /// Time to 202 of each answered request, from its scheduled send time; sorted.
    latencies: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
}

impl Offered {
    fn summary(&self, args: &Args) -> String {
        format!(
            "{} notifications offered at {}/s over {} connections in {:.2} s = {:.0}/s answered 202; failures {}; \
             time to 202 (from scheduled send) p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms max {:.2} ms",
            args.rate * args.seconds,
            args.rate,
            args.connections,
            self.elapsed.as_secs_f64(),
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            self.failures,
            percentile(&self.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&self.latencies, 0.99).as_secs_f64() * 1e3,
            percentile(&self.latencies, 0.999).as_secs_f64() * 1e3,
            self.latencies
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
        )
    }
}

/// Posts `bodies` open loop: request i is due at start + i / rate, and its latency counts
/// from then, so a server that falls behind is charged for the queueing.
async fn offer(url: &str, bodies: Arc<Vec<Vec<u8>>>, args: &Args) -> Result<Offered> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (client, url, bodies, next) = (
            client.clone(),
            url.to_owned(),
            Arc::clone(&bodies),
            Arc::clone(&next),
        );
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
    let mut offered = Offered {
        latencies: Vec::with_capacity(bodies.len()),
        failures: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (l, f) = task.await?;
        offered.latencies.extend(l);
        offered.failures += f;
    }
    offered.elapsed = start.elapsed();
    offered.latencies.sort();
    Ok(offered)
}

/// `--drive FILE`: the open-loop client against a `--serve`, then the jobs it persisted.
async fn drive_remote(args: &Args, file: &Path) -> Result<()> {
    let target = Target::read(file)?;
    // Message ids distinct from any earlier drive against the same daemon.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let prefix = format!("AAMkDrive{run}-");
    let total = args.rate * args.seconds;
    let bodies = notification_bodies(
        &target.subscription,
        &target.client_state,
        &target.tenant,
        &prefix,
        total,
    );
    let store = Store::open(&target.store_url)
        .await
        .context("open the serving daemon's store")?;
    let before = jobs_of(&store, MailboxId(target.mailbox)).await?;
    let offered = offer(&target.url, bodies, args).await?;
    let answered = i64::try_from(offered.latencies.len()).unwrap_or(i64::MAX);
    let persisted = wait_until(Duration::from_secs(60), "every job persisted", || async {
        let n = jobs_of(&store, MailboxId(target.mailbox)).await? - before;
        Ok((n >= answered).then_some(n))
    })
    .await
    .unwrap_or(-1);
    store.close().await;
    println!(
        "webhook drive: {}; jobs persisted {persisted} (lost {})",
        offered.summary(args),
        (answered - persisted).max(0)
    );
    if persisted < answered {
        bail!(
            "{} notifications answered 202 have no job",
            answered - persisted
        );
    }
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
    println!(
        "webhook-load: serving {} (target described in {}); SIGINT or SIGTERM stops",
        target.url,
        path.display()
    );
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
    if target.subscription.is_empty() || target.client_state.is_empty() || target.tenant.is_empty()
    {
        bail!(
            "{} is incomplete: start webhook-load --serve again",
            file.display()
        );
    }
    println!(
        "webhook-load check: {} (subscription {})",
        target.url, target.subscription
    );
    let store = Store::open(&target.store_url)
        .await
        .context("open the serving daemon's store")?;
    let persisted = jobs_of(&store, MailboxId(target.mailbox)).await? - target.jobs_before;
    store.close().await;
    let lost = (accepted - persisted).max(0);
    println!(
        "webhook-load check: answered 202 {accepted}, jobs persisted {persisted}, lost {lost}{}",
        if persisted > accepted {
            " (the extra jobs are requests the load tool stopped waiting for)"
        } else {
            ""
        }
    );
    if lost > 0 {
        bail!("{lost} notifications answered 202 have no job");
    }
    Ok(())
}
