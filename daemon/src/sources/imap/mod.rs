//! The IMAP source: watches linked IMAP folders, strictly read-only, and pushes each new
//! message into the pipeline exactly once.
//!
//! - [`settings`]: what is stored per mailbox ([`ImapSettings`]) and the shared [`ImapOptions`].
//! - [`connect`]: TCP + TLS/STARTTLS + LOGIN, and [`test_login`] for linking.
//! - [`trust`]: which certificate authorities a connection trusts (the mailbox's own, the operator's).
//! - [`framing`]: the literal and line limits every session's incoming bytes are checked against.
//! - [`watcher`]: one task per (mailbox, folder): EXAMINE, catch up by UID, IDLE or poll, reconnect.
//! - [`source`]: [`ImapSource`], the set of watchers the supervisor starts and stops.
//! - [`reconcile`]: keeps the watched set in step with the store (runtime link/unlink, new credentials).
//! - [`checkpoints`], [`store_adapter`]: the store operations a watcher needs (cursor, needs-attention).

pub mod backoff;
pub mod checkpoints;
pub mod connect;
pub mod credential;
pub mod error;
pub mod framing;
pub mod limiter;
pub mod reconcile;
pub mod sasl;
pub mod settings;
pub mod source;
pub mod stats;
pub mod store_adapter;
pub mod trust;
pub mod watcher;

pub use checkpoints::{CheckpointError, Checkpoints, FolderCursor};
pub use connect::{test_login, test_login_at, test_login_with};
pub use error::{ImapError, ImapErrorKind};
pub use reconcile::{ReconcileError, ReconcileReport};
pub use settings::{ImapOptions, ImapSettings, Security};
pub use source::ImapSource;
pub use stats::ImapStatsSnapshot;
pub use store_adapter::StoreCheckpoints;
pub use watcher::CommittedMessage;
