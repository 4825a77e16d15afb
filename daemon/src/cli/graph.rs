//! `mailsigd graph set-client-secret` and `mailsigd mailbox link-microsoft`: the operator's side
//! of the Microsoft 365 source. Linking prints the consent URL; the running daemon's callback
//! completes it (the browser comes back to the daemon, not to this command).

use crate::domain::{AuditAction, AuditObject};
use std::path::Path;

use crate::config::Config;
use crate::sources::graph::{GraphConfig, LinkOrigin, store_client_secret};
use crate::store::Store;

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};
use super::password::PasswordSource;

#[derive(Debug, clap::Subcommand)]
pub enum GraphCommand {
    /// Store the Entra ID app's client secret in the vault (from stdin or a file, never argv).
    SetClientSecret(PasswordSource),
}

pub async fn execute(config_path: &Path, command: GraphCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = match command {
        GraphCommand::SetClientSecret(source) => set_client_secret(&config, &store, &source).await,
    };
    store.close().await;
    result
}

async fn set_client_secret(config: &Config, store: &Store, source: &PasswordSource) -> CliResult {
    let (vault, _) = context::load_vault(config)?;
    let secret = source.read()?;
    let key_version = context::current_key_version(store).await?;
    store_client_secret(store, &vault, &secret, key_version)
        .await
        .map_err(|e| {
            CliError::new(Exit::Software, anyhow::anyhow!("{e}")).context("store the client secret")
        })?;
    context::audit(
        store,
        AuditAction::GraphClientSecretSet,
        AuditObject::Secret,
        None,
        None,
    )
    .await?;
    println!("graph client secret stored (encrypted)");
    Ok(())
}

/// The `[graph]` section, or a clear error when Microsoft 365 is not configured.
pub fn graph_config(config: &Config) -> CliResult<&GraphConfig> {
    config.graph.as_ref().ok_or_else(|| {
        CliError::msg(
            Exit::Config,
            "microsoft 365 is not configured: set [graph] client_id in the configuration",
        )
    })
}

/// `mailbox link-microsoft --user EMAIL --list ID|NAME`: prints the consent URL.
pub async fn link_microsoft(config: &Config, store: &Store, user: &str, list: &str) -> CliResult {
    let graph = graph_config(config)?;
    let (vault, _) = context::load_vault(config)?;
    let user = super::resolve::user(store, user).await?;
    let list = super::resolve::list(store, list, Some(user.id)).await?.id;
    let url = crate::service::mailboxes::start_microsoft_link(
        store,
        &vault,
        Some(graph),
        crate::service::Actor::operator_as(user.id),
        list,
        LinkOrigin::Cli,
    )
    .await
    .or_exit("link microsoft 365")?;
    eprintln!(
        "Open this URL as the mailbox owner within 15 minutes; the running daemon completes the link:"
    );
    println!("{url}");
    Ok(())
}
