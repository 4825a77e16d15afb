//! The pipeline end to end against a real store (SQLite in a temp dir and a fresh PostgreSQL
//! database from `scripts/test.sh`): filters skip and count, a signature becomes a suggestion in
//! the mailbox's target list, exactly once, with backpressure and a graceful shutdown.

use crate::pipeline_support;

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::pipeline::{
    FilterConfig, InboundMessage, Payload, PipelineError, Processed, RawMessage, SkipReason,
    SourcePosition,
};
use mailsig_daemon::store::{Cursor, SuggestionFilter};
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use pipeline_support::{
    Account, BACKENDS, Backend, Mail, Rig, Running, TestStore, ensure_all_suggested, inbound,
    person_mail, signed_mail, sqlite_store, submit_people, unique_id,
};
use tokio_util::sync::CancellationToken;

/// One message per filter, the reason it must be skipped for, and the pipeline that sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_skips_and_counts_its_reason() -> Result<()> {
    for backend in BACKENDS {
        let db = TestStore::open(backend).await?;
        let account = Account::create(&db.store, "mycorp.example", &["blocked.example"]).await?;
        let filters = FilterConfig {
            excluded_domains: vec!["spam.example".into()],
            max_message_bytes: 64 * 1024,
            ..FilterConfig::default()
        };
        let running = Running::start(&db.store, 2, 8, filters);
        let handle = running.pipeline.handle();

        let signed = |from: &str, headers: &'static [&'static str]| {
            let sig =
                pipeline_support::signature("Jane Doe", "Partner Example GmbH", "partner.example");
            let id = unique_id("filter");
            Mail {
                from,
                subject: "Hello",
                message_id: &id,
                body: "Some text.\n",
                signature: &sig,
                extra_headers: headers,
            }
            .bytes()
        };
        let cases: Vec<(Vec<u8>, SkipReason)> = vec![
            (
                signed("Jane Doe <jane@blocked.example>", &[]),
                SkipReason::ExcludedDomain,
            ),
            (
                signed("Jane Doe <jane@mail.spam.example>", &[]),
                SkipReason::ExcludedDomain,
            ),
            (
                signed("Colleague <colleague@mycorp.example>", &[]),
                SkipReason::OwnDomain,
            ),
            (
                signed(
                    "Jane Doe <jane@partner.example>",
                    &["Auto-Submitted: auto-replied"],
                ),
                SkipReason::AutoReply,
            ),
            (
                signed("Jane Doe <jane@partner.example>", &["Precedence: bulk"]),
                SkipReason::Bulk,
            ),
            (
                signed(
                    "Jane Doe <jane@partner.example>",
                    &["List-Id: <news.partner.example>"],
                ),
                SkipReason::Bulk,
            ),
            (
                signed("Partner Sales <sales@partner.example>", &[]),
                SkipReason::RoleAddress,
            ),
            (
                signed("No Reply <no-reply@partner.example>", &[]),
                SkipReason::RoleAddress,
            ),
            (
                Mail {
                    from: "Jane Doe <jane@partner.example>",
                    subject: "Quick question",
                    message_id: &unique_id("nosig"),
                    body: "Can you send me the file again?\n",
                    signature: "",
                    extra_headers: &[],
                }
                .bytes(),
                SkipReason::NoSignature,
            ),
            (
                Mail {
                    from: "undisclosed-recipients:;",
                    subject: "x",
                    message_id: &unique_id("nofrom"),
                    body: "x\n",
                    signature: "",
                    extra_headers: &[],
                }
                .bytes(),
                SkipReason::ParseError,
            ),
        ];
        let mut uid = 100;
        for (raw, expected) in cases {
            uid += 1;
            let outcome = handle.process(inbound(account.mailbox, uid, raw)).await?;
            ensure!(
                outcome == Processed::Skipped(expected),
                "{backend:?} uid {uid}: expected {expected}, got {outcome:?}"
            );
        }
        // Too large: announced by the source without fetching, and fetched but over the limit.
        uid += 1;
        let announced = InboundMessage {
            mailbox: account.mailbox,
            folder: "INBOX".into(),
            position: SourcePosition::Imap {
                uidvalidity: 7,
                uid,
            },
            size: 30 * 1024 * 1024,
            payload: Payload::TooLarge,
        };
        ensure!(handle.process(announced).await? == Processed::Skipped(SkipReason::TooLarge));
        uid += 1;
        let mut big = signed_mail("Jane Doe", "jane", "partner.example", &unique_id("big"));
        big.extend(std::iter::repeat_n(b'x', 70 * 1024));
        ensure!(
            handle.process(inbound(account.mailbox, uid, big)).await?
                == Processed::Skipped(SkipReason::TooLarge)
        );
        // Duplicate: the same Message-ID again, under another UID.
        let id = unique_id("dup");
        uid += 1;
        handle
            .process(inbound(
                account.mailbox,
                uid,
                signed_mail("Jane Doe", "jane", "partner.example", &id),
            ))
            .await?;
        uid += 1;
        let again = handle
            .process(inbound(
                account.mailbox,
                uid,
                signed_mail("Jane Doe", "jane", "partner.example", &id),
            ))
            .await?;
        ensure!(
            again == Processed::Skipped(SkipReason::Duplicate),
            "{backend:?}: second delivery gave {again:?}"
        );

        let stats = db.store.mailbox_stats(account.mailbox).await?;
        let expect = [
            ("excluded_domain", 2),
            ("own_domain", 1),
            ("auto_reply", 1),
            ("bulk", 2),
            ("role_address", 2),
            ("no_signature", 1),
            ("parse_error", 1),
            ("too_large", 2),
            ("duplicate", 1),
        ];
        for (reason, count) in expect {
            let stored = stats.skipped.get(reason).copied().unwrap_or(0);
            ensure!(
                stored == count,
                "{backend:?}: store counter skipped:{reason} = {stored}, expected {count}"
            );
            let reason = SkipReason::from_name(reason).context("known reason")?;
            let live = running.pipeline.stats().skipped(reason);
            ensure!(
                live == count as u64,
                "{backend:?}: pipeline stats {reason} = {live}, expected {count}"
            );
        }
        let cursor = account.inbox_cursor(&db.store).await?;
        ensure!(
            cursor.last_uid == Some(uid),
            "{backend:?}: cursor {:?}, expected uid {uid}",
            cursor.last_uid
        );
        running.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_becomes_one_suggestion_in_the_target_list_even_when_delivered_twice()
-> Result<()> {
    for backend in BACKENDS {
        let Rig {
            db,
            account,
            running,
        } = Rig::start(backend, 2, 4).await?;
        let other = Account::create(&db.store, "othercorp.example", &[]).await?;
        let handle = running.pipeline.handle();

        let id = unique_id("sig");
        let first = handle
            .process(inbound(
                account.mailbox,
                1,
                signed_mail("Jane Doe", "jane.doe", "partner.example", &id),
            ))
            .await?;
        ensure!(
            first == Processed::Suggested,
            "{backend:?}: first delivery gave {first:?}"
        );
        let second = handle
            .process(inbound(
                account.mailbox,
                2,
                signed_mail("Jane Doe", "jane.doe", "partner.example", &id),
            ))
            .await?;
        ensure!(
            second == Processed::Skipped(SkipReason::Duplicate),
            "{backend:?}: second delivery gave {second:?}"
        );

        let suggestions = account.suggestions(&db.store).await?;
        ensure!(
            suggestions.len() == 1,
            "{backend:?}: {} suggestions, expected 1",
            suggestions.len()
        );
        let suggestion = &suggestions[0];
        ensure!(suggestion.sender_email == "jane.doe@partner.example");
        ensure!(suggestion.mailbox == Some(account.mailbox));
        let name = suggestion.fields.name.as_ref().map(|f| f.value.as_str());
        ensure!(name == Some("Jane Doe"), "{backend:?}: name {name:?}");
        ensure!(
            suggestion
                .fields
                .phones
                .iter()
                .any(|p| p.e164 == "+493012345678"),
            "{backend:?}: phones {:?}",
            suggestion.fields.phones
        );
        // Nothing leaked into another user's list.
        ensure!(other.suggestions(&db.store).await?.is_empty());
        let cursor = account.inbox_cursor(&db.store).await?;
        ensure!(
            cursor.uidvalidity == Some(7) && cursor.last_uid == Some(2),
            "{backend:?}: cursor {cursor:?}"
        );
        let stats = db.store.mailbox_stats(account.mailbox).await?;
        ensure!(
            stats.get("suggested") == 1 && stats.get("processed") == 1,
            "{backend:?}: counters {stats:?}"
        );
        running.stop().await?;
    }
    Ok(())
}

/// A suggestion whose target list was deleted meanwhile is skipped as `target_list_deleted`, in
/// the store's counters and in the pipeline's live stats alike, and never counted as a parse error.
/// An exclusion saved through the service (as the API and the pages save it) applies to the
/// very next message, although the pipeline had cached the mailbox's rules a moment before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusion_saved_through_the_service_applies_to_the_next_message() -> Result<()> {
    for backend in BACKENDS {
        let rig = Rig::start(backend, 2, 8).await?;
        let mailbox = rig.account.mailbox;
        let handle = rig.running.pipeline.handle();
        let mail = |name: &str, local: &str| {
            signed_mail(name, local, "partner.example", &unique_id("exclusion"))
        };
        let first = handle
            .submit(inbound(mailbox, 1, mail("Jane Doe", "jane")))
            .await?;
        let outcome = first.committed().await?;
        ensure!(outcome == Processed::Suggested, "{backend:?}: {outcome:?}");

        let owner = rig.db.store.get_mailbox(mailbox).await?.owner;
        mailsig_daemon::service::mailboxes::set_exclusions(
            &rig.db.store,
            mailsig_daemon::service::Actor::signed_in(owner),
            mailbox,
            &["partner.example".to_owned()],
        )
        .await?;
        let second = handle
            .submit(inbound(mailbox, 2, mail("John Roe", "john")))
            .await?;
        let outcome = second.committed().await?;
        ensure!(
            outcome == Processed::Skipped(SkipReason::ExcludedDomain),
            "{backend:?}: {outcome:?}"
        );
        rig.running.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_target_list_is_its_own_skip_reason_not_a_parse_error() -> Result<()> {
    for backend in BACKENDS {
        let Rig {
            db,
            account,
            running,
        } = Rig::start(backend, 2, 4).await?;
        db.store.soft_delete_list(account.list).await?;
        let handle = running.pipeline.handle();
        let outcome = handle
            .process(inbound(
                account.mailbox,
                1,
                signed_mail("Jane Doe", "jane", "partner.example", &unique_id("gone")),
            ))
            .await?;
        ensure!(
            outcome == Processed::Skipped(SkipReason::TargetListDeleted),
            "{backend:?}: {outcome:?}"
        );
        let live = running.pipeline.stats();
        ensure!(
            live.skipped(SkipReason::TargetListDeleted) == 1
                && live.skipped(SkipReason::ParseError) == 0,
            "{backend:?}: pipeline stats {:?}",
            live.snapshot().skipped
        );
        let stored = db.store.mailbox_stats(account.mailbox).await?;
        ensure!(
            stored.skipped.get("target_list_deleted") == Some(&1)
                && !stored.skipped.contains_key("parse_error"),
            "{backend:?}: counters {stored:?}"
        );
        ensure!(account.suggestions(&db.store).await?.is_empty());
        running.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_message_of_the_same_sender_merges_into_the_suggestion() -> Result<()> {
    for backend in BACKENDS {
        let Rig {
            db,
            account,
            running,
        } = Rig::start(backend, 2, 4).await?;
        let handle = running.pipeline.handle();
        let first = handle
            .process(inbound(
                account.mailbox,
                1,
                signed_mail("Jane Doe", "jane", "partner.example", &unique_id("m1")),
            ))
            .await?;
        ensure!(first == Processed::Suggested, "{backend:?}: {first:?}");
        let second = handle
            .process(inbound(
                account.mailbox,
                2,
                signed_mail("Jane Doe", "jane", "partner.example", &unique_id("m2")),
            ))
            .await?;
        ensure!(second == Processed::Merged, "{backend:?}: {second:?}");
        let suggestions = account.suggestions(&db.store).await?;
        ensure!(
            suggestions.len() == 1,
            "{backend:?}: {} suggestions",
            suggestions.len()
        );
        running.stop().await?;
    }
    Ok(())
}

/// A queue of one place and one worker: the producer must wait, and nothing is dropped.
///
/// The current-thread runtime makes the first step deterministic: the workers cannot run
/// before the test yields, so after one `submit` the queue is full.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_makes_the_source_wait_and_drops_nothing() -> Result<()> {
    for backend in BACKENDS {
        let Rig {
            db,
            account,
            running,
        } = Rig::start(backend, 1, 1).await?;
        let handle = running.pipeline.handle();

        let first_ack = handle
            .submit(inbound(account.mailbox, 1, person_mail(1, "bp")))
            .await?;
        match handle.try_submit(inbound(account.mailbox, 2, person_mail(2, "bp"))) {
            Err(PipelineError::QueueFull) => {}
            Err(other) => bail!("{backend:?}: expected a full queue, got {other}"),
            Ok(_) => bail!("{backend:?}: a queue of capacity 1 took a second message"),
        }
        const N: u32 = 40;
        let producer = {
            let handle = handle.clone();
            let mailbox = account.mailbox;
            tokio::spawn(async move {
                let mut acks = Vec::new();
                for uid in 2..=N {
                    let raw = person_mail(uid, "bp");
                    acks.push(handle.submit(inbound(mailbox, uid, raw)).await?);
                }
                let mut outcomes = Vec::new();
                for ack in acks {
                    outcomes.push(ack.committed().await?);
                }
                Ok::<_, PipelineError>(outcomes)
            })
        };
        ensure!(first_ack.committed().await? == Processed::Suggested);
        let outcomes = tokio::time::timeout(Duration::from_secs(120), producer)
            .await
            .context("producer timed out")???;
        ensure!(outcomes.len() == (N - 1) as usize);
        ensure!(
            outcomes.iter().all(|o| *o == Processed::Suggested),
            "{backend:?}: {outcomes:?}"
        );
        let suggestions = db
            .store
            .list_suggestions(
                account.list,
                &SuggestionFilter {
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await?;
        ensure!(
            suggestions.len() == N as usize,
            "{backend:?}: {} suggestions, expected {N}",
            suggestions.len()
        );
        let cursor = account.inbox_cursor(&db.store).await?;
        ensure!(cursor.last_uid == Some(N), "{backend:?}: cursor {cursor:?}");
        running.stop().await?;
    }
    Ok(())
}

/// Messages queued and in flight when shutdown starts are still committed; later submissions
/// are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_queued_and_in_flight_work_then_refuses_new_messages() -> Result<()> {
    for backend in BACKENDS {
        let Rig {
            db,
            account,
            running,
        } = Rig::start(backend, 2, 32).await?;
        let handle = running.pipeline.handle();
        let acks = submit_people(&handle, account.mailbox, 1..=20, "sd").await?;
        running.shutdown.cancel();
        running.tracker.close();
        tokio::time::timeout(Duration::from_secs(60), running.tracker.wait())
            .await
            .context("shutdown deadline")?;
        ensure_all_suggested(acks).await?;
        match handle
            .submit(inbound(account.mailbox, 21, person_mail(99, "sd")))
            .await
        {
            Err(PipelineError::ShutDown) => {}
            Err(other) => bail!("{backend:?}: expected ShutDown, got {other}"),
            Ok(_) => bail!("{backend:?}: a stopped pipeline took a message"),
        }
        let suggestions = account.suggestions(&db.store).await?;
        ensure!(
            suggestions.len() == 20,
            "{backend:?}: {} suggestions",
            suggestions.len()
        );
        let cursor = account.inbox_cursor(&db.store).await?;
        ensure!(
            cursor.last_uid == Some(20),
            "{backend:?}: cursor {cursor:?}"
        );
    }
    Ok(())
}

/// A message of an unknown mailbox is refused without a commit, and does not stop the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_an_unknown_mailbox_is_refused() -> Result<()> {
    let Rig {
        db: _db,
        account,
        running,
    } = Rig::start(Backend::Sqlite, 2, 4).await?;
    let handle = running.pipeline.handle();
    let unknown = mailsig_daemon::store::MailboxId(account.mailbox.0 + 1000);
    match handle
        .process(inbound(
            unknown,
            1,
            signed_mail("Jane Doe", "jane", "partner.example", &unique_id("u")),
        ))
        .await
    {
        Err(error @ PipelineError::UnknownMailbox { .. }) => ensure!(!error.is_transient()),
        other => bail!("expected UnknownMailbox, got {other:?}"),
    }
    let ok = handle
        .process(inbound(
            account.mailbox,
            1,
            signed_mail("Jane Doe", "jane", "partner.example", &unique_id("u")),
        ))
        .await?;
    ensure!(ok == Processed::Suggested);
    running.stop().await
}

/// The supervisor migrates, starts the pipeline, and stops within its deadline with the
/// in-flight work committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_starts_and_stops_gracefully() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = sqlite_store(&dir).await?;
    let vault = Vault::new(MasterKey::generate()?);
    let shutdown = CancellationToken::new();
    let options = SupervisorOptions {
        shutdown_grace: Duration::from_secs(30),
        ..SupervisorOptions::default()
    };
    let supervisor = Supervisor::start(options, store.clone(), vault, shutdown.clone()).await?;
    let account = Account::create(&store, "mycorp.example", &[]).await?;
    let handle = supervisor.pipeline();
    let acks = submit_people(&handle, account.mailbox, 1..=10, "sv").await?;
    shutdown.cancel();
    supervisor.wait().await?;
    ensure_all_suggested(acks).await?;
    ensure!(
        handle.is_closed(),
        "the queue must be closed after shutdown"
    );
    let stats = store.mailbox_stats(account.mailbox).await?;
    ensure!(stats.get("suggested") == 10, "{stats:?}");
    Ok(())
}

/// Messages of one folder commit in their order: the cursor ends at the highest UID, and an
/// unordered source (no position) leaves it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_of_one_folder_keep_their_order() -> Result<()> {
    let Rig {
        db,
        account,
        running,
    } = Rig::start(Backend::Sqlite, 4, 64).await?;
    let handle = running.pipeline.handle();
    let mut acks = submit_people(&handle, account.mailbox, 1..=30, "ord").await?;
    let unordered = InboundMessage {
        mailbox: account.mailbox,
        folder: "INBOX".into(),
        position: Cursor::None,
        size: 0,
        payload: Payload::Raw(RawMessage::new(person_mail(77, "ord"))),
    };
    acks.push(handle.submit(unordered).await?);
    ensure_all_suggested(acks).await?;
    let cursor = account.inbox_cursor(&db.store).await?;
    ensure!(cursor.last_uid == Some(30), "cursor {cursor:?}");
    running.stop().await
}

/// The supervisor against a real (private) Dovecot: a mailbox linked before start and one linked while
/// running (picked up by reconciliation) both turn new mail into suggestions; a mailbox whose
/// status is no longer `ok` is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_watches_imap_mailboxes_linked_before_and_while_running() -> Result<()> {
    use mailsig_daemon::store::MailboxStatus;
    use mailsig_daemon::supervisor::sources::ImapStartOptions;
    use pipeline_support::{MailUser, eventually};

    let dir = tempfile::tempdir()?;
    let store = sqlite_store(&dir).await?;
    store.migrate().await?;
    let vault = Vault::new(MasterKey::generate()?);
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let dovecot = mailsig_tests::servers::PrivateDovecot::start(&env, Default::default()).await?;
    let before = MailUser::create(&dovecot).await?;
    let first = before.link(&store, &vault, "mycorp.example").await?;

    let shutdown = CancellationToken::new();
    let imap = ImapStartOptions {
        reconcile_interval: Duration::from_millis(500),
        ..ImapStartOptions::default()
    };
    let options = SupervisorOptions {
        imap,
        shutdown_grace: Duration::from_secs(30),
        ..SupervisorOptions::default()
    };
    let supervisor =
        Supervisor::start(options, store.clone(), vault.clone(), shutdown.clone()).await?;

    // Mail that arrives after linking becomes a suggestion in that mailbox's list.
    let ready = |mailbox| {
        let store = store.clone();
        move || {
            let store = store.clone();
            async move { Ok(store.get_cursor(mailbox, "INBOX").await?.map(|_| ())) }
        }
    };
    eventually(
        Duration::from_secs(30),
        "the first watcher",
        ready(first.mailbox),
    )
    .await?;
    before
        .append(&signed_mail(
            "Jane Doe",
            "jane",
            "partner.example",
            &unique_id("sv1"),
        ))
        .await?;
    let suggestions_of = |list| {
        let store = store.clone();
        move || {
            let store = store.clone();
            async move {
                let found = store
                    .list_suggestions(list, &SuggestionFilter::default())
                    .await?;
                Ok((!found.is_empty()).then_some(found))
            }
        }
    };
    let found = eventually(
        Duration::from_secs(30),
        "the first suggestion",
        suggestions_of(first.list),
    )
    .await?;
    ensure!(
        found.len() == 1 && found[0].sender_email == "jane@partner.example",
        "{found:?}"
    );

    // A mailbox linked while the daemon runs is picked up without a restart.
    let during = MailUser::create(&dovecot).await?;
    let second = during.link(&store, &vault, "othercorp.example").await?;
    eventually(
        Duration::from_secs(30),
        "the second watcher",
        ready(second.mailbox),
    )
    .await?;
    during
        .append(&signed_mail(
            "Piet Jansen",
            "piet",
            "leverancier.example",
            &unique_id("sv2"),
        ))
        .await?;
    let found = eventually(
        Duration::from_secs(30),
        "the second suggestion",
        suggestions_of(second.list),
    )
    .await?;
    ensure!(
        found.len() == 1 && found[0].sender_email == "piet@leverancier.example",
        "{found:?}"
    );

    // A mailbox that needs attention is no longer watched: its new mail waits on the server.
    store
        .set_mailbox_status(first.mailbox, MailboxStatus::NeedsAttention, Some("test"))
        .await?;
    let imap = supervisor.imap().context("imap source")?.clone();
    eventually(Duration::from_secs(30), "the first watcher to stop", || {
        let imap = imap.clone();
        async move { Ok((!imap.watched().contains(&first.mailbox)).then_some(())) }
    })
    .await?;
    before
        .append(&signed_mail(
            "Ana Ruiz",
            "ana",
            "cliente.example",
            &unique_id("sv3"),
        ))
        .await?;
    // Nothing watches it now, and a pass (the only thing that starts a watcher) leaves it so.
    let report = imap.reconcile(&store, &vault).await?;
    ensure!(report.started == 0 && report.restarted == 0, "{report:?}");
    ensure!(!imap.watched().contains(&first.mailbox), "watched again");
    let after = store
        .list_suggestions(first.list, &SuggestionFilter::default())
        .await?;
    ensure!(
        after.len() == 1,
        "a stopped mailbox still produced suggestions: {after:?}"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(40), supervisor.wait())
        .await
        .context("supervisor did not stop")??;
    Ok(())
}

/// The systemd watchdog heartbeat: alive while the pipeline is open and idle or progressing,
/// not once it stopped taking messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_heartbeat_follows_the_pipeline() -> Result<()> {
    use mailsig_daemon::supervisor::watchdog::Heartbeat;
    let Rig {
        db: _db,
        account,
        running,
    } = Rig::start(Backend::Sqlite, 1, 4).await?;
    let pipeline = running.pipeline.clone();
    let mut heartbeat = Heartbeat::default();
    ensure!(heartbeat.alive(&pipeline), "an idle pipeline is alive");
    pipeline
        .handle()
        .process(inbound(account.mailbox, 1, person_mail(5, "wd")))
        .await?;
    ensure!(
        heartbeat.alive(&pipeline),
        "a pipeline that committed is alive"
    );
    running.stop().await?;
    ensure!(
        !heartbeat.alive(&pipeline),
        "a stopped pipeline is not alive"
    );
    Ok(())
}
