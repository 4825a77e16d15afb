//! The IMAP watcher against hostile servers, on the real `mailsigd` binary: a server that lies
//! about a message's size and streams a huge literal, one that pushes 50,000 folders at the
//! client, one that trickles a byte now and then, and one that sends a line without end. Each
//! scenario runs next to a mailbox on the real Dovecot in the same daemon, which must keep being
//! processed; the daemon must end each fault with a fixed reason (never the server's text) and
//! stay within [`PEAK_RSS_BOUND_MIB`] of resident memory (its `VmHWM`, printed for
//! BENCHMARKS.md).

use crate::ops_support;
use crate::pipeline_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_tests::hostile_imap::{Behaviour, HostileImap};
use mailsig_tests::servers::{MailUser, TestEnv};
use ops_support::{Daemon, OpsConfig, link_hostile_mailbox, link_imap_mailbox, sample};
use pipeline_support::{Mail, unique_id};

const WAIT: Duration = Duration::from_secs(120);
const MIB: u64 = 1024 * 1024;
/// The daemon's peak resident memory in every scenario stays below this. The message size limit
/// is 25 MiB (the default); without the framing limits, a lying server makes the daemon reserve
/// whatever literal it announces, up to 512 MiB.
pub(crate) const PEAK_RSS_BOUND_MIB: u64 = 160;

/// A daemon watching one mailbox on the real Dovecot and one on a hostile server.
struct Rig {
    env: TestEnv,
    daemon: Daemon,
    hostile: HostileImap,
    user: MailUser,
}

impl Rig {
    /// `imap_keys`: extra `[imap]` configuration lines.
    async fn start(behaviour: Behaviour, imap_keys: &str) -> Result<Rig> {
        let env = TestEnv::from_env()?;
        let hostile = HostileImap::start(behaviour).await?;
        let mut config = OpsConfig::new()?;
        config.imap_extra = imap_keys.to_owned();
        let mut daemon = Daemon::init(config)?;
        let user = link_imap_mailbox(&daemon)?;
        link_hostile_mailbox(&daemon, hostile.port(), "hostile-secret-pw", &[])?;
        daemon.start(&[]).await?;
        Ok(Rig {
            env,
            daemon,
            hostile,
            user,
        })
    }

    async fn metric(&self, series: &str) -> Result<f64> {
        Ok(sample(&self.daemon.metrics().await?, series).unwrap_or(0.0))
    }

    /// Delivers a mail to the Dovecot mailbox and waits until the daemon has processed it.
    async fn legit_mail_is_processed(&self) -> Result<()> {
        let processed = "mailsig_messages_processed_total";
        let before = self.metric(processed).await?;
        let message_id = unique_id("hostile-neighbour");
        let bytes = Mail {
            from: "Ada Lovelace <ada@analytical.example>",
            subject: "Next week",
            message_id: &message_id,
            body: "Hello,\n\nsee you next week.\n",
            signature: "Best regards,\nAda Lovelace\nAnalytical Engines Ltd\nTel. +44 20 7946 0018\n",
            extra_headers: &[],
        }
        .bytes();
        self.env.imap().append(&self.user, "INBOX", &bytes).await?;
        self.daemon
            .wait_for_metric(processed, before + 1.0, WAIT)
            .await
            .context("the Dovecot mailbox's mail was not processed next to the hostile server")?;
        Ok(())
    }

    /// Waits for the watcher's reconnect line of `kind` and returns it.
    async fn reconnect_line(&self, kind: &str) -> Result<String> {
        let wanted = format!("\"kind\":\"{kind}\"");
        self.daemon
            .wait_for_log(&format!("of a reconnect ({kind})"), WAIT, |l| {
                l.contains("imap session ended, reconnecting") && l.contains(&wanted)
            })
            .await
            .with_context(|| format!("commands received: {:?}", self.hostile.commands()))
    }

    /// Waits until the commands the hostile server received satisfy `done`.
    async fn wait_for_commands(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Result<()> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let commands = self.hostile.commands();
            if done(&commands) {
                return Ok(());
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "no {what} within {WAIT:?}; commands: {commands:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Checks the daemon still runs, reads and prints its peak RSS, stops it, and checks the
    /// logs hold nothing the server sent.
    fn finish(mut self, scenario: &str, server_text: &[&str]) -> Result<()> {
        ensure!(self.daemon.is_running(), "mailsigd stopped");
        let peak_kib = self.daemon.peak_rss_kib()?;
        println!(
            "peak RSS of mailsigd, {scenario}: {:.1} MiB ({} connections, {:.1} MiB of body accepted)",
            peak_kib as f64 / 1024.0,
            self.hostile.connections(),
            self.hostile.body_bytes_sent() as f64 / MIB as f64,
        );
        ensure!(
            self.daemon.stop()? == Some(0),
            "mailsigd did not exit cleanly"
        );
        ensure!(
            peak_kib < PEAK_RSS_BOUND_MIB * 1024,
            "{scenario}: peak RSS {peak_kib} KiB, over {PEAK_RSS_BOUND_MIB} MiB"
        );
        for line in self.daemon.logs() {
            for text in server_text {
                ensure!(
                    !line.contains(text),
                    "the server's text reached the log: {line}"
                );
            }
        }
        Ok(())
    }
}

/// RFC822.SIZE says 2 KiB; the literal is `literal` bytes. The daemon must stop reading where the
/// literal is announced, count the message as too large, commit it so that it is never asked
/// for again, and go on with the Dovecot mailbox.
async fn size_lie(literal: u64) -> Result<()> {
    let rig = Rig::start(
        Behaviour::SizeLie {
            claimed: 2048,
            literal,
        },
        "",
    )
    .await?;
    let line = rig.reconnect_line("oversized").await?;
    ensure!(
        line.contains("larger than the size limit"),
        "no fixed reason in: {line}"
    );
    rig.daemon
        .wait_for_metric("mailsig_imap_too_large_total", 1.0, WAIT)
        .await?;
    rig.legit_mail_is_processed().await?;
    // The watcher came back after the fault and lists from after the message: its cursor moved
    // past it, so it is not asked for again.
    rig.wait_for_commands("a listing after the message", |commands| {
        commands.iter().any(|c| c.contains("UID FETCH 2:*"))
    })
    .await?;
    ensure!(
        rig.hostile.body_fetches() == 1,
        "the oversized message was fetched {} times",
        rig.hostile.body_fetches()
    );
    ensure!(
        rig.hostile.body_bytes_sent() < 64 * MIB,
        "the daemon read {} bytes of the literal",
        rig.hostile.body_bytes_sent()
    );
    rig.finish(
        &format!("size lie, {} MiB literal", literal / MIB),
        &["X-FILLER"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_lie_with_a_600_mib_literal_is_cut_at_the_announcement_and_not_refetched()
-> Result<()> {
    size_lie(600 * MIB).await
}

/// Under async-imap's own 512 MiB cap, the library would reserve the whole literal at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_lie_with_a_400_mib_literal_never_reaches_the_daemons_memory() -> Result<()> {
    size_lie(400 * MIB).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_folders_are_neither_watched_nor_buffered() -> Result<()> {
    let message_id = unique_id("hostile-folders");
    let message = Mail {
        from: "Grace Hopper <grace@compilers.example>",
        subject: "Folders",
        message_id: &message_id,
        body: "Hello,\n\nplease find the list attached.\n",
        signature: "Regards,\nGrace Hopper\nCompilers Inc.\nTel. +1 212 555 0175\n",
        extra_headers: &[],
    }
    .bytes();
    let rig = Rig::start(
        Behaviour::ManyFolders {
            folders: 50_000,
            message,
        },
        "max_folders_per_mailbox = 20",
    )
    .await?;

    // Watching the server's folders means one connection each: one folder over the cap is
    // refused before any connection.
    let connections = rig.hostile.connections();
    let folders: Vec<String> = (0..21).map(|i| format!("Archive/folder-{i:05}")).collect();
    let refused = link_hostile_mailbox(&rig.daemon, rig.hostile.port(), "pw", &folders);
    let error = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
    ensure!(
        error.contains("imap.max_folders_per_mailbox"),
        "a mailbox with 21 folders was linked under a cap of 20: {error:?}"
    );
    ensure!(
        rig.hostile.connections() == connections,
        "the refused mailbox connected"
    );

    // The watched mailbox gets its message through the 50,000 LIST lines around each answer.
    rig.daemon
        .wait_for_metric("mailsig_imap_committed_total", 1.0, WAIT)
        .await
        .with_context(|| format!("commands received: {:?}", rig.hostile.commands()))?;
    rig.legit_mail_is_processed().await?;
    rig.finish("50,000 folders in LIST", &["Archive/folder-"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_server_is_cut_off_by_the_fetch_timeout() -> Result<()> {
    let rig = Rig::start(
        Behaviour::Trickle {
            every: Duration::from_millis(500),
        },
        "fetch_timeout = \"10s\"",
    )
    .await?;
    let deadline = std::time::Instant::now() + WAIT;
    while rig.hostile.body_bytes_sent() == 0 {
        ensure!(
            std::time::Instant::now() < deadline,
            "the trickle never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The neighbour is served while the trickle goes on.
    rig.legit_mail_is_processed().await?;
    let line = rig.reconnect_line("timeout").await?;
    ensure!(
        line.contains("UID FETCH BODY.PEEK[]: no answer in time"),
        "no fixed reason in: {line}"
    );
    rig.finish("trickle, one byte every 0.5 s", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_line_without_crlf_is_cut_at_the_line_limit() -> Result<()> {
    let rig = Rig::start(Behaviour::EndlessLine { bytes: 10 * MIB }, "").await?;
    let line = rig.reconnect_line("line_too_long").await?;
    ensure!(
        line.contains("line longer than the"),
        "no fixed reason in: {line}"
    );
    rig.legit_mail_is_processed().await?;
    rig.finish("10 MiB line without CRLF", &["X-FILLER", "aaaaaaaa"])
}

/// Mail that arrives while the watcher fetches another message is announced in that fetch's
/// answer (`* 2 EXISTS`); the server does not repeat it when IDLE starts. The watcher must
/// catch up again before going idle, or the new message waits for the next IDLE wake-up
/// (minutes) — which, with replicas taking mailboxes over, looked like lost mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_announced_during_a_fetch_is_caught_up_before_going_idle() -> Result<()> {
    let mail = |who: &str, id: &str| {
        Mail {
            from: who,
            subject: "Hello",
            message_id: id,
            body: "Hello,\n\nsee below.\n",
            signature: "Kind regards,\nLin Chen\nHarbour Freight Ltd\nTel. +44 20 7946 0321\n",
            extra_headers: &[],
        }
        .bytes()
    };
    let (first_id, second_id) = (unique_id("announced-1"), unique_id("announced-2"));
    let rig = Rig::start(
        Behaviour::NewMailDuringFetch {
            first: mail("Lin Chen <lin@harbour.example>", &first_id),
            second: mail("Lin Chen <lin.chen@harbour.example>", &second_id),
        },
        "",
    )
    .await?;
    // The first IDLE, or the second message's body fetch, whichever the watcher does first.
    let second_body = |c: &String| {
        c.to_ascii_uppercase()
            .contains("UID FETCH 2 (UID BODY.PEEK[])")
    };
    let idle = |c: &String| c.to_ascii_uppercase().ends_with(" IDLE");
    rig.wait_for_commands("IDLE or the second fetch", |commands| {
        commands.iter().any(|c| second_body(c) || idle(c))
    })
    .await?;
    let commands = rig.hostile.commands();
    let first = commands.iter().find(|c| second_body(c) || idle(c));
    ensure!(
        first.is_some_and(second_body),
        "the watcher went idle with an announced message unfetched: {commands:?}"
    );
    rig.daemon
        .wait_for_metric("mailsig_imap_committed_total", 2.0, WAIT)
        .await
        .with_context(|| format!("commands received: {:?}", rig.hostile.commands()))?;
    rig.finish("new mail announced during a fetch", &[])
}

/// The lag of an IMAP mailbox in the organisation's health, read with `mailsigd org health`
/// while the daemon runs: a server that lists a message and then stalls its body shows one
/// message waiting since the first listing, and that moment is kept across the reconnect after
/// the fetch timeout (the lag keeps growing); the Dovecot neighbour, whose mail is processed,
/// shows nothing waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_mailbox_shows_its_lag_in_the_org_health_and_a_working_one_none() -> Result<()> {
    let rig = Rig::start(
        Behaviour::Trickle {
            every: Duration::from_millis(500),
        },
        "fetch_timeout = \"5s\"",
    )
    .await?;
    // Address, waiting, waiting since of the mailbox at `address`.
    let health = |address: &str| -> Result<(usize, String)> {
        let out = rig.daemon.cli(&["org", "health"], None)?;
        let row: Vec<&str> = out
            .lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|r| r.get(2) == Some(&address))
            .with_context(|| format!("no row for {address}: {out}"))?;
        ensure!(row.len() == 12, "{out}");
        Ok((row[10].parse()?, row[11].to_owned()))
    };
    let deadline = std::time::Instant::now() + WAIT;
    while rig.hostile.body_fetches() == 0 {
        ensure!(
            std::time::Instant::now() < deadline,
            "the body was never asked for"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (waiting, since) = health("victim@hostile.example")?;
    ensure!(
        waiting == 1 && since.ends_with('Z'),
        "the stalled message is not shown waiting: {waiting} since {since}"
    );
    // The fetch times out, the watcher reconnects and lists the message again: still waiting,
    // since the first listing.
    rig.reconnect_line("timeout").await?;
    while rig.hostile.body_fetches() < 2 {
        ensure!(
            std::time::Instant::now() < deadline,
            "the watcher did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(
        health("victim@hostile.example")? == (1, since.clone()),
        "the lag started again after the reconnect"
    );
    // The neighbour's mail is processed: nothing waits there (cleared right after the commit
    // the metric counts).
    rig.legit_mail_is_processed().await?;
    while health(&rig.user.address)? != (0, "-".to_owned()) {
        ensure!(
            std::time::Instant::now() < deadline,
            "the working mailbox still shows a lag: {:?}",
            health(&rig.user.address)?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rig.finish("trickle, read by org health", &[])
}
