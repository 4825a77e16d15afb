//! Stage one of configuration: exactly what the TOML file (plus environment overrides) says.
//!
//! Every field is optional so that defaults live in one place ([`super::validate`]) and an
//! empty file is a valid configuration. `deny_unknown_fields` turns a misspelt key into an
//! error instead of a silently ignored setting. Durations are strings such as `"30s"` or
//! `"15m"`, parsed in stage two.
//!
//! The struct also serializes: a default `RawConfig` serialized to JSON is the schema (every
//! section and key, values `null`), which is how environment overrides find their key and how
//! the test checks that `config/example.toml` mentions every field.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// A file whose first line is the PostgreSQL password (instead of writing it into the URL).
    pub database_password_file: Option<PathBuf>,
    pub master_key_file: Option<PathBuf>,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub pipeline: RawPipeline,
    #[serde(default)]
    pub filters: RawFilters,
    #[serde(default)]
    pub imap: RawImap,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub smtp: RawSmtp,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub graph: RawGraph,
    #[serde(default)]
    pub replica: RawReplica,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub sender_auth: RawSenderAuth,
    #[serde(default)]
    pub oauth: RawOAuth,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub webhooks: RawWebhooks,
    #[serde(default)]
    pub address_books: RawAddressBooks,
}

/// `[address_books]`: where connected address books may be, request limit, sync interval.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddressBooks {
    pub allow_private_hosts: Option<bool>,
    pub allowed_hosts: Option<Vec<String>>,
    pub allow_http: Option<bool>,
    pub timeout: Option<String>,
    pub interval: Option<String>,
}

/// `[webhooks]`: where a list's webhooks may point, how deliveries are retried.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhooks {
    pub allow_private_hosts: Option<bool>,
    pub allowed_hosts: Option<Vec<String>>,
    pub allow_http: Option<bool>,
    pub poll_interval: Option<String>,
    pub retry_base: Option<String>,
    pub retry_max: Option<String>,
    pub max_attempts: Option<u32>,
    pub timeout: Option<String>,
    pub retention: Option<String>,
}

/// `[auth]`: how people sign in; validated by `config::oidc`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// E-mail and password sign-in (default true).
    pub local_passwords: Option<bool>,
    /// `[[auth.oidc]]`: OpenID Connect providers.
    #[serde(default)]
    pub oidc: Vec<RawOidcProvider>,
}

/// One `[[auth.oidc]]` entry.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidcProvider {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub allowed_domains: Option<Vec<String>>,
    pub allowed_tenants: Option<Vec<String>>,
    pub tenant_claim: Option<String>,
    pub trust_email: Option<bool>,
    pub admin_claim: Option<String>,
    pub admin_values: Option<Vec<String>>,
}

/// `[oauth]`: identity providers for OAuth-linked IMAP mailboxes; validated by `config::oauth`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, RawOAuthProvider>,
}

/// `[oauth.providers.<name>]`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuthProvider {
    /// `microsoft`, `google` or `generic` (the default).
    pub profile: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Microsoft only: tenant id or domain, `organizations` (default) or `common`.
    pub tenant: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// `client_secret_basic` or `client_secret_post`.
    pub client_auth: Option<String>,
}

/// `[sender_auth]`: the resolver, time budget and trusted authserv-ids of sender authentication.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSenderAuth {
    pub resolver: Option<String>,
    pub timeout: Option<String>,
    pub trusted_authserv_ids: Option<Vec<String>>,
    pub trusted_hosts: Option<Vec<String>>,
    pub cache_entries: Option<u32>,
}

/// `[api]`: the user-facing API and pages (rate limit, sessions).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub rate_per_minute: Option<u32>,
    pub rate_burst: Option<u32>,
    pub session_ttl: Option<String>,
    /// Lifetime of an API token issued without one, and the longest lifetime a token may have.
    pub token_ttl: Option<String>,
    pub token_max_ttl: Option<String>,
    /// Requests per second to the routes without authentication (webhook, OAuth callback,
    /// health and metrics), for the whole process and per client address.
    pub public_rate_per_second: Option<u32>,
    pub public_rate_per_address: Option<u32>,
    /// Every password sign-in must pass a second factor (TOTP); users without one are sent
    /// to set it up.
    pub require_second_factor: Option<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplica {
    pub id: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
    pub public_base_url: Option<String>,
    /// HTTPS: the certificate chain (PEM) and its private key; both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A second, plain-HTTP address that only redirects to HTTPS (needs tls_cert).
    pub redirect_listen: Option<String>,
    /// Plain HTTP on a non-loopback address, for a reverse proxy that terminates TLS.
    pub behind_proxy: Option<bool>,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<String>>,
    /// Browser origins allowed to call the API (CORS), e.g. `["https://crm.example.net"]`.
    pub cors_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub workers: Option<u32>,
    pub queue_capacity: Option<u32>,
    pub max_message_bytes: Option<u64>,
    pub group_commit_max: Option<u32>,
    pub group_commit_wait_ms: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilters {
    pub skip_auto_replies: Option<bool>,
    pub skip_bulk: Option<bool>,
    pub role_addresses: Option<Vec<String>>,
    pub own_domains: Option<Vec<String>>,
    pub excluded_domains: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    pub idle_renew: Option<String>,
    pub poll_interval: Option<String>,
    pub max_connections_per_host: Option<u32>,
    pub max_folders_per_mailbox: Option<u32>,
    pub connect_timeout: Option<String>,
    pub command_timeout: Option<String>,
    pub fetch_timeout: Option<String>,
    pub uidvalidity_rescan: Option<String>,
    pub allow_plaintext_loopback: Option<bool>,
    pub allow_private_hosts: Option<bool>,
    pub allowed_hosts: Option<Vec<String>>,
    /// A PEM file of certificate authorities trusted, with the public roots, by every mailbox
    /// without a CA of its own.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub digest_interval: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<String>,
    pub username: Option<String>,
    pub from: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// A file holding the SMTP password (e.g. a systemd credential). When absent, the password
    /// is the one stored in the vault by `mailsigd smtp set-password`.
    pub password_file: Option<PathBuf>,
    /// `smtp` (submission, the default) or `graph` (Microsoft Graph `sendMail`).
    pub transport: Option<String>,
    /// `password` (the default for SMTP) or `oauth2_app` (client credentials; the only choice for
    /// Graph).
    pub auth: Option<String>,
    /// The `[oauth.providers.<name>]` that issues the app-only tokens.
    pub oauth_provider: Option<String>,
    /// The scope of the client-credentials request (default from the provider's profile).
    pub oauth_scope: Option<String>,
    /// The Graph API base for `transport = "graph"`.
    pub graph_url: Option<String>,
    /// The mailbox Graph sends from (user id or principal name); default: the From address.
    pub graph_mailbox: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub days: Option<u32>,
    pub audit_days: Option<u32>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

/// `[graph]`: the Microsoft 365 source; validated into `crate::sources::graph::GraphConfig` by `config::graph`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGraph {
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub authority_url: Option<String>,
    pub graph_url: Option<String>,
    pub public_base_url: Option<String>,
    pub subscription_lifetime: Option<String>,
    pub folders: Option<Vec<String>>,
    pub delta_interval: Option<String>,
    pub workers: Option<u32>,
    pub membership_interval: Option<String>,
}
