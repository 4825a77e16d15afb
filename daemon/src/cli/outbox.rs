//! `mailsigd outbox list|retry|drop`: notifications that failed for good, with the reason;
//! queue one again or drop it.
//!
//! The commands go through `service::org::outbox` as the operator, so they show and change
//! exactly what the admin page and the API do, and retrying or dropping is audited the same way.

use std::path::Path;

use clap::Subcommand;

use crate::service::org::AdminActor;
use crate::service::org::outbox as service;
use crate::store::OutboxId;

use super::context;
use super::exit::{CliResult, OrExit};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Failed notifications: id, kind, recipient user id, attempts, last error (tab separated).
    List {
        /// At most this many rows, newest first (at most 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Queue a failed notification again, due now (e.g. after the mail server was fixed).
    Retry {
        /// The notification's id (`outbox list` shows it).
        id: i64,
    },
    /// Delete a failed notification.
    Drop {
        /// The notification's id (`outbox list` shows it).
        id: i64,
    },
}

pub async fn execute(config_path: &Path, command: OutboxCommand) -> CliResult {
    let (_, store) = context::admin(config_path).await?;
    let admin = AdminActor::operator();
    let result = match command {
        OutboxCommand::List { limit } => service::failed(&store, admin, limit)
            .await
            .or_exit("list failed notifications")
            .map(|items| {
                for item in items {
                    let error = item.reason.unwrap_or_default().replace(['\n', '\t'], " ");
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        item.id.0, item.kind, item.recipient.0, item.attempts, error
                    );
                }
            }),
        OutboxCommand::Retry { id } => service::retry(&store, admin, OutboxId(id))
            .await
            .or_exit("queue the notification again")
            .map(|()| println!("{id}\tpending")),
        OutboxCommand::Drop { id } => service::discard(&store, admin, OutboxId(id))
            .await
            .or_exit("drop the notification")
            .map(|()| println!("{id}\tdropped")),
    };
    store.close().await;
    result
}
