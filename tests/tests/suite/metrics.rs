//! `/metrics` of the real `mailsigd` binary after it processed a message from a real IMAP
//! mailbox: the whole exposition passes a strict format check (a malformed line fails the
//! test), and the operations metrics are there and moved: per-source lag histogram,
//! IMAP connections by state, vault operations, suggestions, outbox depth, Graph families.

use crate::ops_support;
use crate::pipeline_support;

use std::time::Duration;

use anyhow::{Result, ensure};
use mailsig_tests::exposition_check::check_exposition;
use mailsig_tests::servers::TestEnv;
use ops_support::{Daemon, OpsConfig, link_imap_mailbox, sample};
use pipeline_support::{signed_mail, unique_id};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_is_well_formed_and_follows_a_processed_imap_message() -> Result<()> {
    let env = TestEnv::from_env()?;
    let mut daemon = Daemon::init(OpsConfig::new()?)?;
    let user = link_imap_mailbox(&daemon)?;
    daemon.start(&[]).await?;

    let idle = daemon.metrics().await?;
    check_exposition(&idle).map_err(anyhow::Error::msg)?;
    ensure!(
        sample(&idle, "mailsig_source_lag_seconds_count{source=\"imap\"}") == Some(0.0),
        "{idle}"
    );

    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail("Erik Falk", "erik", "metrics.example", &unique_id("m1")),
        )
        .await?;
    daemon
        .wait_for_metric("mailsig_suggestions_created_total", 1.0, WAIT)
        .await?;
    // The lag is observed right after the commit is acknowledged to the watcher.
    daemon
        .wait_for_metric(
            "mailsig_source_lag_seconds_count{source=\"imap\"}",
            1.0,
            WAIT,
        )
        .await?;

    let body = daemon.metrics().await?;
    check_exposition(&body).map_err(anyhow::Error::msg)?;
    let value = |series: &str| sample(&body, series);
    // The message was appended a moment ago: its lag is well under a minute.
    ensure!(
        value("mailsig_source_lag_seconds_bucket{source=\"imap\",le=\"60\"}") == Some(1.0),
        "{body}"
    );
    ensure!(
        value("mailsig_source_lag_seconds_bucket{source=\"imap\",le=\"+Inf\"}") == Some(1.0),
        "{body}"
    );
    ensure!(
        value("mailsig_source_lag_seconds_sum{source=\"imap\"}")
            .is_some_and(|s| (0.0..60.0).contains(&s)),
        "{body}"
    );
    ensure!(
        value("mailsig_source_lag_seconds_count{source=\"graph\"}") == Some(0.0),
        "{body}"
    );
    ensure!(
        value("mailsig_messages_processed_total") == Some(1.0),
        "{body}"
    );
    ensure!(
        value("mailsig_imap_connections{state=\"logged_in\"}").is_some_and(|n| n >= 1.0),
        "{body}"
    );
    ensure!(
        value("mailsig_imap_watched_mailboxes") == Some(1.0),
        "{body}"
    );
    ensure!(value("mailsig_imap_committed_total") == Some(1.0), "{body}");
    // The daemon opened the mailbox's sealed password once at start; nothing failed.
    ensure!(
        value("mailsig_vault_operations_total{operation=\"open\",result=\"ok\"}")
            .is_some_and(|n| n >= 1.0),
        "{body}"
    );
    ensure!(
        value("mailsig_vault_operations_total{operation=\"open\",result=\"failed\"}") == Some(0.0),
        "{body}"
    );
    ensure!(
        value("mailsig_outbox_depth{status=\"failed\"}") == Some(0.0),
        "{body}"
    );
    ensure!(
        value("mailsig_graph_webhook_latency_seconds_count") == Some(0.0),
        "{body}"
    );
    ensure!(
        body.contains("# TYPE mailsig_graph_subscriptions gauge\n"),
        "{body}"
    );
    ensure!(value("mailsig_store_up") == Some(1.0), "{body}");
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    Ok(())
}
