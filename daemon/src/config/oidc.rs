//! `[auth]` and its `[[auth.oidc]]` providers, read into `http::auth::oidc::Identity`: names that
//! fit in a URL path and are unique, https issuers (http only on loopback), a client id and a
//! place to read the secret from, lower-case domains, and at least one way to sign in.

use std::path::PathBuf;

use super::ConfigError;
use super::raw::{RawAuth, RawOidcProvider};
use crate::http::auth::oidc::{AdminMapping, ClientSecretSource, Identity, OidcProviderSettings};
use crate::service::identity::AdmissionPolicy;

const KEY: &str = "auth.oidc";

pub(super) fn from_raw(
    raw: RawAuth,
    public_base_url: &str,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Identity, ConfigError> {
    let local_passwords = raw.local_passwords.unwrap_or(true);
    let mut providers: Vec<OidcProviderSettings> = Vec::new();
    for (index, entry) in raw.oidc.into_iter().enumerate() {
        let provider = provider(index, entry, resolve)?;
        if providers.iter().any(|p| p.name == provider.name) {
            return Err(ConfigError::invalid(
                KEY,
                format!("{}: two providers have this name", provider.name),
            ));
        }
        providers.push(provider);
    }
    if !local_passwords && providers.is_empty() {
        return Err(ConfigError::invalid(
            "auth.local_passwords",
            "is false, but no [[auth.oidc]] provider is configured: nobody could sign in",
        ));
    }
    Identity::new(local_passwords, providers, public_base_url)
        .map_err(|e| ConfigError::invalid(KEY, e.to_string()))
}

fn provider(
    index: usize,
    raw: RawOidcProvider,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<OidcProviderSettings, ConfigError> {
    let name = raw.name.map(|n| n.trim().to_owned()).unwrap_or_default();
    let label = if name.is_empty() {
        format!("provider {}", index + 1)
    } else {
        name.clone()
    };
    let bad = |reason: &str| ConfigError::invalid(KEY, format!("{label}: {reason}"));
    if name.is_empty()
        || name.len() > 40
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(bad(
            "name is required: lower-case letters, digits, '-' and '_' (it is part of the callback URL)",
        ));
    }
    let issuer = raw
        .issuer
        .map(|i| i.trim().trim_end_matches('/').to_owned())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad("issuer is required"))?;
    let url = url::Url::parse(&issuer).map_err(|_| bad("issuer is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(url.scheme() == "https" || url.scheme() == "http" && loopback) {
        return Err(bad("issuer must use https"));
    }
    let client_id = raw
        .client_id
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("client_id is required"))?;
    let client_secret = ClientSecretSource {
        env: raw.client_secret_env.filter(|e| !e.trim().is_empty()),
        file: raw.client_secret_file.map(resolve),
    };
    if client_secret.env.is_none() && client_secret.file.is_none() {
        return Err(bad("client_secret_file or client_secret_env is required"));
    }
    let scopes: Vec<String> = raw
        .scopes
        .unwrap_or_else(|| vec!["email".into(), "profile".into()])
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s != "openid")
        .collect();
    if scopes.iter().any(|s| s.contains(char::is_whitespace)) {
        return Err(bad("a scope has no spaces"));
    }
    let lower = |values: Option<Vec<String>>| -> Vec<String> {
        values
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.trim().trim_start_matches('@').to_lowercase())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let allowed_domains = lower(raw.allowed_domains);
    let allowed_tenants: Vec<String> = raw
        .allowed_tenants
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let admin_claim = raw
        .admin_claim
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let admin_values: Vec<String> = raw.admin_values.unwrap_or_default();
    if admin_claim.is_some() && admin_values.is_empty() {
        return Err(bad(
            "admin_claim needs admin_values (which values mean admin)",
        ));
    }
    Ok(OidcProviderSettings {
        display_name: raw
            .display_name
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        issuer,
        client_id,
        client_secret,
        scopes,
        admission: AdmissionPolicy {
            allowed_domains,
            allowed_tenants,
            trust_email: raw.trust_email.unwrap_or(false),
        },
        tenant_claim: raw
            .tenant_claim
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "tid".to_owned()),
        admin: AdminMapping {
            claim: admin_claim,
            values: admin_values,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> RawOidcProvider {
        RawOidcProvider {
            name: Some("corp".into()),
            issuer: Some("https://id.example.net/".into()),
            client_id: Some("mailsig".into()),
            client_secret_file: Some("oidc-secret".into()),
            allowed_domains: Some(vec!["@Example.NET".into()]),
            ..RawOidcProvider::default()
        }
    }

    fn load(raw: RawAuth) -> Result<Identity, ConfigError> {
        from_raw(raw, "https://m.example.net", &|p| {
            PathBuf::from("/etc/mailsig").join(p)
        })
    }

    #[test]
    fn a_provider_is_read_with_its_defaults() -> Result<(), ConfigError> {
        let identity = load(RawAuth {
            local_passwords: None,
            oidc: vec![entry()],
        })?;
        assert!(identity.local_passwords);
        let corp = identity
            .provider("corp")
            .map(|p| p.display_name().to_owned());
        assert_eq!(corp.as_deref(), Some("corp"));
        Ok(())
    }

    #[test]
    fn bad_entries_are_refused_with_the_key() {
        let cases: Vec<(RawOidcProvider, &str)> = vec![
            (
                RawOidcProvider {
                    name: Some("Corp ID".into()),
                    ..entry()
                },
                "name is required",
            ),
            (
                RawOidcProvider {
                    issuer: Some("http://id.example.net".into()),
                    ..entry()
                },
                "issuer must use https",
            ),
            (
                RawOidcProvider {
                    client_secret_file: None,
                    ..entry()
                },
                "client_secret_file or client_secret_env",
            ),
            (
                RawOidcProvider {
                    admin_claim: Some("groups".into()),
                    ..entry()
                },
                "admin_values",
            ),
        ];
        for (raw, expected) in cases {
            let error = load(RawAuth {
                local_passwords: None,
                oidc: vec![raw],
            })
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(error.contains(expected), "{error}");
        }
        let twice = load(RawAuth {
            local_passwords: None,
            oidc: vec![entry(), entry()],
        });
        assert!(twice.is_err());
    }

    #[test]
    fn passwords_off_needs_a_provider() {
        let alone = load(RawAuth {
            local_passwords: Some(false),
            oidc: vec![],
        });
        assert!(alone.is_err());
        let with = load(RawAuth {
            local_passwords: Some(false),
            oidc: vec![entry()],
        });
        assert!(with.is_ok_and(|i| !i.local_passwords));
    }
}
