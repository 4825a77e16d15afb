//! What a watched mailbox logs in with: a password from the vault, or OAuth tokens
//! ([`StoredBearer`]) that give an access token for AUTHENTICATE OAUTHBEARER/XOAUTH2.
//!
//! For an OAuth mailbox a refused token is retried once with a freshly refreshed one (the
//! provider may have revoked the access token early); the refresh failing with `invalid_grant`,
//! or the server refusing the fresh token too, makes the mailbox "needs re-consent". A token
//! endpoint that is down is a reconnect with backoff, like an unreachable IMAP server.

use secrecy::SecretString;

use super::connect::{self, Credential, ImapSession};
use super::error::{ImapError, ImapErrorKind};
use super::settings::{ImapOptions, ImapSettings};
use crate::sources::oauth::{OAuthError, StoredBearer};

/// A mailbox's credentials while it is watched.
pub enum MailboxCredential {
    Password(SecretString),
    OAuth(StoredBearer),
}

/// Connects and authenticates with whatever the mailbox has.
pub(crate) async fn connect(
    settings: &ImapSettings,
    credential: &MailboxCredential,
    options: &ImapOptions,
) -> Result<ImapSession, ImapError> {
    match credential {
        MailboxCredential::Password(password) => {
            connect::connect(settings, password, options).await
        }
        MailboxCredential::OAuth(bearer) => {
            let host = settings.host.as_str();
            let token = bearer
                .access_token()
                .await
                .map_err(|e| token_error(host, &e))?;
            match connect::connect_with(settings, Credential::Bearer(&token), options).await {
                Err(error) if error.is_auth_failure() => {
                    tracing::info!(
                        grant = %bearer.home(),
                        "imap server refused the access token; refreshing it once"
                    );
                    let fresh = bearer
                        .force_refresh()
                        .await
                        .map_err(|e| token_error(host, &e))?;
                    connect::connect_with(settings, Credential::Bearer(&fresh), options)
                        .await
                        .map_err(|error| {
                            if error.is_auth_failure() {
                                ImapError::new(
                                    ImapErrorKind::NeedsReconsent,
                                    host,
                                    "the server refused a freshly refreshed access token",
                                )
                            } else {
                                error
                            }
                        })
                }
                other => other,
            }
        }
    }
}

/// A token failure as an IMAP error: the kind decides between reconnecting and telling the user.
fn token_error(host: &str, error: &OAuthError) -> ImapError {
    let kind = if error.needs_reconsent() {
        ImapErrorKind::NeedsReconsent
    } else if error.is_transient() {
        ImapErrorKind::ConnectionLost
    } else {
        ImapErrorKind::InvalidSettings
    };
    ImapError::new(kind, host, format!("access token: {}", error.class()))
}
