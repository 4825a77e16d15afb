//! `[sender_auth]` → [`SenderAuthSettings`]: which resolver answers the DKIM and DMARC look-ups,
//! how long one message's check may take, which authserv-ids every mailbox trusts, and which MTAs
//! besides the providers' own write the `Received:` headers above them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::ConfigError;
use super::durations::duration;
use super::raw::RawSenderAuth;
use crate::sender_auth::{SenderAuthSettings, TrustedIds};

/// The longest a message's check may be allowed to take.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn from_raw(raw: RawSenderAuth) -> Result<SenderAuthSettings, ConfigError> {
    let defaults = SenderAuthSettings::default();
    let resolver = raw.resolver.as_deref().map(resolver).transpose()?;
    let timeout = duration("sender_auth.timeout", raw.timeout, defaults.timeout)?;
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(ConfigError::invalid(
            "sender_auth.timeout",
            "must be more than 0 and at most 60s",
        ));
    }
    let ids = raw.trusted_authserv_ids.unwrap_or_default();
    if let Some(bad) = ids
        .iter()
        .find(|id| id.trim().is_empty() || id.chars().any(|c| c.is_whitespace() || c == ';'))
    {
        return Err(ConfigError::invalid(
            "sender_auth.trusted_authserv_ids",
            format!("{bad:?} is not an authserv-id (a host name, or \"microsoft365\")"),
        ));
    }
    let hosts = raw.trusted_hosts.unwrap_or_default();
    if let Some(bad) = hosts.iter().find(|h| {
        h.trim().is_empty()
            || !h
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    }) {
        return Err(ConfigError::invalid(
            "sender_auth.trusted_hosts",
            format!("{bad:?} is not a host or domain name"),
        ));
    }
    let cache_entries = match raw.cache_entries {
        Some(0) => {
            return Err(ConfigError::invalid(
                "sender_auth.cache_entries",
                "must be at least 1",
            ));
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => defaults.cache_entries,
    };
    Ok(SenderAuthSettings {
        resolver,
        timeout,
        trusted_authserv_ids: TrustedIds::new(ids),
        trusted_hosts: TrustedIds::new(hosts),
        cache_entries,
    })
}

/// `"192.0.2.53"` (port 53) or `"192.0.2.53:5353"` / `"[2001:db8::53]:53"`.
fn resolver(text: &str) -> Result<SocketAddr, ConfigError> {
    let text = text.trim();
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            ConfigError::invalid(
                "sender_auth.resolver",
                format!("{text:?} is not an IP address, with or without a port"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_takes_an_address_with_or_without_port() {
        assert_eq!(
            resolver("127.0.0.1:10053").expect("an address with a port"),
            "127.0.0.1:10053"
                .parse::<SocketAddr>()
                .expect("socket address")
        );
        assert_eq!(resolver("192.0.2.1").expect("an address").port(), 53);
        assert!(resolver("dns.example").is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let raw = RawSenderAuth {
            trusted_authserv_ids: Some(vec!["mx.google.com; x".into()]),
            ..RawSenderAuth::default()
        };
        assert!(from_raw(raw).is_err());
        let raw = RawSenderAuth {
            timeout: Some("0s".into()),
            ..RawSenderAuth::default()
        };
        assert!(from_raw(raw).is_err());
        let settings = from_raw(RawSenderAuth::default()).expect("the defaults are valid");
        assert_eq!(settings, SenderAuthSettings::default());
    }
}
