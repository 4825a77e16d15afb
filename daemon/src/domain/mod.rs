//! Typed values that cross the daemon's seams: ids, why a message was skipped, what an audit
//! record says happened. They sit below every other module (the store, the pipeline, the service
//! layer, the sources and the HTTP layer all use them; they use none of those), so a value keeps
//! one type from the place it is made to the place it is stored, instead of turning into a string
//! at a seam and being parsed back on the other side.

pub mod address_book;
pub mod audit;
pub mod ids;
pub mod org;
pub mod outbox;
pub mod sender_auth;
pub mod skip;
pub mod text_enum;
pub mod webhook;

pub use audit::{AuditAction, AuditObject};
pub use ids::{
    ListId, MailboxId, OutboxId, SecretId, SuggestionId, TokenId, UserId, WebhookDeliveryId,
    WebhookId,
};
pub use org::OrgRole;
pub use outbox::{
    AttentionPayload, DIGEST_MAX_ITEMS, DigestPayload, InvitationPayload, OutboxMessage,
};
pub use sender_auth::{AuthMethod, AuthResult, SenderAuth};
pub use skip::SkipReason;
pub use text_enum::UnknownText;
pub(crate) use text_enum::text_enum;
pub use webhook::{AttemptOutcome, WebhookEvent};
