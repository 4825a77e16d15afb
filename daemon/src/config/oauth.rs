//! `[oauth.providers.<name>]` read from the configuration file into the providers OAuth-linked
//! mailboxes sign in with (`crate::sources::oauth::OAuthProviderConfig`): the profile's
//! endpoints and scopes unless the section sets its own, every URL checked, errors naming the
//! provider.

use std::path::PathBuf;

use url::Url;

use super::ConfigError;
use super::raw::RawOAuth;
use crate::sources::oauth::{ClientAuth, OAuthProfile, OAuthProviderConfig};

const KEY: &str = "oauth.providers";

pub(super) fn from_raw(
    raw: RawOAuth,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Vec<OAuthProviderConfig>, ConfigError> {
    let mut providers = Vec::new();
    for (name, raw) in raw.providers {
        let bad = |reason: String| ConfigError::invalid(KEY, format!("{name}: {reason}"));
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("a provider name is letters, digits, '-' and '_'".into()));
        }
        let profile = OAuthProfile::parse(raw.profile.as_deref().unwrap_or("generic"))
            .ok_or_else(|| bad("profile must be microsoft, google or generic".into()))?;
        let client_id = raw
            .client_id
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad("client_id is required".into()))?;
        let client_secret_file = raw
            .client_secret_file
            .map(resolve)
            .ok_or_else(|| bad("client_secret_file is required".into()))?;
        let tenant = raw.tenant.as_deref().unwrap_or("organizations");
        if !tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(bad(
                "tenant is a tenant id, domain or organizations/common".into()
            ));
        }
        let defaults = profile.endpoints(tenant);
        let authorization_url = raw
            .authorization_url
            .or_else(|| defaults.as_ref().map(|(auth, _)| auth.clone()))
            .ok_or_else(|| bad("authorization_url is required for the generic profile".into()))?;
        let token_url = raw
            .token_url
            .or_else(|| defaults.as_ref().map(|(_, token)| token.clone()))
            .ok_or_else(|| bad("token_url is required for the generic profile".into()))?;
        let scopes = raw
            .scopes
            .or_else(|| profile.imap_scopes())
            .ok_or_else(|| bad("scopes are required for the generic profile".into()))?;
        if scopes.is_empty() {
            return Err(bad("scopes must not be empty".into()));
        }
        let client_auth = match raw.client_auth.as_deref() {
            None if profile == OAuthProfile::Generic => ClientAuth::Basic,
            None => ClientAuth::Post,
            Some(text) => ClientAuth::parse(text).ok_or_else(|| {
                bad("client_auth must be client_secret_basic or client_secret_post".into())
            })?,
        };
        providers.push(OAuthProviderConfig {
            authorization_url: endpoint(&name, "authorization_url", &authorization_url)?,
            token_url: endpoint(&name, "token_url", &token_url)?,
            name,
            profile,
            client_id,
            client_secret_file,
            client_auth,
            scopes,
        });
    }
    Ok(providers)
}

/// An endpoint must be https, or http to a loopback address (tests, a local proxy).
fn endpoint(name: &str, field: &str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text)
        .map_err(|_| ConfigError::invalid(KEY, format!("{name}: {field} is not a URL")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(ConfigError::invalid(
            KEY,
            format!("{name}: {field} must use https"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawOAuthProvider;

    fn raw(provider: RawOAuthProvider) -> RawOAuth {
        RawOAuth {
            providers: [("corp".to_owned(), provider)].into_iter().collect(),
        }
    }

    #[test]
    fn a_profile_fills_in_endpoints_and_scopes() -> Result<(), ConfigError> {
        let providers = from_raw(
            raw(RawOAuthProvider {
                profile: Some("microsoft".into()),
                client_id: Some("app".into()),
                client_secret_file: Some("secret".into()),
                tenant: Some("contoso.onmicrosoft.com".into()),
                ..RawOAuthProvider::default()
            }),
            &|p| PathBuf::from("/etc/mailsig").join(p),
        )?;
        let corp = &providers[0];
        assert_eq!(
            corp.token_url.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            corp.scopes[0],
            "https://outlook.office.com/IMAP.AccessAsUser.All"
        );
        assert_eq!(corp.client_auth, ClientAuth::Post);
        assert_eq!(
            corp.client_secret_file,
            PathBuf::from("/etc/mailsig/secret")
        );
        Ok(())
    }

    #[test]
    fn a_generic_provider_needs_its_endpoints_and_https() {
        let missing = from_raw(
            raw(RawOAuthProvider {
                client_id: Some("app".into()),
                client_secret_file: Some("secret".into()),
                ..RawOAuthProvider::default()
            }),
            &|p| p,
        );
        assert!(missing.is_err());
        let plain = from_raw(
            raw(RawOAuthProvider {
                client_id: Some("app".into()),
                client_secret_file: Some("secret".into()),
                authorization_url: Some("http://idp.example.com/auth".into()),
                token_url: Some("http://idp.example.com/token".into()),
                scopes: Some(vec!["mail".into()]),
                ..RawOAuthProvider::default()
            }),
            &|p| p,
        );
        let Err(error) = plain else {
            panic!("plain http to a remote provider was accepted")
        };
        assert!(error.to_string().contains("must use https"));
    }
}
