//! `mailsigd smtp set-password|sign-in|test`: the notification account's password, or its
//! delegated OAuth grant (signed in at the provider once, its refresh token kept sealed and
//! refreshed from then on), stored encrypted and write-only; and a live check of the `[smtp]`
//! settings that names the failing step (token, connect, starttls, authenticate, send) for either
//! transport and every way of logging in.

use std::path::Path;
use std::sync::Arc;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use crate::config::{Config, SmtpAuthConfig, SmtpConfig, SmtpTransport};
use crate::notify::{AccessTokens, Addressing, Mailbox, Mailer, SmtpAuth};
use crate::sources::oauth::{AppTokens, StoredBearer, TokenClient, TokenHome};
use crate::store::{SecretKind, Store};
use crate::vault::{Binding, SealedSecret, Vault};

use super::exit::{CliError, CliResult, Exit, OrExit};
use super::password::PasswordSource;
use super::{context, loopback_oauth};

/// Name of the installation-wide secret holding the SMTP password.
pub const SMTP_SECRET_NAME: &str = "smtp";

/// Name of the installation-wide secret holding the technical user's delegated OAuth tokens.
pub const SMTP_OAUTH_SECRET_NAME: &str = "smtp-oauth";

#[derive(Debug, Subcommand)]
pub enum SmtpCommand {
    /// Store the SMTP password, encrypted. It can never be read back, only replaced.
    SetPassword(PasswordSource),
    /// Sign the technical user in at the provider of `smtp.oauth_provider` (auth =
    /// "oauth2_user") in a browser, store the grant encrypted, and test the login with it.
    SignIn(SignInArgs),
    /// Connect, secure and log in to the configured SMTP server (getting the OAuth token
    /// first), then quit. Sends no mail unless --send-to is given.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Also submit one short test message to this address (the only full check of the Graph
    /// transport, which has no login without sending).
    #[arg(long)]
    pub send_to: Option<String>,
}

#[derive(Debug, Args)]
pub struct SignInArgs {
    /// Loopback port of the redirect URI (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub redirect_port: u16,
}

pub async fn execute(config_path: &Path, command: SmtpCommand) -> CliResult {
    let (config, store) = context::admin(config_path).await?;
    let result = match command {
        SmtpCommand::SetPassword(source) => set_password(&config, &store, &source).await,
        SmtpCommand::SignIn(args) => sign_in(&config, &store, args).await,
        SmtpCommand::Test(args) => test(&config, &store, args).await,
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

async fn sign_in(config: &Config, store: &Store, args: SignInArgs) -> CliResult {
    let smtp = config
        .smtp
        .as_ref()
        .ok_or_else(|| CliError::msg(Exit::Config, "smtp sign-in: no [smtp] host is configured"))?;
    let (SmtpTransport::Smtp(settings), SmtpAuthConfig::OAuthUser { provider, scopes }) =
        (&smtp.transport, &smtp.auth)
    else {
        return Err(CliError::msg(
            Exit::Config,
            "smtp sign-in: [smtp] needs auth = \"oauth2_user\"",
        ));
    };
    let client = token_client(config, provider)?;
    let (vault, _) = context::load_vault(config)?;
    context::bind_secrets(store, &vault).await?;
    let tokens = loopback_oauth::sign_in(
        Arc::clone(client.provider()),
        scopes,
        &settings.username,
        args.redirect_port,
        "smtp sign-in",
        || store.now_ms(),
    )
    .await?;
    let key_version = context::current_key_version(store).await?;
    store
        .set_named_secret_sealed_by(
            SMTP_OAUTH_SECRET_NAME,
            SecretKind::OauthTokens,
            key_version,
            |id| {
                tokens
                    .seal(&vault, id)
                    .map(SealedSecret::into_bytes)
                    .map_err(|_| crate::store::Error::Invalid {
                        what: "smtp oauth tokens",
                        reason: "could not be encrypted".to_owned(),
                    })
            },
        )
        .await
        .or_exit("store the smtp sign-in")?;
    println!("smtp sign-in stored (encrypted) for {}", settings.username);
    let auth = notifier_auth(config, smtp, store, &vault).await?;
    crate::notify::test_login(settings, &auth, None)
        .await
        .or_exit("smtp sign-in")?;
    println!(
        "ok: {} accepted the XOAUTH2 login of {}",
        smtp.transport.server(),
        settings.username
    );
    Ok(())
}

async fn test(config: &Config, store: &Store, args: TestArgs) -> CliResult {
    let smtp = config
        .smtp
        .as_ref()
        .ok_or_else(|| CliError::msg(Exit::Config, "test smtp: no [smtp] host is configured"))?;
    let send_to: Option<Mailbox> = match args.send_to.as_deref() {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| {
            CliError::msg(Exit::Usage, "test smtp: --send-to is not an e-mail address")
        })?),
    };
    let (vault, _) = context::load_vault(config)?;
    context::bind_secrets(store, &vault).await?;
    let auth = notifier_auth(config, smtp, store, &vault).await?;
    let server = smtp.transport.server();
    match (&smtp.transport, &auth) {
        (SmtpTransport::Smtp(settings), auth) => {
            crate::notify::test_login(settings, auth, None)
                .await
                .or_exit("test smtp")?;
            let how = match auth {
                SmtpAuth::Password(_) => "login",
                SmtpAuth::OAuth(_) => "XOAUTH2 login",
            };
            println!("ok: {server} accepted the {how} of {}", settings.username);
        }
        (SmtpTransport::Graph(settings), SmtpAuth::OAuth(tokens)) => {
            crate::notify::test_graph(settings, tokens.as_ref())
                .await
                .or_exit("test smtp")?;
            println!(
                "ok: got an access token for Graph sendMail as {} ({})",
                settings.mailbox,
                tokens.describe()
            );
        }
        (SmtpTransport::Graph(_), SmtpAuth::Password(_)) => {
            return Err(CliError::msg(
                Exit::Config,
                "test smtp: Graph sendMail needs auth = \"oauth2_app\"",
            ));
        }
    }
    if let Some(to) = send_to {
        let mailer = Mailer::build(smtp.transport.clone(), auth).or_exit("test smtp")?;
        let addressing = Addressing {
            from: mailer.from().clone(),
            to,
            public_base_url: config.http.public_base_url.clone(),
        };
        let mail =
            crate::notify::compose_test(&addressing, crate::clock::now()).or_exit("test smtp")?;
        mailer.send(&mail).await.or_exit("test smtp")?;
        println!("ok: {server} accepted the test message {}", mail.message_id);
    }
    Ok(())
}

/// How the notifier logs in, as `[smtp]` says: the password (file or vault), or an app-only
/// token source at the configured provider.
pub async fn notifier_auth(
    config: &Config,
    smtp: &SmtpConfig,
    store: &Store,
    vault: &Vault,
) -> CliResult<SmtpAuth> {
    match &smtp.auth {
        SmtpAuthConfig::Password { password_file } => Ok(SmtpAuth::Password(
            smtp_password(password_file.as_deref(), store, vault).await?,
        )),
        SmtpAuthConfig::OAuthApp { provider, scope } => {
            let client = token_client(config, provider)?;
            let tokens: Arc<dyn AccessTokens> =
                Arc::new(AppTokens::new(client, scope.clone(), store.clock().clone()));
            Ok(SmtpAuth::OAuth(tokens))
        }
        SmtpAuthConfig::OAuthUser { provider, .. } => {
            let client = token_client(config, provider)?;
            match store.named_secret(SMTP_OAUTH_SECRET_NAME).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {
                    return Err(CliError::msg(
                        Exit::Config,
                        "the smtp technical user has not signed in: run `mailsigd smtp sign-in`",
                    ));
                }
                Err(e) => {
                    return Err(
                        CliError::new(Exit::Unavailable, e).context("read the smtp sign-in")
                    );
                }
            }
            let tokens: Arc<dyn AccessTokens> = Arc::new(StoredBearer::new(
                store.clone(),
                vault.clone(),
                client,
                TokenHome::Named(SMTP_OAUTH_SECRET_NAME),
            ));
            Ok(SmtpAuth::OAuth(tokens))
        }
    }
}

/// The token endpoint of the configured provider `name`.
fn token_client(config: &Config, name: &str) -> CliResult<TokenClient> {
    let provider_config = config
        .oauth_providers
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            CliError::msg(
                Exit::Config,
                format!("smtp: no [oauth.providers.{name}] in the configuration"),
            )
        })?;
    let loaded = provider_config
        .load()
        .map_err(|e| CliError::msg(Exit::Config, format!("smtp: {e}")))?;
    TokenClient::new(Arc::new(loaded))
        .map_err(|e| CliError::msg(Exit::Software, format!("smtp: {e}")))
}

/// The SMTP password: from `smtp.password_file` when configured, else from the vault.
pub async fn smtp_password(
    password_file: Option<&Path>,
    store: &Store,
    vault: &Vault,
) -> CliResult<SecretString> {
    if let Some(path) = password_file {
        let source = PasswordSource {
            password_stdin: false,
            password_file: Some(path.to_path_buf()),
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
