//! The `mailsigd` command line: one binary for running the daemon and for administering it.
//!
//! Each subcommand is a clap struct whose doc comment is its `--help`. Subcommands live in
//! their own modules; [`execute`] dispatches and [`exit`] maps every failure to one stderr
//! line and a sysexits code. Data goes to stdout, diagnostics to stderr, and no command ever
//! prints a stored secret (the API token printed by `user token` is shown once at creation,
//! as only its hash is kept, and so is a webhook signing secret mailsig generated).

mod audit;
mod backup;
mod blocklist;
mod books;
mod context;
pub mod exit;
mod generate;
mod graph;
mod imap_oauth;
mod imap_security;
mod init;
mod lists;
mod loopback_oauth;
mod mailboxes;
mod org;
mod outbox;
mod parse;
mod password;
mod resolve;
mod run;
mod secrets;
mod smtp;
mod suggestions;
mod tokens;
mod users;
mod webhooks;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use exit::{CliError, CliResult, Exit};

/// The default configuration file, relative to the current directory.
pub const DEFAULT_CONFIG: &str = "mailsig.toml";

/// mailsigd: turns the signatures in incoming mail into contact suggestions.
#[derive(Debug, Parser)]
#[command(name = "mailsigd", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, env = "MAILSIG_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon until SIGTERM or SIGINT.
    Run(run::RunArgs),
    /// Create a configuration file, the data directory and a new 256-bit master key.
    Init(init::InitArgs),
    /// Validate the configuration and the master key; print a one-line summary.
    CheckConfig,
    /// Extract the sender's signature from message files and print one JSON line per file.
    Parse(parse::ParseArgs),
    /// Manage users and their API tokens.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Manage contact lists and who they are shared with.
    #[command(subcommand)]
    List(lists::ListCommand),
    /// Manage linked mailboxes.
    #[command(subcommand)]
    Mailbox(mailboxes::MailboxCommand),
    /// Manage the encrypted secrets.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Copy the SQLite database to a backup file while the daemon runs.
    Backup(backup::BackupArgs),
    /// Configure and test the SMTP account used for notifications.
    #[command(subcommand)]
    Smtp(smtp::SmtpCommand),
    /// Notifications that failed for good: list them, queue one again, or drop it.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Configure the Microsoft 365 (Graph) source.
    #[command(subcommand)]
    Graph(graph::GraphCommand),
    /// See the contact suggestions the daemon found (as a user sees them).
    #[command(subcommand)]
    Suggestion(suggestions::SuggestionCommand),
    /// Connect a list to a CardDAV address book, see its state, sync it, disconnect it.
    #[command(subcommand)]
    Book(books::BookCommand),
    /// Manage a list's signed outgoing webhooks and read their delivery logs.
    #[command(subcommand)]
    Webhook(webhooks::WebhookCommand),
    /// Read and export the audit log (who did what, when), with filters.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The org-wide sender blocklist: domains and addresses no mailbox makes suggestions of.
    #[command(subcommand)]
    Blocklist(blocklist::BlocklistCommand),
    /// The organisation at a glance: every mailbox's health.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(generate::CompletionsArgs),
    /// Print the manual page mailsigd(1), or write every command's page into a directory.
    Man(generate::ManArgs),
}

/// Parses the command line. Help and version print and exit 0; a usage error exits 64.
pub fn parse_args() -> Result<Cli, CliError> {
    Cli::try_parse().map_err(|e| {
        use clap::error::ErrorKind;
        match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                // Printing help is not a failure; clap knows where it goes.
                let _ = e.print();
                CliError::msg(Exit::Ok, "")
            }
            _ => {
                // clap's first paragraph, on one line: the message and what it names on the
                // lines below it (the missing arguments, for one), without usage and tips.
                let text = e.render().to_string();
                let first: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .take_while(|line| !line.is_empty())
                    .collect();
                let first = first.join(" ");
                let first = first.trim_start_matches("error: ");
                let first = if first.is_empty() {
                    "invalid arguments"
                } else {
                    first
                };
                CliError::msg(
                    Exit::Usage,
                    format!("invalid arguments: {first} (see `mailsigd --help`)"),
                )
            }
        }
    })
}

/// Runs one command on a fresh tokio runtime.
pub fn execute(cli: Cli) -> CliResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Exit::Software, e).context("start the async runtime"))?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> CliResult {
    let config_path = cli.config;
    match cli.command {
        Command::Run(args) => {
            if args.init && !config_path.exists() {
                // Logging started while `init` loaded the new configuration: the notices go
                // into the log in its format, so the log has one format from its first line.
                init::init(
                    &config_path,
                    init::InitArgs {
                        data_dir: args.data_dir,
                    },
                )
                .await?
                .log();
            }
            run::run(&config_path).await
        }
        Command::Init(args) => init::init(&config_path, args).await.map(|created| {
            created.print();
        }),
        Command::CheckConfig => context::check_config(&config_path).await,
        Command::Parse(args) => parse::parse(args),
        Command::User(command) => users::execute(&config_path, command).await,
        Command::Token(command) => tokens::execute(&config_path, command).await,
        Command::List(command) => lists::execute(&config_path, command).await,
        Command::Mailbox(command) => mailboxes::execute(&config_path, command).await,
        Command::Secrets(command) => secrets::execute(&config_path, command).await,
        Command::Backup(args) => backup::backup(&config_path, args).await,
        Command::Smtp(command) => smtp::execute(&config_path, command).await,
        Command::Outbox(command) => outbox::execute(&config_path, command).await,
        Command::Graph(command) => graph::execute(&config_path, command).await,
        Command::Suggestion(command) => suggestions::execute(&config_path, command).await,
        Command::Book(command) => books::execute(&config_path, command).await,
        Command::Webhook(command) => webhooks::execute(&config_path, command).await,
        Command::Audit(command) => audit::execute(&config_path, command).await,
        Command::Blocklist(command) => blocklist::execute(&config_path, command).await,
        Command::Org(command) => org::execute(&config_path, command).await,
        Command::Completions(args) => generate::completions(&args),
        Command::Man(args) => generate::man(&args),
    }
}
