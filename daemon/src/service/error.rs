//! The service layer's one error type; the API maps it to statuses, the pages to messages.

use super::validate::FieldError;

pub type ServiceResult<T> = Result<T, ServiceError>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The object does not exist, or the actor may not see it (the two are not told apart).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The actor sees the object but their role does not allow this action.
    #[error("not allowed to {action}")]
    Forbidden { action: &'static str },
    /// The input is wrong, field by field.
    #[error("invalid input ({} fields)", .0.len())]
    Validation(Vec<FieldError>),
    /// The change conflicts with existing data (e.g. a token label or e-mail already taken).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// The object is still needed by others and cannot be removed yet; `message` says why and
    /// what to do (e.g. a list that a live mailbox still delivers into).
    #[error("{message}")]
    InUse { message: String },
    /// The mailbox could not be linked: the server refused the login or the settings cannot
    /// work. `reason` is safe to show (it never contains the password). `tls_untrusted` says
    /// the server's certificate is not trusted, so a caller can say how to trust it.
    #[error("the mailbox could not be linked: {reason}")]
    LinkFailed {
        reason: String,
        auth: bool,
        tls_untrusted: bool,
        /// A folder to watch does not exist or cannot be opened.
        folder: bool,
    },
    /// A dependency (database, mail server) is unavailable; retrying later may work.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug or a corrupt row; details are logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Said to a user whose server's certificate is not trusted: what can be done about it.
pub const TLS_UNTRUSTED_HINT: &str = "the server's certificate is not trusted: use the server \
     name its certificate was issued for, or, for a server with its own certificate authority, \
     give that authority's certificate (PEM) when linking (the CA field, `ca_pem` in the API)";

/// The text a person reads when linking failed: the reason, and after a certificate that is
/// not trusted, [`TLS_UNTRUSTED_HINT`].
pub fn link_failure_text(reason: &str, tls_untrusted: bool) -> String {
    if tls_untrusted {
        format!("{reason}; {TLS_UNTRUSTED_HINT}")
    } else {
        reason.to_owned()
    }
}

impl ServiceError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ServiceError::Unavailable(_))
    }

    /// One field error.
    pub fn field(field: &str, code: super::FieldCode, message: impl Into<String>) -> ServiceError {
        ServiceError::Validation(vec![FieldError::new(field, code, message)])
    }
}

impl From<crate::store::Error> for ServiceError {
    fn from(e: crate::store::Error) -> Self {
        use crate::store::Error as E;
        match e {
            E::NotFound { what } => ServiceError::NotFound { what },
            E::Conflict { what } => ServiceError::Conflict { what },
            E::Invalid { what, reason } => ServiceError::Validation(vec![FieldError::new(
                what,
                super::FieldCode::Text,
                reason,
            )]),
            e if e.is_transient() => ServiceError::Unavailable(e.to_string()),
            e => ServiceError::Internal(e.to_string()),
        }
    }
}

/// A value with a fixed set of texts (a role, a status) that is none of them: a field error
/// naming the field, as a store refusal would.
impl From<crate::domain::UnknownText> for ServiceError {
    fn from(e: crate::domain::UnknownText) -> Self {
        ServiceError::from(crate::store::Error::from(e))
    }
}
