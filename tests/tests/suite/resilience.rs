//! The resilience suite in CI size: the `resilience` binary (src/bin/resilience.rs)
//! with 3 real `mailsigd` replicas on a private PostgreSQL and a private Dovecot, mail APPENDed
//! while replicas are SIGKILLed and restarted, a Dovecot crash, a PostgreSQL restart and an SMTP
//! outage, and Microsoft 365 mailboxes on the Graph emulator through a 503/429 storm; it must
//! end with 0 lost, 0 duplicated, every notification sent (none left held by a killed
//! replica's claim), every failover within 30 s and never more than 4 Graph calls of one
//! mailbox at once. The full size (2,000 + 400 messages, 50 + 10 mailboxes, 20 kills) is
//! `scripts/resilience.sh`.
//!
//! The replicas are `target/debug/mailsigd` built with the tests crate (the binary runs
//! `cargo build -p mailsig-tests -p mailsig-daemon …`, so the daemon has the `graph-test-util`
//! feature the emulator needs; a binary without it is refused with a message).
//!
//! `MAILSIG_RESILIENCE_ARGS` replaces the arguments (e.g. `--seed 42` to replay a failure).

use std::process::Command;

use anyhow::{Context, Result, ensure};

#[test]
fn replicas_lose_and_duplicate_nothing_under_kills_and_server_restarts() -> Result<()> {
    mailsig_tests::servers::TestEnv::from_env()?;
    let args = std::env::var("MAILSIG_RESILIENCE_ARGS")
        .unwrap_or_else(|_| {
            "--messages 400 --mailboxes 20 --replicas 3 --kills 6 --seconds 60 --graph-mailboxes 4 --graph-messages 80"
                .to_owned()
        });
    let output = Command::new(env!("CARGO_BIN_EXE_resilience"))
        .args(args.split_whitespace())
        .output()
        .context("run the resilience binary")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    ensure!(
        output.status.success(),
        "resilience run failed ({}); the seed is printed above",
        output.status
    );
    ensure!(
        stdout.contains("lost 0  duplicated 0  unexpected 0"),
        "summary missing or wrong"
    );
    Ok(())
}
