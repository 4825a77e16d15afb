//! `mailsigd list add|share|unshare|list`: contact lists and their members.

use crate::domain::{AuditAction, AuditObject};
use std::path::Path;

use clap::{Subcommand, ValueEnum};

use crate::store::{ListId, Role};

use super::context;
use super::exit::{CliResult, OrExit};

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// Create a contact list owned by a user; prints its id.
    Add {
        /// E-mail of the owner.
        #[arg(long)]
        owner: String,
        name: String,
    },
    /// Give another user access to a list.
    Share {
        list: i64,
        /// E-mail of the user to share with.
        email: String,
        #[arg(long, value_enum, default_value_t = ShareRole::Viewer)]
        role: ShareRole,
    },
    /// Take a user's access to a list away.
    Unshare { list: i64, email: String },
    /// Lists a user can see: id, role, name (tab separated).
    List {
        /// E-mail of the user.
        email: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShareRole {
    Viewer,
    Editor,
}

pub async fn execute(config_path: &Path, command: ListCommand) -> CliResult {
    let (_, store) = context::admin(config_path).await?;
    match command {
        ListCommand::Add { owner, name } => {
            let owner = store.user_by_email(&owner).await.or_exit("find owner")?;
            let list = store
                .create_list(owner.id, &name)
                .await
                .or_exit("add list")?;
            context::audit(
                &store,
                AuditAction::ListCreate,
                AuditObject::List,
                Some(list.id.0),
                None,
            )
            .await?;
            println!("{}\t{}", list.id.0, list.name);
        }
        ListCommand::Share { list, email, role } => {
            let user = store.user_by_email(&email).await.or_exit("find user")?;
            let role = match role {
                ShareRole::Viewer => Role::Viewer,
                ShareRole::Editor => Role::Editor,
            };
            store
                .share_list(ListId(list), user.id, role)
                .await
                .or_exit("share list")?;
            let detail = format!("user {} as {role}", user.id.0);
            context::audit(
                &store,
                AuditAction::ListShare,
                AuditObject::List,
                Some(list),
                Some(&detail),
            )
            .await?;
            println!("{list}\t{}\t{role}", user.email);
        }
        ListCommand::Unshare { list, email } => {
            let user = store.user_by_email(&email).await.or_exit("find user")?;
            store
                .unshare_list(ListId(list), user.id)
                .await
                .or_exit("unshare list")?;
            let detail = format!("user {}", user.id.0);
            context::audit(
                &store,
                AuditAction::ListUnshare,
                AuditObject::List,
                Some(list),
                Some(&detail),
            )
            .await?;
            println!("{list}\t{}\tremoved", user.email);
        }
        ListCommand::List { email } => {
            let user = store.user_by_email(&email).await.or_exit("find user")?;
            for access in store.lists_for_user(user.id).await.or_exit("list lists")? {
                println!(
                    "{}\t{}\t{}",
                    access.list.id.0, access.role, access.list.name
                );
            }
        }
    }
    store.close().await;
    Ok(())
}
