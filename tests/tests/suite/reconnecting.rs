//! A mailbox's status tells the truth during an outage, on the real `mailsigd` binary: when its
//! IMAP server goes away, `mailsigd mailbox show` and the API say "reconnecting since T
//! (reason)", with a fixed sentence for the reason (never the server's text); when the server
//! comes back, both stop saying so.

use crate::ops_support;
use crate::pipeline_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use mailsig_tests::hostile_imap::{Behaviour, HostileImap};
use ops_support::{Daemon, OpsConfig, link_hostile_mailbox};
use pipeline_support::{Mail, unique_id};

const WAIT: Duration = Duration::from_secs(90);

fn behaviour() -> Behaviour {
    let message_id = unique_id("reconnecting");
    let message = Mail {
        from: "Ada Lovelace <ada@analytical.example>",
        subject: "Hello",
        message_id: &message_id,
        body: "Hello,\n\nsee you soon.\n",
        signature: "Best regards,\nAda Lovelace\nAnalytical Engines Ltd\n",
        extra_headers: &[],
    }
    .bytes();
    // No folder list: a plain, well-behaved server.
    Behaviour::ManyFolders {
        folders: 0,
        message,
    }
}

/// Runs `mailsigd mailbox show` until its output satisfies `done`, and returns that output.
async fn wait_for_show(
    daemon: &Daemon,
    mailbox: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let shown = daemon.cli(&["mailbox", "show", mailbox], None)?;
        if done(&shown) {
            return Ok(shown);
        }
        ensure!(
            Instant::now() < deadline,
            "`mailbox show` did not show {what} within {WAIT:?}:\n{shown}\nlogs:\n{}",
            daemon.logs_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET path` with a bearer token, as JSON.
async fn api_get(daemon: &Daemon, token: &str, path: &str) -> Result<serde_json::Value> {
    let url = format!("http://{}{path}", daemon.config.listen);
    let reply = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    ensure!(
        reply.status().is_success(),
        "GET {path}: {}",
        reply.status()
    );
    Ok(reply.json().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_shows_reconnecting_since_with_a_fixed_reason_until_the_server_is_back()
-> Result<()> {
    let server = HostileImap::start(behaviour()).await?;
    let port = server.port();
    let mut config = OpsConfig::new()?;
    // The server offers no IDLE: the watcher notices an outage at its next NOOP.
    config.imap_extra = "poll_interval = \"10s\"".to_owned();
    let mut daemon = Daemon::init(config)?;
    let linked = link_hostile_mailbox(&daemon, port, "outage-pw", &[])?;
    let mailbox = linked
        .split_whitespace()
        .next()
        .context("mailbox id")?
        .to_owned();
    let owner = daemon
        .cli(&["mailbox", "show", &mailbox], None)?
        .lines()
        .find_map(|l| l.strip_prefix("owner: "))
        .context("owner")?
        .to_owned();
    let token = daemon.cli(&["token", "create", "--user", &owner, "--label", "t"], None)?;
    let token = token.trim().to_owned();
    daemon.start(&[]).await?;
    daemon
        .wait_for_metric("mailsig_imap_committed_total", 1.0, WAIT)
        .await?;
    let healthy = daemon.cli(&["mailbox", "show", &mailbox], None)?;
    ensure!(!healthy.contains("reconnecting"), "{healthy}");

    // The outage: the server and its connections go away.
    drop(server);
    let shown = wait_for_show(&daemon, &mailbox, "reconnecting", |s| {
        s.contains("reconnecting: since ")
    })
    .await?;
    let line = shown
        .lines()
        .find(|l| l.starts_with("reconnecting: "))
        .unwrap_or_default();
    ensure!(
        line.contains("(IMAP connection lost)") || line.contains("(IMAP server unreachable)"),
        "no fixed reason: {line}"
    );
    ensure!(shown.contains("status: ok"), "{shown}");

    let path = format!("/api/v1/mailboxes/{mailbox}");
    let view = api_get(&daemon, &token, &path).await?;
    let status = api_get(&daemon, &token, &format!("{path}/status")).await?;
    for json in [&view, &status] {
        ensure!(json["reconnecting_since"].is_i64(), "{json}");
        let reason = json["reconnecting_reason"].as_str().unwrap_or_default();
        ensure!(
            reason == "IMAP connection lost" || reason == "IMAP server unreachable",
            "{json}"
        );
    }

    // The server comes back on the same port: the next session clears the mark.
    let _back = HostileImap::start_on(port, behaviour()).await?;
    wait_for_show(&daemon, &mailbox, "no reconnecting", |s| {
        !s.contains("reconnecting")
    })
    .await?;
    let view = api_get(&daemon, &token, &path).await?;
    ensure!(
        view["reconnecting_since"].is_null() && view["reconnecting_reason"].is_null(),
        "{view}"
    );
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    Ok(())
}
