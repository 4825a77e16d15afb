//! `[graph]` validated: where the identity platform and Graph are, who the daemon is to them
//! (client id; the secret is in the vault or a credential file), and the public URLs Graph and
//! the user's browser come back to.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::config::ConfigError;
use crate::config::raw::RawGraph;

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// 70 hours: valid under both the old (4,230 min) and the current (10,080 min) Outlook caps.
pub const DEFAULT_SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(70 * 60 * 60);
/// Graph's cap for Outlook message subscriptions without resource data (under 7 days).
pub const MAX_SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(10_080 * 60);
pub const DEFAULT_DELTA_INTERVAL: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_WORKERS: usize = 8;
/// Graph allows 4 concurrent requests per app and mailbox (Outlook throttling limits).
pub const MAX_REQUESTS_PER_MAILBOX: usize = 4;
/// Paths under the public base URL.
pub const CALLBACK_PATH: &str = "/oauth/microsoft/callback";
pub const NOTIFICATIONS_PATH: &str = "/graph/notifications";
pub const LIFECYCLE_PATH: &str = "/graph/lifecycle";
/// The delegated scopes asked for at consent.
pub const SCOPES: &str = "offline_access User.Read Mail.Read";

/// The Microsoft 365 source's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    pub client_id: String,
    /// A file holding the client secret; when `None` the vault's `graph_client_secret` is used.
    pub client_secret_file: Option<PathBuf>,
    /// `https://login.microsoftonline.com/{tenant}`; `/oauth2/v2.0/{authorize,token}` follow.
    pub authority_url: Url,
    /// `https://graph.microsoft.com/v1.0`.
    pub graph_url: Url,
    /// Base of the redirect URI and the notification URLs, without a trailing slash.
    pub public_base_url: String,
    pub subscription_lifetime: Duration,
    pub folders: Vec<String>,
    pub delta_interval: Duration,
    pub workers: usize,
}

impl GraphConfig {
    /// Validates `[graph]`. `None` when no client id is set (the source is off).
    pub fn from_raw(
        raw: RawGraph,
        http_public_base_url: &str,
        resolve: &dyn Fn(PathBuf) -> PathBuf,
    ) -> Result<Option<GraphConfig>, ConfigError> {
        let Some(client_id) = raw
            .client_id
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
        else {
            return Ok(None);
        };
        let authority_url = checked_url(
            "graph.authority_url",
            raw.authority_url.as_deref().unwrap_or(DEFAULT_AUTHORITY),
        )?;
        let graph_url = checked_url(
            "graph.graph_url",
            raw.graph_url.as_deref().unwrap_or(DEFAULT_GRAPH_URL),
        )?;
        super::client::check_graph_endpoint(&graph_url)
            .map_err(|reason| ConfigError::invalid("graph.graph_url", reason))?;
        let public = raw
            .public_base_url
            .as_deref()
            .unwrap_or(http_public_base_url);
        let public_base_url = checked_url("graph.public_base_url", public)?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let subscription_lifetime = duration(
            "graph.subscription_lifetime",
            raw.subscription_lifetime.as_deref(),
            DEFAULT_SUBSCRIPTION_LIFETIME,
        )?;
        if subscription_lifetime > MAX_SUBSCRIPTION_LIFETIME
            || subscription_lifetime < Duration::from_secs(60)
        {
            return Err(ConfigError::invalid(
                "graph.subscription_lifetime",
                "must be between 1m and 10080m (Graph's cap for Outlook message subscriptions)",
            ));
        }
        let delta_interval = duration(
            "graph.delta_interval",
            raw.delta_interval.as_deref(),
            DEFAULT_DELTA_INTERVAL,
        )?;
        if delta_interval < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "graph.delta_interval",
                "must be at least 1s",
            ));
        }
        let folders: Vec<String> = raw
            .folders
            .unwrap_or_else(|| vec!["inbox".to_owned()])
            .into_iter()
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect();
        if folders.is_empty() {
            return Err(ConfigError::invalid(
                "graph.folders",
                "must name at least one folder",
            ));
        }
        if let Some(bad) = folders.iter().find(|f| {
            !f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b))
        }) {
            return Err(ConfigError::invalid(
                "graph.folders",
                format!("{bad:?} is not a folder name or id"),
            ));
        }
        let workers = match raw.workers {
            Some(0) => return Err(ConfigError::invalid("graph.workers", "must be at least 1")),
            Some(n) => usize::try_from(n).unwrap_or(DEFAULT_WORKERS),
            None => DEFAULT_WORKERS,
        };
        Ok(Some(GraphConfig {
            client_id,
            client_secret_file: raw.client_secret_file.map(resolve),
            authority_url,
            graph_url,
            public_base_url,
            subscription_lifetime,
            folders,
            delta_interval,
            workers,
        }))
    }

    /// A configuration for tests and embedding: everything at its default but the endpoints.
    pub fn new(
        client_id: &str,
        authority_url: Url,
        graph_url: Url,
        public_base_url: &str,
    ) -> GraphConfig {
        GraphConfig {
            client_id: client_id.to_owned(),
            client_secret_file: None,
            authority_url,
            graph_url,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            subscription_lifetime: DEFAULT_SUBSCRIPTION_LIFETIME,
            folders: vec!["inbox".to_owned()],
            delta_interval: DEFAULT_DELTA_INTERVAL,
            workers: DEFAULT_WORKERS,
        }
    }

    /// The redirect URI registered for the app.
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_base_url)
    }

    pub fn notification_url(&self) -> String {
        format!("{}{NOTIFICATIONS_PATH}", self.public_base_url)
    }

    pub fn lifecycle_url(&self) -> String {
        format!("{}{LIFECYCLE_PATH}", self.public_base_url)
    }

    /// `{authority}/oauth2/v2.0/{endpoint}`.
    pub fn identity_endpoint(&self, endpoint: &str) -> String {
        format!(
            "{}/oauth2/v2.0/{endpoint}",
            self.authority_url.as_str().trim_end_matches('/')
        )
    }
}

/// Parses a URL that must be https, or http to a loopback host (local tests and bridges).
fn checked_url(key: &'static str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim())
        .map_err(|e| ConfigError::invalid(key, format!("{text:?} is not a URL ({e})")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::invalid(
            key,
            "must not have a query or fragment",
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(ConfigError::invalid(
            key,
            "must be https (http only to a loopback address)",
        )),
    }
}

/// Whether the URL's host is 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn duration(
    key: &'static str,
    text: Option<&str>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            ConfigError::invalid(
                key,
                format!("{text:?} is not a duration like \"30m\" ({e})"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(client_id: Option<&str>) -> RawGraph {
        RawGraph {
            client_id: client_id.map(str::to_owned),
            ..RawGraph::default()
        }
    }

    #[test]
    fn off_without_client_id_and_defaults_with_one() {
        let resolve = |p: PathBuf| p;
        assert!(matches!(
            GraphConfig::from_raw(raw(None), "https://m.example", &resolve),
            Ok(None)
        ));
        let config = GraphConfig::from_raw(raw(Some("app")), "https://m.example/", &resolve);
        let Ok(Some(config)) = config else {
            panic!("default graph config refused")
        };
        assert_eq!(
            config.redirect_uri(),
            "https://m.example/oauth/microsoft/callback"
        );
        assert_eq!(
            config.notification_url(),
            "https://m.example/graph/notifications"
        );
        assert_eq!(
            config.identity_endpoint("token"),
            "https://login.microsoftonline.com/common/oauth2/v2.0/token"
        );
        assert_eq!(config.folders, vec!["inbox".to_owned()]);
    }

    #[test]
    fn public_url_must_be_https_outside_loopback() {
        let resolve = |p: PathBuf| p;
        assert!(
            GraphConfig::from_raw(raw(Some("app")), "http://mailsig.example.net", &resolve)
                .is_err()
        );
        assert!(GraphConfig::from_raw(raw(Some("app")), "http://127.0.0.1:8080", &resolve).is_ok());
        let mut long = raw(Some("app"));
        long.subscription_lifetime = Some("8d".into());
        assert!(GraphConfig::from_raw(long, "https://m.example", &resolve).is_err());
    }
}
