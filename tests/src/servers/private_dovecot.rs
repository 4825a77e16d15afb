//! A Dovecot instance of a test's own, for IMAP fault tests that must not disturb the shared server:
//! it can be started without IDLE, with a certificate from an untrusted CA, with extra settings,
//! killed with SIGKILL mid-session and restarted on the same ports and mail.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use super::env::TestEnv;
use super::imap::ImapEndpoint;
use super::ports::{free_port, port_is_closed, wait_for_port};
use super::tls::client_config_trusting;
use super::users::{MailUser, add_user};

/// How long a start or a kill may take before the helper gives up.
const START_STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Dovecot 2.3's post-login capabilities without `IDLE` (Dovecot has no switch to drop one item, so
/// the whole list is spelled out).
const CAPABILITIES_WITHOUT_IDLE: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY \
    THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT \
    CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES \
    WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE \
    SAVEDATE LITERAL+ NOTIFY";

/// What is different about a [`PrivateDovecot`]. The default is a server like the shared one.
#[derive(Clone, Debug, Default)]
pub struct PrivateDovecotOptions {
    /// Leave `IDLE` out of the advertised capabilities (clients must fall back to polling).
    pub without_idle: bool,
    /// Present a certificate signed by a CA that the test CA (`MAILSIG_TEST_CA`) is not: a client
    /// that trusts `MAILSIG_TEST_CA` must refuse the connection.
    pub untrusted_certificate: bool,
    /// Raw Dovecot settings appended to the generated config, e.g.
    /// `"imap_idle_notify_interval = 1 secs\n"`.
    pub extra_config: String,
}

/// A private Dovecot on two free ports of 127.0.0.1 (plain+STARTTLS and implicit TLS), with its own
/// users and Maildirs in a temp dir under `$MAILSIG_TEST_DIR/private`. Dropping it kills it.
pub struct PrivateDovecot {
    dir: TempDir,
    /// The plaintext (STARTTLS) port.
    pub imap_port: u16,
    /// The implicit-TLS port.
    pub imaps_port: u16,
    ca: PathBuf,
    options: PrivateDovecotOptions,
}

impl std::fmt::Debug for PrivateDovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateDovecot")
            .field("dir", &self.dir.path())
            .field("imap_port", &self.imap_port)
            .field("imaps_port", &self.imaps_port)
            .field("options", &self.options)
            .finish()
    }
}

impl PrivateDovecot {
    /// Starts an instance with `options` (certificates from the shared servers' state dir) and waits
    /// until both ports answer.
    pub async fn start(env: &TestEnv, options: PrivateDovecotOptions) -> Result<Self> {
        let parent = env.dir.join("private");
        std::fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("dovecot-")
            .tempdir_in(&parent)
            .with_context(|| format!("temp dir in {}", parent.display()))?;
        let tls_dir = if options.untrusted_certificate {
            env.dir.join("tls-untrusted")
        } else {
            env.dir.join("tls")
        };
        let me = Self {
            dir,
            imap_port: free_port()?,
            imaps_port: free_port()?,
            ca: tls_dir.join("ca.pem"),
            options,
        };
        me.write_config(&tls_dir)?;
        me.launch().await?;
        Ok(me)
    }

    /// The instance's directory (`dovecot.conf`, `dovecot.log`, `users.d/`, `mail/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA that signed this instance's certificate: the test CA, or the untrusted one when
    /// [`PrivateDovecotOptions::untrusted_certificate`] is set.
    pub fn ca_path(&self) -> &Path {
        &self.ca
    }

    /// An endpoint for the harness's IMAP helpers, trusting [`PrivateDovecot::ca_path`] (so the
    /// harness can seed mail even into an instance with an untrusted certificate).
    pub fn imap(&self) -> Result<ImapEndpoint> {
        Ok(ImapEndpoint::new(
            self.imap_port,
            self.imaps_port,
            client_config_trusting(&self.ca)?,
        ))
    }

    /// Adds a fresh user to this instance.
    pub fn create_mail_user(&self) -> Result<MailUser> {
        add_user(&self.dir.path().join("users.d"), "example.test")
    }

    /// True while the master process runs.
    pub fn is_running(&self) -> bool {
        self.master_pid().is_some_and(pid_alive)
    }

    /// SIGKILLs every process of the instance (master, login and imap processes: they share one
    /// process group) and waits until both ports are closed. Open client connections break the way
    /// they would on a crash. No-op when it is not running.
    pub async fn kill(&self) -> Result<()> {
        let Some(pid) = self.master_pid().filter(|p| pid_alive(*p)) else {
            return Ok(());
        };
        kill_group(pid, "KILL");
        self.wait_stopped(pid).await
    }

    /// Stops the instance gracefully (SIGTERM to the master), waiting until its ports are closed.
    pub async fn stop(&self) -> Result<()> {
        let Some(pid) = self.master_pid().filter(|p| pid_alive(*p)) else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        self.wait_stopped(pid).await
    }

    /// Starts the instance again on the same ports, with the same users and mail (after
    /// [`PrivateDovecot::kill`] or [`PrivateDovecot::stop`]).
    pub async fn restart(&self) -> Result<()> {
        if self.is_running() {
            bail!(
                "private dovecot in {} still runs; kill or stop it first",
                self.dir().display()
            );
        }
        // A SIGKILLed master may linger as a zombie (PID 1 here does not always reap), and Dovecot
        // takes a zombie's pid in master.pid for a running instance.
        let _ = std::fs::remove_file(self.dir.path().join("run").join("master.pid"));
        self.launch().await
    }

    fn master_pid(&self) -> Option<u32> {
        let raw = std::fs::read_to_string(self.dir.path().join("run").join("master.pid")).ok()?;
        raw.trim().parse().ok()
    }

    async fn wait_stopped(&self, pid: u32) -> Result<()> {
        let deadline = Instant::now() + START_STOP_TIMEOUT;
        while pid_alive(pid)
            || !port_is_closed(self.imap_port).await
            || !port_is_closed(self.imaps_port).await
        {
            if Instant::now() > deadline {
                bail!("private dovecot (pid {pid}) still runs after {START_STOP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn launch(&self) -> Result<()> {
        let conf = self.dir.path().join("dovecot.conf");
        // The daemonised master keeps its stdio: a pipe here would never reach EOF, so use a file.
        let stdio_log = self.dir.path().join("dovecot.stdio.log");
        let stderr = std::fs::File::create(&stdio_log).context("create dovecot.stdio.log")?;
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .status()
            .context("run dovecot (is it installed? run scripts/test.sh)")?;
        if !status.success() {
            bail!(
                "dovecot -c {} failed ({status}): {}\n{}",
                conf.display(),
                std::fs::read_to_string(&stdio_log).unwrap_or_default(),
                self.log_tail()
            );
        }
        for port in [self.imap_port, self.imaps_port] {
            wait_for_port(port, START_STOP_TIMEOUT)
                .await
                .with_context(|| format!("private dovecot did not listen\n{}", self.log_tail()))?;
        }
        Ok(())
    }

    /// The end of the instance's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn write_config(&self, tls_dir: &Path) -> Result<()> {
        let d = self.dir.path();
        for sub in ["run", "state", "mail", "users.d"] {
            std::fs::create_dir_all(d.join(sub))
                .with_context(|| format!("create {}/{sub}", d.display()))?;
        }
        // The temp dir is 0700; Dovecot's unprivileged processes must reach the users file and mail.
        run("chmod", &["755", &d.display().to_string()])?;
        run(
            "chown",
            &["nobody:nogroup", &d.join("mail").display().to_string()],
        )?;
        let mut conf = format!(
            "# Generated by mailsig_tests::servers::PrivateDovecot\n\
             base_dir = {d}/run\nstate_dir = {d}/state\nprotocols = imap\nlisten = 127.0.0.1\n\
             log_path = {d}/dovecot.log\nssl = yes\nssl_cert = <{tls}/fullchain.pem\nssl_key = <{tls}/server.key\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:{d}/mail/%u/Maildir\nmail_uid = nobody\nmail_gid = nogroup\nfirst_valid_uid = 1\n\
             default_login_user = dovenull\ndefault_internal_user = dovecot\n\
             mail_max_userip_connections = 10000\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users.d/%u\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/mail/%u allow_all_users=yes\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {plain}\n  }}\n  \
             inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n",
            d = d.display(),
            tls = tls_dir.display(),
            plain = self.imap_port,
            tls_port = self.imaps_port,
        );
        if self.options.without_idle {
            let _ = writeln!(conf, "imap_capability = {CAPABILITIES_WITHOUT_IDLE}");
        }
        conf.push_str(&self.options.extra_config);
        conf.push('\n');
        std::fs::write(d.join("dovecot.conf"), conf).context("write dovecot.conf")?;
        Ok(())
    }
}

impl Drop for PrivateDovecot {
    fn drop(&mut self) {
        if let Some(pid) = self.master_pid().filter(|p| pid_alive(*p)) {
            kill_group(pid, "KILL");
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Signals the whole process group of a Dovecot master (it is the group leader after daemonising).
/// `kill(1)` rather than a libc binding: the crate forbids unsafe code.
fn kill_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("run {program}"))?;
    if !status.success() {
        bail!("{program} {} failed: {status}", args.join(" "));
    }
    Ok(())
}
