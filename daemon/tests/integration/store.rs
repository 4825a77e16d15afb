//! The store's test suite. Every test body is an `async fn(Store)` run twice: once against a
//! fresh SQLite file in a temp dir and once against a fresh PostgreSQL database created on
//! the test server (`MAILSIG_TEST_PG_URL`, started by `scripts/test.sh`).

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use mailsig_daemon::domain::{
    AttentionPayload, AuditAction, AuditObject, AuthMethod, AuthResult, DIGEST_MAX_ITEMS,
    OutboxMessage, SenderAuth, SkipReason,
};
use mailsig_daemon::store::{
    AutoAccept, AutoAcceptMode, ChangeStatus, Clock, CommitMessage, CommitResult, Cursor,
    FieldEdit, KEEP_PER_SUGGESTION, ListEdit, ListId, MailboxFilter, MailboxId, MailboxKind,
    MailboxStatus, NewMailbox, NewSuggestion, OutboxStatus, Outcome, Role, SecretId, SecretKind,
    SightingOutcome, Store, StoreOptions, StoredField, StoredPhone, SuggestionFields,
    SuggestionFilter, SuggestionStatus, UserId,
};
use sqlx::Row;

/// Start of the manual clock every test store uses (2026-11-01, in epoch ms).
const T0: i64 = 1_793_491_200_000;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

// ---------------------------------------------------------------------------------------
// Harness: one test body, two backends.

fn options() -> StoreOptions {
    StoreOptions {
        clock: Clock::manual(T0),
        max_connections: 8,
        ..StoreOptions::default()
    }
}

async fn run_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("create temp dir");
    let url = Store::sqlite_url(&dir.path().join("mailsig.db"));
    let store = Store::open_with(&url, options())
        .await
        .expect("open sqlite store");
    store.migrate().await.expect("migrate sqlite");
    body(store.clone()).await;
    store.close().await;
}

fn pg_admin_url() -> String {
    std::env::var("MAILSIG_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("MAILSIG_TEST_PG_URL is not set: run the tests with scripts/test.sh (it starts PostgreSQL)")
    })
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

async fn pg_admin(sql: String) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&pg_admin_url())
        .await
        .expect("connect to MAILSIG_TEST_PG_URL (is PostgreSQL running? use scripts/test.sh)");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin statement");
    conn.close().await.ok();
}

async fn run_postgres<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let name = format!("t_{:016x}", rand::random::<u64>());
    pg_admin(format!("CREATE DATABASE {name}")).await;
    let url = with_database(&pg_admin_url(), &name);
    let store = Store::open_with(&url, options())
        .await
        .expect("open postgres store");
    store.migrate().await.expect("migrate postgres");
    body(store.clone()).await;
    store.close().await;
    pg_admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}

/// Declares `<name>::sqlite` and `<name>::postgres` tests for each async test body.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run_sqlite(super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run_postgres(super::$name).await
            }
        }
    )*};
}

both_backends!(
    a_merge_is_undone_once_and_not_after_a_later_change,
    migrations_are_idempotent,
    users_are_unique_by_email,
    token_is_stored_hashed_and_verifies,
    list_roles_and_sharing,
    secrets_round_trip_and_delete,
    rotation_replaces_all_or_nothing,
    mailbox_settings_status_and_exclusions,
    commit_same_message_twice_gives_one_suggestion,
    a_group_commit_is_one_write_and_all_or_nothing,
    concurrent_commits_of_one_message_give_one_suggestion,
    merge_by_email_records_history,
    merge_by_name_and_company,
    sender_authentication_decides_what_may_change_what,
    auto_accept_takes_only_sure_authenticated_suggestions,
    provenance_keeps_each_messages_sender_authentication_and_is_bounded,
    skips_are_counted_by_reason,
    suggestions_for_a_deleted_list_are_skipped,
    cursor_never_goes_backwards,
    delta_cursor_is_kept,
    remove_mailbox_wipes_secret_and_purge_deletes_after_retention,
    suggestion_review_status_merge_and_paging,
    digest_collects_suggestions_and_waits_for_interval,
    digest_is_capped,
    outbox_claims_are_disjoint_between_workers,
    outbox_retry_failure_and_expired_claims,
    stale_fencing_token_is_refused,
    audit_log_records_actions,
    concurrent_transactions_and_single_writes_all_land,
    graph_jobs_are_queued_and_finished_in_multi_row_statements,
    a_bulk_change_reaches_a_webhook_in_batches_each_contact_once,
    finished_webhook_deliveries_are_purged_after_the_retention,
    org_role_is_kept_and_a_disabled_account_is_refused_everywhere,
    the_blocklist_takes_the_file_once_and_every_change_moves_its_version,
    additions_made_at_once_never_take_the_blocklist_past_its_cap,
    the_audit_log_is_filtered_paged_exported_and_purged,
    failed_notifications_are_retried_or_dropped_and_audited,
    org_mailbox_health_lists_every_mailbox_those_needing_attention_first,
);

/// SQLite only: PostgreSQL has no write-ahead log of ours to checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_checkpoint_copies_the_log_into_the_database() {
    run_sqlite(|s: Store| async move {
        let w = world(&s).await;
        for uid in 0..50u32 {
            s.commit_message(commit(
                &w,
                &format!("wal-{uid}"),
                uid,
                Outcome::Skipped(SkipReason::Bulk),
            ))
            .await
            .expect("commit");
        }
        let done = s.checkpoint_wal().await.expect("checkpoint");
        assert!(done.log_pages > 0, "commits went to the log: {done:?}");
        assert_eq!(
            done.checkpointed_pages, done.log_pages,
            "no reader holds an old snapshot: {done:?}"
        );
        let stats = s.mailbox_stats(w.mailbox).await.expect("stats");
        assert_eq!(stats.get("skipped:bulk"), 50);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Fixtures.

struct World {
    owner: UserId,
    list: ListId,
    mailbox: MailboxId,
}

async fn world(s: &Store) -> World {
    let owner = s
        .create_user("Owner@Example.org", Some("Owner"))
        .await
        .expect("create owner");
    let list = s
        .create_list(owner.id, "Contacts")
        .await
        .expect("create list");
    let mailbox = s
        .create_mailbox(NewMailbox {
            owner: owner.id,
            kind: MailboxKind::Imap,
            address: "owner@example.org".into(),
            display_name: None,
            target_list: list.id,
            excluded_domains: vec![],
            settings: serde_json::json!({"host": "127.0.0.1", "port": 10993, "folders": ["INBOX"]}),
            secret: None,
        })
        .await
        .expect("create mailbox");
    World {
        owner: owner.id,
        list: list.id,
        mailbox: mailbox.id,
    }
}

fn field(v: &str) -> Option<StoredField> {
    Some(StoredField {
        value: v.into(),
        confidence: 0.9,
        rule: "test".into(),
    })
}

fn contact(sender: &str, name: &str, title: &str, company: &str) -> NewSuggestion {
    NewSuggestion {
        sender_email: sender.into(),
        fields: SuggestionFields {
            name: field(name),
            title: field(title),
            company: field(company),
            emails: vec![StoredField {
                value: sender.into(),
                confidence: 1.0,
                rule: "from".into(),
            }],
            ..Default::default()
        },
        confidence: 0.8,
        auth: SenderAuth::new(AuthResult::Authenticated, AuthMethod::Dmarc),
    }
}

fn commit(w: &World, hash: &str, uid: u32, outcome: Outcome) -> CommitMessage {
    CommitMessage {
        mailbox: w.mailbox,
        folder: "INBOX".into(),
        cursor: Cursor::Imap {
            uidvalidity: 7,
            uid,
        },
        message_id_hash: hash.into(),
        outcome,
        fencing: None,
    }
}

async fn suggestions(s: &Store, list: ListId) -> Vec<mailsig_daemon::store::Suggestion> {
    s.list_suggestions(list, &SuggestionFilter::default())
        .await
        .expect("list suggestions")
}

async fn count(s: &Store, sql: &'static str) -> i64 {
    let row = sqlx::query(sql)
        .fetch_one(s.pool())
        .await
        .expect("count query");
    row.try_get::<i64, _>(0).expect("count column")
}

// ---------------------------------------------------------------------------------------
// Tests.

/// Transactions (`commit_message`) and single-statement writes (`bump_counter`) from many tasks
/// at once: on SQLite they all queue on the one writer connection, none fails as busy, none
/// waits for another forever.
async fn concurrent_transactions_and_single_writes_all_land(s: Store) {
    let w = world(&s).await;
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let s = s.clone();
        let msg = commit(
            &w,
            &format!("many-{i}"),
            100 + i,
            Outcome::Skipped(SkipReason::Bulk),
        );
        let mailbox = w.mailbox;
        tasks.push(tokio::spawn(async move {
            s.commit_message(msg).await.map(|_| ())?;
            s.bump_counter(mailbox, "connection_errors", 1).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("write");
    }
    let stats = s.mailbox_stats(w.mailbox).await.expect("stats");
    assert_eq!(
        (stats.get("skipped:bulk"), stats.get("connection_errors")),
        (64, 64)
    );
}

/// More jobs than one multi-row statement holds, a notification delivered twice, and every
/// kind of outcome in one call: each row gets exactly its own outcome.
async fn graph_jobs_are_queued_and_finished_in_multi_row_statements(s: Store) {
    use mailsig_daemon::store::{GraphJobKind, GraphJobOutcome, NewGraphJob};
    let w = world(&s).await;
    let job = |item: String| NewGraphJob {
        mailbox: w.mailbox,
        kind: GraphJobKind::Message,
        folder: "Inbox".into(),
        item,
    };
    let mut jobs: Vec<NewGraphJob> = (0..70).map(|i| job(format!("m{i}"))).collect();
    jobs.push(job("m5".into()));
    jobs.push(NewGraphJob {
        mailbox: w.mailbox,
        kind: GraphJobKind::Missed,
        folder: "Inbox".into(),
        item: "sub".into(),
    });
    assert_eq!(
        s.enqueue_graph_jobs(&jobs).await.expect("enqueue"),
        71,
        "the repeated m5 is one row"
    );
    let claimed = s
        .claim_graph_jobs("w", None, 100, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 71);
    let outcome = |job: &mailsig_daemon::store::GraphJob| match job.item.as_str() {
        "sub" => GraphJobOutcome::Retry {
            next_at: T0 + 60_000,
            error: "http_503".into(),
        },
        item if item.ends_with('7') => GraphJobOutcome::Failed {
            error: "http_404".into(),
        },
        item if item.ends_with('3') => GraphJobOutcome::Failed {
            error: "too_large".into(),
        },
        _ => GraphJobOutcome::Done,
    };
    let outcomes: Vec<(i64, GraphJobOutcome)> =
        claimed.iter().map(|j| (j.id, outcome(j))).collect();
    s.record_graph_job_outcomes(&outcomes)
        .await
        .expect("record");
    let counts = s.graph_job_counts(Some(w.mailbox)).await.expect("counts");
    // 70 messages: 7 end in 7, 7 end in 3; the retried event stays pending.
    assert_eq!((counts.done, counts.failed, counts.pending), (56, 14, 1));
    let failed = sqlx::query(
        "SELECT last_error, COUNT(*) AS n FROM graph_jobs WHERE status = 'failed' GROUP BY last_error ORDER BY last_error",
    )
    .fetch_all(s.pool())
    .await
    .expect("count failed");
    let failed: Vec<(String, i64)> = failed
        .iter()
        .map(|r| {
            (
                r.try_get("last_error").expect("error"),
                r.try_get("n").expect("n"),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [("http_404".to_owned(), 7), ("too_large".to_owned(), 7)]
    );
    assert!(
        s.claim_graph_jobs("w", None, 100, Duration::from_secs(60))
            .await
            .expect("claim")
            .is_empty(),
        "the retry is not due yet"
    );
}

async fn migrations_are_idempotent(s: Store) {
    let w = world(&s).await;
    s.migrate().await.expect("second migrate is a no-op");
    s.migrate().await.expect("third migrate is a no-op");
    assert_eq!(
        s.get_mailbox(w.mailbox)
            .await
            .expect("data survives")
            .target_list,
        w.list
    );
    // One row per migration file: none applied twice, none missing.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("read the migrations folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert!(files >= 1);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        i64::try_from(files).expect("few files")
    );
}

async fn users_are_unique_by_email(s: Store) {
    let a = s
        .create_user("  Ann@Example.ORG ", None)
        .await
        .expect("create");
    assert_eq!(a.email, "ann@example.org");
    let dup = s
        .create_user("ann@example.org", None)
        .await
        .expect_err("duplicate e-mail");
    assert!(dup.is_conflict(), "{dup}");
    assert_eq!(
        s.user_by_email("ANN@example.org")
            .await
            .expect("by email")
            .id,
        a.id
    );
    assert!(
        s.user_by_email("nobody@example.org")
            .await
            .expect_err("unknown")
            .is_not_found()
    );
    assert!(s.create_user("not-an-address", None).await.is_err());
    s.create_user("bob@example.org", Some("Bob"))
        .await
        .expect("create bob");
    let all = s.list_users().await.expect("list");
    assert_eq!(
        all.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["ann@example.org", "bob@example.org"]
    );
    s.soft_delete_user(a.id).await.expect("delete");
    assert!(s.get_user(a.id).await.expect_err("deleted").is_not_found());
    assert_eq!(s.list_users().await.expect("list").len(), 1);
}

async fn token_is_stored_hashed_and_verifies(s: Store) {
    use secrecy::ExposeSecret;
    let u = s.create_user("ann@example.org", None).await.expect("user");
    let issued = s.create_token(u.id, "cli").await.expect("token");
    let plain = issued.secret.expose_secret().to_owned();
    assert!(
        plain.starts_with("msig_") && plain.len() == 5 + 64,
        "token format"
    );
    assert!(
        !format!("{issued:?}").contains(&plain),
        "Debug must not print the token"
    );

    let rows = sqlx::query("SELECT token_hash, label FROM api_tokens")
        .fetch_all(s.pool())
        .await
        .expect("read");
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].try_get("token_hash").expect("hash column");
    assert_ne!(stored, plain);
    assert!(
        !stored.contains(&plain[5..]),
        "stored value must not contain the token"
    );
    use sha2::Digest;
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(plain.as_bytes())));

    s.clock().advance(Duration::from_secs(60));
    let verified = s.verify_token(&plain).await.expect("verify");
    assert_eq!(verified.user, u.id);
    assert_eq!(verified.last_used_at, Some(T0 + 60_000));
    // The use is recorded at most once a minute (no write per API request).
    s.clock().advance(Duration::from_secs(10));
    assert_eq!(
        s.verify_token(&plain).await.expect("verify").last_used_at,
        Some(T0 + 60_000)
    );
    s.clock().advance(Duration::from_secs(60));
    assert_eq!(
        s.verify_token(&plain).await.expect("verify").last_used_at,
        Some(T0 + 130_000)
    );
    assert!(
        s.verify_token("msig_00")
            .await
            .expect_err("unknown")
            .is_not_found()
    );
    let other = s.create_token(u.id, "api").await.expect("second token");
    assert_ne!(other.secret.expose_secret(), plain.as_str());
    s.revoke_token(issued.token.id).await.expect("revoke");
    assert!(
        s.verify_token(&plain)
            .await
            .expect_err("revoked")
            .is_not_found()
    );
    assert!(
        s.revoke_token(issued.token.id)
            .await
            .expect_err("twice")
            .is_not_found()
    );
    assert!(s.verify_token(other.secret.expose_secret()).await.is_ok());
    assert_eq!(s.list_tokens(u.id).await.expect("list").len(), 2);
}

async fn list_roles_and_sharing(s: Store) {
    let owner = s
        .create_user("owner@example.org", None)
        .await
        .expect("owner");
    let ed = s.create_user("ed@example.org", None).await.expect("editor");
    let vi = s.create_user("vi@example.org", None).await.expect("viewer");
    let stranger = s
        .create_user("x@example.org", None)
        .await
        .expect("stranger");
    let list = s.create_list(owner.id, "  Sales ").await.expect("list");
    assert_eq!(list.name, "Sales");
    assert_eq!(
        s.role_of(owner.id, list.id).await.expect("role"),
        Some(Role::Owner)
    );
    s.share_list(list.id, ed.id, Role::Editor)
        .await
        .expect("share editor");
    s.share_list(list.id, vi.id, Role::Editor)
        .await
        .expect("share");
    s.share_list(list.id, vi.id, Role::Viewer)
        .await
        .expect("downgrade");
    assert_eq!(
        s.role_of(ed.id, list.id).await.expect("role"),
        Some(Role::Editor)
    );
    assert_eq!(
        s.role_of(vi.id, list.id).await.expect("role"),
        Some(Role::Viewer)
    );
    assert_eq!(s.role_of(stranger.id, list.id).await.expect("role"), None);
    assert!(!Role::Viewer.can_edit() && Role::Editor.can_edit());
    assert!(
        s.share_list(list.id, stranger.id, Role::Owner)
            .await
            .is_err(),
        "no second owner"
    );
    assert!(
        s.share_list(list.id, owner.id, Role::Viewer).await.is_err(),
        "owner keeps ownership"
    );
    let members = s.list_members(list.id).await.expect("members");
    let roles: Vec<_> = members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert_eq!(
        roles,
        [
            ("owner@example.org", Role::Owner),
            ("ed@example.org", Role::Editor),
            ("vi@example.org", Role::Viewer)
        ]
    );
    let seen = s.lists_for_user(vi.id).await.expect("lists for viewer");
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].list.id, seen[0].role), (list.id, Role::Viewer));
    assert!(
        s.lists_for_user(stranger.id)
            .await
            .expect("none")
            .is_empty()
    );
    s.unshare_list(list.id, vi.id).await.expect("unshare");
    assert_eq!(s.role_of(vi.id, list.id).await.expect("role"), None);
    assert!(
        s.unshare_list(list.id, owner.id)
            .await
            .expect_err("owner stays")
            .is_not_found()
    );
    s.rename_list(list.id, "Partners").await.expect("rename");
    assert_eq!(s.get_list(list.id).await.expect("get").name, "Partners");
    // A viewer's list cannot be a mailbox target for them.
    let other = s.create_list(owner.id, "Other").await.expect("list");
    s.share_list(other.id, vi.id, Role::Viewer)
        .await
        .expect("share");
    let refused = s
        .create_mailbox(NewMailbox {
            owner: vi.id,
            kind: MailboxKind::Imap,
            address: "vi@example.org".into(),
            display_name: None,
            target_list: other.id,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await;
    assert!(
        refused.is_err(),
        "a viewer cannot direct suggestions into the list"
    );
    s.soft_delete_list(list.id).await.expect("delete list");
    assert_eq!(s.role_of(ed.id, list.id).await.expect("role"), None);
    assert!(
        s.get_list(list.id)
            .await
            .expect_err("deleted")
            .is_not_found()
    );
}

async fn secrets_round_trip_and_delete(s: Store) {
    let id = s
        .put_secret(SecretKind::ImapPassword, &[0, 1, 2, 255], 1)
        .await
        .expect("put");
    let got = s.get_secret(id).await.expect("get");
    assert_eq!(
        (got.kind, got.sealed.as_slice(), got.key_version),
        (SecretKind::ImapPassword, &[0u8, 1, 2, 255][..], 1)
    );
    assert!(
        !format!("{got:?}").contains("255"),
        "Debug must not print the sealed bytes"
    );
    let smtp = s
        .set_named_secret("smtp", SecretKind::SmtpPassword, b"sealed-a", 1)
        .await
        .expect("named");
    let again = s
        .set_named_secret("smtp", SecretKind::SmtpPassword, b"sealed-b", 1)
        .await
        .expect("replace named");
    assert_eq!(smtp, again, "a named secret is replaced in place");
    assert_eq!(
        s.named_secret("smtp").await.expect("named").sealed,
        b"sealed-b"
    );
    s.replace_secret(id, b"refreshed", 1)
        .await
        .expect("replace");
    assert_eq!(s.get_secret(id).await.expect("get").sealed, b"refreshed");
    s.delete_secret(id).await.expect("delete");
    assert!(s.get_secret(id).await.expect_err("gone").is_not_found());
    assert_eq!(s.all_secrets().await.expect("all").len(), 1);
}

async fn rotation_replaces_all_or_nothing(s: Store) {
    let mut ids = Vec::new();
    for i in 0..3u8 {
        ids.push(
            s.put_secret(SecretKind::OauthTokens, &[i; 8], 1)
                .await
                .expect("put"),
        );
    }
    let mut batch: Vec<(SecretId, Vec<u8>)> = ids.iter().map(|id| (*id, vec![9; 8])).collect();
    batch.push((SecretId(999_999), vec![9; 8]));
    let err = s
        .replace_all_secrets(batch, 2)
        .await
        .expect_err("unknown id fails the batch");
    assert!(err.is_not_found());
    for (i, id) in ids.iter().enumerate() {
        let kept = s.get_secret(*id).await.expect("get");
        assert_eq!(
            (kept.sealed, kept.key_version),
            (vec![i as u8; 8], 1),
            "rolled back"
        );
    }
    let batch = ids.iter().map(|id| (*id, vec![7; 8])).collect();
    assert_eq!(s.replace_all_secrets(batch, 2).await.expect("rotate"), 3);
    for secret in s.all_secrets().await.expect("all") {
        assert_eq!((secret.sealed, secret.key_version), (vec![7; 8], 2));
    }
}

async fn mailbox_settings_status_and_exclusions(s: Store) {
    let w = world(&s).await;
    let m = s.get_mailbox(w.mailbox).await.expect("get");
    assert_eq!(
        (m.kind, m.status, m.owner),
        (MailboxKind::Imap, MailboxStatus::Ok, w.owner)
    );
    assert_eq!(m.settings["port"], 10993);
    s.set_exclusions(
        w.mailbox,
        &[
            "@Spam.example".into(),
            "spam.example".into(),
            " ads.example ".into(),
        ],
    )
    .await
    .expect("exclusions");
    assert_eq!(
        s.get_mailbox(w.mailbox)
            .await
            .expect("get")
            .excluded_domains,
        ["ads.example", "spam.example"]
    );
    s.set_mailbox_status(
        w.mailbox,
        MailboxStatus::NeedsAttention,
        Some("authentication failed"),
    )
    .await
    .expect("status");
    let m = s.get_mailbox(w.mailbox).await.expect("get");
    assert_eq!(
        (m.status, m.status_reason.as_deref()),
        (MailboxStatus::NeedsAttention, Some("authentication failed"))
    );
    let secret = s
        .put_secret(SecretKind::ImapPassword, b"old", 1)
        .await
        .expect("secret");
    s.set_mailbox_secret(w.mailbox, secret)
        .await
        .expect("set secret");
    let fresh = s
        .put_secret(SecretKind::ImapPassword, b"new", 1)
        .await
        .expect("secret");
    s.set_mailbox_secret(w.mailbox, fresh)
        .await
        .expect("new credentials");
    let m = s.get_mailbox(w.mailbox).await.expect("get");
    assert_eq!(
        (m.secret, m.status),
        (Some(fresh), MailboxStatus::Ok),
        "new credentials reset the status"
    );
    assert!(
        s.get_secret(secret)
            .await
            .expect_err("old secret wiped")
            .is_not_found()
    );
    s.set_mailbox_settings(w.mailbox, &serde_json::json!({"host": "imap.example"}))
        .await
        .expect("settings");
    assert_eq!(
        s.get_mailbox(w.mailbox).await.expect("get").settings["host"],
        "imap.example"
    );
    let by_owner = s
        .list_mailboxes(&MailboxFilter {
            owner: Some(w.owner),
            kind: None,
        })
        .await
        .expect("list");
    assert_eq!(by_owner.len(), 1);
    let graph = s
        .list_mailboxes(&MailboxFilter {
            owner: None,
            kind: Some(MailboxKind::Graph),
        })
        .await
        .expect("list");
    assert!(graph.is_empty());
}

async fn commit_same_message_twice_gives_one_suggestion(s: Store) {
    let w = world(&s).await;
    let msg = commit(
        &w,
        "hash-1",
        10,
        Outcome::Suggestion(contact("ann@acme.example", "Ann Lee", "CEO", "Acme")),
    );
    let first = s.commit_message(msg.clone()).await.expect("first commit");
    assert!(matches!(first, CommitResult::Inserted { .. }), "{first:?}");
    assert!(
        s.is_processed(w.mailbox, "hash-1")
            .await
            .expect("processed")
    );
    let second = s.commit_message(msg).await.expect("second commit");
    assert_eq!(second, CommitResult::Duplicate);
    let list = suggestions(&s, w.list).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].sender_email, "ann@acme.example");
    assert_eq!(
        list[0].fields.title.as_ref().map(|f| f.value.as_str()),
        Some("CEO")
    );
    let stats = s.mailbox_stats(w.mailbox).await.expect("stats");
    assert_eq!((stats.get("processed"), stats.get("suggested")), (1, 1));
    assert_eq!(stats.skipped.get("duplicate"), Some(&1));
    assert_eq!(stats.last_activity, Some(T0));
    assert_eq!(count(&s, "SELECT COUNT(*) FROM outbox").await, 1);
}

/// `commit_messages`: several messages in one transaction behave as the same commits one after
/// another (a later message sees an earlier one's row), cost one write, and a failing message
/// leaves nothing of the batch behind.
async fn a_group_commit_is_one_write_and_all_or_nothing(s: Store) {
    let w = world(&s).await;
    let writes = s.writes();
    let batch = [
        commit(
            &w,
            "g1",
            1,
            Outcome::Suggestion(contact("ann@acme.example", "Ann Lee", "CEO", "Acme")),
        ),
        commit(
            &w,
            "g2",
            2,
            Outcome::Suggestion(contact("bo@acme.example", "Bo Chen", "CTO", "Acme")),
        ),
        commit(&w, "g1", 3, Outcome::Skipped(SkipReason::Bulk)),
        commit(&w, "g4", 4, Outcome::Skipped(SkipReason::Bulk)),
    ];
    let results = s.commit_messages(&batch).await.expect("group commit");
    assert_eq!(s.writes() - writes, 1, "one transaction for the batch");
    assert!(
        matches!(results[0], CommitResult::Inserted { .. }),
        "{results:?}"
    );
    assert!(
        matches!(results[1], CommitResult::Inserted { .. }),
        "{results:?}"
    );
    assert_eq!(
        results[2],
        CommitResult::Duplicate,
        "the batch's own earlier message counts"
    );
    assert_eq!(results[3], CommitResult::Skipped(SkipReason::Bulk));
    assert_eq!(suggestions(&s, w.list).await.len(), 2);
    let last_uid = |s: Store| async move {
        s.get_cursor(w.mailbox, "INBOX")
            .await
            .expect("cursor")
            .and_then(|c| c.last_uid)
    };
    assert_eq!(last_uid(s.clone()).await, Some(4));

    // One message that cannot commit (an empty identity) fails the whole batch: nothing of the
    // others is written, so each can be committed again on its own.
    let failing = [
        commit(&w, "g5", 5, Outcome::Skipped(SkipReason::Bulk)),
        commit(&w, "", 6, Outcome::Skipped(SkipReason::Bulk)),
    ];
    assert!(s.commit_messages(&failing).await.is_err());
    assert!(!s.is_processed(w.mailbox, "g5").await.expect("processed"));
    let mut stale = commit(&w, "g7", 7, Outcome::Skipped(SkipReason::Bulk));
    stale.fencing = Some(-1);
    let fenced = [
        commit(&w, "g5", 5, Outcome::Skipped(SkipReason::Bulk)),
        stale,
    ];
    let error = s
        .commit_messages(&fenced)
        .await
        .expect_err("a stale token fails the batch");
    assert!(error.is_fenced(), "{error}");
    assert!(!s.is_processed(w.mailbox, "g5").await.expect("processed"));
    assert_eq!(
        last_uid(s.clone()).await,
        Some(4),
        "the failed batch moved no cursor"
    );
}

async fn concurrent_commits_of_one_message_give_one_suggestion(s: Store) {
    let w = world(&s).await;
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let s = s.clone();
        let msg = commit(
            &w,
            "same",
            20 + i,
            Outcome::Suggestion(contact("bo@acme.example", "Bo", "CTO", "Acme")),
        );
        tasks.push(tokio::spawn(async move { s.commit_message(msg).await }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.expect("task").expect("commit") {
            CommitResult::Duplicate => {}
            CommitResult::Inserted { .. } => fresh += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one commit wins");
    assert_eq!(suggestions(&s, w.list).await.len(), 1);
    let stats = s.mailbox_stats(w.mailbox).await.expect("stats");
    assert_eq!(
        (stats.get("processed"), stats.get("skipped:duplicate")),
        (1, 5)
    );
    let cursor = s
        .get_cursor(w.mailbox, "INBOX")
        .await
        .expect("cursor")
        .expect("present");
    assert_eq!(
        cursor.last_uid,
        Some(25),
        "duplicates still advance the cursor"
    );
}

async fn merge_by_email_records_history(s: Store) {
    let w = world(&s).await;
    let first = s
        .commit_message(commit(
            &w,
            "m1",
            1,
            Outcome::Suggestion(contact("ann@acme.example", "Ann Lee", "CEO", "Acme")),
        ))
        .await
        .expect("first");
    let CommitResult::Inserted { suggestion } = first else {
        panic!("{first:?}")
    };
    s.clock().advance(Duration::from_secs(3600));
    let mut newer = contact("ANN@acme.example", "Ann Lee", "CTO", "Acme");
    newer.fields.phones.push(StoredPhone {
        kind: "mobile".into(),
        e164: "+491701234567".into(),
        confidence: 0.9,
        rule: "label".into(),
    });
    newer.confidence = 0.95;
    let second = s
        .commit_message(commit(&w, "m2", 2, Outcome::Suggestion(newer.clone())))
        .await
        .expect("second");
    assert_eq!(
        second,
        CommitResult::Merged {
            suggestion,
            changed_fields: vec!["title".into(), "phones".into()]
        }
    );
    let third = s
        .commit_message(commit(&w, "m3", 3, Outcome::Suggestion(newer)))
        .await
        .expect("third");
    assert_eq!(third, CommitResult::Unchanged { suggestion });

    let all = suggestions(&s, w.list).await;
    assert_eq!(all.len(), 1);
    let got = &all[0];
    assert_eq!(
        got.fields.title.as_ref().map(|f| f.value.as_str()),
        Some("CTO")
    );
    assert_eq!(got.fields.phones.len(), 1);
    assert!((got.confidence - 0.95).abs() < 1e-9);
    assert_eq!(got.updated_at, T0 + 3_600_000);
    let history = s.suggestion_history(suggestion).await.expect("history");
    let rows: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.field.as_str(),
                h.old_value.as_deref(),
                h.new_value.as_deref(),
                h.at,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("title", Some("CEO"), Some("CTO"), T0 + 3_600_000),
            ("phones", None, Some(r#"["+491701234567"]"#), T0 + 3_600_000),
        ]
    );
    assert_eq!(
        s.mailbox_stats(w.mailbox)
            .await
            .expect("stats")
            .get("merged"),
        1
    );
}

async fn merge_by_name_and_company(s: Store) {
    let w = world(&s).await;
    let a = s
        .commit_message(commit(
            &w,
            "n1",
            1,
            Outcome::Suggestion(contact(
                "anna@acme.example",
                "Anna-Maria Schmidt",
                "CFO",
                "ACME GmbH",
            )),
        ))
        .await
        .expect("first");
    let CommitResult::Inserted { suggestion } = a else {
        panic!("{a:?}")
    };
    // Another address of the same person: same name and company after normalisation.
    let b = s
        .commit_message(commit(
            &w,
            "n2",
            2,
            Outcome::Suggestion(contact(
                "a.schmidt@acme.example",
                "anna maria SCHMIDT",
                "CFO",
                "Acme GmbH",
            )),
        ))
        .await
        .expect("second");
    let CommitResult::Merged {
        suggestion: merged,
        changed_fields,
    } = b
    else {
        panic!("{b:?}")
    };
    assert_eq!(merged, suggestion);
    assert!(
        changed_fields.contains(&"emails".to_string()),
        "{changed_fields:?}"
    );
    let got = s.get_suggestion(suggestion).await.expect("get");
    let emails: Vec<_> = got.fields.emails.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(emails, ["anna@acme.example", "a.schmidt@acme.example"]);
    // Same name, other company: another person.
    let c = s
        .commit_message(commit(
            &w,
            "n3",
            3,
            Outcome::Suggestion(contact(
                "anna@other.example",
                "Anna-Maria Schmidt",
                "CFO",
                "Other AG",
            )),
        ))
        .await
        .expect("third");
    assert!(matches!(c, CommitResult::Inserted { .. }), "{c:?}");
    assert_eq!(suggestions(&s, w.list).await.len(), 2);
}

async fn suggestions_for_a_deleted_list_are_skipped(s: Store) {
    let w = world(&s).await;
    s.soft_delete_list(w.list).await.expect("delete list");
    let r = s
        .commit_message(commit(
            &w,
            "x1",
            1,
            Outcome::Suggestion(contact("z@acme.example", "Z", "CEO", "Acme")),
        ))
        .await
        .expect("commit");
    assert_eq!(r, CommitResult::Skipped(SkipReason::TargetListDeleted));
    assert_eq!(count(&s, "SELECT COUNT(*) FROM suggestions").await, 0);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM outbox").await, 0);
    let stats = s.mailbox_stats(w.mailbox).await.expect("stats");
    assert_eq!(stats.skipped.get("target_list_deleted"), Some(&1));
}

async fn skips_are_counted_by_reason(s: Store) {
    let w = world(&s).await;
    for (i, reason) in [
        SkipReason::Bulk,
        SkipReason::Bulk,
        SkipReason::AutoReply,
        SkipReason::NoSignature,
    ]
    .into_iter()
    .enumerate()
    {
        let r = s
            .commit_message(commit(
                &w,
                &format!("s{i}"),
                i as u32 + 1,
                Outcome::Skipped(reason),
            ))
            .await
            .expect("skip");
        assert_eq!(r, CommitResult::Skipped(reason));
    }
    let stats = s.mailbox_stats(w.mailbox).await.expect("stats");
    assert_eq!(stats.get("processed"), 4);
    assert_eq!(stats.skipped.get("bulk"), Some(&2));
    assert_eq!(stats.skipped.get("auto_reply"), Some(&1));
    assert_eq!(stats.skipped.get("no_signature"), Some(&1));
    assert!(suggestions(&s, w.list).await.is_empty());
    assert_eq!(
        s.get_cursor(w.mailbox, "INBOX")
            .await
            .expect("cursor")
            .and_then(|c| c.last_uid),
        Some(4)
    );
}

async fn cursor_never_goes_backwards(s: Store) {
    let w = world(&s).await;
    assert_eq!(
        s.get_cursor(w.mailbox, "INBOX").await.expect("cursor"),
        None
    );
    s.commit_message(commit(&w, "c10", 10, Outcome::Skipped(SkipReason::Bulk)))
        .await
        .expect("uid 10");
    s.commit_message(commit(&w, "c5", 5, Outcome::Skipped(SkipReason::Bulk)))
        .await
        .expect("uid 5");
    let c = s
        .get_cursor(w.mailbox, "INBOX")
        .await
        .expect("cursor")
        .expect("present");
    assert_eq!((c.uidvalidity, c.last_uid), (Some(7), Some(10)));
    s.set_cursor(
        w.mailbox,
        "INBOX",
        &Cursor::Imap {
            uidvalidity: 7,
            uid: 3,
        },
    )
    .await
    .expect("set lower");
    assert_eq!(
        s.get_cursor(w.mailbox, "INBOX")
            .await
            .expect("cursor")
            .and_then(|c| c.last_uid),
        Some(10)
    );
    // A commit from another UIDVALIDITY is stale and leaves the cursor alone …
    s.set_cursor(
        w.mailbox,
        "INBOX",
        &Cursor::Imap {
            uidvalidity: 8,
            uid: 50,
        },
    )
    .await
    .expect("stale");
    let c = s
        .get_cursor(w.mailbox, "INBOX")
        .await
        .expect("cursor")
        .expect("present");
    assert_eq!((c.uidvalidity, c.last_uid), (Some(7), Some(10)));
    // … until the source announces the new UIDVALIDITY.
    s.reset_cursor(w.mailbox, "INBOX", 8, 2)
        .await
        .expect("reset");
    s.set_cursor(
        w.mailbox,
        "INBOX",
        &Cursor::Imap {
            uidvalidity: 8,
            uid: 4,
        },
    )
    .await
    .expect("advance");
    let c = s
        .get_cursor(w.mailbox, "INBOX")
        .await
        .expect("cursor")
        .expect("present");
    assert_eq!((c.uidvalidity, c.last_uid), (Some(8), Some(4)));
    s.set_cursor(
        w.mailbox,
        "Archive",
        &Cursor::Imap {
            uidvalidity: 1,
            uid: u32::MAX,
        },
    )
    .await
    .expect("large uid");
    assert_eq!(
        s.get_cursor(w.mailbox, "Archive")
            .await
            .expect("cursor")
            .and_then(|c| c.last_uid),
        Some(u32::MAX)
    );
}

async fn delta_cursor_is_kept(s: Store) {
    let w = world(&s).await;
    let mut msg = commit(&w, "d1", 0, Outcome::Skipped(SkipReason::Bulk));
    msg.cursor = Cursor::Delta {
        link: "https://graph.example/delta?token=1".into(),
    };
    s.commit_message(msg).await.expect("commit");
    s.set_cursor(
        w.mailbox,
        "inbox",
        &Cursor::Delta {
            link: "https://graph.example/delta?token=2".into(),
        },
    )
    .await
    .expect("set");
    let c = s
        .get_cursor(w.mailbox, "inbox")
        .await
        .expect("cursor")
        .expect("present");
    assert_eq!(
        c.delta_link.as_deref(),
        Some("https://graph.example/delta?token=2")
    );
    assert_eq!(c.last_uid, None);
}

async fn remove_mailbox_wipes_secret_and_purge_deletes_after_retention(s: Store) {
    let w = world(&s).await;
    let secret = s
        .put_secret(SecretKind::ImapPassword, b"sealed", 1)
        .await
        .expect("secret");
    s.set_mailbox_secret(w.mailbox, secret)
        .await
        .expect("attach");
    let r = s
        .commit_message(commit(
            &w,
            "p1",
            1,
            Outcome::Suggestion(contact("cy@acme.example", "Cy", "COO", "Acme")),
        ))
        .await
        .expect("commit");
    let CommitResult::Inserted { suggestion } = r else {
        panic!("{r:?}")
    };

    s.soft_remove_mailbox(w.mailbox).await.expect("remove");
    assert!(
        s.get_secret(secret)
            .await
            .expect_err("secret wiped at once")
            .is_not_found()
    );
    assert!(
        s.get_mailbox(w.mailbox)
            .await
            .expect_err("removed")
            .is_not_found()
    );
    assert!(
        s.list_mailboxes(&MailboxFilter::default())
            .await
            .expect("list")
            .is_empty()
    );
    let late = s
        .commit_message(commit(&w, "p2", 2, Outcome::Skipped(SkipReason::Bulk)))
        .await;
    assert!(
        late.expect_err("no commits into a removed mailbox")
            .is_not_found()
    );
    s.soft_delete_suggestion(suggestion)
        .await
        .expect("delete suggestion");
    assert!(
        s.get_suggestion(suggestion)
            .await
            .expect_err("deleted")
            .is_not_found()
    );

    s.clock().advance(DAY * 10);
    let report = s.purge_deleted(30).await.expect("purge");
    assert_eq!(
        (report.mailboxes, report.suggestions),
        (0, 0),
        "still within retention"
    );
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM processed_messages").await,
        1
    );

    s.clock().advance(DAY * 21);
    let report = s.purge_deleted(30).await.expect("purge");
    assert_eq!((report.mailboxes, report.suggestions), (1, 1));
    assert_eq!(count(&s, "SELECT COUNT(*) FROM mailboxes").await, 0);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM processed_messages").await,
        0
    );
    assert_eq!(count(&s, "SELECT COUNT(*) FROM folder_cursors").await, 0);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM mailbox_counters").await, 0);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM suggestion_history").await,
        0
    );
    assert_eq!(s.get_list(w.list).await.expect("list kept").id, w.list);
}

/// A merge's Undo puts back the values, confidence and status from before it (history
/// recorded), works once, only for the reviewer who merged, and is refused when a later message
/// changed the suggestion after the merge.
async fn a_merge_is_undone_once_and_not_after_a_later_change(s: Store) {
    let w = world(&s).await;
    let other = s
        .create_user("other@example.org", None)
        .await
        .expect("user");
    let r = s
        .commit_message(commit(
            &w,
            "u1",
            1,
            Outcome::Suggestion(contact("ann@acme.example", "Ann Lee", "CEO", "Acme")),
        ))
        .await
        .expect("commit");
    let CommitResult::Inserted { suggestion: id } = r else {
        panic!("{r:?}")
    };
    s.set_suggestion_status(id, SuggestionStatus::Accepted)
        .await
        .expect("accept");
    let before = s.get_suggestion(id).await.expect("get");
    let edits = [FieldEdit {
        field: "title".into(),
        value: Some("Chief Executive".into()),
    }];
    let lists = [ListEdit {
        field: "emails".into(),
        keep: vec![],
    }];
    let (merged, undo) = s
        .merge_suggestion_undoable(id, &edits, &lists, w.owner)
        .await
        .expect("merge");
    assert_eq!(merged.status, SuggestionStatus::Merged);
    assert!(merged.fields.emails.is_empty());
    assert!(
        s.undo_merge(undo, id, other.id).await.is_err(),
        "another person used the undo"
    );
    let restored = s.undo_merge(undo, id, w.owner).await.expect("undo");
    assert_eq!(restored.fields, before.fields);
    assert_eq!(restored.status, SuggestionStatus::Accepted);
    assert!((restored.confidence - before.confidence).abs() < 1e-9);
    let history = s.suggestion_history(id).await.expect("history");
    let last: Vec<_> = history
        .iter()
        .rev()
        .take(3)
        .map(|h| (h.field.as_str(), h.new_value.clone()))
        .collect();
    assert!(
        last.contains(&("status", Some("accepted".to_owned())))
            && last.iter().any(|(f, _)| *f == "title"),
        "{last:?}"
    );
    assert!(
        matches!(
            s.undo_merge(undo, id, w.owner).await,
            Err(mailsig_daemon::store::Error::NotFound { .. })
        ),
        "an undo worked twice"
    );

    // Merge again, then another reviewer changes the title: the undo is refused, nothing moves.
    let (_, undo) = s
        .merge_suggestion_undoable(id, &edits, &[], w.owner)
        .await
        .expect("merge again");
    s.merge_suggestion(
        id,
        &[FieldEdit {
            field: "title".into(),
            value: Some("Founder".into()),
        }],
    )
    .await
    .expect("a later merge");
    let changed = s.get_suggestion(id).await.expect("get");
    let refused = s.undo_merge(undo, id, w.owner).await;
    assert!(
        matches!(refused, Err(mailsig_daemon::store::Error::Invalid { .. })),
        "{refused:?}"
    );
    assert_eq!(
        s.get_suggestion(id).await.expect("get").fields,
        changed.fields
    );

    // An entry outlives its hour only until the retention task's next purge, and is refused
    // once the hour is over.
    let kept = || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM merge_undo")
            .fetch_one(s.pool())
            .await
            .expect("count");
        n
    };
    let unused = kept().await;
    let (_, late) = s
        .merge_suggestion_undoable(id, &edits, &[], w.owner)
        .await
        .expect("merge a third time");
    assert_eq!(kept().await, unused + 1, "the merge kept its entry");
    s.purge_deleted(30).await.expect("purge within the hour");
    assert_eq!(
        kept().await,
        unused + 1,
        "a purge within the hour kept the entries"
    );
    s.clock().advance(Duration::from_secs(3601));
    assert!(
        matches!(
            s.undo_merge(late, id, w.owner).await,
            Err(mailsig_daemon::store::Error::NotFound { .. })
        ),
        "an undo worked after its hour"
    );
    s.purge_deleted(30).await.expect("purge after the hour");
    assert_eq!(kept().await, 0, "expired undo entries were not purged");
}

async fn suggestion_review_status_merge_and_paging(s: Store) {
    let w = world(&s).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = s
            .commit_message(commit(
                &w,
                &format!("r{i}"),
                i + 1,
                Outcome::Suggestion(contact(
                    &format!("p{i}@acme.example"),
                    &format!("Person {i}"),
                    "Dev",
                    "Acme",
                )),
            ))
            .await
            .expect("commit");
        let CommitResult::Inserted { suggestion } = r else {
            panic!("{r:?}")
        };
        ids.push(suggestion);
    }
    s.set_suggestion_status(ids[0], SuggestionStatus::Accepted)
        .await
        .expect("accept");
    s.set_suggestion_status(ids[1], SuggestionStatus::Dismissed)
        .await
        .expect("dismiss");
    let page1 = s
        .list_suggestions(
            w.list,
            &SuggestionFilter {
                status: Some(SuggestionStatus::New),
                after: None,
                limit: 2,
            },
        )
        .await
        .expect("page 1");
    assert_eq!(
        page1.iter().map(|s| s.id).collect::<Vec<_>>(),
        [ids[2], ids[3]]
    );
    let page2 = s
        .list_suggestions(
            w.list,
            &SuggestionFilter {
                status: Some(SuggestionStatus::New),
                after: Some(ids[3]),
                limit: 2,
            },
        )
        .await
        .expect("page 2");
    assert_eq!(page2.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[4]]);
    let accepted = s
        .list_suggestions(
            w.list,
            &SuggestionFilter {
                status: Some(SuggestionStatus::Accepted),
                ..Default::default()
            },
        )
        .await
        .expect("accepted");
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        s.count_suggestions(w.list, Some(SuggestionStatus::New))
            .await
            .expect("count"),
        3
    );
    assert_eq!(s.count_suggestions(w.list, None).await.expect("count"), 5);

    let merged = s
        .merge_suggestion(
            ids[2],
            &[
                FieldEdit {
                    field: "title".into(),
                    value: Some("Lead Developer".into()),
                },
                FieldEdit {
                    field: "company".into(),
                    value: Some("Acme".into()),
                },
                FieldEdit {
                    field: "name".into(),
                    value: None,
                },
            ],
        )
        .await
        .expect("merge");
    assert_eq!(merged.status, SuggestionStatus::Merged);
    assert_eq!(
        merged
            .fields
            .title
            .as_ref()
            .map(|f| (f.value.as_str(), f.rule.as_str())),
        Some(("Lead Developer", "reviewer"))
    );
    assert_eq!(
        merged.fields.company.as_ref().map(|f| f.rule.as_str()),
        Some("test"),
        "kept value keeps provenance"
    );
    assert!(merged.fields.name.is_none());
    let history = s.suggestion_history(ids[2]).await.expect("history");
    let fields: Vec<_> = history.iter().map(|h| h.field.as_str()).collect();
    assert_eq!(fields, ["name", "title", "status"]);
    assert!(
        s.merge_suggestion(
            ids[2],
            &[FieldEdit {
                field: "emails".into(),
                value: None
            }]
        )
        .await
        .is_err()
    );
    assert!(
        s.merge_suggestion(
            ids[2],
            &[FieldEdit {
                field: "bogus".into(),
                value: None
            }]
        )
        .await
        .is_err()
    );
    let h0 = s.suggestion_history(ids[0]).await.expect("history");
    assert_eq!(h0.len(), 1);
    assert_eq!(
        (h0[0].old_value.as_deref(), h0[0].new_value.as_deref()),
        (Some("new"), Some("accepted"))
    );
}

async fn digest_collects_suggestions_and_waits_for_interval(s: Store) {
    let w = world(&s).await;
    for i in 0..3u32 {
        s.commit_message(commit(
            &w,
            &format!("g{i}"),
            i + 1,
            Outcome::Suggestion(contact(
                &format!("d{i}@acme.example"),
                &format!("D {i}"),
                "Dev",
                "Acme",
            )),
        ))
        .await
        .expect("commit");
    }
    let claimed = s
        .claim_due("w1", s.now_ms(), 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "one digest per recipient");
    let item = &claimed[0];
    assert_eq!(
        (item.recipient, item.status, item.attempts),
        (w.owner, OutboxStatus::Sending, 1)
    );
    let OutboxMessage::Digest(payload) = &item.message else {
        panic!("not a digest: {:?}", item.message)
    };
    assert_eq!(payload.suggestions.len(), 3);
    assert_eq!(payload.lists, [w.list]);
    s.mark_sent(item.id).await.expect("sent");

    // The next suggestion starts a new digest that waits for the interval (15 min default).
    s.clock().advance(Duration::from_secs(60));
    s.commit_message(commit(
        &w,
        "g9",
        9,
        Outcome::Suggestion(contact("late@acme.example", "Late", "Dev", "Acme")),
    ))
    .await
    .expect("commit");
    assert!(
        s.claim_due("w1", s.now_ms(), 10, Duration::from_secs(60))
            .await
            .expect("claim")
            .is_empty()
    );
    s.clock().advance(Duration::from_secs(14 * 60));
    let next = s
        .claim_due("w1", s.now_ms(), 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].next_attempt_at, T0 + 15 * 60 * 1000);
}

async fn digest_is_capped(s: Store) {
    let w = world(&s).await;
    let n = DIGEST_MAX_ITEMS + 5;
    for i in 0..n {
        s.commit_message(commit(
            &w,
            &format!("cap{i}"),
            i as u32 + 1,
            Outcome::Suggestion(contact(
                &format!("c{i}@acme.example"),
                &format!("C {i}"),
                "Dev",
                "Acme",
            )),
        ))
        .await
        .expect("commit");
    }
    let claimed = s
        .claim_due("w1", s.now_ms(), 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let OutboxMessage::Digest(payload) = &claimed[0].message else {
        panic!("not a digest: {:?}", claimed[0].message)
    };
    assert_eq!(
        (payload.suggestions.len(), payload.more),
        (DIGEST_MAX_ITEMS, 5)
    );
    assert_eq!(suggestions(&s, w.list).await.len(), 100, "first page");
}

/// A notification for the outbox tests: an attention notice whose reason tells rows apart.
fn notice(reason: &str) -> OutboxMessage {
    OutboxMessage::Attention(AttentionPayload {
        mailbox: MailboxId(1),
        reason: reason.to_owned(),
    })
}

async fn outbox_claims_are_disjoint_between_workers(s: Store) {
    let u = s.create_user("q@example.org", None).await.expect("user");
    const N: usize = 60;
    for i in 0..N {
        s.enqueue(&notice(&format!("n {i}")), u.id, T0)
            .await
            .expect("enqueue");
    }
    let mut workers = Vec::new();
    for w in 0..3 {
        let s = s.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = s
                    .claim_due(&format!("worker-{w}"), T0, 4, Duration::from_secs(60))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                for item in &batch {
                    assert_eq!(
                        item.claimed_by.as_deref(),
                        Some(format!("worker-{w}").as_str())
                    );
                }
                mine.extend(batch.into_iter().map(|i| i.id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for w in workers {
        for id in w.await.expect("worker") {
            total += 1;
            assert!(seen.insert(id), "row {id} claimed twice");
        }
    }
    assert_eq!((total, seen.len()), (N, N));
    assert_eq!(s.outbox_depth().await.expect("depth").sending, N as i64);
}

async fn outbox_retry_failure_and_expired_claims(s: Store) {
    let u = s.create_user("r@example.org", None).await.expect("user");
    let a = s.enqueue(&notice("a"), u.id, T0).await.expect("a");
    let b = s.enqueue(&notice("b"), u.id, T0).await.expect("b");
    let c = s
        .enqueue(&notice("c"), u.id, T0 + 60_000)
        .await
        .expect("c (later)");
    let first = s
        .claim_due("w1", T0, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(
        first.iter().map(|i| i.id).collect::<Vec<_>>(),
        [a, b],
        "c is not due yet"
    );
    s.mark_retry(a, T0 + 10_000, "421 try again later")
        .await
        .expect("retry");
    s.mark_failed(b, "550 5.1.1 mailbox unavailable")
        .await
        .expect("fail");
    let depth = s.outbox_depth().await.expect("depth");
    assert_eq!((depth.pending, depth.sending, depth.failed), (2, 0, 1));
    let failed = s.list_failed(10).await.expect("failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("550 5.1.1 mailbox unavailable")
    );
    assert!(
        s.claim_due("w1", T0 + 5_000, 10, Duration::from_secs(30))
            .await
            .expect("claim")
            .is_empty()
    );
    let again = s
        .claim_due("w2", T0 + 10_000, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(
        (
            again[0].id,
            again[0].attempts,
            again[0].last_error.as_deref()
        ),
        (a, 2, Some("421 try again later"))
    );
    // w2 dies holding `a`: once its claim expires, another worker gets it (with c, now due).
    let taken = s
        .claim_due("w3", T0 + 60_001, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(taken.iter().map(|i| i.id).collect::<Vec<_>>(), [a, c]);
    s.mark_sent(a).await.expect("sent");
    let item = s.get_outbox_item(a).await.expect("get");
    assert_eq!((item.status, item.sent_at), (OutboxStatus::Sent, Some(T0)));
    assert_eq!(s.list_failed(10).await.expect("failed").len(), 1);
    let long = "x".repeat(5000);
    s.mark_failed(c, &long).await.expect("fail");
    assert_eq!(
        s.get_outbox_item(c)
            .await
            .expect("get")
            .last_error
            .map(|e| e.len()),
        Some(1000)
    );
}

/// The lease statements the replicas run (`claim_free_mailboxes`, `renew_owned_leases`) and the
/// commit's fencing check, together: a stalled owner whose lease was taken over commits nothing.
async fn stale_fencing_token_is_refused(s: Store) {
    let w = world(&s).await;
    let lease = Duration::from_secs(30);
    let leases = s
        .claim_free_mailboxes("replica-a", lease, 10, false)
        .await
        .expect("claim");
    assert_eq!(leases.len(), 1);
    let a = leases[0];
    assert!(
        s.claim_free_mailboxes("replica-b", lease, 10, false)
            .await
            .expect("claim")
            .is_empty(),
        "a held lease is not taken"
    );
    let mut msg = commit(&w, "f1", 1, Outcome::Skipped(SkipReason::Bulk));
    msg.fencing = Some(a.fencing);
    assert_eq!(
        s.commit_message(msg).await.expect("owner commits"),
        CommitResult::Skipped(SkipReason::Bulk)
    );
    // replica-a stalls past its lease; replica-b takes over.
    s.clock().advance(Duration::from_secs(31));
    let b = s
        .claim_free_mailboxes("replica-b", lease, 10, false)
        .await
        .expect("claim");
    assert_eq!(b.len(), 1);
    assert!(b[0].fencing > a.fencing);
    let mut stale = commit(&w, "f2", 2, Outcome::Skipped(SkipReason::Bulk));
    stale.fencing = Some(a.fencing);
    let err = s
        .commit_message(stale)
        .await
        .expect_err("stale owner refused");
    assert!(err.is_fenced(), "{err}");
    assert!(
        !s.is_processed(w.mailbox, "f2").await.expect("processed"),
        "nothing committed"
    );
    // The stalled owner's renewal returns nothing: it learns the lease is gone.
    assert!(
        s.renew_owned_leases("replica-a", lease)
            .await
            .expect("renew a")
            .is_empty(),
        "a lost lease was renewed"
    );
    let renewed = s
        .renew_owned_leases("replica-b", lease)
        .await
        .expect("renew b");
    assert_eq!(renewed.len(), 1);
    assert_eq!(
        (renewed[0].fencing, renewed[0].until),
        (b[0].fencing, s.now_ms() + 30_000)
    );
    s.release_lease("replica-b", renewed[0])
        .await
        .expect("release");
    let c = s
        .claim_free_mailboxes("replica-a", lease, 10, false)
        .await
        .expect("claim after release");
    assert_eq!(c.len(), 1);
    assert!(c[0].fencing > b[0].fencing, "a new owner, a new token");
}

async fn audit_log_records_actions(s: Store) {
    let w = world(&s).await;
    s.record_audit(
        Some(w.owner),
        AuditAction::SuggestionRead,
        AuditObject::List,
        Some(w.list.0),
        None,
    )
    .await
    .expect("audit");
    s.record_audit(
        None,
        AuditAction::ListShare,
        AuditObject::List,
        Some(w.list.0),
        Some("viewer"),
    )
    .await
    .expect("audit");
    let log = s.audit_log(10).await.expect("log");
    assert_eq!(log.len(), 2);
    assert_eq!(
        (
            log[0].action.as_str(),
            log[0].actor,
            log[0].detail.as_deref()
        ),
        ("list.share", None, Some("viewer"))
    );
    assert_eq!(
        (log[1].action.as_str(), log[1].actor, log[1].at),
        ("suggestion.read", Some(w.owner), T0)
    );
}

/// The schema has no place for message content: no column is named like a subject, a body
/// or signature text (checked on SQLite, whose catalogue is easy to read).
#[tokio::test]
async fn schema_has_no_content_columns() {
    run_sqlite(|s: Store| async move {
        let rows = sqlx::query(
            "SELECT m.name AS tbl, p.name AS col FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table'",
        )
        .fetch_all(s.pool())
        .await
        .expect("catalogue");
        assert!(rows.len() > 50, "catalogue read");
        for row in rows {
            let col: String = row.try_get("col").expect("col");
            for banned in ["subject", "body", "signature", "snippet", "raw"] {
                assert!(!col.contains(banned), "column {col} looks like message content");
            }
        }
    })
    .await
}

/// The embedded default runs in WAL mode with foreign keys enforced.
#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys() {
    run_sqlite(|s: Store| async move {
        let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(s.pool()).await.expect("pragma").get(0);
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(s.pool()).await.expect("pragma").get(0);
        assert_eq!(fk, 1);
        let orphan = sqlx::query("INSERT INTO list_members (list_id, user_id, role, created_at) VALUES (99, 99, 'owner', 0)")
            .execute(s.pool())
            .await;
        assert!(orphan.is_err(), "foreign keys are enforced");
    })
    .await
}

#[test]
fn with_database_replaces_only_the_name() {
    assert_eq!(
        with_database("postgres://u@h:1/postgres", "t_1"),
        "postgres://u@h:1/t_1"
    );
    assert_eq!(
        with_database("postgres://u@h:1/postgres?sslmode=disable", "t_1"),
        "postgres://u@h:1/t_1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://u@h:1", "t_1"),
        "postgres://u@h:1/t_1"
    );
}

/// The policy of `store::commit` on each backend: unauthenticated (or undecided) mail never
/// changes an accepted contact and never merges by name and company; authenticated mail that
/// differs from an accepted contact becomes one change suggestion (old values kept), which an
/// editor's accept applies with history; the same decision again changes nothing, the other one
/// is refused.
async fn sender_authentication_decides_what_may_change_what(s: Store) {
    let w = world(&s).await;
    let unverified = |mut c: NewSuggestion, result: AuthResult| {
        c.auth = SenderAuth::new(result, AuthMethod::Dmarc);
        c
    };
    let first = s
        .commit_message(commit(
            &w,
            "p1",
            1,
            Outcome::Suggestion(contact("jane@acme.example", "Jane Doe", "CFO", "Acme")),
        ))
        .await
        .expect("first");
    let CommitResult::Inserted { suggestion: jane } = first else {
        panic!("{first:?}")
    };
    s.set_suggestion_status(jane, SuggestionStatus::Accepted)
        .await
        .expect("accept");
    let accepted = s.get_suggestion(jane).await.expect("get").fields;

    // Forged From: with a new title, not authenticated or undecided: refused, nothing changes.
    for (i, result) in [AuthResult::NotAuthenticated, AuthResult::Unknown]
        .into_iter()
        .enumerate()
    {
        let forged = unverified(
            contact("jane@acme.example", "Jane Doe", "CEO", "Acme"),
            result,
        );
        let uid = 2 + u32::try_from(i).expect("small");
        let done = s
            .commit_message(commit(
                &w,
                &format!("p2-{i}"),
                uid,
                Outcome::Suggestion(forged),
            ))
            .await
            .expect("forged");
        assert_eq!(done, CommitResult::Skipped(SkipReason::UnverifiedSender));
    }
    // Same name and company from another address: a new suggestion of its own, unauthenticated
    // or not (never merged into the accepted contact).
    let lookalike = unverified(
        contact("jane.doe@evil.example", "Jane Doe", "CEO", "Acme"),
        AuthResult::NotAuthenticated,
    );
    let done = s
        .commit_message(commit(&w, "p3", 4, Outcome::Suggestion(lookalike)))
        .await
        .expect("lookalike");
    let CommitResult::Inserted { suggestion: other } = done else {
        panic!("{done:?}")
    };
    assert_ne!(other, jane);
    let signed_other = contact("jane@other.example", "Jane Doe", "CEO", "Acme");
    let done = s
        .commit_message(commit(&w, "p4", 5, Outcome::Suggestion(signed_other)))
        .await
        .expect("other authenticated address");
    assert!(
        matches!(&done, CommitResult::Inserted { suggestion } | CommitResult::Merged { suggestion, .. } if *suggestion != jane),
        "{done:?}"
    );
    assert_eq!(s.get_suggestion(jane).await.expect("get").fields, accepted);
    // Even if the authenticated message merged into the lookalike by name and company, another
    // address does not vouch for it: it stays unverified.
    let unverified_row = s.get_suggestion(other).await.expect("get lookalike");
    assert!(unverified_row.unverified_sender);
    assert!(
        s.list_change_suggestions(w.list, None)
            .await
            .expect("changes")
            .is_empty()
    );

    // Jane's own authenticated mail with a new title: one change suggestion, contact unchanged.
    let done = s
        .commit_message(commit(
            &w,
            "p5",
            6,
            Outcome::Suggestion(contact("jane@acme.example", "Jane Doe", "CEO", "Acme")),
        ))
        .await
        .expect("real change");
    let CommitResult::ChangeProposed {
        suggestion,
        change,
        changed_fields,
    } = done
    else {
        panic!("{done:?}")
    };
    assert_eq!(
        (suggestion, changed_fields),
        (jane, vec!["title".to_owned()])
    );
    assert_eq!(s.get_suggestion(jane).await.expect("get").fields, accepted);
    let open = s
        .list_change_suggestions(w.list, Some(ChangeStatus::Open))
        .await
        .expect("open changes");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].alert_line(), "Jane Doe: new title");
    assert_eq!(
        (
            open[0].diff[0].old.as_deref(),
            open[0].diff[0].new.as_deref()
        ),
        (Some("CFO"), Some("CEO"))
    );
    assert_eq!(
        s.mailbox_stats(w.mailbox)
            .await
            .expect("stats")
            .get("change_proposed"),
        1
    );

    // The editor accepts: the contact takes the title, the old one is in its history.
    let decided = s
        .decide_change_suggestion(change, true, w.owner)
        .await
        .expect("accept change");
    assert_eq!(decided.status, ChangeStatus::Accepted);
    let now = s.get_suggestion(jane).await.expect("get");
    assert_eq!(now.fields.title.map(|f| f.value).as_deref(), Some("CEO"));
    assert_eq!(now.status, SuggestionStatus::Accepted);
    let history = s.suggestion_history(jane).await.expect("history");
    assert!(history.iter().any(|h| h.field == "title"
        && h.old_value.as_deref() == Some("CFO")
        && h.new_value.as_deref() == Some("CEO")));
    // Again: answered unchanged (no second history row); dismissing it now is refused.
    let again = s
        .decide_change_suggestion(change, true, w.owner)
        .await
        .expect("accept again");
    assert_eq!(again, decided);
    assert_eq!(
        s.suggestion_history(jane).await.expect("history").len(),
        history.len()
    );
    assert!(
        s.decide_change_suggestion(change, false, w.owner)
            .await
            .is_err()
    );
}

/// Auto-accept per list: off by default; in a dry run a new suggestion of an authenticated sender
/// whose every field reaches the threshold is only marked; when on it is accepted as it arrives.
/// An unauthenticated sender, or one field below the threshold, keeps a suggestion for review.
/// The expected error rate is the mean chance of a wrong field over the passing suggestions.
async fn auto_accept_takes_only_sure_authenticated_suggestions(s: Store) {
    let w = world(&s).await;
    let sure = |sender: &str, name: &str| {
        let mut c = contact(sender, name, "CFO", "Acme");
        for f in [
            &mut c.fields.name,
            &mut c.fields.title,
            &mut c.fields.company,
        ]
        .into_iter()
        .flatten()
        {
            f.confidence = 0.98;
        }
        c.fields.emails[0].confidence = 0.99;
        c
    };
    let off = s.auto_accept(w.list).await.expect("setting");
    assert_eq!(off, AutoAccept::default());
    assert_eq!(off.mode, AutoAcceptMode::Off);
    let status_of = |id| {
        let s = s.clone();
        async move { s.get_suggestion(id).await.expect("get").status }
    };
    let insert = |hash: &'static str, uid: u32, c: NewSuggestion| {
        let s = s.clone();
        let msg = commit(&w, hash, uid, Outcome::Suggestion(c));
        async move {
            match s.commit_message(msg).await.expect("commit") {
                CommitResult::Inserted { suggestion } => suggestion,
                other => panic!("{other:?}"),
            }
        }
    };
    // Off: nothing is accepted or marked.
    let a = insert("a1", 1, sure("a@one.example", "Ann One")).await;
    assert_eq!(status_of(a).await, SuggestionStatus::New);

    // Dry run: the sure, authenticated one is marked, not accepted.
    s.set_auto_accept(
        w.list,
        AutoAccept {
            mode: AutoAcceptMode::DryRun,
            threshold: 0.95,
        },
    )
    .await
    .expect("dry run");
    let b = insert("a2", 2, sure("b@two.example", "Bob Two")).await;
    let mut forged = sure("c@three.example", "Cat Three");
    forged.auth = SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::Dmarc);
    let c = insert("a3", 3, forged).await;
    let mut unsure = sure("d@four.example", "Dan Four");
    if let Some(title) = unsure.fields.title.as_mut() {
        title.confidence = 0.9;
    }
    let d = insert("a4", 4, unsure).await;
    for id in [b, c, d] {
        assert_eq!(status_of(id).await, SuggestionStatus::New);
    }
    let report = s.auto_accept_report(w.list, None).await.expect("report");
    let marked: Vec<_> = report.would_accept.iter().map(|m| m.suggestion).collect();
    assert_eq!(marked, vec![b]);
    assert_eq!(report.accepted, 0);
    // a, b and d are authenticated; a and b pass 0.95; each has 4 fields (0.98 x3, 0.99).
    assert_eq!((report.authenticated, report.passing), (3, 2));
    let chance = 1.0 - 0.98f64.powi(3) * 0.99;
    let rate = report.expected_error_rate.expect("a rate");
    assert!((rate - chance).abs() < 1e-4, "{rate} vs {chance}");
    // At 0.99 nothing passes: no estimate.
    let strict = s
        .auto_accept_report(w.list, Some(0.99))
        .await
        .expect("report");
    assert_eq!((strict.passing, strict.expected_error_rate), (0, None));

    // On: the sure, authenticated one is accepted as it arrives; the others are not.
    s.set_auto_accept(
        w.list,
        AutoAccept {
            mode: AutoAcceptMode::On,
            threshold: 0.95,
        },
    )
    .await
    .expect("on");
    let e = insert("a5", 5, sure("e@five.example", "Eve Five")).await;
    assert_eq!(status_of(e).await, SuggestionStatus::Accepted);
    let mut forged = sure("f@six.example", "Fay Six");
    forged.auth = SenderAuth::new(AuthResult::Unknown, AuthMethod::Dmarc);
    let f = insert("a6", 6, forged).await;
    assert_eq!(status_of(f).await, SuggestionStatus::New);
    let report = s.auto_accept_report(w.list, None).await.expect("report");
    assert_eq!(report.accepted, 1);
    // Fay's own authenticated message merges into her unreviewed suggestion and makes it qualify:
    // accepted too.
    let merged = s
        .commit_message(commit(
            &w,
            "a7",
            7,
            Outcome::Suggestion(sure("f@six.example", "Fay Six")),
        ))
        .await
        .expect("merge");
    assert_eq!(merged, CommitResult::Unchanged { suggestion: f });
    assert_eq!(status_of(f).await, SuggestionStatus::Accepted);
    let report = s.auto_accept_report(w.list, None).await.expect("report");
    assert_eq!(report.accepted, 2);
    assert!(
        s.set_auto_accept(
            w.list,
            AutoAccept {
                mode: AutoAcceptMode::On,
                threshold: 0.2,
            },
        )
        .await
        .is_err(),
        "a threshold below one half is refused"
    );
}

/// Each committed message behind a suggestion keeps its own sender authentication (the suggestion
/// keeps only the strongest), skips and duplicates add none, and only the newest rows are kept
/// while the count goes on.
async fn provenance_keeps_each_messages_sender_authentication_and_is_bounded(s: Store) {
    let w = world(&s).await;
    let with = |result: AuthResult, method: AuthMethod, title: &str| {
        let mut c = contact("jane@acme.example", "Jane Doe", title, "Acme");
        c.auth = SenderAuth::new(result, method);
        c
    };
    let first = s
        .commit_message(commit(
            &w,
            "v1",
            1,
            Outcome::Suggestion(with(AuthResult::NotAuthenticated, AuthMethod::Dmarc, "CFO")),
        ))
        .await
        .expect("first");
    let CommitResult::Inserted { suggestion: jane } = first else {
        panic!("{first:?}")
    };
    let same = s
        .commit_message(commit(
            &w,
            "v2",
            2,
            Outcome::Suggestion(with(AuthResult::Unknown, AuthMethod::None, "CFO")),
        ))
        .await
        .expect("second");
    assert_eq!(same, CommitResult::Unchanged { suggestion: jane });
    let newer = with(AuthResult::Authenticated, AuthMethod::Dkim, "CEO");
    let merged = s
        .commit_message(commit(&w, "v3", 3, Outcome::Suggestion(newer.clone())))
        .await
        .expect("third");
    assert!(matches!(merged, CommitResult::Merged { .. }), "{merged:?}");
    // Neither a duplicate nor a skip stands behind the suggestion.
    let again = s
        .commit_message(commit(&w, "v3", 4, Outcome::Suggestion(newer)))
        .await
        .expect("duplicate");
    assert_eq!(again, CommitResult::Duplicate);
    s.commit_message(commit(&w, "v5", 5, Outcome::Skipped(SkipReason::Bulk)))
        .await
        .expect("skip");

    let seen = s.provenance(jane).await.expect("provenance");
    assert_eq!(seen.seen, 3);
    let rows: Vec<_> = seen
        .recent
        .iter()
        .map(|r| (r.outcome, r.sender_auth, r.mailbox))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                SightingOutcome::Merged,
                SenderAuth::new(AuthResult::Authenticated, AuthMethod::Dkim),
                Some(w.mailbox)
            ),
            (
                SightingOutcome::Unchanged,
                SenderAuth::new(AuthResult::Unknown, AuthMethod::None),
                Some(w.mailbox)
            ),
            (
                SightingOutcome::Created,
                SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::Dmarc),
                Some(w.mailbox)
            ),
        ]
    );
    assert_eq!(seen.recent[0].at, s.now_ms());
    // The suggestion keeps the strongest; the provenance each message's own.
    let detail = s.get_suggestion(jane).await.expect("get");
    assert!(detail.sender_auth.is_authenticated());

    // An authenticated change to the accepted contact is a message behind it too.
    s.set_suggestion_status(jane, SuggestionStatus::Accepted)
        .await
        .expect("accept");
    let proposed = s
        .commit_message(commit(
            &w,
            "v6",
            6,
            Outcome::Suggestion(with(AuthResult::Authenticated, AuthMethod::Dmarc, "Chair")),
        ))
        .await
        .expect("change");
    assert!(
        matches!(proposed, CommitResult::ChangeProposed { .. }),
        "{proposed:?}"
    );
    let seen = s.provenance(jane).await.expect("provenance");
    assert_eq!(seen.seen, 4);
    assert_eq!(
        seen.last().map(|r| r.outcome),
        Some(SightingOutcome::ChangeProposed)
    );

    // Bounded: the count goes on, the rows stop at the newest KEEP_PER_SUGGESTION.
    let more: u32 = 55;
    for uid in 0..more {
        s.commit_message(commit(
            &w,
            &format!("bulk-{uid}"),
            10 + uid,
            Outcome::Suggestion(with(AuthResult::Authenticated, AuthMethod::Dmarc, "CFO")),
        ))
        .await
        .expect("commit");
    }
    let seen = s.provenance(jane).await.expect("provenance");
    assert_eq!(seen.seen, 4 + u64::from(more));
    let keep = usize::try_from(KEEP_PER_SUGGESTION).expect("small");
    assert_eq!(seen.recent.len(), keep);
    let stored =
        sqlx::query("SELECT COUNT(*) AS n FROM suggestion_sightings WHERE suggestion_id = $1")
            .bind(jane.0)
            .fetch_one(s.pool())
            .await
            .expect("count rows");
    assert_eq!(
        stored.get::<i64, _>("n"),
        KEEP_PER_SUGGESTION,
        "older rows are deleted"
    );
}

// ---------------------------------------------------------------------------------------
// Webhook operations.

/// An endpoint of `w.list` whose target the guard refuses (a documentation address), so a
/// round's sends change nothing here.
async fn webhook(s: &Store, w: &World) -> mailsig_daemon::store::Webhook {
    let secret = s
        .put_secret(SecretKind::WebhookSecret, b"sealed", 1)
        .await
        .expect("secret");
    let horizon = s.change_horizon().await.expect("horizon");
    let id = s
        .create_webhook(&mailsig_daemon::store::NewWebhook {
            list: w.list,
            url: "https://192.0.2.10/hook",
            events: &mailsig_daemon::domain::WebhookEvent::ALL,
            secret,
            event_cursor: horizon,
            created_by: w.owner,
        })
        .await
        .expect("create webhook");
    s.webhook(id).await.expect("read webhook")
}

fn webhook_worker(s: &Store, retention: Duration) -> mailsig_daemon::webhooks::Worker {
    let key = mailsig_daemon::vault::MasterKey::generate().expect("key");
    mailsig_daemon::webhooks::Worker::new(
        s.clone(),
        mailsig_daemon::vault::Vault::new(key),
        mailsig_daemon::webhooks::WebhookSettings {
            retention,
            ..Default::default()
        },
        "test-worker",
    )
}

/// 10,000 contacts created by one statement (one transaction, one change-log position on
/// PostgreSQL) reach the endpoint as batches of at most `QUEUE_BATCH` contacts, each its own
/// transaction, and each contact's event exactly once.
async fn a_bulk_change_reaches_a_webhook_in_batches_each_contact_once(s: Store) {
    const BULK: i64 = 10_000;
    let w = world(&s).await;
    let seed = s
        .commit_message(commit(
            &w,
            "seed",
            1,
            Outcome::Suggestion(contact("seed@bulk.example", "Seed Bulk", "Buyer", "Bulk")),
        ))
        .await
        .expect("seed");
    let CommitResult::Inserted { suggestion: seed } = seed else {
        panic!("seed: {seed:?}");
    };
    let hook = webhook(&s, &w).await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
         INSERT INTO suggestions (list_id, mailbox_id, sender_email, fields, confidence, status, \
         message_id_hash, created_at, updated_at) \
         SELECT s.list_id, s.mailbox_id, 'c' || n.i || '@bulk.example', s.fields, s.confidence, \
         'new', 'bulk-' || n.i, s.created_at, s.updated_at FROM suggestions s, n WHERE s.id = $1",
    )
    .bind(seed.0)
    .bind(BULK)
    .execute(s.pool())
    .await
    .expect("bulk insert");

    let worker = webhook_worker(&s, Duration::from_secs(3600));
    let started = std::time::Instant::now();
    let round = worker.queue_events().await.expect("queue");
    let took = started.elapsed();
    let batch = mailsig_daemon::webhooks::QUEUE_BATCH as usize;
    assert_eq!(round.queued, BULK as usize, "{round:?}");
    // Full batches, then the one that finds the window's end and moves the cursor.
    assert_eq!(
        round.batches,
        (BULK as usize + 1).div_ceil(batch),
        "{round:?}"
    );
    assert!(round.largest_batch <= batch, "{round:?}");
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM webhook_deliveries").await,
        BULK
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(DISTINCT suggestion_id) FROM webhook_deliveries"
        )
        .await,
        BULK
    );
    let after = s.webhook(hook.id).await.expect("webhook");
    assert!(after.window.is_none(), "the window is closed: {after:?}");
    assert!(after.event_cursor > hook.event_cursor);
    // Nothing new: nothing queued (on PostgreSQL the horizon moved past the queueing
    // transactions themselves, so one empty batch moves the cursor).
    let again = worker.queue_events().await.expect("queue again");
    assert_eq!(again.queued, 0, "{again:?}");
    assert!(again.batches <= 1, "{again:?}");
    eprintln!(
        "queued {BULK} deliveries in {} transactions (largest {}) in {} ms",
        round.batches,
        round.largest_batch,
        took.as_millis()
    );
}

/// Delivered and failed deliveries older than the retention go with their log lines; pending
/// ones stay whatever their age, and so do younger finished ones.
async fn finished_webhook_deliveries_are_purged_after_the_retention(s: Store) {
    use mailsig_daemon::domain::{AttemptOutcome, WebhookEvent};
    use mailsig_daemon::store::{AfterAttempt, NewDelivery, QueueStep};
    let w = world(&s).await;
    let hook = webhook(&s, &w).await;
    let delivery = |n: i64| NewDelivery {
        event: WebhookEvent::SuggestionCreated,
        suggestion: mailsig_daemon::store::SuggestionId(n),
        payload: format!("{{\"n\":{n}}}"),
    };
    let upto = s.change_horizon().await.expect("horizon");
    assert!(
        s.queue_webhook_events(
            &hook,
            QueueStep::Done { upto },
            &[delivery(1), delivery(2), delivery(3)]
        )
        .await
        .expect("queue")
    );
    let claimed = s
        .claim_webhook_deliveries("w", s.now_ms(), 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    let outcomes = [
        (
            Some(200),
            AttemptOutcome::Delivered,
            AfterAttempt::Delivered,
        ),
        (Some(500), AttemptOutcome::HttpStatus, AfterAttempt::Failed),
        (
            Some(500),
            AttemptOutcome::HttpStatus,
            AfterAttempt::RetryAt(T0 + 90 * DAY.as_millis() as i64),
        ),
    ];
    for (d, (status, outcome, after)) in claimed.iter().zip(outcomes) {
        s.record_webhook_attempt(d, status, outcome, after)
            .await
            .expect("attempt");
    }
    // Young: nothing goes.
    let worker = webhook_worker(&s, 30 * DAY);
    assert_eq!(worker.purge().await.expect("purge"), 0);
    s.clock().advance(29 * DAY);
    assert_eq!(worker.purge().await.expect("purge"), 0);
    // A later delivery, finished now: younger than the retention when the first ones go.
    let hook = s.webhook(hook.id).await.expect("webhook");
    let upto = s.change_horizon().await.expect("horizon");
    assert!(
        s.queue_webhook_events(&hook, QueueStep::Done { upto }, &[delivery(4)])
            .await
            .expect("queue")
    );
    let late = s
        .claim_webhook_deliveries("w", s.now_ms(), 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(late.len(), 1);
    s.record_webhook_attempt(
        &late[0],
        Some(204),
        AttemptOutcome::Delivered,
        AfterAttempt::Delivered,
    )
    .await
    .expect("attempt");
    s.clock().advance(2 * DAY);
    assert_eq!(worker.purge().await.expect("purge"), 2);
    let left: Vec<i64> =
        sqlx::query("SELECT suggestion_id FROM webhook_deliveries ORDER BY suggestion_id")
            .fetch_all(s.pool())
            .await
            .expect("left")
            .iter()
            .map(|r| r.try_get::<i64, _>(0).expect("id"))
            .collect();
    assert_eq!(left, vec![3, 4], "the pending and the young delivery stay");
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM webhook_attempts").await,
        2,
        "the purged deliveries' log lines went with them"
    );
    let counts = s.webhook_delivery_counts(hook.id).await.expect("counts");
    assert_eq!((counts.pending, counts.delivered, counts.failed), (1, 1, 0));
}

/// The org role defaults to `user` and is kept; disabling an account ends its sessions and
/// tokens at once and refuses every way back in (password look-up, a new session, a session
/// or token presented again) until it is enabled, which does not revive what was ended.
async fn org_role_is_kept_and_a_disabled_account_is_refused_everywhere(s: Store) {
    use mailsig_daemon::domain::OrgRole;
    use secrecy::ExposeSecret;
    let ann = s.create_user("ann@example.org", None).await.expect("user");
    assert_eq!(s.org_role(ann.id).await.expect("role"), OrgRole::User);
    s.set_org_role(ann.id, OrgRole::Admin).await.expect("set");
    assert_eq!(s.org_role(ann.id).await.expect("role"), OrgRole::Admin);
    assert!(s.set_org_role(UserId(9_999), OrgRole::Admin).await.is_err());

    s.set_first_password_hash(ann.id, "$argon2id$v=19$stand-in")
        .await
        .expect("password");
    let token = s.create_token(ann.id, "cli").await.expect("token");
    let token = token.secret.expose_secret().to_owned();
    s.create_session(ann.id, "hash-1", T0 + 3_600_000, false)
        .await
        .expect("session");
    s.verify_token(&token).await.expect("token works");
    s.session_by_hash("hash-1").await.expect("session works");

    assert!(s.disable_user(ann.id).await.expect("disable"));
    assert!(
        !s.disable_user(ann.id).await.expect("twice"),
        "already disabled"
    );
    let member = s.org_member(ann.id).await.expect("member");
    assert!(member.disabled_at.is_some() && member.has_password);
    assert!(
        s.verify_token(&token)
            .await
            .expect_err("refused")
            .is_not_found()
    );
    assert!(
        s.session_by_hash("hash-1")
            .await
            .expect_err("refused")
            .is_not_found()
    );
    assert!(
        s.user_with_password_hash("ann@example.org")
            .await
            .expect_err("refused")
            .is_not_found()
    );
    assert!(
        s.create_session(ann.id, "hash-2", T0 + 3_600_000, false)
            .await
            .expect_err("refused")
            .is_not_found()
    );
    assert!(
        s.org_role(ann.id)
            .await
            .expect_err("refused")
            .is_not_found()
    );

    assert!(s.enable_user(ann.id).await.expect("enable"));
    assert!(!s.enable_user(ann.id).await.expect("twice"));
    s.user_with_password_hash("ann@example.org")
        .await
        .expect("may sign in again");
    assert!(
        s.verify_token(&token)
            .await
            .expect_err("refused")
            .is_not_found(),
        "a token ended by disabling stays ended"
    );
    assert!(
        s.session_by_hash("hash-1")
            .await
            .expect_err("refused")
            .is_not_found()
    );
    let listed = s.org_members().await.expect("members");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].org_role, OrgRole::Admin);
}

/// The org blocklist: the configuration file's list is its initial value (added once; an entry
/// an admin removed does not come back while the file still names it; an entry the file gains
/// later is added), every change moves the version the replicas poll, and a pipeline's cell
/// follows the store's list.
async fn the_blocklist_takes_the_file_once_and_every_change_moves_its_version(s: Store) {
    use mailsig_daemon::pipeline::SharedBlocklist;
    use mailsig_daemon::service::ServiceError;
    use mailsig_daemon::service::org::AdminActor;
    use mailsig_daemon::service::org::blocklist;
    use mailsig_daemon::store::BlocklistKind;

    let admin = AdminActor::operator();
    let live = SharedBlocklist::default();
    let file = vec!["Spam.example".to_owned(), "@news.example".to_owned()];
    let v0 = s.blocklist_version().await.expect("version");
    let added = blocklist::apply_file(&s, Some(&live), &file)
        .await
        .expect("seed");
    let values: Vec<&str> = added.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(values, ["spam.example", "news.example"]);
    let v1 = s.blocklist_version().await.expect("version");
    assert!(v1 > v0, "seeding moved the version");
    assert!(live.current().blocks("anna", "mail.spam.example"));
    assert_eq!(live.version(), Some(v1));

    // The same file again: nothing added, the version stays.
    let again = blocklist::apply_file(&s, Some(&live), &file)
        .await
        .expect("again");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(s.blocklist_version().await.expect("version"), v1);

    // Removed by an admin: stays removed while the file still names it.
    let spam = added
        .iter()
        .find(|e| e.value == "spam.example")
        .expect("spam");
    blocklist::remove(&s, admin, Some(&live), spam.id)
        .await
        .expect("remove");
    let v2 = s.blocklist_version().await.expect("version");
    assert!(v2 > v1);
    assert!(!live.current().blocks("anna", "spam.example"));
    let mut grown = file.clone();
    grown.push("ads.example".to_owned());
    let added = blocklist::apply_file(&s, Some(&live), &grown)
        .await
        .expect("grown");
    let values: Vec<&str> = added.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(values, ["ads.example"], "only what the file gained");
    assert!(!live.current().blocks("anna", "spam.example"));
    assert!(live.current().blocks("anna", "ads.example"));

    // An address; a second time is a conflict; a bad value is a field error.
    let boss = blocklist::add(&s, admin, None, "Boss@Partner.example")
        .await
        .expect("address");
    assert_eq!(boss.kind, BlocklistKind::Address);
    assert_eq!(boss.value, "boss@partner.example");
    assert!(matches!(
        blocklist::add(&s, admin, None, "boss@partner.example").await,
        Err(ServiceError::Conflict { .. })
    ));
    assert!(matches!(
        blocklist::add(&s, admin, None, "not a domain").await,
        Err(ServiceError::Validation(_))
    ));
    // Made without the cell (as the CLI or another replica would): the poll's refresh sees it.
    assert!(!live.current().blocks("boss", "partner.example"));
    assert!(blocklist::refresh(&s, &live).await.expect("refresh"));
    assert!(live.current().blocks("boss", "partner.example"));
    assert!(!live.current().blocks("colleague", "partner.example"));
    assert!(!blocklist::refresh(&s, &live).await.expect("unchanged"));

    // Every change is audited: the file's additions as the daemon's, the rest as the operator's
    // (neither names a user); an address is never written into the entry.
    let log = s.audit_log(50).await.expect("audit");
    let adds = log
        .iter()
        .filter(|e| e.action == mailsig_daemon::domain::AuditAction::BlocklistAdd)
        .count();
    let removes = log
        .iter()
        .filter(|e| e.action == mailsig_daemon::domain::AuditAction::BlocklistRemove)
        .count();
    assert_eq!((adds, removes), (4, 1), "{log:?}");
    assert!(log.iter().all(|e| e.actor.is_none()));
    assert!(
        log.iter()
            .all(|e| !e.detail.as_deref().unwrap_or("").contains("boss")),
        "{log:?}"
    );
}

/// The cap is counted inside the adding transaction: twelve additions made at once with room
/// for five leave exactly five entries, and the other seven are refused as over the cap.
async fn additions_made_at_once_never_take_the_blocklist_past_its_cap(s: Store) {
    use mailsig_daemon::store::BlocklistKind;

    const CAP: usize = 5;
    let adds = (0..12).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.add_blocklist_entry(BlocklistKind::Domain, &format!("d{i}.example"), CAP)
                .await
        })
    });
    let mut added = 0;
    let mut refused = 0;
    for add in futures::future::join_all(adds).await {
        match add.expect("task") {
            Ok(_) => added += 1,
            Err(mailsig_daemon::store::Error::Invalid { .. }) => refused += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((added, refused), (CAP, 12 - CAP));
    assert_eq!(s.blocklist().await.expect("list").entries.len(), CAP);
}

/// The audit viewer's reading: by actor (a user, or no user), action, object and time range,
/// newest first in pages; the CSV export with the same filters (audited itself); and the purge
/// after the retention.
async fn the_audit_log_is_filtered_paged_exported_and_purged(s: Store) {
    use mailsig_daemon::service::ServiceError;
    use mailsig_daemon::service::org::AdminActor;
    use mailsig_daemon::service::org::audit::{self, AuditQuery};

    let ann = s.create_user("ann@example.org", None).await.expect("ann");
    let bob = s.create_user("bob@example.org", None).await.expect("bob");
    let day = |d: i64| T0 + d * 86_400_000;
    // Day 0: three entries of ann; day 2: two of bob; day 3: one of the operator.
    for i in 0..3 {
        s.record_audit(
            Some(ann.id),
            AuditAction::ListCreate,
            AuditObject::List,
            Some(i),
            None,
        )
        .await
        .expect("audit");
    }
    s.clock().set(day(2));
    for i in 0..2 {
        s.record_audit(
            Some(bob.id),
            AuditAction::UserDisable,
            AuditObject::User,
            Some(10 + i),
            None,
        )
        .await
        .expect("audit");
    }
    s.clock().set(day(3));
    s.record_audit(
        None,
        AuditAction::BlocklistAdd,
        AuditObject::Blocklist,
        Some(7),
        Some("domain x.example"),
    )
    .await
    .expect("audit");

    let admin = AdminActor::operator();
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut query = AuditQuery::default();
        f(&mut query);
        query
    };
    let ids =
        |page: &audit::AuditPage| page.entries.iter().map(|e| e.object_id).collect::<Vec<_>>();

    let all = audit::page(&s, admin, &AuditQuery::default())
        .await
        .expect("all");
    assert_eq!(
        ids(&all),
        [Some(7), Some(11), Some(10), Some(2), Some(1), Some(0)]
    );
    assert_eq!(
        all.entries[1].actor_email.as_deref(),
        Some("bob@example.org")
    );
    assert_eq!(all.next_before, None);

    let by_email = audit::page(&s, admin, &q(&|q| q.actor = Some("ANN@example.org".into())))
        .await
        .expect("by email");
    assert_eq!(ids(&by_email), [Some(2), Some(1), Some(0)]);
    let by_id = audit::page(&s, admin, &q(&|q| q.actor = Some(bob.id.0.to_string())))
        .await
        .expect("by id");
    assert_eq!(ids(&by_id), [Some(11), Some(10)]);
    let no_user = audit::page(&s, admin, &q(&|q| q.actor = Some("operator".into())))
        .await
        .expect("operator");
    assert_eq!(ids(&no_user), [Some(7)]);
    let action = audit::page(&s, admin, &q(&|q| q.action = Some("user.disable".into())))
        .await
        .expect("action");
    assert_eq!(ids(&action), [Some(11), Some(10)]);
    let object = audit::page(
        &s,
        admin,
        &q(&|q| {
            q.object = Some("user".into());
            q.object_id = Some("10".into());
        }),
    )
    .await
    .expect("object");
    assert_eq!(ids(&object), [Some(10)]);
    // Day 2 alone (the `to` day is included), as days in UTC.
    let day_two = time::OffsetDateTime::from_unix_timestamp(day(2) / 1000)
        .expect("time")
        .date()
        .to_string();
    let range = audit::page(
        &s,
        admin,
        &q(&|q| {
            q.from = Some(day_two.clone());
            q.to = Some(day_two.clone());
        }),
    )
    .await
    .expect("range");
    assert_eq!(ids(&range), [Some(11), Some(10)]);

    // Pages of two, following the cursor.
    let first = audit::page(&s, admin, &q(&|q| q.limit = Some("2".into())))
        .await
        .expect("p1");
    assert_eq!(ids(&first), [Some(7), Some(11)]);
    let cursor = first.next_before.expect("more");
    let second = audit::page(
        &s,
        admin,
        &q(&|q| {
            q.limit = Some("2".into());
            q.before = Some(cursor.to_string());
        }),
    )
    .await
    .expect("p2");
    assert_eq!(ids(&second), [Some(10), Some(2)]);

    // Unreadable filters are field errors, named.
    match audit::page(
        &s,
        admin,
        &q(&|q| {
            q.actor = Some("nobody@example.org".into());
            q.action = Some("list.explode".into());
            q.from = Some("yesterday".into());
            q.limit = Some("0".into());
        }),
    )
    .await
    {
        Err(ServiceError::Validation(fields)) => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["actor", "action", "from", "limit"]);
        }
        other => panic!("{other:?}"),
    }

    // The export: the same filters, every page, CSV with a header; audited.
    let csv = audit::export_csv(&s, admin, &q(&|q| q.actor = Some("ann@example.org".into())))
        .await
        .expect("export");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[0].starts_with("\"id\",\"at\",\"actor_id\",\"actor\",\"action\""),
        "{csv}"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("\"ann@example.org\",\"list.create\"")),
        "{csv}"
    );
    let exports = audit::page(&s, admin, &q(&|q| q.action = Some("audit.export".into())))
        .await
        .expect("exports");
    assert_eq!(exports.entries.len(), 1);
    assert_eq!(exports.entries[0].detail.as_deref(), Some("3 entries"));

    // Purge after the retention: at day 3 + 1 with one day kept, days 0 and 2 go.
    s.clock().set(day(4));
    let purged = s.purge_audit(1).await.expect("purge");
    assert_eq!(purged, 5);
    let left = audit::page(&s, admin, &AuditQuery::default())
        .await
        .expect("left");
    assert_eq!(left.entries.len(), 2, "{left:?}");
}

/// Failed notifications through the org service: listed with the recipient, queued again
/// (pending, due now) or dropped, each audited; a row that did not fail is "not found".
async fn failed_notifications_are_retried_or_dropped_and_audited(s: Store) {
    use mailsig_daemon::domain::{DigestPayload, OutboxMessage};
    use mailsig_daemon::service::ServiceError;
    use mailsig_daemon::service::org::AdminActor;
    use mailsig_daemon::service::org::outbox;
    use mailsig_daemon::store::OutboxStatus;

    let w = world(&s).await;
    let message = OutboxMessage::Digest(DigestPayload {
        suggestions: vec![],
        lists: vec![w.list],
        more: 0,
    });
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(s.enqueue(&message, w.owner, T0).await.expect("enqueue"));
    }
    s.mark_failed(ids[0], "550 5.1.1 mailbox unavailable")
        .await
        .expect("fail");
    s.mark_failed(ids[1], "gave up after 3 days: server unreachable")
        .await
        .expect("fail");
    let admin = AdminActor::operator();
    let failed = outbox::failed(&s, admin, 100).await.expect("failed");
    assert_eq!(
        failed.iter().map(|f| f.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );
    assert_eq!(
        failed[1].recipient_email.as_deref(),
        Some("owner@example.org")
    );
    assert_eq!(
        failed[1].reason.as_deref(),
        Some("550 5.1.1 mailbox unavailable")
    );

    s.clock().advance(Duration::from_secs(3600));
    outbox::retry(&s, admin, ids[0]).await.expect("retry");
    let row = s.get_outbox_item(ids[0]).await.expect("row");
    assert_eq!(row.status, OutboxStatus::Pending);
    assert_eq!((row.attempts, row.next_attempt_at), (0, s.now_ms()));
    outbox::discard(&s, admin, ids[1]).await.expect("drop");
    assert!(
        s.get_outbox_item(ids[1])
            .await
            .expect_err("gone")
            .is_not_found()
    );
    // Neither acts on a row that has not failed (the pending one, the one just retried).
    for id in [ids[2], ids[0]] {
        assert!(matches!(
            outbox::retry(&s, admin, id).await,
            Err(ServiceError::NotFound { .. })
        ));
        assert!(matches!(
            outbox::discard(&s, admin, id).await,
            Err(ServiceError::NotFound { .. })
        ));
    }
    assert!(
        outbox::failed(&s, admin, 100)
            .await
            .expect("none")
            .is_empty()
    );
    let log = s.audit_log(10).await.expect("audit");
    let actions: Vec<_> = log.iter().map(|e| (e.action, e.object_id)).collect();
    assert_eq!(
        actions,
        [
            (AuditAction::OutboxDrop, Some(ids[1].0)),
            (AuditAction::OutboxRetry, Some(ids[0].0)),
        ]
    );
}

/// Every mailbox of the organisation with its health: those needing attention first, then
/// those reconnecting, with owner, list, last message read and what waits to be read; a removed
/// mailbox is not listed.
async fn org_mailbox_health_lists_every_mailbox_those_needing_attention_first(s: Store) {
    use mailsig_daemon::service::org::{AdminActor, health};
    use mailsig_daemon::store::{GraphJobKind, MailboxStatus, NewGraphJob};

    let w = world(&s).await;
    let new_mailbox = |owner, list, kind, address: &str| NewMailbox {
        owner,
        kind,
        address: address.into(),
        display_name: None,
        target_list: list,
        excluded_domains: vec![],
        settings: serde_json::json!({}),
        secret: None,
    };
    let ann = s.create_user("ann@example.org", None).await.expect("ann");
    let ann_list = s.create_list(ann.id, "Ann's").await.expect("list");
    let broken = s
        .create_mailbox(new_mailbox(
            ann.id,
            ann_list.id,
            MailboxKind::Imap,
            "ann@example.org",
        ))
        .await
        .expect("broken");
    let graph = s
        .create_mailbox(new_mailbox(
            ann.id,
            ann_list.id,
            MailboxKind::Graph,
            "ann@corp.example",
        ))
        .await
        .expect("graph");
    let gone = s
        .create_mailbox(new_mailbox(
            ann.id,
            ann_list.id,
            MailboxKind::Imap,
            "old@example.org",
        ))
        .await
        .expect("gone");
    s.soft_remove_mailbox(gone.id).await.expect("remove");
    s.set_mailbox_status(
        broken.id,
        MailboxStatus::NeedsAttention,
        Some("the server refused the login"),
    )
    .await
    .expect("attention");
    s.set_mailbox_reconnecting_fenced(graph.id, Some("server unreachable"), None)
        .await
        .expect("reconnecting");
    s.enqueue_graph_jobs(&[NewGraphJob {
        mailbox: graph.id,
        kind: GraphJobKind::Message,
        folder: "Inbox".into(),
        item: "m1".into(),
    }])
    .await
    .expect("job");
    s.clock().advance(Duration::from_secs(60));
    s.commit_message(commit(&w, "h1", 1, Outcome::Skipped(SkipReason::Bulk)))
        .await
        .expect("commit");

    let rows = health::mailboxes(&s, AdminActor::operator())
        .await
        .expect("health");
    let order: Vec<_> = rows.iter().map(|r| r.id).collect();
    assert_eq!(order, [broken.id, graph.id, w.mailbox]);
    assert_eq!(rows[0].status, MailboxStatus::NeedsAttention);
    assert_eq!(
        rows[0].status_reason.as_deref(),
        Some("the server refused the login")
    );
    assert_eq!(rows[0].owner_email, "ann@example.org");
    assert_eq!(rows[0].list_name, "Ann's");
    assert_eq!(rows[1].reconnecting_since, Some(T0));
    assert_eq!(
        rows[1].reconnecting_reason.as_deref(),
        Some("server unreachable")
    );
    assert_eq!((rows[1].waiting, rows[1].waiting_since), (1, Some(T0)));
    assert_eq!(rows[1].last_message_at, None);
    assert_eq!(rows[2].last_message_at, Some(T0 + 60_000));
    assert_eq!((rows[2].messages_read, rows[2].waiting), (1, 0));

    // The lag of an IMAP mailbox: its watcher's listing found two messages beyond the cursor;
    // a later listing that still finds some keeps the first moment; all processed clears it.
    s.reset_cursor(w.mailbox, "INBOX", 7, 1)
        .await
        .expect("cursor");
    s.set_folder_waiting(w.mailbox, "INBOX", 2)
        .await
        .expect("waiting");
    s.clock().advance(Duration::from_secs(30));
    s.set_folder_waiting(w.mailbox, "INBOX", 3)
        .await
        .expect("waiting");
    // A folder without a cursor is left alone.
    s.set_folder_waiting(w.mailbox, "Archive", 5)
        .await
        .expect("no cursor");
    let imap = async || {
        health::mailboxes(&s, AdminActor::operator())
            .await
            .expect("health")
            .into_iter()
            .find(|r| r.id == w.mailbox)
            .expect("the IMAP mailbox")
    };
    let row = imap().await;
    assert_eq!((row.waiting, row.waiting_since), (3, Some(T0 + 60_000)));
    s.set_folder_waiting(w.mailbox, "INBOX", 0)
        .await
        .expect("cleared");
    let row = imap().await;
    assert_eq!((row.waiting, row.waiting_since), (0, None));
}
