//! The Microsoft 365 part of the resilience run: the Graph emulator (in this process) serving a
//! few Graph mailboxes linked to the replicas through the real OAuth flow, messages delivered
//! to them during the run, and a "429 storm": for a while every Graph call is answered
//! `429 Too Many Requests` with `Retry-After`, then `503` for a while more. Afterwards the
//! emulator's request log tells how many calls were turned away and how many calls of one
//! mailbox ran at once (Graph allows 4).
//!
//! Graph posts its change notifications to one public URL; here that is [`Front`], a TCP relay
//! that hands each connection to a live replica (any replica accepts webhooks), as a load
//! balancer in front of several replicas would. Graph retries notifications that got no 2xx;
//! the emulator is told to do the same, and the daemon's delta rounds catch anything else.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::sources::graph::{GraphConfig, start_linking, store_client_secret};
use mailsig_daemon::store::{LinkOrigin, MailboxFilter, MailboxKind, Store};
use mailsig_daemon::vault::Vault;
use mailsig_tests::graph_emulator::{DeliveryKind, Fault, GraphEmulator};
use mailsig_tests::graph_support::{CLIENT_ID, CLIENT_SECRET};
use mailsig_tests::servers::{TestEnv, free_port};
use tokio::process::Command;

use super::{Linked, Source};

/// How long every Graph call is answered 503, then throttled (429).
pub const THROTTLE_FOR: Duration = Duration::from_secs(20);
pub const UNAVAILABLE_FOR: Duration = Duration::from_secs(8);
/// `Retry-After` of the storm's answers.
const THROTTLE_RETRY_AFTER_SECS: u64 = 5;
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;
/// Graph's per-mailbox concurrency limit.
pub const MAX_REQUESTS_PER_MAILBOX: usize = 4;

/// The emulator and the public URL the replicas are reached at.
pub struct GraphRun {
    pub emulator: Arc<GraphEmulator>,
    /// Kept for its lifetime: dropping it stops the relay.
    _front: Front,
    config: GraphConfig,
}

impl GraphRun {
    /// Starts the emulator and the front relay before the replicas exist (their HTTP ports are
    /// fixed per slot), registers the app and stores its client secret in the run's vault.
    pub async fn start(replica_ports: Vec<u16>, store: &Store, vault: &Vault) -> Result<GraphRun> {
        let emulator = GraphEmulator::start()
            .await
            .context("start the graph emulator")?;
        let front = Front::start(replica_ports).await?;
        let public = format!("http://127.0.0.1:{}", front.port);
        emulator.register_app(
            CLIENT_ID,
            CLIENT_SECRET,
            &format!("{public}/oauth/microsoft/callback"),
        );
        // Graph retries a notification that got no 2xx (for hours); a few retries over about a
        // minute cover a replica's death behind the front and a PostgreSQL restart.
        emulator.set_notification_retries(6, Duration::from_secs(1));
        store_client_secret(store, vault, CLIENT_SECRET, 1)
            .await
            .context("store the app's client secret")?;
        let config = GraphConfig::new(
            CLIENT_ID,
            url::Url::parse(&emulator.authority_url())?,
            url::Url::parse(&emulator.graph_url())?,
            &public,
        );
        Ok(GraphRun {
            emulator: Arc::new(emulator),
            _front: front,
            config,
        })
    }

    /// The replicas' `[graph]` section.
    pub fn config_section(&self) -> String {
        format!(
            "[graph]\nclient_id = {id:?}\nauthority_url = {authority:?}\ngraph_url = {graph:?}\n\
             public_base_url = {public:?}\ndelta_interval = \"30s\"\n\n",
            id = CLIENT_ID,
            authority = self.config.authority_url.as_str(),
            graph = self.config.graph_url.as_str(),
            public = self.config.public_base_url,
        )
    }

    /// Links `count` Microsoft 365 mailboxes through the running replicas: the daemon's consent
    /// URL, the emulated user's consent, the daemon's callback (through the front).
    /// Started as the operator's CLI does (`mailsigd mailbox link-microsoft`): no browser session.
    pub async fn link(
        &self,
        store: &Store,
        vault: &Vault,
        env: &TestEnv,
        count: usize,
    ) -> Result<Vec<Linked>> {
        let tag = rand::random::<u32>();
        let http = reqwest::Client::new();
        let mut linked = Vec::with_capacity(count);
        for index in 0..count {
            let email = format!("g{index}-{tag:08x}@contoso.test");
            self.emulator.add_user(&email, "Mailbox Owner");
            let owner_mail = env.create_mail_user()?;
            let owner = store
                .create_user(&owner_mail.address, Some("Owner"))
                .await?;
            let list = store.create_list(owner.id, "Contacts").await?;
            let deadline = Instant::now() + Duration::from_secs(60);
            // A replica that is still starting answers nothing; link again until one answers.
            loop {
                let url = start_linking(
                    store,
                    vault,
                    &self.config,
                    owner.id,
                    list.id,
                    LinkOrigin::Cli,
                )
                .await?;
                let callback = self.emulator.consent(url.as_str(), &email).await?;
                match http.get(&callback).send().await {
                    Ok(answer) if answer.status().is_success() => break,
                    Ok(answer) => {
                        let status = answer.status();
                        let body = answer.text().await.unwrap_or_default();
                        ensure!(
                            Instant::now() < deadline,
                            "the callback answered {status}: {body}"
                        );
                    }
                    Err(error) => ensure!(
                        Instant::now() < deadline,
                        "the callback got no answer: {error}"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let filter = MailboxFilter {
                owner: Some(owner.id),
                kind: Some(MailboxKind::Graph),
            };
            let mailbox = store
                .list_mailboxes(&filter)
                .await?
                .into_iter()
                .next()
                .context("no graph mailbox after the callback")?;
            linked.push(Linked {
                mailbox: mailbox.id,
                list: list.id,
                source: Source::Graph(email),
            });
        }
        Ok(linked)
    }

    /// Whether the mailbox of `email` is watched: its subscription exists at Graph and the
    /// owner's first delta round stored the folder's delta link (mail before that is history).
    pub async fn watched(&self, store: &Store, linked: &Linked, email: &str) -> bool {
        let subscribed = self
            .emulator
            .subscriptions()
            .iter()
            .any(|s| s.user.eq_ignore_ascii_case(email));
        let cursor = store
            .get_cursor(linked.mailbox, "inbox")
            .await
            .ok()
            .flatten();
        subscribed && cursor.is_some_and(|c| c.delta_link.is_some())
    }

    /// Delivers message `n` (sender number `first + n`) to the mailbox `targets[n]`, spread
    /// evenly over `run_for`, eight at a time; each delivery returns once its notification was
    /// answered or retried to the end. Returns the notification posts that got no 2xx (each
    /// retried by the emulator, and in any case found by the owner's next delta round).
    pub async fn deliver_all(
        &self,
        emails: Vec<String>,
        targets: Vec<usize>,
        first: usize,
        run_for: Duration,
        message: fn(usize) -> Vec<u8>,
    ) -> Result<usize> {
        let t0 = Instant::now();
        let total = targets.len().max(1);
        let permits = Arc::new(tokio::sync::Semaphore::new(8));
        let emails = Arc::new(emails);
        let mut tasks = tokio::task::JoinSet::new();
        for (n, target) in targets.into_iter().enumerate() {
            tokio::time::sleep_until((t0 + run_for.mul_f64(n as f64 / total as f64)).into()).await;
            let permit = Arc::clone(&permits).acquire_owned().await?;
            let (emulator, emails) = (Arc::clone(&self.emulator), Arc::clone(&emails));
            tasks.spawn(async move {
                let _permit = permit;
                emulator
                    .deliver(&emails[target], message(first + n))
                    .await
                    .with_context(|| format!("deliver graph message {n}"))
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.context("graph delivery task")??;
        }
        Ok(self
            .emulator
            .deliveries()
            .iter()
            .filter(|d| {
                d.kind == DeliveryKind::Notification
                    && !d.status.is_some_and(|s| (200..300).contains(&s))
            })
            .count())
    }

    /// The storm: from `at`, every Graph call gets 503 + `Retry-After` for [`UNAVAILABLE_FOR`],
    /// then 429 + `Retry-After` for [`THROTTLE_FOR`].
    pub async fn storm(&self, at: Instant, t0: Instant) -> Vec<String> {
        let mut log = Vec::new();
        let mut note = |line: String| {
            println!("resilience: {line}");
            log.push(line);
        };
        tokio::time::sleep_until(at.into()).await;
        // A huge count stands for "until cleared". 503 first, so calls already under way when
        // the storm begins meet it too, then the 429s.
        self.emulator.clear_faults();
        self.emulator.inject(Fault::Unavailable {
            times: 1_000_000_000,
            retry_after_secs: Some(UNAVAILABLE_RETRY_AFTER_SECS),
        });
        note(format!(
            "t={:.1}s graph storm begins: 503 (Retry-After {UNAVAILABLE_RETRY_AFTER_SECS} s)",
            t0.elapsed().as_secs_f64()
        ));
        tokio::time::sleep(UNAVAILABLE_FOR).await;
        self.emulator.clear_faults();
        self.emulator.inject(Fault::Throttle {
            times: 1_000_000_000,
            retry_after_secs: THROTTLE_RETRY_AFTER_SECS,
        });
        note(format!(
            "t={:.1}s graph storm: every call 429 (Retry-After {THROTTLE_RETRY_AFTER_SECS} s)",
            t0.elapsed().as_secs_f64()
        ));
        tokio::time::sleep(THROTTLE_FOR).await;
        self.emulator.clear_faults();
        note(format!(
            "t={:.1}s graph storm ends",
            t0.elapsed().as_secs_f64()
        ));
        log
    }

    /// What the request log says about the run.
    pub fn report(&self, emails: &[String]) -> GraphReport {
        let requests = self.emulator.requests();
        GraphReport {
            requests: requests.len(),
            throttled: requests
                .iter()
                .filter(|r| r.fault == Some("throttle"))
                .count(),
            unavailable: requests
                .iter()
                .filter(|r| r.fault == Some("unavailable"))
                .count(),
            over_concurrency: requests
                .iter()
                .filter(|r| r.fault == Some("concurrency"))
                .count(),
            max_concurrency: emails
                .iter()
                .map(|e| self.emulator.max_concurrency(e))
                .max()
                .unwrap_or(0),
        }
    }
}

/// Counted from the emulator's log of Graph calls.
#[derive(Clone, Debug, Default)]
pub struct GraphReport {
    pub requests: usize,
    pub throttled: usize,
    pub unavailable: usize,
    pub over_concurrency: usize,
    /// The most calls of one mailbox in progress at the same time, over all replicas.
    pub max_concurrency: usize,
}

/// Refuses a `mailsigd` that cannot talk to the emulator: a normal build rejects a loopback
/// `graph_url` (graph-rs-sdk only reaches another host with its `test-util` feature, which the
/// daemon's `graph-test-util` feature turns on). `cargo build -p mailsig-daemon` alone builds
/// the binary without it; built together with `-p mailsig-tests` the features unify and it has it.
pub async fn check_binary_speaks_to_emulator(bin: &Path, config: &Path) -> Result<()> {
    let output = Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .env_remove("MAILSIG_CONFIG")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("run {} check-config", bin.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if format!("{stdout}{stderr}").contains("graph.graph_url") {
        bail!(
            "{} was built without the graph-test-util feature and refuses the Graph emulator's URL; \
             build it together with the tests crate: `cargo build -p mailsig-tests -p mailsig-daemon --bin mailsigd` \
             (or unset MAILSIGD_BIN)",
            bin.display()
        );
    }
    bail!("{} check-config failed: {stdout}{stderr}", bin.display())
}

/// The public address of the replicas: a TCP relay that gives each connection to the next
/// replica that accepts it (round robin), like a load balancer with health checks.
pub struct Front {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Front {
    async fn start(backends: Vec<u16>) -> Result<Front> {
        ensure!(!backends.is_empty(), "no replica ports");
        let port = free_port()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let next = Arc::new(AtomicUsize::new(0));
        let backends = Arc::new(backends);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (next, backends) = (Arc::clone(&next), Arc::clone(&backends));
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for i in 0..backends.len() {
                        let backend = backends[(first + i) % backends.len()];
                        if let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                        {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                    // Every replica down: the connection is dropped, Graph retries later.
                });
            }
        });
        Ok(Front { port, task })
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}
