//! The authorization code flow as a native app runs it (RFC 8252), for commands that sign an
//! account in at a provider (`mailbox link-imap-oauth`, `smtp sign-in`): listen on a loopback
//! port, print the provider's authorization URL (PKCE S256, a random `state`), wait for the
//! browser to come back to `http://127.0.0.1:<port>/callback`, check the state and redeem the
//! code with the verifier. Register that redirect URI with the provider (Microsoft: "Mobile and
//! desktop applications", `http://localhost`; Google: a "Desktop app" client accepts any loopback
//! port). On a host without a browser, forward the port (`ssh -L <port>:127.0.0.1:<port>`) and
//! pass `--redirect-port`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::sources::graph::oauth::{code_challenge, random_token};
use crate::sources::oauth::{BearerTokens, OAuthProvider, TokenClient};

use super::exit::{CliError, CliResult, Exit};

/// How long the command waits for the browser to come back.
const AUTHORIZATION_WAIT: Duration = Duration::from_secs(15 * 60);

/// What the browser brought back to the redirect URI.
type Callback = HashMap<String, String>;

/// One sign-in at `provider` for `scopes`, as `account` (named in the printed prompt); `what`
/// prefixes every error (e.g. "link mailbox"). `now_ms` dates the tokens.
pub async fn sign_in(
    provider: Arc<OAuthProvider>,
    scopes: &[String],
    account: &str,
    redirect_port: u16,
    what: &str,
    now_ms: impl FnOnce() -> i64,
) -> CliResult<BearerTokens> {
    let fail = |exit: Exit, text: String| CliError::msg(exit, format!("{what}: {text}"));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", redirect_port))
        .await
        .map_err(|e| {
            fail(
                Exit::Unavailable,
                format!("listen on 127.0.0.1:{redirect_port}: {e}"),
            )
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| fail(Exit::Software, e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let random = |purpose: &str| {
        random_token()
            .map(Zeroizing::new)
            .map_err(|_| fail(Exit::Software, format!("no randomness for the {purpose}")))
    };
    let state = random("state")?;
    let verifier = random("PKCE verifier")?;
    let url = provider.authorization_request_for(
        scopes,
        &redirect_uri,
        &state,
        &code_challenge(&verifier),
    );
    println!("Open this URL in a browser and sign in as {account}:");
    println!("{url}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let callback = wait_for_callback(listener).await.ok_or_else(|| {
        fail(
            Exit::Unavailable,
            "no sign-in came back within 15 minutes".into(),
        )
    })?;
    let returned = callback.get("state").map(String::as_str).unwrap_or("");
    if !bool::from(returned.as_bytes().ct_eq(state.as_bytes())) {
        return Err(fail(
            Exit::NoPerm,
            "the redirect carried another state (not this sign-in)".into(),
        ));
    }
    if let Some(error) = callback.get("error") {
        // Only the OAuth error code: the provider's free text is not shown.
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(fail(
            Exit::NoPerm,
            format!("the provider refused the authorization ({code})"),
        ));
    }
    let code = callback
        .get("code")
        .ok_or_else(|| fail(Exit::Data, "the redirect carried no code".into()))?;
    let client = TokenClient::new(provider).map_err(|e| fail(Exit::Software, e.to_string()))?;
    client
        .exchange_code(code, &verifier, &redirect_uri, now_ms())
        .await
        .map_err(|e| fail(Exit::Unavailable, e.to_string()))
}

/// Serves the redirect URI until the first request to `/callback`; `None` when the wait runs out.
async fn wait_for_callback(listener: tokio::net::TcpListener) -> Option<Callback> {
    let (sender, receiver) = oneshot::channel::<Callback>();
    let sender = Arc::new(Mutex::new(Some(sender)));
    async fn callback(
        State(sender): State<Arc<Mutex<Option<oneshot::Sender<Callback>>>>>,
        Query(query): Query<Callback>,
    ) -> Html<&'static str> {
        let taken = sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = taken {
            let _ = sender.send(query);
        }
        Html(
            "<!doctype html><title>mailsig</title><p>Signed in. You can close this window; \
             the command line finishes the rest.</p>",
        )
    }
    let app = axum::Router::new()
        .route("/callback", axum::routing::get(callback))
        .with_state(sender);
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = done_rx.await;
            })
            .await;
    });
    let result = tokio::time::timeout(AUTHORIZATION_WAIT, receiver).await;
    let _ = done_tx.send(());
    let _ = server.await;
    result.ok().and_then(Result::ok)
}
