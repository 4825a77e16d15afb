//! Stage two of configuration: defaults filled in, values checked and typed.
//!
//! Relative paths are resolved against the directory of the configuration file, so a config
//! written by `mailsigd init` keeps working whatever the current directory of the daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::pipeline::FilterConfig;
use crate::pipeline::filter::DEFAULT_ROLE_ADDRESSES;
use crate::sources::imap::ImapOptions;

use super::durations::duration;
use super::error::ConfigError;
use super::raw::RawConfig;
use super::{
    Config, DatabaseUrl, HttpConfig, LogConfig, LogFormat, NotifyConfig, PipelineSection,
    RetentionConfig,
};

pub const DEFAULT_DATA_DIR: &str = "/var/lib/mailsig";
pub const DEFAULT_DATABASE_FILE: &str = "mailsig.db";
pub const DEFAULT_MASTER_KEY_FILE: &str = "master.key";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub use crate::pipeline::{DEFAULT_QUEUE_CAPACITY, DEFAULT_WORKERS};
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 25 * 1024 * 1024;
/// RFC 2177 asks clients to re-issue IDLE at least every 29 minutes; 25 leaves a margin.
pub const DEFAULT_IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
pub const MAX_IDLE_RENEW: Duration = Duration::from_secs(29 * 60);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_FOLDERS_PER_MAILBOX: u32 = 20;
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// `[imap] connect_timeout`: each step of opening an IMAP connection.
pub const DEFAULT_IMAP_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_UIDVALIDITY_RESCAN: Duration = Duration::from_secs(7 * 24 * 3600);
pub const MAX_UIDVALIDITY_RESCAN: Duration = Duration::from_secs(90 * 24 * 3600);
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: u32 = 10;
pub const DEFAULT_DIGEST_INTERVAL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// `[retention] audit_days` when not set: a year of audit log.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// Turns the raw file into a validated [`Config`]. `config_path` is the file it came from.
pub fn validate(raw: RawConfig, config_path: &Path) -> Result<Config, ConfigError> {
    let base = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let resolve = |path: PathBuf| {
        if path.is_absolute() {
            path
        } else {
            base.join(path)
        }
    };

    let data_dir = resolve(
        raw.data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
    );
    if data_dir.as_os_str().is_empty() {
        return Err(ConfigError::invalid("data_dir", "must not be empty"));
    }
    let database_url = match raw.database_url {
        Some(url) => DatabaseUrl::parse(&url)?,
        None => DatabaseUrl::sqlite(&data_dir.join(DEFAULT_DATABASE_FILE)),
    };
    let database_password_file = raw.database_password_file.map(&resolve);
    super::database_password::check(&database_url, database_password_file.as_deref())?;
    let master_key_file = raw
        .master_key_file
        .map(resolve)
        .unwrap_or_else(|| data_dir.join(DEFAULT_MASTER_KEY_FILE));

    let listen_text = raw
        .http
        .listen
        .clone()
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        ConfigError::invalid(
            "http.listen",
            format!("{listen_text:?} is not an address:port"),
        )
    })?;
    let http = http(raw.http, listen, &resolve)?;

    let pipeline = PipelineSection {
        workers: at_least_one(
            "pipeline.workers",
            raw.pipeline.workers.unwrap_or(DEFAULT_WORKERS),
        )?,
        queue_capacity: at_least_one(
            "pipeline.queue_capacity",
            raw.pipeline
                .queue_capacity
                .unwrap_or(DEFAULT_QUEUE_CAPACITY),
        )?,
        max_message_bytes: match raw
            .pipeline
            .max_message_bytes
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES)
        {
            0 => {
                return Err(ConfigError::invalid(
                    "pipeline.max_message_bytes",
                    "must be at least 1",
                ));
            }
            n => n,
        },
        group_commit: crate::pipeline::GroupCommit {
            max_messages: at_least_one(
                "pipeline.group_commit_max",
                raw.pipeline
                    .group_commit_max
                    .unwrap_or(crate::pipeline::group_commit::DEFAULT_GROUP_COMMIT_MAX),
            )? as usize,
            max_wait: match raw
                .pipeline
                .group_commit_wait_ms
                .unwrap_or(crate::pipeline::group_commit::DEFAULT_GROUP_COMMIT_WAIT_MS)
            {
                ms @ 0..=1000 => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError::invalid(
                        "pipeline.group_commit_wait_ms",
                        "must be at most 1000 (a message waits this long for others)",
                    ));
                }
            },
        },
    };

    let filters = FilterConfig {
        skip_auto_replies: raw.filters.skip_auto_replies.unwrap_or(true),
        skip_bulk: raw.filters.skip_bulk.unwrap_or(true),
        role_addresses: match raw.filters.role_addresses {
            Some(list) => list
                .iter()
                .map(|local| local.trim().to_ascii_lowercase())
                .collect(),
            None => DEFAULT_ROLE_ADDRESSES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        },
        own_domains: domains("filters.own_domains", raw.filters.own_domains)?,
        excluded_domains: domains("filters.excluded_domains", raw.filters.excluded_domains)?,
        max_message_bytes: pipeline.max_message_bytes,
    };

    let idle_renew = duration("imap.idle_renew", raw.imap.idle_renew, DEFAULT_IDLE_RENEW)?;
    if idle_renew > MAX_IDLE_RENEW || idle_renew < Duration::from_secs(60) {
        return Err(ConfigError::invalid(
            "imap.idle_renew",
            "must be between 1m and 29m (RFC 2177: re-issue IDLE at least every 29 minutes)",
        ));
    }
    let poll_interval = duration(
        "imap.poll_interval",
        raw.imap.poll_interval,
        DEFAULT_POLL_INTERVAL,
    )?;
    if poll_interval < MIN_POLL_INTERVAL {
        return Err(ConfigError::invalid(
            "imap.poll_interval",
            "must be at least 10s",
        ));
    }
    let command_timeout = duration(
        "imap.command_timeout",
        raw.imap.command_timeout,
        DEFAULT_COMMAND_TIMEOUT,
    )?;
    let connect_timeout = duration(
        "imap.connect_timeout",
        raw.imap.connect_timeout,
        DEFAULT_IMAP_CONNECT_TIMEOUT,
    )?;
    if connect_timeout < Duration::from_secs(1) || connect_timeout > Duration::from_secs(300) {
        return Err(ConfigError::invalid(
            "imap.connect_timeout",
            "must be between 1s and 5m",
        ));
    }
    let fetch_timeout = duration(
        "imap.fetch_timeout",
        raw.imap.fetch_timeout,
        DEFAULT_FETCH_TIMEOUT,
    )?;
    for (key, value) in [
        ("imap.command_timeout", command_timeout),
        ("imap.fetch_timeout", fetch_timeout),
    ] {
        if value < Duration::from_secs(1) || value > Duration::from_secs(3600) {
            return Err(ConfigError::invalid(key, "must be between 1s and 1h"));
        }
    }
    let uidvalidity_rescan = duration(
        "imap.uidvalidity_rescan",
        raw.imap.uidvalidity_rescan,
        DEFAULT_UIDVALIDITY_RESCAN,
    )?;
    if uidvalidity_rescan > MAX_UIDVALIDITY_RESCAN {
        return Err(ConfigError::invalid(
            "imap.uidvalidity_rescan",
            "must be at most 90 days",
        ));
    }
    let imap = ImapOptions {
        uidvalidity_rescan,
        idle_renew,
        poll_interval,
        connect_timeout,
        command_timeout,
        fetch_timeout,
        max_message_bytes: pipeline.max_message_bytes,
        max_folders_per_mailbox: count(at_least_one(
            "imap.max_folders_per_mailbox",
            raw.imap
                .max_folders_per_mailbox
                .unwrap_or(DEFAULT_MAX_FOLDERS_PER_MAILBOX),
        )?),
        max_connections_per_host: count(at_least_one(
            "imap.max_connections_per_host",
            raw.imap
                .max_connections_per_host
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_HOST),
        )?),
        allow_plaintext_loopback: raw.imap.allow_plaintext_loopback.unwrap_or(false),
        allow_private_hosts: raw.imap.allow_private_hosts.unwrap_or(false),
        allowed_hosts: allowed_hosts(raw.imap.allowed_hosts.unwrap_or_default())?,
        operator_roots: imap_ca_roots(raw.imap.ca_file.clone().map(&resolve).as_deref())?,
        ca_file: raw.imap.ca_file.map(&resolve),
        ..ImapOptions::default()
    };

    let digest_interval = duration(
        "notify.digest_interval",
        raw.notify.digest_interval,
        DEFAULT_DIGEST_INTERVAL,
    )?;
    if digest_interval < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "notify.digest_interval",
            "must be at least 1s",
        ));
    }

    let oauth_providers = super::oauth::from_raw(raw.oauth, &resolve)?;
    let smtp = super::smtp::from_raw(raw.smtp, &oauth_providers, &resolve)?;

    let retention_days = raw.retention.days.unwrap_or(DEFAULT_RETENTION_DAYS);
    if retention_days == 0 {
        return Err(ConfigError::invalid("retention.days", "must be at least 1"));
    }
    let audit_days = raw
        .retention
        .audit_days
        .unwrap_or(DEFAULT_AUDIT_RETENTION_DAYS);
    if audit_days == 0 {
        return Err(ConfigError::invalid(
            "retention.audit_days",
            "must be at least 1",
        ));
    }

    let format = match raw.log.format.as_deref().map(str::trim) {
        None | Some("auto") => LogFormat::Auto,
        Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some("journald") => LogFormat::Journald,
        Some(other) => {
            return Err(ConfigError::invalid(
                "log.format",
                format!("{other:?} is not one of auto, text, json, journald"),
            ));
        }
    };
    let level = raw
        .log
        .level
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned());
    crate::telemetry::check_filter(&level)
        .map_err(|error| ConfigError::invalid("log.level", error.to_string()))?;

    let graph = super::graph::from_raw(raw.graph, &http.public_base_url, &resolve)?;
    let identity = super::oidc::from_raw(raw.auth, &http.public_base_url, &resolve)?;

    Ok(Config {
        config_path: config_path.to_path_buf(),
        data_dir,
        database_url,
        database_password_file,
        master_key_file,
        http,
        pipeline,
        filters,
        imap,
        notify: NotifyConfig { digest_interval },
        smtp,
        retention: RetentionConfig {
            days: retention_days,
            audit_days,
        },
        log: LogConfig { format, level },
        graph,
        replica_id: replica_id(raw.replica.id)?,
        api: crate::http::app::ApiSettings {
            identity,
            ..api_settings(raw.api)?
        },
        sender_auth: super::sender_auth::from_raw(raw.sender_auth)?,
        oauth_providers,
        webhooks: super::webhooks::from_raw(raw.webhooks)?,
        address_books: super::address_books::from_raw(raw.address_books)?,
    })
}

/// `[api]`: every number at least 1, sessions between one minute and 30 days, token lifetimes
/// between a day and the maximum (itself at most ten years).
fn api_settings(raw: super::raw::RawApi) -> Result<crate::http::app::ApiSettings, ConfigError> {
    let defaults = crate::http::app::ApiSettings::default();
    let rate_per_minute = at_least_one(
        "api.rate_per_minute",
        raw.rate_per_minute.unwrap_or(defaults.rate_per_minute),
    )?;
    let rate_burst = at_least_one(
        "api.rate_burst",
        raw.rate_burst.unwrap_or(defaults.rate_burst),
    )?;
    let session_ttl = duration("api.session_ttl", raw.session_ttl, defaults.session_ttl)?;
    if session_ttl < Duration::from_secs(60) || session_ttl > Duration::from_secs(30 * 24 * 3600) {
        return Err(ConfigError::invalid(
            "api.session_ttl",
            "must be between 1m and 30days",
        ));
    }
    let token_max_ttl = duration(
        "api.token_max_ttl",
        raw.token_max_ttl,
        defaults.tokens.max_ttl,
    )?;
    if token_max_ttl < Duration::from_secs(86_400)
        || token_max_ttl > Duration::from_secs(3650 * 86_400)
    {
        return Err(ConfigError::invalid(
            "api.token_max_ttl",
            "must be between 1day and 3650days",
        ));
    }
    let token_ttl = duration(
        "api.token_ttl",
        raw.token_ttl,
        defaults.tokens.default_ttl.min(token_max_ttl),
    )?;
    if token_ttl < Duration::from_secs(86_400) || token_ttl > token_max_ttl {
        return Err(ConfigError::invalid(
            "api.token_ttl",
            "must be between 1day and api.token_max_ttl",
        ));
    }
    let public_rate_per_second = at_least_one(
        "api.public_rate_per_second",
        raw.public_rate_per_second
            .unwrap_or(defaults.public_rate_per_second),
    )?;
    let public_rate_per_address = at_least_one(
        "api.public_rate_per_address",
        raw.public_rate_per_address
            .unwrap_or(defaults.public_rate_per_address),
    )?;
    Ok(crate::http::app::ApiSettings {
        rate_per_minute,
        rate_burst,
        session_ttl,
        tokens: crate::service::tokens::TokenLimits {
            default_ttl: token_ttl,
            max_ttl: token_max_ttl,
        },
        public_rate_per_second,
        public_rate_per_address,
        require_second_factor: raw
            .require_second_factor
            .unwrap_or(defaults.require_second_factor),
        ..defaults
    })
}

/// A configured replica id: printable ASCII without spaces, at most 100 characters (it is
/// stored in every lease row and logged).
fn replica_id(id: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(id) = id
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
    else {
        return Ok(None);
    };
    if id.len() > 100 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::invalid(
            "replica.id",
            "must be at most 100 printable ASCII characters without spaces",
        ));
    }
    Ok(Some(id))
}

/// The `[http]` section: plain HTTP is served only on loopback or behind a proxy that says so;
/// otherwise HTTPS with a certificate, optionally with a redirect listener.
fn http(
    raw: super::raw::RawHttp,
    listen: SocketAddr,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<HttpConfig, ConfigError> {
    let tls = match (raw.tls_cert, raw.tls_key) {
        (Some(cert), Some(key)) => Some(crate::http::tls::CertificateFiles {
            cert: resolve(cert),
            key: resolve(key),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                "http.tls_key",
                "is required when http.tls_cert is set",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                "http.tls_cert",
                "is required when http.tls_key is set",
            ));
        }
    };
    let behind_proxy = raw.behind_proxy.unwrap_or(false);
    if tls.is_none() && !behind_proxy && !listen.ip().is_loopback() {
        return Err(ConfigError::invalid(
            "http.listen",
            format!(
                "{listen} is not a loopback address: plain HTTP there would send passwords and session cookies \
                 in clear; set http.tls_cert and http.tls_key, or http.behind_proxy = true when a reverse proxy \
                 terminates TLS"
            ),
        ));
    }
    let trusted_proxies = crate::http::client_address::TrustedProxies::parse(
        &raw.trusted_proxies.unwrap_or_default(),
    )
    .map_err(|error| ConfigError::invalid("http.trusted_proxies", error.to_string()))?;
    if behind_proxy && trusted_proxies.is_empty() {
        return Err(ConfigError::invalid(
            "http.trusted_proxies",
            "must name the reverse proxy's address (or network) when http.behind_proxy = true; without it every \
             client would share the proxy's rate limit",
        ));
    }
    let public_base_url = match raw.public_base_url {
        Some(url) => check_base_url(&url)?,
        None if tls.is_some() => format!("https://{listen}"),
        None => format!("http://{listen}"),
    };
    let redirect_listen = match raw.redirect_listen {
        None => None,
        Some(text) => {
            if tls.is_none() {
                return Err(ConfigError::invalid(
                    "http.redirect_listen",
                    "needs http.tls_cert and http.tls_key",
                ));
            }
            if !public_base_url.starts_with("https://") {
                return Err(ConfigError::invalid(
                    "http.public_base_url",
                    "must be an https:// URL when http.redirect_listen is set (it is where the redirect points)",
                ));
            }
            let addr: SocketAddr = text.parse().map_err(|_| {
                ConfigError::invalid(
                    "http.redirect_listen",
                    format!("{text:?} is not an address:port"),
                )
            })?;
            Some(addr)
        }
    };
    let cors_origins = raw
        .cors_origins
        .unwrap_or_default()
        .iter()
        .map(|origin| check_origin(origin))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpConfig {
        listen,
        public_base_url,
        tls,
        redirect_listen,
        behind_proxy,
        trusted_proxies,
        cors_origins,
    })
}

/// A browser origin: `http(s)://host[:port]`, nothing else (no path, no wildcard).
fn check_origin(origin: &str) -> Result<String, ConfigError> {
    let origin = origin.trim();
    let invalid = || {
        ConfigError::invalid(
            "http.cors_origins",
            format!(
                "{origin:?} is not an origin like \"https://crm.example.net\" (scheme and host, no path)"
            ),
        )
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let valid = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        && !rest.starts_with(':');
    if !valid {
        return Err(invalid());
    }
    Ok(origin.to_ascii_lowercase())
}

/// A validated count as the `usize` the watchers use (saturating on a 16-bit target).
fn count(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn at_least_one(key: &'static str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid(key, "must be at least 1"));
    }
    Ok(value)
}

fn domains(key: &'static str, list: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for domain in list.unwrap_or_default() {
        let domain = domain.trim().trim_start_matches('@').to_ascii_lowercase();
        let valid = !domain.is_empty()
            && domain.contains('.')
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !domain.starts_with('.')
            && !domain.ends_with('.');
        if !valid {
            return Err(ConfigError::invalid(
                key,
                format!("{domain:?} is not a domain name"),
            ));
        }
        out.push(domain);
    }
    Ok(out)
}

fn check_base_url(url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            ConfigError::invalid(
                "http.public_base_url",
                "must start with http:// or https://",
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(ConfigError::invalid(
            "http.public_base_url",
            "must name a host",
        ));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod http_tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            text,
            Path::new("/srv/m/mailsig.toml"),
            Vec::<(String, String)>::new(),
        )
    }

    #[test]
    fn plain_http_is_refused_on_a_non_loopback_address() {
        let err = load("[http]\nlisten = \"0.0.0.0:8080\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("http.listen") && err.contains("tls_cert"),
            "{err}"
        );
        let err = load("[http]\nlisten = \"192.0.2.10:80\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not a loopback"), "{err}");
        // Loopback (v4 and v6) is fine, and so is any address behind a declared proxy.
        for ok in [
            "[http]\nlisten = \"127.0.0.1:8080\"",
            "[http]\nlisten = \"[::1]:8080\"",
            "[http]\nlisten = \"0.0.0.0:8080\"\nbehind_proxy = true\ntrusted_proxies = [\"10.0.0.1\"]",
        ] {
            assert!(load(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn tls_makes_any_address_acceptable_and_the_base_url_https() {
        let config = load("[http]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"tls/cert.pem\"\ntls_key = \"tls/key.pem\"\n\
                           public_base_url = \"https://m.example.net/\"\nredirect_listen = \"0.0.0.0:8080\"")
            .unwrap_or_else(|e| panic!("{e}"));
        let tls = config
            .http
            .tls
            .clone()
            .unwrap_or_else(|| panic!("tls missing"));
        assert_eq!(tls.cert, Path::new("/srv/m/tls/cert.pem"));
        assert_eq!(tls.key, Path::new("/srv/m/tls/key.pem"));
        assert_eq!(config.http.public_base_url, "https://m.example.net");
        let options = config.http.https_options();
        assert_eq!(options.redirect_from.map(|a| a.port()), Some(8080));
        assert_eq!(options.https_base, "https://m.example.net");
        let default_base =
            load("[http]\nlisten = \"127.0.0.1:8443\"\ntls_cert = \"c\"\ntls_key = \"k\"")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(default_base.http.public_base_url, "https://127.0.0.1:8443");
    }

    #[test]
    fn inconsistent_https_settings_name_their_key() {
        let cases: &[(&str, &str)] = &[
            ("[http]\ntls_cert = \"c.pem\"", "http.tls_key"),
            ("[http]\ntls_key = \"k.pem\"", "http.tls_cert"),
            (
                "[http]\nredirect_listen = \"127.0.0.1:8081\"",
                "http.redirect_listen",
            ),
            (
                "[http]\ntls_cert = \"c\"\ntls_key = \"k\"\npublic_base_url = \"http://m.example.net\"\nredirect_listen = \"127.0.0.1:80\"",
                "http.public_base_url",
            ),
            (
                "[http]\ntls_cert = \"c\"\ntls_key = \"k\"\nredirect_listen = \"port 80\"",
                "http.redirect_listen",
            ),
            ("[http]\ncors_origins = [\"*\"]", "http.cors_origins"),
            (
                "[http]\ncors_origins = [\"https://a.example.net/path\"]",
                "http.cors_origins",
            ),
            (
                "[http]\ncors_origins = [\"a.example.net\"]",
                "http.cors_origins",
            ),
        ];
        for (text, key) in cases {
            let err = load(text)
                .err()
                .unwrap_or_else(|| panic!("accepted: {text}"));
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn cors_origins_are_kept_normalised() {
        let config =
            load("[http]\ncors_origins = [\"https://CRM.example.net\", \"http://localhost:3000\"]")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.http.cors_origins,
            vec!["https://crm.example.net", "http://localhost:3000"]
        );
    }
}

/// `imap.allowed_hosts`: host names or IP addresses, stored lower case without a trailing dot or
/// IPv6 brackets, so `sources::host_guard` can compare them with what a user typed.
fn allowed_hosts(hosts: Vec<String>) -> Result<Vec<String>, ConfigError> {
    hosts
        .into_iter()
        .map(|h| {
            let h = h
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if h.is_empty() || h.len() > 253 || h.contains(|c: char| c.is_whitespace() || c == '/')
            {
                Err(ConfigError::invalid(
                    "imap.allowed_hosts",
                    "each entry is a host name or an IP address",
                ))
            } else {
                Ok(h)
            }
        })
        .collect()
}

#[cfg(test)]
mod imap_guard_tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            text,
            Path::new("/srv/m/mailsig.toml"),
            Vec::<(String, String)>::new(),
        )
    }

    #[test]
    fn users_may_not_link_internal_hosts_unless_allowed() {
        let default = load("").unwrap_or_else(|e| panic!("{e}"));
        assert!(!default.imap.allow_private_hosts && default.imap.allowed_hosts.is_empty());
        let config = load("[imap]\nallow_private_hosts = true\nallowed_hosts = [\"IMAP.Corp.LAN.\", \"[fd00::1]\", \" 10.1.2.3 \"]")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.imap.allow_private_hosts);
        assert_eq!(
            config.imap.allowed_hosts,
            ["imap.corp.lan", "fd00::1", "10.1.2.3"]
        );
        let options = config.imap.clone();
        assert!(options.allow_private_hosts && options.allowed_hosts.len() == 3);
        for bad in [
            "[imap]\nallowed_hosts = [\"\"]",
            "[imap]\nallowed_hosts = [\"a b\"]",
            "[imap]\nallowed_hosts = [\"x/24\"]",
        ] {
            let err = load(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("imap.allowed_hosts"), "{bad}: {err}");
        }
    }
}

/// `[imap] ca_file`, read and checked now so that `check-config` and a reload refuse a file
/// that cannot be used (a reload keeps the running configuration then).
fn imap_ca_roots(
    path: Option<&std::path::Path>,
) -> Result<crate::sources::imap::trust::OperatorRoots, ConfigError> {
    use crate::sources::imap::trust::{OperatorRoots, parse_ca_pem};
    let Some(path) = path else {
        return Ok(OperatorRoots::default());
    };
    let pem = std::fs::read(path).map_err(|e| {
        ConfigError::invalid("imap.ca_file", format!("read {}: {e}", path.display()))
    })?;
    let certs = parse_ca_pem(&pem)
        .map_err(|e| ConfigError::invalid("imap.ca_file", format!("{} {e}", path.display())))?;
    Ok(OperatorRoots::new(certs))
}
