//! Configuration: one TOML file, overridable from the environment, checked before anything
//! starts.
//!
//! Loading has two stages, so that "what the file says" and "what the daemon runs with" are
//! separate types:
//! 1. [`raw::RawConfig`]: the file as written, every key optional, unknown keys refused;
//!    [`env`] overrides (`MAILSIG_<SECTION>_<KEY>`) are applied on top.
//! 2. [`Config`]: defaults filled in, durations parsed, addresses and paths checked
//!    ([`validate`]).
//!
//! Secrets never appear here: the master key is a path, the SMTP password lives in the vault
//! or in a credential file named by `smtp.password_file`, the PostgreSQL password may come from
//! `database_password_file` or a systemd credential ([`database_password`]). Every key is documented in
//! `config/example.toml`, which a test keeps in step with [`raw::RawConfig`].

mod address_books;
mod database_password;
mod durations;
pub mod env;
mod error;
mod graph;
mod oauth;
mod oidc;
mod sender_auth;
pub mod smtp;
mod webhooks;

pub use crate::telemetry::LogFormat;
pub use database_password::{CREDENTIAL_NAME as DATABASE_PASSWORD_CREDENTIAL, connect_url};
pub mod raw;
pub mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
pub use raw::RawConfig;

use crate::pipeline::FilterConfig;

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from; relative paths in it were resolved against its directory.
    pub config_path: PathBuf,
    /// Where the SQLite database, the master key and backups live by default.
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    /// `database_password_file`: the PostgreSQL password, read when the store is opened
    /// ([`Config::database_connect_url`]).
    pub database_password_file: Option<PathBuf>,
    /// Used when `$CREDENTIALS_DIRECTORY/master-key` (systemd) is not available.
    pub master_key_file: PathBuf,
    pub http: HttpConfig,
    pub pipeline: PipelineSection,
    /// Daemon-wide message filters, in the pipeline's own type.
    pub filters: FilterConfig,
    /// `[imap]`, with `pipeline.max_message_bytes`: the options every IMAP watcher shares.
    pub imap: crate::sources::imap::ImapOptions,
    pub notify: NotifyConfig,
    /// `None` when no SMTP server is configured: notifications stay queued in the outbox.
    pub smtp: Option<SmtpConfig>,
    pub retention: RetentionConfig,
    pub log: LogConfig,
    /// `None` when `[graph]` has no client id: Microsoft 365 linking is off.
    pub graph: Option<crate::sources::graph::GraphConfig>,
    /// `[replica] id`: this replica's name among several on one database; `None` generates one
    /// (host name, pid and a random suffix) at every start.
    pub replica_id: Option<String>,
    /// `[api]`: rate limit and session lifetime of the user-facing API and pages.
    pub api: crate::http::app::ApiSettings,
    /// `[sender_auth]`: how the senders of messages are authenticated.
    pub sender_auth: crate::sender_auth::SenderAuthSettings,
    /// `[oauth.providers.<name>]`: where OAuth-linked mailboxes get their access tokens.
    pub oauth_providers: Vec<crate::sources::oauth::OAuthProviderConfig>,
    /// `[webhooks]`: where a list's webhooks may point, how deliveries are retried.
    pub webhooks: crate::webhooks::WebhookSettings,
    /// `[address_books]`: where connected CardDAV books may be, how often they are synced.
    pub address_books: crate::books::BookSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// The URL users reach the daemon at (links in notifications), without a trailing slash.
    pub public_base_url: String,
    /// HTTPS certificate and key; `None` serves plain HTTP (loopback or `behind_proxy` only).
    pub tls: Option<crate::http::tls::CertificateFiles>,
    /// Plain-HTTP address answering every request with a 308 to `public_base_url`.
    pub redirect_listen: Option<SocketAddr>,
    /// A reverse proxy terminates TLS: plain HTTP is allowed on any address.
    pub behind_proxy: bool,
    /// Proxies whose `X-Forwarded-For` is believed for the rate limits (required with
    /// `behind_proxy`); from any other peer the header is ignored.
    pub trusted_proxies: crate::http::client_address::TrustedProxies,
    /// Origins allowed by CORS (`scheme://host[:port]`); empty: no CORS at all.
    pub cors_origins: Vec<String>,
}

impl HttpConfig {
    /// The supervisor's view of the HTTPS settings.
    pub fn https_options(&self) -> crate::http::tls::HttpsOptions {
        crate::http::tls::HttpsOptions {
            certificate: self.tls.clone(),
            redirect_from: self.redirect_listen,
            https_base: self.public_base_url.clone(),
            cors_origins: self.cors_origins.clone(),
        }
    }
}

/// The `[pipeline]` section as validated; [`Config::pipeline_config`] turns it (with
/// `[filters]`) into the running pipeline's [`crate::pipeline::PipelineConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSection {
    /// Extraction workers (CPU bound; one per core is plenty).
    pub workers: u32,
    /// Capacity of the bounded queue between sources and workers (backpressure beyond it).
    pub queue_capacity: u32,
    /// Larger messages are skipped without being fetched.
    pub max_message_bytes: u64,
    /// How many messages share one commit, and how long one waits for others.
    pub group_commit: crate::pipeline::GroupCommit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Minimum time between two digest emails to the same user.
    pub digest_interval: Duration,
}

/// `[smtp]`: how notifications leave (validated by [`smtp`]).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub transport: SmtpTransport,
    pub auth: SmtpAuthConfig,
}

/// Where notifications are submitted (SMTP submission or Graph `sendMail`).
pub use crate::notify::TransportSettings as SmtpTransport;

/// How the technical user logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpAuthConfig {
    /// AUTH PLAIN/LOGIN. `password_file`: a file holding the password; when `None` the vault's
    /// `smtp` secret is used.
    Password { password_file: Option<PathBuf> },
    /// An app-only token (client-credentials grant) from `[oauth.providers.<provider>]` for `scope`.
    OAuthApp { provider: String, scope: String },
    /// The technical user's delegated grant at `[oauth.providers.<provider>]` for `scopes`: its
    /// refresh token is stored sealed by `mailsigd smtp sign-in`.
    OAuthUser {
        provider: String,
        scopes: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Soft-deleted rows are purged after this many days.
    pub days: u32,
    /// Audit log entries are purged after this many days.
    pub audit_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `mailsig_daemon=debug,info`; `RUST_LOG` wins.
    pub level: String,
}

/// The database to use. `Display` hides any password in the URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite {
        path: PathBuf,
        url: String,
    },
    /// The URL may hold the password (from the URL itself or from [`database_password`]).
    Postgres {
        url: zeroize::Zeroizing<String>,
    },
}

impl DatabaseUrl {
    /// The embedded default: a SQLite file, created if missing.
    pub fn sqlite(path: &Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite {
            path: path.to_path_buf(),
            url: crate::store::Store::sqlite_url(path),
        }
    }

    pub fn parse(url: &str) -> Result<DatabaseUrl, ConfigError> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres {
                url: zeroize::Zeroizing::new(postgres_tls_required(url)?),
            });
        }
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(ConfigError::invalid(
                    "database_url",
                    "a SQLite URL must name a file",
                ));
            }
            return Ok(DatabaseUrl::Sqlite {
                path: PathBuf::from(path),
                url: url.to_owned(),
            });
        }
        Err(ConfigError::invalid(
            "database_url",
            "must start with sqlite:// or postgres://",
        ))
    }

    /// The URL to hand to the store. Not for display: it may hold a password.
    pub fn as_str(&self) -> &str {
        match self {
            DatabaseUrl::Sqlite { url, .. } => url,
            DatabaseUrl::Postgres { url } => url.as_str(),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite { .. })
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite { path, .. } => write!(f, "sqlite {}", path.display()),
            DatabaseUrl::Postgres { url } => write!(f, "postgres {}", redact_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A PostgreSQL server off this host is reached over TLS: without an `sslmode`, `require` is
/// added (sqlx's default, `prefer`, silently falls back to cleartext: the password and every
/// row would cross the network readable); `disable`, `allow` and `prefer` are refused. A
/// loopback host or a Unix socket keeps what the URL says.
fn postgres_tls_required(text: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::invalid("database_url", reason.to_owned());
    let mut url = url::Url::parse(text).map_err(|_| invalid("is not a valid postgres:// URL"))?;
    let socket = url.query_pairs().any(|(k, _)| k == "host");
    let local = match url.host() {
        None => true,
        // postgres:// is not a "special" scheme to the URL parser: IPv4 hosts come as names.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    if local || socket {
        return Ok(text.to_owned());
    }
    let mode = url
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map(|(_, v)| v.to_ascii_lowercase());
    match mode.as_deref() {
        None => {
            url.query_pairs_mut().append_pair("sslmode", "require");
            Ok(url.to_string())
        }
        Some("require" | "verify-ca" | "verify-full") => Ok(text.to_owned()),
        Some(_) => Err(invalid(
            "a PostgreSQL server on another host must be reached over TLS: use sslmode=require, \
             verify-ca or verify-full",
        )),
    }
}

/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            // Passwords can also hide in the query string (`?password=`).
            let path = mask_query_password(path);
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => format!("{scheme}://{authority}{}", mask_query_password(path)),
    }
}

fn mask_query_password(path: &str) -> String {
    let Some((before, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{before}?{}", query.join("&"))
}

impl Config {
    /// The URL to open the store with: [`Config::database_url`] with the PostgreSQL password
    /// from `$CREDENTIALS_DIRECTORY/database-password` or `database_password_file`, read now.
    /// Not for display (it may hold the password); zeroized on drop.
    pub fn database_connect_url(&self) -> Result<zeroize::Zeroizing<String>, ConfigError> {
        let credentials =
            std::env::var_os(crate::vault::CREDENTIALS_DIRECTORY_ENV).map(PathBuf::from);
        connect_url(
            &self.database_url,
            self.database_password_file.as_deref(),
            credentials.as_deref(),
        )
    }

    /// Reads, overrides from the process environment, and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Config::from_toml(&text, path, std::env::vars_os())
    }

    /// [`load`](Self::load) from text and explicit environment variables (for tests).
    pub fn from_toml<I, K, V>(text: &str, path: &Path, vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        };
        // Deserialize the file alone first: its errors carry line and column.
        let from_file: RawConfig = toml::from_str(text).map_err(parse_error)?;
        let mut table: toml::Table = text.parse().map_err(parse_error)?;
        let before = table.clone();
        env::apply(&mut table, vars)?;
        let raw = if table == before {
            from_file
        } else {
            toml::Value::Table(table)
                .try_into::<RawConfig>()
                .map_err(|e| ConfigError::Env {
                    var: "MAILSIG_*".to_owned(),
                    reason: e.to_string().trim().replace('\n', " "),
                })?
        };
        validate::validate(raw, path)
    }

    /// The pipeline's options, from `[pipeline]` and `[filters]`.
    pub fn pipeline_config(&self) -> crate::pipeline::PipelineConfig {
        crate::pipeline::PipelineConfig {
            workers: usize::try_from(self.pipeline.workers).unwrap_or(1),
            queue_capacity: usize::try_from(self.pipeline.queue_capacity).unwrap_or(1),
            filters: self.filters.clone(),
            sender_auth: self.sender_authenticator(),
            group_commit: self.pipeline.group_commit,
            // Replaced by the key derived from the master key when the daemon starts.
            identity: crate::pipeline::IdentityKey::random(),
        }
    }

    /// The sender authenticator of `[sender_auth]`. `None` when its resolver cannot be set up
    /// (logged): every sender then counts as unknown, so no message changes existing data.
    pub fn sender_authenticator(
        &self,
    ) -> Option<std::sync::Arc<crate::sender_auth::SenderAuthenticator>> {
        match crate::sender_auth::SenderAuthenticator::new(&self.sender_auth) {
            Ok(authenticator) => Some(authenticator),
            Err(error) => {
                tracing::warn!(error = %error, "sender authentication is off: every sender counts as unknown");
                None
            }
        }
    }

    /// The one-line summary printed by `check-config`. Holds no secret.
    pub fn summary(&self) -> String {
        let smtp = match &self.smtp {
            Some(SmtpConfig {
                transport: SmtpTransport::Smtp(settings),
                ..
            }) => format!("smtp {} ({})", settings.server(), settings.security),
            Some(SmtpConfig {
                transport: SmtpTransport::Graph(settings),
                ..
            }) => format!("smtp graph sendMail {}", settings.server()),
            None => "smtp off".to_owned(),
        };
        format!(
            "config {}: data_dir {}, database {}, http {}, {} workers, queue {}, {}, retention {} days, log {}/{}",
            self.config_path.display(),
            self.data_dir.display(),
            self.database_url,
            self.http.listen,
            self.pipeline.workers,
            self.pipeline.queue_capacity,
            smtp,
            self.retention.days,
            self.log.format,
            self.log.level,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_postgres_is_reached_over_tls() {
        let url = |text: &str| DatabaseUrl::parse(text).map(|u| u.as_str().to_owned());
        let remote = url("postgres://app@db.example:5432/mailsig").unwrap_or_default();
        assert!(remote.ends_with("?sslmode=require"), "{remote}");
        assert!(url("postgres://app@db.example/mailsig?sslmode=prefer").is_err());
        assert!(url("postgres://app@10.0.0.5/mailsig?sslmode=disable").is_err());
        let full = "postgres://app@db.example/mailsig?sslmode=verify-full";
        assert_eq!(url(full).ok().as_deref(), Some(full));
        // Loopback and Unix sockets keep what they say (the test servers run without TLS).
        let local = "postgres://app@127.0.0.1:5432/mailsig";
        assert_eq!(url(local).ok().as_deref(), Some(local));
        let socket = "postgres://app@localhost/mailsig?sslmode=disable";
        assert_eq!(url(socket).ok().as_deref(), Some(socket));
    }

    #[test]
    fn postgres_passwords_are_hidden() {
        let url = DatabaseUrl::parse(
            "postgres://app:s3cret@db.example:5432/mailsig?sslmode=require&password=x2",
        )
        .unwrap_or_else(|_| DatabaseUrl::Postgres {
            url: String::new().into(),
        });
        let shown = url.to_string();
        assert!(
            !shown.contains("s3cret") && !shown.contains("x2"),
            "{shown}"
        );
        assert!(shown.contains("app:***@db.example:5432/mailsig"), "{shown}");
        assert!(format!("{url:?}").contains("***"));
    }
}

#[cfg(test)]
mod example_tests {
    //! `config/example.toml` must stay a complete, valid reference.
    use super::*;

    const EXAMPLE: &str = include_str!("../../../config/example.toml");

    /// The example with every commented-out `# key = value` line switched on, and every
    /// commented-out `# [table]` header (tables of named entries such as OAuth providers).
    fn example_with_all_keys() -> String {
        EXAMPLE
            .lines()
            .map(|line| {
                let uncommented = line.trim_start_matches('#').trim_start();
                let is_table = line.starts_with("# [") && uncommented.ends_with(']');
                let is_key = is_table
                    || line.starts_with('#')
                        && uncommented.split_once(" = ").is_some_and(|(key, _)| {
                            !key.is_empty()
                                && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                        });
                if is_key { uncommented } else { line }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn nulls(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Null => out.push(path.to_owned()),
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    let inner_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    nulls(inner, &inner_path, out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn example_documents_every_field() {
        let raw: Result<RawConfig, _> = toml::from_str(&example_with_all_keys());
        let raw = raw.unwrap_or_else(|e| panic!("example.toml with all keys does not parse: {e}"));
        let json = serde_json::to_value(&raw).unwrap_or_default();
        let mut missing = Vec::new();
        nulls(&json, "", &mut missing);
        assert!(
            missing.is_empty(),
            "keys not documented in config/example.toml: {missing:?}"
        );
        // The walk above saw real fields, not an empty struct.
        assert!(env::schema().len() >= 25, "schema suspiciously small");
    }

    #[test]
    fn example_as_shipped_is_valid() {
        let config = Config::from_toml(
            EXAMPLE,
            Path::new("/etc/mailsig/mailsig.toml"),
            Vec::<(String, String)>::new(),
        );
        let config = config.unwrap_or_else(|e| panic!("example.toml is not valid: {e}"));
        assert!(config.smtp.is_none());
        assert_eq!(config.pipeline.max_message_bytes, 25 * 1024 * 1024);
    }

    #[test]
    fn example_with_every_key_set_is_valid() {
        // `[imap] ca_file` is read when the configuration is: point it at a real CA.
        let Ok(dir) = tempfile::tempdir() else {
            panic!("temporary directory")
        };
        let ca = dir.path().join("imap-ca.pem");
        let Ok(()) = std::fs::write(&ca, crate::sources::imap::trust::TEST_CA) else {
            panic!("write the CA")
        };
        let text = example_with_all_keys().replace(
            "\"/etc/mailsig/imap-ca.pem\"",
            &format!("{:?}", ca.display().to_string()),
        );
        assert!(
            text.contains("imap-ca.pem"),
            "the example names no imap.ca_file"
        );
        let config = Config::from_toml(
            &text,
            Path::new("/etc/mailsig/mailsig.toml"),
            Vec::<(String, String)>::new(),
        );
        let config =
            config.unwrap_or_else(|e| panic!("example.toml with all keys is not valid: {e}"));
        assert!(config.smtp.is_some());
        assert!(!config.database_url.is_sqlite());
    }

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("/srv/m/mailsig.toml"), vars.iter().copied())
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let config = load("", &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/mailsig"));
        assert_eq!(
            config.master_key_file,
            PathBuf::from("/var/lib/mailsig/master.key")
        );
        assert_eq!(
            config.database_url.to_string(),
            "sqlite /var/lib/mailsig/mailsig.db"
        );
        assert_eq!(config.http.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(config.imap.idle_renew, Duration::from_secs(25 * 60));
        assert_eq!(config.notify.digest_interval, Duration::from_secs(15 * 60));
        assert_eq!(config.retention.days, 30);
        assert!(config.filters.skip_bulk && config.filters.skip_auto_replies);
        assert!(config.filters.role_addresses.iter().any(|r| r == "noreply"));
        assert_eq!(config.log.format, LogFormat::Auto);
    }

    /// A pipeline built in code (the supervisor's default options, the tests, the tools) is
    /// sized like one from a configuration file that leaves `[pipeline]` out.
    #[test]
    fn the_pipeline_defaults_are_the_configurations() {
        let config = load("", &[]).unwrap_or_else(|e| panic!("{e}"));
        let from_file = config.pipeline_config();
        let in_code = crate::pipeline::PipelineConfig::default();
        assert_eq!(from_file.workers, in_code.workers);
        assert_eq!(from_file.queue_capacity, in_code.queue_capacity);
        assert_eq!(from_file.group_commit, in_code.group_commit);
        assert_eq!(from_file.filters, in_code.filters);
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let config = load("data_dir = \"state\"\n[smtp]\nhost = \"h\"\nusername = \"u\"\nfrom = \"a@b.example\"\nca_file = \"ca.pem\"", &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.data_dir, PathBuf::from("/srv/m/state"));
        let smtp = config.smtp.unwrap_or_else(|| panic!("smtp missing"));
        let SmtpTransport::Smtp(settings) = smtp.transport else {
            panic!("not the smtp transport")
        };
        assert_eq!(settings.ca_file, Some(PathBuf::from("/srv/m/ca.pem")));
        assert_eq!(settings.port, 587);
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load(
            "[pipeline]\nworkers = 2\n",
            &[
                ("MAILSIG_PIPELINE_WORKERS", "7"),
                ("MAILSIG_IMAP_POLL_INTERVAL", "90s"),
                ("MAILSIG_DATA_DIR", "/x"),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.pipeline.workers, 7);
        assert_eq!(config.imap.poll_interval, Duration::from_secs(90));
        assert_eq!(config.data_dir, PathBuf::from("/x"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, &str)] = &[
            ("unknown_key = 1", "unknown_key"),
            ("[http]\nlisten = \"nowhere\"", "http.listen"),
            ("[imap]\nidle_renew = \"45m\"", "imap.idle_renew"),
            ("[imap]\npoll_interval = \"soon\"", "imap.poll_interval"),
            ("[pipeline]\nworkers = 0", "pipeline.workers"),
            (
                "[smtp]\nhost = \"h\"\nusername = \"u\"\nfrom = \"a@b.example\"\nsecurity = \"none\"",
                "smtp.security",
            ),
            (
                "[smtp]\nhost = \"h\"\nusername = \"u\"\nfrom = \"not an address\"",
                "smtp.from",
            ),
            (
                "[smtp]\nhost = \"h\"\nfrom = \"a@b.example\"",
                "smtp.username",
            ),
            ("[smtp]\npassword = \"inline\"", "password"),
            ("[log]\nformat = \"xml\"", "log.format"),
            (
                "[filters]\nown_domains = [\"not a domain\"]",
                "filters.own_domains",
            ),
            ("database_url = \"mysql://x\"", "database_url"),
            ("[pipeline]\nworkers = \"two\"", "workers"),
        ];
        for (text, key) in cases {
            let err = load(text, &[])
                .err()
                .unwrap_or_else(|| panic!("accepted: {text}"));
            assert!(err.to_string().contains(key), "{text}: {err}");
            assert!(!err.is_missing());
        }
    }
}
