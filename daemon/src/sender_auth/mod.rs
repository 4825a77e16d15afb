//! Sender authentication: is the `From:` of a message its real sender?
//!
//! Anyone can write any `From:`. Before a signature may change a contact that is already there
//! (`store::commit` decides that), the daemon asks, per message:
//!
//! 1. the topmost `Authentication-Results` header above any hop outside the provider, when its
//!    authserv-id is trusted for the mailbox (the operator's global list plus the mailbox's own,
//!    whose default follows the provider: Microsoft 365 for Graph and Exchange Online IMAP,
//!    `mx.google.com` for Gmail; `results`);
//! 2. otherwise its own DKIM verification and DMARC evaluation of the `From:` domain (`verify`),
//!    through the system's resolver or the one configured, in bounded time, with a TXT cache;
//! 3. for mail that fails there but carries an ARC chain: the chain, when it verifies and its
//!    newest `ARC-Authentication-Results` come from a trusted authserv-id and say the message
//!    passed for the `From:` domain (a trusted forwarder vouches).
//!
//! The answer is a [`SenderAuth`]: authenticated / not authenticated / unknown, with the method.
//! Only that pair leaves this module; the headers, the signatures and the resolver's errors are
//! never stored or logged.

pub mod cache;
pub mod results;
pub mod stats;
pub mod verify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::{AuthenticatedMessage, MessageAuthenticator};

use crate::domain::{AuthMethod, AuthResult, SenderAuth};

pub use results::{GOOGLE, MICROSOFT_365, TrustedIds};

/// How the daemon authenticates senders (`[sender_auth]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderAuthSettings {
    /// The name server for DKIM and DMARC look-ups; `None` uses the system's resolver
    /// configuration (`/etc/resolv.conf`).
    pub resolver: Option<SocketAddr>,
    /// The longest one message's check may take; a message not decided by then is `unknown`.
    pub timeout: Duration,
    /// Authserv-ids trusted for every mailbox, besides each mailbox's own.
    pub trusted_authserv_ids: TrustedIds,
    /// Host or domain names of MTAs whose `Received:` headers are the provider's own, besides
    /// those the trusted authserv-ids imply (`results`): the operator's own MX and delivery
    /// hosts when they stamp the results.
    pub trusted_hosts: TrustedIds,
    /// Parsed TXT records kept at most (DKIM keys, DMARC policies), each until its TTL ends.
    pub cache_entries: usize,
}

impl Default for SenderAuthSettings {
    fn default() -> Self {
        SenderAuthSettings {
            resolver: None,
            timeout: Duration::from_secs(5),
            trusted_authserv_ids: TrustedIds::default(),
            trusted_hosts: TrustedIds::default(),
            cache_entries: 10_000,
        }
    }
}

/// The resolver could not be set up. Fixed text: the system configuration's own error is not
/// carried into logs.
#[derive(Debug, thiserror::Error)]
#[error("sender authentication: the DNS resolver could not be configured")]
pub struct ResolverSetupError;

/// Authenticates the senders of messages; one per process, shared by the pipeline's workers.
pub struct SenderAuthenticator {
    authenticator: MessageAuthenticator,
    cache: verify::TxtCache,
    timeout: Duration,
    trusted: TrustedIds,
    hosts: TrustedIds,
}

impl std::fmt::Debug for SenderAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderAuthenticator")
            .field("timeout", &self.timeout)
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl SenderAuthenticator {
    pub fn new(
        settings: &SenderAuthSettings,
    ) -> Result<Arc<SenderAuthenticator>, ResolverSetupError> {
        let (config, mut options) = match settings.resolver {
            Some(address) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = address.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = address.port();
                let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
                (
                    ResolverConfig::from_name_servers(vec![server]),
                    ResolverOpts::default(),
                )
            }
            None => {
                hickory_resolver::system_conf::read_system_conf().map_err(|_| ResolverSetupError)?
            }
        };
        // One try per server within the message's budget; the TXT cache is ours.
        options.timeout = settings.timeout.min(Duration::from_secs(10));
        options.attempts = 1;
        let authenticator =
            MessageAuthenticator::new(config, options).map_err(|_| ResolverSetupError)?;
        Ok(Arc::new(SenderAuthenticator {
            authenticator,
            cache: verify::TxtCache::new(settings.cache_entries),
            timeout: settings.timeout,
            trusted: settings.trusted_authserv_ids.clone(),
            hosts: settings.trusted_hosts.clone(),
        }))
    }

    /// The outcome for one raw message; `mailbox_trust` are the mailbox's own trusted
    /// authserv-ids. Never fails: what cannot be decided is [`AuthResult::Unknown`].
    /// Every outcome is counted for `/metrics` ([`stats`]).
    pub async fn authenticate(&self, raw: &[u8], mailbox_trust: &TrustedIds) -> SenderAuth {
        let verdict = self.check(raw, mailbox_trust).await;
        stats::record(verdict);
        verdict
    }

    async fn check(&self, raw: &[u8], mailbox_trust: &TrustedIds) -> SenderAuth {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return SenderAuth::new(AuthResult::Unknown, AuthMethod::None);
        };
        let Some(from_domain) = single_from_domain(&message.from) else {
            return SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::None);
        };
        let trusted = self.trusted.union(mailbox_trust);
        let verdict =
            results::trusted_verdict(&message.headers, &trusted, &self.hosts, &from_domain);
        if let Some(verdict) = verdict {
            return verdict;
        }
        let signed = !message.dkim_headers.is_empty();
        let sealed = !message.as_headers.is_empty();
        if !signed && !sealed {
            // Nothing signed it and no trusted provider vouched: no look-up can change that.
            return SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::Dkim);
        }
        let check = async {
            let verdict = if signed {
                verify::dkim_and_dmarc(&self.authenticator, &self.cache, &message, &from_domain)
                    .await
            } else {
                SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::Dkim)
            };
            if verdict.is_authenticated() || !sealed {
                return verdict;
            }
            let forwarded = verify::arc(
                &self.authenticator,
                &self.cache,
                &message,
                &trusted,
                &from_domain,
            );
            forwarded.await.unwrap_or(verdict)
        };
        tokio::time::timeout(self.timeout, check)
            .await
            .unwrap_or_else(|_| {
                stats::record_timeout();
                SenderAuth::new(AuthResult::Unknown, AuthMethod::Dmarc)
            })
    }

    /// TXT records held in the cache now.
    pub fn cached_records(&self) -> usize {
        self.cache.len()
    }
}

/// The one domain of `From:` (lower-case); `None` when there is none, or several different ones
/// (RFC 7489 exempts those from DMARC, so they cannot be authenticated).
fn single_from_domain(from: &[String]) -> Option<String> {
    let mut domains = from
        .iter()
        .filter_map(|address| address.rsplit_once('@'))
        .map(|(_, domain)| domain.trim().trim_end_matches('.').to_ascii_lowercase());
    let first = domains.next().filter(|d| !d.is_empty())?;
    domains.all(|d| d == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_with_two_domains_has_no_single_domain() {
        assert_eq!(
            single_from_domain(&["a@Example.COM".into()]),
            Some("example.com".into())
        );
        assert_eq!(
            single_from_domain(&["a@example.com".into(), "b@other.example".into()]),
            None
        );
        assert_eq!(single_from_domain(&[]), None);
    }
}
