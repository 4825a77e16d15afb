//! `mailsigd book connect|connect-outlook|status|disconnect|sync`: a list's connected address
//! book (CardDAV, or Outlook contacts of a linked Microsoft 365 mailbox) for the operator,
//! without a token and curl.
//!
//! The commands go through the service layer as the list's owner (or the user named with
//! `--user`), so they apply the same checks as the API: the owner role, the SSRF guard under
//! `[address_books]`, discovery, the credentials tried on the server, the audit. The password is
//! never an argument (any local user sees those in `ps`): `connect` reads it from the first line
//! of standard input.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::books::worker::Worker;
use crate::service::Actor;
use crate::service::books::{self as service, BookState, ConnectForm};
use crate::store::{ListId, Store};

use super::exit::{CliError, CliResult, Exit, OrExit};
use super::{context, resolve};

/// A password read from standard input is bounded like other secrets.
const MAX_PASSWORD_LINE: usize = 4096;

#[derive(Debug, Subcommand)]
pub enum BookCommand {
    /// Connect a list to a CardDAV address book: found from the server's address (or the
    /// book's own URL), the user name given, the password read from standard input.
    Connect(ConnectArgs),
    /// Connect a list to Outlook contacts: a contact folder (created if missing) of one of the
    /// owner's linked Microsoft 365 mailboxes, whose consent includes contacts.
    ConnectOutlook(OutlookArgs),
    /// Whether a list has a book, its state, when it was last read, and how many entries the
    /// duplicate check knows.
    Status(ListArgs),
    /// Disconnect the list: its credentials and the local index go, the book stays as it is.
    Disconnect(ListArgs),
    /// Sync the list's book now: read its changes, write the accepted contacts it lacks.
    Sync(ListArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// The CardDAV server's address (https://dav.example.com/) or the address book's URL.
    #[arg(long)]
    pub url: String,
    /// The user name on the CardDAV server.
    #[arg(long = "book-user")]
    pub book_user: String,
    /// A certificate authority (PEM file) to trust for this server besides the public roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OutlookArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// The owner's linked Microsoft 365 mailbox (id or address).
    #[arg(long)]
    pub mailbox: String,
    /// The contact folder's name; created when the mailbox has none of that name.
    #[arg(long, default_value = "From mailsig")]
    pub folder: String,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn execute(config_path: &Path, command: BookCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = match command {
        BookCommand::Connect(args) => connect(&config, &store, args).await,
        BookCommand::ConnectOutlook(args) => connect_outlook(&config, &store, args).await,
        BookCommand::Status(args) => status(&store, args).await,
        BookCommand::Disconnect(args) => disconnect(&store, args).await,
        BookCommand::Sync(args) => sync(&config, &store, args).await,
    };
    store.close().await;
    result
}

/// The list and the user the command acts as (the owner by default).
async fn target(store: &Store, list: &str, user: Option<&str>) -> CliResult<(ListId, Actor)> {
    let user = match user {
        Some(given) => Some(resolve::user(store, given).await?.id),
        None => None,
    };
    let list = resolve::list(store, list, user).await?;
    Ok((list.id, Actor::operator_as(user.unwrap_or(list.owner))))
}

async fn connect(config: &crate::config::Config, store: &Store, args: ConnectArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    let ca_pem = match &args.ca_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            CliError::new(Exit::NoInput, e).context("read the certificate authority file")
        })?),
        None => None,
    };
    let password = read_password()?;
    let (vault, _) = context::load_vault(config)?;
    context::bind_secrets(store, &vault).await?;
    let state = service::connect(
        store,
        &vault,
        &config.address_books,
        // No worker listens in the CLI: the daemon reads the book at its next interval.
        &crate::books::worker::Wake::default(),
        actor,
        list,
        ConnectForm {
            url: Some(args.url),
            user: Some(args.book_user),
            password: Some(password),
            ca_pem,
        },
    )
    .await
    .or_exit("connect the address book")?;
    if args.json {
        return print_json(&state);
    }
    print_state(&state);
    Ok(())
}

async fn connect_outlook(
    config: &crate::config::Config,
    store: &Store,
    args: OutlookArgs,
) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    let mailbox = resolve::mailbox(store, &args.mailbox, Some(actor.user())).await?;
    let (vault, _) = context::load_vault(config)?;
    context::bind_secrets(store, &vault).await?;
    let state = crate::service::outlook_book::connect_outlook(
        store,
        &vault,
        config.graph.as_ref(),
        // No worker listens in the CLI: the daemon reads the folder at its next interval.
        &crate::books::worker::Wake::default(),
        actor,
        list,
        crate::service::outlook_book::OutlookForm {
            mailbox: Some(mailbox.id.0),
            folder: Some(args.folder),
        },
    )
    .await
    .or_exit("connect Outlook contacts")?;
    if args.json {
        return print_json(&state);
    }
    print_state(&state);
    Ok(())
}

async fn status(store: &Store, args: ListArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    let state = service::status(store, actor, list)
        .await
        .or_exit("read the address book")?;
    if args.json {
        return print_json(&state);
    }
    print_state(&state);
    Ok(())
}

async fn disconnect(store: &Store, args: ListArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    service::disconnect(store, actor, list)
        .await
        .or_exit("disconnect the address book")?;
    if args.json {
        return print_json(&serde_json::json!({"connected": false}));
    }
    println!("disconnected; nothing in the address book was changed");
    Ok(())
}

async fn sync(config: &crate::config::Config, store: &Store, args: ListArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    // The owner's view first: the same role check as `status`.
    service::status(store, actor, list)
        .await
        .or_exit("read the address book")?;
    let (vault, _) = context::load_vault(config)?;
    context::bind_secrets(store, &vault).await?;
    let worker = Worker::new(
        store.clone(),
        vault,
        config.address_books.clone(),
        "mailsigd-cli",
    )
    .with_graph(config.graph.clone().map(std::sync::Arc::new));
    let synced = worker
        .sync_list(list)
        .await
        .map_err(|e| CliError::msg(Exit::Unavailable, format!("sync the address book: {e}")))?;
    if args.json {
        return print_json(&serde_json::json!({
            "read_changed": synced.read.changed,
            "read_removed": synced.read.removed,
            "created": synced.created,
            "updated": synced.updated,
            "unchanged": synced.unchanged,
        }));
    }
    println!(
        "read {} changed and {} removed entries; wrote {} new and {} updated contacts ({} already there)",
        synced.read.changed, synced.read.removed, synced.created, synced.updated, synced.unchanged
    );
    Ok(())
}

fn print_state(state: &BookState) {
    let Some(book) = &state.book else {
        println!("no address book connected");
        return;
    };
    println!("address book: {}", book.url);
    if let Some(name) = &book.name {
        println!("name:         {name}");
    }
    println!("user:         {}", book.user);
    match &book.status_reason {
        Some(reason) => println!("status:       needs attention ({reason})"),
        None => println!("status:       ok"),
    }
    match book.last_sync_at {
        Some(at) => println!("last read:    {}", super::mailboxes::utc_time(at)),
        None => println!("last read:    not yet"),
    }
    println!("entries:      {}", book.entries);
}

/// The first line of standard input, as the password.
fn read_password() -> CliResult<SecretString> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(Exit::Io, e).context("read the password from standard input"))?;
    let text = line.trim_end_matches(['\r', '\n']);
    if text.len() > MAX_PASSWORD_LINE {
        return Err(CliError::msg(
            Exit::Data,
            "read the password from standard input: longer than 4096 bytes",
        ));
    }
    Ok(SecretString::from(text.to_owned()))
}

fn print_json(value: &impl serde::Serialize) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Exit::Software, e).context("write JSON"))?;
    println!("{text}");
    Ok(())
}
