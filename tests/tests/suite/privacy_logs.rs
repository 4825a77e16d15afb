//! The log policy, tested on the real `mailsigd` binary: with every target at TRACE (through
//! `RUST_LOG`, or through `[log] level` applied by a SIGHUP reload), in text and in JSON, a
//! message fetched from the real Dovecot leaves neither its content nor the mailbox's password
//! in any log line; and a hostile IMAP server whose FETCH response cannot be parsed (after it
//! has sent the whole message) does not get the message into the log at the default level.

use crate::ops_support;
use crate::pipeline_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_tests::hostile_imap::{Behaviour, HostileImap};
use mailsig_tests::servers::{MailUser, TestEnv};
use ops_support::{Daemon, OpsConfig, link_hostile_mailbox, link_imap_mailbox};
use pipeline_support::{Mail, unique_id};

const WAIT: Duration = Duration::from_secs(60);

/// A message with a canary in its subject, body, quoted history and signature, from a sender
/// whose address is unique too.
struct CanaryMail {
    canary: String,
    sender: String,
    bytes: Vec<u8>,
}

impl CanaryMail {
    fn new() -> CanaryMail {
        let canary = format!("CANARY{:016x}", rand::random::<u64>());
        let sender = format!("gina.{:08x}@canary-partner.example", rand::random::<u32>());
        let from = format!("Gina Hale <{sender}>");
        let subject = format!("Quote {canary}");
        let body = format!(
            "Hello,\n\nthe quote {canary} is attached.\n\n\
             On Mon, 16 Nov 2026 Owner wrote:\n> Could you send the quote {canary}-quoted?\n"
        );
        let signature = format!(
            "Best regards,\nGina Hale\nHead of Procurement\n{canary} Trading GmbH\n\
             Tel. +49 30 12345678\nhttps://www.canary-partner.example\n"
        );
        let message_id = unique_id("privacy-logs");
        let bytes = Mail {
            from: &from,
            subject: &subject,
            message_id: &message_id,
            body: &body,
            signature: &signature,
            extra_headers: &[],
        }
        .bytes();
        CanaryMail {
            canary,
            sender,
            bytes,
        }
    }
}

/// Fails with the offending line when any line holds one of `needles`.
fn assert_absent(lines: &[String], needles: &[(&str, &str)]) -> Result<()> {
    for line in lines {
        for (what, needle) in needles {
            ensure!(!line.contains(needle), "{what} reached the logs: {line}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_trace_in_text_leaks_neither_the_password_nor_the_mail() -> Result<()> {
    let env = TestEnv::from_env()?;
    let mut config = OpsConfig::new()?;
    config.log_format = "text";
    let mut daemon = Daemon::init(config)?;
    let user = link_imap_mailbox(&daemon)?;
    daemon.start(&[("RUST_LOG", "trace")]).await?;

    deliver_a_canary_then_search_the_log(&env, &mut daemon, &user, "RUST_LOG=trace", |l| {
        l.contains("DEBUG") || l.contains("TRACE")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_level_set_by_a_reload_in_json_leaks_neither_the_password_nor_the_mail() -> Result<()>
{
    let env = TestEnv::from_env()?;
    let mut config = OpsConfig::new()?;
    config.log_format = "json";
    let mut daemon = Daemon::init(config)?;
    let user = link_imap_mailbox(&daemon)?;
    daemon.start(&[]).await?;

    // Every target at TRACE, and the dependencies that log credentials and content named
    // explicitly: the reload must not let any of them through.
    daemon.config.log_level = "trace,async_imap=trace,imap_proto=trace,html5ever=trace,\
                               rlibphonenumber=trace,mail_parser=trace,rustls=trace,sqlx=trace"
        .to_owned();
    daemon.write_config()?;
    daemon.signal("HUP")?;
    daemon
        .wait_for_log("of a reload", WAIT, |l| {
            l.contains("configuration reloaded")
        })
        .await?;

    deliver_a_canary_then_search_the_log(
        &env,
        &mut daemon,
        &user,
        "the reloaded trace level",
        |l| l.contains("\"level\":\"DEBUG\"") || l.contains("\"level\":\"TRACE\""),
    )
    .await
}

/// Delivers a canary mail to `user`, waits until the daemon has processed it and stops it, then
/// checks that the verbose level was in force (some line is `verbose`) and that neither the IMAP
/// password nor anything of the mail reached the log.
async fn deliver_a_canary_then_search_the_log(
    env: &TestEnv,
    daemon: &mut Daemon,
    user: &MailUser,
    level: &str,
    verbose: impl Fn(&str) -> bool,
) -> Result<()> {
    let mail = CanaryMail::new();
    env.imap().append(user, "INBOX", &mail.bytes).await?;
    daemon
        .wait_for_metric("mailsig_messages_processed_total", 1.0, WAIT)
        .await?;
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");

    let lines = daemon.logs();
    ensure!(
        lines.iter().any(|l| verbose(l)),
        "{level} not in force:\n{}",
        lines.join("\n")
    );
    assert_absent(
        &lines,
        &[
            ("the IMAP password", &user.password),
            ("the mail's canary", &mail.canary),
            ("the sender's address", &mail.sender),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_fetch_response_does_not_bring_the_mail_into_the_log() -> Result<()> {
    let mail = CanaryMail::new();
    let hostile = HostileImap::start(Behaviour::UnparsableFetchItem {
        message: mail.bytes.clone(),
    })
    .await?;
    let mut config = OpsConfig::new()?;
    config.log_level = "debug".to_owned();
    let mut daemon = Daemon::init(config)?;
    link_hostile_mailbox(&daemon, hostile.port(), "hostile-secret-pw", &[])?;
    daemon.start(&[]).await?;

    let reconnect = daemon
        .wait_for_log("about the failed fetch", WAIT, |l| {
            l.contains("imap session ended, reconnecting")
        })
        .await
        .with_context(|| format!("commands received: {:?}", hostile.commands()))?;
    ensure!(hostile.body_fetches() >= 1, "the body was never fetched");
    ensure!(daemon.is_running(), "mailsigd stopped");
    let peak_mib = daemon.peak_rss_kib()? as f64 / 1024.0;
    eprintln!("peak RSS with an unparsable FETCH item: {peak_mib:.1} MiB");
    ensure!(
        peak_mib < crate::hostile_servers::PEAK_RSS_BOUND_MIB as f64,
        "peak RSS {peak_mib:.1} MiB over {} MiB",
        crate::hostile_servers::PEAK_RSS_BOUND_MIB
    );
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    assert_absent(
        &daemon.logs(),
        &[
            ("the mail's canary", &mail.canary),
            ("the sender's address", &mail.sender),
            ("the hostile server's item", "X-HOSTILE-ITEM"),
            ("the IMAP password", "hostile-secret-pw"),
        ],
    )?;
    // Nor the store (the mailbox's status and reason live there): the mailbox's address is
    // found, so the search works.
    let mut stored = Vec::new();
    crate::privacy_matrix::files_under(&daemon.data_dir, "data dir", &mut stored)?;
    ensure!(
        stored.iter().any(|s| s.contains("victim@hostile.example")),
        "no stored file holds the mailbox: the search proves nothing"
    );
    for (what, needle) in [
        ("the mail's canary", mail.canary.as_str()),
        ("the sender's address", mail.sender.as_str()),
        ("the hostile server's item", "X-HOSTILE-ITEM"),
        ("the IMAP password", "hostile-secret-pw"),
    ] {
        for surface in &stored {
            ensure!(!surface.contains(needle), "{what} in {}", surface.name);
        }
    }
    ensure!(
        reconnect.contains("protocol") && reconnect.contains("cannot be parsed"),
        "no fixed reason in: {reconnect}"
    );
    Ok(())
}
