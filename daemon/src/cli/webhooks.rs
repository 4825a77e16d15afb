//! `mailsigd webhook list|add|remove|deliveries`: a list's signed outgoing webhooks for the
//! operator, without a token and curl.
//!
//! The commands go through the service layer as the list's owner (or the user named with
//! `--user`), so they apply the same checks as the API and the pages: the owner role, the
//! target's form and the SSRF guard under `[webhooks]`, the audit. The signing secret is never an
//! argument (any local user sees those in `ps`): `add` reads it from standard input with
//! `--secret-stdin`, or has one generated and prints it that once.

use std::io::BufRead;
use std::path::Path;

use clap::{Args, Subcommand};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::domain::WebhookId;
use crate::service::Actor;
use crate::service::webhooks::{self as service, Endpoint, NewEndpoint};
use crate::store::{ListId, Store};

use super::exit::{CliError, CliResult, Exit, OrExit};
use super::{context, resolve};

/// Secrets read from standard input are bounded like passwords.
const MAX_SECRET_LINE: usize = 4096;

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// A list's endpoints with their deliveries by state.
    List(ListArgs),
    /// Add an endpoint: its URL, the events it hears, and a signing secret (read from standard
    /// input with --secret-stdin, or generated and printed this once).
    Add(AddArgs),
    /// Remove an endpoint with its queued deliveries, its log and its secret.
    Remove(OneArgs),
    /// An endpoint's delivery log, newest attempt first.
    Deliveries(OneArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// The endpoint's URL (https://, unless `[webhooks] allow_http`).
    #[arg(long)]
    pub url: String,
    /// Events it hears (repeat, or comma-separated): suggestion.created, suggestion.accepted,
    /// contact.changed; default: all.
    #[arg(long, value_delimiter = ',')]
    pub event: Vec<String>,
    /// Read the signing secret from standard input (the first line); without it one is
    /// generated and printed once.
    #[arg(long)]
    pub secret_stdin: bool,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OneArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// The endpoint's id (`webhook list` shows it).
    pub id: i64,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn execute(config_path: &Path, command: WebhookCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = match command {
        WebhookCommand::List(args) => list(&store, args).await,
        WebhookCommand::Add(args) => add(&config, &store, args).await,
        WebhookCommand::Remove(args) => remove(&store, args).await,
        WebhookCommand::Deliveries(args) => deliveries(&store, args).await,
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

async fn list(store: &Store, args: ListArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    let endpoints = service::list(store, actor, list)
        .await
        .or_exit("list webhooks")?;
    if args.json {
        return print_json(&endpoints);
    }
    let rows: Vec<Vec<String>> = endpoints.iter().map(endpoint_row).collect();
    print_table(
        &["ID", "URL", "EVENTS", "PENDING", "DELIVERED", "FAILED"],
        &rows,
    );
    Ok(())
}

fn endpoint_row(e: &Endpoint) -> Vec<String> {
    let counts = e.deliveries.unwrap_or_default();
    vec![
        e.id.0.to_string(),
        e.url.clone(),
        e.events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(","),
        counts.pending.to_string(),
        counts.delivered.to_string(),
        counts.failed.to_string(),
    ]
}

async fn add(config: &crate::config::Config, store: &Store, args: AddArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    let secret = if args.secret_stdin {
        Some(read_secret()?)
    } else {
        None
    };
    let (vault, _) = context::load_vault(config)?;
    context::bind_secrets(store, &vault).await?;
    let added = service::add(
        store,
        &vault,
        &config.webhooks,
        actor,
        list,
        NewEndpoint {
            url: Some(args.url),
            secret,
            events: (!args.event.is_empty()).then_some(args.event),
        },
    )
    .await
    .or_exit("add webhook")?;
    if args.json {
        return print_json(&added);
    }
    println!(
        "webhook {} added: {}",
        added.endpoint.id.0, added.endpoint.url
    );
    if let Some(secret) = &added.secret {
        println!("signing secret (shown this once): {}", secret.expose());
    }
    Ok(())
}

/// The first line of standard input, as a secret.
fn read_secret() -> CliResult<SecretString> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(Exit::Io, e).context("read the secret from standard input"))?;
    let text = line.trim_end_matches(['\r', '\n']);
    if text.len() > MAX_SECRET_LINE {
        return Err(CliError::msg(
            Exit::Data,
            "read the secret from standard input: longer than 4096 bytes",
        ));
    }
    Ok(SecretString::from(text.to_owned()))
}

async fn remove(store: &Store, args: OneArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    service::remove(store, actor, list, WebhookId(args.id))
        .await
        .or_exit("remove webhook")?;
    if args.json {
        return print_json(&serde_json::json!({ "removed": args.id }));
    }
    println!("webhook {} removed", args.id);
    Ok(())
}

async fn deliveries(store: &Store, args: OneArgs) -> CliResult {
    let (list, actor) = target(store, &args.list, args.user.as_deref()).await?;
    let log = service::log(store, actor, list, WebhookId(args.id))
        .await
        .or_exit("read the webhook's deliveries")?;
    if args.json {
        return print_json(&log);
    }
    let rows: Vec<Vec<String>> = log
        .iter()
        .map(|a| {
            vec![
                a.delivery_id.0.to_string(),
                a.event.as_str().to_owned(),
                a.suggestion_id.0.to_string(),
                super::mailboxes::utc_time(a.at),
                a.http_status
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                a.outcome.as_str().to_owned(),
                a.delivery_status.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "DELIVERY", "EVENT", "CONTACT", "AT", "HTTP", "OUTCOME", "STATE",
        ],
        &rows,
    );
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Exit::Software, e).context("write JSON"))?;
    println!("{text}");
    Ok(())
}

/// Columns aligned to their widest cell, one header line.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}
