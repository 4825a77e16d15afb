//! RP-initiated logout: where to send the browser so the provider ends its session too, with the
//! session's ID token as `id_token_hint` and the sign-in page as `post_logout_redirect_uri`.
//! Only for sessions opened through a provider whose metadata names an `end_session_endpoint`.

use openidconnect::{ClientId, LogoutRequest, PostLogoutRedirectUrl};
use secrecy::ExposeSecret;

use super::Identity;
use super::flow::parse_id_token;
use crate::http::auth::Session;
use crate::store::Store;
use crate::vault::{Binding, SealedSecret, Vault};

/// The provider's end-session URL for `session`, or `None` (a password session, a provider
/// without the endpoint, or one that cannot be reached now). Call before the session row goes.
pub async fn end_session_url(
    store: &Store,
    vault: &Vault,
    identity: &Identity,
    session: &Session,
) -> Option<String> {
    let (name, sealed) = match store.oidc_session(session.id).await {
        Ok(found) => found?,
        Err(e) => {
            tracing::warn!(error = %e, "reading the session's provider failed");
            return None;
        }
    };
    let provider = identity.provider(&name)?;
    let discovered = provider.discovered().await.ok()?;
    let endpoint = discovered
        .metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()?;
    let mut request = LogoutRequest::from(endpoint)
        .set_client_id(ClientId::new(provider.settings().client_id.clone()));
    if let Ok(redirect) = PostLogoutRedirectUrl::new(provider.post_logout_redirect().to_owned()) {
        request = request.set_post_logout_redirect_uri(redirect);
    }
    // A record sealed under an older master key no longer opens: sign out without the hint.
    if let Ok(text) = vault.open_string(
        &Binding::oidc_id_token(session.id),
        &SealedSecret::from_bytes(sealed),
    ) && let Some(token) = parse_id_token(text.expose_secret())
    {
        request = request.set_id_token_hint(&token);
    }
    Some(request.http_get_url().to_string())
}
