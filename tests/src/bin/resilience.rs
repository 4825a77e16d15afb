//! The resilience suite: several real `mailsigd run` replicas on one PostgreSQL,
//! a Dovecot, mail APPENDed to many mailboxes while replicas are SIGKILLed at random moments
//! and restarted, plus a Dovecot restart, a PostgreSQL restart and an SMTP outage. Afterwards
//! every message must have produced exactly one suggestion: 0 lost, 0 duplicated.
//! Microsoft 365 mailboxes take part too: the Graph emulator serves them, messages are
//! delivered to them during the run and a "429 storm" turns every Graph call away for a while
//! (`graph.rs`); they too must end with one suggestion per message, and no mailbox may ever
//! have had more than 4 Graph calls in progress at once.
//!
//! Everything that is broken on purpose is private to the run: a private Dovecot
//! ([`PrivateDovecot`]), a private PostgreSQL cluster ([`PrivatePg`]) and a TCP relay in front
//! of the shared Postfix whose outage stands for the SMTP server's. The shared test servers
//! are never restarted.
//!
//! Usage (the test servers must run: `scripts/test-servers.sh start`, then source
//! `.test-servers/env`; `scripts/resilience.sh` does both):
//!   resilience [--messages 2000] [--mailboxes 50] [--replicas 3] [--kills 20] [--seconds 90]
//!              [--graph-mailboxes 10] [--graph-messages N] [--seed N] [--no-faults] [--json FILE] [--keep]
//! `--keep` leaves the replicas' configurations and logs (one directory per replica life).
//! The seed is printed; the same seed gives the same kill schedule. Exit status 0 only when
//! nothing was lost or duplicated and every notification was sent.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::sources::imap::{ImapSettings, Security};
use mailsig_daemon::store::{ListId, MailboxId, Store, SuggestionFilter};
use mailsig_daemon::vault::{MasterKey, Vault};
use mailsig_tests::mailboxes::{ImapMailbox, create_imap_mailbox, owner_with_list};
use mailsig_tests::servers::{
    MailUser, PrivateDovecot, PrivateDovecotOptions, PrivatePg, TestEnv, free_port,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// How long the replicas may take to watch every mailbox after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long after the last APPEND every message must have become a suggestion.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(240);
/// A failover that takes longer than this is reported as failed.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(120);

#[path = "resilience/graph.rs"]
mod graph;

#[derive(Clone, Debug)]
struct Args {
    messages: usize,
    mailboxes: usize,
    replicas: usize,
    kills: usize,
    seconds: u64,
    graph_mailboxes: usize,
    graph_messages: usize,
    seed: u64,
    faults: bool,
    json: Option<PathBuf>,
    /// Keep the replicas' configurations and logs (the run's work directory) afterwards.
    keep: bool,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut args = Args {
            messages: 2000,
            mailboxes: 50,
            replicas: 3,
            kills: 20,
            seconds: 90,
            graph_mailboxes: 10,
            graph_messages: 0,
            seed: rand::random(),
            faults: true,
            json: None,
            keep: false,
        };
        let mut graph_messages = None;
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--messages" => args.messages = value()?.parse()?,
                "--mailboxes" => args.mailboxes = value()?.parse()?,
                "--replicas" => args.replicas = value()?.parse()?,
                "--kills" => args.kills = value()?.parse()?,
                "--seconds" => args.seconds = value()?.parse()?,
                "--graph-mailboxes" => args.graph_mailboxes = value()?.parse()?,
                "--graph-messages" => graph_messages = Some(value()?.parse()?),
                "--seed" => args.seed = value()?.parse()?,
                "--json" => args.json = Some(PathBuf::from(value()?)),
                "--no-faults" => args.faults = false,
                "--keep" => args.keep = true,
                "--help" | "-h" => {
                    println!(
                        "resilience [--messages N] [--mailboxes N] [--replicas N] [--kills N] [--seconds N] \
                         [--graph-mailboxes N] [--graph-messages N] [--seed N] [--no-faults] [--json FILE] [--keep]"
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?} (see --help)"),
            }
        }
        ensure!(
            args.mailboxes > 0 && args.replicas > 0 && args.messages > 0,
            "counts must be positive"
        );
        // By default a fifth as many Graph messages as IMAP ones.
        args.graph_messages = if args.graph_mailboxes == 0 {
            0
        } else {
            graph_messages.unwrap_or(args.messages / 5)
        };
        Ok(args)
    }
}

/// One linked mailbox of the run.
struct Linked {
    mailbox: MailboxId,
    list: ListId,
    source: Source,
}

/// Where a linked mailbox's mail comes from.
enum Source {
    /// A user of the private Dovecot.
    Imap(MailUser),
    /// An emulated Microsoft 365 user (its e-mail).
    Graph(String),
}

/// One replica slot: the process now running in it (if any) and its generation.
struct Slot {
    index: usize,
    generation: u32,
    child: Option<Child>,
    id: String,
    /// SIGSTOPped right now: not chosen for a kill meanwhile.
    paused: bool,
}

/// Everything the replicas are started with.
struct Cluster {
    bin: PathBuf,
    work: PathBuf,
    database_url: String,
    master_key: PathBuf,
    smtp: SmtpSetup,
    /// Each slot's HTTP port, the same for every generation (the front relay knows them).
    http_ports: Vec<u16>,
    /// The `[graph]` section of the replicas' configuration (empty without Graph mailboxes).
    graph_section: String,
    slots: Vec<Mutex<Slot>>,
    /// Pids of the replicas SIGKILLed so far (the outbox names its workers `host-pid`).
    killed_pids: std::sync::Mutex<Vec<u32>>,
}

struct SmtpSetup {
    relay_port: u16,
    user: MailUser,
    password_file: PathBuf,
    ca: PathBuf,
}

#[tokio::main]
async fn main() {
    // On SIGINT/SIGTERM the run is dropped, which stops the replicas (kill on drop), the private
    // PostgreSQL and the private Dovecot: nothing is left running behind an interrupted run.
    let interrupted = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {}
        }
    };
    let outcome = tokio::select! {
        outcome = run() => outcome,
        () = interrupted => Err(anyhow::anyhow!("interrupted; servers and replicas stopped")),
    };
    match outcome {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("resilience: {error:#}");
            std::process::exit(2);
        }
    }
}

async fn run() -> Result<bool> {
    let args = Args::parse()?;
    println!(
        "resilience: seed {} ({} messages, {} mailboxes, {} replicas, {} kills over {} s, faults {}; \
         {} graph messages, {} graph mailboxes)",
        args.seed,
        args.messages,
        args.mailboxes,
        args.replicas,
        args.kills,
        args.seconds,
        args.faults,
        args.graph_messages,
        args.graph_mailboxes
    );
    let env = TestEnv::from_env()?;
    let bin = build_mailsigd().await?;
    let started = Instant::now();
    let pg = PrivatePg::start(&env).await?;
    let database_url = pg.create_database("mailsig").await?;
    let dovecot = PrivateDovecot::start(&env, PrivateDovecotOptions::default()).await?;
    let work = tempfile::Builder::new()
        .prefix("resilience-")
        .tempdir_in(env.dir.join("private"))?;
    let master_key = work.path().join("master.key");
    let key = MasterKey::generate()?;
    key.write_new_file(&master_key)?;
    let vault = Vault::new(key);

    let store = Store::open(&database_url)
        .await
        .context("open the run's database")?;
    store.migrate().await?;
    let mut linked = link_mailboxes(&store, &vault, &dovecot, &env, args.mailboxes).await?;
    let http_ports = (0..args.replicas)
        .map(|_| free_port())
        .collect::<Result<Vec<u16>>>()?;
    let graph_run = match args.graph_mailboxes {
        0 => None,
        _ => Some(graph::GraphRun::start(http_ports.clone(), &store, &vault).await?),
    };
    let relay = Relay::start(env.smtps_port).await?;
    let smtp_user = env.create_mail_user()?;
    let password_file = work.path().join("smtp-password");
    std::fs::write(&password_file, &smtp_user.password)?;
    let cluster = Arc::new(Cluster {
        bin,
        work: work.path().to_path_buf(),
        database_url: database_url.clone(),
        master_key,
        smtp: SmtpSetup {
            relay_port: relay.port,
            user: smtp_user,
            password_file,
            ca: env.ca.clone(),
        },
        http_ports,
        graph_section: graph_run
            .as_ref()
            .map(graph::GraphRun::config_section)
            .unwrap_or_default(),
        slots: (0..args.replicas)
            .map(|index| {
                Mutex::new(Slot {
                    index,
                    generation: 0,
                    child: None,
                    id: String::new(),
                    paused: false,
                })
            })
            .collect(),
        killed_pids: std::sync::Mutex::default(),
    });
    if graph_run.is_some() {
        let config = cluster.work.join("check.toml");
        std::fs::write(&config, cluster.config("check", &cluster.work, 0))?;
        graph::check_binary_speaks_to_emulator(&cluster.bin, &config).await?;
    }
    for slot in &cluster.slots {
        cluster.start(&mut *slot.lock().await)?;
    }
    if let Some(graph_run) = &graph_run {
        linked.extend(
            graph_run
                .link(&store, &vault, &env, args.graph_mailboxes)
                .await?,
        );
    }
    let imap_count = linked
        .iter()
        .filter(|l| matches!(l.source, Source::Imap(_)))
        .count();
    let graph_emails: Vec<String> = linked
        .iter()
        .filter_map(|l| match &l.source {
            Source::Graph(email) => Some(email.clone()),
            Source::Imap(_) => None,
        })
        .collect();
    let ready = wait_watched(&store, &linked, graph_run.as_ref()).await;
    println!(
        "resilience: {} replicas watch {} mailboxes after {:.1} s",
        args.replicas,
        linked.len(),
        started.elapsed().as_secs_f64()
    );
    ready?;

    // The plan, all from the seed: which mailbox gets which message, when each kill happens,
    // which replica it hits and how long it stays down.
    let mut rng = StdRng::seed_from_u64(args.seed);
    let run_for = Duration::from_secs(args.seconds);
    let targets: Vec<usize> = (0..args.messages)
        .map(|_| rng.random_range(0..imap_count))
        .collect();
    let graph_targets: Vec<usize> = (0..args.graph_messages)
        .map(|_| rng.random_range(0..graph_emails.len().max(1)))
        .collect();
    let mut kill_at: Vec<Duration> = (0..args.kills)
        .map(|_| run_for.mul_f64(rng.random_range(0.05..0.95)))
        .collect();
    kill_at.sort();
    let kills: Vec<(Duration, usize, Duration)> = kill_at
        .into_iter()
        .map(|at| {
            (
                at,
                rng.random_range(0..args.replicas),
                Duration::from_millis(rng.random_range(500..3000)),
            )
        })
        .collect();

    let t0 = Instant::now();
    let appended = Arc::new(AtomicU64::new(0));
    let appender = tokio::spawn(append_all(
        dovecot.imap()?,
        linked_users(&linked),
        targets.clone(),
        run_for,
        Arc::clone(&appended),
    ));
    let failovers = Arc::new(std::sync::Mutex::new(Vec::<Failover>::new()));
    let sigstop_log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let pause = {
        let (cluster, sigstop_log) = (Arc::clone(&cluster), Arc::clone(&sigstop_log));
        let slot = rng.random_range(0..args.replicas);
        async move {
            if args.faults {
                pause_one(&cluster, slot, t0 + run_for.mul_f64(0.5), &sigstop_log).await;
            }
        }
    };
    let chaos = {
        let cluster = Arc::clone(&cluster);
        let store = store.clone();
        let failovers = Arc::clone(&failovers);
        async move { chaos(cluster, store, kills, t0, failovers).await }
    };
    let faults = async {
        if !args.faults {
            return Ok::<_, anyhow::Error>(Vec::new());
        }
        fault_schedule(&dovecot, &pg, &relay, t0, run_for).await
    };
    // Graph: messages over the same period; the storm from 45 % of the run.
    let graph_delivery = async {
        match &graph_run {
            Some(g) => {
                g.deliver_all(
                    graph_emails.clone(),
                    graph_targets.clone(),
                    args.messages,
                    run_for,
                    message,
                )
                .await
            }
            None => Ok(0),
        }
    };
    let storm = async {
        match &graph_run {
            Some(g) if args.faults => g.storm(t0 + run_for.mul_f64(0.45), t0).await,
            _ => Vec::new(),
        }
    };
    let (appender, chaos, faults, (), graph_delivery, storm_log) =
        tokio::join!(appender, chaos, faults, pause, graph_delivery, storm);
    let notifications_retried = graph_delivery?;
    let append_errors = appender.context("appender task")??;
    let measurements = chaos?;
    let stopped = sigstop_log.lock().map(|l| l.clone()).unwrap_or_default();
    let fault_log = faults?;
    println!(
        "resilience: {} messages appended, {} delivered to Graph, in {:.1} s",
        appended.load(Ordering::Relaxed),
        graph_targets.len(),
        t0.elapsed().as_secs_f64()
    );

    // Every message must arrive; wait for the pipelines and the failovers to catch up.
    let expected: HashMap<String, usize> = targets
        .iter()
        .enumerate()
        .map(|(n, mailbox)| (sender_address(n), *mailbox))
        .chain(
            graph_targets
                .iter()
                .enumerate()
                .map(|(n, mailbox)| (sender_address(args.messages + n), imap_count + mailbox)),
        )
        .collect();
    let drain_started = Instant::now();
    loop {
        let outcome = count_suggestions(&store, &linked, &expected).await?;
        if outcome.found_distinct >= expected.len() || drain_started.elapsed() > DRAIN_TIMEOUT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drain_time = drain_started.elapsed();
    let killed = cluster
        .killed_pids
        .lock()
        .map(|k| k.clone())
        .unwrap_or_default();
    let outbox = wait_outbox(&store, &killed, Duration::from_secs(180)).await?;
    for slot in &cluster.slots {
        cluster.stop(&mut *slot.lock().await).await;
    }
    // Counted again after the replicas stopped: nothing may have appeared meanwhile.
    let outcome_after = count_suggestions(&store, &linked, &expected).await?;
    let failovers = failovers.lock().map(|f| f.clone()).unwrap_or_default();
    let graph_report = graph_run.as_ref().map(|g| g.report(&graph_emails));
    let summary = Summary {
        seed: args.seed,
        messages: args.messages,
        mailboxes: args.mailboxes,
        graph_messages: args.graph_messages,
        graph_mailboxes: graph_emails.len(),
        graph: graph_report,
        graph_notifications_retried: notifications_retried,
        replicas: args.replicas,
        kills: measurements.kills,
        lost: outcome_after.lost,
        lost_graph: outcome_after.lost_graph,
        duplicated: outcome_after.duplicated,
        unexpected: outcome_after.unexpected,
        append_retries: append_errors,
        redeliveries_absorbed: outcome_after.duplicates_absorbed,
        failover_ms: failovers.iter().map(|f| f.millis).collect(),
        failovers_timed_out: failovers.iter().filter(|f| f.timed_out).count(),
        drain_ms: u64::try_from(drain_time.as_millis()).unwrap_or(u64::MAX),
        faults: fault_log
            .into_iter()
            .chain(storm_log)
            .chain(stopped)
            .collect(),
        stale_commits_refused: count_in_logs(&cluster.work, "commit refused: stale fencing token"),
        leases_lost: count_in_logs(&cluster.work, "mailbox lease lost"),
        stale_graph_tasks_fenced: count_in_logs(
            &cluster.work,
            "graph mailbox taken over by another replica",
        ),
        outbox_sent: outbox.sent,
        outbox_held_by_killed: outbox.held_by_killed,
        outbox_not_sent: outbox.not_sent,
        total_s: started.elapsed().as_secs_f64(),
    };
    summary.print();
    if !outcome_after.lost_messages.is_empty() {
        explain_losses(&store, &linked, &outcome_after.lost_messages, &cluster.work).await;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary.to_json())?)?;
    }
    drop(relay);
    if args.keep || !summary.passed() {
        println!("resilience: replica logs kept in {}", work.keep().display());
    }
    Ok(summary.passed())
}

/// Builds (or finds up to date) the real daemon binary and returns its path.
async fn build_mailsigd() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MAILSIGD_BIN") {
        return Ok(PathBuf::from(path));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(cargo)
        .current_dir(&workspace)
        // The same packages and targets as the test build (dev-dependencies included), so the
        // features resolve the same and everything the tests built is reused, not rebuilt.
        .args([
            "build",
            "-p",
            "mailsig-tests",
            "-p",
            "mailsig-daemon",
            "--bins",
            "--tests",
        ])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .await
        .context("run cargo build for mailsigd")?;
    ensure!(output.status.success(), "cargo build of mailsigd failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_binary = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
            && message["profile"]["test"] == false;
        if message["reason"] == "compiler-artifact"
            && message["target"]["name"] == "mailsigd"
            && is_binary
            && let Some(path) = message["executable"].as_str()
        {
            return Ok(PathBuf::from(path));
        }
    }
    bail!("cargo build did not report the mailsigd executable")
}

/// Creates, per mailbox: a mail user on the private Dovecot, an owner (a mail user of the shared
/// servers, so digests are deliverable) with a list, the sealed password and the mailbox row.
async fn link_mailboxes(
    store: &Store,
    vault: &Vault,
    dovecot: &PrivateDovecot,
    env: &TestEnv,
    count: usize,
) -> Result<Vec<Linked>> {
    let mut linked = Vec::with_capacity(count);
    for _ in 0..count {
        let user = dovecot.create_mail_user()?;
        let owner_mail = env.create_mail_user()?;
        let owner = owner_with_list(store, &owner_mail.address).await?;
        let settings = ImapSettings {
            host: "127.0.0.1".into(),
            port: dovecot.imap_port,
            security: Security::Plaintext,
            username: user.name.clone(),
            folders: vec!["INBOX".into()],
            ca_file: None,
            ca_pem: None,
            backfill: 0,
            operator_trusted: true,
        };
        let mailbox = create_imap_mailbox(
            store,
            ImapMailbox {
                owner,
                address: &user.address,
                settings: Some(&settings),
                password: Some((vault, user.password.as_bytes())),
            },
        )
        .await?;
        let list = owner.list;
        linked.push(Linked {
            mailbox: mailbox.id,
            list,
            source: Source::Imap(user),
        });
    }
    Ok(linked)
}

/// The IMAP mailboxes' users, in the order of `linked` (IMAP mailboxes come first).
fn linked_users(linked: &[Linked]) -> Vec<MailUser> {
    linked
        .iter()
        .filter_map(|l| match &l.source {
            Source::Imap(user) => Some(user.clone()),
            Source::Graph(_) => None,
        })
        .collect()
}

/// Waits until every mailbox's watcher has started once (an IMAP folder's cursor exists; a
/// Graph mailbox is subscribed and has its delta link): only mail that arrives after that is
/// processed, by design.
async fn wait_watched(
    store: &Store,
    linked: &[Linked],
    graph: Option<&graph::GraphRun>,
) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let mut missing = 0;
        for l in linked {
            let watched = match (&l.source, graph) {
                (Source::Imap(_), _) => store
                    .get_cursor(l.mailbox, "INBOX")
                    .await
                    .ok()
                    .flatten()
                    .is_some(),
                (Source::Graph(email), Some(graph)) => graph.watched(store, l, email).await,
                (Source::Graph(_), None) => false,
            };
            if !watched {
                missing += 1;
            }
        }
        if missing == 0 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{missing} mailboxes still not watched after {READY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Cluster {
    /// Starts the next generation of a slot's replica.
    fn start(&self, slot: &mut Slot) -> Result<()> {
        slot.generation += 1;
        slot.id = format!("r{}-g{}", slot.index, slot.generation);
        let dir = self.work.join(&slot.id);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("mailsig.toml");
        std::fs::write(&config, self.config(&slot.id, &dir, slot.index))?;
        let log = std::fs::File::create(dir.join("mailsigd.log"))?;
        let child = Command::new(&self.bin)
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env_remove("MAILSIG_CONFIG")
            .env("RUST_LOG", "mailsig_daemon=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", self.bin.display()))?;
        slot.child = Some(child);
        Ok(())
    }

    /// The configuration of replica `id` in slot `slot` (its HTTP port is the slot's).
    fn config(&self, id: &str, dir: &Path, slot: usize) -> String {
        format!(
            "data_dir = {dir:?}\ndatabase_url = {url:?}\nmaster_key_file = {key:?}\n\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n\n{graph}\
             [pipeline]\nworkers = 2\n\n\
             [imap]\nallow_plaintext_loopback = true\nmax_connections_per_host = 100\n\n\
             [notify]\ndigest_interval = \"5s\"\n\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"tls\"\nusername = {user:?}\n\
             from = {from:?}\nca_file = {ca:?}\npassword_file = {password:?}\n\n\
             [replica]\nid = {id:?}\n\n[log]\nformat = \"text\"\nlevel = \"info\"\n",
            dir = dir.display().to_string(),
            url = self.database_url,
            key = self.master_key.display().to_string(),
            http_port = self.http_ports.get(slot).copied().unwrap_or(0),
            graph = self.graph_section,
            smtp_port = self.smtp.relay_port,
            user = self.smtp.user.name,
            from = self.smtp.user.address,
            ca = self.smtp.ca.display().to_string(),
            password = self.smtp.password_file.display().to_string(),
        )
    }

    /// SIGKILLs a slot's replica (like a crash) and reaps it.
    async fn kill(&self, slot: &mut Slot) {
        if let Some(mut child) = slot.child.take() {
            if let (Some(pid), Ok(mut killed)) = (child.id(), self.killed_pids.lock()) {
                killed.push(pid);
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// SIGTERM, then waits (SIGKILL after 30 s).
    async fn stop(&self, slot: &mut Slot) {
        let Some(mut child) = slot.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// APPENDs message `n` to mailbox `targets[n]`, spread evenly over `run_for`, four at a time.
/// An APPEND that fails (Dovecot restarting) is retried until it succeeds. Returns the retries.
async fn append_all(
    imap: mailsig_tests::servers::ImapEndpoint,
    users: Vec<MailUser>,
    targets: Vec<usize>,
    run_for: Duration,
    appended: Arc<AtomicU64>,
) -> Result<u64> {
    let t0 = Instant::now();
    let total = targets.len();
    let retries = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(tokio::sync::Semaphore::new(4));
    let imap = Arc::new(imap);
    let users = Arc::new(users);
    let mut tasks = tokio::task::JoinSet::new();
    for (n, target) in targets.into_iter().enumerate() {
        let due = t0 + run_for.mul_f64(n as f64 / total as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (imap, users, retries, appended) = (
            Arc::clone(&imap),
            Arc::clone(&users),
            Arc::clone(&retries),
            Arc::clone(&appended),
        );
        tasks.spawn(async move {
            let _permit = permit;
            let raw = message(n);
            let user = &users[target];
            let mut attempt = 0u32;
            loop {
                match imap.append(user, "INBOX", &raw).await {
                    Ok(()) => break,
                    Err(error) => {
                        attempt += 1;
                        retries.fetch_add(1, Ordering::Relaxed);
                        if attempt > 120 {
                            return Err(
                                error.context(format!("APPEND of message {n} kept failing"))
                            );
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            appended.fetch_add(1, Ordering::Relaxed);
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.context("append task")??;
    }
    Ok(retries.load(Ordering::Relaxed))
}

const FIRST_NAMES: [&str; 50] = [
    "Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Karla",
    "Lukas", "Mia", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Simon", "Tina", "Uwe", "Vera",
    "Walter", "Xenia", "Yann", "Zoe", "Arne", "Berta", "Carl", "Dora", "Emil", "Frida", "Gustav",
    "Helga", "Igor", "Jana", "Kurt", "Lena", "Moritz", "Nina", "Oskar", "Petra", "Ralf", "Sabine",
    "Theo", "Ulla", "Viktor", "Wilma", "Yvonne", "Ziggy",
];
const LAST_NAMES: [&str; 40] = [
    "Adler", "Bauer", "Conrad", "Dietrich", "Engel", "Fischer", "Graf", "Hartmann", "Jung",
    "Keller", "Lang", "Meyer", "Neumann", "Otto", "Peters", "Richter", "Schulz", "Thomas",
    "Ulrich", "Vogel", "Wagner", "Zimmer", "Arnold", "Brandt", "Berger", "Dorn", "Ebert", "Frank",
    "Haas", "Horn", "Jansen", "Kraus", "Lorenz", "Martin", "Nagel", "Pohl", "Roth", "Seidel",
    "Voigt", "Winter",
];

/// A person's name unique per message number (first × last, then a middle initial).
fn sender_name(n: usize) -> String {
    let first = FIRST_NAMES[n % FIRST_NAMES.len()];
    let last = LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let round = n / (FIRST_NAMES.len() * LAST_NAMES.len());
    if round == 0 {
        format!("{first} {last}")
    } else {
        let initial = char::from(b'A' + u8::try_from(round % 26).unwrap_or(0));
        format!("{first} {initial}. {last}")
    }
}

fn sender_address(n: usize) -> String {
    format!("sender{n}@partner{}.example", n % 97)
}

/// Message `n`: a unique sender, a unique Message-ID, a signature the parser recognises.
fn message(n: usize) -> Vec<u8> {
    let name = sender_name(n);
    let address = sender_address(n);
    let domain = address
        .split_once('@')
        .map_or("partner.example", |(_, d)| d);
    format!(
        "From: {name} <{address}>\r\nTo: Owner <owner@mycorp.example>\r\nSubject: Delivery schedule {n}\r\n\
         Date: Thu, 19 Nov 2026 10:15:00 +0100\r\nMessage-ID: <res{n}.{seed:x}@{domain}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello,\r\n\r\nplease find the delivery schedule for next week below.\r\nWe can ship on Tuesday.\r\n\r\n\
         Best regards,\r\n{name}\r\nHead of Procurement\r\nPartner Example GmbH\r\nTel. +49 30 12345678\r\n\
         https://www.{domain}\r\n",
        seed = RUN_TAG.get_or_init(rand::random::<u32>),
    )
    .into_bytes()
}

/// Distinguishes this run's Message-IDs from any earlier run's.
static RUN_TAG: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// SIGSTOPs one replica at `at` for longer than its lease (the others take its mailboxes over),
/// then SIGCONTs it: it must notice the lost leases, and any commit it had in flight must be
/// refused for its stale fencing token (counted from the replicas' logs).
async fn pause_one(
    cluster: &Cluster,
    slot_index: usize,
    at: Instant,
    log: &std::sync::Mutex<Vec<String>>,
) {
    tokio::time::sleep_until(at.into()).await;
    let (pid, id) = {
        let mut slot = cluster.slots[slot_index].lock().await;
        slot.paused = true;
        (slot.child.as_ref().and_then(Child::id), slot.id.clone())
    };
    let Some(pid) = pid else { return };
    let _ = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .await;
    let paused = Duration::from_secs(20);
    tokio::time::sleep(paused).await;
    let _ = Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .await;
    cluster.slots[slot_index].lock().await.paused = false;
    let line = format!(
        "{id} SIGSTOPped for {} s (lease 15 s), then SIGCONTed",
        paused.as_secs()
    );
    println!("resilience: {line}");
    if let Ok(mut log) = log.lock() {
        log.push(line);
    }
}

/// Lines containing `needle` in every replica log of the run.
/// For a failed run: which mailbox each lost message went to, that mailbox's state in the store,
/// and the replicas' warnings about it (log lines carry ids and fixed texts, never mail).
async fn explain_losses(store: &Store, linked: &[Linked], lost: &[(String, usize)], work: &Path) {
    let mut mailboxes: Vec<usize> = lost.iter().map(|(_, index)| *index).collect();
    mailboxes.sort_unstable();
    mailboxes.dedup();
    for (sender, index) in lost {
        println!(
            "resilience: lost {sender} (mailbox #{index}, id {})",
            linked[*index].mailbox
        );
    }
    for index in mailboxes {
        let id = linked[index].mailbox;
        match store.get_mailbox(id).await {
            Ok(m) => println!(
                "resilience: mailbox {id}: status {:?}, reason {:?}, reconnecting {:?}",
                m.status, m.status_reason, m.reconnecting
            ),
            Err(error) => println!("resilience: mailbox {id}: not readable: {error}"),
        }
        if let Ok(stats) = store.mailbox_stats(id).await {
            println!("resilience: mailbox {id}: counters {stats:?}");
        }
        let needle = format!("mailbox={id}");
        for line in log_lines(work)
            .into_iter()
            .filter(|l| l.contains(&needle) && !l.contains(" DEBUG ") && !l.contains(" TRACE "))
            .take(60)
        {
            println!("resilience:   {line}");
        }
    }
}

/// Every line of every replica log under `work`, prefixed with the log's directory name.
fn log_lines(work: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(work) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for entry in entries.flatten() {
        let log = entry.path().join("mailsigd.log");
        if let Ok(text) = std::fs::read_to_string(&log) {
            let name = entry.file_name().to_string_lossy().into_owned();
            lines.extend(text.lines().map(|l| format!("{name}: {l}")));
        }
    }
    lines
}

fn count_in_logs(work: &Path, needle: &str) -> usize {
    let Ok(dirs) = std::fs::read_dir(work) else {
        return 0;
    };
    dirs.filter_map(Result::ok)
        .filter_map(|dir| std::fs::read_to_string(dir.path().join("mailsigd.log")).ok())
        .map(|log| log.lines().filter(|line| line.contains(needle)).count())
        .sum()
}

#[derive(Clone, Debug)]
struct Failover {
    millis: u64,
    timed_out: bool,
}

struct ChaosReport {
    kills: usize,
}

/// How long a planned kill waits for a running replica when every one is down or paused.
const NO_VICTIM_WAIT: Duration = Duration::from_secs(15);

/// The slot a kill planned for `planned` hits: that one if its replica runs (and is not paused),
/// else the next running one in slot order; when none runs, polls until one does (at most
/// [`NO_VICTIM_WAIT`]). Returns the slot locked.
async fn running_slot(
    cluster: &Cluster,
    planned: usize,
) -> Option<(usize, tokio::sync::MutexGuard<'_, Slot>)> {
    let deadline = Instant::now() + NO_VICTIM_WAIT;
    let count = cluster.slots.len();
    loop {
        for offset in 0..count {
            let index = (planned + offset) % count;
            let slot = cluster.slots[index].lock().await;
            if slot.child.is_some() && !slot.paused {
                return Some((index, slot));
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills replicas at the planned moments, restarts them after their planned down time, and
/// measures each failover from the lease rows: from the kill until every mailbox the killed
/// replica held is leased by another live replica.
async fn chaos(
    cluster: Arc<Cluster>,
    store: Store,
    kills: Vec<(Duration, usize, Duration)>,
    t0: Instant,
    failovers: Arc<std::sync::Mutex<Vec<Failover>>>,
) -> Result<ChaosReport> {
    let mut measuring = tokio::task::JoinSet::new();
    let mut restarts = tokio::task::JoinSet::new();
    let mut done = 0;
    for (at, planned_slot, down_for) in kills {
        tokio::time::sleep_until((t0 + at).into()).await;
        // Every planned kill happens: when the planned replica is still down from an earlier
        // kill (or paused), the next running one is the victim; when none runs, wait for one.
        let Some((slot_index, mut slot)) = running_slot(&cluster, planned_slot).await else {
            println!(
                "resilience: t={:>5.1}s no replica came back within {NO_VICTIM_WAIT:?}; kill skipped",
                t0.elapsed().as_secs_f64()
            );
            continue;
        };
        let victim = slot.id.clone();
        let held: HashSet<MailboxId> = match store.lease_rows().await {
            Ok(rows) => rows
                .into_iter()
                .filter(|r| r.owner.as_deref() == Some(victim.as_str()))
                .map(|r| r.mailbox)
                .collect(),
            Err(_) => HashSet::new(),
        };
        cluster.kill(&mut slot).await;
        let killed_at = Instant::now();
        done += 1;
        println!(
            "resilience: t={:>5.1}s SIGKILL {victim} (held {} mailboxes), back in {:.1} s",
            t0.elapsed().as_secs_f64(),
            held.len(),
            down_for.as_secs_f64()
        );
        drop(slot);
        if !held.is_empty() {
            let (store, failovers, victim) =
                (store.clone(), Arc::clone(&failovers), victim.clone());
            measuring.spawn(async move {
                let failover = measure_failover(&store, &victim, &held, killed_at).await;
                if let Ok(mut all) = failovers.lock() {
                    all.push(failover);
                }
            });
        }
        let cluster = Arc::clone(&cluster);
        restarts.spawn(async move {
            tokio::time::sleep(down_for).await;
            let mut slot = cluster.slots[slot_index].lock().await;
            if slot.child.is_none() {
                cluster.start(&mut slot)
            } else {
                Ok(())
            }
        });
    }
    while let Some(result) = restarts.join_next().await {
        result.context("restart task")??;
    }
    while measuring.join_next().await.is_some() {}
    Ok(ChaosReport { kills: done })
}

async fn measure_failover(
    store: &Store,
    victim: &str,
    held: &HashSet<MailboxId>,
    killed_at: Instant,
) -> Failover {
    loop {
        if let Ok(rows) = store.lease_rows().await {
            let now = store.now_ms();
            let taken = rows
                .iter()
                .filter(|r| held.contains(&r.mailbox))
                .all(|r| r.owner.as_deref().is_some_and(|o| o != victim) && r.until > now);
            if taken {
                return Failover {
                    millis: u64::try_from(killed_at.elapsed().as_millis()).unwrap_or(u64::MAX),
                    timed_out: false,
                };
            }
        }
        if killed_at.elapsed() > FAILOVER_TIMEOUT {
            return Failover {
                millis: u64::try_from(killed_at.elapsed().as_millis()).unwrap_or(u64::MAX),
                timed_out: true,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The infrastructure faults, at fixed fractions of the run: an SMTP outage from 15 % to 30 %,
/// a Dovecot crash and restart at 40 %, a PostgreSQL restart at 65 %.
async fn fault_schedule(
    dovecot: &PrivateDovecot,
    pg: &PrivatePg,
    relay: &Relay,
    t0: Instant,
    run_for: Duration,
) -> Result<Vec<String>> {
    let mut log = Vec::new();
    tokio::time::sleep_until((t0 + run_for.mul_f64(0.15)).into()).await;
    relay.set_down(true);
    log.push(format!(
        "t={:.1}s smtp outage begins",
        t0.elapsed().as_secs_f64()
    ));
    println!("resilience: {}", log[log.len() - 1]);
    tokio::time::sleep_until((t0 + run_for.mul_f64(0.30)).into()).await;
    relay.set_down(false);
    log.push(format!(
        "t={:.1}s smtp outage ends",
        t0.elapsed().as_secs_f64()
    ));
    println!("resilience: {}", log[log.len() - 1]);

    tokio::time::sleep_until((t0 + run_for.mul_f64(0.40)).into()).await;
    let began = Instant::now();
    dovecot.kill().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    dovecot.restart().await?;
    log.push(format!(
        "t={:.1}s dovecot killed and restarted ({:.1} s down)",
        t0.elapsed().as_secs_f64(),
        began.elapsed().as_secs_f64()
    ));
    println!("resilience: {}", log[log.len() - 1]);

    tokio::time::sleep_until((t0 + run_for.mul_f64(0.65)).into()).await;
    let began = Instant::now();
    pg.restart().await?;
    log.push(format!(
        "t={:.1}s postgresql restarted ({:.1} s down)",
        t0.elapsed().as_secs_f64(),
        began.elapsed().as_secs_f64()
    ));
    println!("resilience: {}", log[log.len() - 1]);
    Ok(log)
}

struct Counted {
    found_distinct: usize,
    lost: usize,
    /// Of `lost`: messages of the mailboxes from `first_graph` on (the Graph ones).
    lost_graph: usize,
    duplicated: usize,
    unexpected: usize,
    duplicates_absorbed: i64,
    /// The lost messages' senders with the index (in `linked`) of the mailbox they were sent to.
    lost_messages: Vec<(String, usize)>,
}

/// Compares the suggestions of every list with the messages sent.
async fn count_suggestions(
    store: &Store,
    linked: &[Linked],
    expected: &HashMap<String, usize>,
) -> Result<Counted> {
    let first_graph = linked
        .iter()
        .position(|l| matches!(l.source, Source::Graph(_)))
        .unwrap_or(linked.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut wrong_list = 0;
    let mut absorbed = 0;
    for (index, l) in linked.iter().enumerate() {
        let suggestions = match store
            .list_suggestions(l.list, &SuggestionFilter::default())
            .await
        {
            Ok(s) => s,
            Err(error) => bail!("list suggestions: {error}"),
        };
        for s in suggestions {
            if expected
                .get(&s.sender_email)
                .is_some_and(|target| *target != index)
            {
                wrong_list += 1;
            }
            *seen.entry(s.sender_email).or_default() += 1;
        }
        if let Ok(stats) = store.mailbox_stats(l.mailbox).await {
            absorbed += stats.get("skipped:duplicate");
        }
    }
    let mut lost_messages: Vec<(String, usize)> = expected
        .iter()
        .filter(|(k, _)| !seen.contains_key(*k))
        .map(|(k, target)| (k.clone(), *target))
        .collect();
    lost_messages.sort();
    let lost = lost_messages.len();
    let lost_graph = expected
        .iter()
        .filter(|(k, target)| **target >= first_graph && !seen.contains_key(*k))
        .count();
    let duplicated = seen.values().map(|n| n.saturating_sub(1)).sum::<usize>();
    let unexpected = seen.keys().filter(|k| !expected.contains_key(*k)).count() + wrong_list;
    let found_distinct = seen.keys().filter(|k| expected.contains_key(*k)).count();
    Ok(Counted {
        found_distinct,
        lost,
        lost_graph,
        duplicated,
        unexpected,
        duplicates_absorbed: absorbed,
        lost_messages,
    })
}

struct OutboxOutcome {
    sent: i64,
    /// Still claimed by a replica that was SIGKILLed mid-send: another replica takes such a
    /// row over once the dead one's heartbeat expired (seconds), so this must end at 0.
    held_by_killed: i64,
    /// Pending, failed, or claimed by a live worker at the deadline.
    not_sent: i64,
}

/// Waits until every outbox row is sent (a killed replica's claims included).
async fn wait_outbox(store: &Store, killed: &[u32], timeout: Duration) -> Result<OutboxOutcome> {
    use sqlx::Row;
    let deadline = Instant::now() + timeout;
    loop {
        let rows = sqlx::query("SELECT status, claimed_by FROM outbox")
            .fetch_all(store.pool())
            .await?;
        let mut outcome = OutboxOutcome {
            sent: 0,
            held_by_killed: 0,
            not_sent: 0,
        };
        for row in &rows {
            let status: String = row.try_get("status")?;
            let claimed_by: Option<String> = row.try_get("claimed_by")?;
            let by_killed = claimed_by
                .as_deref()
                .and_then(|worker| worker.rsplit('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| killed.contains(&pid));
            match status.as_str() {
                "sent" => outcome.sent += 1,
                "sending" if by_killed => outcome.held_by_killed += 1,
                _ => outcome.not_sent += 1,
            }
        }
        if (outcome.not_sent == 0 && outcome.held_by_killed == 0) || Instant::now() > deadline {
            return Ok(outcome);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A TCP relay in front of the shared Postfix's implicit-TLS port; "down" refuses new
/// connections and cuts open ones, like an SMTP server that went away.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: u16) -> Result<Relay> {
        let port = free_port()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let (d, g) = (Arc::clone(&down), Arc::clone(&generation));
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if d.load(Ordering::Relaxed) {
                    drop(inbound);
                    continue;
                }
                let (d, g) = (Arc::clone(&d), Arc::clone(&g));
                let born = g.load(Ordering::Relaxed);
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while !d.load(Ordering::Relaxed) && g.load(Ordering::Relaxed) == born {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        () = cut => {}
                    }
                });
            }
        });
        Ok(Relay {
            port,
            down,
            generation,
            task,
        })
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Debug)]
struct Summary {
    seed: u64,
    messages: usize,
    mailboxes: usize,
    graph_messages: usize,
    graph_mailboxes: usize,
    graph: Option<graph::GraphReport>,
    /// Notification posts that got no 2xx (retried by the emulator as Graph does).
    graph_notifications_retried: usize,
    replicas: usize,
    kills: usize,
    lost: usize,
    lost_graph: usize,
    duplicated: usize,
    unexpected: usize,
    append_retries: u64,
    redeliveries_absorbed: i64,
    failover_ms: Vec<u64>,
    failovers_timed_out: usize,
    drain_ms: u64,
    faults: Vec<String>,
    stale_commits_refused: usize,
    leases_lost: usize,
    /// Graph mailbox tasks of the paused replica stopped because the store refused a write.
    stale_graph_tasks_fenced: usize,
    outbox_sent: i64,
    outbox_held_by_killed: i64,
    outbox_not_sent: i64,
    total_s: f64,
}

impl Summary {
    fn percentile(&self, p: f64) -> Option<u64> {
        let mut sorted = self.failover_ms.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return None;
        }
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(sorted[rank - 1])
    }

    fn passed(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.unexpected == 0
            && self.failovers_timed_out == 0
            && self.outbox_not_sent == 0
            && self.outbox_held_by_killed == 0
            && self.failover_ms.iter().all(|ms| *ms <= 30_000)
            && self.graph.as_ref().is_none_or(|g| {
                g.max_concurrency <= graph::MAX_REQUESTS_PER_MAILBOX && g.over_concurrency == 0
            })
    }

    fn print(&self) {
        let ms = |v: Option<u64>| {
            v.map_or_else(|| "-".to_owned(), |v| format!("{:.1} s", v as f64 / 1000.0))
        };
        println!("resilience summary (seed {}):", self.seed);
        println!(
            "  messages {} across {} mailboxes, {} replicas, {} SIGKILLs",
            self.messages, self.mailboxes, self.replicas, self.kills
        );
        if self.graph_mailboxes > 0 {
            println!(
                "  + {} Graph messages across {} Microsoft 365 mailboxes",
                self.graph_messages, self.graph_mailboxes
            );
        }
        println!(
            "  lost {}  duplicated {}  unexpected {}",
            self.lost, self.duplicated, self.unexpected
        );
        if self.lost > 0 {
            println!(
                "  of the lost: {} IMAP, {} Graph",
                self.lost - self.lost_graph,
                self.lost_graph
            );
        }
        if let Some(g) = &self.graph {
            println!(
                "  graph: {} calls, {} answered 429 and {} answered 503 in the storm, at most {} calls of one mailbox at once \
                 (limit {}), {} notification posts without a 2xx (retried)",
                g.requests,
                g.throttled,
                g.unavailable,
                g.max_concurrency,
                graph::MAX_REQUESTS_PER_MAILBOX,
                self.graph_notifications_retried
            );
        }
        println!(
            "  failover (kill -> all its mailboxes leased again): n={} p50 {} max {} timed out {}",
            self.failover_ms.len(),
            ms(self.percentile(0.5)),
            ms(self.failover_ms.iter().max().copied()),
            self.failovers_timed_out
        );
        println!(
            "  re-deliveries absorbed by the processed-message guard: {}",
            self.redeliveries_absorbed
        );
        println!(
            "  leases found lost by their (paused) holder: {}, its commits refused for a stale fencing token: {}",
            self.leases_lost, self.stale_commits_refused
        );
        println!(
            "  graph mailbox tasks stopped by a refused (stale) write: {}",
            self.stale_graph_tasks_fenced
        );
        println!(
            "  APPEND retries (during the Dovecot restart): {}",
            self.append_retries
        );
        println!(
            "  last message -> all suggestions: {:.1} s",
            self.drain_ms as f64 / 1000.0
        );
        for fault in &self.faults {
            println!("  fault: {fault}");
        }
        println!(
            "  outbox: {} sent, {} still claimed by a killed replica at the end, {} not sent",
            self.outbox_sent, self.outbox_held_by_killed, self.outbox_not_sent
        );
        println!(
            "  total run time {:.0} s -> {}",
            self.total_s,
            if self.passed() { "PASS" } else { "FAIL" }
        );
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seed": self.seed, "messages": self.messages, "mailboxes": self.mailboxes,
            "replicas": self.replicas, "kills": self.kills, "lost": self.lost, "lost_graph": self.lost_graph,
            "graph_messages": self.graph_messages, "graph_mailboxes": self.graph_mailboxes,
            "graph_requests": self.graph.as_ref().map(|g| g.requests),
            "graph_throttled": self.graph.as_ref().map(|g| g.throttled),
            "graph_unavailable": self.graph.as_ref().map(|g| g.unavailable),
            "graph_max_concurrency": self.graph.as_ref().map(|g| g.max_concurrency),
            "graph_notifications_retried": self.graph_notifications_retried,
            "duplicated": self.duplicated, "unexpected": self.unexpected,
            "failover_ms": self.failover_ms, "failover_p50_ms": self.percentile(0.5),
            "failover_max_ms": self.failover_ms.iter().max(), "failovers_timed_out": self.failovers_timed_out,
            "redeliveries_absorbed": self.redeliveries_absorbed,
            "leases_lost": self.leases_lost, "stale_commits_refused": self.stale_commits_refused,
            "stale_graph_tasks_fenced": self.stale_graph_tasks_fenced, "append_retries": self.append_retries,
            "drain_ms": self.drain_ms, "faults": self.faults, "outbox_sent": self.outbox_sent, "outbox_held_by_killed": self.outbox_held_by_killed,
            "outbox_not_sent": self.outbox_not_sent, "total_s": self.total_s, "passed": self.passed(),
        })
    }
}
