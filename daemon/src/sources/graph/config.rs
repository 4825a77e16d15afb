//! `[graph]` validated: where the identity platform and Graph are, who the daemon is to them
//! (client id; the secret is in the vault or a credential file), and the public URLs Graph and
//! the user's browser come back to. Reading `[graph]` from the configuration file into this is
//! `config::graph`'s job.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

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
/// What an app-only token asks for: every application permission the tenant's admin granted.
pub const APP_ONLY_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The admin consent's way back: `{public_base_url}{ADMIN_CONSENT_PATH}`.
pub const ADMIN_CONSENT_PATH: &str = "/oauth/microsoft/admin-consent";
/// Asked for in addition when the consent is for a list that writes to Outlook contacts.
pub const CONTACTS_SCOPE: &str = "Contacts.ReadWrite";

/// What a consent asks the user for: reading mail, and for a list that opted into Outlook
/// contacts, reading and writing contacts. Refreshes ask for the mail scopes only; the identity
/// platform's access token carries every delegated scope the user consented to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Mail,
    MailAndContacts,
}

impl Consent {
    pub fn scopes(self) -> String {
        match self {
            Consent::Mail => SCOPES.to_owned(),
            Consent::MailAndContacts => format!("{SCOPES} {CONTACTS_SCOPE}"),
        }
    }
}

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
    /// Time between two rounds of the delta on the members of linked groups.
    pub membership_interval: Duration,
}

/// Default of [`GraphConfig::membership_interval`].
pub const DEFAULT_MEMBERSHIP_INTERVAL: Duration = Duration::from_secs(5 * 60);

impl GraphConfig {
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
            membership_interval: DEFAULT_MEMBERSHIP_INTERVAL,
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

    /// Where the admin consent comes back to.
    pub fn admin_consent_redirect_uri(&self) -> String {
        format!("{}{ADMIN_CONSENT_PATH}", self.public_base_url)
    }

    /// The identity platform without the tenant segment of the authority
    /// (`https://login.microsoftonline.com`).
    fn identity_host(&self) -> String {
        let mut url = self.authority_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().pop();
        }
        url.as_str().trim_end_matches('/').to_owned()
    }

    /// `{host}/{tenant}/oauth2/v2.0/{endpoint}`: an endpoint of one tenant (the client-credentials
    /// grant needs the tenant's own endpoint, not `common`).
    pub fn tenant_identity_endpoint(&self, tenant: &str, endpoint: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/{endpoint}", self.identity_host())
    }

    /// `{authority}/v2.0/adminconsent`: where an administrator grants the app's application
    /// permissions for their organisation (the authority's tenant: `organizations`, `common` or
    /// the tenant's own id).
    pub fn admin_consent_endpoint(&self) -> String {
        format!(
            "{}/v2.0/adminconsent",
            self.authority_url.as_str().trim_end_matches('/')
        )
    }

    /// `{authority}/oauth2/v2.0/{endpoint}`.
    pub fn identity_endpoint(&self, endpoint: &str) -> String {
        format!(
            "{}/oauth2/v2.0/{endpoint}",
            self.authority_url.as_str().trim_end_matches('/')
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_endpoints_replace_the_authority_s_tenant() -> Result<(), url::ParseError> {
        let config = GraphConfig::new(
            "app",
            Url::parse(DEFAULT_AUTHORITY)?,
            Url::parse(DEFAULT_GRAPH_URL)?,
            "https://mailsig.example",
        );
        assert_eq!(
            config.tenant_identity_endpoint("8f1c", "token"),
            "https://login.microsoftonline.com/8f1c/oauth2/v2.0/token"
        );
        assert_eq!(
            config.admin_consent_endpoint(),
            "https://login.microsoftonline.com/common/v2.0/adminconsent"
        );
        Ok(())
    }
}
