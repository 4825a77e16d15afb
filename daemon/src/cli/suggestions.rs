//! `mailsigd suggestion list|show|export|changes|accept-change|dismiss-change`: what the daemon
//! found, and the change suggestions of accepted contacts decided, without a token and curl.
//!
//! The commands go through the service layer as the user named with `--user` (by default the
//! list's owner), so they see exactly what that user sees in the API and the pages, with the
//! same filters and checks; each read is audited as the operator's. Output is an aligned table for
//! people, or with `--json` the API's own JSON (a page `{items, next_cursor}`, or one
//! suggestion). `export` writes the API's vCard or CSV export to stdout.

use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};

use crate::service::Actor;
use crate::service::suggestions::{self as service, Page, Query};
use crate::store::{ListId, Store, Suggestion, SuggestionId, UserId};

use super::exit::{CliError, CliResult, Exit, OrExit};
use super::{context, resolve};

#[derive(Debug, Subcommand)]
pub enum SuggestionCommand {
    /// Suggestions of a user's lists, with the API's filters: id, list, status,
    /// confidence, sender, name, title, company.
    List(ListArgs),
    /// One suggestion with every field, its confidence and the rule that found it.
    Show(ShowArgs),
    /// A list's contacts as vCard 4.0 or CSV on stdout: accepted and merged ones, or with
    /// --all every suggestion not dismissed.
    Export(ExportArgs),
    /// Change suggestions of a list's accepted contacts ("Jane Doe: new title"), proposed by
    /// authenticated mail: open ones, or with --all decided ones too.
    Changes(ChangesArgs),
    /// Accept a change suggestion: the contact takes the new values (needs an editor).
    AcceptChange(DecideArgs),
    /// Dismiss a change suggestion: the contact keeps its values (needs an editor).
    DismissChange(DecideArgs),
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    /// Decided ones too.
    #[arg(long)]
    pub all: bool,
    /// Print the API's JSON (`{items}`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The change suggestion's id (`suggestion changes` lists them).
    pub id: i64,
    /// As which user (e-mail or id); default: the owner of the contact's list.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Vcard,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The list (id, or name among the user's lists).
    #[arg(long)]
    pub list: String,
    /// As which user (e-mail or id); default: the list's owner.
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, value_enum, default_value_t = FormatArg::Vcard)]
    pub format: FormatArg,
    /// Unreviewed suggestions too (dismissed ones never).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    New,
    Accepted,
    Dismissed,
    Merged,
}

impl StatusArg {
    fn as_str(self) -> &'static str {
        match self {
            StatusArg::New => "new",
            StatusArg::Accepted => "accepted",
            StatusArg::Dismissed => "dismissed",
            StatusArg::Merged => "merged",
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Whose suggestions (e-mail or id): every list they own or that is shared with them.
    #[arg(long, required_unless_present = "list")]
    pub user: Option<String>,
    /// Only this list (id, or name among the user's lists). Without --user: as the list's owner.
    #[arg(long)]
    pub list: Option<String>,
    /// Only suggestions in this state.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only suggestions whose sender or fields contain this text.
    #[arg(long)]
    pub q: Option<String>,
    /// Only suggestions from this mailbox (id or address).
    #[arg(long)]
    pub mailbox: Option<String>,
    /// Page size per list (1 to 200; default 50).
    #[arg(long)]
    pub limit: Option<i64>,
    /// The next page: the `next_cursor` printed with the previous one (needs --list).
    #[arg(long, requires = "list")]
    pub cursor: Option<String>,
    /// Print JSON (the API's page format) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The suggestion's id.
    pub id: i64,
    /// As which user (e-mail or id); default: the owner of the suggestion's list.
    #[arg(long)]
    pub user: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn execute(config_path: &Path, command: SuggestionCommand) -> CliResult {
    let (_, store) = context::admin(config_path).await?;
    let result = match command {
        SuggestionCommand::List(args) => list(&store, args).await,
        SuggestionCommand::Show(args) => show(&store, args).await,
        SuggestionCommand::Export(args) => export(&store, args).await,
        SuggestionCommand::Changes(args) => changes(&store, args).await,
        SuggestionCommand::AcceptChange(args) => decide(&store, args, true).await,
        SuggestionCommand::DismissChange(args) => decide(&store, args, false).await,
    };
    store.close().await;
    result
}

async fn list(store: &Store, args: ListArgs) -> CliResult {
    let user = match &args.user {
        Some(given) => Some(resolve::user(store, given).await?.id),
        None => None,
    };
    // The lists to read and the user who reads each.
    let lists: Vec<(ListId, String, UserId)> = match (&args.list, user) {
        (Some(given), _) => {
            let list = resolve::list(store, given, user).await?;
            vec![(list.id, list.name, user.unwrap_or(list.owner))]
        }
        (None, Some(user)) => crate::service::lists::my_lists(store, Actor::operator_as(user))
            .await
            .or_exit("list the user's lists")?
            .into_iter()
            .map(|l| (l.id, l.name, user))
            .collect(),
        (None, None) => Vec::new(), // clap requires --user or --list
    };
    let mailbox = match &args.mailbox {
        Some(given) => Some(resolve::mailbox(store, given, None).await?.id.0),
        None => None,
    };
    let query = Query {
        status: args.status.map(|s| s.as_str().to_owned()),
        q: args.q.clone(),
        mailbox,
        cursor: args.cursor.clone(),
        limit: args.limit,
    };
    let mut all = Page {
        items: Vec::new(),
        next_cursor: None,
    };
    let mut names = Vec::new();
    for (list, name, reader) in &lists {
        let page = service::list(store, Actor::operator_as(*reader), *list, &query)
            .await
            .or_exit("list suggestions")?;
        if let Some(cursor) = &page.next_cursor {
            if lists.len() == 1 {
                all.next_cursor = Some(cursor.clone());
            } else {
                eprintln!(
                    "more in list {} ({name}): --list {} --cursor {cursor}",
                    list.0, list.0
                );
            }
        }
        names.push((*list, name.clone()));
        all.items.extend(page.items);
    }
    if args.json {
        print_json(&all)?;
        return Ok(());
    }
    let list_name = |id: ListId| {
        names
            .iter()
            .find(|(l, _)| *l == id)
            .map_or_else(String::new, |(_, n)| n.clone())
    };
    print_table(&all.items, list_name);
    if let Some(cursor) = &all.next_cursor {
        eprintln!("more: add --cursor {cursor}");
    }
    Ok(())
}

async fn show(store: &Store, args: ShowArgs) -> CliResult {
    let id = SuggestionId(args.id);
    let reader = match &args.user {
        Some(given) => resolve::user(store, given).await?.id,
        None => {
            // The operator reads as the owner of the suggestion's list.
            let found = store.get_suggestion(id).await.map_err(|e| {
                if e.is_not_found() {
                    CliError::msg(
                        Exit::Data,
                        format!("show suggestion: no suggestion {}", id.0),
                    )
                } else {
                    CliError::new(Exit::Unavailable, e).context("show suggestion")
                }
            })?;
            store
                .get_list(found.list)
                .await
                .map_err(|e| CliError::new(Exit::Unavailable, e).context("show suggestion"))?
                .owner
        }
    };
    let suggestion = service::get(store, Actor::operator_as(reader), id)
        .await
        .or_exit("show suggestion")?;
    if args.json {
        return print_json(&suggestion);
    }
    print_details(&suggestion);
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Exit::Software, e).context("write JSON"))?;
    println!("{text}");
    Ok(())
}

/// The value of an optional field, or `-`.
fn value(field: Option<&crate::store::StoredField>) -> &str {
    field.map_or("-", |f| f.value.as_str())
}

/// One row per suggestion, columns aligned to their widest cell, one header line.
fn print_table(items: &[Suggestion], list_name: impl Fn(ListId) -> String) {
    let header = [
        "ID", "LIST", "STATUS", "CONF", "SENDER", "NAME", "TITLE", "COMPANY",
    ];
    let rows: Vec<[String; 8]> = items
        .iter()
        .map(|s| {
            [
                s.id.0.to_string(),
                list_name(s.list),
                s.status.as_str().to_owned(),
                format!("{:.2}", s.confidence),
                s.sender_email.clone(),
                value(s.fields.name.as_ref()).to_owned(),
                value(s.fields.title.as_ref()).to_owned(),
                value(s.fields.company.as_ref()).to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&header.map(str::to_owned));
    for row in &rows {
        line(row);
    }
}

/// `field: value` lines, with each field's confidence and rule.
fn print_details(s: &Suggestion) {
    println!("id: {}", s.id.0);
    println!("list: {}", s.list.0);
    if let Some(mailbox) = s.mailbox {
        println!("mailbox: {}", mailbox.0);
    }
    println!("status: {}", s.status.as_str());
    println!("sender: {}", s.sender_email);
    println!("confidence: {:.2}", s.confidence);
    let one = |name: &str, field: Option<&crate::store::StoredField>| {
        if let Some(f) = field {
            println!("{name}: {} ({:.2}, {})", f.value, f.confidence, f.rule);
        }
    };
    one("name", s.fields.name.as_ref());
    one("title", s.fields.title.as_ref());
    one("company", s.fields.company.as_ref());
    one("address", s.fields.address.as_ref());
    for (name, fields) in [
        ("email", &s.fields.emails),
        ("website", &s.fields.websites),
        ("social", &s.fields.social),
    ] {
        for f in fields {
            one(name, Some(f));
        }
    }
    for p in &s.fields.phones {
        println!(
            "phone.{}: {} ({:.2}, {})",
            p.kind, p.e164, p.confidence, p.rule
        );
    }
    println!("created_at: {}", s.created_at);
    println!("updated_at: {}", s.updated_at);
}

async fn export(store: &Store, args: ExportArgs) -> CliResult {
    use crate::service::export::{self, Scope};
    let user = match &args.user {
        Some(given) => Some(resolve::user(store, given).await?.id),
        None => None,
    };
    let list = resolve::list(store, &args.list, user).await?;
    let actor = Actor::operator_as(user.unwrap_or(list.owner));
    let scope = if args.all {
        Scope::All
    } else {
        Scope::Accepted
    };
    let text = match args.format {
        FormatArg::Vcard => export::vcard(store, actor, list.id, scope).await,
        FormatArg::Csv => export::csv(store, actor, list.id, scope).await,
    }
    .or_exit("export list")?;
    use std::io::Write as _;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::new(Exit::Io, e).context("write the export"))
}

async fn changes(store: &Store, args: ChangesArgs) -> CliResult {
    use crate::service::changes::{self, ChangeItem};
    use crate::store::ChangeStatus;
    let user = match &args.user {
        Some(given) => Some(resolve::user(store, given).await?.id),
        None => None,
    };
    let list = resolve::list(store, &args.list, user).await?;
    let actor = Actor::operator_as(user.unwrap_or(list.owner));
    let status = (!args.all).then_some(ChangeStatus::Open);
    let found = changes::of_list(store, actor, list.id, status)
        .await
        .or_exit("list change suggestions")?;
    let items: Vec<ChangeItem> = found.into_iter().map(ChangeItem::from).collect();
    if args.json {
        return print_json(&serde_json::json!({ "items": items }));
    }
    if items.is_empty() {
        eprintln!("no change suggestions");
    }
    for item in &items {
        print_change(item);
    }
    Ok(())
}

async fn decide(store: &Store, args: DecideArgs, accept: bool) -> CliResult {
    use crate::service::changes::{self, ChangeItem};
    let what = if accept {
        "accept change suggestion"
    } else {
        "dismiss change suggestion"
    };
    let reader = match &args.user {
        Some(given) => resolve::user(store, given).await?.id,
        None => {
            // The operator decides as the owner of the contact's list.
            let found = store.get_change_suggestion(args.id).await.map_err(|e| {
                if e.is_not_found() {
                    CliError::msg(
                        Exit::Data,
                        format!("{what}: no change suggestion {}", args.id),
                    )
                } else {
                    CliError::new(Exit::Unavailable, e).context(what)
                }
            })?;
            store
                .get_list(found.list)
                .await
                .map_err(|e| CliError::new(Exit::Unavailable, e).context(what))?
                .owner
        }
    };
    // The CLI is not the daemon: no worker listens here, the daemon's interval writes the change.
    let books = crate::books::worker::Wake::default();
    let decided = changes::decide(store, &books, Actor::operator_as(reader), args.id, accept)
        .await
        .or_exit(what)?;
    let item = ChangeItem::from(decided);
    if args.json {
        return print_json(&item);
    }
    print_change(&item);
    Ok(())
}

/// `#id status line (sender authentication)` and one `field: old -> new` line per difference.
fn print_change(c: &crate::service::changes::ChangeItem) {
    println!(
        "#{} {} {} (contact {}, {} by {})",
        c.id,
        c.status.as_str(),
        c.line,
        c.suggestion,
        c.sender_auth.result.as_str(),
        c.sender_auth.method.as_str()
    );
    for d in &c.diff {
        println!(
            "  {}: {} -> {}",
            d.field,
            d.old.as_deref().unwrap_or("-"),
            d.new.as_deref().unwrap_or("-")
        );
    }
}
