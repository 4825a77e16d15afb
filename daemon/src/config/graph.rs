//! `[graph]` read from the configuration file into the Microsoft 365 source's [`GraphConfig`]:
//! every key checked, defaults applied, errors naming the key.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::ConfigError;
use super::durations::duration;
use super::raw::RawGraph;
use crate::sources::graph::GraphConfig;
use crate::sources::graph::check_graph_endpoint;
use crate::sources::graph::config::{
    DEFAULT_AUTHORITY, DEFAULT_DELTA_INTERVAL, DEFAULT_GRAPH_URL, DEFAULT_MEMBERSHIP_INTERVAL,
    DEFAULT_SUBSCRIPTION_LIFETIME, DEFAULT_WORKERS, MAX_SUBSCRIPTION_LIFETIME, is_loopback,
};

/// Validates `[graph]`. `None` when no client id is set (the source is off).
pub(super) fn from_raw(
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
    check_graph_endpoint(&graph_url)
        .map_err(|error| ConfigError::invalid("graph.graph_url", error.to_string()))?;
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
        raw.subscription_lifetime,
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
        raw.delta_interval,
        DEFAULT_DELTA_INTERVAL,
    )?;
    if delta_interval < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "graph.delta_interval",
            "must be at least 1s",
        ));
    }
    let membership_interval = duration(
        "graph.membership_interval",
        raw.membership_interval,
        DEFAULT_MEMBERSHIP_INTERVAL,
    )?;
    if membership_interval < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "graph.membership_interval",
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
        membership_interval,
    }))
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
            from_raw(raw(None), "https://m.example", &resolve),
            Ok(None)
        ));
        let config = from_raw(raw(Some("app")), "https://m.example/", &resolve);
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
        assert!(from_raw(raw(Some("app")), "http://mailsig.example.net", &resolve).is_err());
        assert!(from_raw(raw(Some("app")), "http://127.0.0.1:8080", &resolve).is_ok());
        let mut long = raw(Some("app"));
        long.subscription_lifetime = Some("8d".into());
        assert!(from_raw(long, "https://m.example", &resolve).is_err());
    }
}
