//! `mailsigd mailbox link-imap-oauth`: links an IMAP mailbox that signs in with OAuth 2.0.
//!
//! The command runs the authorization itself, as a native app does (RFC 8252): it listens on a
//! loopback port, prints the provider's authorization URL (code flow, PKCE S256, a random
//! `state`), and waits for the browser to come back to `http://127.0.0.1:<port>/callback`. The
//! code is redeemed with the verifier, the access token is tested with one AUTHENTICATE, and
//! the tokens are sealed in the vault with the mailbox. Register that redirect URI with the
//! provider (Microsoft: "Mobile and desktop applications", `http://localhost`; Google: a
//! "Desktop app" client accepts any loopback port). On a host without a browser, forward the
//! port (`ssh -L <port>:127.0.0.1:<port>`) and pass `--redirect-port`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use clap::Args;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::service::Actor;
use crate::service::imap_oauth::{LinkOAuth, link_imap_oauth_trusted};
use crate::sources::graph::oauth::{code_challenge, random_token};
use crate::sources::imap::{ImapSettings, Security};
use crate::sources::oauth::TokenClient;

use super::exit::{CliError, CliResult, Exit, service_refusal};
use super::imap_security::SecurityArg;
use super::{context, resolve};

/// How long the command waits for the browser to come back.
const AUTHORIZATION_WAIT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Args)]
pub struct LinkImapOAuthArgs {
    /// The user who owns the mailbox (e-mail or id).
    #[arg(long)]
    pub owner: String,
    /// The contact list that receives the suggestions (id, or name among the owner's lists).
    #[arg(long)]
    pub list: String,
    /// The identity provider, as named in `[oauth.providers.<name>]`.
    #[arg(long)]
    pub provider: String,
    #[arg(long)]
    pub host: String,
    /// Default: 993 for tls, 143 for starttls and plaintext.
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long, value_enum, default_value_t = SecurityArg::Tls)]
    pub security: SecurityArg,
    /// IMAP login name: the account signed in at the provider (usually its e-mail address).
    #[arg(long)]
    pub username: String,
    /// The mailbox's own e-mail address. Default: the username, if it is an address.
    #[arg(long)]
    pub address: Option<String>,
    /// A name for the mailbox.
    #[arg(long)]
    pub name: Option<String>,
    /// Folder to watch (repeatable). Default: INBOX.
    #[arg(long = "folder")]
    pub folders: Vec<String>,
    /// PEM file of the CA to trust instead of the public roots (self-hosted servers).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Also process this many of the most recent messages already in the mailbox.
    #[arg(long, default_value_t = 0)]
    pub backfill: u32,
    /// Loopback port of the redirect URI (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub redirect_port: u16,
}

/// What the browser brought back to the redirect URI.
type Callback = HashMap<String, String>;

pub async fn link_imap_oauth(
    config: &crate::config::Config,
    store: &crate::store::Store,
    args: LinkImapOAuthArgs,
) -> CliResult {
    let owner = resolve::user(store, &args.owner).await?;
    let list = resolve::list(store, &args.list, Some(owner.id)).await?.id;
    let provider_config = config
        .oauth_providers
        .iter()
        .find(|p| p.name == args.provider)
        .ok_or_else(|| {
            CliError::msg(
                Exit::Usage,
                format!(
                    "link mailbox: no [oauth.providers.{}] in the configuration",
                    args.provider
                ),
            )
        })?;
    let provider = Arc::new(
        provider_config
            .load()
            .map_err(|e| CliError::msg(Exit::Config, format!("link mailbox: {e}")))?,
    );
    let security = Security::from(args.security);
    let settings = ImapSettings {
        host: args.host.trim().to_owned(),
        port: args.port.unwrap_or(security.default_port()),
        security,
        username: args.username.clone(),
        folders: args.folders,
        ca_file: None,
        ca_pem: super::imap_security::read_ca_file(args.ca_file.as_deref())?,
        backfill: args.backfill,
        operator_trusted: true,
    };
    let address = match args.address {
        Some(address) => address,
        None if args.username.contains('@') => args.username.clone(),
        None => {
            return Err(CliError::msg(
                Exit::Usage,
                "link mailbox: --address is required when the username is not an e-mail address",
            ));
        }
    };
    let (vault, _) = context::load_vault(config)?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.redirect_port))
        .await
        .map_err(|e| {
            CliError::msg(
                Exit::Unavailable,
                format!(
                    "link mailbox: listen on 127.0.0.1:{}: {e}",
                    args.redirect_port
                ),
            )
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| CliError::msg(Exit::Software, format!("link mailbox: {e}")))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let random = |what: &str| {
        random_token().map_err(|_| {
            CliError::msg(
                Exit::Software,
                format!("link mailbox: no randomness for the {what}"),
            )
        })
    };
    let state = zeroize::Zeroizing::new(random("state")?);
    let verifier = zeroize::Zeroizing::new(random("PKCE verifier")?);
    let url = provider.authorization_request(&redirect_uri, &state, &code_challenge(&verifier));
    println!(
        "Open this URL in a browser and sign in as {}:",
        args.username
    );
    println!("{url}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let callback = wait_for_callback(listener).await?;
    let returned = callback.get("state").map(String::as_str).unwrap_or("");
    if !bool::from(returned.as_bytes().ct_eq(state.as_bytes())) {
        return Err(CliError::msg(
            Exit::NoPerm,
            "link mailbox: the redirect carried another state (not this linking)",
        ));
    }
    if let Some(error) = callback.get("error") {
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(CliError::msg(
            Exit::NoPerm,
            format!("link mailbox: the provider refused the authorization ({code})"),
        ));
    }
    let code = callback
        .get("code")
        .ok_or_else(|| CliError::msg(Exit::Data, "link mailbox: the redirect carried no code"))?;
    let client = TokenClient::new(provider)
        .map_err(|e| CliError::msg(Exit::Software, format!("link mailbox: {e}")))?;
    let tokens = client
        .exchange_code(code, &verifier, &redirect_uri, store.now_ms())
        .await
        .map_err(|e| CliError::msg(Exit::Unavailable, format!("link mailbox: {e}")))?;
    let link = LinkOAuth {
        settings,
        address,
        name: args.name,
        list,
        excluded_domains: Vec::new(),
        tokens,
    };
    let options = config.imap_options();
    let mailbox =
        link_imap_oauth_trusted(store, &vault, &options, Actor::operator_as(owner.id), link)
            .await
            .map_err(|e| {
                let (exit, text) = service_refusal(&e);
                CliError::msg(exit, text).context("link mailbox")
            })?;
    println!("{}\t{}", mailbox.id.0, mailbox.address);
    Ok(())
}

/// Serves the redirect URI until the first request to `/callback` (or the wait runs out).
async fn wait_for_callback(listener: tokio::net::TcpListener) -> CliResult<Callback> {
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
             the command line finishes the linking.</p>",
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
    match result {
        Ok(Ok(query)) => Ok(query),
        _ => Err(CliError::msg(
            Exit::Unavailable,
            "link mailbox: no sign-in came back within 15 minutes",
        )),
    }
}
