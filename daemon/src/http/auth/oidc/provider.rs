//! One configured OpenID provider at run time: its settings, its discovered metadata and JWKS
//! (fetched at the first sign-in, kept for an hour), a JWKS fetched again when an ID token names
//! a key the cached set does not have (rate-limited per provider, so tokens with made-up key ids
//! cannot make mailsig hammer the provider), and the HTTP client for it (rustls, no redirects
//! followed, bounded time).

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    Client, ClientId, ClientSecret, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IdTokenFields, IssuerUrl, ProviderMetadataWithLogout, RedirectUrl,
    StandardErrorResponse, StandardTokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::RwLock;

use super::claims::{AdminMapping, OtherClaims};
use super::{Failure, SetupError};
use crate::service::identity::AdmissionPolicy;

/// One `[[auth.oidc]]` entry, validated.
#[derive(Clone)]
pub struct OidcProviderSettings {
    /// Short name, in the callback path (`/sign-in/oidc/<name>/callback`) and the audit log.
    pub name: String,
    /// What the sign-in button says ("Sign in with <display_name>").
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecretSource,
    /// Asked for besides `openid`.
    pub scopes: Vec<String>,
    /// Who is let in, and for whom an account is made.
    pub admission: AdmissionPolicy,
    /// The claim naming the person's tenant (Entra ID: `tid`).
    pub tenant_claim: String,
    pub admin: AdminMapping,
}

impl std::fmt::Debug for OidcProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderSettings")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Where the client secret is read from, at each use (so a replaced file takes effect without a
/// restart): the environment variable when it is set, else the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSecretSource {
    pub env: Option<String>,
    pub file: Option<std::path::PathBuf>,
}

impl ClientSecretSource {
    /// The secret, trimmed of the line end a file usually has.
    pub(super) fn read(&self, provider: &str) -> Result<SecretString, Failure> {
        if let Some(value) = self
            .env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
            .filter(|v| !v.trim().is_empty())
        {
            return Ok(SecretString::from(value.trim().to_owned()));
        }
        let Some(path) = &self.file else {
            tracing::warn!(
                provider,
                "no client secret: neither its variable nor its file is set"
            );
            return Err(Failure::Unavailable);
        };
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            tracing::warn!(provider, kind = %e.kind(), "the client secret file cannot be read");
            Failure::Unavailable
        })?);
        Ok(SecretString::from(text.trim().to_owned()))
    }
}

pub(super) type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub(super) type Tokens = StandardTokenResponse<IdFields, CoreTokenType>;
pub(super) type IdToken = openidconnect::IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub(super) type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long discovered metadata is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(60 * 60);
/// Time a provider has to answer one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider's metadata and keys, as last fetched.
#[derive(Clone)]
pub(super) struct Discovered {
    pub metadata: ProviderMetadataWithLogout,
    pub jwks: CoreJsonWebKeySet,
    at: Instant,
}

pub struct Provider {
    settings: OidcProviderSettings,
    redirect: RedirectUrl,
    post_logout: String,
    pub(super) http: reqwest::Client,
    discovered: RwLock<Option<Discovered>>,
    jwks_refetch: governor::DefaultDirectRateLimiter,
}

impl Provider {
    pub(super) fn new(
        settings: OidcProviderSettings,
        public_base_url: &str,
    ) -> Result<Provider, SetupError> {
        let bad = |reason| SetupError {
            name: settings.name.clone(),
            reason,
        };
        let base = public_base_url.trim_end_matches('/');
        let redirect = RedirectUrl::new(format!("{base}/sign-in/oidc/{}/callback", settings.name))
            .map_err(|_| bad("the callback URL is not a URL"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|_| bad("no HTTP client"))?;
        // Three fetches at once, then one every 20 s: enough for a real rotation.
        let quota = governor::Quota::per_minute(std::num::NonZeroU32::MIN.saturating_add(2))
            .allow_burst(std::num::NonZeroU32::MIN.saturating_add(2));
        Ok(Provider {
            post_logout: format!("{base}/sign-in?why=signed-out"),
            settings,
            redirect,
            http,
            discovered: RwLock::new(None),
            jwks_refetch: governor::RateLimiter::direct(quota),
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn display_name(&self) -> &str {
        &self.settings.display_name
    }

    pub(super) fn settings(&self) -> &OidcProviderSettings {
        &self.settings
    }

    /// Where the provider sends the browser back after signing out there.
    pub(super) fn post_logout_redirect(&self) -> &str {
        &self.post_logout
    }

    /// The metadata and keys, discovered now if not yet (or not for an hour).
    pub(super) async fn discovered(&self) -> Result<Discovered, Failure> {
        if let Some(d) = self.discovered.read().await.as_ref()
            && d.at.elapsed() < METADATA_TTL
        {
            return Ok(d.clone());
        }
        let issuer =
            IssuerUrl::new(self.settings.issuer.clone()).map_err(|_| Failure::Discovery)?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %self.settings.name, error = discovery_kind(&e), "OpenID discovery failed");
                Failure::Discovery
            })?;
        let found = Discovered {
            jwks: metadata.jwks().clone(),
            metadata,
            at: Instant::now(),
        };
        *self.discovered.write().await = Some(found.clone());
        Ok(found)
    }

    /// Fetches the JWKS again (an ID token named a key the cached set lacks); `None` when the
    /// per-provider limit says not now.
    pub(super) async fn refetch_jwks(&self) -> Result<Option<CoreJsonWebKeySet>, Failure> {
        if self.jwks_refetch.check().is_err() {
            tracing::warn!(provider = %self.settings.name, "JWKS refetch skipped: too many unknown key ids");
            return Ok(None);
        }
        let current = self.discovered().await?;
        let jwks = CoreJsonWebKeySet::fetch_async(current.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|_| {
                tracing::warn!(provider = %self.settings.name, "JWKS fetch failed");
                Failure::Discovery
            })?;
        let mut guard = self.discovered.write().await;
        if let Some(d) = guard.as_mut() {
            d.jwks = jwks.clone();
            d.metadata = d.metadata.clone().set_jwks(jwks.clone());
        }
        Ok(Some(jwks))
    }

    /// The client secret, read now.
    pub(super) fn client_secret(&self) -> Result<ClientSecret, Failure> {
        let secret = self.settings.client_secret.read(&self.settings.name)?;
        Ok(ClientSecret::new(secret.expose_secret().to_owned()))
    }

    /// The client for one sign-in.
    pub(super) fn client(&self, discovered: &Discovered) -> Result<OidcClient, Failure> {
        Ok(OidcClient::from_provider_metadata(
            discovered.metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(self.client_secret()?),
        )
        .set_redirect_uri(self.redirect.clone()))
    }
}

/// A fixed word for a discovery failure (the provider's own text stays out of the log).
fn discovery_kind<E: std::error::Error + 'static>(
    e: &openidconnect::DiscoveryError<E>,
) -> &'static str {
    match e {
        openidconnect::DiscoveryError::Request(_) => "request",
        openidconnect::DiscoveryError::Response(status, ..) if status.is_server_error() => {
            "server_error"
        }
        openidconnect::DiscoveryError::Response(..) => "response",
        openidconnect::DiscoveryError::Parse(_) => "parse",
        openidconnect::DiscoveryError::Validation(_) => "validation",
        _ => "other",
    }
}
