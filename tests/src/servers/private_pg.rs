//! A PostgreSQL cluster of a test's own, for fault tests that restart or stop the database: the
//! shared cluster serves every other test and must never be restarted.
//!
//! `initdb` into a temp dir under `$MAILSIG_TEST_DIR/private`, started with `pg_ctl` on a free
//! port of 127.0.0.1, trust authentication, durability off (fsync) because the data is
//! throwaway. As root (this CI runs as root) the commands run as user `postgres`, since
//! PostgreSQL refuses to run as root. Dropping the value stops the cluster (immediate mode).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sqlx::Connection;
use tempfile::TempDir;

use super::env::TestEnv;
use super::ports::{free_port, wait_for_port};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running private cluster.
pub struct PrivatePg {
    dir: TempDir,
    bin: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl std::fmt::Debug for PrivatePg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivatePg")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish()
    }
}

impl PrivatePg {
    /// Creates and starts a cluster (about 2 s).
    pub async fn start(env: &TestEnv) -> Result<Self> {
        let parent = env.dir.join("private");
        std::fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("postgres-")
            .tempdir_in(&parent)
            .with_context(|| format!("temp dir in {}", parent.display()))?;
        let bin = std::env::var_os("MAILSIG_TEST_PG_BIN").map_or_else(
            || PathBuf::from("/usr/lib/postgresql/15/bin"),
            PathBuf::from,
        );
        let me = Self {
            dir,
            bin,
            port: free_port()?,
        };
        if running_as_root() {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(me.dir.path())
                .status();
            if !status.is_ok_and(|s| s.success()) {
                bail!("chown {} to postgres failed", me.dir.path().display());
            }
        }
        let data = me.data_dir();
        let initdb = me.bin.join("initdb");
        me.run_pg(
            &initdb,
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
                "-N".as_ref(),
            ],
            "initdb",
        )?;
        me.launch().await?;
        Ok(me)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates database `name` (letters, digits and `_` only) and returns its URL.
    pub async fn create_database(&self, name: &str) -> Result<String> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bail!("database name {name:?} must be letters, digits and _");
        }
        let mut conn = sqlx::PgConnection::connect(&self.admin_url())
            .await
            .context("connect to the private cluster")?;
        // The name was checked above, so it is safe to splice: CREATE DATABASE takes no parameters.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("create database {name}"))?;
        conn.close().await.ok();
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    /// Creates role `role` with `password` and a database of the same name it owns, and from
    /// then on the cluster checks passwords (SCRAM) on TCP for every role but `postgres`. Both
    /// names are letters, digits and `_`; the password is letters and digits. Returns the
    /// role's URL without a password.
    pub async fn require_password(&self, role: &str, password: &str) -> Result<String> {
        let plain = |s: &str, more: bool| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || (more && b == b'_'))
        };
        if !plain(role, true) || !plain(password, false) {
            bail!("role {role:?} or its password has characters other than letters and digits");
        }
        let mut conn = sqlx::PgConnection::connect(&self.admin_url())
            .await
            .context("connect to the private cluster")?;
        // Both values were checked above, so they are safe to splice (DDL takes no parameters).
        for statement in [
            format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
            format!("CREATE DATABASE {role} OWNER {role}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await
                .with_context(|| format!("create role and database {role}"))?;
        }
        let hba = self.data_dir().join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust
             host all postgres 127.0.0.1/32 trust
             host all all 127.0.0.1/32 scram-sha-256
",
        )
        .with_context(|| format!("write {}", hba.display()))?;
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&mut conn)
            .await
            .context("reload pg_hba.conf")?;
        conn.close().await.ok();
        Ok(format!("postgres://{role}@127.0.0.1:{}/{role}", self.port))
    }

    /// Stops the cluster (`fast`: sessions are disconnected, as in an operator's restart).
    pub fn stop(&self) -> Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data_dir();
        self.run_pg(
            &pg_ctl,
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
            "pg_ctl stop",
        )
    }

    /// Stops and starts the cluster again on the same port with the same data.
    pub async fn restart(&self) -> Result<()> {
        self.stop()?;
        self.launch().await
    }

    /// The cluster's data directory (every file PostgreSQL writes, WAL included).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    async fn launch(&self) -> Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let log = self.dir.path().join("postgres.log");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        self.run_pg(
            &pg_ctl,
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
            "pg_ctl start",
        )?;
        wait_for_port(self.port, START_TIMEOUT)
            .await
            .context("private postgres did not listen")
    }

    /// `pg_dump` of database `name` (plain SQL), as an operator's logical backup.
    pub fn dump(&self, name: &str) -> Result<Vec<u8>> {
        let tool = self.bin.join("pg_dump");
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&tool);
            c
        } else {
            Command::new(&tool)
        };
        let output = command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {}", tool.display()))?;
        if !output.status.success() {
            bail!(
                "pg_dump {name} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(output.stdout)
    }

    /// Runs a PostgreSQL tool, as user `postgres` when we are root.
    fn run_pg(&self, tool: &Path, args: &[&std::ffi::OsStr], what: &str) -> Result<()> {
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| {
                format!(
                    "run {} (is PostgreSQL installed? run scripts/test.sh)",
                    tool.display()
                )
            })?;
        if !output.status.success() {
            let log =
                std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "{what} failed ({}): {}{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let _ = self.run_pg(
            &pg_ctl,
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
            "pg_ctl stop",
        );
    }
}

/// True when the effective user is root (from /proc, no libc dependency needed).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .is_some_and(|effective| effective == "0")
    })
}
