//! Shared setup of the operations tests (reload, metrics, logs): the real `mailsigd` binary,
//! spawned as a child process with a configuration of the test's own in a temp dir, its stderr
//! (the logs) collected line by line, its systemd notifications received on a datagram socket
//! standing in for `$NOTIFY_SOCKET`, and its `/metrics` scraped over HTTP.
//!
//! The binary is `target/debug/mailsigd`, checked to be newer than the sources (see
//! [`mailsigd_bin`]).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `mailsigd` binary next to this test's executable (`<target>/debug/mailsigd`), checked
/// to be newer than the daemon's and the parser's sources: a stale binary would test old code.
/// `scripts/test.sh` builds it (it builds the whole workspace); with `-p mailsig-tests` run
/// `cargo build -p mailsig-daemon --bin mailsigd` first. `MAILSIG_BIN` points at another build.
///
/// The tests do not run cargo themselves: a nested cargo sees the test's environment and
/// rebuilds dependencies whose build scripts watch it, which costs minutes each time.
pub fn mailsigd_bin() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_bin().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn find_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("MAILSIG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .context("target dir")?
        .join("mailsigd");
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .with_context(|| {
            format!(
                "no {}: run `cargo build -p mailsig-daemon --bin mailsigd` (scripts/test.sh does)",
                bin.display()
            )
        })?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace dir")?;
    for dir in ["daemon/src", "daemon/migrations", "parser/src"] {
        if let Some(newer) = newest_file(&workspace.join(dir))?.filter(|(time, _)| *time > built) {
            bail!(
                "{} is older than {}: run `cargo build -p mailsig-daemon --bin mailsigd` (scripts/test.sh does)",
                bin.display(),
                newer.1.display()
            );
        }
    }
    Ok(bin)
}

/// The most recently modified file under `dir`.
fn newest_file(dir: &Path) -> Result<Option<(std::time::SystemTime, PathBuf)>> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let candidate = if entry.file_type()?.is_dir() {
            newest_file(&path)?
        } else {
            Some((entry.metadata()?.modified()?, path))
        };
        if let Some(candidate) = candidate
            && newest.as_ref().is_none_or(|n| candidate.0 > n.0)
        {
            newest = Some(candidate);
        }
    }
    Ok(newest)
}

/// The settings the tests vary; everything else is fixed for a quiet, local daemon.
#[derive(Clone, Debug)]
pub struct OpsConfig {
    pub listen: SocketAddr,
    pub log_format: &'static str,
    pub log_level: String,
    /// `database_url` (PostgreSQL); `None` keeps SQLite in the data dir.
    pub database_url: Option<String>,
    pub excluded_domains: Vec<String>,
    pub retention_days: u32,
    /// Extra keys of the `[imap]` section (e.g. `fetch_timeout = "5s"`), one per line.
    pub imap_extra: String,
    /// Extra TOML appended at the end (e.g. a broken line).
    pub extra: String,
}

impl OpsConfig {
    pub fn new() -> Result<OpsConfig> {
        let port = mailsig_tests::servers::free_port()?;
        Ok(OpsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            log_format: "json",
            log_level: "info".to_owned(),
            database_url: None,
            excluded_domains: Vec::new(),
            retention_days: 30,
            imap_extra: String::new(),
            extra: String::new(),
        })
    }

    pub fn to_toml(&self, data_dir: &Path) -> String {
        let excluded: Vec<String> = self
            .excluded_domains
            .iter()
            .map(|d| format!("{d:?}"))
            .collect();
        let database = self
            .database_url
            .as_ref()
            .map(|url| format!("database_url = {url:?}\n"))
            .unwrap_or_default();
        format!(
            "data_dir = {data_dir:?}\n{database}\n[http]\nlisten = \"{listen}\"\n\n[pipeline]\nworkers = 2\n\n\
             [filters]\nexcluded_domains = [{excluded}]\n\n[imap]\nallow_plaintext_loopback = true\n{imap_extra}\n\n\
             [retention]\ndays = {days}\n\n[log]\nformat = \"{format}\"\nlevel = \"{level}\"\n{extra}\n",
            data_dir = data_dir.display().to_string(),
            listen = self.listen,
            excluded = excluded.join(", "),
            days = self.retention_days,
            imap_extra = self.imap_extra,
            format = self.log_format,
            level = self.log_level,
            extra = self.extra,
        )
    }
}

/// A `mailsigd` child process and its world.
pub struct Daemon {
    pub dir: TempDir,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub config: OpsConfig,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
    /// When set, stderr goes to this file instead of a pipe (see [`Daemon::start_logging_to`]).
    log_file: Option<PathBuf>,
    notify: UnixDatagram,
    notify_path: PathBuf,
}

impl Daemon {
    /// `mailsigd init` in a fresh temp dir (data dir, master key, database), then the test's
    /// configuration over the generated one. Not started yet.
    pub fn init(config: OpsConfig) -> Result<Daemon> {
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join("mailsig.toml");
        let data_dir = dir.path().join("data");
        let out = Command::new(mailsigd_bin()?)
            .arg("--config")
            .arg(&config_path)
            .arg("init")
            .arg("--data-dir")
            .arg(&data_dir)
            .env_remove("RUST_LOG")
            .output()
            .context("run mailsigd init")?;
        ensure!(
            out.status.success(),
            "mailsigd init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).context("bind the notify socket")?;
        notify.set_read_timeout(Some(Duration::from_millis(200)))?;
        let daemon = Daemon {
            dir,
            config_path,
            data_dir,
            config,
            child: None,
            logs: Arc::default(),
            log_file: None,
            notify,
            notify_path,
        };
        daemon.write_config()?;
        Ok(daemon)
    }

    /// Writes `self.config` to the configuration file (atomically, as an editor would).
    pub fn write_config(&self) -> Result<()> {
        self.write_config_text(&self.config.to_toml(&self.data_dir))
    }

    pub fn write_config_text(&self, text: &str) -> Result<()> {
        let tmp = self.config_path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.config_path)?;
        Ok(())
    }

    /// Runs an administration command against this daemon's configuration.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut child = Command::new(mailsigd_bin()?)
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("run mailsigd {args:?}"))?;
        if let Some(mut input) = child.stdin.take()
            && let Some(text) = stdin
        {
            input.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        ensure!(
            out.status.success(),
            "mailsigd {args:?} exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `mailsigd run` with `extra_env`, and waits until `/healthz` answers.
    pub async fn start(&mut self, extra_env: &[(&str, &str)]) -> Result<()> {
        self.spawn(extra_env, None).await
    }

    /// [`start`](Self::start) with stderr written to `path` (a file, as journald's stream would
    /// be one). `{journal}` in an `extra_env` value is replaced by the file's `device:inode`.
    pub async fn start_logging_to(
        &mut self,
        path: &Path,
        extra_env: &[(&str, &str)],
    ) -> Result<()> {
        self.spawn(extra_env, Some(path)).await
    }

    async fn spawn(&mut self, extra_env: &[(&str, &str)], log_file: Option<&Path>) -> Result<()> {
        let mut command = Command::new(mailsigd_bin()?);
        command
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .env("NOTIFY_SOCKET", &self.notify_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut journal = String::new();
        match log_file {
            Some(path) => {
                use std::os::unix::fs::MetadataExt as _;
                let file = std::fs::File::create(path)?;
                let meta = file.metadata()?;
                journal = format!("{}:{}", meta.dev(), meta.ino());
                command.stderr(Stdio::from(file));
                self.log_file = Some(path.to_path_buf());
            }
            None => {
                command.stderr(Stdio::piped());
            }
        }
        for (key, value) in extra_env {
            command.env(key, value.replace("{journal}", &journal));
        }
        let mut child = command.spawn().context("spawn mailsigd run")?;
        if log_file.is_none() {
            let stderr = child.stderr.take().context("stderr pipe")?;
            let logs = Arc::clone(&self.logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut logs) = logs.lock() {
                        logs.push(line);
                    }
                }
            });
        }
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(reply) = http_get(self.config.listen, "/healthz").await
                && reply.0 == 200
            {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "mailsigd exited with {status} before serving; logs:\n{}",
                    self.logs_text()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "mailsigd not healthy within 30 s; logs:\n{}",
                self.logs_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("daemon not started")
    }

    /// The process's peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmHWM in /proc/<pid>/status")
    }

    /// Sends a signal by name (`HUP`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid()?.to_string())
            .status()?;
        ensure!(status.success(), "kill -{name} failed");
        Ok(())
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        if let Some(path) = &self.log_file {
            return std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect();
        }
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn logs_text(&self) -> String {
        self.logs().join("\n")
    }

    /// Waits until a log line satisfies `matches`, and returns it.
    pub async fn wait_for_log(
        &self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.logs().into_iter().find(|l| matches(l)) {
                return Ok(line);
            }
            ensure!(
                Instant::now() < deadline,
                "no log line {what} within {timeout:?}; logs:\n{}",
                self.logs_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The notifications received so far (each datagram as one string), draining the socket.
    pub fn notifications(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buffer) {
            out.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
        out
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> Result<String> {
        let (status, body) = http_get(self.config.listen, "/metrics").await?;
        ensure!(status == 200, "/metrics answered {status}");
        Ok(body)
    }

    /// Waits until the metric sample `series` (name with labels) reaches `at_least`.
    pub async fn wait_for_metric(
        &self,
        series: &str,
        at_least: f64,
        timeout: Duration,
    ) -> Result<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let body = self.metrics().await?;
            if let Some(value) = sample(&body, series)
                && value >= at_least
            {
                return Ok(value);
            }
            ensure!(
                Instant::now() < deadline,
                "{series} did not reach {at_least} within {timeout:?}:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM, then waits for the exit (at most 30 s) and returns its code.
    pub fn stop(&mut self) -> Result<Option<i32>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("mailsigd did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of one sample (`name{labels}` exactly as exposed) in a metrics body.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    let prefix = format!("{series} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// `GET path` over plain HTTP/1.1: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("reply within 10 s")??;
    let text = String::from_utf8(raw).context("utf-8 reply")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("header/body separator")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("status of {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// A user, a list and an IMAP mailbox (a fresh Dovecot user over implicit TLS, trusting the
/// test CA) linked through the CLI, as an operator would. Returns the mail user.
pub fn link_imap_mailbox(daemon: &Daemon) -> Result<mailsig_tests::servers::MailUser> {
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    let owner = format!("owner-{}@mycorp.example", user.name);
    daemon.cli(&["user", "add", &owner, "--name", "Owner"], None)?;
    let list = daemon.cli(&["list", "add", "--owner", &owner, "Contacts"], None)?;
    let list = list
        .split_whitespace()
        .next()
        .context("list id")?
        .to_owned();
    let port = std::env::var("MAILSIG_TEST_IMAPS_PORT")
        .context("MAILSIG_TEST_IMAPS_PORT: run scripts/test.sh")?;
    let ca = env.ca_path().display().to_string();
    daemon.cli(
        &[
            "mailbox",
            "add-imap",
            "--owner",
            &owner,
            "--list",
            &list,
            "--host",
            "localhost",
            "--port",
            &port,
            "--security",
            "tls",
            "--ca-file",
            &ca,
            "--username",
            &user.name,
            "--address",
            &user.address,
            "--password-stdin",
        ],
        Some(&format!("{}\n", user.password)),
    )?;
    Ok(user)
}

/// Links a mailbox on a scripted server on loopback (`tests/src/hostile_imap.rs`), plaintext,
/// backfilling its one message, for a new owner; `folders` empty watches INBOX.
pub fn link_hostile_mailbox(
    daemon: &Daemon,
    port: u16,
    password: &str,
    folders: &[String],
) -> Result<String> {
    let owner = format!("owner-{:08x}@mycorp.example", rand::random::<u32>());
    daemon.cli(&["user", "add", &owner, "--name", "Owner"], None)?;
    let list = daemon.cli(&["list", "add", "--owner", &owner, "Contacts"], None)?;
    let list = list
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let port = port.to_string();
    let mut args = vec![
        "mailbox",
        "add-imap",
        "--owner",
        &owner,
        "--list",
        &list,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "plaintext",
        "--username",
        "victim",
        "--address",
        "victim@hostile.example",
        "--backfill",
        "1",
        "--password-stdin",
    ];
    for folder in folders {
        args.extend(["--folder", folder.as_str()]);
    }
    daemon.cli(&args, Some(&format!("{password}\n")))
}
