//! `[smtp]` read from the configuration file into the notifier's [`SmtpConfig`]: the transport
//! (SMTP submission, or Microsoft Graph `sendMail`), how the technical user logs in (a password,
//! an app-only OAuth 2.0 token, or the technical user's own delegated grant, both from a provider
//! of `[oauth.providers.<name>]`), every key checked, errors naming the key.

use std::path::PathBuf;

use url::Url;

use super::ConfigError;
use super::raw::RawSmtp;
use super::{SmtpAuthConfig, SmtpConfig, SmtpTransport};
use crate::domain::{MailProtocol, TlsMode};
use crate::notify::{DEFAULT_GRAPH_TIMEOUT, GraphSendSettings, SmtpSettings};
use crate::sources::graph::config::{DEFAULT_GRAPH_URL, is_loopback};
use crate::sources::oauth::{OAuthProfile, OAuthProviderConfig};

/// Scope of an Exchange Online app-only token for SMTP (`SMTP.SendAsApp`).
pub const EXCHANGE_SMTP_SCOPE: &str = "https://outlook.office365.com/.default";
/// Scope of an app-only Graph token (`Mail.Send` application permission).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

pub(super) fn from_raw(
    raw: RawSmtp,
    providers: &[OAuthProviderConfig],
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Option<SmtpConfig>, ConfigError> {
    let graph = match raw.transport.as_deref().map(str::trim) {
        None | Some("smtp") => false,
        Some("graph") => true,
        Some(other) => {
            return Err(ConfigError::invalid(
                "smtp.transport",
                format!("{other:?} is not one of smtp, graph"),
            ));
        }
    };
    let has_host = raw.host.as_deref().is_some_and(|h| !h.trim().is_empty());
    if !graph && !has_host {
        // Without a host (and without the Graph transport) notifications are off; other [smtp]
        // keys make no sense alone.
        if raw.username.is_some() || raw.from.is_some() || raw.port.is_some() {
            return Err(ConfigError::invalid(
                "smtp.host",
                "is required when other [smtp] keys are set",
            ));
        }
        return Ok(None);
    }
    let from_text = raw
        .from
        .clone()
        .ok_or_else(|| ConfigError::invalid("smtp.from", "is required"))?;
    let from: lettre::message::Mailbox = from_text.parse().map_err(|_| {
        ConfigError::invalid(
            "smtp.from",
            format!("{from_text:?} is not an email address"),
        )
    })?;
    let auth = auth(&raw, graph, providers)?;
    let transport = if graph {
        for (key, set) in [
            ("smtp.host", has_host),
            ("smtp.port", raw.port.is_some()),
            ("smtp.security", raw.security.is_some()),
            ("smtp.username", raw.username.is_some()),
            ("smtp.ca_file", raw.ca_file.is_some()),
        ] {
            if set {
                return Err(ConfigError::invalid(
                    key,
                    "is not used with transport = \"graph\"",
                ));
            }
        }
        let graph_url = graph_url(raw.graph_url.as_deref().unwrap_or(DEFAULT_GRAPH_URL))?;
        let mailbox = match raw.graph_mailbox.map(|m| m.trim().to_owned()) {
            Some(mailbox) if !mailbox.is_empty() => mailbox,
            Some(_) => return Err(ConfigError::invalid("smtp.graph_mailbox", "is empty")),
            None => from.email.to_string(),
        };
        SmtpTransport::Graph(GraphSendSettings {
            graph_url,
            mailbox,
            from,
            timeout: DEFAULT_GRAPH_TIMEOUT,
        })
    } else {
        // graph_url and graph_mailbox are not used with SMTP (documented; not an error, so that
        // a configuration can switch transports by one key).
        let host = raw.host.unwrap_or_default();
        let security = match raw.security.as_deref() {
            None => TlsMode::StartTls,
            Some(text) => TlsMode::parse(text)
                .filter(|mode| mode.is_encrypted())
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "smtp.security",
                        format!("{text:?} is not one of tls, starttls"),
                    )
                })?,
        };
        let port = raw
            .port
            .unwrap_or(security.default_port(MailProtocol::Submission));
        if port == 0 {
            return Err(ConfigError::invalid("smtp.port", "must not be 0"));
        }
        let username = raw.username.filter(|u| !u.is_empty()).ok_or_else(|| {
            ConfigError::invalid("smtp.username", "is required when smtp.host is set")
        })?;
        let mut settings = SmtpSettings::new(host.trim(), port, security, username, from);
        if let Some(ca_file) = raw.ca_file {
            settings = settings.with_ca_file(resolve(ca_file));
        }
        SmtpTransport::Smtp(settings)
    };
    let auth = match auth {
        AuthChoice::Password => SmtpAuthConfig::Password {
            password_file: raw.password_file.map(resolve),
        },
        AuthChoice::App { provider, scope } => SmtpAuthConfig::OAuthApp { provider, scope },
        AuthChoice::User { provider, scopes } => SmtpAuthConfig::OAuthUser { provider, scopes },
    };
    Ok(Some(SmtpConfig { transport, auth }))
}

enum AuthChoice {
    Password,
    App {
        provider: String,
        scope: String,
    },
    User {
        provider: String,
        scopes: Vec<String>,
    },
}

fn auth(
    raw: &RawSmtp,
    graph: bool,
    providers: &[OAuthProviderConfig],
) -> Result<AuthChoice, ConfigError> {
    let default = if graph { "oauth2_app" } else { "password" };
    match raw.auth.as_deref().map(str::trim).unwrap_or(default) {
        "password" if graph => Err(ConfigError::invalid(
            "smtp.auth",
            "Graph sendMail needs auth = \"oauth2_app\"",
        )),
        // oauth_provider and oauth_scope are not used with a password (switching `auth` back
        // and forth needs no other change).
        "password" => Ok(AuthChoice::Password),
        "oauth2_user" if graph => Err(ConfigError::invalid(
            "smtp.auth",
            "Graph sendMail needs auth = \"oauth2_app\"",
        )),
        "oauth2_user" => {
            let provider = oauth_provider(raw, providers, "oauth2_user")?;
            let scopes = match raw.oauth_scope.as_deref().map(str::trim) {
                Some("") => return Err(ConfigError::invalid("smtp.oauth_scope", "is empty")),
                Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
                // A generic provider's own scopes are those its users sign in for.
                None => provider
                    .profile
                    .smtp_scopes()
                    .unwrap_or_else(|| provider.scopes.clone()),
            };
            Ok(AuthChoice::User {
                provider: provider.name.clone(),
                scopes,
            })
        }
        "oauth2_app" => {
            let provider = oauth_provider(raw, providers, "oauth2_app")?;
            let name = provider.name.as_str();
            let scope = match raw.oauth_scope.as_deref().map(str::trim) {
                Some("") => return Err(ConfigError::invalid("smtp.oauth_scope", "is empty")),
                Some(scope) => scope.to_owned(),
                None if graph => GRAPH_SCOPE.to_owned(),
                None if provider.profile == OAuthProfile::Microsoft => {
                    EXCHANGE_SMTP_SCOPE.to_owned()
                }
                None => {
                    return Err(ConfigError::invalid(
                        "smtp.oauth_scope",
                        "is required unless the provider has the microsoft profile",
                    ));
                }
            };
            Ok(AuthChoice::App {
                provider: name.to_owned(),
                scope,
            })
        }
        other => Err(ConfigError::invalid(
            "smtp.auth",
            format!("{other:?} is not one of password, oauth2_app, oauth2_user"),
        )),
    }
}

/// The provider `smtp.oauth_provider` names, for `auth = <auth>` (which has no password).
fn oauth_provider<'p>(
    raw: &RawSmtp,
    providers: &'p [OAuthProviderConfig],
    auth: &str,
) -> Result<&'p OAuthProviderConfig, ConfigError> {
    if raw.password_file.is_some() {
        return Err(ConfigError::invalid(
            "smtp.password_file",
            format!("is not used with auth = {auth:?}"),
        ));
    }
    let name = raw
        .oauth_provider
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ConfigError::invalid(
                "smtp.oauth_provider",
                format!("is required with auth = {auth:?} (a name of [oauth.providers])"),
            )
        })?;
    providers.iter().find(|p| p.name == name).ok_or_else(|| {
        ConfigError::invalid(
            "smtp.oauth_provider",
            format!("there is no [oauth.providers.{name}]"),
        )
    })
}

/// The Graph API base: https, or http to a loopback address (an emulator, a local bridge).
fn graph_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim())
        .map_err(|_| ConfigError::invalid("smtp.graph_url", format!("{text:?} is not a URL")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(ConfigError::invalid("smtp.graph_url", "must use https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(profile: OAuthProfile) -> OAuthProviderConfig {
        OAuthProviderConfig {
            name: "entra".into(),
            profile,
            client_id: "app".into(),
            client_secret_file: "secret".into(),
            client_auth: crate::sources::oauth::ClientAuth::Post,
            authorization_url: Url::parse("https://login.example/auth")
                .unwrap_or_else(|e| panic!("{e}")),
            token_url: Url::parse("https://login.example/token").unwrap_or_else(|e| panic!("{e}")),
            scopes: vec!["x".into()],
        }
    }

    fn parse(text: &str, profile: OAuthProfile) -> Result<Option<SmtpConfig>, ConfigError> {
        let raw: RawSmtp = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        from_raw(raw, &[provider(profile)], &|p| p)
    }

    #[test]
    fn app_only_smtp_takes_the_exchange_scope_from_the_microsoft_profile() {
        let config = parse(
            "host = \"smtp.office365.com\"\nusername = \"n@contoso.com\"\nfrom = \"n@contoso.com\"\n\
             auth = \"oauth2_app\"\noauth_provider = \"entra\"",
            OAuthProfile::Microsoft,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("smtp off"));
        match config.auth {
            SmtpAuthConfig::OAuthApp { provider, scope } => {
                assert_eq!(provider, "entra");
                assert_eq!(scope, EXCHANGE_SMTP_SCOPE);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_delegated_grant_takes_the_smtp_scope_of_the_profile_or_the_configured_one() {
        let text = "host = \"smtp.office365.com\"\nusername = \"n@contoso.com\"\n\
                    from = \"n@contoso.com\"\nauth = \"oauth2_user\"\noauth_provider = \"entra\"";
        let scopes = |text: &str, profile| match parse(text, profile)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("smtp off"))
            .auth
        {
            SmtpAuthConfig::OAuthUser { provider, scopes } => {
                assert_eq!(provider, "entra");
                scopes
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            scopes(text, OAuthProfile::Microsoft),
            ["https://outlook.office.com/SMTP.Send", "offline_access"]
        );
        assert_eq!(scopes(text, OAuthProfile::Generic), ["x"]);
        assert_eq!(
            scopes(
                &format!("{text}\noauth_scope = \"smtp offline_access\""),
                OAuthProfile::Generic
            ),
            ["smtp", "offline_access"]
        );
        let graph = "transport = \"graph\"\nfrom = \"n@contoso.com\"\nauth = \"oauth2_user\"\n\
                     oauth_provider = \"entra\"";
        assert!(parse(graph, OAuthProfile::Microsoft).is_err());
        let with_password = format!("{text}\npassword_file = \"p\"");
        assert!(parse(&with_password, OAuthProfile::Microsoft).is_err());
    }

    #[test]
    fn graph_needs_no_host_and_sends_from_the_from_address() {
        let config = parse(
            "transport = \"graph\"\nfrom = \"mailsig <n@contoso.com>\"\noauth_provider = \"entra\"",
            OAuthProfile::Microsoft,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("smtp off"));
        let SmtpTransport::Graph(graph) = config.transport else {
            panic!("not graph")
        };
        assert_eq!(graph.mailbox, "n@contoso.com");
        assert_eq!(graph.graph_url.as_str(), "https://graph.microsoft.com/v1.0");
        assert!(matches!(
            config.auth,
            SmtpAuthConfig::OAuthApp { ref scope, .. } if scope == GRAPH_SCOPE
        ));
    }

    #[test]
    fn wrong_combinations_name_their_key() {
        for (text, key) in [
            (
                "host = \"h\"\nusername = \"u\"\nfrom = \"a@b.example\"\nauth = \"oauth2_app\"",
                "smtp.oauth_provider",
            ),
            (
                "host = \"h\"\nusername = \"u\"\nfrom = \"a@b.example\"\nauth = \"oauth2_app\"\noauth_provider = \"other\"",
                "smtp.oauth_provider",
            ),
            (
                "transport = \"graph\"\nfrom = \"a@b.example\"\noauth_provider = \"entra\"\nhost = \"h\"",
                "smtp.host",
            ),
            (
                "transport = \"graph\"\nfrom = \"a@b.example\"\nauth = \"password\"",
                "smtp.auth",
            ),
            (
                "transport = \"graph\"\nfrom = \"a@b.example\"\noauth_provider = \"entra\"\ngraph_url = \"http://graph.example/v1.0\"",
                "smtp.graph_url",
            ),
            ("transport = \"pigeon\"", "smtp.transport"),
            (
                "host = \"h\"\nusername = \"u\"\nfrom = \"a@b.example\"\nauth = \"kerberos\"",
                "smtp.auth",
            ),
        ] {
            let Err(error) = parse(text, OAuthProfile::Microsoft) else {
                panic!("accepted: {text}")
            };
            assert!(error.to_string().contains(key), "{key} not in {error}");
        }
        let Err(error) = parse(
            "host = \"h\"\nusername = \"u\"\nfrom = \"a@b.example\"\nauth = \"oauth2_app\"\noauth_provider = \"entra\"",
            OAuthProfile::Google,
        ) else {
            panic!("a google provider without a scope was accepted")
        };
        assert!(error.to_string().contains("smtp.oauth_scope"));
    }
}
