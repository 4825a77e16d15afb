//! Pipeline throughput: messages per second from raw bytes in memory to committed suggestion,
//! into SQLite (a temp dir) or PostgreSQL (a fresh database on `MAILSIG_TEST_PG_URL`).
//!
//! ```text
//! cargo run --release -p mailsig-daemon --example pipeline_throughput -- sqlite 5000
//! MAILSIG_TEST_PG_URL=postgres://postgres@127.0.0.1:15432/postgres \
//!   cargo run --release -p mailsig-daemon --example pipeline_throughput -- postgres 5000
//! ```
//!
//! Arguments: backend (`sqlite` | `postgres`), message count (default 5000), workers (default
//! 2 × cores), mailboxes (default 1; messages are spread over them round-robin, each mailbox
//! with its own owner and list, as on a daemon serving many users), messages per commit (default
//! `[pipeline] group_commit_max`; 1 commits each message alone). Every message is distinct (its
//! own sender, so its own suggestion), about 1.7 KiB of
//! plain text with a signature and quoted history. The messages are built before the clock
//! starts; the clock stops when the last commit is acknowledged. The bare extraction rate of the
//! same messages on one thread is printed next to it for reference.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mailsig_daemon::pipeline::{
    FilterConfig, GroupCommit, InboundMessage, Payload, Pipeline, PipelineConfig, Processed,
    RawMessage, SourcePosition,
};
use mailsig_daemon::store::{MailboxKind, NewMailbox, Store, StoreOptions};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const FIRST: [&str; 20] = [
    "Anna", "Bernd", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Irene", "Jonas",
    "Karin", "Lukas", "Marta", "Niklas", "Olga", "Paul", "Rita", "Stefan", "Tanja", "Uwe",
];
const LAST: [&str; 20] = [
    "Schmidt",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Huber",
    "Kaiser",
    "Fuchs",
];

fn message(i: usize) -> Vec<u8> {
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    let domain = format!("firma{i}.example");
    let local = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
    let mut body = String::from("Hello,\r\n\r\nthank you for the documents. ");
    for _ in 0..12 {
        body.push_str("We reviewed the offer and the delivery conditions and would like to proceed as discussed.\r\n");
    }
    format!(
        "From: {first} {last} <{local}@{domain}>\r\nTo: Owner <owner@mycorp.example>\r\nSubject: Order {i}\r\n\
         Date: Thu, 19 Nov 2026 10:15:00 +0100\r\nMessage-ID: <bench.{i}.{nonce}@{domain}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\nBest regards,\r\n{first} {last}\r\nHead of Procurement\r\n\
         Firma {i} GmbH\r\nHauptstrasse 12, 10115 Berlin\r\nTel. +49 30 1234{i:04}\r\nMobile +49 171 234{i:04}\r\n\
         https://www.{domain}\r\n\r\nOn Monday, Owner <owner@mycorp.example> wrote:\r\n> Please send the signed offer.\r\n\
         > Regards\r\n> Owner\r\n",
        i = i % 10_000,
        nonce = rand::random::<u32>(),
    )
    .into_bytes()
}

async fn fresh_pg_database() -> Result<String> {
    use sqlx::Connection;
    let admin = std::env::var("MAILSIG_TEST_PG_URL")
        .context("set MAILSIG_TEST_PG_URL (see scripts/test-servers.sh env)")?;
    let name = format!("bench_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .context("connect to PostgreSQL")?;
    // The name is ours (hex digits): safe to splice, CREATE DATABASE takes no parameters.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = args.first().map_or("sqlite", String::as_str);
    let count: usize = args
        .get(1)
        .map_or(Ok(5000), |n| n.parse())
        .context("message count")?;
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let workers: usize = args
        .get(2)
        .map_or(Ok(cores * 2), |n| n.parse())
        .context("workers")?;
    let n_mailboxes: usize = args
        .get(3)
        .map_or(Ok(1), |n| n.parse())
        .context("mailboxes")?;
    let group_commit = GroupCommit {
        max_messages: args
            .get(4)
            .map_or(Ok(GroupCommit::default().max_messages), |n| n.parse())
            .context("messages per commit")?,
        ..GroupCommit::default()
    };

    let dir = tempfile::tempdir()?;
    let url = match backend {
        "sqlite" => Store::sqlite_url(&dir.path().join("mailsig.db")),
        "postgres" => fresh_pg_database().await?,
        other => bail!("unknown backend {other} (sqlite | postgres)"),
    };
    let options = StoreOptions {
        max_connections: (workers as u32).max(2),
        ..StoreOptions::default()
    };
    let store = Store::open_with(&url, options).await?;
    store.migrate().await?;
    let mut mailboxes = Vec::new();
    for m in 0..n_mailboxes.max(1) {
        let owner = format!("owner{m}@mycorp.example");
        let user = store.create_user(&owner, None).await?;
        let list = store.create_list(user.id, "Contacts").await?;
        let mailbox = store
            .create_mailbox(NewMailbox {
                owner: user.id,
                kind: MailboxKind::Imap,
                address: owner,
                display_name: None,
                target_list: list.id,
                excluded_domains: Vec::new(),
                settings: serde_json::json!({}),
                secret: None,
            })
            .await?;
        mailboxes.push(mailbox.id);
    }

    let messages: Vec<Vec<u8>> = (0..count).map(message).collect();
    let total_bytes: usize = messages.iter().map(Vec::len).sum();

    // Reference: bare extraction of the same bytes on one thread.
    let sample = messages.len().min(1000);
    let started = Instant::now();
    let mut with_signature = 0;
    for raw in &messages[..sample] {
        with_signature += usize::from(mailsig_parser::extract(raw).has_signature);
    }
    let extract_rate = sample as f64 / started.elapsed().as_secs_f64();

    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let config = PipelineConfig {
        workers,
        queue_capacity: 256,
        filters: FilterConfig::default(),
        sender_auth: None,
        group_commit,
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::spawn(store.clone(), config, &tracker, shutdown.clone());
    let handle = pipeline.handle();

    let started = Instant::now();
    // Several folders, as several watchers would push them, so per-folder commit order does
    // not serialise the whole run.
    const FOLDERS: usize = 8;
    let (ack_sender, mut ack_receiver) = tokio::sync::mpsc::channel(1024);
    let producer = tokio::spawn(async move {
        for (i, raw) in messages.into_iter().enumerate() {
            let message = InboundMessage {
                mailbox: mailboxes[i % mailboxes.len()],
                folder: format!("F{}", i % FOLDERS),
                position: SourcePosition::Imap {
                    uidvalidity: 1,
                    uid: (i / FOLDERS + 1) as u32,
                },
                size: raw.len() as u64,
                payload: Payload::Raw(RawMessage::new(raw)),
            };
            let ack = handle.submit(message).await?;
            if ack_sender.send(ack).await.is_err() {
                break;
            }
        }
        Ok::<_, mailsig_daemon::pipeline::PipelineError>(())
    });
    let (mut suggested, mut merged, mut skipped) = (0usize, 0usize, 0usize);
    while let Some(ack) = ack_receiver.recv().await {
        match ack.committed().await? {
            Processed::Suggested => suggested += 1,
            Processed::Merged => merged += 1,
            Processed::Skipped(_) => skipped += 1,
        }
    }
    producer.await??;
    let elapsed = started.elapsed();
    shutdown.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(30), tracker.wait())
        .await
        .context("pipeline stop")?;

    let rate = count as f64 / elapsed.as_secs_f64();
    let mib = total_bytes as f64 / (1024.0 * 1024.0);
    println!(
        "backend={backend} messages={count} workers={workers} mailboxes={n_mailboxes} per_commit={} cores={cores} avg_size={} B\n\
         pipeline: {:.2} s, {rate:.0} messages/s, {:.2} MiB/s (suggested {suggested}, merged {merged}, skipped {skipped})\n\
         reference: bare extract on 1 thread: {extract_rate:.0} messages/s ({with_signature}/{sample} with signature)",
        group_commit.max_messages,
        total_bytes / count.max(1),
        elapsed.as_secs_f64(),
        mib / elapsed.as_secs_f64(),
    );
    Ok(())
}
