//! `mailsigd outbox list`: notifications that failed for good, with the reason.

use std::path::Path;

use clap::Subcommand;

use super::context;
use super::exit::{CliResult, OrExit};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Failed notifications: id, kind, recipient user id, attempts, last error (tab separated).
    List {
        /// At most this many rows, newest first.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

pub async fn execute(config_path: &Path, command: OutboxCommand) -> CliResult {
    let (_, store) = context::admin(config_path).await?;
    match command {
        OutboxCommand::List { limit } => {
            for item in store
                .list_failed(limit)
                .await
                .or_exit("list failed notifications")?
            {
                let error = item
                    .last_error
                    .unwrap_or_default()
                    .replace(['\n', '\t'], " ");
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    item.id.0,
                    item.message.kind(),
                    item.recipient.0,
                    item.attempts,
                    error
                );
            }
        }
    }
    store.close().await;
    Ok(())
}
