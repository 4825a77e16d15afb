//! Sign-in with OpenID Connect: any number of providers (`[[auth.oidc]]`), each found by
//! discovery from its issuer, used with the authorization code flow, PKCE (S256), a `state`
//! bound to the browser by a cookie and a nonce; the ID token is checked for signature (the
//! provider's JWKS, fetched again when a token names a key it does not list, so a rotated key
//! works), issuer, audience, expiry and nonce by the `openidconnect` crate before anything else
//! looks at it. Who the person then is (an account linked before, an existing account with the
//! same verified address, or a new one for an allowed domain) is the service's decision
//! (`service::identity`). Sessions opened this way remember their provider and sealed ID token,
//! so signing out also ends the session at the provider (RP-initiated logout) when it offers
//! that.
//!
//! Nothing a provider sends reaches a log line or a page as text: failures are kept as a kind
//! ([`Failure`]) with a fixed wording.

mod claims;
mod flow;
mod logout;
mod provider;

pub use claims::AdminMapping;
pub use flow::{
    CallbackQuery, Failure, FinishError, Finished, OIDC_COOKIE, clear_cookie, finish, start,
};
pub use logout::end_session_url;
pub use provider::{ClientSecretSource, OidcProviderSettings, Provider};

use std::sync::Arc;

/// How people sign in to this deployment (`[auth]`).
#[derive(Clone)]
pub struct Identity {
    /// `[auth] local_passwords`: e-mail and password sign-in is possible (default: yes).
    pub local_passwords: bool,
    providers: Arc<[Arc<Provider>]>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            local_passwords: true,
            providers: Arc::from(Vec::new()),
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("local_passwords", &self.local_passwords)
            .field(
                "providers",
                &self.providers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why the providers could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OpenID Connect provider {name}: {reason}")]
pub struct SetupError {
    pub name: String,
    pub reason: &'static str,
}

impl Identity {
    /// The deployment's providers; `public_base_url` is where the callbacks are reached.
    pub fn new(
        local_passwords: bool,
        providers: Vec<OidcProviderSettings>,
        public_base_url: &str,
    ) -> Result<Identity, SetupError> {
        let providers = providers
            .into_iter()
            .map(|settings| Provider::new(settings, public_base_url).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Identity {
            local_passwords,
            providers: Arc::from(providers),
        })
    }

    /// The provider named `name` in the configuration.
    pub fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// Every provider, in the configuration's order.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.providers.iter()
    }
}
