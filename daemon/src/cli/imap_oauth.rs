//! `mailsigd mailbox link-imap-oauth`: links an IMAP mailbox that signs in with OAuth 2.0.
//!
//! The command signs the account in at the provider itself, as a native app does
//! ([`loopback_oauth`]), tests the access token with one AUTHENTICATE, and seals the tokens in the
//! vault with the mailbox.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::domain::{MailProtocol, TlsMode};
use crate::service::Actor;
use crate::service::imap_oauth::{LinkOAuth, link_imap_oauth_trusted};
use crate::sources::imap::ImapSettings;

use super::exit::{CliError, CliResult, Exit, service_refusal};
use super::{context, loopback_oauth, resolve};

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
    #[arg(long, value_enum, default_value_t = TlsMode::ImplicitTls)]
    pub security: TlsMode,
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
    let security = args.security;
    let settings = ImapSettings {
        host: args.host.trim().to_owned(),
        port: args
            .port
            .unwrap_or(security.default_port(MailProtocol::Imap)),
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
    let scopes = provider.scopes.clone();
    let tokens = loopback_oauth::sign_in(
        provider,
        &scopes,
        &args.username,
        args.redirect_port,
        "link mailbox",
        || store.now_ms(),
    )
    .await?;
    let link = LinkOAuth {
        settings,
        address,
        name: args.name,
        list,
        excluded_domains: Vec::new(),
        tokens,
    };
    let options = config.imap.clone();
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
