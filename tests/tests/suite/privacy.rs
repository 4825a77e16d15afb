//! The privacy canary: messages whose subjects, bodies, quoted history and Message-IDs carry a
//! unique canary string go through the whole pipeline into a SQLite data dir, while every log
//! line at TRACE level is captured. Afterwards no file of the data dir (database, WAL, SHM) and
//! no log line contains a canary, while the suggestion itself is there, so the search is shown
//! to work. The same search for a stored (vault-sealed) password.

use crate::pipeline_support;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::pipeline::{FilterConfig, Processed};
use mailsig_daemon::store::{SecretKind, SuggestionFilter};
use mailsig_daemon::vault::{MasterKey, Vault};
use mailsig_tests::log_capture::LogBuffer;
use pipeline_support::{Account, Backend, Mail, Running, TestStore, inbound, signature};

/// Every log line of this test binary, at TRACE level, from `tracing` and from `log`.
fn captured_logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // `try_init` also forwards `log` records (sqlx, rustls …) into the subscriber.
        use tracing_subscriber::util::SubscriberInitExt;
        if subscriber.try_init().is_err() {
            eprintln!("privacy test: a global subscriber was already installed");
        }
        buffer
    })
}

fn logs_text() -> String {
    captured_logs().contents()
}

/// Byte offsets of every occurrence of `needle` in the files of `dir` (recursively).
fn hits_in_dir(dir: &Path, needle: &[u8]) -> Result<Vec<String>> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            hits.extend(hits_in_dir(&path, needle)?);
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(path.display().to_string());
        }
    }
    Ok(hits)
}

fn files_in(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_content_reaches_the_data_dir_or_the_logs() -> Result<()> {
    captured_logs();
    let canary = format!("CANARY{:016x}", rand::random::<u64>());
    let TestStore {
        store,
        dir: data_dir,
        ..
    } = TestStore::open(Backend::Sqlite).await?;
    let account = Account::create(&store, "mycorp.example", &[]).await?;
    let running = Running::start(&store, 2, 8, FilterConfig::default());
    let handle = running.pipeline.handle();

    // Signed mail from three people, plus mail that is skipped by a filter and mail without a
    // signature: every path through the pipeline sees the canary.
    let people = [
        ("Jane Doe", "jane.doe", "partner.example"),
        ("Piet Jansen", "piet", "leverancier.example"),
        ("Ana Ruiz", "ana", "cliente.example"),
    ];
    let mut message_ids = Vec::new();
    for (i, (name, local, domain)) in people.iter().enumerate() {
        let message_id = format!("{canary}.{i}@{domain}");
        let subject = format!("Offer {canary} for the spring order");
        // The sender's text, their signature, then the quoted history (as mail clients write it).
        let sig = signature(name, "Partner Example GmbH", domain);
        let body = format!(
            "Hello,\n\nthe secret project word is {canary}, please keep it private.\nThe offer is attached.\n\n{sig}\nOn Monday, Owner <owner@mycorp.example> wrote:\n> Quoted history with {canary} in it.\n> Regards\n"
        );
        let from = format!("{name} <{local}@{domain}>");
        let raw = Mail {
            from: &from,
            subject: &subject,
            message_id: &message_id,
            body: &body,
            signature: "",
            extra_headers: &[],
        }
        .bytes();
        let outcome = handle
            .process(inbound(account.mailbox, i as u32 + 1, raw))
            .await?;
        ensure!(outcome == Processed::Suggested, "{name}: {outcome:?}");
        message_ids.push(message_id);
    }
    let skipped_subject = format!("Newsletter {canary}");
    let skipped_body = format!("Bulk text {canary}\n");
    let bulk = Mail {
        from: "News <news@partner.example>",
        subject: &skipped_subject,
        message_id: &format!("{canary}.bulk@partner.example"),
        body: &skipped_body,
        signature: "",
        extra_headers: &["List-Unsubscribe: <mailto:unsubscribe@partner.example>"],
    };
    ensure!(matches!(
        handle
            .process(inbound(account.mailbox, 10, bulk.bytes()))
            .await?,
        Processed::Skipped(_)
    ));
    let nosig_body = format!("just a line with {canary}\n");
    let nosig = Mail {
        from: "Jane Doe <jane.doe@partner.example>",
        subject: &skipped_subject,
        message_id: &format!("{canary}.nosig@partner.example"),
        body: &nosig_body,
        signature: "",
        extra_headers: &[],
    };
    ensure!(matches!(
        handle
            .process(inbound(account.mailbox, 11, nosig.bytes()))
            .await?,
        Processed::Skipped(_)
    ));
    running.stop().await?;

    // The suggestions are there: the search below would find their content.
    let suggestions = store
        .list_suggestions(account.list, &SuggestionFilter::default())
        .await?;
    ensure!(
        suggestions.len() == 3,
        "expected 3 suggestions, got {}",
        suggestions.len()
    );

    // Search while the database is open (WAL and SHM exist), then again after closing.
    let files = files_in(data_dir.path())?;
    ensure!(
        files.iter().any(|f| f.ends_with("-wal")),
        "expected a WAL file, found {files:?}"
    );
    for phase in ["open", "closed"] {
        let canary_hits = hits_in_dir(data_dir.path(), canary.as_bytes())?;
        ensure!(
            canary_hits.is_empty(),
            "{phase}: canary found in {canary_hits:?}"
        );
        let found = hits_in_dir(data_dir.path(), "Piet Jansen".as_bytes())?;
        ensure!(
            !found.is_empty(),
            "{phase}: the suggestion's name is not in the data dir, so the search proves nothing"
        );
        if phase == "open" {
            store.close().await;
        }
    }

    let logs = logs_text();
    ensure!(
        logs.contains("message committed"),
        "the log capture saw no pipeline line at all"
    );
    ensure!(!logs.contains(&canary), "canary found in the logs");
    for (_, local, domain) in people {
        let address = format!("{local}@{domain}");
        ensure!(!logs.contains(&address), "a sender address is in the logs");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_password_is_only_in_the_data_dir_sealed() -> Result<()> {
    captured_logs();
    let password = format!("PASSWORD{:016x}", rand::random::<u64>());
    let TestStore {
        store,
        dir: data_dir,
        ..
    } = TestStore::open(Backend::Sqlite).await?;
    let vault = Vault::new(MasterKey::generate()?);
    let id = vault
        .store_new(&store, SecretKind::ImapPassword, 1, password.as_bytes())
        .await?;
    // The sealed bytes are in the data dir (the search works), the password is not.
    let stored = store.get_secret(id).await?;
    let opened = vault.open(
        &mailsig_daemon::vault::Binding::secret(SecretKind::ImapPassword, id),
        &mailsig_daemon::vault::SealedSecret::from_bytes(stored.sealed.clone()),
    )?;
    ensure!(
        opened.as_slice() == password.as_bytes(),
        "the vault round trip failed"
    );
    let sealed_probe = stored
        .sealed
        .get(1..33)
        .context("sealed record too short")?;
    ensure!(
        !hits_in_dir(data_dir.path(), sealed_probe)?.is_empty(),
        "the sealed record is not in the data dir"
    );
    ensure!(
        hits_in_dir(data_dir.path(), password.as_bytes())?.is_empty(),
        "the password is in the data dir"
    );
    store.close().await;
    ensure!(
        hits_in_dir(data_dir.path(), password.as_bytes())?.is_empty(),
        "the password is in the data dir"
    );
    ensure!(
        !logs_text().contains(&password),
        "the password is in the logs"
    );
    Ok(())
}
