//! `mailsigd audit list|export`: the audit log for the operator, with the filters of the admin
//! page and the API (actor, action, object, time range), read by `service::org::audit` as the
//! operator, so the same input is accepted or refused the same way; an export is audited.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::service::org::AdminActor;
use crate::service::org::audit::{self as service, AuditQuery, NO_USER};

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Entries, newest first: id, time (UTC), actor, action, object, detail (tab separated).
    List {
        #[command(flatten)]
        filters: Filters,
        /// Entries older than this entry id (the next page).
        #[arg(long)]
        before: Option<i64>,
        /// At most this many entries (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every entry the filters select, as CSV (to standard output, or --output).
    Export {
        #[command(flatten)]
        filters: Filters,
        /// Write the CSV to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// The filters; every one optional.
#[derive(Debug, Args)]
pub struct Filters {
    /// A user's e-mail or id, or `operator` (the command line and the daemon itself).
    #[arg(long)]
    pub actor: Option<String>,
    /// An action, e.g. `blocklist.add`, `user.disable`.
    #[arg(long)]
    pub action: Option<String>,
    /// The kind of object: user, token, list, mailbox, suggestion, secret, secrets, webhook,
    /// blocklist, outbox, audit.
    #[arg(long)]
    pub object: Option<String>,
    /// The object's id.
    #[arg(long)]
    pub object_id: Option<i64>,
    /// From this day (2026-12-01, UTC) or time (RFC 3339) on.
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this day (included) or before this time.
    #[arg(long)]
    pub to: Option<String>,
}

impl Filters {
    fn query(self) -> AuditQuery {
        AuditQuery {
            actor: self.actor,
            action: self.action,
            object: self.object,
            object_id: self.object_id.map(|i| i.to_string()),
            from: self.from,
            to: self.to,
            before: None,
            limit: None,
        }
    }
}

pub async fn execute(config_path: &Path, command: AuditCommand) -> CliResult {
    let (_, store) = context::admin(config_path).await?;
    let admin = AdminActor::operator();
    let result = match command {
        AuditCommand::List {
            filters,
            before,
            limit,
            json,
        } => {
            let query = AuditQuery {
                before: before.map(|b| b.to_string()),
                limit: Some(limit.to_string()),
                ..filters.query()
            };
            match service::page(&store, admin, &query).await {
                Ok(page) if json => serde_json::to_string_pretty(&page)
                    .map(|text| println!("{text}"))
                    .map_err(|e| CliError::new(Exit::Software, e)),
                Ok(page) => {
                    for e in &page.entries {
                        let actor = match (&e.actor, &e.actor_email) {
                            (None, _) => NO_USER.to_owned(),
                            (Some(_), Some(email)) => email.clone(),
                            (Some(id), None) => id.0.to_string(),
                        };
                        let object = match e.object_id {
                            Some(id) => format!("{} {id}", e.object_kind),
                            None => e.object_kind.to_owned(),
                        };
                        println!(
                            "{}\t{}\t{actor}\t{}\t{object}\t{}",
                            e.id,
                            utc(e.at),
                            e.action,
                            e.detail.as_deref().unwrap_or("").replace(['\n', '\t'], " ")
                        );
                    }
                    if let Some(next) = page.next_before {
                        eprintln!("more: --before {next}");
                    }
                    Ok(())
                }
                Err(e) => Err(e).or_exit("read the audit log"),
            }
        }
        AuditCommand::Export { filters, output } => {
            match service::export_csv(&store, admin, &filters.query()).await {
                Ok(csv) => match output {
                    Some(path) => std::fs::write(&path, csv).or_exit("write the export"),
                    None => {
                        print!("{csv}");
                        Ok(())
                    }
                },
                Err(e) => Err(e).or_exit("export the audit log"),
            }
        }
    };
    store.close().await;
    result
}

/// Epoch ms as RFC 3339 in UTC.
fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
