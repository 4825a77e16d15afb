//! Several replicas on one PostgreSQL, in-process against the shared test cluster:
//! a stalled owner's commits, cursor resets, Graph delta links, subscription rows and status
//! marks are refused once another replica took its mailbox over (and its Graph task stops), the
//! lease loops share the mailboxes fairly (a replica that joins gets a share even when there are
//! few) and hand them over, a dead replica's outbox claims are taken over
//! within seconds, and a password changed in place restarts the mailbox's watcher
//! through the supervisor's one reconciliation.
//!
//! The process-level faults (SIGKILL, SIGSTOP of real `mailsigd` replicas, Dovecot and
//! PostgreSQL restarts) are in `tests/resilience.rs` and `src/bin/resilience.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use mailsig_daemon::domain::TlsMode;
use mailsig_daemon::http::app::ApiSettings;
use mailsig_daemon::notify::{
    Mailbox as Address, Mailer, OutboxWorker, SmtpSettings, WorkerOptions, enqueue_attention,
};
use mailsig_daemon::pipeline::{
    Fences, InboundMessage, Payload, Pipeline, PipelineConfig, RawMessage,
};
use mailsig_daemon::sources::graph::GraphStartOptions;
use mailsig_daemon::sources::imap::ImapSettings;
use mailsig_daemon::sources::ownership::Ownership;
use mailsig_daemon::store::StoreOptions;
use mailsig_daemon::store::{
    Clock, CommitMessage, CommitResult, Cursor, GraphSubscription, Lease, ListId, MailboxId,
    MailboxStatus, NewSuggestion, OutboxStatus, Outcome, SecretKind, Store, SubscriptionState,
    SuggestionFields, SuggestionFilter,
};
use mailsig_daemon::supervisor::leases::{self, ReplicaOptions};
use mailsig_daemon::supervisor::sources::ImapStartOptions;
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use mailsig_tests::graph_support::{GraphWorld, RunningDaemon, signed_mail, wait_until};
use mailsig_tests::mailboxes::{ImapMailbox, create_imap_mailbox, owner_with_list};
use mailsig_tests::servers::TestEnv;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const WAIT: Duration = Duration::from_secs(30);

async fn pg_store(clock: Clock) -> Result<Store> {
    let url = TestEnv::from_env()?.fresh_pg_database().await?;
    let store = Store::open_with(
        &url,
        StoreOptions {
            clock,
            ..StoreOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

/// A user, a list and a mailbox (settings `{}`: never watched, only leased).
async fn mailbox(store: &Store) -> Result<(MailboxId, ListId)> {
    let email = format!("owner{:08x}@mycorp.example", rand::random::<u32>());
    let mailbox = mailbox_of(store, &email).await?;
    Ok((mailbox.id, mailbox.target_list))
}

/// A never-watched mailbox whose owner is `email`.
async fn mailbox_of(store: &Store, email: &str) -> Result<mailsig_daemon::store::Mailbox> {
    let owner = owner_with_list(store, email).await?;
    create_imap_mailbox(
        store,
        ImapMailbox {
            owner,
            address: email,
            settings: None,
            password: None,
        },
    )
    .await
}

fn suggestion_commit(mailbox: MailboxId, n: u32, fencing: Option<i64>) -> CommitMessage {
    CommitMessage {
        mailbox,
        folder: "INBOX".into(),
        cursor: Cursor::Imap {
            uidvalidity: 1,
            uid: n,
        },
        message_id_hash: format!("{n:064x}"),
        outcome: Outcome::Suggestion(NewSuggestion {
            sender_email: format!("sender{n}@partner.example"),
            fields: SuggestionFields::default(),
            confidence: 0.9,
            auth: mailsig_daemon::domain::SenderAuth::new(
                mailsig_daemon::domain::AuthResult::Authenticated,
                mailsig_daemon::domain::AuthMethod::Dmarc,
            ),
        }),
        fencing,
    }
}

/// A signed message the parser turns into a suggestion from `sender<n>@partner.example`.
fn signed_message(n: u32, tag: &str) -> Vec<u8> {
    const NAMES: [&str; 8] = [
        "Jana Novak",
        "Petra Svoboda",
        "Karel Dvorak",
        "Eva Cerna",
        "Tomas Prochazka",
        "Lucie Kucera",
        "Jan Vesely",
        "Marie Horak",
    ];
    let name = NAMES[n as usize % NAMES.len()];
    format!(
        "From: {name} <sender{n}@partner.example>\r\nTo: owner@mycorp.example\r\nSubject: Offer\r\n\
         Date: Thu, 19 Nov 2026 10:15:00 +0100\r\nMessage-ID: <{tag}.{n}@partner.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nthe offer is attached.\r\n\r\n\
         Best regards,\r\n{name}\r\nHead of Procurement\r\nPartner Example GmbH\r\nTel. +49 30 12345678\r\n\
         https://www.partner.example\r\n"
    )
    .into_bytes()
}

/// Replica A claims a mailbox, stalls past its lease, B takes the mailbox over: A's commits
/// (through the store and through a fenced pipeline) are refused, B's go through, and A's
/// renewal reports the lease lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_owner_cannot_commit_after_a_takeover() -> Result<()> {
    let clock = Clock::manual(1_800_000_000_000);
    let store = pg_store(clock.clone()).await?;
    let (mailbox, list) = mailbox(&store).await?;
    let lease = Duration::from_secs(15);

    let a = store
        .claim_free_mailboxes("replica-a", lease, 10, false)
        .await?;
    ensure!(a.len() == 1 && a[0].mailbox == mailbox, "{a:?}");
    ensure!(
        store
            .claim_free_mailboxes("replica-b", lease, 10, false)
            .await?
            .is_empty(),
        "a held lease is not free"
    );

    // A stalls (SIGSTOP, a long GC pause…) beyond its lease; B claims the expired lease.
    clock.advance(Duration::from_secs(16));
    let b = store
        .claim_free_mailboxes("replica-b", lease, 10, false)
        .await?;
    ensure!(
        b.len() == 1 && b[0].fencing > a[0].fencing,
        "B takes over with a newer token: {a:?} {b:?}"
    );

    // A wakes up: its commit is refused, whatever it was about to write.
    let refused = store
        .commit_message(suggestion_commit(mailbox, 1, Some(a[0].fencing)))
        .await;
    ensure!(
        matches!(&refused, Err(e) if e.is_fenced()),
        "stale commit must be refused: {refused:?}"
    );
    ensure!(
        store
            .list_suggestions(list, &SuggestionFilter::default())
            .await?
            .is_empty()
    );
    ensure!(
        store.get_cursor(mailbox, "INBOX").await?.is_none(),
        "the stale commit moved no cursor"
    );
    // Its renewal tells it the lease is gone.
    ensure!(
        store
            .renew_owned_leases("replica-a", lease)
            .await?
            .is_empty()
    );

    // The same through the pipeline: a replica's pipeline commits with the token its lease loop
    // last saw.
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let fences = Fences::enforced();
    let pipeline = Pipeline::spawn_fenced(
        store.clone(),
        PipelineConfig::default(),
        fences.clone(),
        &tracker,
        shutdown.clone(),
    );
    fences.hold(mailbox, a[0].fencing);
    let inbound = |uid: u32| InboundMessage {
        mailbox,
        folder: "INBOX".into(),
        position: Cursor::Imap {
            uidvalidity: 1,
            uid,
        },
        size: 0,
        payload: Payload::Raw(RawMessage::new(signed_message(uid, "fence"))),
    };
    let stale = pipeline.handle().process(inbound(2)).await;
    ensure!(
        stale.is_err(),
        "the fenced pipeline refuses the stale owner's message"
    );
    fences.hold(mailbox, b[0].fencing);
    let processed = pipeline
        .handle()
        .process(inbound(2))
        .await
        .context("the owner's commit")?;
    let found = store
        .list_suggestions(list, &SuggestionFilter::default())
        .await?;
    ensure!(
        found.len() == 1 && found[0].sender_email == "sender2@partner.example",
        "{processed:?} {found:?}"
    );
    // And the store directly, with B's token.
    let ok = store
        .commit_message(suggestion_commit(mailbox, 3, Some(b[0].fencing)))
        .await?;
    ensure!(matches!(ok, CommitResult::Inserted { .. }), "{ok:?}");
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Three lease loops over twelve mailboxes: every mailbox gets exactly one owner and nobody
/// holds more than its fair share plus slack; when one replica stops the others take its
/// mailboxes, and a replica that joins later gets a share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_mailboxes_fairly_and_hand_them_over() -> Result<()> {
    let store = pg_store(Clock::System).await?;
    for _ in 0..12 {
        mailbox(&store).await?;
    }
    let a = LeaseLoop::start(&store, "a").await;
    let b = LeaseLoop::start(&store, "b").await;
    let c = LeaseLoop::start(&store, "c").await;

    // 12 mailboxes, 3 replicas: share 4, at most 5 each, all 12 held.
    let held = settle(&store, |by| {
        by.values().sum::<usize>() == 12 && by.len() == 3 && by.values().all(|n| *n <= 5)
    })
    .await?;
    ensure!(
        held.values().all(|n| *n >= 2),
        "every replica takes part: {held:?}"
    );
    ensure!(
        c.ownership.current().leases.len() == held["c"],
        "c's sources see what c holds"
    );

    // c stops: it gives its leases back, a and b take them (share 6, at most 7).
    c.stop().await;
    let held = settle(&store, |by| {
        by.values().sum::<usize>() == 12 && by.len() == 2
    })
    .await?;
    ensure!(held.values().all(|n| *n <= 7), "{held:?}");

    // d joins: whoever holds more than 5 gives back down to 4, d claims them.
    let d = LeaseLoop::start(&store, "d").await;
    let held = settle(&store, |by| {
        by.values().sum::<usize>() == 12 && by.get("d").is_some_and(|n| *n >= 1)
    })
    .await?;
    ensure!(held.len() == 3, "{held:?}");
    for running in [a, b, d] {
        running.stop().await;
    }
    let rows = store.lease_rows().await?;
    ensure!(
        rows.iter().all(|r| r.owner.is_none()),
        "stopped replicas give every lease back: {rows:?}"
    );
    Ok(())
}

/// 3 mailboxes, 3 replicas joining one after the other: the first claims all three, and each
/// replica that joins still gets one (the first gives back although 2 is within share + slack),
/// so every replica ends with exactly one lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_joining_get_a_share_of_few_mailboxes() -> Result<()> {
    let store = pg_store(Clock::System).await?;
    for _ in 0..3 {
        mailbox(&store).await?;
    }
    let mut running = Vec::new();
    for (joined, id) in ["a", "b", "c"].into_iter().enumerate() {
        running.push(LeaseLoop::start(&store, id).await);
        let replicas = joined + 1;
        let held = settle(&store, |by| {
            by.values().sum::<usize>() == 3 && by.len() == replicas
        })
        .await?;
        ensure!(
            held.values().all(|n| *n >= 1 && *n <= 3 - joined),
            "{replicas} replicas: {held:?}"
        );
    }
    let held = settle(&store, |by| by.len() == 3 && by.values().all(|n| *n == 1)).await?;
    for (i, replica) in running.iter().enumerate() {
        ensure!(
            replica.ownership.current().leases.len() == 1,
            "replica {i} sees its one lease: {held:?}"
        );
    }
    for replica in running {
        replica.stop().await;
    }
    Ok(())
}

/// Cursor resets are fenced like commits: with the current lease's token the reset is written;
/// with the token of the lease before (a stalled ex-owner), it is refused and the cursor keeps
/// the new owner's position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_cannot_reset_a_cursor() -> Result<()> {
    let Handover {
        store,
        clock,
        mailbox,
        old,
    } = Handover::first_owner().await?;
    store
        .reset_cursor_fenced(mailbox, "INBOX", 7, 100, old)
        .await
        .context("the owner's reset")?;
    let new = Handover::take_over(&store, &clock, old).await?;
    store
        .reset_cursor_fenced(mailbox, "INBOX", 8, 5, new)
        .await
        .context("the new owner's reset")?;

    // The stalled ex-owner wakes up and resets to what it saw (a UIDVALIDITY change it noticed).
    let refused = store.reset_cursor_fenced(mailbox, "INBOX", 9, 1, old).await;
    ensure!(
        matches!(&refused, Err(e) if e.is_fenced()),
        "a stale reset must be refused: {refused:?}"
    );
    let cursor = store
        .get_cursor(mailbox, "INBOX")
        .await?
        .context("cursor")?;
    ensure!(
        cursor.uidvalidity == Some(8) && cursor.last_uid == Some(5),
        "the new owner's cursor stays: {cursor:?}"
    );
    // Also for a folder without a cursor yet: nothing is written.
    let refused = store
        .reset_cursor_fenced(mailbox, "Archive", 1, 1, old)
        .await;
    ensure!(matches!(&refused, Err(e) if e.is_fenced()), "{refused:?}");
    ensure!(
        store.get_cursor(mailbox, "Archive").await?.is_none(),
        "no cursor created by a stale reset"
    );
    Ok(())
}

/// Every write of a mailbox's own state by the Graph source's task (delta links with their
/// jobs, subscription rows) and a source's status mark are fenced like commits: with the token
/// of the lease before a re-claim (a stalled ex-owner) each is refused with `Fenced` and changes
/// nothing; with the current lease's token each goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_cannot_write_graph_state_or_mark_the_mailbox() -> Result<()> {
    let Handover {
        store,
        clock,
        mailbox,
        old,
    } = Handover::first_owner().await?;
    let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // The first owner baselines the folder and subscribes.
    store
        .commit_delta_baseline(mailbox, "inbox", &ids(&["old-1"]), "link-a", old)
        .await
        .context("the owner's baseline")?;
    let state_a = store
        .put_secret(SecretKind::GraphClientState, b"state-a", 1)
        .await?;
    let sub = |id: &str, client_state| GraphSubscription {
        id: id.into(),
        mailbox,
        folder: "inbox".into(),
        resource: "me/mailFolders('inbox')/messages".into(),
        client_state: Some(client_state),
        state: SubscriptionState::Active,
        renewed_at: 1,
        expires_at: 10,
    };
    store
        .put_graph_subscription(&sub("sub-a", state_a), old)
        .await
        .context("the owner's subscription")?;

    // It stalls past its lease; replica B re-claims the mailbox, resyncs and subscribes anew.
    let new = Handover::take_over(&store, &clock, old).await?;
    ensure!(
        store
            .commit_delta_round(mailbox, "inbox", &ids(&["m-1"]), "link-b", new)
            .await?
            == 1,
        "the new owner's round"
    );
    let state_b = store
        .put_secret(SecretKind::GraphClientState, b"state-b", 1)
        .await?;
    store
        .put_graph_subscription(&sub("sub-b", state_b), new)
        .await
        .context("the new owner's subscription")?;
    let jobs_before = store.graph_job_counts(Some(mailbox)).await?;

    // The stalled ex-owner wakes up and writes what it was about to write: every write is refused.
    let fenced = |what: &str, result: mailsig_daemon::store::Result<()>| {
        ensure!(
            matches!(&result, Err(e) if e.is_fenced()),
            "a stale {what} must be refused: {result:?}"
        );
        Ok(())
    };
    let round = store
        .commit_delta_round(mailbox, "inbox", &ids(&["m-2", "m-3"]), "link-stale", old)
        .await;
    fenced("delta round", round.map(|_| ()))?;
    fenced(
        "baseline",
        store
            .commit_delta_baseline(mailbox, "inbox", &ids(&["m-4"]), "link-stale", old)
            .await,
    )?;
    fenced(
        "baseline of a new folder",
        store
            .commit_delta_baseline(mailbox, "archive", &[], "link-stale", old)
            .await,
    )?;
    let state_stale = store
        .put_secret(SecretKind::GraphClientState, b"state-stale", 1)
        .await?;
    fenced(
        "subscription",
        store
            .put_graph_subscription(&sub("sub-stale", state_stale), old)
            .await,
    )?;
    fenced(
        "renewal",
        store.renew_graph_subscription("sub-b", 2, 99, old).await,
    )?;
    fenced(
        "subscription state",
        store
            .set_graph_subscription_state("sub-b", SubscriptionState::Removed, old)
            .await,
    )?;
    let reason = Some("revoked");
    fenced(
        "status mark",
        store
            .set_mailbox_status_fenced(mailbox, MailboxStatus::NeedsReconsent, reason, old)
            .await,
    )?;
    // So is a replica that holds no lease at all (the token no lease ever has).
    let not_held = Some(mailsig_daemon::pipeline::fences::NOT_HELD);
    fenced(
        "unheld round",
        store
            .commit_delta_round(mailbox, "inbox", &ids(&["m-5"]), "link-x", not_held)
            .await
            .map(|_| ()),
    )?;

    // Nothing changed: the new owner's link, jobs, subscription (and its clientState) and status.
    let cursor = store
        .get_cursor(mailbox, "inbox")
        .await?
        .context("cursor")?;
    ensure!(
        cursor.delta_link.as_deref() == Some("link-b"),
        "the new owner's link stays: {cursor:?}"
    );
    ensure!(
        store.get_cursor(mailbox, "archive").await?.is_none(),
        "no cursor created by a stale baseline"
    );
    ensure!(
        store.graph_job_counts(Some(mailbox)).await? == jobs_before,
        "a stale round queued jobs"
    );
    let subs = store.graph_subscriptions(mailbox).await?;
    ensure!(
        subs == vec![sub("sub-b", state_b)],
        "the new owner's subscription stays: {subs:?}"
    );
    ensure!(
        store.get_secret(state_b).await.is_ok(),
        "the new owner's clientState was wiped"
    );
    ensure!(
        store.get_mailbox(mailbox).await?.status == MailboxStatus::Ok,
        "a stale owner marked the mailbox"
    );

    // The current owner's writes go through.
    store
        .renew_graph_subscription("sub-b", 5, 50, new)
        .await
        .context("the owner's renewal")?;
    store
        .set_graph_subscription_state("sub-b", SubscriptionState::Reauthorize, new)
        .await
        .context("the owner's state")?;
    let renewed = store.graph_subscription("sub-b").await?.context("sub-b")?;
    ensure!(
        renewed.expires_at == 50 && renewed.state == SubscriptionState::Reauthorize,
        "{renewed:?}"
    );
    ensure!(
        store
            .commit_delta_round(mailbox, "inbox", &ids(&["m-2"]), "link-b2", new)
            .await?
            == 1
    );
    store
        .set_mailbox_status_fenced(mailbox, MailboxStatus::NeedsReconsent, reason, new)
        .await
        .context("the owner's mark")?;
    ensure!(store.get_mailbox(mailbox).await?.status == MailboxStatus::NeedsReconsent);

    // A removed mailbox's lease is gone with it: even the last owner's token is refused.
    store.soft_remove_mailbox(mailbox).await?;
    fenced(
        "write after removal",
        store
            .commit_delta_round(mailbox, "inbox", &[], "link-gone", new)
            .await
            .map(|_| ()),
    )?;
    Ok(())
}

/// End to end through the supervisor: replica A runs a linked Microsoft 365 mailbox; replica B
/// takes its lease while A's lease loop has not noticed yet (it renews once a minute here, as if
/// stalled). A's task's next delta round pages through Graph, and its commit is refused: the task
/// stops quietly (the mailbox stays `ok`, no job queued, the delta link unmoved) and is not
/// started again under the stale lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_task_whose_lease_was_taken_stops_and_writes_nothing() -> Result<()> {
    let world = pg_graph_world("fenced").await?;
    // Linked by a first life of the daemon (default lease timings, so it claims the new mailbox
    // within seconds), which gives the lease back when it stops.
    let daemon = world.start().await?;
    let (linked, _) = world.link().await?;
    daemon.stop().await?;

    let mut config = world.config()?;
    config.delta_interval = Duration::from_millis(500);
    let folder = config
        .folders
        .first()
        .cloned()
        .context("a default folder")?;
    let replica = ReplicaOptions {
        id: "replica-a".into(),
        lease: Duration::from_secs(600),
        renew_every: Duration::from_secs(300),
        claim_every: Duration::from_secs(300),
        slack: 1,
    };
    let a = start_graph_replica(&world, world.start_options(config), replica).await?;
    let source = a.supervisor.graph().context("graph source")?.clone();
    wait_until(
        WAIT,
        "replica A to run the mailbox and finish a delta round",
        || {
            let (source, world) = (source.clone(), &world);
            async move {
                let running = source.watched().contains(&linked.id);
                Ok((running
                    && source.stats().delta_rounds > 0
                    && world.store.get_cursor(linked.id, "inbox").await?.is_some())
                .then_some(()))
            }
        },
    )
    .await?;

    // B takes the lease over (A's expired while it stalled); A's lease loop does not know yet.
    let held = world
        .store
        .lease_rows()
        .await?
        .into_iter()
        .find(|l| l.mailbox == linked.id)
        .context("lease row")?;
    ensure!(held.owner.as_deref() == Some("replica-a"), "{held:?}");
    let lease = Lease {
        mailbox: linked.id,
        fencing: held.fencing,
        until: held.until,
    };
    world.store.release_lease("replica-a", lease).await?;
    let b = world
        .store
        .claim_free_mailboxes("replica-b", Duration::from_secs(600), 10, false)
        .await?;
    ensure!(b.len() == 1 && b[0].fencing > held.fencing, "{b:?}");
    let taken_at = Instant::now();
    let link_before = world
        .store
        .get_cursor(linked.id, &folder)
        .await?
        .and_then(|c| c.delta_link);
    let jobs_before = world.store.graph_job_counts(Some(linked.id)).await?;
    // New mail that only a delta round can find (its notification is dropped).
    world.emulator.set_drop_notifications(true);
    world
        .emulator
        .deliver(
            &world.email,
            signed_mail("Stale", "Owner", "partner.example"),
        )
        .await?;

    wait_until(WAIT, "replica A to stop the mailbox it lost", || {
        let source = source.clone();
        async move { Ok((!source.watched().contains(&linked.id)).then_some(())) }
    })
    .await?;
    let delta_calls = |since: Instant| {
        world
            .emulator
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("delta") && r.started >= since)
            .count()
    };
    ensure!(
        delta_calls(taken_at) > 0,
        "A stopped before it tried a delta round: the fence was not what stopped it"
    );
    let stopped_at = Instant::now();
    // Not started again under the same (stale) lease: a reconciliation pass, the only thing that
    // starts a mailbox's task, leaves it stopped, and no task is left to call Graph.
    source.reconcile().await?;
    ensure!(
        !source.watched().contains(&linked.id),
        "A restarted a mailbox it no longer holds"
    );
    ensure!(
        delta_calls(stopped_at) == 0,
        "A kept calling Graph for a mailbox it lost"
    );

    let link_after = world
        .store
        .get_cursor(linked.id, &folder)
        .await?
        .and_then(|c| c.delta_link);
    ensure!(link_after == link_before, "A's stale delta link was stored");
    ensure!(
        world.store.graph_job_counts(Some(linked.id)).await? == jobs_before,
        "A's stale round queued jobs"
    );
    ensure!(
        world.store.get_mailbox(linked.id).await?.status == MailboxStatus::Ok,
        "a lost lease is not the mailbox's fault"
    );
    let row = world
        .store
        .lease_rows()
        .await?
        .into_iter()
        .find(|l| l.mailbox == linked.id)
        .context("lease row")?;
    ensure!(
        row.owner.as_deref() == Some("replica-b") && row.fencing == b[0].fencing,
        "{row:?}"
    );
    a.stop().await
}

/// One mailbox on a fresh PostgreSQL database with a manual clock, leased (15 s) by
/// `replica-a`, whose fencing token is `old`.
struct Handover {
    store: Store,
    clock: Clock,
    mailbox: MailboxId,
    old: Option<i64>,
}

impl Handover {
    async fn first_owner() -> Result<Handover> {
        let clock = Clock::manual(1_800_000_000_000);
        let store = pg_store(clock.clone()).await?;
        let (mailbox, _) = mailbox(&store).await?;
        let claimed = store
            .claim_free_mailboxes("replica-a", Duration::from_secs(15), 10, false)
            .await?;
        ensure!(claimed.len() == 1, "{claimed:?}");
        Ok(Handover {
            store,
            clock,
            mailbox,
            old: Some(claimed[0].fencing),
        })
    }

    /// `replica-a` stalls past its lease and `replica-b` claims the mailbox: its new token.
    async fn take_over(store: &Store, clock: &Clock, old: Option<i64>) -> Result<Option<i64>> {
        clock.advance(Duration::from_secs(16));
        let claimed = store
            .claim_free_mailboxes("replica-b", Duration::from_secs(15), 10, false)
            .await?;
        ensure!(
            claimed.len() == 1 && Some(claimed[0].fencing) != old,
            "{old:?} {claimed:?}"
        );
        Ok(Some(claimed[0].fencing))
    }
}

/// A [`GraphWorld`] whose store is a fresh PostgreSQL database (so the daemons it starts use
/// leases and fencing tokens).
async fn pg_graph_world(tag: &str) -> Result<GraphWorld> {
    GraphWorld::with_store(tag, tempfile::tempdir()?, pg_store(Clock::System).await?).await
}

/// `GraphWorld::start_with`, with this replica's id and lease timings.
async fn start_graph_replica(
    world: &GraphWorld,
    graph: GraphStartOptions,
    replica: ReplicaOptions,
) -> Result<RunningDaemon> {
    let shutdown = CancellationToken::new();
    let api = ApiSettings {
        graph: Some(std::sync::Arc::new(graph.config.clone())),
        ..ApiSettings::default()
    };
    let options = SupervisorOptions {
        http_listener: Some(world.http_listener()),
        graph: Some(graph),
        api,
        replica,
        shutdown_grace: Duration::from_secs(20),
        ..SupervisorOptions::default()
    };
    let supervisor = Supervisor::start(
        options,
        world.store.clone(),
        world.vault.clone(),
        shutdown.clone(),
    )
    .await?;
    let addr = supervisor.http_addr().context("http address")?;
    Ok(RunningDaemon {
        supervisor,
        shutdown,
        addr,
    })
}

/// Issue 9, the outbox: a notification claimed by a replica that then died (its heartbeat
/// expired) is taken over and sent by another replica's worker at once, not after the claim's
/// 15-minute lease; so is one claimed in the surviving replica's own name by a previous life of
/// it (a configured replica id reused after a crash); one claimed by a live replica is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_outbox_claims_are_taken_over_within_seconds() -> Result<()> {
    let env = TestEnv::from_env()?;
    // The store's clock moves only when the test says: the dead replica's heartbeat runs out
    // because the clock passes it, and the 15-minute claims are provably not what ended.
    let clock = Clock::manual(Clock::System.now_ms());
    let store = pg_store(clock.clone()).await?;
    let (dead_recipient, live_recipient) = (env.create_mail_user()?, env.create_mail_user()?);
    let dead_row = enqueue_attention(
        &store,
        &mailbox_of(&store, &dead_recipient.address).await?,
        "login rejected",
    )
    .await?;
    let live_row = enqueue_attention(
        &store,
        &mailbox_of(&store, &live_recipient.address).await?,
        "login rejected",
    )
    .await?;
    let earlier_recipient = env.create_mail_user()?;
    let earlier_row = enqueue_attention(
        &store,
        &mailbox_of(&store, &earlier_recipient.address).await?,
        "login rejected",
    )
    .await?;

    // Each row is claimed by one replica for the worker's usual 15 minutes; one replica dies
    // right after (its heartbeat runs out), the other lives on.
    let lease = WorkerOptions::new("x", "https://mailsig.example").lease;
    store
        .replica_heartbeat("replica-dead", Duration::from_secs(2))
        .await?;
    store
        .replica_heartbeat("replica-live", Duration::from_secs(600))
        .await?;
    let first = store
        .claim_due_as(
            "dead-worker",
            Some("replica-dead"),
            store.now_ms(),
            1,
            lease,
        )
        .await?;
    let second = store
        .claim_due_as(
            "live-worker",
            Some("replica-live"),
            store.now_ms(),
            1,
            lease,
        )
        .await?;
    ensure!(
        first.len() == 1
            && first[0].id == dead_row
            && second.len() == 1
            && second[0].id == live_row,
        "{first:?} {second:?}"
    );
    // The survivor's previous life (same replica id, another process) claimed the third row.
    store
        .replica_heartbeat("replica-survivor", Duration::from_secs(600))
        .await?;
    let third = store
        .claim_due_as(
            "survivor-previous-life",
            Some("replica-survivor"),
            store.now_ms(),
            1,
            lease,
        )
        .await?;
    ensure!(third.len() == 1 && third[0].id == earlier_row, "{third:?}");
    // A third replica looks now: every claim is valid (the dead one's heartbeat still lasts).
    store
        .replica_heartbeat("replica-bystander", Duration::from_secs(600))
        .await?;
    ensure!(
        store
            .claim_due_as(
                "bystander-worker",
                Some("replica-bystander"),
                store.now_ms(),
                10,
                lease
            )
            .await?
            .is_empty(),
        "while the dead replica's heartbeat lasts, its claim holds"
    );
    // The dead replica's heartbeat runs out; every claim's lease still has 15 minutes to go.
    clock.advance(Duration::from_millis(2200));

    // A surviving replica's worker, sending through the test Postfix.
    let sender = env.create_mail_user()?;
    let from: Address = format!("mailsig <{}>", sender.address).parse()?;
    let mut settings = SmtpSettings::new(
        "localhost",
        env.smtps_port,
        TlsMode::ImplicitTls,
        &sender.name,
        from,
    )
    .with_ca_file(env.ca.clone());
    settings.command_timeout = Duration::from_secs(10);
    let mailer = Mailer::new(
        settings,
        &secrecy::SecretString::from(sender.password.clone()),
    )?;
    let mut options = WorkerOptions::new("survivor-worker", "https://mailsig.example");
    options.replica = Some("replica-survivor".to_owned());
    let mut worker = OutboxWorker::new(store.clone(), mailer, options);
    let report = worker.run_once().await?;
    ensure!(
        report.claimed == 2 && report.sent == 2,
        "the dead replica's row and the previous life's, long before their leases end: {report:?}"
    );

    for row in [dead_row, earlier_row] {
        let sent = store.get_outbox_item(row).await?;
        ensure!(sent.status == OutboxStatus::Sent, "{sent:?}");
    }
    let held = store.get_outbox_item(live_row).await?;
    ensure!(
        held.status == OutboxStatus::Sending && held.claimed_by.as_deref() == Some("live-worker"),
        "a live replica's claim is left alone: {held:?}"
    );
    let delivered = env
        .imap()
        .wait_for_messages(&dead_recipient, "INBOX", 1, WAIT)
        .await?;
    ensure!(
        delivered.len() == 1,
        "the notice reached the dead replica's recipient: {} messages",
        delivered.len()
    );
    let delivered = env
        .imap()
        .wait_for_messages(&earlier_recipient, "INBOX", 1, WAIT)
        .await?;
    ensure!(
        delivered.len() == 1,
        "and the previous life's recipient: {} messages",
        delivered.len()
    );
    Ok(())
}

/// OAuth refresh locks never starve the pool: as many mailboxes as the pool has connections
/// take their refresh lock at once (as every Graph mailbox does for its first token when a
/// replica starts) and, holding it, read from the store as the token code does. Unbounded, each
/// lock's transaction held one of the 4 connections and every holder waited for a fifth until
/// the acquire timeout; now all finish at once and the pool still serves others meanwhile.
/// The refresh lock of a named grant (the notifier's technical user) is held across replicas:
/// while another replica's connection holds the grant's advisory lock, taking it waits (the
/// store's backend shows in `pg_locks` as not granted) and goes on once that replica lets go;
/// a mailbox's lock of the same number is another lock and is taken at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_grants_refresh_lock_is_shared_by_replicas_and_apart_from_mailboxes() -> Result<()>
{
    use mailsig_daemon::store::{MailboxId, SECRET_LOCK_SPACE, SecretKind};
    use sqlx::{Connection as _, Executor as _};
    let url = TestEnv::from_env()?.fresh_pg_database().await?;
    let store = Store::open(&url).await?;
    store.migrate().await?;
    let secret = store
        .put_secret(SecretKind::OauthTokens, b"sealed", 1)
        .await?;
    let id = i32::try_from(secret.0)?;

    let mut other_replica = sqlx::PgConnection::connect(&url).await?;
    other_replica.execute("BEGIN").await?;
    sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1, $2)) AS l")
        .bind(SECRET_LOCK_SPACE)
        .bind(id)
        .fetch_one(&mut other_replica)
        .await?;
    let mailbox_lock = tokio::time::timeout(
        Duration::from_secs(10),
        store.lock_mailbox_refresh(MailboxId(secret.0)),
    )
    .await
    .context("a mailbox lock waited for a named grant's lock")??;
    drop(mailbox_lock);

    let (taken_tx, mut taken_rx) = tokio::sync::oneshot::channel();
    let taker = store.clone();
    let waiter = tokio::spawn(async move {
        let lock = taker.lock_secret_refresh(secret).await;
        let _ = taken_tx.send(());
        lock.map(drop)
    });
    let probe = sqlx::PgPool::connect(&url).await?;
    mailsig_tests::graph_support::wait_until(
        Duration::from_secs(10),
        "the store to wait on the other replica's lock",
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            .fetch_one(&probe)
            .await?;
            Ok((waiting > 0).then_some(()))
        },
    )
    .await?;
    ensure!(
        taken_rx.try_recv().is_err(),
        "taken while the other replica held it"
    );
    other_replica.execute("COMMIT").await?;
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .context("the lock was not taken after the other replica let go")???;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_locks_leave_connections_for_their_holders() -> Result<()> {
    let url = TestEnv::from_env()?.fresh_pg_database().await?;
    let options = StoreOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        ..StoreOptions::default()
    };
    let store = Store::open_with(&url, options).await?;
    store.migrate().await?;
    let mut mailboxes = Vec::new();
    for _ in 0..8 {
        mailboxes.push(mailbox(&store).await?.0);
    }
    let mut holders = tokio::task::JoinSet::new();
    for id in mailboxes.clone() {
        let store = store.clone();
        holders.spawn(async move {
            let _lock = store.lock_mailbox_refresh(id).await?;
            // What the token code does under the lock: re-read, then store.
            store.get_mailbox(id).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            store.get_mailbox(id).await?;
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = holders.join_next().await {
        done.context("refresh task")?
            .context("a refresh lock holder could not use the store")?;
    }
    Ok(())
}

/// Waits until the live leases by owner satisfy `done`; returns them.
/// One replica's lease loop with short periods (lease 3 s, renew and claim every 300 ms).
struct LeaseLoop {
    tracker: TaskTracker,
    stop: CancellationToken,
    ownership: Ownership,
}

impl LeaseLoop {
    async fn start(store: &Store, id: &str) -> LeaseLoop {
        let options = ReplicaOptions {
            id: id.to_owned(),
            lease: Duration::from_secs(3),
            renew_every: Duration::from_millis(300),
            claim_every: Duration::from_millis(300),
            slack: 1,
        };
        let (tracker, stop) = (TaskTracker::new(), CancellationToken::new());
        let ownership = leases::start(
            options,
            store.clone(),
            Fences::enforced(),
            &tracker,
            stop.clone(),
        )
        .await;
        LeaseLoop {
            tracker,
            stop,
            ownership,
        }
    }

    /// Stops the loop (it gives its leases back) and waits for it.
    async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

async fn settle(
    store: &Store,
    done: impl Fn(&BTreeMap<String, usize>) -> bool,
) -> Result<BTreeMap<String, usize>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = store.now_ms();
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for row in store.lease_rows().await? {
            if let Some(owner) = row.owner.filter(|_| row.until > now) {
                *by.entry(owner).or_default() += 1;
            }
        }
        if done(&by) {
            return Ok(by);
        }
        ensure!(Instant::now() < deadline, "leases did not settle: {by:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 4 through the supervisor: a mailbox whose password is wrong needs attention; the user
/// fixes the password IN PLACE (same secret row, new content) and the status goes back to ok:
/// the supervisor's reconciliation restarts the watcher and new mail becomes a suggestion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_in_place_restarts_the_watcher() -> Result<()> {
    let env = TestEnv::from_env()?;
    let user = env.create_mail_user()?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    store.migrate().await?;
    let vault = Vault::new(MasterKey::generate()?);
    let owner = owner_with_list(&store, "owner@mycorp.example").await?;
    let settings = ImapSettings {
        host: "127.0.0.1".into(),
        port: env.imap_port,
        security: TlsMode::StartTls,
        username: user.name.clone(),
        folders: vec![],
        // A CA file path, as older CLI links stored it: the watcher reads it into the mailbox.
        ca_file: Some(env.ca.clone()),
        ca_pem: None,
        backfill: 0,
        operator_trusted: true,
    };
    let linked = create_imap_mailbox(
        &store,
        ImapMailbox {
            owner,
            address: &user.address,
            settings: Some(&settings),
            password: Some((&vault, b"not the password")),
        },
    )
    .await?;
    let secret = linked
        .secret
        .context("the mailbox has its sealed password")?;

    let shutdown = CancellationToken::new();
    let imap = ImapStartOptions {
        reconcile_interval: Duration::from_millis(300),
        ..ImapStartOptions::default()
    };
    let options = SupervisorOptions {
        imap,
        ..SupervisorOptions::default()
    };
    let supervisor =
        Supervisor::start(options, store.clone(), vault.clone(), shutdown.clone()).await?;
    let deadline = Instant::now() + WAIT;
    while store.get_mailbox(linked.id).await?.status != MailboxStatus::NeedsAttention {
        ensure!(
            Instant::now() < deadline,
            "a wrong password must make the mailbox need attention"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The fix: the same secret row gets the right password, the status is ok again.
    store
        .replace_secret(
            secret,
            vault
                .seal(
                    &mailsig_daemon::vault::Binding::secret(
                        mailsig_daemon::store::SecretKind::ImapPassword,
                        secret,
                    ),
                    user.password.as_bytes(),
                )?
                .as_bytes(),
            1,
        )
        .await?;
    store
        .set_mailbox_status(linked.id, MailboxStatus::Ok, None)
        .await?;
    let deadline = Instant::now() + WAIT;
    while store.get_cursor(linked.id, "INBOX").await?.is_none() {
        ensure!(
            Instant::now() < deadline,
            "the watcher did not restart with the new password"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = ImapSettings::from_json(&store.get_mailbox(linked.id).await?.settings)?;
    ensure!(
        stored.ca_file.is_none() && stored.ca_pem.is_some(),
        "the CA file was not read into the mailbox: {stored:?}"
    );
    env.imap()
        .append(
            &user,
            "INBOX",
            &signed_message(7, &format!("pw{:x}", rand::random::<u32>())),
        )
        .await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let found = store
            .list_suggestions(owner.list, &SuggestionFilter::default())
            .await?;
        if !found.is_empty() {
            ensure!(
                found.len() == 1 && found[0].sender_email == "sender7@partner.example",
                "{found:?}"
            );
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no suggestion after the password fix"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(store.get_mailbox(linked.id).await?.status == MailboxStatus::Ok);
    shutdown.cancel();
    supervisor.wait().await?;
    Ok(())
}
