//! `mailsigd mailbox add-imap|list|show|remove|exclude`.
//!
//! `add-imap` logs in to the server before saving anything, so a mailbox that is stored is
//! one that worked at least once. The password is read from stdin or a file (never from the
//! command line), sealed by the vault, and only the sealed record reaches the database.
//!
//! Changes go through the service layer as the operator acting as the mailbox's owner, so
//! they are checked and audited as on the pages.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use crate::domain::{MailProtocol, TlsMode};
use crate::service::Actor;
use crate::service::mailboxes as service;
use crate::sources::graph::GraphUnlinker;
use crate::sources::imap::{ImapError, ImapErrorKind, ImapSettings};
use crate::store::{MailboxFilter, MailboxId};

use super::exit::{CliError, CliResult, Exit, OrExit, service_refusal};
use super::imap_security::read_ca_file;
use super::password::PasswordSource;
use super::{context, resolve};

#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Link an IMAP mailbox: test the login, then store it (password encrypted).
    AddImap(Box<AddImapArgs>),
    /// Link an IMAP mailbox that signs in with OAuth 2.0 (XOAUTH2/OAUTHBEARER): prints the
    /// provider's sign-in URL, waits for the browser on a loopback redirect, then stores the
    /// mailbox with its tokens encrypted.
    LinkImapOauth(Box<super::imap_oauth::LinkImapOAuthArgs>),
    /// Link a Microsoft 365 mailbox: prints the consent URL the owner must open; the running
    /// daemon completes the link when Microsoft redirects back to it.
    LinkMicrosoft {
        /// The user who owns the mailbox, the one who must consent (e-mail or id).
        #[arg(long)]
        user: String,
        /// The contact list (id, or name among the user's lists) that receives the suggestions.
        #[arg(long)]
        list: String,
    },
    /// Linked mailboxes: id, kind, status, owner id, target list id, address (tab separated).
    List {
        /// Only the mailboxes of this user (e-mail or id).
        #[arg(long)]
        owner: Option<String>,
    },
    /// One mailbox's settings, status and counters (never its password). The counters
    /// (messages processed, suggestions created, skips by reason) are the quickest check that
    /// a new mailbox works.
    Show {
        /// The mailbox (id or address).
        mailbox: String,
    },
    /// Stop watching a mailbox until it is resumed (a running daemon stops it at its next
    /// reconcile, within 30 s by default); nothing is read meanwhile.
    Pause {
        /// The mailbox (id or address).
        mailbox: String,
    },
    /// Watch a paused mailbox again, from where it stopped.
    Resume {
        /// The mailbox (id or address).
        mailbox: String,
    },
    /// Unlink a mailbox; its stored password is wiped at once.
    Remove {
        /// The mailbox (id or address).
        mailbox: String,
    },
    /// Add (or with --remove, drop) sender domains never turned into suggestions for a mailbox.
    Exclude {
        /// The mailbox (id or address).
        mailbox: String,
        #[arg(required = true)]
        domains: Vec<String>,
        /// Remove these domains from the exclusions instead of adding them.
        #[arg(long)]
        remove: bool,
    },
    /// Set the authserv-ids whose Authentication-Results this mailbox trusts (replacing its
    /// provider's defaults; "microsoft365" is Exchange Online's header). No ids trusts none.
    Trust {
        /// The mailbox (id or address).
        mailbox: String,
        authserv_ids: Vec<String>,
        /// Go back to the provider's defaults.
        #[arg(long, conflicts_with = "authserv_ids")]
        default: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddImapArgs {
    /// The user who owns the mailbox (e-mail or id).
    #[arg(long)]
    pub owner: String,
    /// The contact list that receives the suggestions: its id, or its name among the owner's
    /// lists (the owner must be able to edit it).
    #[arg(long)]
    pub list: String,
    #[arg(long)]
    pub host: String,
    /// Default: 993 for tls, 143 for starttls and plaintext.
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long, value_enum, default_value_t = TlsMode::ImplicitTls)]
    pub security: TlsMode,
    /// IMAP login name.
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
    /// PEM file of the CA to trust instead of the public roots (self-hosted servers); its
    /// certificates are stored with the mailbox, so the file is not needed afterwards.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Also process this many of the most recent messages already in the mailbox.
    #[arg(long, default_value_t = 0)]
    pub backfill: u32,
    /// Sender domain never turned into suggestions (repeatable).
    #[arg(long = "exclude")]
    pub excluded_domains: Vec<String>,
    #[command(flatten)]
    pub password: PasswordSource,
}

pub async fn execute(config_path: &Path, command: MailboxCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = match command {
        MailboxCommand::AddImap(args) => add_imap(&config, &store, *args).await,
        MailboxCommand::LinkImapOauth(args) => {
            super::imap_oauth::link_imap_oauth(&config, &store, *args).await
        }
        MailboxCommand::List { owner } => list(&store, owner).await,
        MailboxCommand::Show { mailbox } => match resolve::mailbox(&store, &mailbox, None).await {
            Ok(found) => show(&store, found.id).await,
            Err(e) => Err(e),
        },
        MailboxCommand::LinkMicrosoft { user, list } => {
            super::graph::link_microsoft(&config, &store, &user, &list).await
        }
        MailboxCommand::Remove { mailbox } => remove(&config, &store, &mailbox).await,
        MailboxCommand::Pause { mailbox } => set_paused(&store, &mailbox, true).await,
        MailboxCommand::Resume { mailbox } => set_paused(&store, &mailbox, false).await,
        MailboxCommand::Exclude {
            mailbox,
            domains,
            remove,
        } => match resolve::mailbox(&store, &mailbox, None).await {
            Ok(found) => exclude(&store, found.id, domains, remove).await,
            Err(e) => Err(e),
        },
        MailboxCommand::Trust {
            mailbox,
            authserv_ids,
            default,
        } => match resolve::mailbox(&store, &mailbox, None).await {
            Ok(found) => {
                let ids = (!default).then_some(authserv_ids);
                store
                    .set_mailbox_trusted_authserv_ids(found.id, ids.as_deref())
                    .await
                    .or_exit("set trusted authserv-ids")
                    .map(|()| {
                        let shown =
                            ids.map_or("(provider default)".to_owned(), |ids| ids.join(","));
                        println!("{}\t{shown}", found.id.0);
                    })
            }
            Err(e) => Err(e),
        },
    };
    store.close().await;
    result
}

async fn remove(
    config: &crate::config::Config,
    store: &crate::store::Store,
    given: &str,
) -> CliResult {
    let mailbox = resolve::mailbox(store, given, None).await?;
    let (vault, _) = context::load_vault(config)?;
    // Without a running daemon here: Graph is called with the `[graph]` settings when present,
    // else only the local data is wiped (subscriptions at Graph expire on their own).
    let graph = GraphUnlinker::new(vault, config.graph.clone().map(Arc::new), None);
    service::unlink(store, &graph, Actor::operator_as(mailbox.owner), mailbox.id)
        .await
        .or_exit("remove mailbox")?;
    println!("{}\tremoved", mailbox.id.0);
    Ok(())
}

async fn add_imap(
    config: &crate::config::Config,
    store: &crate::store::Store,
    args: AddImapArgs,
) -> CliResult {
    let owner = resolve::user(store, &args.owner).await?;
    let list = resolve::list(store, &args.list, Some(owner.id)).await?.id;
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
        ca_pem: read_ca_file(args.ca_file.as_deref())?,
        backfill: args.backfill,
        // The operator is trusted to point at internal hosts (see `sources::host_guard`).
        operator_trusted: true,
    };
    let options = config.imap.clone();
    let ca_file_given = settings.ca_pem.is_some();
    settings
        .validate(&options)
        .map_err(|e| imap_error(e, "check mailbox settings"))?;
    let address = match args.address {
        Some(address) => address,
        None if args.username.contains('@') => args.username.clone(),
        None => {
            return Err(CliError::msg(
                Exit::Usage,
                "add mailbox: --address is required when the username is not an e-mail address",
            ));
        }
    };
    let (vault, _) = context::load_vault(config)?;
    let password = args.password.read()?;
    // The service's operator path: the list role checked as the owner's, the login tested,
    // the password sealed, the link audited; no SSRF guard (the operator may name internal hosts).
    let link = service::LinkChecked {
        settings,
        address,
        name: args.name,
        list,
        excluded_domains: args.excluded_domains,
        password: SecretString::from(password.as_str()),
    };
    let mailbox =
        service::link_imap_trusted(store, &vault, &options, Actor::operator_as(owner.id), link)
            .await
            .map_err(|e| link_error(e, ca_file_given))?;
    println!("{}\t{}", mailbox.id.0, mailbox.address);
    Ok(())
}

/// Said after every certificate the CLI does not trust: what to do about it.
pub const TLS_TRUST_HINT: &str = "the server's certificate is not trusted: if the server uses a \
     private CA or a self-signed certificate, pass its CA certificate with --ca-file FILE (PEM)";

/// The same, when a `--ca-file` was given and did not sign the server's certificate.
pub const TLS_TRUST_HINT_WITH_CA: &str = "the server's certificate is not signed by the CA in \
     --ca-file (nor by a public CA): pass the CA certificate that issued it with --ca-file FILE (PEM)";

fn trust_hint(ca_file_given: bool) -> &'static str {
    if ca_file_given {
        TLS_TRUST_HINT_WITH_CA
    } else {
        TLS_TRUST_HINT
    }
}

/// Link failures as every service refusal ([`service_refusal`]), with what to do about an
/// untrusted certificate.
fn link_error(e: crate::service::ServiceError, ca_file_given: bool) -> CliError {
    let (exit, mut text) = service_refusal(&e);
    if let crate::service::ServiceError::LinkFailed {
        tls_untrusted: true,
        ..
    } = e
    {
        text = format!("{text}; {}", trust_hint(ca_file_given));
    }
    CliError::msg(exit, text).context("add mailbox")
}

/// IMAP failures: a refused login is a permission problem (77), an unreachable server is
/// unavailable (69), bad settings are data errors (65).
fn imap_error(e: ImapError, what: &'static str) -> CliError {
    let exit = if e.is_auth_failure() {
        Exit::NoPerm
    } else if e.is_transient() {
        Exit::Unavailable
    } else {
        Exit::Data
    };
    let text = if e.kind() == ImapErrorKind::TlsUntrusted {
        format!("{e}; {TLS_TRUST_HINT}")
    } else {
        e.to_string()
    };
    CliError::new(exit, anyhow::anyhow!("{text}")).context(what)
}

async fn list(store: &crate::store::Store, owner: Option<String>) -> CliResult {
    let mut filter = MailboxFilter::default();
    if let Some(email) = owner {
        filter.owner = Some(resolve::user(store, &email).await?.id);
    }
    for mailbox in store
        .list_mailboxes(&filter)
        .await
        .or_exit("list mailboxes")?
    {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            mailbox.id.0,
            mailbox.kind.as_str(),
            mailbox.shown_status().0.as_str(),
            mailbox.owner.0,
            mailbox.target_list.0,
            mailbox.address
        );
    }
    Ok(())
}

/// `mailbox pause|resume`, as the operator acting for the mailbox's owner. The running daemon is
/// another process: it sees the change at its next reconcile.
async fn set_paused(store: &crate::store::Store, mailbox: &str, paused: bool) -> CliResult {
    let mailbox = resolve::mailbox(store, mailbox, None).await?;
    let changed = crate::sources::changed::MailboxesChanged::default();
    let actor = Actor::operator_as(mailbox.owner);
    let result = if paused {
        service::pause(store, &changed, actor, mailbox.id).await
    } else {
        service::resume(store, &changed, actor, mailbox.id).await
    };
    let view = result.map_err(|e| {
        let (exit, text) = service_refusal(&e);
        CliError::msg(exit, text).context(if paused {
            "pause mailbox"
        } else {
            "resume mailbox"
        })
    })?;
    println!("{}	{}", view.id.0, view.status.as_str());
    Ok(())
}

async fn show(store: &crate::store::Store, id: MailboxId) -> CliResult {
    let mailbox = store.get_mailbox(id).await.or_exit("show mailbox")?;
    let stats = store
        .mailbox_stats(id)
        .await
        .or_exit("read mailbox counters")?;
    println!("id: {}", mailbox.id.0);
    println!("kind: {}", mailbox.kind.as_str());
    println!("address: {}", mailbox.address);
    println!(
        "name: {}",
        mailbox.display_name.as_deref().unwrap_or_default()
    );
    println!("owner: {}", mailbox.owner.0);
    println!("list: {}", mailbox.target_list.0);
    let (status, reason) = mailbox.shown_status();
    println!("status: {}", status.as_str());
    if let Some(reason) = reason {
        if reason.starts_with(ImapErrorKind::TlsUntrusted.as_str()) {
            println!("hint: {TLS_TRUST_HINT} (mailbox add-imap again, or remove and re-add it)");
        }
        println!("status_reason: {reason}");
    }
    if let Some(reconnecting) = mailbox.reconnecting {
        // A fixed sentence from the source, never the server's text.
        println!(
            "reconnecting: since {} ({})",
            utc_time(reconnecting.since),
            reconnecting.reason
        );
    }
    println!("excluded_domains: {}", mailbox.excluded_domains.join(", "));
    // Settings never hold a password (it is in the vault); print them as stored.
    println!("settings: {}", mailbox.settings);
    println!(
        "password: {}",
        if mailbox.secret.is_some() {
            "stored (encrypted)"
        } else {
            "none"
        }
    );
    for (name, value) in &stats.counters {
        println!("counter.{name}: {value}");
    }
    Ok(())
}

async fn exclude(
    store: &crate::store::Store,
    id: MailboxId,
    domains: Vec<String>,
    remove: bool,
) -> CliResult {
    let mailbox = store.get_mailbox(id).await.or_exit("find mailbox")?;
    let given: Vec<String> = domains
        .iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .collect();
    let mut current = mailbox.excluded_domains;
    if remove {
        current.retain(|d| !given.contains(d));
    } else {
        current.extend(given);
    }
    let updated = service::set_exclusions(store, Actor::operator_as(mailbox.owner), id, &current)
        .await
        .or_exit("set excluded domains")?;
    println!("{}\t{}", id.0, updated.excluded_domains.join(","));
    Ok(())
}

/// Milliseconds since the epoch as `2026-12-07T00:20:00Z` (the raw number if out of range).
pub(super) fn utc_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
