//! The `mailsigd` binary end to end: every test gets its own temporary installation made by
//! `mailsigd init`, runs commands as a user would, and checks stdout, the one stderr line,
//! exit codes and the files left on disk. IMAP tests talk to the real Dovecot started by
//! `scripts/test.sh`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mailsig_daemon::store::Store;
use mailsig_daemon::vault::{Binding, MasterKey, SealedSecret, Vault};

const BIN: &str = env!("CARGO_BIN_EXE_mailsigd");

fn test_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test.sh"))
}

/// A temporary installation: `<dir>/mailsig.toml` and `<dir>/data`.
struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    fn new() -> Install {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let install = Install { dir };
        let out = install.run(&["init", "--data-dir", "data"]);
        assert_eq!(out.status.code(), Some(0), "init failed: {}", stderr(&out));
        install
    }

    /// A directory with nothing in it yet (for `init` itself).
    fn empty() -> Install {
        Install {
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}")),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("mailsig.toml")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("RUST_LOG")
            .env_remove("MAILSIG_CONFIG")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("spawn mailsigd: {e}"))
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn mailsigd: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait for mailsigd: {e}"))
    }

    /// Runs and insists on success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "mailsigd {args:?} failed: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    fn append_config(&self, text: &str) {
        let mut file = OpenOptions::new()
            .append(true)
            .open(self.config())
            .unwrap_or_else(|e| panic!("open config: {e}"));
        let _ = file.write_all(text.as_bytes());
    }

    fn replace_config(&self, from: &str, to: &str) {
        let text = fs::read_to_string(self.config()).unwrap_or_default();
        assert!(text.contains(from), "config has no {from:?}");
        let _ = fs::write(self.config(), text.replacen(from, to, 1));
    }

    async fn store(&self) -> Store {
        let url = Store::sqlite_url(&self.data().join("mailsig.db"));
        Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("open store: {e}"))
    }

    fn vault(&self) -> Vault {
        let (key, _) = MasterKey::load_from(None, &self.data().join("master.key"))
            .unwrap_or_else(|e| panic!("key: {e}"));
        Vault::new(key)
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure: the expected exit code and exactly one `error: ` line on stderr, nothing on stdout.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(
        lines[0].contains(needle),
        "{:?} does not mention {needle:?}",
        lines[0]
    );
    assert!(stdout(out).is_empty(), "stdout on failure: {}", stdout(out));
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        } else if let Ok(bytes) = fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(path);
        }
    }
    hits
}

#[test]
fn init_creates_private_files_and_never_overwrites() {
    let install = Install::empty();
    let out = install.run(&["init", "--data-dir", "data"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("master.key"));
    assert_eq!(mode(&install.config()), 0o600);
    assert_eq!(mode(&install.data()), 0o700);
    assert_eq!(mode(&install.data().join("master.key")), 0o600);
    assert_eq!(mode(&install.data().join("mailsig.db")), 0o600);
    let key_before = fs::read(install.data().join("master.key")).unwrap_or_default();

    assert_fails(
        &install.run(&["init", "--data-dir", "data"]),
        73,
        "already exists",
    );
    // With the config gone, the existing key still blocks a second init.
    let _ = fs::remove_file(install.config());
    assert_fails(
        &install.run(&["init", "--data-dir", "data"]),
        73,
        "master.key",
    );
    assert_eq!(
        fs::read(install.data().join("master.key")).unwrap_or_default(),
        key_before
    );
}

#[test]
fn check_config_prints_one_summary_line() {
    let install = Install::new();
    let out = install.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("ok: config "), "{text}");
    assert!(
        text.contains("sqlite") && text.contains("key file"),
        "{text}"
    );
    assert!(text.contains("0 stored secrets open"), "{text}");

    // A key that does not open the stored secrets (a database restored with the wrong key).
    let out = install.run_with_stdin(&["smtp", "set-password", "--password-stdin"], "pw\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        install
            .ok(&["check-config"])
            .contains("1 stored secrets open")
    );
    let key = install.data().join("master.key");
    let _ = fs::remove_file(&key);
    assert!(MasterKey::from_bytes([7; 32]).write_new_file(&key).is_ok());
    assert_fails(&install.run(&["check-config"]), 65, "1 of 1 do not open");
}

#[test]
fn configuration_errors_have_distinct_exit_codes() {
    let install = Install::new();
    // Missing config file: 66.
    let missing = Command::new(BIN)
        .args(["--config", "/nonexistent/mailsig.toml", "check-config"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_fails(&missing, 66, "does not exist");
    // Usage: 64.
    assert_fails(&install.run(&["no-such-command"]), 64, "invalid arguments");
    assert_fails(&install.run(&["user", "add"]), 64, "invalid arguments");

    // Invalid values: 78, naming the key.
    install.append_config("\n[extra]\nkey = 1\n");
    assert_fails(&install.run(&["check-config"]), 78, "extra");
    let _ = fs::write(install.config(), "this is [ not toml");
    assert_fails(&install.run(&["check-config"]), 78, "parse config file");

    let install = Install::new();
    install.replace_config("workers = 2", "workers = 0");
    assert_fails(&install.run(&["check-config"]), 78, "pipeline.workers");
}

#[test]
fn environment_overrides_apply_and_are_checked() {
    let install = Install::new();
    let out = install
        .command(&["check-config"])
        .env("MAILSIG_PIPELINE_WORKERS", "5")
        .output();
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert!(stdout(&out).contains("5 workers"), "{}", stdout(&out));
    let out = install
        .command(&["check-config"])
        .env("MAILSIG_IMAP_IDLE_RENEW", "2h")
        .output();
    assert_fails(
        &out.unwrap_or_else(|e| panic!("{e}")),
        78,
        "imap.idle_renew",
    );
    let out = install
        .command(&["check-config"])
        .env("MAILSIG_SMTP_HOSTNAME", "x")
        .output();
    assert_fails(
        &out.unwrap_or_else(|e| panic!("{e}")),
        78,
        "MAILSIG_SMTP_HOSTNAME",
    );
}

#[test]
fn master_key_problems_are_refused_clearly() {
    let install = Install::new();
    let key = install.data().join("master.key");
    let _ = fs::set_permissions(&key, fs::Permissions::from_mode(0o644));
    assert_fails(&install.run(&["check-config"]), 77, "0600");
    let _ = fs::set_permissions(&key, fs::Permissions::from_mode(0o600));
    let _ = fs::write(&key, "garbage\n");
    assert_fails(&install.run(&["check-config"]), 65, "64 hex digits");
    let _ = fs::remove_file(&key);
    assert_fails(&install.run(&["check-config"]), 66, "mailsigd init");

    // The systemd credential replaces the missing key file.
    let credentials = install.dir.path().join("credentials");
    let _ = fs::create_dir(&credentials);
    let created = MasterKey::from_bytes([3; 32]).write_new_file(&credentials.join("master-key"));
    assert!(created.is_ok());
    let out = install
        .command(&["check-config"])
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .output();
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("systemd credential"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn users_and_lists_round_trip() {
    let install = Install::new();
    assert!(
        install
            .ok(&["user", "add", "Alice@Example.com", "--name", "Alice"])
            .contains("alice@example.com")
    );
    install.ok(&["user", "add", "bob@example.com"]);
    assert_fails(
        &install.run(&["user", "add", "alice@example.com"]),
        65,
        "already exists",
    );
    assert_fails(
        &install.run(&["user", "add", "not-an-address"]),
        65,
        "email",
    );
    let users = install.ok(&["user", "list"]);
    assert_eq!(users.lines().count(), 2, "{users}");
    assert!(users.contains("alice@example.com\tAlice"), "{users}");

    let list = install.ok(&["list", "add", "--owner", "alice@example.com", "Customers"]);
    let list_id = list
        .split('\t')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(list.contains("Customers"));
    install.ok(&[
        "list",
        "share",
        &list_id,
        "bob@example.com",
        "--role",
        "editor",
    ]);
    assert!(
        install
            .ok(&["list", "list", "bob@example.com"])
            .contains("editor\tCustomers")
    );
    install.ok(&["list", "unshare", &list_id, "bob@example.com"]);
    assert!(install.ok(&["list", "list", "bob@example.com"]).is_empty());
    assert!(
        install
            .ok(&["list", "list", "alice@example.com"])
            .contains("owner\tCustomers")
    );
    assert_fails(
        &install.run(&["list", "list", "nobody@example.com"]),
        65,
        "not found",
    );

    let token = install.ok(&["user", "token", "alice@example.com"]);
    assert!(token.trim().len() > 20, "{token}");
    // Only the token's hash is stored.
    assert!(files_containing(&install.data(), token.trim().as_bytes()).is_empty());

    // Every change above is in the audit log, by id, in order; reads are not.
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let actions: Vec<String> = runtime.block_on(async {
        let store = install.store().await;
        let log = store
            .audit_log(50)
            .await
            .unwrap_or_else(|e| panic!("audit log: {e}"));
        log.into_iter()
            .rev()
            .map(|entry| format!("{} {}", entry.action, entry.object_id.unwrap_or(-1)))
            .collect()
    });
    let expected = [
        "user.add".to_owned(),
        "user.add".to_owned(),
        format!("list.create {list_id}"),
        format!("list.share {list_id}"),
        format!("list.unshare {list_id}"),
        "token.issue".to_owned(),
    ];
    assert_eq!(actions.len(), expected.len(), "{actions:?}");
    for (action, expected) in actions.iter().zip(&expected) {
        assert!(action.starts_with(expected.as_str()), "{actions:?}");
    }
}

/// The CLI changes lists through the service layer as the operator: a name the pages refuse is
/// refused here too, sharing a list with its own owner is refused, and the audit entries have
/// the same action, object and detail as the page's, naming the operator (no user) as actor.
#[test]
fn the_cli_validates_and_audits_lists_exactly_like_the_pages() {
    let install = Install::new();
    install.ok(&["user", "add", "alice@example.com"]);
    install.ok(&["user", "add", "bob@example.com"]);
    assert_fails(
        &install.run(&["list", "add", "--owner", "alice@example.com", "   "]),
        65,
        "name: is required",
    );
    let too_long = "n".repeat(201);
    assert_fails(
        &install.run(&["list", "add", "--owner", "alice@example.com", &too_long]),
        65,
        "name:",
    );
    let list = install.ok(&["list", "add", "--owner", "alice@example.com", "Customers"]);
    let list_id = list
        .split('\t')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_fails(
        &install.run(&["list", "share", &list_id, "alice@example.com"]),
        65,
        "email: you own this list",
    );
    install.ok(&[
        "list",
        "share",
        &list_id,
        "bob@example.com",
        "--role",
        "editor",
    ]);

    // The same share made by the owner through the service, as the pages and the API do.
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let (by_cli, by_page) = runtime.block_on(async {
        let store = install.store().await;
        let alice = store
            .user_by_email("alice@example.com")
            .await
            .unwrap_or_else(|e| panic!("alice: {e}"));
        let list = mailsig_daemon::store::ListId(list_id.parse().unwrap_or_default());
        mailsig_daemon::service::lists::share_list(
            &store,
            mailsig_daemon::service::Actor::signed_in(alice.id),
            list,
            Some("bob@example.com"),
            Some("editor"),
        )
        .await
        .unwrap_or_else(|e| panic!("share through the service: {e}"));
        let log = store
            .audit_log(10)
            .await
            .unwrap_or_else(|e| panic!("audit log: {e}"));
        let shares: Vec<_> = log
            .into_iter()
            .filter(|entry| entry.action.to_string() == "list.share")
            .collect();
        assert_eq!(shares.len(), 2, "{shares:?}");
        let describe = |entry: &mailsig_daemon::store::AuditEntry| {
            (
                entry.action.to_string(),
                entry.object_kind.to_string(),
                entry.object_id,
                entry.detail.clone(),
            )
        };
        // Newest first: the service's call, then the CLI's.
        assert_eq!(
            shares[0].actor,
            Some(alice.id),
            "the page's entry names the user"
        );
        assert_eq!(shares[1].actor, None, "the CLI's entry names the operator");
        (describe(&shares[1]), describe(&shares[0]))
    });
    assert_eq!(by_cli, by_page);
}

/// `list auto-accept` reads and sets a list's auto-accept through the service: the threshold is
/// checked like the API's, the setting lands in the store, and the change is audited as the
/// operator's.
#[test]
fn list_auto_accept_is_read_and_set_from_the_cli() {
    let install = Install::new();
    install.ok(&["user", "add", "alice@example.com"]);
    let list = install.ok(&["list", "add", "--owner", "alice@example.com", "Customers"]);
    let list_id = list
        .split('\t')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_eq!(
        install.ok(&["list", "auto-accept", &list_id]).trim(),
        "off\t0.95\t-\t0\t0",
        "off by default, no data for an estimate"
    );
    assert_fails(
        &install.run(&["list", "auto-accept", &list_id, "--threshold", "0.2"]),
        65,
        "threshold: must be from 0.5 to 1",
    );
    assert_eq!(
        install
            .ok(&[
                "list",
                "auto-accept",
                "Customers",
                "--owner",
                "alice@example.com",
                "--mode",
                "dry-run",
                "--threshold",
                "0.9",
            ])
            .trim(),
        "dry_run\t0.9\t-\t0\t0"
    );
    // --threshold alone keeps the mode.
    assert_eq!(
        install
            .ok(&["list", "auto-accept", &list_id, "--threshold", "0.97"])
            .trim(),
        "dry_run\t0.97\t-\t0\t0"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let store = install.store().await;
        let list = mailsig_daemon::store::ListId(list_id.parse().unwrap_or_default());
        let setting = store
            .auto_accept(list)
            .await
            .unwrap_or_else(|e| panic!("setting: {e}"));
        assert_eq!(setting.mode, mailsig_daemon::store::AutoAcceptMode::DryRun);
        assert!((setting.threshold - 0.97).abs() < 1e-9, "{setting:?}");
        let log = store
            .audit_log(10)
            .await
            .unwrap_or_else(|e| panic!("audit log: {e}"));
        let sets: Vec<_> = log
            .iter()
            .filter(|entry| entry.action.to_string() == "list.auto_accept")
            .collect();
        assert_eq!(sets.len(), 2, "one entry per change: {sets:?}");
        assert!(sets.iter().all(|e| e.actor.is_none()), "the operator acted");
    });
}

/// `user add` and `user set-password` go through the service layer: the address is checked
/// like every e-mail field of the pages (spelled out per field), and both actions are audited as
/// the operator's, with no user id.
#[test]
fn user_commands_validate_and_audit_through_the_service() {
    let install = Install::new();
    assert_fails(
        &install.run(&["user", "add", "not-an-address"]),
        65,
        "email: is not an e-mail address",
    );
    assert_fails(
        &install.run(&[
            "user",
            "add",
            "carol@example.com",
            "--name",
            &"n".repeat(201),
        ]),
        65,
        "name: is longer than 200 characters",
    );
    install.ok(&["user", "add", "Carol@Example.com", "--name", "Carol"]);
    let out = install.run_with_stdin(
        &["user", "set-password", "carol@example.com"],
        "a long enough password\n",
    );
    assert!(
        out.status.success(),
        "set-password: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let store = install.store().await;
        let carol = store
            .user_by_email("carol@example.com")
            .await
            .unwrap_or_else(|e| panic!("the address is stored lower-cased: {e}"));
        let log = store
            .audit_log(10)
            .await
            .unwrap_or_else(|e| panic!("audit log: {e}"));
        let actions: Vec<(String, Option<i64>, bool)> = log
            .iter()
            .filter(|e| e.object_id == Some(carol.id.0))
            .map(|e| (e.action.to_string(), e.object_id, e.actor.is_none()))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("user.set_password".to_owned(), Some(carol.id.0), true),
                ("user.add".to_owned(), Some(carol.id.0), true),
            ],
            "newest first, both by the operator"
        );
    });
}

/// `user set-role` goes through the org service: the role is checked, stored and audited as the
/// operator's with the new role as the detail.
#[test]
fn set_role_makes_an_org_admin_through_the_service() {
    let install = Install::new();
    install.ok(&["user", "add", "dana@example.com"]);
    assert_fails(
        &install.run(&["user", "set-role", "dana@example.com", "root"]),
        64,
        "is not user or admin",
    );
    let out = install.ok(&["user", "set-role", "dana@example.com", "admin"]);
    assert_eq!(out.trim(), "dana@example.com\tadmin");
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let store = install.store().await;
        let dana = store
            .user_by_email("dana@example.com")
            .await
            .unwrap_or_else(|e| panic!("user: {e}"));
        assert_eq!(
            store.org_role(dana.id).await.ok(),
            Some(mailsig_daemon::domain::OrgRole::Admin)
        );
        let log = store
            .audit_log(5)
            .await
            .unwrap_or_else(|e| panic!("audit log: {e}"));
        let entry = &log[0];
        assert_eq!(entry.action.as_str(), "user.set_role");
        assert_eq!(entry.object_id, Some(dana.id.0));
        assert_eq!(entry.detail.as_deref(), Some("admin"));
        assert!(entry.actor.is_none(), "the operator, no user id");
    });
}

/// `user disable` ends the user's tokens and refuses them from then on, audited as the
/// operator's; `user enable` lets the account in again without reviving the old token.
#[test]
fn disable_ends_tokens_and_enable_lets_the_account_in_again() {
    let install = Install::new();
    install.ok(&["user", "add", "erin@example.com"]);
    let token = install.ok(&["user", "token", "erin@example.com"]);
    let token = token.trim().to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let store = runtime.block_on(install.store());
    runtime
        .block_on(store.verify_token(&token))
        .unwrap_or_else(|e| panic!("the new token works: {e}"));
    let out = install.ok(&["user", "disable", "erin@example.com"]);
    assert_eq!(out.trim(), "erin@example.com\tdisabled");
    let out = install.ok(&["user", "disable", "erin@example.com"]);
    assert_eq!(out.trim(), "erin@example.com\twas already disabled");
    assert!(
        runtime.block_on(store.verify_token(&token)).is_err(),
        "a disabled account's token is refused"
    );
    let out = install.ok(&["user", "enable", "erin@example.com"]);
    assert_eq!(out.trim(), "erin@example.com\tenabled");
    assert!(
        runtime.block_on(store.verify_token(&token)).is_err(),
        "enabling does not revive an ended token"
    );
    let log = runtime
        .block_on(store.audit_log(3))
        .unwrap_or_else(|e| panic!("audit log: {e}"));
    let actions: Vec<(&str, bool)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.actor.is_none()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("user.enable", true),
            ("user.disable", true),
            ("token.issue", true)
        ],
        "newest first, each once, by the operator"
    );
}

/// `user invite` makes the account without a password and queues the invitation mail in the
/// outbox (the notifier sends it), audited as the operator's `user.invite`; the address of an
/// account in use is refused. `user reset-2fa` is `reset-second-factor`.
#[test]
fn invite_queues_the_invitation_through_the_org_service() {
    let install = Install::new();
    let out = install.ok(&["user", "invite", "fay@example.com", "--name", "Fay"]);
    assert!(out.trim().ends_with("fay@example.com\tinvited"), "{out}");
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let store = install.store().await;
        let fay = store
            .user_by_email("fay@example.com")
            .await
            .unwrap_or_else(|e| panic!("user: {e}"));
        let member = store
            .org_member(fay.id)
            .await
            .unwrap_or_else(|e| panic!("member: {e}"));
        assert!(
            !member.has_password,
            "an invited account has no password yet"
        );
        let queued = store
            .get_outbox_item(mailsig_daemon::store::OutboxId(1))
            .await
            .unwrap_or_else(|e| panic!("outbox row: {e}"));
        assert_eq!(queued.recipient, fay.id);
        assert_eq!(queued.message.kind(), "account_invitation");
        let log = store
            .audit_log(1)
            .await
            .unwrap_or_else(|e| panic!("audit log: {e}"));
        assert_eq!(log[0].action.as_str(), "user.invite");
        assert_eq!(log[0].object_id, Some(fay.id.0));
        assert!(log[0].actor.is_none(), "the operator, no user id");
    });
    install.ok(&["user", "add", "gus@example.com"]);
    install.run_with_stdin(
        &["user", "set-password", "gus@example.com"],
        "gus password 123\n",
    );
    assert_fails(
        &install.run(&["user", "invite", "gus@example.com"]),
        65,
        "already exists",
    );
    let out = install.ok(&["user", "reset-2fa", "gus@example.com"]);
    assert_eq!(out.trim(), "gus@example.com\thad no two-step verification");
}

/// `user offboard` stops the person's mailboxes, wipes their credentials, hands their lists to
/// the named account and disables theirs, through the same service as the admin pages; audited
/// as the operator's `user.offboard`. Without `--hand-over-to` or `--delete-lists` it refuses.
#[test]
fn offboard_stops_mailboxes_wipes_credentials_and_hands_over_lists() {
    let install = Install::new();
    install.ok(&["user", "add", "hal@example.com"]);
    install.ok(&["user", "add", "ida@example.com"]);
    let token = install.ok(&["user", "token", "hal@example.com"]);
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let store = runtime.block_on(install.store());
    let (hal, ida, list) = runtime.block_on(async {
        let hal = store
            .user_by_email("hal@example.com")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ida = store
            .user_by_email("ida@example.com")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let list = store
            .create_list(hal.id, "Hal's")
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        let mailbox = store
            .create_mailbox(mailsig_daemon::store::NewMailbox {
                owner: hal.id,
                kind: mailsig_daemon::store::MailboxKind::Imap,
                address: "hal@example.com".into(),
                display_name: None,
                target_list: list.id,
                excluded_domains: vec![],
                settings: serde_json::json!({}),
                secret: None,
            })
            .await
            .unwrap_or_else(|e| panic!("mailbox: {e}"));
        assert_eq!(mailbox.owner, hal.id);
        (hal, ida, list)
    });
    assert_fails(
        &install.run(&["user", "offboard", "hal@example.com"]),
        64,
        "--hand-over-to",
    );
    let out = install.ok(&[
        "user",
        "offboard",
        "hal@example.com",
        "--hand-over-to",
        "ida@example.com",
    ]);
    assert!(
        out.starts_with("hal@example.com\toffboarded\t1 mailboxes stopped\t1 lists handed over"),
        "{out}"
    );
    runtime.block_on(async {
        assert!(
            store.verify_token(token.trim()).await.is_err(),
            "token kept"
        );
        let live = store
            .list_mailboxes(&mailsig_daemon::store::MailboxFilter {
                owner: Some(hal.id),
                kind: None,
            })
            .await
            .unwrap_or_else(|e| panic!("mailboxes: {e}"));
        assert!(live.is_empty(), "a mailbox is still live: {live:?}");
        assert_eq!(
            store.get_list(list.id).await.map(|l| l.owner).ok(),
            Some(ida.id)
        );
        let member = store
            .org_member(hal.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(member.disabled_at.is_some(), "not disabled");
        let log = store.audit_log(1).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log[0].action.as_str(), "user.offboard");
        assert_eq!(log[0].object_id, Some(hal.id.0));
        assert!(log[0].actor.is_none(), "the operator, no user id");
    });
}

/// `mailsigd org health` reads the organisation's mailboxes through the same service function as
/// `/admin/mailboxes` and the API, as the operator: those needing attention first, with the
/// reason; an IMAP mailbox's lag (what its watcher listed and has not processed yet, since when);
/// `--json` gives the API's fields.
#[test]
fn org_health_lists_every_mailbox_with_its_reason_and_lag_through_the_org_service() {
    use mailsig_daemon::store::{MailboxKind, MailboxStatus, NewMailbox};
    let install = Install::new();
    install.ok(&["user", "add", "kai@example.com"]);
    assert_eq!(install.ok(&["org", "health"]), "", "no mailbox yet");
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let store = runtime.block_on(install.store());
    let (working, broken) = runtime.block_on(async {
        let kai = store
            .user_by_email("kai@example.com")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let list = store
            .create_list(kai.id, "Kai's leads")
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        let mailbox = |address: &str| NewMailbox {
            owner: kai.id,
            kind: MailboxKind::Imap,
            address: address.into(),
            display_name: None,
            target_list: list.id,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        };
        let working = store
            .create_mailbox(mailbox("kai@example.com"))
            .await
            .unwrap_or_else(|e| panic!("mailbox: {e}"));
        let broken = store
            .create_mailbox(mailbox("kai.old@example.com"))
            .await
            .unwrap_or_else(|e| panic!("mailbox: {e}"));
        store
            .set_mailbox_status(
                broken.id,
                MailboxStatus::NeedsAttention,
                Some("the server refused the login"),
            )
            .await
            .unwrap_or_else(|e| panic!("status: {e}"));
        store
            .reset_cursor(working.id, "INBOX", 3, 10)
            .await
            .unwrap_or_else(|e| panic!("cursor: {e}"));
        store
            .set_folder_waiting(working.id, "INBOX", 4)
            .await
            .unwrap_or_else(|e| panic!("waiting: {e}"));
        (working.id, broken.id)
    });
    let out = install.ok(&["org", "health"]);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows.iter().all(|r| r.len() == 12), "{out}");
    // Needing attention first, with the reason in words.
    assert_eq!(rows[0][0], broken.0.to_string(), "{out}");
    assert_eq!(
        &rows[0][1..7],
        [
            "imap",
            "kai.old@example.com",
            "kai@example.com",
            "Kai's leads",
            "needs_attention",
            "the server refused the login"
        ],
        "{out}"
    );
    assert_eq!(rows[0][10..], ["0", "-"], "nothing waits: {out}");
    // The working one: four messages listed and not processed yet, since an RFC 3339 moment.
    assert_eq!(rows[1][0], working.0.to_string(), "{out}");
    assert_eq!(rows[1][5..7], ["ok", "-"], "{out}");
    assert_eq!(rows[1][10], "4", "{out}");
    assert!(
        rows[1][11].ends_with('Z') && rows[1][11].contains('T'),
        "waiting since: {out}"
    );
    let json: serde_json::Value = serde_json::from_str(&install.ok(&["org", "health", "--json"]))
        .unwrap_or_else(|e| panic!("json: {e}"));
    assert_eq!(json[1]["waiting"], 4, "{json}");
    assert!(json[1]["waiting_since"].is_i64(), "{json}");
    assert_eq!(json[0]["status"], "needs_attention", "{json}");
}

/// `secrets rotate` refuses while a daemon replica is alive (its heartbeat row is live):
/// secrets that daemon seals meanwhile would be under the old key and lost.
#[test]
fn secrets_rotate_refuses_while_a_replica_runs() {
    let install = Install::new();
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let store = install.store().await;
        let beat = store
            .replica_heartbeat("replica-a", std::time::Duration::from_secs(600))
            .await;
        assert!(beat.is_ok());
    });
    let key_file = install.data().join("master.key");
    let before = fs::read_to_string(&key_file).unwrap_or_default();
    assert_fails(&install.run(&["secrets", "rotate"]), 69, "replica-a");
    assert_eq!(
        fs::read_to_string(&key_file).unwrap_or_default(),
        before,
        "the key changed"
    );
}

/// A password reset ends what the old password opened: the user's API tokens are revoked
/// (someone who knew the old password may have minted them), not only the sessions.
#[test]
fn set_password_revokes_the_users_tokens() {
    let install = Install::new();
    install.ok(&["user", "add", "dave@example.com"]);
    let token = install.ok(&[
        "token",
        "create",
        "--user",
        "dave@example.com",
        "--label",
        "old",
    ]);
    let out = install.run_with_stdin(
        &["user", "set-password", "dave@example.com"],
        "a brand new password\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let store = install.store().await;
        assert!(
            store.verify_token(token.trim()).await.is_err(),
            "a token minted before the password reset still works"
        );
    });
}

/// `user set-password` (stdin) stores an argon2id hash that signs in; `token create|list|revoke`
/// print the token once and keep only its hash.
#[test]
fn set_password_and_tokens_from_the_cli() {
    let install = Install::new();
    install.ok(&["user", "add", "carol@example.com"]);
    let out = install.run_with_stdin(
        &["user", "set-password", "carol@example.com"],
        "a long enough password\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_fails(
        &install.run_with_stdin(&["user", "set-password", "carol@example.com"], "short\n"),
        65,
        "password",
    );
    assert_fails(
        &install.run_with_stdin(
            &["user", "set-password", "nobody@example.com"],
            "whatever123\n",
        ),
        65,
        "not found",
    );

    let token = install.ok(&[
        "token",
        "create",
        "--user",
        "carol@example.com",
        "--label",
        "laptop",
    ]);
    assert!(token.trim().starts_with("msig_"), "{token}");
    assert!(files_containing(&install.data(), token.trim().as_bytes()).is_empty());
    let listed = install.ok(&["token", "list", "--user", "carol@example.com"]);
    assert!(
        listed.contains("\tlaptop\t") && !listed.contains(token.trim()),
        "{listed}"
    );
    let id = listed
        .split('\t')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let store = install.store().await;
        let signed_in = mailsig_daemon::http::auth::sign_in(
            &store,
            "carol@example.com",
            "a long enough password",
        )
        .await;
        assert!(
            signed_in.is_ok(),
            "sign-in with the password set by the CLI"
        );
        let refused =
            mailsig_daemon::http::auth::sign_in(&store, "carol@example.com", "a wrong password")
                .await;
        assert!(refused.is_err());
        assert!(
            store.verify_token(token.trim()).await.is_ok(),
            "the printed token works"
        );
    });
    install.ok(&["token", "revoke", &id]);
    runtime.block_on(async {
        let store = install.store().await;
        assert!(
            store.verify_token(token.trim()).await.is_err(),
            "a revoked token works"
        );
    });
}

#[test]
fn parse_prints_one_json_line_per_file() {
    let install = Install::empty();
    let dir = install.dir.path();
    let message = "From: Jane Roe <jane@example.org>\r\nTo: you@example.com\r\nSubject: hi\r\n\r\nHello,\r\n\r\nsee you.\r\n\r\n--\r\nJane Roe\r\nSales Director, Example Org\r\n+1 555 0100\r\n";
    let _ = fs::write(dir.join("a.eml"), message);
    let _ = fs::write(dir.join("b.eml"), "not a message at all");
    let a = dir.join("a.eml");
    let b = dir.join("b.eml");
    let out = Command::new(BIN)
        .arg("parse")
        .arg("--json")
        .arg(&a)
        .arg(&b)
        .output();
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], serde_json::json!(a.to_string_lossy()));
    assert!(lines[0].get("has_signature").is_some());
    assert_eq!(lines[1]["has_signature"], serde_json::json!(false));

    let missing = Command::new(BIN)
        .args(["parse", "/nonexistent.eml"])
        .output();
    assert_fails(
        &missing.unwrap_or_else(|e| panic!("{e}")),
        66,
        "open message file",
    );
}

#[tokio::test]
async fn backup_writes_a_private_consistent_copy() {
    let install = Install::new();
    install.ok(&["user", "add", "alice@example.com"]);
    let output = install.dir.path().join("copy.db");
    let printed = install.ok(&["backup", "--output", &output.to_string_lossy()]);
    assert_eq!(printed.trim(), output.to_string_lossy());
    assert_eq!(mode(&output), 0o600);
    let copy = Store::open(&Store::sqlite_url(&output))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let users = copy.list_users().await.unwrap_or_default();
    assert_eq!(users.len(), 1);
    // Never overwrites.
    assert_fails(
        &install.run(&["backup", "--output", &output.to_string_lossy()]),
        73,
        "backup file",
    );

    // PostgreSQL: a pointer to the right tools, without connecting.
    install.append_config("\n");
    install.replace_config("# database_url = ", "database_url = ");
    assert_fails(&install.run(&["backup"]), 69, "pg_dump");
}

/// A fresh Dovecot user: a file of its own in the test Dovecot's `users.d` (read at each
/// login), written aside and renamed so Dovecot never reads half of it.
fn create_mail_user() -> (String, String) {
    let name = format!("core{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let password = format!("Pw-{:016x}-canary", rand::random::<u64>());
    let users = PathBuf::from(test_env("MAILSIG_TEST_DIR"))
        .join("dovecot")
        .join("users.d");
    let tmp = users.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, format!("{name}:{{PLAIN}}{password}::::::\n")).unwrap_or_else(|e| {
        panic!(
            "write {}: {e} (run the tests with scripts/test.sh)",
            tmp.display()
        )
    });
    std::fs::rename(&tmp, users.join(&name))
        .unwrap_or_else(|e| panic!("rename {}: {e}", tmp.display()));
    (name, password)
}

#[tokio::test]
async fn imap_mailbox_round_trip_keeps_the_password_encrypted() {
    let install = Install::new();
    let (name, password) = create_mail_user();
    install.ok(&["user", "add", "owner@example.com"]);
    let list = install.ok(&["list", "add", "--owner", "owner@example.com", "Contacts"]);
    let list_id = list
        .split('\t')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let port = test_env("MAILSIG_TEST_IMAPS_PORT");
    let ca = test_env("MAILSIG_TEST_CA");
    let add = |secret: &str| {
        install.run_with_stdin(
            &[
                "mailbox",
                "add-imap",
                "--owner",
                "owner@example.com",
                "--list",
                &list_id,
                "--host",
                "localhost",
                "--port",
                &port,
                "--security",
                "tls",
                "--ca-file",
                &ca,
                "--username",
                &name,
                "--address",
                &format!("{name}@localhost"),
                "--password-stdin",
            ],
            &format!("{secret}\n"),
        )
    };

    // A wrong password is refused by the server and nothing is stored.
    let wrong = add("wrong-password");
    assert_fails(&wrong, 77, "authentication failed");
    assert!(install.ok(&["mailbox", "list"]).is_empty());

    let out = add(&password);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mailbox_id = stdout(&out)
        .split('\t')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(!stdout(&out).contains(&password) && !stderr(&out).contains(&password));

    let listed = install.ok(&["mailbox", "list"]);
    assert!(
        listed.contains(&format!("{mailbox_id}\timap\tok")),
        "{listed}"
    );
    install.ok(&[
        "mailbox",
        "exclude",
        &mailbox_id,
        "Partner.example",
        "@other.example",
    ]);
    // Checked by the service as on the pages: a bad domain is refused and nothing changes.
    assert_fails(
        &install.run(&["mailbox", "exclude", &mailbox_id, "not a domain"]),
        65,
        "is not a domain name",
    );
    let shown = install.ok(&["mailbox", "show", &mailbox_id]);
    assert!(
        shown.contains("excluded_domains: other.example, partner.example"),
        "{shown}"
    );
    assert!(shown.contains("password: stored (encrypted)"), "{shown}");
    assert!(!shown.contains(&password), "{shown}");

    let smtp_password = format!("Smtp-{:016x}-canary", rand::random::<u64>());
    let out = install.run_with_stdin(
        &["smtp", "set-password", "--password-stdin"],
        &smtp_password,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The passwords are in the database only in sealed form: no file of the data dir (the
    // database, its WAL and SHM) holds either plaintext.
    for secret in [&password, &smtp_password] {
        let hits = files_containing(&install.data(), secret.as_bytes());
        assert!(hits.is_empty(), "plaintext password found in {hits:?}");
    }
    // And the sealed records open to exactly those passwords.
    let store = install.store().await;
    let vault = install.vault();
    let mut opened: Vec<String> = Vec::new();
    for record in store.all_secrets().await.unwrap_or_default() {
        let binding = Binding::secret(record.kind, record.id);
        let text = vault
            .open_string(&binding, &SealedSecret::from_bytes(record.sealed))
            .map(|s| {
                use secrecy::ExposeSecret;
                s.expose_secret().to_owned()
            });
        opened.push(text.unwrap_or_default());
    }
    opened.sort();
    let mut expected = vec![password.clone(), smtp_password.clone()];
    expected.sort();
    assert_eq!(opened, expected);
    store.close().await;

    install.ok(&["mailbox", "remove", &mailbox_id]);
    assert!(install.ok(&["mailbox", "list"]).is_empty());
    assert_fails(&install.run(&["mailbox", "show", "999"]), 65, "not found");
}

#[tokio::test]
async fn secrets_rotate_re_encrypts_everything_under_a_new_key() {
    let install = Install::new();
    let passwords = ["first-secret-aaaa", "second-secret-bbbb"];
    let out = install.run_with_stdin(&["smtp", "set-password", "--password-stdin"], passwords[0]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A second sealed record, as add-imap would store it (no server needed for rotation).
    let store = install.store().await;
    let old_vault = install.vault();
    let added = old_vault
        .store_new(
            &store,
            mailsig_daemon::store::SecretKind::ImapPassword,
            1,
            passwords[1].as_bytes(),
        )
        .await;
    assert!(added.is_ok());
    let key_file = install.data().join("master.key");
    let old_key_text = fs::read_to_string(&key_file).unwrap_or_default();

    let out = install.ok(&["secrets", "rotate"]);
    assert!(out.contains("rotated 2 secrets"), "{out}");
    let new_key_text = fs::read_to_string(&key_file).unwrap_or_default();
    assert_ne!(old_key_text, new_key_text);
    assert_eq!(mode(&key_file), 0o600);
    assert!(!install.data().join("master.key.new").exists());

    let new_vault = install.vault();
    let mut opened = Vec::new();
    for record in store.all_secrets().await.unwrap_or_default() {
        let sealed = SealedSecret::from_bytes(record.sealed);
        let binding = Binding::secret(record.kind, record.id);
        assert!(
            old_vault.open(&binding, &sealed).is_err(),
            "old key still opens a record"
        );
        assert_eq!(record.key_version, 2);
        opened.push(
            new_vault
                .open(&binding, &sealed)
                .map(|p| p.to_vec())
                .unwrap_or_default(),
        );
    }
    opened.sort();
    assert_eq!(
        opened,
        vec![
            passwords[0].as_bytes().to_vec(),
            passwords[1].as_bytes().to_vec()
        ]
    );

    // Simulate a crash after the commit but before the key file was swapped: the records
    // are under a key that only exists as master.key.new. Running rotate again finishes.
    let newest = MasterKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let newest_vault = Vault::new(newest.clone());
    let mut records = Vec::new();
    for record in store.all_secrets().await.unwrap_or_default() {
        let moved = mailsig_daemon::vault::reseal(
            &new_vault,
            &newest_vault,
            &Binding::secret(record.kind, record.id),
            &SealedSecret::from_bytes(record.sealed),
        );
        records.push((
            record.id,
            moved.unwrap_or_else(|e| panic!("{e}")).into_bytes(),
        ));
    }
    assert!(
        newest
            .write_new_file(&install.data().join("master.key.new"))
            .is_ok()
    );
    assert!(store.replace_all_secrets(records, 3).await.is_ok());
    store.close().await;
    let out = install.ok(&["secrets", "rotate"]);
    assert!(out.contains("finished an interrupted rotation"), "{out}");
    let after = install.vault();
    let store = install.store().await;
    for record in store.all_secrets().await.unwrap_or_default() {
        let binding = Binding::secret(record.kind, record.id);
        assert!(
            after
                .open(&binding, &SealedSecret::from_bytes(record.sealed))
                .is_ok()
        );
    }
    store.close().await;
    assert!(install.ok(&["check-config"]).starts_with("ok:"));
}

#[test]
fn run_starts_and_stops_cleanly_on_sigterm() {
    let install = Install::new();
    install.replace_config("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    run_until_sigterm(&install, &["run"]);
}

/// The quick start's single command: `run --init` on an empty directory creates the
/// installation (private key and data dir), runs, and leaves an existing one untouched.
#[test]
fn run_init_sets_up_a_first_installation_then_runs() {
    let install = Install::empty();
    run_until_sigterm(&install, &["run", "--init", "--data-dir", "data"]);
    assert!(install.config().is_file(), "no config written");
    assert_eq!(mode(&install.data().join("master.key")) & 0o777, 0o600);
    assert!(
        install.data().join("mailsig.db").is_file(),
        "no database created"
    );
    let key_before = fs::read(install.data().join("master.key")).unwrap_or_default();
    run_until_sigterm(&install, &["run", "--init", "--data-dir", "data"]);
    let key_after = fs::read(install.data().join("master.key")).unwrap_or_default();
    assert_eq!(
        key_before, key_after,
        "a second `run --init` replaced the master key"
    );
}

/// Starts `mailsigd ARGS`, waits for "mailsigd started", sends SIGTERM and insists on a clean
/// exit within 30 s.
fn run_until_sigterm(install: &Install, args: &[&str]) {
    let log = install.dir.path().join("run.log");
    let log_file = fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let mut child = install
        .command(args)
        .env("MAILSIG_HTTP_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("mailsigd started")
    {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!(
                "daemon did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The unit's ExecReload sends SIGHUP: the daemon must survive it.
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(child.id().to_string())
        .status();
    assert!(hup.is_ok_and(|s| s.success()));
    let hup_deadline = Instant::now() + Duration::from_secs(30);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("SIGHUP received")
    {
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "daemon died on SIGHUP"
        );
        assert!(Instant::now() < hup_deadline, "SIGHUP was not noticed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        child.try_wait().ok().flatten().is_none(),
        "daemon died on SIGHUP"
    );
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("daemon did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("mailsigd stopped"), "{text}");
}

#[test]
fn smtp_test_logs_in_with_the_stored_password() {
    let install = Install::new();
    let (name, password) = create_mail_user();
    let port = test_env("MAILSIG_TEST_SMTP_PORT");
    let ca = test_env("MAILSIG_TEST_CA");
    // Without [smtp] there is nothing to test: a configuration error.
    assert_fails(&install.run(&["smtp", "test"]), 78, "no [smtp] host");

    install.replace_config(
        "# host = \"smtp.example.net\"",
        &format!(
            "host = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\nusername = \"{name}\"\n\
             from = \"mailsig <{name}@localhost>\"\nca_file = \"{ca}\""
        ),
    );
    assert!(install.ok(&["check-config"]).contains("smtp localhost:"));
    // No password stored yet.
    assert_fails(&install.run(&["smtp", "test"]), 78, "smtp set-password");

    let out = install.run_with_stdin(
        &["smtp", "set-password", "--password-stdin"],
        "not-the-password\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_fails(&install.run(&["smtp", "test"]), 77, "test smtp");

    let out = install.run_with_stdin(
        &["smtp", "set-password", "--password-stdin"],
        &format!("{password}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = install.run(&["smtp", "test"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ok: localhost:"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(&password) && !stderr(&out).contains(&password));
    assert!(files_containing(&install.data(), password.as_bytes()).is_empty());
}

/// `smtp test` with an app-only OAuth token (client credentials at the test OpenID provider,
/// XOAUTH2 at Postfix through Dovecot's SASL): a wrong client secret is reported at the token
/// step, the right one logs in as the app's mailbox, and `--send-to` submits one message.
#[test]
fn smtp_test_names_the_token_step_for_an_oauth_login() {
    let install = Install::new();
    let (recipient, _) = create_mail_user();
    let port = test_env("MAILSIG_TEST_SMTP_PORT");
    let ca = test_env("MAILSIG_TEST_CA");
    let issuer = test_env("MAILSIG_TEST_OIDC_ISSUER");
    let client_id = test_env("MAILSIG_TEST_OIDC_CLIENT_ID");
    let mailbox = test_env("MAILSIG_TEST_OIDC_APP_MAILBOX");
    let secret_file = install.dir.path().join("oauth-secret");
    fs::write(&secret_file, "wrong-client-secret\n").unwrap_or_else(|e| panic!("{e}"));
    install.replace_config(
        "# host = \"smtp.example.net\"",
        &format!(
            "host = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\nusername = \"{mailbox}\"\n\
             from = \"mailsig <{mailbox}@localhost>\"\nca_file = \"{ca}\"\nauth = \"oauth2_app\"\n\
             oauth_provider = \"test\"\noauth_scope = \"mail\""
        ),
    );
    install.append_config(&format!(
        "\n[oauth.providers.test]\nprofile = \"generic\"\nclient_id = \"{client_id}\"\n\
         client_secret_file = \"{}\"\nauthorization_url = \"{issuer}/auth\"\n\
         token_url = \"{issuer}/token\"\nscopes = [\"mail\"]\n",
        secret_file.display()
    ));
    assert!(install.ok(&["check-config"]).contains("smtp localhost:"));

    let out = install.run(&["smtp", "test"]);
    assert_fails(
        &out,
        77,
        ": token: the identity provider refused to issue a token",
    );
    assert!(
        !stderr(&out).contains("wrong-client-secret"),
        "{}",
        stderr(&out)
    );

    fs::write(
        &secret_file,
        format!("{}\n", test_env("MAILSIG_TEST_OIDC_CLIENT_SECRET")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = install.run(&[
        "smtp",
        "test",
        "--send-to",
        &format!("{recipient}@localhost"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("accepted the XOAUTH2 login of {mailbox}")),
        "{text}"
    );
    assert!(text.contains("accepted the test message <"), "{text}");
}

#[tokio::test]
async fn outbox_list_shows_failed_notifications_with_their_reason() {
    let install = Install::new();
    install.ok(&["user", "add", "alice@example.com"]);
    assert!(install.ok(&["outbox", "list"]).is_empty());
    let store = install.store().await;
    let user = store
        .user_by_email("alice@example.com")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending = store
        .enqueue(
            &mailsig_daemon::domain::OutboxMessage::Digest(Default::default()),
            user.id,
            0,
        )
        .await;
    let failed = store
        .enqueue(
            &mailsig_daemon::domain::OutboxMessage::Digest(Default::default()),
            user.id,
            0,
        )
        .await;
    let failed = failed.unwrap_or_else(|e| panic!("{e}"));
    assert!(pending.is_ok());
    assert!(
        store
            .mark_failed(failed, "550 5.1.1 mailbox unavailable\nsecond line")
            .await
            .is_ok()
    );
    store.close().await;

    let listed = install.ok(&["outbox", "list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    assert!(
        lines[0].starts_with(&format!("{}\tsuggestion_digest\t{}\t", failed.0, user.id.0)),
        "{listed}"
    );
    assert!(
        lines[0].ends_with("550 5.1.1 mailbox unavailable second line"),
        "{listed}"
    );
}

/// Text that is Rust's `Debug` output rather than a sentence: an `Option`, a struct or an
/// enum variant with fields, an escaped quote.
const DEBUG_MARKS: [&str; 9] = [
    "Some(", "None", "{ ", " }", "Error {", "Os {", "kind: ", "Kind(", "\\\"",
];

/// Every failure path of the CLI a person can reach, each run for real: one `error: ` line in
/// words, the documented exit code, no `Debug` text of a library type, and the `--ca-file` hint
/// on every certificate the CLI does not trust.
#[test]
fn every_cli_failure_is_one_readable_line_and_untrusted_certificates_name_the_ca_file_option() {
    let install = Install::new();
    install.ok(&["user", "add", "ann@example.com"]);
    install.ok(&["list", "add", "--owner", "ann@example.com", "Contacts"]);
    let imap = test_env("MAILSIG_TEST_IMAP_PORT");
    let imaps = test_env("MAILSIG_TEST_IMAPS_PORT");
    let smtp = test_env("MAILSIG_TEST_SMTP_PORT");
    let ca = test_env("MAILSIG_TEST_CA");
    let other_ca = PathBuf::from(test_env("MAILSIG_TEST_DIR"))
        .join("tls-untrusted/ca.pem")
        .display()
        .to_string();
    let closed = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("address").port().to_string()
    };
    let dir = install.dir.path().display().to_string();
    fs::write(
        install.dir.path().join("broken.toml"),
        "data_dir = \"data\"\n[http\n",
    )
    .expect("write");
    fs::write(
        install.dir.path().join("wrong-type.toml"),
        "data_dir = \"data\"\n[http]\nlisten = 5\n",
    )
    .expect("write");
    fs::write(
        install.dir.path().join("no-key.toml"),
        format!("data_dir = \"{dir}/empty\"\n"),
    )
    .expect("write");
    fs::write(
        install.dir.path().join("pg-down.toml"),
        format!("data_dir = \"data\"\ndatabase_url = \"postgres://mailsig@127.0.0.1:{closed}/mailsig\"\n"),
    )
    .expect("write");
    let link = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "mailbox",
            "add-imap",
            "--owner",
            "ann@example.com",
            "--list",
            "Contacts",
            "--username",
            "nobody",
            "--address",
            "nobody@example.com",
            "--password-stdin",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let with_config = |file: &str, args: &[&str]| -> Vec<String> {
        let mut all = vec!["--config".to_owned(), format!("{dir}/{file}")];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        all
    };
    // (arguments, exit code, words the line must have)
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            with_config("missing.toml", &["user", "list"]),
            66,
            "does not exist",
        ),
        (with_config("broken.toml", &["user", "list"]), 78, "line 2"),
        (
            with_config("wrong-type.toml", &["user", "list"]),
            78,
            "listen",
        ),
        (
            with_config("no-key.toml", &["check-config"]),
            66,
            "master key",
        ),
        (
            with_config("pg-down.toml", &["user", "list"]),
            69,
            // The cause, at once: not the pool's "timed out" after its whole wait.
            "refused",
        ),
        (
            vec!["user".into(), "add".into(), "not-an-email".into()],
            65,
            "e-mail",
        ),
        (
            ["list", "add", "--owner", "nobody@example.com", "X"]
                .map(str::to_owned)
                .to_vec(),
            65,
            "user",
        ),
        (
            ["suggestion", "show", "99999"].map(str::to_owned).to_vec(),
            65,
            "suggestion",
        ),
        (
            [
                "suggestion",
                "list",
                "--user",
                "ann@example.com",
                "--list",
                "Nope",
            ]
            .map(str::to_owned)
            .to_vec(),
            65,
            "Nope",
        ),
        (
            ["mailbox", "show", "nowhere@example.com"]
                .map(str::to_owned)
                .to_vec(),
            65,
            "mailbox",
        ),
        (
            ["token", "revoke", "424242"].map(str::to_owned).to_vec(),
            65,
            "token",
        ),
        (
            ["parse", "/nonexistent/message.eml"]
                .map(str::to_owned)
                .to_vec(),
            66,
            "message file",
        ),
        (["smtp", "test"].map(str::to_owned).to_vec(), 78, "smtp"),
        // Usage errors name what is missing (clap puts it on the next line).
        (
            ["user", "add"].map(str::to_owned).to_vec(),
            64,
            "not provided: <EMAIL>",
        ),
        (
            ["smtp", "set-password"].map(str::to_owned).to_vec(),
            64,
            "--password-stdin",
        ),
        (
            ["mailbox", "add-imap", "--port", "x"]
                .map(str::to_owned)
                .to_vec(),
            64,
            "'x'",
        ),
        (
            link(&["--host", "127.0.0.1", "--port", &closed]),
            69,
            "unreachable",
        ),
        (
            link(&["--host", "localhost", "--port", &imap, "--security", "tls"]),
            65,
            "TLS",
        ),
        (
            link(&[
                "--host",
                "localhost",
                "--port",
                &smtp,
                "--security",
                "starttls",
                "--ca-file",
                &ca,
            ]),
            69,
            "IMAP",
        ),
        (
            link(&[
                "--host",
                "localhost",
                "--port",
                &imaps,
                "--ca-file",
                "/etc/hostname",
            ]),
            65,
            "CA file",
        ),
        (
            link(&[
                "--host",
                "localhost",
                "--port",
                &imaps,
                "--ca-file",
                "/nonexistent.pem",
            ]),
            65,
            "CA file",
        ),
        (
            link(&["--host", "localhost", "--port", &imaps, "--ca-file", &ca]),
            77,
            "authentication failed",
        ),
        // Certificates the CLI does not trust: no CA given, or the wrong one.
        (
            link(&["--host", "localhost", "--port", &imaps]),
            65,
            "--ca-file",
        ),
        (
            link(&[
                "--host",
                "localhost",
                "--port",
                &imap,
                "--security",
                "starttls",
            ]),
            65,
            "--ca-file",
        ),
        (
            link(&[
                "--host",
                "localhost",
                "--port",
                &imaps,
                "--ca-file",
                &other_ca,
            ]),
            65,
            "not signed by the CA in --ca-file",
        ),
    ];
    let mut failures = Vec::new();
    for (args, code, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = if args[0] == "--config" {
            // A configuration of the case's own instead of the installation's.
            Command::new(BIN)
                .args(&args)
                .current_dir(install.dir.path())
                .env_remove("RUST_LOG")
                .env_remove("MAILSIG_CONFIG")
                .env_remove("CREDENTIALS_DIRECTORY")
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("spawn mailsigd: {e}"))
        } else {
            install.run_with_stdin(&args, "not-the-password\n")
        };
        let err = stderr(&out);
        let line = err.trim_end();
        let problem = if out.status.code() != Some(*code) {
            Some(format!("exit {:?}, expected {code}", out.status.code()))
        } else if line.lines().count() != 1 || !line.starts_with("error: ") {
            Some("not one `error: ` line".to_owned())
        } else if !line.contains(needle) {
            Some(format!("does not say {needle:?}"))
        } else {
            DEBUG_MARKS
                .iter()
                .find(|mark| line.contains(**mark))
                .map(|mark| format!("debug text {mark:?}"))
        };
        if let Some(problem) = problem {
            failures.push(format!("mailsigd {}: {problem}: {line}", args.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `suggestion export` writes the list's accepted contacts by default and, with `--all`, the
/// unreviewed ones too; dismissed ones never.
#[tokio::test]
async fn suggestion_export_writes_accepted_contacts_unless_asked_for_all() {
    use mailsig_daemon::store::{
        CommitMessage, CommitResult, Cursor, MailboxKind, NewMailbox, NewSuggestion, Outcome,
        StoredField, SuggestionFields, SuggestionStatus,
    };
    let install = Install::new();
    install.ok(&["user", "add", "ann@example.com"]);
    let added = install.ok(&["list", "add", "--owner", "ann@example.com", "Contacts"]);
    let list = mailsig_daemon::store::ListId(
        added
            .split('\t')
            .next()
            .and_then(|id| id.trim().parse().ok())
            .expect("list id"),
    );
    let store = install.store().await;
    let owner = store.user_by_email("ann@example.com").await.expect("user");
    let mailbox = store
        .create_mailbox(NewMailbox {
            owner: owner.id,
            kind: MailboxKind::Imap,
            address: "ann@example.com".into(),
            display_name: None,
            target_list: list,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await
        .expect("mailbox")
        .id;
    let mut ids = Vec::new();
    for (n, name) in ["Accepted Person", "Unreviewed Person", "Dismissed Person"]
        .iter()
        .enumerate()
    {
        let fields = SuggestionFields {
            name: Some(StoredField {
                value: (*name).into(),
                confidence: 0.9,
                rule: "test".into(),
            }),
            ..SuggestionFields::default()
        };
        let done = store
            .commit_message(CommitMessage {
                mailbox,
                folder: "INBOX".into(),
                cursor: Cursor::None,
                message_id_hash: format!("{n:032x}"),
                outcome: Outcome::Suggestion(NewSuggestion {
                    sender_email: format!("p{n}@contacts.example"),
                    fields,
                    confidence: 0.9,
                    auth: mailsig_daemon::domain::SenderAuth::new(
                        mailsig_daemon::domain::AuthResult::Authenticated,
                        mailsig_daemon::domain::AuthMethod::Dmarc,
                    ),
                }),
                fencing: None,
            })
            .await
            .expect("commit");
        let CommitResult::Inserted { suggestion } = done else {
            panic!("not inserted: {done:?}");
        };
        ids.push(suggestion);
    }
    store
        .set_suggestion_status(ids[0], SuggestionStatus::Accepted)
        .await
        .expect("accept");
    store
        .set_suggestion_status(ids[2], SuggestionStatus::Dismissed)
        .await
        .expect("dismiss");
    store.close().await;

    let vcard = install.ok(&["suggestion", "export", "--list", "Contacts"]);
    assert_eq!(vcard.matches("BEGIN:VCARD").count(), 1, "{vcard}");
    assert!(vcard.contains("FN:Accepted Person"), "{vcard}");
    let all = install.ok(&[
        "suggestion",
        "export",
        "--list",
        "Contacts",
        "--all",
        "--format",
        "csv",
    ]);
    assert_eq!(all.lines().count(), 3, "header and two rows: {all}");
    assert!(
        all.contains("Accepted Person") && all.contains("Unreviewed Person"),
        "{all}"
    );
    assert!(!all.contains("Dismissed Person"), "{all}");
}

/// `suggestion changes` lists the change suggestion an authenticated message proposed for an
/// accepted contact; `accept-change` gives the contact the new title (as the list's owner), the
/// same decision again is answered unchanged, and `dismiss-change` of a decided one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_suggestions_are_listed_and_decided_from_the_cli() {
    use mailsig_daemon::store::{
        CommitMessage, CommitResult, Cursor, MailboxKind, NewMailbox, NewSuggestion, Outcome,
        StoredField, SuggestionFields, SuggestionStatus,
    };
    let install = Install::new();
    install.ok(&["user", "add", "ann@example.com"]);
    let added = install.ok(&["list", "add", "--owner", "ann@example.com", "Contacts"]);
    let list = mailsig_daemon::store::ListId(
        added
            .split('\t')
            .next()
            .and_then(|id| id.trim().parse().ok())
            .expect("list id"),
    );
    let store = install.store().await;
    let owner = store.user_by_email("ann@example.com").await.expect("user");
    let mailbox = store
        .create_mailbox(NewMailbox {
            owner: owner.id,
            kind: MailboxKind::Imap,
            address: "ann@example.com".into(),
            display_name: None,
            target_list: list,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await
        .expect("mailbox")
        .id;
    let mut results = Vec::new();
    for (n, title) in ["CFO", "CEO"].iter().enumerate() {
        let text = |v: &str| {
            Some(StoredField {
                value: v.into(),
                confidence: 0.9,
                rule: "test".into(),
            })
        };
        let done = store
            .commit_message(CommitMessage {
                mailbox,
                folder: "INBOX".into(),
                cursor: Cursor::None,
                message_id_hash: format!("{n:032x}"),
                outcome: Outcome::Suggestion(NewSuggestion {
                    sender_email: "jane@acme.example".into(),
                    fields: SuggestionFields {
                        name: text("Jane Doe"),
                        title: text(title),
                        ..SuggestionFields::default()
                    },
                    confidence: 0.9,
                    auth: mailsig_daemon::domain::SenderAuth::new(
                        mailsig_daemon::domain::AuthResult::Authenticated,
                        mailsig_daemon::domain::AuthMethod::Dmarc,
                    ),
                }),
                fencing: None,
            })
            .await
            .expect("commit");
        if let CommitResult::Inserted { suggestion } = done {
            store
                .set_suggestion_status(suggestion, SuggestionStatus::Accepted)
                .await
                .expect("accept");
        }
        results.push(done);
    }
    let (contact, change) = match (&results[0], &results[1]) {
        (CommitResult::Inserted { suggestion }, CommitResult::ChangeProposed { change, .. }) => {
            (*suggestion, *change)
        }
        other => panic!("{other:?}"),
    };
    store.close().await;

    let listed = install.ok(&["suggestion", "changes", "--list", "Contacts"]);
    assert!(
        listed.contains(&format!("#{change} open Jane Doe: new title")),
        "{listed}"
    );
    assert!(listed.contains("title: CFO -> CEO"), "{listed}");
    let json = install.ok(&["suggestion", "changes", "--list", "Contacts", "--json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(parsed["items"][0]["id"], change, "{json}");

    let id = change.to_string();
    let accepted = install.ok(&["suggestion", "accept-change", &id, "--json"]);
    let parsed: serde_json::Value = serde_json::from_str(&accepted).expect("JSON");
    assert_eq!(parsed["status"], "accepted", "{accepted}");
    let again = install.ok(&["suggestion", "accept-change", &id]);
    assert!(again.contains("accepted"), "{again}");
    let refused = install.run(&["suggestion", "dismiss-change", &id]);
    assert!(!refused.status.success(), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("already accepted"),
        "{}",
        stderr(&refused)
    );
    assert!(
        install
            .ok(&["suggestion", "changes", "--list", "Contacts"])
            .trim()
            .is_empty(),
        "no open change is left"
    );

    let store = install.store().await;
    let now = store.get_suggestion(contact).await.expect("contact");
    assert_eq!(now.fields.title.map(|f| f.value).as_deref(), Some("CEO"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_added_listed_logged_and_removed_from_the_cli() {
    use mailsig_daemon::domain::{AttemptOutcome, WebhookEvent};
    use mailsig_daemon::store::{AfterAttempt, NewDelivery, QueueStep, SecretKind, SuggestionId};
    let install = Install::new();
    install.replace_config(
        "allow_private_hosts = false\n# allowed_hosts",
        "allow_private_hosts = true\n# allowed_hosts",
    );
    install.replace_config("allow_http = false", "allow_http = true");
    install.ok(&["user", "add", "ann@example.com"]);
    install.ok(&["user", "add", "bob@example.com"]);
    install.ok(&["list", "add", "--owner", "ann@example.com", "Contacts"]);

    // Without --secret-stdin a secret is generated and printed, that once.
    let added = install.ok(&[
        "webhook",
        "add",
        "--list",
        "Contacts",
        "--url",
        "http://127.0.0.1:18080/hook",
        "--event",
        "suggestion.accepted",
    ]);
    let secret = added
        .lines()
        .find_map(|l| l.strip_prefix("signing secret (shown this once): "))
        .unwrap_or_else(|| panic!("no secret printed: {added}"))
        .to_owned();
    assert!(secret.len() >= 43, "{secret}");
    let listed = install.ok(&["webhook", "list", "--list", "Contacts"]);
    assert!(
        listed.contains("http://127.0.0.1:18080/hook")
            && listed.contains("suggestion.accepted")
            && !listed.contains(&secret),
        "{listed}"
    );
    let store = install.store().await;
    let list = store.user_by_email("ann@example.com").await.expect("ann");
    let list = store
        .lists_for_user(list.id)
        .await
        .expect("lists")
        .into_iter()
        .next()
        .expect("list")
        .list
        .id;
    let hook = store.webhooks_of_list(list).await.expect("hooks").remove(0);
    let sealed = store.get_secret(hook.secret).await.expect("sealed").sealed;
    let opened = install
        .vault()
        .open(
            &mailsig_daemon::vault::Binding::secret(SecretKind::WebhookSecret, hook.secret),
            &mailsig_daemon::vault::SealedSecret::from_bytes(sealed),
        )
        .expect("open");
    assert_eq!(
        opened.as_slice(),
        secret.as_bytes(),
        "the printed secret is the sealed one"
    );

    // A secret from standard input is never printed.
    const TYPED: &str = "a secret the operator typed, long enough";
    let out = install.run_with_stdin(
        &[
            "webhook",
            "add",
            "--list",
            "Contacts",
            "--url",
            "http://127.0.0.1:18081/hook",
            "--secret-stdin",
        ],
        &format!("{TYPED}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains("secret") && !stdout(&out).contains(TYPED));

    // The service's checks: a bad target, another user's list.
    let bad = install.run(&[
        "webhook",
        "add",
        "--list",
        "Contacts",
        "--url",
        "ftp://127.0.0.1/x",
    ]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(
        stderr(&bad).contains("url") && stderr(&bad).lines().count() == 1,
        "{}",
        stderr(&bad)
    );
    let stranger = install.run(&[
        "webhook",
        "list",
        "--list",
        &list.0.to_string(),
        "--user",
        "bob@example.com",
    ]);
    assert_ne!(stranger.status.code(), Some(0), "{}", stdout(&stranger));

    // An attempt the receiver answered 500 shows in the delivery log.
    let upto = store.change_horizon().await.expect("horizon");
    assert!(
        store
            .queue_webhook_events(
                &hook,
                QueueStep::Done { upto },
                &[NewDelivery {
                    event: WebhookEvent::SuggestionAccepted,
                    suggestion: SuggestionId(7),
                    payload: "{}".into(),
                }],
            )
            .await
            .expect("queue")
    );
    let claimed = store
        .claim_webhook_deliveries("cli-test", store.now_ms(), 5, Duration::from_secs(60))
        .await
        .expect("claim");
    store
        .record_webhook_attempt(
            &claimed[0],
            Some(500),
            AttemptOutcome::HttpStatus,
            AfterAttempt::RetryAt(store.now_ms() + 60_000),
        )
        .await
        .expect("attempt");
    store.close().await;
    let id = hook.id.0.to_string();
    let log = install.ok(&["webhook", "deliveries", "--list", "Contacts", &id]);
    let line = log.lines().nth(1).unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("suggestion.accepted")
            && line.contains("500")
            && line.contains("http_status")
            && line.contains("pending"),
        "{log}"
    );
    let listed = install.ok(&["webhook", "list", "--list", "Contacts", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(json[0]["deliveries"]["pending"], 1, "{json}");

    install.ok(&["webhook", "remove", "--list", "Contacts", &id]);
    let listed = install.ok(&["webhook", "list", "--list", "Contacts", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{json}");
    assert!(!listed.contains("18080"));
}

/// `blocklist` and `audit` go through the org service as the operator: the configuration's
/// `[filters] excluded_domains` is the blocklist's initial value, `add` checks and normalises,
/// `remove` takes a value or an id, a removed file entry does not come back, and the audit
/// export (CSV) lists each change as the operator's or the daemon's.
#[tokio::test]
async fn blocklist_and_audit_go_through_the_org_service_as_the_operator() {
    let install = Install::new();
    install.replace_config(
        "excluded_domains = []",
        "excluded_domains = [\"seeded.example\"]",
    );
    let listed = install.ok(&["blocklist", "list"]);
    assert!(listed.ends_with("\tdomain\tseeded.example\n"), "{listed}");

    let added = install.ok(&["blocklist", "add", "Boss@Partner.Example"]);
    assert!(
        added.ends_with("\taddress\tboss@partner.example\n"),
        "{added}"
    );
    let refused = install.run(&["blocklist", "add", "not a domain"]);
    assert_eq!(refused.status.code(), Some(65), "{}", stderr(&refused));
    let again = install.run(&["blocklist", "add", "boss@partner.example"]);
    assert_ne!(again.status.code(), Some(0));

    install.ok(&["blocklist", "remove", "seeded.example"]);
    let id = added.split('\t').next().unwrap_or_default().to_owned();
    install.ok(&["blocklist", "remove", &id]);
    // The file still names seeded.example: it stays removed.
    assert_eq!(install.ok(&["blocklist", "list"]), "");

    let csv = install.ok(&["audit", "export", "--object", "blocklist"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(
        lines[0].starts_with("\"id\",\"at\",\"actor_id\",\"actor\""),
        "{csv}"
    );
    for (line, action) in lines[1..].iter().zip([
        "blocklist.remove",
        "blocklist.remove",
        "blocklist.add",
        "blocklist.add",
    ]) {
        assert!(
            line.contains(&format!(",\"\",\"operator\",\"{action}\",\"blocklist\"")),
            "{line}"
        );
    }
    assert!(lines[4].contains("configuration file"), "{csv}");
    assert!(
        !csv.contains("boss@"),
        "an address reached the audit log: {csv}"
    );
    let listed = install.ok(&["audit", "list", "--action", "audit.export"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let bad = install.run(&["audit", "list", "--from", "yesterday"]);
    assert_eq!(bad.status.code(), Some(65), "{}", stderr(&bad));
}

/// `mailsigd book connect|status|sync|disconnect` against the test servers' Radicale: the password
/// is read from standard input and never printed, a wrong one is refused on its field, the test
/// CA is trusted through `--ca-file`, and disconnecting leaves the book as it is.
#[tokio::test]
async fn a_list_is_connected_to_a_carddav_book_synced_and_disconnected_from_the_cli() {
    let base = test_env("MAILSIG_TEST_CARDDAV_URL");
    let ca = test_env("MAILSIG_TEST_CA");
    let install = Install::new();
    install.replace_config(
        "# CardDAV servers on internal addresses:\nallow_private_hosts = false",
        "allow_private_hosts = true",
    );
    install.ok(&["user", "add", "ann@example.com"]);
    install.ok(&["list", "add", "--owner", "ann@example.com", "Contacts"]);

    let pem = fs::read(&ca).unwrap_or_else(|e| panic!("read the test CA: {e}"));
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA"))
        .build()
        .expect("client");
    let book = format!("{base}/carddav/cli-{:016x}/", rand::random::<u64>());
    let made = client
        .request(reqwest::Method::from_bytes(b"MKCOL").expect("method"), &book)
        .basic_auth("carddav", Some("carddav-password"))
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(r#"<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype><d:displayname>From the CLI</d:displayname></d:prop></d:set></d:mkcol>"#)
        .send()
        .await
        .expect("MKCOL");
    assert_eq!(made.status().as_u16(), 201, "MKCOL");
    let card = format!("{book}ann.vcf");
    let put = client
        .put(&card)
        .basic_auth("carddav", Some("carddav-password"))
        .header("Content-Type", "text/vcard; charset=utf-8")
        .body("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann\r\nFN:Ann\r\nEMAIL:ann@acme.example\r\nEND:VCARD\r\n")
        .send()
        .await
        .expect("PUT");
    assert!(put.status().is_success(), "PUT {}", put.status());

    let connect = |password: &str| {
        install.run_with_stdin(
            &[
                "book",
                "connect",
                "--list",
                "Contacts",
                "--url",
                &book,
                "--book-user",
                "carddav",
                "--ca-file",
                &ca,
            ],
            &format!("{password}\n"),
        )
    };
    let wrong = connect("a-wrong-password");
    assert_ne!(wrong.status.code(), Some(0), "{}", stdout(&wrong));
    assert!(
        stderr(&wrong).contains("refused this user name and password")
            && !stderr(&wrong).contains("a-wrong-password"),
        "{}",
        stderr(&wrong)
    );
    let out = connect("carddav-password");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&book)
            && stdout(&out).contains("From the CLI")
            && !stdout(&out).contains("carddav-password"),
        "{}",
        stdout(&out)
    );
    let synced = install.ok(&["book", "sync", "--list", "Contacts"]);
    assert!(synced.contains("read 1 changed"), "{synced}");
    let status = install.ok(&["book", "status", "--list", "Contacts", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    assert_eq!(status["connected"], true, "{status}");
    assert_eq!(status["book"]["entries"], 1, "{status}");

    let gone = install.ok(&["book", "disconnect", "--list", "Contacts"]);
    assert!(gone.contains("disconnected"), "{gone}");
    let status = install.ok(&["book", "status", "--list", "Contacts"]);
    assert!(status.contains("no address book connected"), "{status}");
    let still = client
        .get(&card)
        .basic_auth("carddav", Some("carddav-password"))
        .send()
        .await
        .expect("GET");
    assert!(still.status().is_success(), "the card was deleted");
}
