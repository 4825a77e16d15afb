//! `[webhooks]`: where deliveries may go, how they are retried, and how long finished ones are
//! kept.

use std::time::Duration;

use url::Url;

use crate::sources::host_guard::HostPolicy;

/// How the delivery worker and the service treat webhook endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Internal addresses (loopback, private, link-local …) allowed as targets.
    pub allow_private_hosts: bool,
    /// Host names or addresses allowed although internal.
    pub allowed_hosts: Vec<String>,
    /// `http://` targets allowed (contact data then crosses the network in clear).
    pub allow_http: bool,
    /// How often the worker looks for new events and due deliveries.
    pub poll_interval: Duration,
    /// The first retry's delay; each further one doubles, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// One attempt's limit (connect, send, answer).
    pub timeout: Duration,
    /// Delivered and failed deliveries (and their log lines) older than this are purged.
    pub retention: Duration,
}

/// 30 days: a month of delivery log to look back on, and no more.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private_hosts: false,
            allowed_hosts: Vec::new(),
            allow_http: false,
            poll_interval: Duration::from_secs(2),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 12,
            timeout: Duration::from_secs(10),
            retention: DEFAULT_RETENTION,
        }
    }
}

/// Ports a webhook may target: HTTP, HTTPS, and unprivileged ones.
pub fn port_allowed(port: u16) -> bool {
    port == 80 || port == 443 || port >= 1024
}

/// Why a URL cannot be a webhook target (fixed texts: the URL is not echoed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("is not an absolute URL")]
    NotUrl,
    #[error("must start with https://")]
    Scheme,
    #[error("must start with https:// or http://")]
    SchemeHttp,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must not carry a #fragment")]
    Fragment,
}

/// A checked target: the URL, and the host and port the guard resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    pub host: String,
    pub port: u16,
}

impl WebhookSettings {
    /// The SSRF policy of webhook targets.
    pub fn policy(&self) -> HostPolicy<'_> {
        HostPolicy {
            allow_private_hosts: self.allow_private_hosts,
            allowed_hosts: &self.allowed_hosts,
            port_allowed,
        }
    }

    /// Checks the form of `url` (the host is checked by the guard when it is used).
    pub fn target(&self, url: &str) -> Result<Target, TargetError> {
        let url = Url::parse(url.trim()).map_err(|_| TargetError::NotUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ if self.allow_http => return Err(TargetError::SchemeHttp),
            _ => return Err(TargetError::Scheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(TargetError::Fragment);
        }
        let host = url.host_str().ok_or(TargetError::NotUrl)?.to_owned();
        let port = url.port_or_known_default().ok_or(TargetError::NotUrl)?;
        Ok(Target { url, host, port })
    }

    /// The delay before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.retry_base
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.retry_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_https_without_credentials_unless_http_is_allowed() {
        let s = WebhookSettings::default();
        let t = s
            .target("https://crm.example.com/hooks/mailsig")
            .expect("https");
        assert_eq!((t.host.as_str(), t.port), ("crm.example.com", 443));
        assert_eq!(
            s.target("http://crm.example.com/"),
            Err(TargetError::Scheme)
        );
        assert_eq!(s.target("ftp://crm.example.com/"), Err(TargetError::Scheme));
        assert_eq!(s.target("crm.example.com"), Err(TargetError::NotUrl));
        assert_eq!(
            s.target("https://u:p@crm.example.com/"),
            Err(TargetError::Credentials)
        );
        let http = WebhookSettings {
            allow_http: true,
            ..WebhookSettings::default()
        };
        assert_eq!(
            http.target("http://127.0.0.1:8080/h").map(|t| t.port),
            Ok(8080)
        );
        assert_eq!(
            http.target("file:///etc/passwd"),
            Err(TargetError::SchemeHttp)
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = WebhookSettings::default();
        assert_eq!(s.backoff(1), Duration::from_secs(30));
        assert_eq!(s.backoff(2), Duration::from_secs(60));
        assert_eq!(s.backoff(5), Duration::from_secs(480));
        assert_eq!(s.backoff(40), Duration::from_secs(3600));
        assert!(!port_allowed(22) && port_allowed(443) && port_allowed(8443));
    }
}
