//! Start-up figure: a store with N (default 10,000) IMAP mailboxes, each with its own sealed
//! password, and the time `Supervisor::start` takes until every secret is decrypted and every
//! watcher is scheduled (the supervisor's first reconciliation runs before `start` returns and
//! before READY=1 would be sent).
//!
//! ```sh
//! cargo run --release -p mailsig-daemon --example startup [-- N]
//! ```
//!
//! The mailboxes point at a closed loopback port, so the watchers only get as far as their first
//! connection attempt; the figure is the daemon's own start-up work, not a server's.

use std::time::{Duration, Instant};

use mailsig_daemon::sources::imap::{ImapSettings, Security};
use mailsig_daemon::store::{MailboxKind, NewMailbox, SecretKind, Store};
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    store.migrate().await?;
    let vault = Vault::new(MasterKey::generate()?);

    let prepared = Instant::now();
    let owner = store
        .create_user("owner@example.com", Some("Owner"))
        .await?;
    let list = store.create_list(owner.id, "Contacts").await?;
    for i in 0..n {
        let password = format!("app-password-{i:05}");
        let secret = vault
            .store_new(&store, SecretKind::ImapPassword, 1, password.as_bytes())
            .await?;
        let settings = ImapSettings {
            host: "127.0.0.1".into(),
            port: 1,
            security: Security::ImplicitTls,
            username: format!("user{i:05}"),
            folders: Vec::new(),
            ca_file: None,
            ca_pem: None,
            backfill: 0,
            operator_trusted: true,
        };
        store
            .create_mailbox(NewMailbox {
                owner: owner.id,
                kind: MailboxKind::Imap,
                address: format!("user{i:05}@example.com"),
                display_name: None,
                target_list: list.id,
                excluded_domains: Vec::new(),
                settings: serde_json::to_value(&settings)?,
                secret: Some(secret),
            })
            .await?;
    }
    println!("prepared {n} mailboxes in {:.2?}", prepared.elapsed());

    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let supervisor = Supervisor::start(
        SupervisorOptions::default(),
        store.clone(),
        vault,
        shutdown.clone(),
    )
    .await?;
    let elapsed = started.elapsed();
    println!(
        "start-up with {n} imap mailboxes: {elapsed:.2?} until every secret was decrypted and every watcher scheduled ({:.3} ms per mailbox)",
        elapsed.as_secs_f64() * 1000.0 / n as f64
    );
    shutdown.cancel();
    let stopped = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(60), supervisor.wait()).await;
    println!("shutdown: {:.2?}", stopped.elapsed());
    Ok(())
}
