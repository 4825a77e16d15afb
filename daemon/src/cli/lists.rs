//! `mailsigd list add|share|unshare|list|auto-accept`: contact lists, their members and their
//! auto-accept setting.
//!
//! Each command calls the service layer as the operator acting as the list's owner, so names
//! are validated, roles checked and audit entries written exactly as for the same action on a
//! page or through the API.

use std::path::Path;

use clap::{Subcommand, ValueEnum};

use crate::service::{Actor, auto_accept, lists};
use crate::store::{AutoAcceptMode, AutoAcceptReport, ListId, Role, Store, UserId};

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
    /// Show a list's auto-accept, or set it with --mode and/or --threshold. Prints mode,
    /// threshold, expected error rate at the threshold ("-" without data), suggestions the
    /// estimate is based on, and suggestions auto-accepted so far (tab separated).
    AutoAccept {
        /// The list (id, or name: among the lists of --owner when given).
        list: String,
        /// The list's owner (e-mail or id), to tell lists of the same name apart.
        #[arg(long)]
        owner: Option<String>,
        /// Off, dry-run (only mark what would be accepted) or on.
        #[arg(long, value_enum)]
        mode: Option<AutoAcceptArg>,
        /// Every shown field must be at least this sure (0.5 to 1).
        #[arg(long)]
        threshold: Option<f64>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AutoAcceptArg {
    Off,
    DryRun,
    On,
}

impl From<AutoAcceptArg> for AutoAcceptMode {
    fn from(arg: AutoAcceptArg) -> Self {
        match arg {
            AutoAcceptArg::Off => AutoAcceptMode::Off,
            AutoAcceptArg::DryRun => AutoAcceptMode::DryRun,
            AutoAcceptArg::On => AutoAcceptMode::On,
        }
    }
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
            let list = lists::create_list(&store, Actor::operator_as(owner.id), Some(&name))
                .await
                .or_exit("add list")?;
            println!("{}\t{}", list.id.0, list.name);
        }
        ListCommand::Share {
            list,
            email,
            role,
            owner,
        } => {
            let (list, owner) = list_named(&store, &list, owner.as_deref()).await?;
            let user = resolve::user(&store, &email).await?;
            let role = match role {
                ShareRole::Viewer => Role::Viewer,
                ShareRole::Editor => Role::Editor,
            };
            lists::share_list(
                &store,
                Actor::operator_as(owner),
                list,
                Some(&user.email),
                Some(role.as_str()),
            )
            .await
            .or_exit("share list")?;
            println!("{}\t{}\t{role}", list.0, user.email);
        }
        ListCommand::Unshare { list, email, owner } => {
            let (list, owner) = list_named(&store, &list, owner.as_deref()).await?;
            let user = resolve::user(&store, &email).await?;
            lists::unshare_list(&store, Actor::operator_as(owner), list, user.id)
                .await
                .or_exit("unshare list")?;
            println!("{}\t{}\tremoved", list.0, user.email);
        }
        ListCommand::List { email } => {
            let user = resolve::user(&store, &email).await?;
            for list in lists::my_lists(&store, Actor::operator_as(user.id))
                .await
                .or_exit("list lists")?
            {
                println!("{}\t{}\t{}", list.id.0, list.role, list.name);
            }
        }
        ListCommand::AutoAccept {
            list,
            owner,
            mode,
            threshold,
        } => {
            let (list, owner) = list_named(&store, &list, owner.as_deref()).await?;
            let actor = Actor::operator_as(owner);
            let report = if mode.is_none() && threshold.is_none() {
                auto_accept::report(&store, actor, list)
                    .await
                    .or_exit("read auto-accept")?
            } else {
                let mode = match mode {
                    Some(mode) => mode.into(),
                    None => {
                        auto_accept::report(&store, actor, list)
                            .await
                            .or_exit("read auto-accept")?
                            .mode
                    }
                };
                auto_accept::set(&store, actor, list, mode, threshold)
                    .await
                    .or_exit("set auto-accept")?
            };
            println!("{}", report_line(&report));
        }
    }
    store.close().await;
    Ok(())
}

/// The list given by id or name (a name among `owner`'s lists when given), and its owner, as
/// whom the operator acts on it.
async fn list_named(
    store: &Store,
    given: &str,
    owner: Option<&str>,
) -> Result<(ListId, UserId), CliError> {
    let owner = match owner {
        Some(owner) => Some(resolve::user(store, owner).await?.id),
        None => None,
    };
    let list = resolve::list(store, given, owner).await?;
    Ok((list.id, list.owner))
}

/// `mode, threshold, expected error rate, passing, accepted`, tab separated.
fn report_line(report: &AutoAcceptReport) -> String {
    let rate = report
        .expected_error_rate
        .map_or_else(|| "-".to_owned(), |r| format!("{r:.4}"));
    format!(
        "{}\t{}\t{rate}\t{}\t{}",
        report.mode.as_str(),
        report.threshold,
        report.passing,
        report.accepted
    )
}
