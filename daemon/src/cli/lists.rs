//! `mailsigd list add|share|unshare|list`: contact lists and their members.

use crate::domain::{AuditAction, AuditObject};
use std::path::Path;

use clap::{Subcommand, ValueEnum};

use crate::store::{ListId, Role, Store};

use super::exit::CliError;
use super::exit::{CliResult, OrExit};
use super::{context, resolve};

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// Create a contact list owned by a user; prints its id.
    Add {
        /// The owner (e-mail or id).
        #[arg(long)]
        owner: String,
        name: String,
    },
    /// Give another user access to a list.
    Share {
        /// The list (id, or name: among the lists of --owner when given).
        list: String,
        /// The user to share with (e-mail or id).
        email: String,
        /// The list's owner (e-mail or id), to tell lists of the same name apart.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, value_enum, default_value_t = ShareRole::Viewer)]
        role: ShareRole,
    },
    /// Take a user's access to a list away.
    Unshare {
        /// The list (id, or name: among the lists of --owner when given).
        list: String,
        /// The user (e-mail or id).
        email: String,
        /// The list's owner (e-mail or id), to tell lists of the same name apart.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Lists a user can see: id, role, name (tab separated).
    List {
        /// The user (e-mail or id).
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
            let owner = resolve::user(&store, &owner).await?;
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
        ListCommand::Share {
            list,
            email,
            role,
            owner,
        } => {
            let list = list_named(&store, &list, owner.as_deref()).await?;
            let user = resolve::user(&store, &email).await?;
            let role = match role {
                ShareRole::Viewer => Role::Viewer,
                ShareRole::Editor => Role::Editor,
            };
            store
                .share_list(list, user.id, role)
                .await
                .or_exit("share list")?;
            let detail = format!("user {} as {role}", user.id.0);
            context::audit(
                &store,
                AuditAction::ListShare,
                AuditObject::List,
                Some(list.0),
                Some(&detail),
            )
            .await?;
            println!("{}\t{}\t{role}", list.0, user.email);
        }
        ListCommand::Unshare { list, email, owner } => {
            let list = list_named(&store, &list, owner.as_deref()).await?;
            let user = resolve::user(&store, &email).await?;
            store
                .unshare_list(list, user.id)
                .await
                .or_exit("unshare list")?;
            let detail = format!("user {}", user.id.0);
            context::audit(
                &store,
                AuditAction::ListUnshare,
                AuditObject::List,
                Some(list.0),
                Some(&detail),
            )
            .await?;
            println!("{}\t{}\tremoved", list.0, user.email);
        }
        ListCommand::List { email } => {
            let user = resolve::user(&store, &email).await?;
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

/// The list given by id or name (a name among `owner`'s lists when given).
async fn list_named(store: &Store, given: &str, owner: Option<&str>) -> Result<ListId, CliError> {
    let owner = match owner {
        Some(owner) => Some(resolve::user(store, owner).await?.id),
        None => None,
    };
    Ok(resolve::list(store, given, owner).await?.id)
}
