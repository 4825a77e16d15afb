//! `mailsigd blocklist list|add|remove`: the org-wide sender blocklist for the operator.
//!
//! The commands go through `service::org::blocklist` as the operator ([`AdminActor::operator`]),
//! so an entry is checked, stored and audited exactly as on the admin page or through the API. A
//! running daemon picks the change up by the list's version within a few seconds. Before
//! anything else the configuration file's `[filters] excluded_domains` is applied as the list's
//! initial value, as the daemon does at start, so the list shown is the one in force.

use std::path::Path;

use clap::Subcommand;

use crate::service::org::AdminActor;
use crate::service::org::blocklist as service;
use crate::store::{BlocklistEntry, Store};

use super::context;
use super::exit::{CliResult, Exit, OrExit};

#[derive(Debug, Subcommand)]
pub enum BlocklistCommand {
    /// Every entry: id, kind (domain or address), value (tab separated).
    List {
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Block a sender domain (with its subdomains: `example.com`) or one address
    /// (`name@example.com`) for every mailbox.
    Add {
        /// The domain or the address.
        value: String,
    },
    /// Remove an entry, by id (`blocklist list` shows it) or by value.
    Remove {
        /// The entry's id, domain or address.
        entry: String,
    },
}

pub async fn execute(config_path: &Path, command: BlocklistCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = run(&store, &config.filters.excluded_domains, command).await;
    store.close().await;
    result
}

async fn run(store: &Store, file: &[String], command: BlocklistCommand) -> CliResult {
    let admin = AdminActor::operator();
    service::apply_file(store, None, file)
        .await
        .or_exit("apply the configuration's excluded domains")?;
    match command {
        BlocklistCommand::List { json } => {
            let entries = service::list(store, admin)
                .await
                .or_exit("read the blocklist")?;
            if json {
                let text = serde_json::to_string_pretty(&entries)
                    .map_err(|e| super::CliError::new(Exit::Software, e))?;
                println!("{text}");
            } else {
                for entry in &entries {
                    print_entry(entry);
                }
            }
        }
        BlocklistCommand::Add { value } => {
            let entry = service::add(store, admin, None, &value)
                .await
                .or_exit("add to the blocklist")?;
            print_entry(&entry);
        }
        BlocklistCommand::Remove { entry } => {
            let id = match entry.trim().parse::<i64>() {
                Ok(id) => id,
                Err(_) => {
                    let (_, value) =
                        service::parse_entry("entry", &entry).or_exit("read the entry")?;
                    service::list(store, admin)
                        .await
                        .or_exit("read the blocklist")?
                        .into_iter()
                        .find(|e| e.value == value)
                        .map(|e| e.id)
                        .ok_or_else(|| {
                            super::CliError::msg(
                                Exit::Data,
                                "remove from the blocklist: not listed",
                            )
                        })?
                }
            };
            let removed = service::remove(store, admin, None, id)
                .await
                .or_exit("remove from the blocklist")?;
            print_entry(&removed);
        }
    }
    Ok(())
}

fn print_entry(entry: &BlocklistEntry) {
    println!("{}\t{}\t{}", entry.id, entry.kind, entry.value);
}
