//! `mailsigd secrets rotate`: re-encrypts every stored secret under a new master key.
//!
//! Stop the daemon first: it keeps the old key in memory and would fail to decrypt the
//! rotated records (and secrets it adds meanwhile would stay under the old key). The crash
//! safety argument (why the key file is swapped only after the commit) is in
//! [`crate::vault::rotation`].

use crate::domain::{AuditAction, AuditObject};
use std::path::Path;

use clap::Subcommand;

use crate::store::{SecretId, Store, StoredSecret};
use crate::vault::{Binding, KeySource, MasterKey, SealedSecret, Vault, reseal, rotation};

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Generate a new master key and re-encrypt every stored secret with it, atomically.
    /// Run it again after an interruption: it finishes or discards the half-done rotation.
    Rotate,
}

pub async fn execute(config_path: &Path, command: SecretsCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = match command {
        SecretsCommand::Rotate => rotate(&config.master_key_file, &config, &store).await,
    };
    store.close().await;
    result
}

async fn rotate(key_file: &Path, config: &crate::config::Config, store: &Store) -> CliResult {
    let (old_vault, source) = context::load_vault(config)?;
    if let KeySource::Credential(path) = source {
        return Err(CliError::msg(
            Exit::Config,
            format!(
                "rotate secrets: the master key comes from the systemd credential {}; rotation writes \
                 the key file {}, so run it without $CREDENTIALS_DIRECTORY and then update the credential",
                path.display(),
                key_file.display()
            ),
        ));
    }
    // A running daemon (any replica) writes sealed secrets under the old key meanwhile (rotated
    // refresh tokens, newly linked mailboxes), and those would be lost: refuse while any
    // replica's heartbeat is live. A daemon that stopped cleanly removed its row.
    let live = store
        .live_replica_loads()
        .await
        .or_exit("look for running daemons")?;
    if !live.is_empty() {
        return Err(CliError::msg(
            Exit::Unavailable,
            format!(
                "rotate secrets: {} daemon replica(s) are running ({}); stop every mailsigd first \
                 (a dead replica stops counting once its heartbeat expires, within a minute)",
                live.len(),
                live.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    // Records from before bindings are re-sealed for their rows under the current key first,
    // so the rotation below moves bound records only.
    context::bind_secrets(store, &old_vault).await?;
    let records = store
        .all_secrets()
        .await
        .or_exit("read the stored secrets")?;

    // An earlier rotation may have stopped halfway: find out which key the records are under.
    if let Some(pending) =
        rotation::load_pending_key(key_file).or_exit("read the pending master key")?
    {
        if !records.is_empty() && all_open(&Vault::new(pending), &records) {
            rotation::commit_pending_key(key_file).or_exit("install the new master key")?;
            println!(
                "finished an interrupted rotation: {} secrets are under the new master key",
                records.len()
            );
            return Ok(());
        }
        rotation::discard_pending_key(key_file).or_exit("discard the unused pending master key")?;
    }

    let new_key = MasterKey::generate().or_exit("generate the new master key")?;
    let new_vault = Vault::new(new_key.clone());
    let mut resealed: Vec<(SecretId, Vec<u8>)> = Vec::with_capacity(records.len());
    for record in &records {
        let sealed = SealedSecret::from_bytes(record.sealed.clone());
        let binding = Binding::secret(record.kind, record.id);
        let moved = reseal(&old_vault, &new_vault, &binding, &sealed).map_err(|e| {
            CliError::new(Exit::Data, e).context(format!(
                "re-encrypt secret {}: it does not open with the current master key; nothing was changed",
                record.id.0
            ))
        })?;
        resealed.push((record.id, moved.into_bytes()));
    }
    let next_version = records.iter().map(|r| r.key_version).max().unwrap_or(1) + 1;

    rotation::write_pending_key(key_file, &new_key).or_exit("write the new master key")?;
    let count = match store.replace_all_secrets(resealed, next_version).await {
        Ok(count) => count,
        Err(e) => {
            // Nothing committed: the old key stays current.
            let _ = rotation::discard_pending_key(key_file);
            return Err(e).or_exit("re-encrypt the stored secrets");
        }
    };
    rotation::commit_pending_key(key_file).or_exit("install the new master key")?;
    let detail = format!("{count} secrets, key version {next_version}");
    context::audit(
        store,
        AuditAction::SecretsRotate,
        AuditObject::Secrets,
        None,
        Some(&detail),
    )
    .await?;
    println!(
        "rotated {count} secrets to a new master key in {}",
        key_file.display()
    );
    Ok(())
}

fn all_open(vault: &Vault, records: &[StoredSecret]) -> bool {
    records.iter().all(|r| {
        vault
            .open(
                &Binding::secret(r.kind, r.id),
                &SealedSecret::from_bytes(r.sealed.clone()),
            )
            .is_ok()
    })
}
