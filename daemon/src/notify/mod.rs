//! Notifications by email through the customer's SMTP "technical user": a digest of new suggestions
//! per user, and a notice when a mailbox needs its owner's attention.
//!
//! - [`settings`]: where and how to connect (implicit TLS or required STARTTLS, verified certificates).
//! - [`mailer`]: the pooled lettre client that submits one message.
//! - [`probe`]: [`test_connection`], the step-by-step check behind `mailsigd smtp test`.
//! - [`compose`]: the texts, built from minimum data (names, companies, list names; never mail content).
//! - [`worker`]: the outbox worker: claims due rows, sends, marks sent / retry / failed (and why a
//!   crash can repeat a message but never lose one).
//! - [`backoff`]: capped exponential backoff for transient failures.
//! - [`stats`]: counters of the worker, for metrics.
//! - [`error`]: [`NotifyError`] and its transient / permanent / configuration classes.

pub mod backoff;
pub mod compose;
pub mod error;
pub mod mailer;
pub mod probe;
pub mod settings;
pub mod stats;
pub mod worker;

pub use backoff::Backoff;
pub use compose::{Addressing, AttentionNotice, DigestEntry, compose_attention, compose_digest};
pub use error::{NotifyError, SmtpFailure, Stage};
/// The address type of [`SmtpSettings::from`] and recipients (`"Name <a@b>".parse()`).
pub use lettre::message::Mailbox;
pub use mailer::{Mailer, OutgoingMail};
pub use probe::{test_connection, test_connection_from};
pub use settings::{Security, SmtpSettings};
pub use stats::{NotifyStats, NotifyStatsSnapshot};
pub use worker::{OutboxWorker, RoundReport, WorkerOptions, describe_failed, enqueue_attention};
