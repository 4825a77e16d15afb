//! Notifications by email through the customer's SMTP "technical user": a digest of new suggestions
//! per user, and a notice when a mailbox needs its owner's attention.
//!
//! - [`settings`]: where and how to connect (implicit TLS or required STARTTLS, verified certificates).
//! - [`mailer`]: submits one message: the pooled lettre client (password or XOAUTH2), or
//!   [`graph_send`] (Microsoft Graph `sendMail`).
//! - [`oauth`]: the access-token source the OAuth logins draw from (implemented in
//!   `sources::oauth`: client credentials, or the technical user's sealed refresh token).
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
pub mod graph_send;
pub mod mailer;
pub mod oauth;
pub mod outgoing;
pub mod probe;
pub mod settings;
pub mod stats;
pub mod worker;

pub use backoff::Backoff;
pub use compose::{
    Addressing, AttentionNotice, DigestEntry, compose_attention, compose_digest, compose_test,
};
pub use error::{NotifyError, SmtpFailure, Stage};
pub use graph_send::{DEFAULT_GRAPH_TIMEOUT, GraphSendSettings};
/// The address type of [`SmtpSettings::from`] and recipients (`"Name <a@b>".parse()`).
pub use lettre::message::Mailbox;
pub use mailer::{Mailer, SmtpAuth, TransportSettings};
pub use oauth::{AccessTokens, TokenFailure, TokenFailureKind};
pub use outgoing::OutgoingMail;
pub use probe::{test_connection, test_connection_from, test_graph, test_login};
pub use settings::{Security, SmtpSettings};
pub use stats::{NotifyStats, NotifyStatsSnapshot};
pub use worker::{OutboxWorker, RoundReport, WorkerOptions, describe_failed, enqueue_attention};
