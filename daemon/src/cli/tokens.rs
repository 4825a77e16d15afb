//! `mailsigd token create|list|revoke`: API tokens for a user, from the operator's side. The
//! token is printed once at creation; only its SHA-256 is stored. Its scope and lifetime are
//! granted by `service::tokens` within `[api] token_max_ttl`.

use crate::domain::{AuditAction, AuditObject};
use std::path::Path;

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::service::tokens::{Issuer, TokenLimits, TokenRequest, days, grant};
use crate::store::{IssuedToken, NewToken, Store, TokenId, TokenScope, User};

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};

/// A token's scope and lifetime on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Grant {
    /// What the token may do: read (safe requests only), write (also changes), full (also
    /// tokens and the password).
    #[arg(long, default_value = "read", value_parser = parse_scope)]
    pub scope: TokenScope,
    /// Days until the token expires (default `[api] token_ttl`, at most `[api] token_max_ttl`).
    #[arg(long)]
    pub expires_in_days: Option<u32>,
}

fn parse_scope(text: &str) -> Result<TokenScope, crate::domain::UnknownText> {
    text.parse()
}

/// Issues a token to `user` as the operator, within `limits`.
pub(super) async fn issue(
    store: &Store,
    limits: TokenLimits,
    user: &User,
    label: &str,
    wanted: &Grant,
) -> CliResult<IssuedToken> {
    let (scope, expires_at) = grant(
        limits,
        Issuer::Operator,
        TokenRequest {
            scope: Some(wanted.scope),
            ttl: wanted.expires_in_days.map(days),
        },
        store.now_ms(),
    )
    .map_err(|e| CliError::msg(Exit::Data, format!("--expires-in-days: {e}")))?;
    store
        .issue_token(
            user.id,
            &NewToken {
                label,
                scope,
                expires_at,
            },
        )
        .await
        .or_exit("create token")
}

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
        #[command(flatten)]
        grant: Grant,
    },
    /// A user's tokens: id, label, created, last used, revoked, scope, expires (tab separated;
    /// never the token).
    List {
        /// The user (e-mail or id).
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

pub async fn execute(config_path: &Path, command: TokenCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    match command {
        TokenCommand::Create { user, label, grant } => {
            let user = super::resolve::user(&store, &user).await?;
            let issued = issue(&store, config.api.tokens, &user, label.trim(), &grant).await?;
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
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.id.0,
                    t.label,
                    t.created_at,
                    opt(t.last_used_at),
                    opt(t.revoked_at),
                    t.scope,
                    t.expires_at
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
