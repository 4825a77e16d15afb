//! `commit_message` throughput on SQLite and PostgreSQL (messages/s).
//!
//! Run: `cargo bench -p mailsig-daemon --bench store` (PostgreSQL is measured when
//! `MAILSIG_TEST_PG_URL` is set, e.g. after `source .test-servers/env`). `STORE_BENCH_N`
//! sets the number of messages per scenario (default 4000).
//!
//! Scenarios, each with 1 and 4 concurrent committers:
//! - `new`: every message yields a suggestion from a new sender (insert path);
//! - `merge`: 50 senders over and over, each message changing a field (merge + history);
//! - `skip`: every message is a skip (dedupe guard + counters + cursor only).

use std::time::{Duration, Instant};

use mailsig_daemon::domain::{AuthMethod, AuthResult, SenderAuth, SkipReason};
use mailsig_daemon::store::{
    Clock, CommitMessage, Cursor, MailboxId, MailboxKind, NewMailbox, NewSuggestion, Outcome,
    Store, StoreOptions, StoredField, SuggestionFields,
};

#[derive(Clone, Copy)]
enum Scenario {
    New,
    Merge,
    Skip,
}

fn suggestion(sender: usize, variant: usize) -> NewSuggestion {
    let f = |v: String| {
        Some(StoredField {
            value: v,
            confidence: 0.9,
            rule: "bench".into(),
        })
    };
    NewSuggestion {
        sender_email: format!("person{sender}@example.com"),
        fields: SuggestionFields {
            name: f(format!("Person {sender}")),
            title: f(format!("Title {variant}")),
            company: f("Example Ltd".into()),
            emails: vec![StoredField {
                value: format!("person{sender}@example.com"),
                confidence: 1.0,
                rule: "from".into(),
            }],
            ..Default::default()
        },
        confidence: 0.8,
        auth: SenderAuth::new(AuthResult::Authenticated, AuthMethod::Dmarc),
    }
}

async fn setup(url: &str) -> Result<(Store, MailboxId), Box<dyn std::error::Error>> {
    let store = Store::open_with(
        url,
        StoreOptions {
            clock: Clock::System,
            ..StoreOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    let user = store
        .create_user(&format!("bench{}@example.org", rand::random::<u32>()), None)
        .await?;
    let list = store.create_list(user.id, "bench").await?;
    let mailbox = store
        .create_mailbox(NewMailbox {
            owner: user.id,
            kind: MailboxKind::Imap,
            address: user.email.clone(),
            display_name: None,
            target_list: list.id,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await?;
    Ok((store, mailbox.id))
}

async fn run(
    url: &str,
    scenario: Scenario,
    n: usize,
    tasks: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let (store, mailbox) = setup(url).await?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in (t..n).step_by(tasks) {
                let outcome = match scenario {
                    Scenario::New => Outcome::Suggestion(suggestion(i, 0)),
                    Scenario::Merge => Outcome::Suggestion(suggestion(i % 50, i)),
                    Scenario::Skip => Outcome::Skipped(SkipReason::Bulk),
                };
                let msg = CommitMessage {
                    mailbox,
                    folder: "INBOX".into(),
                    cursor: Cursor::Imap {
                        uidvalidity: 1,
                        uid: i as u32 + 1,
                    },
                    message_id_hash: format!("{i:012x}"),
                    outcome,
                    fencing: None,
                };
                store.commit_message(msg).await?;
            }
            Ok::<_, mailsig_daemon::store::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let elapsed = started.elapsed();
    let stats = store.mailbox_stats(mailbox).await?;
    assert_eq!(
        stats.get("processed"),
        n as i64,
        "every message committed once"
    );
    store.close().await;
    Ok(n as f64 / elapsed.max(Duration::from_micros(1)).as_secs_f64())
}

async fn backend(name: &str, url: &str, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    for (label, scenario) in [
        ("new", Scenario::New),
        ("merge", Scenario::Merge),
        ("skip", Scenario::Skip),
    ] {
        for tasks in [1, 4] {
            let rate = run(url, scenario, n, tasks).await?;
            println!("{name:<10} {label:<6} committers={tasks}  {n} messages  {rate:>8.0} msg/s");
        }
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        // A test runner (cargo-nextest) asking for the tests in this binary: there are none.
        return Ok(());
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs bench binaries without `--bench`: a quick smoke run
        // on SQLite proves the bench still works without spending the test budget.
        let dir = tempfile::tempdir()?;
        let rate = run(
            &Store::sqlite_url(&dir.path().join("smoke.db")),
            Scenario::New,
            50,
            2,
        )
        .await?;
        println!("store bench smoke run: {rate:.0} msg/s (run `cargo bench` for figures)");
        return Ok(());
    }
    let n: usize = std::env::var("STORE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let dir = tempfile::tempdir()?;
    let sqlite = Store::sqlite_url(&dir.path().join("bench.db"));
    backend("sqlite", &sqlite, n).await?;
    match std::env::var("MAILSIG_TEST_PG_URL") {
        Ok(admin) => {
            sqlx::any::install_default_drivers();
            use sqlx::Connection;
            let name = format!("bench_{:08x}", rand::random::<u32>());
            let mut conn = sqlx::AnyConnection::connect(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            let url = match admin.rsplit_once('/') {
                Some((base, _)) => format!("{base}/{name}"),
                None => return Err("MAILSIG_TEST_PG_URL has no database path".into()),
            };
            let result = backend("postgres", &url, n).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            result?;
        }
        Err(_) => println!(
            "postgres: not measured (MAILSIG_TEST_PG_URL is not set; source .test-servers/env)"
        ),
    }
    Ok(())
}
