//! Flood load: what a flood from the internet does to real mail (the figures in BENCHMARKS.md).
//!
//! Starts, in this process, the Graph emulator and a real daemon (supervisor, HTTP listener with
//! the production rate limits, Graph webhook, IMAP watcher, SQLite store) with 127.0.0.1 as its
//! trusted proxy, so the flood can name 10,000 IPv6 clients in `X-Forwarded-For` as a reverse
//! proxy would. One mailbox on the test Dovecot is linked; messages are APPENDed one at a time
//! (`--mail-rate` per second) and each is timed from its APPEND command to the pipeline's commit.
//!
//! Two phases of `--seconds` each: a baseline without flood, then the same mail under a flood
//! sent by a child process (this binary with `--flood URL`, so the daemon's runtime serves only
//! the daemon): forged Graph notifications for random subscription ids (`--notifications` per
//! second), OAuth callbacks with a random `state` (`--callbacks`), sign-ins with wrong
//! passwords from 10,000 IPv6 /64s (`--sign-ins`), and `--slow` connections that send half a
//! request head and nothing more (reopened when the server closes them). Per phase it prints
//! the commit latency p50/p99/max, the store's queries per second (its own counter), this
//! process's peak RSS, and the flood's answers by status.
//!
//! ```text
//! . .test-servers/env
//! cargo build --release -p mailsig-tests --bin flood_load
//! target/release/flood_load --seconds 30 --mail-rate 5
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mailsig_daemon::http::client_address::TrustedProxies;
use mailsig_daemon::store::{MailboxKind, NewMailbox, SecretKind};
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_tests::graph_support::GraphWorld;
use mailsig_tests::imap_support::{NAMES, SignedMail};
use mailsig_tests::servers::{ImapSecurity, TestEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The allocator `mailsigd` ships with, so the daemon in this process behaves as deployed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Debug)]
struct Args {
    seconds: u64,
    mail_rate: f64,
    notifications: u64,
    callbacks: u64,
    sign_ins: u64,
    slow: usize,
    /// Flood this daemon base URL (the child process).
    flood: Option<String>,
}

const USAGE: &str = "usage: flood_load [--seconds N] [--mail-rate N] [--notifications N] [--callbacks N] [--sign-ins N] [--slow N] | --flood URL ...";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 30,
        mail_rate: 5.0,
        notifications: 10_000,
        callbacks: 2_000,
        sign_ins: 500,
        slow: 2_000,
        flood: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value ({USAGE})"))?;
        match flag.as_str() {
            "--seconds" => args.seconds = value.parse()?,
            "--mail-rate" => args.mail_rate = value.parse()?,
            "--notifications" => args.notifications = value.parse()?,
            "--callbacks" => args.callbacks = value.parse()?,
            "--sign-ins" => args.sign_ins = value.parse()?,
            "--slow" => args.slow = value.parse()?,
            "--flood" => args.flood = Some(value),
            other => bail!("unknown argument {other} ({USAGE})"),
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.flood.clone() {
        Some(url) => runtime.block_on(flood(url, args)),
        None => runtime.block_on(run(args)),
    }
}

/// Peak and current resident memory of this process, KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A message with a signature the parser recognises, from a sender unique to `i`.
fn message(i: usize) -> Vec<u8> {
    let (first, last) = NAMES[i % NAMES.len()];
    let (lower_first, lower_last) = (first.to_lowercase(), last.to_lowercase());
    SignedMail {
        first,
        last,
        address: &format!("{lower_first}.{lower_last}{i}@{lower_last}{i}.example.com"),
        to: "owner@flood.test",
        subject: &format!("Order {i}"),
        message_id: &format!("flood{i}.{}@load.example.com", rand::random::<u64>()),
        company: &format!("{last} Freight {i}, LLC"),
        phone_suffix: i % 100,
    }
    .bytes()
}

async fn run(args: Args) -> Result<()> {
    let env = TestEnv::from_env()?;
    let world = GraphWorld::new("flood").await?;
    let mut graph = world.start_options(world.config()?);
    // Production pacing for the Graph source: the flood is on the webhook, not on timers.
    graph.reconcile_interval = Duration::from_secs(60);
    let api = mailsig_daemon::http::app::ApiSettings {
        graph: Some(Arc::new(graph.config.clone())),
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1"]).map_err(anyhow::Error::msg)?,
        ..mailsig_daemon::http::app::ApiSettings::default()
    };

    // The mailbox real mail arrives in, linked as the operator's CLI links it.
    let user = env.create_mail_user()?;
    let secret = world
        .vault
        .store_new(
            &world.store,
            SecretKind::ImapPassword,
            1,
            user.password.as_bytes(),
        )
        .await?;
    let mailbox = world
        .store
        .create_mailbox(NewMailbox {
            owner: world.user,
            kind: MailboxKind::Imap,
            address: format!("{}@example.test", user.name),
            display_name: None,
            target_list: world.list,
            excluded_domains: vec![],
            settings: serde_json::json!({
                "host": "localhost",
                "port": env.imaps_port,
                "security": "implicit_tls",
                "username": user.name,
                "ca_file": env.ca,
                "operator_trusted": true,
            }),
            secret: Some(secret),
        })
        .await?;

    let shutdown = CancellationToken::new();
    let options = SupervisorOptions {
        http_listener: Some(world.http_listener()),
        graph: Some(graph),
        api,
        shutdown_grace: Duration::from_secs(20),
        ..SupervisorOptions::default()
    };
    let supervisor = Supervisor::start(
        options,
        world.store.clone(),
        world.vault.clone(),
        shutdown.clone(),
    )
    .await
    .context("start the daemon")?;
    let addr = supervisor.http_addr().context("http address")?;
    let started = Instant::now();
    while world.store.get_cursor(mailbox.id, "INBOX").await?.is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the IMAP watcher did not catch up within a minute");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = Arc::clone(supervisor.running_pipeline().stats());
    let imap = env.imap();
    let mut next_message = 0usize;

    // One phase: mail at the given rate, timed to its commit.
    let mut phase = |name: &'static str| {
        let stats = Arc::clone(&stats);
        let imap = imap.clone();
        let user = user.clone();
        let store = world.store.clone();
        let first = next_message;
        let total = (args.mail_rate * args.seconds as f64).ceil() as usize;
        next_message += total;
        let interval = Duration::from_secs_f64(1.0 / args.mail_rate);
        async move {
            let queries_before = store.queries();
            let began = Instant::now();
            let mut latencies = Vec::with_capacity(total);
            let mut ticker = tokio::time::interval(interval);
            for i in first..first + total {
                ticker.tick().await;
                let mut session = imap.login(&user, ImapSecurity::Implicit).await?;
                let committed = stats.snapshot().committed;
                let sent = Instant::now();
                session.append("INBOX", None, None, &message(i)).await?;
                // Polled: one message is in flight at a time, so the next commit is this one.
                loop {
                    if stats.snapshot().committed > committed {
                        latencies.push(sent.elapsed());
                        break;
                    }
                    if sent.elapsed() > Duration::from_secs(120) {
                        bail!("message {i} not committed within two minutes");
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let _ = session.logout().await;
            }
            let elapsed = began.elapsed().as_secs_f64();
            let queries = store.queries() - queries_before;
            latencies.sort_unstable();
            let (peak, now) = rss_kib();
            println!(
                "{name}: {} messages committed; APPEND -> commit p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; store queries {:.0}/s; RSS now {} MiB, peak so far {} MiB",
                latencies.len(),
                ms(percentile(&latencies, 50.0)),
                ms(percentile(&latencies, 99.0)),
                ms(latencies.last().copied().unwrap_or_default()),
                queries as f64 / elapsed,
                now / 1024,
                peak / 1024,
            );
            anyhow::Ok(percentile(&latencies, 99.0))
        }
    };

    let baseline = phase("baseline (no flood)").await?;

    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "--flood",
            &format!("http://{addr}"),
            "--seconds",
            &(args.seconds + 5).to_string(),
            "--notifications",
            &args.notifications.to_string(),
            "--callbacks",
            &args.callbacks.to_string(),
            "--sign-ins",
            &args.sign_ins.to_string(),
            "--slow",
            &args.slow.to_string(),
        ])
        .kill_on_drop(true)
        .spawn()
        .context("start the flood process")?;
    // Let the slow connections and the rates build up before timing mail.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let flooded = phase("under flood").await?;
    let status = child.wait().await?;
    println!(
        "commit p99 under flood / baseline: {:.2}x (flood process {status})",
        flooded.as_secs_f64() / baseline.as_secs_f64().max(1e-6)
    );
    println!("pipeline: {:?}", stats.snapshot());
    shutdown.cancel();
    supervisor.stop().await.context("stop the daemon")?;
    Ok(())
}

/// Answers by status per kind of flood request ("error" when the request failed).
#[derive(Default)]
struct Tally {
    counts: std::sync::Mutex<BTreeMap<(&'static str, String), u64>>,
    skipped: AtomicU64,
}

impl Tally {
    fn add(&self, kind: &'static str, outcome: String) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry((kind, outcome)).or_default() += 1;
    }
}

/// The flood (child process): open-loop senders for each kind, and the slow connections.
async fn flood(base: String, args: Args) -> Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()?;
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(2_048));
    let mut tasks = Vec::new();

    let kinds: [(&'static str, u64); 3] = [
        ("notification", args.notifications),
        ("callback", args.callbacks),
        ("sign-in", args.sign_ins),
    ];
    for (kind, rate) in kinds {
        if rate == 0 {
            continue;
        }
        let (client, tally, stop, in_flight, base) = (
            client.clone(),
            Arc::clone(&tally),
            stop.clone(),
            Arc::clone(&in_flight),
            base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Batches every 10 ms: rate / 100 requests each.
            let mut ticker = tokio::time::interval(Duration::from_millis(10));
            let mut owed = 0.0f64;
            let mut n = 0u64;
            while !stop.is_cancelled() {
                ticker.tick().await;
                owed += rate as f64 / 100.0;
                while owed >= 1.0 {
                    owed -= 1.0;
                    n += 1;
                    let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                        tally.skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let request = match kind {
                        "notification" => {
                            let id = format!("{:032x}", rand::random::<u128>());
                            client
                                .post(format!("{base}/graph/notifications"))
                                .header("content-type", "application/json")
                                .body(
                                    serde_json::json!({ "value": [{
                                        "subscriptionId": id,
                                        "clientState": "guess",
                                        "resource": "Users/u/Messages/AAMk1",
                                        "resourceData": { "id": "AAMk1" },
                                    }] })
                                    .to_string(),
                                )
                        }
                        "callback" => client.get(format!(
                            "{base}/oauth/microsoft/callback?code=x&state={:032x}",
                            rand::random::<u128>()
                        )),
                        _ => {
                            // 10,000 clients, each its own /64.
                            let source = n % 10_000;
                            client
                                .post(format!("{base}/api/v1/session"))
                                .header("x-forwarded-for", format!("2001:db8:{source:x}::1"))
                                .json(&serde_json::json!({
                                    "email": format!("user{}@flood.test", n % 100),
                                    "password": "a wrong password",
                                }))
                        }
                    };
                    let tally = Arc::clone(&tally);
                    tokio::spawn(async move {
                        let outcome = match request.send().await {
                            Ok(response) => response.status().as_u16().to_string(),
                            Err(_) => "error".to_owned(),
                        };
                        tally.add(kind, outcome);
                        drop(permit);
                    });
                }
            }
        }));
    }

    let addr = base.trim_start_matches("http://").to_owned();
    for _ in 0..args.slow {
        let (addr, stop, tally) = (addr.clone(), stop.clone(), Arc::clone(&tally));
        tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else {
                    tally.add("slow", "connect error".to_owned());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let _ = stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .await;
                let mut sink = [0u8; 64];
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = stream.read(&mut sink) => tally.add("slow", "closed by server".to_owned()),
                }
                // Reopen, as a slow-loris client does, a little later.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    let counts = tally
        .counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for ((kind, outcome), n) in counts {
        println!(
            "flood {kind}: {outcome} x{n} ({:.0}/s)",
            n as f64 / args.seconds as f64
        );
    }
    println!(
        "flood requests not sent (2,048 already in flight): {}",
        tally.skipped.load(Ordering::Relaxed)
    );
    Ok(())
}
