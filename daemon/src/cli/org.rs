//! `mailsigd org health`: every mailbox of the organisation with its health, as the admin's
//! mailbox page (`/admin/mailboxes`) and `GET /api/v1/admin/mailboxes` show it.
//!
//! It reads through `service::org::health` as the operator, so it lists exactly what the page
//! and the API list, in the same order (those needing attention first, then those reconnecting).

use std::path::Path;

use clap::Subcommand;

use crate::service::org::AdminActor;
use crate::service::org::health as service;
use crate::store::MailboxHealthRow;

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Every mailbox's health, one per line (tab separated): id, kind, address, owner, list,
    /// status, reason, reconnecting since, last message read, messages read, waiting, waiting
    /// since (the lag). Times are RFC 3339 in UTC; `-` where there is none. Those needing
    /// attention come first, then those reconnecting.
    Health {
        /// Print the rows as JSON instead (the API's fields).
        #[arg(long)]
        json: bool,
    },
}

pub async fn execute(config_path: &Path, command: OrgCommand) -> CliResult {
    let (_, store) = context::admin(config_path).await?;
    let admin = AdminActor::operator();
    let result = match command {
        OrgCommand::Health { json } => match service::mailboxes(&store, admin).await {
            Ok(rows) if json => serde_json::to_string_pretty(&rows)
                .map(|text| println!("{text}"))
                .map_err(|e| CliError::new(Exit::Software, e)),
            Ok(rows) => {
                for row in &rows {
                    println!("{}", line(row));
                }
                Ok(())
            }
            Err(e) => Err(e).or_exit("read the organisation's mailboxes"),
        },
    };
    store.close().await;
    result
}

/// One mailbox as a tab-separated line.
fn line(m: &MailboxHealthRow) -> String {
    let text = |t: Option<&str>| {
        t.map(|t| t.replace(['\n', '\t'], " "))
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "-".to_owned())
    };
    let reason = m
        .status_reason
        .as_deref()
        .or(m.reconnecting_reason.as_deref());
    [
        m.id.0.to_string(),
        m.kind.as_str().to_owned(),
        text(Some(&m.address)),
        text(Some(&m.owner_email)),
        text(Some(&m.list_name)),
        m.status.as_str().to_owned(),
        text(reason),
        utc(m.reconnecting_since),
        utc(m.last_message_at),
        m.messages_read.to_string(),
        m.waiting.to_string(),
        utc(m.waiting_since),
    ]
    .join("\t")
}

/// Epoch ms as RFC 3339 in UTC, or `-`.
fn utc(ms: Option<i64>) -> String {
    ms.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    })
    .and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "-".to_owned())
}
