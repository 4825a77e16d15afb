//! Flood load: what a flood from the internet does to real mail (the figures in BENCHMARKS.md).
//!
//! Three processes, as in production: this one plays systemd (it owns the `$NOTIFY_SOCKET`
//! datagram socket and records every notification); a child (`--serve`) runs a real daemon
//! (supervisor, HTTP listener with the production rate limits and connection cap, Graph
//! webhook, IMAP watcher, SQLite store, the watchdog fed from `$WATCHDOG_USEC`) with the Graph
//! emulator and 127.0.0.1 as its trusted proxy, and times real mail; a grandchild (`--flood`)
//! floods it, so the daemon's process serves only the daemon and the mail.
//!
//! Mail: one mailbox on the test Dovecot is linked; messages are APPENDed one at a time
//! (`--mail-rate` per second) and each is timed from its APPEND command to the pipeline's commit.
//! Two phases of `--seconds` each: a baseline without flood, then the same mail under the flood.
//!
//! The flood is open loop: each kind has a schedule (`--notifications`, `--callbacks`,
//! `--sign-ins` per second) spread over a few keep-alive connections that pipeline their
//! requests (prepared bytes, at most [`WINDOW`] unanswered per connection), so the client's cost
//! per request is a few hundred bytes written and one response head parsed. A request whose
//! time came while its connection had [`WINDOW`] requests unanswered, or was down, is offered
//! but not sent. Kinds: forged Graph notifications for random subscription ids, OAuth callbacks
//! with a random `state`, sign-ins with wrong passwords from 10,000 IPv6 /64s (named in
//! `X-Forwarded-For`, as a reverse proxy would), and `--slow` connections that send half a
//! request head and nothing more (reopened 100 ms after the server closes them). The flood
//! begins 5 s before the second phase and ends with it.
//!
//! Printed: per phase the commit latency p50/p99/max, the store's queries per second (its own
//! counter), the daemon process's peak RSS and CPU time; per flood kind the offered, sent and
//! answered rates and the answers by status; the watchdog pings (`WATCHDOG=1`) with the longest
//! gap against `WATCHDOG_USEC` (`--watchdog-sec`, 60 as in the shipped unit): systemd restarts
//! the daemon when a gap exceeds it.
//!
//! ```text
//! . .test-servers/env
//! cargo build --release -p mailsig-tests --bin flood_load
//! target/release/flood_load --seconds 30 --mail-rate 5
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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

/// Unanswered requests a flood connection may have at once (pipelined).
const WINDOW: u64 = 256;
/// How often each flood connection sends what its schedule owes.
const TICK: Duration = Duration::from_millis(10);

#[derive(Clone, Debug)]
struct Args {
    seconds: u64,
    mail_rate: f64,
    notifications: u64,
    callbacks: u64,
    sign_ins: u64,
    slow: usize,
    watchdog_sec: u64,
    mode: Mode,
}

#[derive(Clone, Debug)]
enum Mode {
    /// Plays systemd: the notify socket, then the daemon process.
    Systemd,
    /// Runs the daemon and the mail phases (started by [`Mode::Systemd`]).
    Serve,
    /// Floods this daemon base URL (started by [`Mode::Serve`]).
    Flood(String),
}

const USAGE: &str = "usage: flood_load [--seconds N] [--mail-rate N] [--notifications N] [--callbacks N] [--sign-ins N] [--slow N] [--watchdog-sec N]";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 30,
        mail_rate: 5.0,
        notifications: 10_000,
        callbacks: 2_000,
        sign_ins: 500,
        slow: 2_000,
        watchdog_sec: 60,
        mode: Mode::Systemd,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--serve" {
            args.mode = Mode::Serve;
            continue;
        }
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
            "--watchdog-sec" => args.watchdog_sec = value.parse()?,
            "--flood" => args.mode = Mode::Flood(value),
            other => bail!("unknown argument {other} ({USAGE})"),
        }
    }
    Ok(args)
}

impl Args {
    /// The flags a child process gets (all but the mode).
    fn child_flags(&self, seconds: u64) -> Vec<String> {
        [
            ("--seconds", seconds.to_string()),
            ("--mail-rate", self.mail_rate.to_string()),
            ("--notifications", self.notifications.to_string()),
            ("--callbacks", self.callbacks.to_string()),
            ("--sign-ins", self.sign_ins.to_string()),
            ("--slow", self.slow.to_string()),
            ("--watchdog-sec", self.watchdog_sec.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
    }
}

fn main() -> Result<()> {
    let args = parse_args()?;
    match args.mode.clone() {
        Mode::Systemd => play_systemd(&args),
        Mode::Serve => runtime()?.block_on(serve(args)),
        Mode::Flood(url) => runtime()?.block_on(flood(url, args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Resident memory of this process (peak, current), KiB.
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

/// CPU time (user + system) this process used so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime the
    // 13th, in clock ticks of 1/100 s (USER_HZ on Linux).
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
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

// ---------------------------------------------------------------------------------------------
// systemd: the notify socket and the watchdog
// ---------------------------------------------------------------------------------------------

/// Starts the daemon process with `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` as systemd does
/// (`WatchdogSec=`), records every notification until it exits, and reports the watchdog.
fn play_systemd(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).context("bind the notify socket")?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let watchdog = Duration::from_secs(args.watchdog_sec);
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--serve")
        .args(args.child_flags(args.seconds))
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
        // systemd also names the main PID; the daemon then checks it is that process. Unknown
        // before the spawn, so left out (the daemon accepts its absence, as sd_watchdog_enabled).
        .env_remove("WATCHDOG_PID")
        .spawn()
        .context("start the daemon process")?;

    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seen: Vec<(Instant, String)> = Vec::new();
            let mut buffer = vec![0u8; 4096];
            while !done.load(Ordering::Relaxed) {
                match socket.recv(&mut buffer) {
                    Ok(n) => seen.push((
                        Instant::now(),
                        String::from_utf8_lossy(&buffer[..n]).into_owned(),
                    )),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            seen
        })
    };
    let status = child.wait()?;
    let exited = Instant::now();
    done.store(true, Ordering::Relaxed);
    let seen = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("the notify receiver panicked"))?;
    report_watchdog(&seen, exited, watchdog);
    if !status.success() {
        bail!("the daemon process failed: {status}");
    }
    Ok(())
}

fn report_watchdog(seen: &[(Instant, String)], exited: Instant, watchdog: Duration) {
    let ready = seen
        .iter()
        .find(|(_, m)| m.lines().any(|l| l == "READY=1"))
        .map(|(t, _)| *t);
    let Some(ready) = ready else {
        println!("watchdog: the daemon never sent READY=1");
        return;
    };
    let stopping = seen
        .iter()
        .find(|(_, m)| m.starts_with("STOPPING=1"))
        .map_or(exited, |(t, _)| *t);
    let at = |t: Instant| t.saturating_duration_since(ready).as_secs_f64();
    let mut timeline = Vec::new();
    let mut last = ready;
    let mut longest = (Duration::ZERO, 0.0);
    let mut pings = 0;
    for (t, message) in seen {
        if message == "WATCHDOG=1" && *t >= ready && *t <= stopping {
            pings += 1;
            let gap = t.duration_since(last);
            if gap > longest.0 {
                longest = (gap, at(last));
            }
            last = *t;
            timeline.push(format!("+{:.1}", at(*t)));
        } else if let Some(phase) = message.strip_prefix("X-FLOOD-LOAD=") {
            timeline.push(format!("[{phase} +{:.1}]", at(*t)));
        }
    }
    // The stretch after the last ping counts as well: systemd does not wait for a next one.
    let tail = stopping.saturating_duration_since(last);
    if tail > longest.0 {
        longest = (tail, at(last));
    }
    println!(
        "watchdog: WATCHDOG_USEC {} s; {pings} pings over {:.1} s from READY=1 to STOPPING=1; longest gap {:.2} s (from +{:.1}); {}",
        watchdog.as_secs(),
        at(stopping),
        longest.0.as_secs_f64(),
        longest.1,
        if longest.0 > watchdog {
            "systemd WOULD HAVE RESTARTED the daemon"
        } else {
            "no restart"
        }
    );
    println!(
        "watchdog timeline (s after READY=1): {}",
        timeline.join(" ")
    );
}

/// Tells the process playing systemd where the run is (ignored by a real systemd).
fn mark(phase: &str) {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET")
        && let Ok(socket) = UnixDatagram::unbound()
    {
        let _ = socket.send_to(format!("X-FLOOD-LOAD={phase}").as_bytes(), path);
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon and the mail
// ---------------------------------------------------------------------------------------------

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

async fn serve(args: Args) -> Result<()> {
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
            mark(&format!("{name} begins"));
            let queries_before = store.queries();
            let cpu_before = cpu_time();
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
            let elapsed = began.elapsed();
            let cpu = cpu_time().saturating_sub(cpu_before);
            let queries = store.queries() - queries_before;
            mark(&format!("{name} ends"));
            latencies.sort_unstable();
            let (peak, now) = rss_kib();
            println!(
                "{name}: {} of {total} messages committed; APPEND -> commit p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; store queries {:.0}/s; daemon process CPU {:.2} cores; RSS now {} MiB, peak so far {} MiB",
                latencies.len(),
                ms(percentile(&latencies, 50.0)),
                ms(percentile(&latencies, 99.0)),
                ms(latencies.last().copied().unwrap_or_default()),
                queries as f64 / elapsed.as_secs_f64(),
                cpu.as_secs_f64() / elapsed.as_secs_f64(),
                now / 1024,
                peak / 1024,
            );
            anyhow::Ok(percentile(&latencies, 99.0))
        }
    };

    let baseline = phase("baseline").await?;

    // The flood runs until its stdin closes (after the phase), `--seconds` only bounds it.
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--flood")
        .arg(format!("http://{addr}"))
        .args(args.child_flags(args.seconds * 4 + 60))
        .stdin(std::process::Stdio::piped())
        // The flood is not the daemon: it must not speak to systemd.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .kill_on_drop(true)
        .spawn()
        .context("start the flood process")?;
    // Let the slow connections and the rates build up before timing mail.
    mark("flood begins");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let flooded = phase("under flood").await?;
    drop(child.stdin.take());
    let status = child.wait().await?;
    mark("flood ends");
    println!(
        "commit p99 under flood / baseline: {:.2}x (flood process {status})",
        flooded.as_secs_f64() / baseline.as_secs_f64().max(1e-6)
    );
    println!("pipeline: {:?}", stats.snapshot());
    shutdown.cancel();
    supervisor.stop().await.context("stop the daemon")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The flood
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Notification,
    Callback,
    SignIn,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Notification => "forged notifications",
            Kind::Callback => "OAuth callbacks",
            Kind::SignIn => "sign-ins",
        }
    }

    /// Keep-alive connections the kind's schedule is spread over. Sign-ins get more: a request
    /// that reaches the password hash holds its connection's pipeline for that long.
    fn connections(self) -> u64 {
        match self {
            Kind::Notification => 16,
            Kind::Callback => 8,
            Kind::SignIn => 32,
        }
    }

    /// Appends request number `n` of this kind to `out`.
    fn write_request(self, n: u64, out: &mut Vec<u8>) {
        match self {
            Kind::Notification => {
                let body = format!(
                    r#"{{"value":[{{"subscriptionId":"{:032x}","clientState":"guess","resource":"Users/u/Messages/AAMk1","resourceData":{{"id":"AAMk1"}}}}]}}"#,
                    rand::random::<u128>()
                );
                let _ = write!(
                    out,
                    "POST /graph/notifications HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
            Kind::Callback => {
                let _ = write!(
                    out,
                    "GET /oauth/microsoft/callback?code=x&state={:032x} HTTP/1.1\r\nHost: flood\r\n\r\n",
                    rand::random::<u128>()
                );
            }
            Kind::SignIn => {
                // 10,000 clients, each its own /64, behind the trusted proxy.
                let source = n % 10_000;
                let body = format!(
                    r#"{{"email":"user{}@flood.test","password":"a wrong password"}}"#,
                    n % 100
                );
                let _ = write!(
                    out,
                    "POST /api/v1/session HTTP/1.1\r\nHost: flood\r\nX-Forwarded-For: 2001:db8:{source:x}::1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        }
    }
}

/// What one kind of flood request got.
#[derive(Default)]
struct KindStats {
    /// Requests whose time came (the schedule).
    offered: AtomicU64,
    /// Requests written to a connection.
    sent: AtomicU64,
    /// Sent requests whose connection closed before their answer.
    unanswered: AtomicU64,
    connections: AtomicU64,
    /// Failed connection attempts by kind of error.
    connect_errors: Mutex<BTreeMap<String, u64>>,
    /// Answers by status.
    statuses: Mutex<BTreeMap<u16, u64>>,
}

impl KindStats {
    fn answered(&self, status: u16) {
        *self
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(status)
            .or_default() += 1;
    }
}

/// The flood (its own process): the scheduled kinds, and the slow connections.
async fn flood(base: String, args: Args) -> Result<()> {
    let addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .context("the daemon's address")?;
    let stop = CancellationToken::new();
    {
        // Stops when the daemon process closes this process's stdin (or at `--seconds`).
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            stop.cancel();
        });
    }
    let began = tokio::time::Instant::now();
    let cpu_before = cpu_time();
    let mut tasks = Vec::new();
    let mut kinds = Vec::new();
    for (kind, rate) in [
        (Kind::Notification, args.notifications),
        (Kind::Callback, args.callbacks),
        (Kind::SignIn, args.sign_ins),
    ] {
        if rate == 0 {
            continue;
        }
        let stats = Arc::new(KindStats::default());
        kinds.push((kind, rate, Arc::clone(&stats)));
        let connections = kind.connections();
        for c in 0..connections {
            // Each connection owes its share of the rate, on a clock shared by all.
            let share = rate as f64 / connections as f64;
            tasks.push(tokio::spawn(flood_connection(
                addr,
                kind,
                share,
                c,
                began,
                Arc::clone(&stats),
                stop.clone(),
            )));
        }
    }

    let slow_closed = Arc::new(AtomicU64::new(0));
    for _ in 0..args.slow {
        let (stop, slow_closed) = (stop.clone(), Arc::clone(&slow_closed));
        tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let _ = stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .await;
                let mut sink = [0u8; 64];
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = stream.read(&mut sink) => { slow_closed.fetch_add(1, Ordering::Relaxed); }
                }
                // Reopen, as a slow-loris client does, a little later.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(args.seconds)) => stop.cancel(),
        () = stop.cancelled() => {}
    }
    for task in tasks {
        let _ = task.await;
    }
    let seconds = began.elapsed().as_secs_f64();
    let per_second = |n: u64| n as f64 / seconds;
    println!(
        "flood: {seconds:.1} s; the flood process used {:.2} cores",
        cpu_time().saturating_sub(cpu_before).as_secs_f64() / seconds
    );
    for (kind, rate, stats) in kinds {
        let statuses = stats
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let answered: u64 = statuses.values().sum();
        let offered = stats.offered.load(Ordering::Relaxed);
        let sent = stats.sent.load(Ordering::Relaxed);
        println!(
            "flood {}: {rate}/s asked; offered {:.0}/s, sent {:.0}/s ({} not sent: window of {WINDOW} full or connection down), answered {:.0}/s; {} sent but unanswered (connection closed); {} connections, connect errors {:?}",
            kind.name(),
            per_second(offered),
            per_second(sent),
            offered - sent,
            per_second(answered),
            stats.unanswered.load(Ordering::Relaxed),
            stats.connections.load(Ordering::Relaxed),
            stats
                .connect_errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let by_status: Vec<String> = statuses
            .iter()
            .map(|(status, n)| format!("{status}: {:.0}/s", per_second(*n)))
            .collect();
        println!("flood {} answers: {}", kind.name(), by_status.join(", "));
    }
    println!(
        "flood slow connections: {} open at a time, closed by the server {:.0}/s",
        args.slow,
        per_second(slow_closed.load(Ordering::Relaxed))
    );
    Ok(())
}

/// One keep-alive connection of a kind: every [`TICK`] it writes the requests its schedule
/// owes (open loop), pipelined; a reader task counts the answers. Reconnects when the server
/// closes it.
async fn flood_connection(
    addr: std::net::SocketAddr,
    kind: Kind,
    rate: f64,
    index: u64,
    began: tokio::time::Instant,
    stats: Arc<KindStats>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut scheduled = 0u64;
    let mut n = index;
    let mut connection: Option<FloodConnection> = None;
    let mut retry_at = began;
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let due = (began.elapsed().as_secs_f64() * rate) as u64;
        let owed = due.saturating_sub(scheduled);
        scheduled = due;
        stats.offered.fetch_add(owed, Ordering::Relaxed);

        if connection.as_ref().is_some_and(|c| c.closed.is_cancelled())
            && let Some(c) = connection.take()
        {
            c.finish(&stats);
        }
        if connection.is_none() && tokio::time::Instant::now() >= retry_at {
            match FloodConnection::open(addr, Arc::clone(&stats)).await {
                Ok(c) => connection = Some(c),
                Err(error) => {
                    *stats
                        .connect_errors
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(format!("{:?}", error.kind()))
                        .or_default() += 1;
                    retry_at = tokio::time::Instant::now() + Duration::from_millis(100);
                }
            }
        }
        let Some(c) = connection.as_mut() else {
            continue;
        };
        let room = WINDOW.saturating_sub(c.outstanding.load(Ordering::Relaxed));
        let count = owed.min(room);
        if count == 0 {
            continue;
        }
        buffer.clear();
        for _ in 0..count {
            kind.write_request(n, &mut buffer);
            n += kind.connections();
        }
        c.outstanding.fetch_add(count, Ordering::Relaxed);
        let written = tokio::select! {
            written = c.writer.write_all(&buffer) => written.is_ok(),
            () = c.closed.cancelled() => false,
            () = stop.cancelled() => false,
        };
        if written {
            stats.sent.fetch_add(count, Ordering::Relaxed);
        } else {
            c.outstanding.fetch_sub(count, Ordering::Relaxed);
            c.closed.cancel();
        }
    }
    // What came due while a write was blocked (the server not reading) was offered too.
    let due = (began.elapsed().as_secs_f64() * rate) as u64;
    stats
        .offered
        .fetch_add(due.saturating_sub(scheduled), Ordering::Relaxed);
    if let Some(c) = connection.take() {
        // Answers still on their way when the flood ends are not counted as lost.
        c.reader.abort();
    }
}

struct FloodConnection {
    writer: tokio::net::tcp::OwnedWriteHalf,
    outstanding: Arc<AtomicU64>,
    closed: CancellationToken,
    reader: tokio::task::JoinHandle<()>,
}

impl FloodConnection {
    async fn open(
        addr: std::net::SocketAddr,
        stats: Arc<KindStats>,
    ) -> std::io::Result<FloodConnection> {
        let stream =
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        stream.set_nodelay(true)?;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let (reader, writer) = stream.into_split();
        let outstanding = Arc::new(AtomicU64::new(0));
        let closed = CancellationToken::new();
        let reader = tokio::spawn(read_answers(
            reader,
            Arc::clone(&outstanding),
            stats,
            closed.clone(),
        ));
        Ok(FloodConnection {
            writer,
            outstanding,
            closed,
            reader,
        })
    }

    /// The server closed the connection: what was sent and not answered is lost.
    fn finish(self, stats: &KindStats) {
        self.reader.abort();
        stats
            .unanswered
            .fetch_add(self.outstanding.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Reads pipelined answers (status and `Content-Length` body) until the server closes.
async fn read_answers(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    outstanding: Arc<AtomicU64>,
    stats: Arc<KindStats>,
    closed: CancellationToken,
) {
    let mut buffer: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut start = 0usize;
    'read: loop {
        if start > 0 && start == buffer.len() {
            buffer.clear();
            start = 0;
        } else if start > 128 * 1024 {
            buffer.drain(..start);
            start = 0;
        }
        let len = buffer.len();
        buffer.resize(len + 64 * 1024, 0);
        match reader.read(&mut buffer[len..]).await {
            Ok(0) | Err(_) => break,
            Ok(read) => buffer.truncate(len + read),
        }
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let head = match response.parse(&buffer[start..]) {
                Ok(httparse::Status::Complete(head)) => head,
                Ok(httparse::Status::Partial) => break,
                Err(_) => break 'read,
            };
            let body = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            if buffer.len() - start < head + body {
                break;
            }
            stats.answered(response.code.unwrap_or(0));
            outstanding.fetch_sub(1, Ordering::Relaxed);
            start += head + body;
        }
    }
    closed.cancel();
}
