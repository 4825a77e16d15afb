//! `mailsigd backup`: a consistent copy of the SQLite database while the daemon runs, with
//! SQLite's `VACUUM INTO` (an online backup in one statement; readers and the writer keep
//! going). PostgreSQL deployments use the database's own tools instead.
//!
//! The copy holds the sealed secrets but not the master key: keep the key file's backup
//! separately, or the copy's passwords cannot be read.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::DatabaseUrl;

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy. Default: <data_dir>/backups/mailsig-<unix time>.db
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub async fn backup(config_path: &Path, args: BackupArgs) -> CliResult {
    let config = context::load_config(config_path)?;
    if let DatabaseUrl::Postgres { .. } = config.database_url {
        return Err(CliError::msg(
            Exit::Unavailable,
            "backup: the database is PostgreSQL; back it up with pg_dump (logical) or \
             pg_basebackup with WAL archiving (point-in-time recovery)",
        ));
    }
    let output = match args.output {
        Some(path) => path,
        None => {
            let dir = config.data_dir.join("backups");
            std::fs::create_dir_all(&dir).or_exit("create the backup directory")?;
            let now = crate::clock::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            dir.join(format!("mailsig-{now}.db"))
        }
    };
    // VACUUM INTO accepts an empty existing file: create it first so it is private (0600)
    // from the start, and so an existing backup is never overwritten.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&output)
        .or_exit("create the backup file")?;
    let output_text = output
        .to_str()
        .ok_or_else(|| CliError::msg(Exit::Data, "backup: the output path is not UTF-8"))?
        .to_owned();
    let store = context::open_store(&config).await?;
    let result = sqlx::query("VACUUM INTO $1")
        .bind(output_text)
        .execute(store.pool())
        .await;
    store.close().await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&output);
        return Err(CliError::new(Exit::Io, e).context("write the backup"));
    }
    println!("{}", output.display());
    Ok(())
}
