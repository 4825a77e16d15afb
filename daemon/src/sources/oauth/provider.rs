//! The identity providers mailboxes may sign in with, as validated from `[oauth.providers.<name>]`.
//!
//! A profile fills in what a well-known provider always has (endpoints, the scopes IMAP needs,
//! extra authorization parameters); `generic` takes everything from the configuration, and any
//! field set in the configuration wins over the profile's.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::SecretString;
use url::Url;

/// Which provider's defaults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthProfile {
    /// Microsoft identity platform v2 (Exchange Online, Outlook.com).
    Microsoft,
    /// Google (Gmail, Google Workspace).
    Google,
    /// Endpoints and scopes from the configuration.
    Generic,
}

impl OAuthProfile {
    /// The spelling in the configuration file.
    pub const fn as_str(self) -> &'static str {
        match self {
            OAuthProfile::Microsoft => "microsoft",
            OAuthProfile::Google => "google",
            OAuthProfile::Generic => "generic",
        }
    }

    pub fn parse(text: &str) -> Option<OAuthProfile> {
        [
            OAuthProfile::Microsoft,
            OAuthProfile::Google,
            OAuthProfile::Generic,
        ]
        .into_iter()
        .find(|profile| profile.as_str() == text)
    }

    /// Authorization and token endpoint; `tenant` only matters for Microsoft.
    pub fn endpoints(self, tenant: &str) -> Option<(String, String)> {
        match self {
            OAuthProfile::Microsoft => Some((
                format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"),
                format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            )),
            OAuthProfile::Google => Some((
                "https://accounts.google.com/o/oauth2/v2/auth".to_owned(),
                "https://oauth2.googleapis.com/token".to_owned(),
            )),
            OAuthProfile::Generic => None,
        }
    }

    /// The scopes an IMAP mailbox needs, with a refresh token.
    pub fn imap_scopes(self) -> Option<Vec<String>> {
        match self {
            OAuthProfile::Microsoft => Some(vec![
                "https://outlook.office.com/IMAP.AccessAsUser.All".to_owned(),
                "offline_access".to_owned(),
            ]),
            OAuthProfile::Google => Some(vec!["https://mail.google.com/".to_owned()]),
            OAuthProfile::Generic => None,
        }
    }

    /// The delegated scopes the notifier's technical user signs in for, to send over SMTP with
    /// XOAUTH2 (Microsoft's `SMTP.Send`; Google has one scope for IMAP and SMTP).
    pub fn smtp_scopes(self) -> Option<Vec<String>> {
        match self {
            OAuthProfile::Microsoft => Some(vec![
                "https://outlook.office.com/SMTP.Send".to_owned(),
                "offline_access".to_owned(),
            ]),
            OAuthProfile::Google => Some(vec!["https://mail.google.com/".to_owned()]),
            OAuthProfile::Generic => None,
        }
    }

    /// Parameters the authorization request needs besides the standard ones: Google hands out a
    /// refresh token only with `access_type=offline`, and again only with `prompt=consent`.
    pub fn extra_authorization_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            OAuthProfile::Google => &[("access_type", "offline"), ("prompt", "consent")],
            OAuthProfile::Microsoft => &[],
            OAuthProfile::Generic => &[("prompt", "consent")],
        }
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`).
    Basic,
    /// Both in the form body (`client_secret_post`).
    Post,
}

impl ClientAuth {
    pub fn parse(text: &str) -> Option<ClientAuth> {
        match text {
            "client_secret_basic" => Some(ClientAuth::Basic),
            "client_secret_post" => Some(ClientAuth::Post),
            _ => None,
        }
    }
}

/// One configured provider.
pub struct OAuthProvider {
    pub name: String,
    pub profile: OAuthProfile,
    pub client_id: String,
    pub client_secret: SecretString,
    pub client_auth: ClientAuth,
    pub authorization_url: Url,
    pub token_url: Url,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OAuthProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthProvider")
            .field("name", &self.name)
            .field("profile", &self.profile)
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl OAuthProvider {
    /// The authorization URL a user is sent to (code flow, PKCE S256) for the provider's
    /// configured scopes (those of an IMAP mailbox).
    pub fn authorization_request(&self, redirect_uri: &str, state: &str, challenge: &str) -> Url {
        self.authorization_request_for(&self.scopes, redirect_uri, state, challenge)
    }

    /// The authorization URL for other `scopes` (the notifier's technical user).
    pub fn authorization_request_for(
        &self,
        scopes: &[String],
        redirect_uri: &str,
        state: &str,
        challenge: &str,
    ) -> Url {
        let mut url = self.authorization_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", state)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            for (key, value) in self.profile.extra_authorization_params() {
                query.append_pair(key, value);
            }
        }
        url
    }
}

/// One provider as configured: everything but the client secret, which is read from
/// `client_secret_file` when the providers are loaded ([`OAuthProviderConfig::load`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthProviderConfig {
    pub name: String,
    pub profile: OAuthProfile,
    pub client_id: String,
    pub client_secret_file: std::path::PathBuf,
    pub client_auth: ClientAuth,
    pub authorization_url: Url,
    pub token_url: Url,
    pub scopes: Vec<String>,
}

impl OAuthProviderConfig {
    /// Reads the client secret; the error names the file, never its content.
    pub fn load(&self) -> Result<OAuthProvider, super::OAuthError> {
        let path = &self.client_secret_file;
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            super::OAuthError::ClientSecret(format!("read {}: {}", path.display(), e.kind()))
        })?);
        let secret = text.trim();
        if secret.is_empty() {
            return Err(super::OAuthError::ClientSecret(format!(
                "{} is empty",
                path.display()
            )));
        }
        Ok(OAuthProvider {
            name: self.name.clone(),
            profile: self.profile,
            client_id: self.client_id.clone(),
            client_secret: SecretString::from(secret),
            client_auth: self.client_auth,
            authorization_url: self.authorization_url.clone(),
            token_url: self.token_url.clone(),
            scopes: self.scopes.clone(),
        })
    }
}

/// Every configured provider by name.
#[derive(Debug, Clone, Default)]
pub struct OAuthProviders {
    by_name: BTreeMap<String, Arc<OAuthProvider>>,
}

impl OAuthProviders {
    pub fn new(providers: impl IntoIterator<Item = OAuthProvider>) -> OAuthProviders {
        OAuthProviders {
            by_name: providers
                .into_iter()
                .map(|provider| (provider.name.clone(), Arc::new(provider)))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<OAuthProvider>> {
        self.by_name.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_carry_the_documented_scopes_and_endpoints() {
        assert_eq!(
            OAuthProfile::Microsoft.imap_scopes(),
            Some(vec![
                "https://outlook.office.com/IMAP.AccessAsUser.All".to_owned(),
                "offline_access".to_owned()
            ])
        );
        assert_eq!(
            OAuthProfile::Google.imap_scopes(),
            Some(vec!["https://mail.google.com/".to_owned()])
        );
        let (auth, token) = OAuthProfile::Microsoft
            .endpoints("organizations")
            .unwrap_or_default();
        assert!(auth.ends_with("/organizations/oauth2/v2.0/authorize"));
        assert!(token.ends_with("/organizations/oauth2/v2.0/token"));
        assert_eq!(OAuthProfile::Generic.endpoints("x"), None);
        assert_eq!(OAuthProfile::parse("google"), Some(OAuthProfile::Google));
        assert_eq!(OAuthProfile::parse("yahoo"), None);
    }

    #[test]
    fn the_authorization_request_has_pkce_and_the_profile_parameters() -> Result<(), url::ParseError>
    {
        let provider = OAuthProvider {
            name: "g".into(),
            profile: OAuthProfile::Google,
            client_id: "cid".into(),
            client_secret: SecretString::from("s"),
            client_auth: ClientAuth::Post,
            authorization_url: Url::parse("https://accounts.google.com/o/oauth2/v2/auth")?,
            token_url: Url::parse("https://oauth2.googleapis.com/token")?,
            scopes: vec!["https://mail.google.com/".into()],
        };
        let url = provider.authorization_request("http://127.0.0.1:9/cb", "st", "ch");
        let pairs: BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert_eq!(
            pairs.get("access_type").map(String::as_str),
            Some("offline")
        );
        assert_eq!(
            pairs.get("scope").map(String::as_str),
            Some("https://mail.google.com/")
        );
        let shown = format!("{provider:?}");
        assert!(shown.contains("cid") && !shown.contains("client_secret"));
        Ok(())
    }
}
