//! The store: the only module that talks SQL.
//!
//! One codebase serves SQLite (the embedded default) and PostgreSQL (for replicas) through
//! sqlx's `Any` driver with runtime queries; the DDL differs per backend and lives in
//! `daemon/migrations/{sqlite,postgres}`. Conventions: ids are `i64` newtypes, timestamps are
//! epoch milliseconds taken from the store's [`Clock`], booleans are integers, JSON is TEXT.
//!
//! Privacy invariant: no table has a column for a subject, a body or signature text. The
//! store keeps only extracted contact fields, a hash of the Message-ID, counters and sealed
//! (encrypted) secrets whose plaintext it never sees.
//!
//! The heart is [`Store::commit_message`]: dedupe, merge, counters, cursor and the digest
//! notification in ONE transaction, so every message is processed exactly once.

mod account_invitations;
mod address_books;
mod audit;
mod auto_accept;
mod blocklist;
mod change_log;
mod changes;
mod claim_sql;
mod commit;
mod cursors;
mod error;
mod fencing;
mod graph;
mod imap_oauth_links;
mod invitations;
mod lists;
mod mailboxes;
mod merge_undo;
mod multi_row;
mod offboard;
mod oidc;
mod org;
mod org_health;
mod outbox;
mod provenance;
mod replicas;
mod retention;
mod review;
mod second_factor;
mod secrets;
mod sessions;
mod stats;
#[cfg(test)]
mod stored_enums_tests;
mod suggestion;
mod suggestions;
mod tokens;
mod users;
mod wal;
mod webhooks;

pub use crate::clock::Clock;
pub use crate::domain::ids::{
    ListId, MailboxId, OutboxId, SecretId, SuggestionId, TokenId, UserId, WebhookDeliveryId,
    WebhookId,
};
pub use account_invitations::{AccountInvitation, new_link_token};
pub use address_books::{
    BookLink, BookStatus, ConnectedBook, IndexedChanges, IndexedEntry, NewBook, StoredBookEntry,
};
pub use audit::{AuditActorFilter, AuditEntry, AuditFilter};
pub use auto_accept::{
    AutoAccept, AutoAcceptMode, AutoAcceptReport, MIN_THRESHOLD as AUTO_ACCEPT_MIN_THRESHOLD,
    WouldAccept, error_chance, lowest_confidence,
};
pub use blocklist::{BlocklistEntry, BlocklistKind, BlocklistSnapshot};
pub use change_log::{ChangeHorizon, ChangePage, ChangeRow, ChangeState};
pub use changes::{ChangeStatus, ChangeSuggestion};
pub use commit::{
    COUNTER_DUPLICATE, COUNTER_MERGED, COUNTER_PROCESSED, COUNTER_SUGGESTED, CommitMessage,
    CommitResult, Outcome,
};
pub use cursors::{Cursor, FolderCursor};
pub use error::{Error, Result};
pub use graph::{
    AdminConsentState, NewTenantUser, TenantGrant, TenantGroup, TenantGroupId, TenantMember,
    TenantUser, TenantUserId,
};
pub use graph::{
    GraphJob, GraphJobCounts, GraphJobKind, GraphJobOutcome, GraphSubscription, LinkOrigin,
    NewGraphJob, OauthState, SubscriptionCounts, SubscriptionState,
};
pub use imap_oauth_links::PendingImapOAuth;
pub use lists::{ContactList, ListAccess, ListDeletion, ListMember, Role};
pub use mailboxes::{
    Lease, Mailbox, MailboxFilter, MailboxKind, MailboxStatus, NewMailbox, Reconnecting,
};
pub use merge_undo::MergeUndoId;
pub use offboard::WipedCredentials;
pub use oidc::OidcLogin;
pub use org::OrgMember;
pub use org_health::MailboxHealthRow;
pub use outbox::{OutboxDepth, OutboxItem, OutboxStatus};
pub use provenance::{KEEP_PER_SUGGESTION, Provenance, Sighting, SightingOutcome};
pub use replicas::{GrantRefreshLock, LeaseRow, SECRET_LOCK_SPACE};
pub use retention::PurgeReport;
pub use review::ReviewFilter;
pub use second_factor::{StoredChallenge, StoredSecondFactor};
pub use secrets::{ResealedRecord, SecretKind, StoredSecret};
pub use sessions::StoredSession;
pub use stats::MailboxStats;
pub use suggestion::{FieldDiff, NewSuggestion, StoredField, StoredPhone, SuggestionFields};
pub use suggestions::{
    FieldEdit, HistoryEntry, ListEdit, Suggestion, SuggestionFilter, SuggestionStatus,
};
pub use tokens::{DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, NewToken, PasswordReplaced, TokenScope};
pub use users::{ApiToken, IssuedToken, User};
pub use wal::WalCheckpoint;
pub use webhooks::{
    AfterAttempt, AttemptRecord, Delivery, DeliveryCounts, NewDelivery, NewWebhook, QueueStep,
    Webhook,
};

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// Which database the store talks to; a few statements differ (row locks, upserts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Tuning knobs for [`Store::open_with`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Pool size. SQLite has one writer anyway; readers run in parallel under WAL.
    pub max_connections: u32,
    /// How long to wait for a pooled connection before failing with a transient error.
    pub acquire_timeout: Duration,
    /// Minimum time between two digests to the same user; a new digest row is due no
    /// earlier than the last sent one plus this interval.
    pub digest_interval: Duration,
    /// The time source (overridable in tests).
    pub clock: Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            digest_interval: Duration::from_secs(15 * 60),
            clock: Clock::System,
        }
    }
}

/// Handle to the database; cheap to clone (it wraps a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where writes go. SQLite: a pool of ONE connection, so writers queue in order on the
    /// pool (no polling) and never meet SQLite's busy handler, which sleeps 1, 2, 5, 10, 15 …
    /// ms between retries and put tens of milliseconds on a webhook's time to 202 whenever two
    /// writers collided. PostgreSQL: the same pool as reads (row locks, many writers).
    writer: AnyPool,
    backend: Backend,
    clock: Clock,
    digest_interval_ms: i64,
    /// Statements and transactions started on this store's pools (see [`Store::queries`]).
    queries: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The part of `queries` that went to the writer (see [`Store::writes`]).
    writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Bumped by every change of a mailbox's filter settings made through this store handle
    /// (see [`Store::mailbox_settings_generation`]).
    mailbox_settings: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Opens `sqlite://<path>?mode=rwc` or `postgres://…` with default options.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, StoreOptions::default()).await
    }

    /// Builds the URL for a SQLite file, creating it if missing.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        // `%`, `?` and `#` would be read as URL syntax; everything else is taken literally.
        let raw = path.to_string_lossy();
        let mut escaped = String::with_capacity(raw.len());
        for c in raw.chars() {
            match c {
                '%' => escaped.push_str("%25"),
                '?' => escaped.push_str("%3F"),
                '#' => escaped.push_str("%23"),
                c => escaped.push(c),
            }
        }
        format!("sqlite://{escaped}?mode=rwc")
    }

    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let backend = match scheme.as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            _ => return Err(Error::UnsupportedUrl { scheme }),
        };
        let pool_options = AnyPoolOptions::new().acquire_timeout(options.acquire_timeout);
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                enable_wal(url).await?;
                let readers = sqlite_pool(
                    pool_options
                        .clone()
                        .max_connections(options.max_connections.max(1)),
                    url,
                    None,
                )
                .await?;
                let backstop = Some(wal::WRITER_AUTOCHECKPOINT);
                let writer = sqlite_pool(pool_options.max_connections(1), url, backstop).await?;
                (readers, writer)
            }
            Backend::Postgres => {
                // One direct attempt first: the pool retries a refused or unresolvable
                // server until `acquire_timeout` and then reports only "pool timed out", so a
                // database that is down or misnamed would cost every command that long and
                // hide the cause. A server that answers but is slow still gets the pool's wait.
                let probe = tokio::time::timeout(
                    options.acquire_timeout,
                    <sqlx::AnyConnection as sqlx::Connection>::connect(url),
                )
                .await
                .map_err(|_| Error::Timeout {
                    op: "connect to the database",
                    after: options.acquire_timeout,
                })?
                .map_err(Error::db("connect to the database", "database"))?;
                let _ = sqlx::Connection::close(probe).await;
                let pool = pool_options
                    .max_connections(options.max_connections.max(1))
                    .connect(url)
                    .await
                    .map_err(Error::db("connect to the database", "database"))?;
                (pool.clone(), pool)
            }
        };
        Ok(Store {
            pool,
            writer,
            backend,
            clock: options.clock,
            digest_interval_ms: duration_ms(options.digest_interval),
            queries: std::sync::Arc::default(),
            writes: std::sync::Arc::default(),
            mailbox_settings: std::sync::Arc::default(),
        })
    }

    /// Applies the schema migrations of this backend; running it again is a no-op.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Current time in epoch milliseconds, from the store's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// A number that changes whenever this process changes a mailbox's filter settings
    /// (exclusions, target list) or unlinks one. The pipeline's rules cache compares it, so a
    /// change made through the API or the pages applies to the very next message without a
    /// store read per message; changes from another process (the CLI, another replica) apply
    /// when the cache entry expires.
    pub fn mailbox_settings_generation(&self) -> u64 {
        self.mailbox_settings
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn mailbox_settings_changed(&self) {
        self.mailbox_settings
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// How many statements and transactions this store (and its clones) started since it was
    /// opened: one per statement run on a pool, one per transaction however many statements it
    /// holds. The abuse limits are judged by it (an unauthenticated request must not turn into
    /// store work), and `/metrics` exports it as `mailsig_store_queries_total`.
    pub fn queries(&self) -> u64 {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The part of [`Store::queries`] that may write: single-statement writes and
    /// transactions begun with [`Store::begin_write`] (on SQLite they queue on the one writer).
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_write(&self) {
        self.count_query();
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn count_query(&self) {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The pool for a single-statement read (counted).
    pub(crate) fn reader(&self) -> &AnyPool {
        self.count_query();
        &self.pool
    }

    /// The pool for a single-statement write (see [`Store::begin_write`] for transactions).
    pub(crate) fn writer(&self) -> &AnyPool {
        self.count_write();
        &self.writer
    }

    /// The raw pool, for the few callers that need SQL of their own (e.g. `VACUUM INTO` for
    /// backups). Prefer adding a method here.
    pub fn pool(&self) -> &AnyPool {
        self.count_query();
        &self.pool
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers never deadlock upgrading a read lock.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.count_write();
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(Error::db("begin transaction", "database"))
    }
}

/// WAL is a property of the database file: set it once, on a single connection, because
/// switching the journal mode needs an exclusive lock.
async fn enable_wal(url: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .map_err(Error::db("open sqlite database", "database"))?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await
        .map_err(Error::db("enable WAL", "database"))?;
    conn.close()
        .await
        .map_err(Error::db("close setup connection", "database"))
}

/// A SQLite pool whose connections all get the store's pragmas, and `autocheckpoint` (the
/// connection's automatic checkpoint pragma, see `wal.rs`) if given.
async fn sqlite_pool(
    options: AnyPoolOptions,
    url: &str,
    autocheckpoint: Option<&'static str>,
) -> Result<AnyPool> {
    options
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if let Some(pragma) = autocheckpoint {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                // Foreign keys are on by default in sqlx; say so anyway, the schema relies on it.
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut *conn)
                    .await?;
                // Wait up to 10 s on a locked database before reporting "busy" (writes queue
                // on the one-connection writer pool; this covers the backup's reads and other
                // processes such as `mailsigd` admin commands).
                sqlx::query("PRAGMA busy_timeout = 10000")
                    .execute(&mut *conn)
                    .await?;
                // NORMAL is durable against process crashes in WAL mode; a power loss may
                // drop the last transactions, together with their processed-message markers.
                sqlx::query("PRAGMA synchronous = NORMAL")
                    .execute(&mut *conn)
                    .await?;
                // Deleted rows (wiped secrets, purged suggestions) are overwritten, not left
                // in free pages.
                sqlx::query("PRAGMA secure_delete = ON")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(Error::db("connect to the database", "database"))
}

pub(crate) use crate::clock::duration_ms;

/// Reads one column, mapping a decode failure to a store error.
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &'static str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(|source| Error::Database {
        op: "read column",
        source,
    })
}

/// Parses a stored enum value.
pub(crate) fn parse_col<T: FromStr>(
    row: &AnyRow,
    name: &'static str,
    what: &'static str,
) -> Result<T> {
    let text: String = col(row, name)?;
    text.parse().map_err(|_| Error::Corrupt {
        what,
        reason: format!("unknown value {text:?}"),
    })
}

/// The `auth_result` and `auth_method` columns of a row (a suggestion, a change suggestion or a
/// provenance row).
pub(crate) fn auth_from_row(row: &AnyRow) -> Result<crate::domain::SenderAuth> {
    use crate::domain::{AuthMethod, AuthResult, SenderAuth};
    let result = parse_col::<AuthResult>(row, "auth_result", "auth result")?;
    let method = parse_col::<AuthMethod>(row, "auth_method", "auth method")?;
    Ok(SenderAuth::new(result, method))
}

/// Parses a stored JSON column.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    name: &'static str,
    what: &'static str,
) -> Result<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Invalid {
        what,
        reason: e.to_string(),
    })
}
