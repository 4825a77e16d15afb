//! Notifications by email through the customer's SMTP "technical user": a digest of new suggestions
//! per user, and a notice when a mailbox needs its owner's attention.
//!
//! - [`settings`]: where and how to connect (implicit TLS or required STARTTLS, verified certificates).
//! - [`mailer`]: the pooled lettre client that submits one message.
//! - [`probe`]: [`test_connection`], the step-by-step check behind `mailsigd smtp test`.
//! - [`compose`]: the texts, built from minimum data (names, companies, list names; never mail content).
//! - [`error`]: [`NotifyError`] and its transient / permanent / configuration classes.

pub mod compose;
pub mod error;
pub mod mailer;
pub mod probe;
pub mod settings;

pub use compose::{compose_attention, compose_digest, Addressing, AttentionNotice, DigestEntry};
pub use error::{NotifyError, SmtpFailure, Stage};
pub use mailer::{Mailer, OutgoingMail};
pub use probe::test_connection;
pub use settings::{Security, SmtpSettings};
