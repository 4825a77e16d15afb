//! `mailsigd smtp set-password|test`: the password of the notification account, stored
//! encrypted (write-only), and a live check of the `[smtp]` settings.

use std::path::Path;

use clap::Subcommand;
use secrecy::SecretString;

use crate::config::{Config, SmtpConfig};
use crate::store::{SecretKind, Store};
use crate::vault::{Binding, SealedSecret, Vault};

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};
use super::password::PasswordSource;

/// Name of the installation-wide secret holding the SMTP password.
pub const SMTP_SECRET_NAME: &str = "smtp";

#[derive(Debug, Subcommand)]
pub enum SmtpCommand {
    /// Store the SMTP password, encrypted. It can never be read back, only replaced.
    SetPassword(PasswordSource),
    /// Connect, secure and log in to the configured SMTP server, then quit (sends no mail).
    Test,
}

pub async fn execute(config_path: &Path, command: SmtpCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = match command {
        SmtpCommand::SetPassword(source) => set_password(&config, &store, &source).await,
        SmtpCommand::Test => test(&config, &store).await,
    };
    store.close().await;
    result
}

async fn set_password(config: &Config, store: &Store, source: &PasswordSource) -> CliResult {
    let (vault, _) = context::load_vault(config)?;
    let password = source.read()?;
    let key_version = context::current_key_version(store).await?;
    store
        .set_named_secret_sealed_by(
            SMTP_SECRET_NAME,
            SecretKind::SmtpPassword,
            key_version,
            |id| {
                vault
                    .seal(
                        &Binding::secret(SecretKind::SmtpPassword, id),
                        password.as_bytes(),
                    )
                    .map(SealedSecret::into_bytes)
                    .map_err(|_| crate::store::Error::Invalid {
                        what: "smtp password",
                        reason: "could not be encrypted".to_owned(),
                    })
            },
        )
        .await
        .or_exit("store the smtp password")?;
    println!("smtp password stored (encrypted)");
    Ok(())
}

async fn test(config: &Config, store: &Store) -> CliResult {
    let smtp = config
        .smtp
        .as_ref()
        .ok_or_else(|| CliError::msg(Exit::Config, "test smtp: no [smtp] host is configured"))?;
    let (vault, _) = context::load_vault(config)?;
    context::bind_secrets(store, &vault).await?;
    let password = smtp_password(smtp, store, &vault).await?;
    crate::notify::test_connection(&smtp.settings, &password)
        .await
        .or_exit("test smtp")?;
    println!(
        "ok: {} accepted the login of {}",
        smtp.settings.server(),
        smtp.settings.username
    );
    Ok(())
}

/// The SMTP password: from `smtp.password_file` when configured, else from the vault.
pub async fn smtp_password(
    smtp: &SmtpConfig,
    store: &Store,
    vault: &Vault,
) -> CliResult<SecretString> {
    if let Some(path) = &smtp.password_file {
        let source = PasswordSource {
            password_stdin: false,
            password_file: Some(path.clone()),
        };
        let password = source
            .read()
            .map_err(|e| e.context("read smtp.password_file"))?;
        return Ok(SecretString::from(password.as_str()));
    }
    let stored = store.named_secret(SMTP_SECRET_NAME).await.map_err(|e| {
        if e.is_not_found() {
            CliError::msg(
                Exit::Config,
                "no smtp password is stored: run `mailsigd smtp set-password`",
            )
        } else {
            CliError::new(Exit::Unavailable, e).context("read the smtp password")
        }
    })?;
    vault
        .open_string(
            &Binding::secret(SecretKind::SmtpPassword, stored.id),
            &SealedSecret::from_bytes(stored.sealed),
        )
        .or_exit("decrypt the smtp password")
}
