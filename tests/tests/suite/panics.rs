//! Panic isolation, on the real `mailsigd` binary (a debug build, whose test-only fault
//! injection is driven by `MAILSIG_TEST_PANIC_*`, see `daemon/src/pipeline/fault_injection.rs`)
//! and the real Dovecot: a panic in the signature engine skips that one message with reason
//! `engine_error`, marks it processed (it is not fetched again after a restart) and logs only a
//! location, never the panic's message (which quotes the mail); a panic in an IMAP watcher
//! restarts the watcher, which then processes new mail. The daemon keeps running throughout.

use crate::ops_support;
use crate::pipeline_support;

use std::time::Duration;

use anyhow::{Result, ensure};
use mailsig_tests::servers::TestEnv;
use ops_support::{Daemon, OpsConfig, link_imap_mailbox};
use pipeline_support::{Mail, signed_mail, unique_id};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_panic_skips_one_message_logs_a_location_and_the_daemon_goes_on() -> Result<()> {
    let env = TestEnv::from_env()?;
    let canary = format!("CANARY{:016x}", rand::random::<u64>());
    let mut config = OpsConfig::new()?;
    config.log_level = "debug".to_owned();
    let mut daemon = Daemon::init(config)?;
    let user = link_imap_mailbox(&daemon)?;
    let env_vars = [("MAILSIG_TEST_PANIC_MARKER", canary.as_str())];
    daemon.start(&env_vars).await?;

    let sig = "Best regards,\nGina Hale\nHead of Procurement\nCanary Trading GmbH\nTel. +49 30 12345678\n";
    let poison = Mail {
        from: "Gina Hale <gina@canary-partner.example>",
        subject: &format!("Quote {canary}"),
        message_id: &unique_id("poison"),
        body: &format!("Hello,\n\nthe quote {canary} is attached.\n"),
        signature: sig,
        extra_headers: &[],
    }
    .bytes();
    env.imap().append(&user, "INBOX", &poison).await?;
    let good = signed_mail(
        "Paul Good",
        "paul",
        "good-partner.example",
        &unique_id("good"),
    );
    env.imap().append(&user, "INBOX", &good).await?;

    daemon
        .wait_for_metric(
            "mailsig_messages_skipped_total{reason=\"engine_error\"}",
            1.0,
            WAIT,
        )
        .await?;
    daemon
        .wait_for_metric("mailsig_suggestions_created_total", 1.0, WAIT)
        .await?;
    ensure!(daemon.is_running(), "mailsigd stopped after the panic");
    let panic_line = daemon
        .wait_for_log("about the panic", WAIT, |l| l.contains("panic caught"))
        .await?;
    ensure!(
        panic_line.contains("fault_injection.rs"),
        "no location in: {panic_line}"
    );
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    // Nor the store: no file of the data dir (database, WAL, SHM) holds the poisoned mail,
    // while the good message's contact is there (the search works).
    let mut stored = Vec::new();
    crate::privacy_matrix::files_under(&daemon.data_dir, "data dir", &mut stored)?;
    ensure!(
        stored.iter().any(|s| s.contains("Paul Good")),
        "no stored file holds the good message's contact: the search proves nothing"
    );
    for surface in &stored {
        ensure!(
            !surface.contains(&canary),
            "the poisoned mail reached {}",
            surface.name
        );
    }
    let first_run = daemon.logs();
    for line in &first_run {
        ensure!(!line.contains(&canary), "the mail reached the logs: {line}");
        ensure!(
            !line.contains("injected engine panic"),
            "the panic's message reached the logs: {line}"
        );
    }

    // After a restart the poisoned message is not offered again: a later message is processed
    // (the watcher goes in UID order) and no panic happens.
    daemon.start(&env_vars).await?;
    let later = signed_mail(
        "Lara Later",
        "lara",
        "later-partner.example",
        &unique_id("later"),
    );
    env.imap().append(&user, "INBOX", &later).await?;
    daemon
        .wait_for_metric("mailsig_suggestions_created_total", 1.0, WAIT)
        .await?;
    let metrics = daemon.metrics().await?;
    ensure!(
        ops_support::sample(
            &metrics,
            "mailsig_messages_skipped_total{reason=\"engine_error\"}"
        ) == Some(0.0),
        "the poisoned message was processed again:\n{metrics}"
    );
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    let panics = daemon
        .logs()
        .iter()
        .filter(|l| l.contains("panic caught"))
        .count();
    ensure!(
        panics == 1,
        "{panics} panics over both runs, expected the first one only"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_an_imap_watcher_restarts_it() -> Result<()> {
    let env = TestEnv::from_env()?;
    let mut config = OpsConfig::new()?;
    config.log_level = "debug".to_owned();
    let mut daemon = Daemon::init(config)?;
    let user = link_imap_mailbox(&daemon)?;
    daemon
        .start(&[("MAILSIG_TEST_PANIC_WATCHER", "INBOX")])
        .await?;
    daemon
        .wait_for_log("about the restart", WAIT, |l| {
            l.contains("imap watcher panicked; restarting it")
        })
        .await?;
    // The first session panicked right after its login, so a ready watcher is the restarted one
    // (mail that arrives before it is ready would be before its starting point: no backfill).
    daemon
        .wait_for_log("of the restarted watcher", WAIT, |l| {
            l.contains("imap watcher ready")
        })
        .await?;
    let mail = signed_mail(
        "Paul Good",
        "paul",
        "good-partner.example",
        &unique_id("watcher"),
    );
    env.imap().append(&user, "INBOX", &mail).await?;
    daemon
        .wait_for_metric("mailsig_suggestions_created_total", 1.0, WAIT)
        .await?;
    ensure!(daemon.is_running(), "mailsigd stopped after the panic");
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    for line in daemon.logs() {
        ensure!(
            !line.contains("injected watcher panic"),
            "the panic's message reached the logs: {line}"
        );
    }
    Ok(())
}
