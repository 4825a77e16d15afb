//! What most commands need before they can act: the validated configuration, logging, the
//! migrated store and the vault.

use crate::domain::{AuditAction, AuditObject};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::config::{Config, DatabaseUrl};
use crate::store::{Store, StoreOptions};
use crate::vault::{KeySource, MasterKey, Vault};

use super::exit::{CliResult, OrExit};

/// Loads and validates the configuration, then starts logging as it says (to stderr).
pub fn load_config(path: &Path) -> CliResult<Config> {
    let config = Config::load(path).or_exit("load configuration")?;
    // A second subscriber (tests calling twice in one process) is not an error worth failing on.
    let _ = crate::telemetry::init(config.log.format, &config.log.level);
    Ok(config)
}

/// Opens the database named by the configuration and applies pending migrations.
pub async fn open_store(config: &Config) -> CliResult<Store> {
    if let DatabaseUrl::Sqlite { path, .. } = &config.database_url
        && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .or_exit("create the database directory")?;
    }
    let options = StoreOptions {
        digest_interval: config.notify.digest_interval,
        ..StoreOptions::default()
    };
    let url = config
        .database_connect_url()
        .or_exit("read the database password")?;
    let store = Store::open_with(&url, options)
        .await
        .or_exit("open the database")?;
    store.migrate().await.or_exit("migrate the database")?;
    if let DatabaseUrl::Sqlite { path, .. } = &config.database_url {
        // SQLite creates the file with the umask's mode; the -wal and -shm files copy the
        // database file's mode, so making it private once covers all three.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .or_exit("make the database file private")?;
    }
    Ok(store)
}

/// Loads the master key (systemd credential or key file) and builds the vault.
pub fn load_vault(config: &Config) -> CliResult<(Vault, KeySource)> {
    let (key, source) = MasterKey::load(&config.master_key_file).or_exit("load the master key")?;
    Ok((Vault::new(key), source))
}

/// Re-seals records written before bindings existed for their rows (once per database; see
/// [`crate::vault::upgrade`]). Every command that opens a stored secret runs this first.
pub async fn bind_secrets(store: &Store, vault: &Vault) -> CliResult {
    crate::vault::upgrade::bind_unbound_records(store, vault)
        .await
        .or_exit("re-seal the stored secrets for their rows")?;
    Ok(())
}

/// Configuration and store, for commands that manage data.
pub async fn admin(path: &Path) -> CliResult<(Config, Store)> {
    let config = load_config(path)?;
    let store = open_store(&config).await?;
    Ok((config, store))
}

/// The master-key generation that new records are sealed under: the highest one in the store
/// (rotation bumps it), or 1 before any secret exists.
pub async fn current_key_version(store: &Store) -> CliResult<i64> {
    let secrets = store
        .all_secrets()
        .await
        .or_exit("read the stored secrets")?;
    Ok(secrets.iter().map(|s| s.key_version).max().unwrap_or(1))
}

/// `check-config`: both configuration stages and the master key. When the SQLite database
/// already exists, also checks that the key opens every stored secret (a restored database
/// with the wrong key file is otherwise only noticed when every mailbox fails to log in).
/// PostgreSQL is not contacted: the check must work without the network.
pub async fn check_config(path: &Path) -> CliResult {
    let config = load_config(path)?;
    let (vault, source) = load_vault(&config)?;
    let secrets = match &config.database_url {
        DatabaseUrl::Sqlite { path, .. } if path.exists() => check_secrets(&config, &vault).await?,
        _ => "secrets not checked".to_owned(),
    };
    let https = match &config.http.tls {
        Some(files) => format!(
            "https certificate {}",
            crate::http::tls::check_files(files).map_err(|e| {
                super::exit::CliError::new(super::exit::Exit::Config, e)
                    .context("load the https certificate")
            })?
        ),
        None => "plain http".to_owned(),
    };
    println!(
        "ok: {}, master key from {source}, {secrets}, {https}",
        config.summary()
    );
    Ok(())
}

async fn check_secrets(config: &Config, vault: &Vault) -> CliResult<String> {
    let url = config
        .database_connect_url()
        .or_exit("read the database password")?;
    let store = Store::open(&url).await.or_exit("open the database")?;
    let records = store.all_secrets().await;
    store.close().await;
    let Ok(records) = records else {
        // A database not yet migrated has no secrets table; `run` will create it.
        return Ok("secrets not checked".to_owned());
    };
    // Read-only: a record not yet re-sealed for its row (the daemon does that at its next
    // start) is checked as it is.
    let failed = records
        .iter()
        .filter(|r| {
            let sealed = crate::vault::SealedSecret::from_bytes(r.sealed.clone());
            let opened = if sealed.is_unbound() {
                vault.open_unbound(&sealed).map(drop)
            } else {
                vault
                    .open(&crate::vault::Binding::secret(r.kind, r.id), &sealed)
                    .map(drop)
            };
            opened.is_err()
        })
        .count();
    if failed > 0 {
        return Err(super::exit::CliError::msg(
            super::exit::Exit::Data,
            format!(
                "check stored secrets: {failed} of {} do not open with this master key (wrong key file?)",
                records.len()
            ),
        ));
    }
    Ok(format!("{} stored secrets open", records.len()))
}

/// Records an operator's change in the audit log. The CLI acts as the operator, so the actor is
/// `None`; the detail names objects by id and role, never content. A change that cannot be
/// audited fails the command loudly rather than going unrecorded.
pub async fn audit(
    store: &Store,
    action: AuditAction,
    object_kind: AuditObject,
    object_id: Option<i64>,
    detail: Option<&str>,
) -> CliResult {
    store
        .record_audit(None, action, object_kind, object_id, detail)
        .await
        .or_exit("record the change in the audit log")
}
