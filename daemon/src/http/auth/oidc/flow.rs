//! The two legs of a sign-in at a provider.
//!
//! [`start`] makes a `state`, a nonce and a PKCE verifier, stores the hashes of the first two and
//! the sealed verifier under the state's hash (`oidc_logins`), puts the state into a short-lived
//! `__Host-` cookie and sends the browser to the provider. [`finish`] (the callback) needs the
//! same state in the query and the cookie (a callback carried into another browser, or forged,
//! stops here), takes the stored row (deleting it: a state and its code work once), redeems the
//! code with the verifier, checks the ID token (see the module docs of `oidc`), lets the service
//! decide who this is, and opens a session that remembers its provider and sealed ID token.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, CsrfToken, IdTokenVerifier, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, Scope,
    SignatureVerificationError, TokenResponse as _,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Identity;
use super::claims::OtherClaims;
use super::provider::{IdToken, Provider};
use crate::http::auth::same_token;
use crate::http::auth::session::{NewSession, SessionKind, cookie_value, open_session};
use crate::service::identity::{self, Admission, ProviderIdentity, Refusal};
use crate::store::{OidcLogin, Store};
use crate::vault::{Binding, SealedSecret, Vault};

/// The cookie that binds a started sign-in to this browser (`__Host-`: Secure, `Path=/`, no
/// `Domain`; `SameSite=Lax`, so the provider's redirect back, a top-level GET, brings it).
pub const OIDC_COOKIE: &str = "__Host-mailsig_oidc";
/// How long a person has at the provider.
const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);

/// Why a sign-in through a provider failed (not a refusal of the person: see [`FinishError`]).
/// Each kind has fixed words; nothing from the provider is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No provider of that name is configured.
    UnknownProvider,
    /// The provider could not be reached, or its metadata or keys were unusable.
    Discovery,
    /// The callback's state is missing, or not the one this browser started with.
    StateMismatch,
    /// No sign-in waits for this state: expired, or already finished (a replayed callback).
    UnknownState,
    /// The provider answered with an error instead of a code (the person cancelled, …).
    ProviderError,
    /// The provider refused to redeem the code (used before, expired, or not ours).
    CodeRefused,
    /// The token response had no ID token.
    NoIdToken,
    /// The ID token's signature is wrong, or made with a key the provider does not publish.
    Signature,
    /// The ID token is from another issuer.
    Issuer,
    /// The ID token is not for this client.
    Audience,
    /// The ID token has expired.
    Expired,
    /// The ID token's nonce is not the one of this sign-in.
    Nonce,
    /// The ID token failed another check.
    IdToken,
    /// The store or the vault failed.
    Unavailable,
}

impl Failure {
    /// The word in the log and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::UnknownProvider => "unknown_provider",
            Failure::Discovery => "discovery",
            Failure::StateMismatch => "state_mismatch",
            Failure::UnknownState => "unknown_state",
            Failure::ProviderError => "provider_error",
            Failure::CodeRefused => "code_refused",
            Failure::NoIdToken => "no_id_token",
            Failure::Signature => "id_token_signature",
            Failure::Issuer => "id_token_issuer",
            Failure::Audience => "id_token_audience",
            Failure::Expired => "id_token_expired",
            Failure::Nonce => "id_token_nonce",
            Failure::IdToken => "id_token_invalid",
            Failure::Unavailable => "unavailable",
        }
    }

    /// What the person reads on the sign-in page.
    pub fn message(self) -> &'static str {
        match self {
            Failure::UnknownProvider => "There is no such sign-in option.",
            Failure::Discovery => {
                "Your identity provider cannot be reached right now. Try again in a few minutes."
            }
            Failure::StateMismatch | Failure::UnknownState => {
                "This sign-in expired or was already used. Please start again."
            }
            Failure::ProviderError => "Signing in at your identity provider did not complete.",
            Failure::CodeRefused => {
                "Your identity provider did not confirm this sign-in (it may have been used already). Please start again."
            }
            Failure::NoIdToken
            | Failure::Signature
            | Failure::Issuer
            | Failure::Audience
            | Failure::Nonce
            | Failure::IdToken => {
                "Your identity provider's answer could not be verified, so you were not signed in. Please start again; if it keeps happening, tell your administrator."
            }
            Failure::Expired => {
                "Your identity provider's answer had already expired, so you were not signed in. Check that this computer's clock is right and start again."
            }
            Failure::Unavailable => "Signing in is not possible right now; try again later.",
        }
    }

    /// Is this a check of the provider's token (recorded in the audit log)?
    fn is_token_check(self) -> bool {
        matches!(
            self,
            Failure::CodeRefused
                | Failure::NoIdToken
                | Failure::Signature
                | Failure::Issuer
                | Failure::Audience
                | Failure::Expired
                | Failure::Nonce
                | Failure::IdToken
        )
    }
}

/// A sign-in started: send the browser to `url` with `cookie`.
pub struct Started {
    pub url: String,
    cookie: HeaderValue,
}

impl Started {
    pub fn set_cookie(&self) -> HeaderValue {
        self.cookie.clone()
    }
}

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Starts a sign-in at `provider`; `next` is a local path to go to afterwards (checked by the
/// caller).
pub async fn start(
    store: &Store,
    vault: &Vault,
    provider: &Provider,
    next: &str,
) -> Result<Started, Failure> {
    let discovered = provider.discovered().await?;
    let client = provider.client(&discovered)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &provider.settings().scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.url();
    let state_hash = sha256_hex(state.secret());
    let sealed = vault
        .seal(
            &Binding::oidc_verifier(&state_hash),
            verifier.secret().as_bytes(),
        )
        .map_err(|_| Failure::Unavailable)?;
    store
        .insert_oidc_login(
            &state_hash,
            &OidcLogin {
                provider: provider.name().to_owned(),
                nonce_hash: sha256_hex(nonce.secret()),
                verifier_sealed: sealed.into_bytes(),
                next_path: next.to_owned(),
            },
            LOGIN_TTL,
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "storing an OpenID sign-in failed");
            Failure::Unavailable
        })?;
    // The state is URL-safe base64: always a valid header value.
    let cookie = HeaderValue::from_str(&format!(
        "{OIDC_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        state.secret(),
        LOGIN_TTL.as_secs()
    ))
    .map_err(|_| Failure::Unavailable)?;
    Ok(Started {
        url: url.to_string(),
        cookie,
    })
}

/// The `Set-Cookie` value that removes the sign-in cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-mailsig_oidc=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

/// The callback's query (`code` and `state`, or `error`).
#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery").finish_non_exhaustive()
    }
}

/// A finished sign-in: send [`NewSession::set_cookie`] and go to `next`.
pub struct Finished {
    pub session: NewSession,
    pub next: String,
    /// The account was created by this sign-in.
    pub created: bool,
    /// The provider's token said this person is an admin.
    pub admin: bool,
}

/// Why [`finish`] did not sign anyone in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishError {
    /// The answer or the exchange failed.
    Failed(Failure),
    /// The provider's person is not let in (the service's [`Refusal`]).
    Refused(Refusal),
}

impl From<Failure> for FinishError {
    fn from(f: Failure) -> Self {
        FinishError::Failed(f)
    }
}

/// The callback: see the module docs.
pub async fn finish(
    store: &Store,
    vault: &Vault,
    identity: &Identity,
    name: &str,
    query: &CallbackQuery,
    headers: &HeaderMap,
    ttl: Duration,
) -> Result<Finished, FinishError> {
    let provider = identity.provider(name).ok_or(Failure::UnknownProvider)?;
    let state = query.state.as_deref().unwrap_or_default();
    let from_cookie = cookie_value(headers, OIDC_COOKIE).unwrap_or_default();
    if state.is_empty() || !same_token(state, &from_cookie) {
        return Err(Failure::StateMismatch.into());
    }
    let state_hash = sha256_hex(state);
    let login = match store.take_oidc_login(&state_hash).await {
        Ok(login) if login.provider == name => login,
        Ok(_) => return Err(Failure::UnknownState.into()),
        Err(e) if e.is_not_found() => return Err(Failure::UnknownState.into()),
        Err(e) => {
            tracing::warn!(error = %e, "taking an OpenID sign-in failed");
            return Err(Failure::Unavailable.into());
        }
    };
    if query.error.is_some() {
        return Err(Failure::ProviderError.into());
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(Failure::ProviderError)?;
    let verifier = vault
        .open_string(
            &Binding::oidc_verifier(&state_hash),
            &SealedSecret::from_bytes(login.verifier_sealed.clone()),
        )
        .map_err(|_| Failure::Unavailable)?;

    match redeem(store, provider, code, verifier.expose_secret(), &login).await {
        Ok(checked) => admit(store, vault, provider, checked, login.next_path, ttl).await,
        Err(failure) => {
            if failure.is_token_check() {
                let _ = store
                    .record_audit(
                        None,
                        crate::domain::AuditAction::SessionProviderRefused,
                        crate::domain::AuditObject::User,
                        None,
                        Some(failure.as_str()),
                    )
                    .await;
            }
            Err(failure.into())
        }
    }
}

/// The checked ID token: its claims and its compact form (for the logout hint).
struct Checked {
    claims: openidconnect::IdTokenClaims<OtherClaims, openidconnect::core::CoreGenderClaim>,
    id_token: String,
}

/// Redeems the code and checks the ID token, fetching the JWKS again once when the token names
/// a key the cached set does not list.
async fn redeem(
    _store: &Store,
    provider: &Provider,
    code: &str,
    verifier: &str,
    login: &OidcLogin,
) -> Result<Checked, Failure> {
    let discovered = provider.discovered().await?;
    let client = provider.client(&discovered)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|_| Failure::Discovery)?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
        .request_async(&provider.http)
        .await
        .map_err(|e| {
            tracing::info!(provider = %provider.name(), kind = token_error_kind(&e), "the provider refused the code");
            Failure::CodeRefused
        })?;
    // Only the ID token is used; the access token is dropped with the response.
    let _ = tokens.access_token();
    let id_token = tokens.id_token().ok_or(Failure::NoIdToken)?;
    let settings = provider.settings();
    let secret = provider.client_secret()?;
    let check = |jwks: openidconnect::core::CoreJsonWebKeySet| {
        let verifier = IdTokenVerifier::new_confidential_client(
            openidconnect::ClientId::new(settings.client_id.clone()),
            secret.clone(),
            discovered.metadata.issuer().clone(),
            jwks,
        );
        id_token
            .clone()
            .into_claims(&verifier, |nonce: Option<&Nonce>| match nonce {
                Some(n) if same_token(&sha256_hex(n.secret()), &login.nonce_hash) => Ok(()),
                _ => Err("nonce".to_owned()),
            })
    };
    let claims = match check(discovered.jwks.clone()) {
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => match provider.refetch_jwks().await? {
            Some(jwks) => check(jwks).map_err(|e| failure_of(&e))?,
            None => return Err(Failure::Signature),
        },
        other => other.map_err(|e| failure_of(&e))?,
    };
    Ok(Checked {
        claims,
        id_token: id_token.to_string(),
    })
}

/// The kind of an ID-token check failure.
fn failure_of(e: &ClaimsVerificationError) -> Failure {
    match e {
        ClaimsVerificationError::SignatureVerification(_) => Failure::Signature,
        ClaimsVerificationError::InvalidIssuer(_) => Failure::Issuer,
        ClaimsVerificationError::InvalidAudience(_) => Failure::Audience,
        ClaimsVerificationError::Expired(_) => Failure::Expired,
        ClaimsVerificationError::InvalidNonce(_) => Failure::Nonce,
        _ => Failure::IdToken,
    }
}

/// A fixed word for a refused token request.
fn token_error_kind<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse + 'static>(
    e: &openidconnect::RequestTokenError<RE, T>,
) -> &'static str {
    match e {
        openidconnect::RequestTokenError::ServerResponse(_) => "error_response",
        openidconnect::RequestTokenError::Request(_) => "request",
        openidconnect::RequestTokenError::Parse(..) => "parse",
        openidconnect::RequestTokenError::Other(_) => "other",
    }
}

/// Hands the checked claims to the service and opens the session.
async fn admit(
    store: &Store,
    vault: &Vault,
    provider: &Provider,
    checked: Checked,
    next: String,
    ttl: Duration,
) -> Result<Finished, FinishError> {
    let settings = provider.settings();
    let claims = &checked.claims;
    let other = claims.additional_claims();
    let person = ProviderIdentity {
        provider: provider.name().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        tenant: other.string(&settings.tenant_claim),
    };
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "an OpenID sign-in could not be completed");
        FinishError::Failed(Failure::Unavailable)
    };
    let (user, created) = match identity::admit(store, &person, &settings.admission).await {
        Ok(Admission::User { user, created }) => (user, created),
        Ok(Admission::Refused(refusal)) => {
            tracing::info!(provider = %provider.name(), refusal = refusal.as_str(), "OpenID sign-in refused");
            return Err(FinishError::Refused(refusal));
        }
        Err(e) => return Err(unavailable(&e)),
    };
    let admin = settings.admin.decides(other);
    identity::apply_admin_claim(store, user, admin)
        .await
        .map_err(|e| unavailable(&e))?;
    let session = open_session(store, user, ttl, SessionKind::IdentityProvider)
        .await
        .map_err(|e| unavailable(&e))?;
    let sealed = vault
        .seal(
            &Binding::oidc_id_token(session.session.id),
            checked.id_token.as_bytes(),
        )
        .map_err(|_| FinishError::Failed(Failure::Unavailable))?;
    store
        .insert_oidc_session(session.session.id, provider.name(), sealed.as_bytes())
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(Finished {
        session,
        next,
        created,
        admin: admin == Some(true),
    })
}

/// Parses a stored compact ID token (for the logout hint).
pub(super) fn parse_id_token(text: &str) -> Option<IdToken> {
    text.parse().ok()
}
