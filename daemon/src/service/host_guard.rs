//! The service layer's side of the SSRF guard (`sources::host_guard`): a refusal becomes a field
//! error a user can act on, and never echoes the address the name resolved to.

use std::net::SocketAddr;

use crate::sources::host_guard::{GuardError, Refusal, normalise, resolve_and_check};
use crate::sources::imap::ImapOptions;

use super::validate::FieldCode;
use super::{ServiceError, ServiceResult};

/// [`resolve_and_check`] for the service layer: a refusal is a field error on `host` (or
/// `port`), code `choice`; a name that does not resolve is a field error on `host` too (code
/// `text`); a lookup that times out is "unavailable", like an unreachable server.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    options: &ImapOptions,
) -> ServiceResult<Vec<SocketAddr>> {
    match resolve_and_check(host, port, options).await {
        Ok(addrs) => Ok(addrs),
        Err(GuardError::Port) => Err(ServiceError::field(
            "port",
            FieldCode::Choice,
            "must be 143, 993 or a port from 1024 up",
        )),
        Err(GuardError::Timeout) => Err(ServiceError::Unavailable(format!(
            "{}: the name lookup timed out",
            normalise(host)
        ))),
        // Most often a typo in the form: the user's to fix, so a field error, not a 503.
        Err(GuardError::Unresolvable) => Err(unresolvable()),
        Err(GuardError::Refused(Refusal::Internal(class))) => {
            // Neither the host the user typed nor the address goes into the log line.
            tracing::info!(
                class,
                "IMAP link refused: the host resolves to an internal address"
            );
            // The address itself is not echoed: it would reveal the operator's internal DNS.
            Err(ServiceError::field(
                "host",
                FieldCode::Choice,
                format!(
                    "resolves to a {class} address; the operator must allow internal IMAP servers \
                     (imap.allow_private_hosts or imap.allowed_hosts)"
                ),
            ))
        }
        Err(GuardError::Refused(Refusal::Never(class))) => {
            tracing::info!(
                class,
                "IMAP link refused: the host resolves to a non-server address"
            );
            Err(ServiceError::field(
                "host",
                FieldCode::Choice,
                format!("resolves to a {class} address, which cannot be an IMAP server"),
            ))
        }
    }
}

/// The field error for a host name that has no address.
fn unresolvable() -> ServiceError {
    ServiceError::field(
        "host",
        FieldCode::Text,
        "no address found for this host name; check the spelling",
    )
}
