//! `mailsigd user add|list|invite|token|set-password|reset-second-factor|set-role|disable|enable|offboard`:
//! the account commands an org admin also has on the admin pages go through the same
//! `service::org` functions, as the operator.

use crate::domain::{AuditAction, AuditObject};
use std::path::Path;

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};
use super::password::PasswordSource;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// The user's e-mail address (their login and notification address).
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List users: id, e-mail, name (tab separated).
    List,
    /// Set a user's sign-in password for the web pages, read from standard input (first line).
    /// Their open browser sessions end.
    SetPassword {
        /// The user (e-mail or id).
        email: String,
    },
    /// Invite a person by e-mail: the account exists at once (without a password) and the
    /// notifier sends them a link to choose one (it works once, for 7 days). Needs `[smtp]`
    /// and `[notify] public_base_url` for the mail to go out.
    Invite {
        /// The person's e-mail address.
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Turn off a user's two-step verification (a lost phone and lost recovery codes): the TOTP
    /// secret is wiped and the recovery codes deleted; the user signs in with the password alone
    /// and can set it up again (at once, when `[api] require_second_factor` is on).
    #[command(alias = "reset-2fa")]
    ResetSecondFactor {
        /// The user (e-mail or id).
        email: String,
    },
    /// Make a user an org admin (users, blocklist, notification failures, audit log) or an
    /// ordinary user again.
    SetRole {
        /// The user (e-mail or id).
        email: String,
        /// `admin` or `user`.
        role: crate::domain::OrgRole,
    },
    /// Disable a user's account: sign-in is refused, every session and API token ends at once.
    Disable {
        /// The user (e-mail or id).
        email: String,
    },
    /// Let a disabled account sign in again (ended sessions and tokens stay ended).
    Enable {
        /// The user (e-mail or id).
        email: String,
    },
    /// Offboard a person who leaves: every mailbox of theirs stops (the running daemon's watcher
    /// logs out at its next lease renewal, within seconds) and its sealed credentials are wiped;
    /// their sessions, API tokens, provider links, two-step verification and password are wiped;
    /// the lists they own go to `--hand-over-to` or are deleted (`--delete-lists`); the account
    /// is disabled and kept for the audit log.
    #[command(group(clap::ArgGroup::new("lists").required(true).args(["hand_over_to", "delete_lists"])))]
    Offboard {
        /// The person who leaves (e-mail or id).
        email: String,
        /// Who takes over their lists (e-mail or id).
        #[arg(long)]
        hand_over_to: Option<String>,
        /// Delete their lists instead.
        #[arg(long)]
        delete_lists: bool,
    },
    /// Issue an API token for a user. The token is printed once; only its hash is stored.
    Token {
        /// The user (e-mail or id).
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        label: String,
        #[command(flatten)]
        grant: super::tokens::Grant,
    },
}

pub async fn execute(config_path: &Path, command: UserCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    match command {
        UserCommand::Add { email, name } => {
            let user = crate::service::users::add(&store, &email, name.as_deref())
                .await
                .or_exit("add user")?;
            println!("{}\t{}", user.id.0, user.email);
        }
        UserCommand::List => {
            for user in store.list_users().await.or_exit("list users")? {
                println!(
                    "{}\t{}\t{}",
                    user.id.0,
                    user.email,
                    user.display_name.unwrap_or_default()
                );
            }
        }
        UserCommand::Invite { email, name } => {
            let admin = crate::service::org::AdminActor::operator();
            let member =
                crate::service::org::invite::invite(&store, admin, &email, name.as_deref())
                    .await
                    .or_exit("invite")?;
            println!("{}\t{}\tinvited", member.id.0, member.email);
        }
        UserCommand::SetPassword { email } => {
            if !config.api.identity.local_passwords {
                return Err(CliError::msg(
                    Exit::Config,
                    "local passwords are turned off ([auth] local_passwords = false): people sign in through the configured OpenID providers, so no password is set",
                ));
            }
            let user = super::resolve::user(&store, &email).await?;
            let password = PasswordSource {
                password_stdin: true,
                password_file: None,
            }
            .read()?;
            let phc = crate::http::auth::password::hash_password(password)
                .await
                .map_err(|e| CliError::msg(Exit::Data, format!("set password: {e}")))?;
            let replaced = crate::service::users::set_password(&store, user.id, &phc)
                .await
                .or_exit("store the password hash")?;
            let (ended, revoked) = (replaced.sessions_ended, replaced.tokens_revoked);
            println!(
                "{}\tpassword set\t{ended} sessions ended\t{revoked} API tokens revoked",
                user.email
            );
        }
        UserCommand::ResetSecondFactor { email } => {
            let user = super::resolve::user(&store, &email).await?;
            let removed = crate::service::users::reset_second_factor(&store, user.id)
                .await
                .or_exit("reset two-step verification")?;
            if removed {
                println!("{}\ttwo-step verification turned off", user.email);
            } else {
                println!("{}\thad no two-step verification", user.email);
            }
        }
        UserCommand::SetRole { email, role } => {
            let user = super::resolve::user(&store, &email).await?;
            let member = crate::service::users::set_org_role(
                &store,
                crate::service::org::AdminActor::operator(),
                user.id,
                role,
            )
            .await
            .or_exit("set the org role")?;
            println!("{}\t{}", member.email, member.org_role);
        }
        UserCommand::Disable { email } => {
            let user = super::resolve::user(&store, &email).await?;
            let admin = crate::service::org::AdminActor::operator();
            let changed = crate::service::org::users::disable(&store, admin, user.id)
                .await
                .or_exit("disable the account")?;
            let state = if changed {
                "disabled"
            } else {
                "was already disabled"
            };
            println!("{}\t{state}", user.email);
        }
        UserCommand::Enable { email } => {
            let user = super::resolve::user(&store, &email).await?;
            let admin = crate::service::org::AdminActor::operator();
            let changed = crate::service::org::users::enable(&store, admin, user.id)
                .await
                .or_exit("enable the account")?;
            let state = if changed {
                "enabled"
            } else {
                "was not disabled"
            };
            println!("{}\t{state}", user.email);
        }
        UserCommand::Offboard {
            email,
            hand_over_to,
            delete_lists,
        } => {
            use crate::service::org::offboard::{ListHandover, offboard};
            let user = super::resolve::user(&store, &email).await?;
            let handover = match (hand_over_to, delete_lists) {
                (Some(to), false) => ListHandover::To(super::resolve::user(&store, &to).await?.id),
                _ => ListHandover::Delete,
            };
            let (vault, _) = context::load_vault(&config)?;
            // Microsoft 365 mailboxes: Graph is told with the `[graph]` settings when present.
            let graph = crate::sources::graph::GraphUnlinker::new(
                vault,
                config.graph.clone().map(std::sync::Arc::new),
                None,
            );
            let admin = crate::service::org::AdminActor::operator();
            let done = offboard(&store, &graph, admin, user.id, handover)
                .await
                .or_exit("offboard")?;
            println!(
                "{}\toffboarded\t{} mailboxes stopped\t{} lists handed over\t{} lists deleted\t{} sessions and {} API tokens wiped",
                user.email,
                done.mailboxes_stopped,
                done.lists_handed_over,
                done.lists_deleted,
                done.credentials.sessions,
                done.credentials.api_tokens
            );
        }
        UserCommand::Token {
            email,
            label,
            grant,
        } => {
            let user = super::resolve::user(&store, &email).await?;
            let issued =
                super::tokens::issue(&store, config.api.tokens, &user, &label, &grant).await?;
            context::audit(
                &store,
                AuditAction::TokenIssue,
                AuditObject::User,
                Some(user.id.0),
                None,
            )
            .await?;
            println!("{}", issued.secret.expose_secret());
        }
    }
    store.close().await;
    Ok(())
}
