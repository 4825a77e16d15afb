//! Configuration reload (SIGHUP) of the real `mailsigd` binary: a changed configuration takes
//! effect in the running daemon (a newly excluded domain filters the next message, the log
//! level changes), systemd hears `RELOADING=1` … `READY=1`, an invalid configuration is refused
//! while the daemon keeps running on the old one, and settings that need a restart are named.

use crate::ops_support;
use crate::pipeline_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_tests::servers::TestEnv;
use ops_support::{Daemon, OpsConfig, http_get, link_imap_mailbox, sample};
use pipeline_support::{signed_mail, unique_id};

const WAIT: Duration = Duration::from_secs(60);

/// The reload notifications: `RELOADING=1` with `MONOTONIC_USEC`, then `READY=1`.
fn assert_reload_notified(notifications: &[String]) -> Result<()> {
    let reloading = notifications
        .iter()
        .position(|n| {
            n.lines().any(|l| l == "RELOADING=1")
                && n.lines().any(|l| l.starts_with("MONOTONIC_USEC="))
        })
        .with_context(|| format!("no RELOADING=1 with MONOTONIC_USEC in {notifications:?}"))?;
    ensure!(
        notifications[reloading..].iter().any(|n| n == "READY=1"),
        "no READY=1 after RELOADING=1 in {notifications:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_applies_a_new_excluded_domain_and_log_level_to_the_running_daemon() -> Result<()>
{
    let env = TestEnv::from_env()?;
    let mut daemon = Daemon::init(OpsConfig::new()?)?;
    let user = link_imap_mailbox(&daemon)?;
    daemon.start(&[]).await?;
    let started = daemon.notifications();
    ensure!(
        started.iter().any(|n| n == "READY=1"),
        "no READY=1 at start: {started:?}"
    );

    // Before the reload: a message from blocked.example becomes a suggestion.
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail("Anna Berger", "anna", "blocked.example", &unique_id("r1")),
        )
        .await?;
    daemon
        .wait_for_metric("mailsig_suggestions_created_total", 1.0, WAIT)
        .await?;
    ensure!(
        !daemon
            .logs()
            .iter()
            .any(|l| l.contains("\"level\":\"DEBUG\"")),
        "debug lines at level info:\n{}",
        daemon.logs_text()
    );

    daemon.config.excluded_domains = vec!["blocked.example".to_owned()];
    daemon.config.log_level = "debug".to_owned();
    daemon.write_config()?;
    daemon.signal("HUP")?;
    let line = daemon
        .wait_for_log("configuration reloaded", WAIT, |l| {
            l.contains("configuration reloaded")
        })
        .await?;
    ensure!(
        line.contains("filters") && line.contains("log.level"),
        "applied list: {line}"
    );
    // The new level is in force: the reload's own debug line got through.
    daemon
        .wait_for_log("at debug level", WAIT, |l| {
            l.contains("\"level\":\"DEBUG\"")
        })
        .await?;
    assert_reload_notified(&daemon.notifications())?;

    // After the reload: the next message from blocked.example is skipped, another domain is not.
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail("Anna Berger", "anna", "blocked.example", &unique_id("r2")),
        )
        .await?;
    daemon
        .wait_for_metric(
            "mailsig_messages_skipped_total{reason=\"excluded_domain\"}",
            1.0,
            WAIT,
        )
        .await?;
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_mail("Carl Dorn", "carl", "allowed.example", &unique_id("r3")),
        )
        .await?;
    daemon
        .wait_for_metric("mailsig_suggestions_created_total", 2.0, WAIT)
        .await?;

    let metrics = daemon.metrics().await?;
    ensure!(
        sample(&metrics, "mailsig_suggestions_created_total") == Some(2.0),
        "{metrics}"
    );
    ensure!(
        sample(&metrics, "mailsig_config_reloads_total{result=\"ok\"}") == Some(1.0),
        "{metrics}"
    );
    ensure!(
        sample(&metrics, "mailsig_config_last_reload_successful") == Some(1.0),
        "{metrics}"
    );
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_configuration_is_refused_and_the_daemon_runs_on_the_old_one() -> Result<()> {
    let mut daemon = Daemon::init(OpsConfig::new()?)?;
    daemon.start(&[]).await?;
    daemon.notifications();

    // Invalid: zero workers. And unparseable TOML. Neither stops the daemon.
    for (n, (broken, named)) in [
        ("[pipeline]\nworkers = 0\n", "pipeline.workers"),
        ("this is = = not toml\n", "TOML parse error"),
    ]
    .into_iter()
    .enumerate()
    {
        daemon.write_config_text(broken)?;
        daemon.signal("HUP")?;
        daemon
            .wait_for_metric(
                "mailsig_config_reloads_total{result=\"failed\"}",
                (n + 1) as f64,
                WAIT,
            )
            .await?;
        let refused = daemon
            .wait_for_log(named, WAIT, |l| {
                l.contains("configuration reload refused") && l.contains(named)
            })
            .await?;
        ensure!(refused.contains("\"level\":\"ERROR\""), "{refused}");
    }
    ensure!(
        daemon.is_running(),
        "mailsigd died on a bad reload:\n{}",
        daemon.logs_text()
    );
    let (status, _) = http_get(daemon.config.listen, "/healthz").await?;
    ensure!(status == 200, "healthz {status} after a refused reload");
    let metrics = daemon.metrics().await?;
    ensure!(
        sample(&metrics, "mailsig_config_last_reload_successful") == Some(0.0),
        "{metrics}"
    );
    ensure!(
        sample(&metrics, "mailsig_config_reloads_total{result=\"ok\"}") == Some(0.0),
        "{metrics}"
    );
    assert_reload_notified(&daemon.notifications())?;

    // A valid file again, with a new listen address: applied, but the address needs a restart
    // and the daemon still serves on the old one.
    let old_listen = daemon.config.listen;
    let mut moved = daemon.config.clone();
    moved.listen.set_port(mailsig_tests::servers::free_port()?);
    moved.retention_days = 7;
    daemon.write_config_text(&moved.to_toml(&daemon.data_dir))?;
    daemon.signal("HUP")?;
    let restart = daemon
        .wait_for_log("needs restart", WAIT, |l| l.contains("need restart"))
        .await?;
    ensure!(restart.contains("http.listen"), "{restart}");
    let reloaded = daemon
        .wait_for_log("configuration reloaded", WAIT, |l| {
            l.contains("configuration reloaded")
        })
        .await?;
    ensure!(reloaded.contains("retention.days"), "{reloaded}");
    ensure!(
        http_get(old_listen, "/healthz").await?.0 == 200,
        "the old address stopped serving"
    );
    ensure!(
        http_get(moved.listen, "/healthz").await.is_err(),
        "the new address serves without a restart"
    );
    let metrics = daemon.metrics().await?;
    ensure!(
        sample(&metrics, "mailsig_config_last_reload_successful") == Some(1.0),
        "{metrics}"
    );
    // The retention purge ran again with the new value.
    daemon
        .wait_for_log("purge with 7 days", WAIT, |l| {
            l.contains("retention purge done") && l.contains("\"retention_days\":7")
        })
        .await?;
    ensure!(daemon.stop()? == Some(0), "mailsigd did not exit cleanly");
    Ok(())
}
