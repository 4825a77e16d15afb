//! Load tool for the IMAP source (the figures in BENCHMARKS.md): N mailboxes IDLE on the test Dovecot, APPENDs
//! to random mailboxes at a steady rate, and it reports
//! - the time to connect (log in, EXAMINE, first catch-up) all N watchers,
//! - the resident memory per idle mailbox (VmRSS growth of this process / N),
//! - the latency from the APPEND command to the suggestion committed (p50, p99, max).
//!
//! Run against the servers of `scripts/test.sh` (source `$MAILSIG_TEST_DIR/env` first):
//!   cargo run --release -p mailsig-tests --bin imap_load -- --mailboxes 100 --rate 10 --seconds 30
//! The daemon side (source, pipeline, SQLite store) runs in this process; the APPENDs use separate
//! connections, so the latency includes Dovecot noticing the new mail and pushing it through IDLE.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mailsig_daemon::domain::TlsMode;
use mailsig_daemon::pipeline::{Pipeline, PipelineConfig};
use mailsig_daemon::sources::imap::{ImapOptions, ImapSettings, ImapSource, StoreCheckpoints};
use mailsig_daemon::store::{MailboxId, Store};
use mailsig_tests::imap_support::{NAMES, SignedMail, imap_mailbox, imap_settings};
use mailsig_tests::servers::{ImapSecurity, MailUser, TestEnv};
use rand::Rng;
use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Args {
    mailboxes: usize,
    rate: f64,
    seconds: u64,
    security: TlsMode,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        mailboxes: 100,
        rate: 10.0,
        seconds: 30,
        security: TlsMode::ImplicitTls,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mailboxes" => args.mailboxes = value()?.parse()?,
            "--rate" => args.rate = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--starttls" => args.security = TlsMode::StartTls,
            other => bail!(
                "unknown argument {other} (--mailboxes N --rate PER_SECOND --seconds S [--starttls])"
            ),
        }
    }
    Ok(args)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A message with a signature the parser recognises, from a sender unique to `i`.
fn message(i: usize) -> Vec<u8> {
    let (first, last) = NAMES[i % NAMES.len()];
    let (lower_first, lower_last) = (first.to_lowercase(), last.to_lowercase());
    SignedMail {
        first,
        last,
        address: &format!("{lower_first}.{lower_last}{i}@{lower_last}{i}.example.com"),
        to: "owner@load-owner.test",
        subject: &format!("Invoice {i}"),
        message_id: &format!("load{i}.{}@load.example.com", rand::random::<u64>()),
        company: &format!("{last} Marine Services {i}, LLC"),
        phone_suffix: i % 100,
    }
    .bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let env = TestEnv::from_env()?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("load.db"))).await?;
    store.migrate().await?;
    let owner = store.create_user("owner@load-owner.test", None).await?;
    let list = store.create_list(owner.id, "Load").await?;

    let mut users: Vec<(MailboxId, MailUser, ImapSettings)> = Vec::with_capacity(args.mailboxes);
    for _ in 0..args.mailboxes {
        let user = env.create_mail_user()?;
        let port = if args.security == TlsMode::ImplicitTls {
            env.imaps_port
        } else {
            env.imap_port
        };
        let settings = imap_settings(port, args.security, &user.name, &env.ca, &[]);
        let mailbox = store
            .create_mailbox(imap_mailbox(
                owner.id,
                list.id,
                "owner@load-owner.test",
                &settings,
            ))
            .await?;
        users.push((mailbox.id, user, settings));
    }

    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let pipeline = Pipeline::spawn(
        store.clone(),
        PipelineConfig::default(),
        &tracker,
        shutdown.clone(),
    );
    let options = ImapOptions {
        max_connections_per_host: args.mailboxes + 10,
        ..ImapOptions::default()
    };
    let source = ImapSource::new(
        options,
        pipeline.handle(),
        Arc::new(StoreCheckpoints::new(store.clone())),
        shutdown.child_token(),
    );

    let rss_before = rss_kib();
    let started = Instant::now();
    for (mailbox, user, settings) in &users {
        source.add_mailbox(
            *mailbox,
            settings.clone(),
            SecretString::from(user.password.clone()),
        )?;
    }
    let n = u64::try_from(args.mailboxes)?;
    while source.stats().catch_ups < n {
        if started.elapsed() > Duration::from_secs(600) {
            bail!(
                "only {} of {n} watchers linked after 10 min: {:?}",
                source.stats().catch_ups,
                source.stats()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_all = started.elapsed();
    // Let the IDLE commands and the first allocations settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = rss_kib();
    println!(
        "connected {} mailboxes in {:.2} s; RSS {} KiB -> {} KiB: {:.1} KiB per idle mailbox",
        args.mailboxes,
        connect_all.as_secs_f64(),
        rss_before,
        rss_idle,
        (rss_idle.saturating_sub(rss_before)) as f64 / args.mailboxes as f64
    );

    // Per mailbox: APPEND completion times waiting for their commit, in UID order.
    let pending: Arc<Mutex<HashMap<MailboxId, VecDeque<Instant>>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let daemon_latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut commits = source.subscribe_commits();
    let collector = {
        let pending = Arc::clone(&pending);
        let latencies = Arc::clone(&latencies);
        let daemon_latencies = Arc::clone(&daemon_latencies);
        tokio::spawn(async move {
            while let Ok(commit) = commits.recv().await {
                let now = Instant::now();
                daemon_latencies
                    .lock()
                    .await
                    .push(now.saturating_duration_since(commit.noticed));
                if let Some(at) = pending
                    .lock()
                    .await
                    .get_mut(&commit.mailbox)
                    .and_then(VecDeque::pop_front)
                {
                    latencies
                        .lock()
                        .await
                        .push(now.saturating_duration_since(at));
                }
            }
        })
    };

    // One APPEND session per mailbox in flight at most, so UID order equals APPEND order.
    let busy: Arc<Mutex<Vec<bool>>> = Arc::new(Mutex::new(vec![false; users.len()]));
    let users = Arc::new(users);
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let total = (args.rate * args.seconds as f64) as usize;
    let mut ticker = tokio::time::interval(interval);
    let imap = env.imap();
    let security = if args.security == TlsMode::ImplicitTls {
        ImapSecurity::Implicit
    } else {
        ImapSecurity::Starttls
    };
    let mut appends = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let index = {
            let mut busy = busy.lock().await;
            let mut index = rand::rng().random_range(0..users.len());
            while busy[index] {
                index = rand::rng().random_range(0..users.len());
            }
            busy[index] = true;
            index
        };
        let (users, pending, busy, imap) = (
            Arc::clone(&users),
            Arc::clone(&pending),
            Arc::clone(&busy),
            imap.clone(),
        );
        appends.push(tokio::spawn(async move {
            let (mailbox, user, _) = &users[index];
            let result = async {
                let mut session = imap.login(user, security).await?;
                // Timed from the APPEND command (login excluded), recorded before sending so that a
                // very fast commit cannot arrive before its start time is known.
                pending
                    .lock()
                    .await
                    .entry(*mailbox)
                    .or_default()
                    .push_back(Instant::now());
                session.append("INBOX", None, None, &message(i)).await?;
                let _ = session.logout().await;
                anyhow::Ok(())
            }
            .await;
            busy.lock().await[index] = false;
            result
        }));
    }
    for append in appends {
        append.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while latencies.lock().await.len() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    collector.abort();
    let mut measured = latencies.lock().await.clone();
    measured.sort_unstable();
    println!(
        "{} APPENDs at {}/s over {} s: {} committed; latency APPEND -> committed suggestion p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        total,
        args.rate,
        args.seconds,
        measured.len(),
        percentile(&measured, 50.0).as_secs_f64() * 1e3,
        percentile(&measured, 99.0).as_secs_f64() * 1e3,
        measured.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    let mut own = daemon_latencies.lock().await.clone();
    own.sort_unstable();
    println!(
        "daemon's share (IDLE wake-up -> committed): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&own, 50.0).as_secs_f64() * 1e3,
        percentile(&own, 99.0).as_secs_f64() * 1e3,
        own.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    let suggestions = store
        .list_suggestions(
            list.id,
            &mailsig_daemon::store::SuggestionFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await?
        .len();
    println!("suggestions in the list: {suggestions} (first page, at most 1000)");
    println!("imap stats: {:?}", source.stats());
    source.shutdown(Duration::from_secs(30)).await;
    shutdown.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(30), tracker.wait()).await;
    if measured.len() < total {
        bail!(
            "{} of {total} messages were not committed in time",
            total - measured.len()
        );
    }
    Ok(())
}
