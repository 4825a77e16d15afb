//! `mailsigd token create|list|revoke`: API tokens for a user, from the operator's side. The
//! token is printed once at creation; only its SHA-256 is stored.

use crate::domain::{AuditAction, AuditObject};
use std::path::Path;

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::store::TokenId;

use super::context;
use super::exit::{CliResult, OrExit};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it (once).
    Create {
        /// The user (e-mail or id).
        #[arg(long)]
        user: String,
        /// What the token is for.
        #[arg(long)]
        label: String,
    },
    /// A user's tokens: id, label, created, last used, revoked (tab separated; never the token).
    List {
        /// The user (e-mail or id).
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

pub async fn execute(config_path: &Path, command: TokenCommand) -> CliResult {
    let (_, store) = context::admin(config_path).await?;
    match command {
        TokenCommand::Create { user, label } => {
            let user = super::resolve::user(&store, &user).await?;
            let issued = store
                .create_token(user.id, label.trim())
                .await
                .or_exit("create token")?;
            context::audit(
                &store,
                AuditAction::TokenIssue,
                AuditObject::Token,
                Some(issued.token.id.0),
                None,
            )
            .await?;
            println!("{}", issued.secret.expose_secret());
        }
        TokenCommand::List { user } => {
            let user = super::resolve::user(&store, &user).await?;
            for t in store.list_tokens(user.id).await.or_exit("list tokens")? {
                let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id.0,
                    t.label,
                    t.created_at,
                    opt(t.last_used_at),
                    opt(t.revoked_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            store
                .revoke_token(TokenId(id))
                .await
                .or_exit("revoke token")?;
            context::audit(
                &store,
                AuditAction::TokenRevoke,
                AuditObject::Token,
                Some(id),
                None,
            )
            .await?;
            println!("{id}\trevoked");
        }
    }
    store.close().await;
    Ok(())
}
