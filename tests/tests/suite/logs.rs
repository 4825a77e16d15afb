//! The log output of the real `mailsigd` binary: `[log] format = "auto"` writes one JSON object
//! per line into a pipe (Docker, log shippers) and journald's priority-prefixed lines when
//! stderr is the journal stream named by `$JOURNAL_STREAM`; and at debug level, with a message
//! carrying a canary in its subject and body processed end to end, no line holds the canary or
//! the sender's address.

use crate::ops_support;
use crate::pipeline_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_tests::servers::TestEnv;
use ops_support::{Daemon, OpsConfig, link_imap_mailbox};
use pipeline_support::{Mail, signature, unique_id};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_format_is_json_in_a_pipe_and_no_mail_content_reaches_the_logs() -> Result<()> {
    let env = TestEnv::from_env()?;
    let mut config = OpsConfig::new()?;
    config.log_format = "auto";
    config.log_level = "debug".to_owned();
    let mut daemon = Daemon::init(config)?;
    let user = link_imap_mailbox(&daemon)?;
    daemon.start(&[]).await?;

    let canary = format!("CANARY{:016x}", rand::random::<u64>());
    let sender = format!("gina.{}@canary-partner.example", rand::random::<u32>());
    let from = format!("Gina Hale <{sender}>");
    let subject = format!("Quote {canary}");
    let body = format!("Hello,\n\nthe quote {canary} is attached.\n");
    let sig = signature("Gina Hale", "Canary Partner GmbH", "canary-partner.example");
    let message_id = unique_id("logs");
    let raw = Mail {
        from: &from,
        subject: &subject,
        message_id: &message_id,
        body: &body,
        signature: &sig,
        extra_headers: &[],
    };
    env.imap().append(&user, "INBOX", &raw.bytes()).await?;
    daemon
        .wait_for_metric("mailsig_messages_processed_total", 1.0, WAIT)
        .await?;
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");

    let lines = daemon.logs();
    ensure!(
        lines.iter().any(|l| l.contains("mailsigd started")),
        "no start line:\n{}",
        lines.join("\n")
    );
    ensure!(
        lines.iter().any(|l| l.contains("\"level\":\"DEBUG\"")),
        "debug level not in force"
    );
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("not a JSON log line: {line:?}"))?;
        ensure!(
            value.get("level").is_some() && value.get("timestamp").is_some(),
            "JSON line without level or timestamp: {line}"
        );
        ensure!(
            !line.contains(&canary),
            "the canary reached the logs: {line}"
        );
        ensure!(
            !line.contains(&sender),
            "the sender's address reached the logs: {line}"
        );
        ensure!(
            !line.contains(&user.password),
            "the IMAP password reached the logs: {line}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_format_is_journald_when_stderr_is_the_journal_stream() -> Result<()> {
    let mut config = OpsConfig::new()?;
    config.log_format = "auto";
    let mut daemon = Daemon::init(config)?;
    let path = daemon.dir.path().join("journal-stream.log");
    daemon
        .start_logging_to(&path, &[("JOURNAL_STREAM", "{journal}")])
        .await?;
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    let lines = daemon.logs();
    ensure!(
        lines
            .iter()
            .any(|l| l.starts_with("<6>") && l.contains("mailsigd started")),
        "no journald start line:\n{}",
        lines.join("\n")
    );
    for line in &lines {
        let priority_ok = line.len() > 3
            && line.starts_with('<')
            && line.as_bytes()[2] == b'>'
            && (b'0'..=b'7').contains(&line.as_bytes()[1]);
        ensure!(
            priority_ok,
            "line without a syslog priority prefix: {line:?}"
        );
        ensure!(!line.starts_with("{"), "JSON under journald: {line}");
    }

    // The same variable naming another stream (inherited by a child, say) is not the journal.
    let mut config = OpsConfig::new()?;
    config.log_format = "auto";
    let mut other = Daemon::init(config)?;
    let path = other.dir.path().join("not-the-journal.log");
    other
        .start_logging_to(&path, &[("JOURNAL_STREAM", "1:1")])
        .await?;
    ensure!(other.stop()? == Some(0), "mailsigd did not exit cleanly");
    let lines = other.logs();
    ensure!(
        !lines.is_empty() && lines.iter().all(|l| l.starts_with('{')),
        "expected JSON lines:\n{}",
        lines.join("\n")
    );
    Ok(())
}
