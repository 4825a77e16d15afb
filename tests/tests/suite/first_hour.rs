//! The first hour of a new operator, with the real `mailsigd` binary and the real Dovecot:
//! the README's install block run as written (it builds and installs `mailsigd`); the README's
//! quick start run line by line as written (its fenced `sh quickstart` blocks are
//! read from the file, not copied here) until the first suggestion shows; `run --init`'s log
//! parses as JSON from its first line; the CLI's suggestion commands and names; the hint on an
//! untrusted certificate; completions and the manual page; a Python client generated from the
//! running daemon's OpenAPI document that lists, accepts and follows the change feed.

use crate::ops_support;
use crate::pipeline_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mailsig_tests::servers::TestEnv;
use ops_support::{http_get, mailsigd_bin};
use pipeline_support::{signed_mail, unique_id};

const WAIT: Duration = Duration::from_secs(120);

/// The bodies of the README's fenced blocks whose info string is exactly `info`, in order.
fn readme_blocks(info: &str) -> Result<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(tag)) if tag.trim() == info => current = Some(String::new()),
            (Some(_), Some("")) => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    ensure!(current.is_none(), "unclosed ```{info} block in README.md");
    Ok(blocks)
}

/// A bash running README lines in `dir`, in a process group of its own so that the daemon it
/// starts in the background is stopped with it (SIGTERM to the group) when the test ends.
struct Shell {
    dir: PathBuf,
    path: String,
    env: Vec<(String, String)>,
    groups: Vec<u32>,
}

impl Shell {
    fn new(dir: &Path, env: &[(&str, &str)]) -> Result<Shell> {
        let bin_dir = mailsigd_bin()?
            .parent()
            .context("the binary's directory")?
            .to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Ok(Shell {
            dir: dir.to_path_buf(),
            path,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            groups: Vec::new(),
        })
    }

    /// Runs `script` with `bash -eu`, `stdin` as its standard input (what a person would type).
    fn run(&mut self, script: &str, stdin: &str) -> Result<Output> {
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new("bash");
        command
            .args(["-eu", "-o", "pipefail", "-c", script])
            .current_dir(&self.dir)
            .env("PATH", &self.path)
            .env_remove("RUST_LOG")
            .env_remove("MAILSIG_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child: Child = command.spawn().context("spawn bash")?;
        self.groups.push(child.id());
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }
}

impl Shell {
    /// SIGTERM to every process the scripts left running, then waits (at most 30 s) until
    /// they are gone, so their last log lines are written.
    fn stop(&mut self) -> Result<()> {
        let signal = |sig: &str, group: u32| {
            Command::new("kill")
                .args([sig, "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for group in std::mem::take(&mut self.groups) {
            signal("-TERM", group);
            while signal("-0", group) {
                ensure!(
                    Instant::now() < deadline,
                    "process group {group} still runs"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_links_a_mailbox_and_shows_the_first_suggestion() -> Result<()> {
    let install = readme_blocks("sh install")?;
    ensure!(
        install
            .iter()
            .any(|b| b.contains("cargo install --locked --path daemon")),
        "the README no longer says how to install mailsigd: {install:?}"
    );
    let setup = readme_blocks("sh quickstart")?;
    let result = readme_blocks("sh quickstart-result")?;
    ensure!(
        setup.len() >= 2 && result.len() == 1,
        "quick start blocks: {setup:?} {result:?}"
    );
    let setup = setup.concat();
    for needed in [
        "mailsigd init",
        "mailsigd run",
        "user add",
        "list add",
        "add-imap",
    ] {
        ensure!(setup.contains(needed), "no {needed:?} in the quick start");
    }
    ensure!(result[0].contains("mailsigd suggestion list"));

    // The mailbox already holds a message with a signature (the quick start backfills).
    let env = TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail(
                "Helga Brandt",
                "helga",
                "readme.example",
                &unique_id("readme"),
            ),
        )
        .await?;

    let dir = tempfile::tempdir()?;
    let port = mailsig_tests::servers::free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let imaps_port = std::env::var("MAILSIG_TEST_IMAPS_PORT")
        .context("MAILSIG_TEST_IMAPS_PORT: run scripts/test.sh")?;
    let ca = env.ca_path().display().to_string();
    let mut shell = Shell::new(
        dir.path(),
        &[
            // Variables the README documents; everything else is its defaults.
            ("MAILSIG_HTTP_LISTEN", &listen),
            ("IMAP_HOST", "localhost"),
            ("IMAP_PORT", &imaps_port),
            ("IMAP_USER", &user.name),
            ("IMAP_ADDRESS", &user.address),
            ("IMAP_CA_FILE", &ca),
        ],
    )?;
    let out = shell.run(&setup, &format!("{}\n", user.password))?;
    ensure!(
        out.status.success(),
        "the quick start failed ({}):\n{}\n{}\nlog:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr),
        std::fs::read_to_string(dir.path().join("mailsigd.log")).unwrap_or_default()
    );

    // The daemon runs in the background and serves.
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(listen.parse()?, "/healthz")
        .await
        .map(|r| r.0)
        .ok()
        != Some(200)
    {
        ensure!(
            Instant::now() < deadline,
            "the daemon does not answer on {listen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // What the newcomer sees once the daemon has read the inbox: the mailbox, and the contact.
    let deadline = Instant::now() + WAIT;
    let seen = loop {
        let out = shell.run(&result[0], "")?;
        let stdout = text(&out.stdout);
        ensure!(out.status.success(), "{}\n{}", stdout, text(&out.stderr));
        if stdout.contains("Helga Brandt") {
            break stdout;
        }
        ensure!(
            Instant::now() < deadline,
            "no suggestion within {WAIT:?}:\n{stdout}\nlog:\n{}",
            std::fs::read_to_string(dir.path().join("mailsigd.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    ensure!(seen.contains(&user.address), "mailbox not listed:\n{seen}");
    ensure!(
        seen.lines().any(|l| l.contains("\tok\t")),
        "mailbox not ok:\n{seen}"
    );
    let row = seen
        .lines()
        .find(|l| l.contains("Helga Brandt"))
        .context("suggestion row")?;
    ensure!(
        row.contains("helga@readme.example")
            && row.contains("Alice's contacts")
            && row.contains("new"),
        "{row}"
    );

    // The same suggestion through `show` (by id) and the JSON forms, and names for ids.
    let id = row.split_whitespace().next().context("id")?.to_owned();
    let out = shell.run(&format!("mailsigd suggestion show {id}"), "")?;
    let details = text(&out.stdout);
    ensure!(out.status.success(), "{}", text(&out.stderr));
    ensure!(
        details.contains("name: Helga Brandt") && details.contains("phone."),
        "{details}"
    );
    let out = shell.run(
        "mailsigd suggestion list --user alice@example.com --list \"Alice's contacts\" --status new --json",
        "",
    )?;
    ensure!(out.status.success(), "{}", text(&out.stderr));
    let page: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(
        page["items"][0]["fields"]["name"]["value"] == "Helga Brandt",
        "{page}"
    );
    ensure!(page["next_cursor"].is_null(), "{page}");
    let out = shell.run(
        "mailsigd suggestion list --user alice@example.com --status dismissed --json",
        "",
    )?;
    let page: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(
        page["items"].as_array().is_some_and(Vec::is_empty),
        "{page}"
    );
    let out = shell.run(&format!("mailsigd mailbox show {}", user.address), "")?;
    let show = text(&out.stdout);
    ensure!(out.status.success(), "{}", text(&out.stderr));
    ensure!(show.contains("counter.suggested: 1"), "{show}");
    // A name that matches nothing is a data error that says what was looked for.
    let out = shell.run(
        "mailsigd suggestion list --user alice@example.com --list Nope",
        "",
    )?;
    ensure!(out.status.code() == Some(65), "{:?}", out.status);
    ensure!(
        text(&out.stderr).contains("there is no list \"Nope\""),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_init_redirected_to_a_file_logs_json_from_the_first_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = mailsig_tests::servers::free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mut shell = Shell::new(dir.path(), &[("MAILSIG_HTTP_LISTEN", &listen)])?;
    // What the issue's reader typed: the log format is the default ("auto": JSON in a file).
    let out = shell.run("mailsigd run --init > log 2>&1 &", "")?;
    ensure!(out.status.success(), "{}", text(&out.stderr));
    let log = dir.path().join("log");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let content = std::fs::read_to_string(&log).unwrap_or_default();
        if content.contains("mailsigd started") {
            break;
        }
        ensure!(Instant::now() < deadline, "not started:\n{content}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shell.stop()?;
    let content = std::fs::read_to_string(&log)?;
    let mut messages = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("line {} is not JSON: {line:?}", n + 1))?;
        messages.push(
            value["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    ensure!(
        messages.first().is_some_and(|m| m == "created config"),
        "{messages:?}"
    );
    for notice in [
        "created master key",
        "created database",
        "mailsigd started",
        "mailsigd stopped",
    ] {
        ensure!(
            messages.iter().any(|m| m.starts_with(notice)),
            "no {notice:?} in {messages:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_names_the_ca_file_option() -> Result<()> {
    let env = TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    let dir = tempfile::tempdir()?;
    let mut shell = Shell::new(dir.path(), &[])?;
    let imaps_port = std::env::var("MAILSIG_TEST_IMAPS_PORT")
        .context("MAILSIG_TEST_IMAPS_PORT: run scripts/test.sh")?;
    let script = format!(
        "mailsigd init >/dev/null\n\
         mailsigd user add ann@example.com >/dev/null\n\
         mailsigd list add --owner ann@example.com Contacts >/dev/null\n\
         mailsigd mailbox add-imap --owner ann@example.com --list Contacts --host localhost \
         --port {imaps_port} --username {} --address {} --password-stdin",
        user.name, user.address
    );
    let out = shell.run(&script, &format!("{}\n", user.password))?;
    let stderr = text(&out.stderr);
    ensure!(out.status.code() == Some(65), "{:?}: {stderr}", out.status);
    ensure!(
        stderr.contains("certificate is not trusted") && stderr.contains("--ca-file"),
        "{stderr}"
    );
    ensure!(stderr.lines().count() == 1, "{stderr}");
    ensure!(
        !stderr.contains("Some(") && !stderr.contains("None"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn completions_and_the_manual_page_come_from_the_command_definitions() -> Result<()> {
    let run = |args: &[&str]| -> Result<String> {
        let out = Command::new(mailsigd_bin()?).args(args).output()?;
        if !out.status.success() {
            bail!("mailsigd {args:?}: {}", text(&out.stderr));
        }
        Ok(text(&out.stdout))
    };
    let bash = run(&["completions", "bash"])?;
    ensure!(bash.contains("_mailsigd()"), "{bash}");
    ensure!(bash.contains("suggestion") && bash.contains("--ca-file"));
    let zsh = run(&["completions", "zsh"])?;
    ensure!(zsh.starts_with("#compdef mailsigd"), "{zsh}");
    let man = run(&["man"])?;
    ensure!(man.contains(".TH mailsigd 1"), "{man}");
    ensure!(man.contains("suggestion"));
    let dir = tempfile::tempdir()?;
    run(&["man", "--out-dir", &dir.path().display().to_string()])?;
    let page = std::fs::read_to_string(dir.path().join("mailsigd-suggestion-list.1"))?;
    ensure!(page.contains("\\-\\-status"), "{page}");
    Ok(())
}

/// What a script author writes with the generated client: every list's suggestions, accept the
/// first, then the change feed. Prints one tab-separated line per finding.
const CLIENT_SCRIPT: &str = r#"
import sys
from mailsig_api_client import AuthenticatedClient
from mailsig_api_client.api.lists import get_lists
from mailsig_api_client.api.suggestions import get_lists_id_suggestions, post_suggestions_id_accept
from mailsig_api_client.api.export import get_lists_id_changes
from mailsig_api_client.models import Changes, Suggestion, SuggestionPage

client = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2], raise_on_unexpected_status=True)
for contact_list in get_lists.sync(client=client):
    page = get_lists_id_suggestions.sync(client=client, id=contact_list.id)
    assert isinstance(page, SuggestionPage), page
    for s in page.items:
        print("suggestion", contact_list.name, s.sender_email, s.fields.name.value, s.status.value, sep="\t")
    accepted = post_suggestions_id_accept.sync(client=client, id=page.items[0].id)
    assert isinstance(accepted, Suggestion), accepted
    changes = get_lists_id_changes.sync(client=client, id=contact_list.id)
    assert isinstance(changes, Changes), changes
    for s in changes.created:
        print("created", s.id, s.fields.name.value, s.status.value, sep="\t")
    print("cursor", changes.cursor, sep="\t")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_generated_from_the_running_daemons_document_lists_suggestions()
-> Result<()> {
    let tools = PathBuf::from(
        std::env::var("MAILSIG_TEST_DIR").context("MAILSIG_TEST_DIR: run scripts/test.sh")?,
    )
    .join("venv-tools/bin");
    ensure!(
        tools.join("openapi-python-client").is_file(),
        "no generator in {}: scripts/test-tools.sh installs it",
        tools.display()
    );
    // A daemon that found a contact in a real mailbox, as in the quick start.
    let env = TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail(
                "Jonas Weber",
                "jonas",
                "client.example",
                &unique_id("client"),
            ),
        )
        .await?;
    let dir = tempfile::tempdir()?;
    let port = mailsig_tests::servers::free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let imaps_port = std::env::var("MAILSIG_TEST_IMAPS_PORT")
        .context("MAILSIG_TEST_IMAPS_PORT: run scripts/test.sh")?;
    let mut shell = Shell::new(dir.path(), &[("MAILSIG_HTTP_LISTEN", &listen)])?;
    let setup = format!(
        "mailsigd init >/dev/null\n\
         mailsigd user add ann@example.com >/dev/null\n\
         mailsigd list add --owner ann@example.com Contacts >/dev/null\n\
         mailsigd mailbox add-imap --owner ann@example.com --list Contacts --host localhost \
         --port {imaps_port} --username {} --address {} --ca-file {} --backfill 5 --password-stdin >/dev/null\n\
         mailsigd run > mailsigd.log 2>&1 &\n\
         mailsigd token create --user ann@example.com --label client --scope write",
        user.name,
        user.address,
        env.ca_path().display()
    );
    let out = shell.run(&setup, &format!("{}\n", user.password))?;
    ensure!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let deadline = Instant::now() + WAIT;
    loop {
        let out = shell.run("mailsigd suggestion list --user ann@example.com", "")?;
        if text(&out.stdout).contains("Jonas Weber") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no suggestion within {WAIT:?}:\n{}",
            std::fs::read_to_string(dir.path().join("mailsigd.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The client comes from the document this daemon serves, so a drift breaks it here.
    let (status, document) = http_get(listen.parse()?, "/api/v1/openapi.json").await?;
    ensure!(status == 200, "openapi.json: {status}");
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, &document)?;
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(tools.join("openapi-python-client"))
        .args(["generate", "--fail-on-warning", "--meta", "none", "--path"])
        .arg(&spec)
        .arg("--output-path")
        .arg(dir.path().join("client"))
        .env("PATH", &path)
        .output()
        .context("run openapi-python-client")?;
    ensure!(
        out.status.success(),
        "the generator refused the document ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    ensure!(
        dir.path()
            .join("client/api/suggestions/get_lists_id_suggestions.py")
            .is_file(),
        "no suggestions module in the generated client"
    );
    // `--meta none` writes the package itself into client/; Python imports it from there.
    let package_root = dir.path().join("package");
    std::fs::create_dir(&package_root)?;
    std::os::unix::fs::symlink(
        dir.path().join("client"),
        package_root.join("mailsig_api_client"),
    )?;
    let out = Command::new(tools.join("python"))
        .args(["-c", CLIENT_SCRIPT, &format!("http://{listen}"), &token])
        .env("PYTHONPATH", &package_root)
        .output()
        .context("run the client")?;
    let stdout = text(&out.stdout);
    ensure!(
        out.status.success(),
        "the client failed ({}):\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    ensure!(
        lines.iter().any(|l| l[..]
            == [
                "suggestion",
                "Contacts",
                "jonas@client.example",
                "Jonas Weber",
                "new"
            ]),
        "{stdout}"
    );
    ensure!(
        lines.iter().any(|l| l.len() == 4
            && l[0] == "created"
            && l[2] == "Jonas Weber"
            && l[3] == "accepted"),
        "the accepted contact is not in the change feed:\n{stdout}"
    );
    ensure!(
        lines
            .iter()
            .any(|l| l[0] == "cursor" && l.len() == 2 && !l[1].is_empty()),
        "{stdout}"
    );
    shell.stop()?;
    Ok(())
}

/// The README's install block, run as written from the checkout's root, installs a `mailsigd`
/// that runs. Three things differ from a newcomer's machine, each through a documented knob
/// rather than an edit of the lines:
/// - `CARGO_INSTALL_ROOT` points `cargo install` at a scratch directory instead of `~/.cargo`;
/// - `sudo`: CI runs as root on a machine without sudo, where the line's `sudo` is a shim that
///   runs the command (elsewhere the shim is `sudo -n`, which fails rather than asks);
/// - the release profile's optimisation is turned off (`CARGO_PROFILE_RELEASE_OPT_LEVEL=0`, no
///   debug info, many codegen units) with its own target directory under the workspace's: an
///   optimised build of the daemon's dependency tree takes well over ten minutes on two cores,
///   this one a few minutes (BENCHMARKS.md), and what the test proves (the line resolves with
///   `--locked`, the release configuration compiles, `debug_assertions` off included, and the
///   installed binary runs) does not depend on the optimiser. `.config/nextest.toml` gives it
///   both cores and a longer time limit.
#[test]
fn the_readme_install_block_installs_a_mailsigd_that_runs() -> Result<()> {
    let blocks = readme_blocks("sh install")?;
    ensure!(blocks.len() == 1, "one install block: {blocks:?}");
    let install = &blocks[0];
    ensure!(
        install.contains("cargo install --locked --path daemon"),
        "{install}"
    );
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the checkout")?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| checkout.join("target"), PathBuf::from)
        .join("readme-install");
    let scratch = tempfile::tempdir()?;
    let shims = scratch.path().join("shims");
    std::fs::create_dir(&shims)?;
    let sudo = shims.join("sudo");
    std::fs::write(
        &sudo,
        "#!/bin/sh\nif [ \"$(id -u)\" = 0 ]; then exec \"$@\"; fi\nexec /usr/bin/sudo -n \"$@\"\n",
    )?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755))?;
    }
    let root = scratch.path().join("root");
    let out = Command::new("bash")
        .args(["-eu", "-o", "pipefail", "-c", install])
        .current_dir(&checkout)
        .env(
            "PATH",
            format!(
                "{}:{}",
                shims.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("CARGO_INSTALL_ROOT", &root)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .output()
        .context("run the install block")?;
    ensure!(
        out.status.success(),
        "the README's install block failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    let installed = root.join("bin/mailsigd");
    ensure!(installed.is_file(), "no {}", installed.display());
    let version = Command::new(&installed).arg("--version").output()?;
    ensure!(
        version.status.success()
            && text(&version.stdout).contains(concat!("mailsigd ", env!("CARGO_PKG_VERSION"))),
        "{}: {}",
        text(&version.stdout),
        text(&version.stderr)
    );
    // And it is a working installation tool, not just a binary that prints a version.
    let home = scratch.path().join("home");
    std::fs::create_dir(&home)?;
    let init = Command::new(&installed)
        .arg("init")
        .current_dir(&home)
        .env_remove("RUST_LOG")
        .env_remove("MAILSIG_CONFIG")
        .output()?;
    ensure!(init.status.success(), "{}", text(&init.stderr));
    ensure!(home.join("mailsig.toml").is_file() && home.join("mailsig-data/master.key").is_file());
    Ok(())
}
