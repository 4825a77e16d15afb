//! `test_connection`: the check behind `mailsigd smtp test`. It walks the conversation one step at a
//! time (with OAuth first the access token, then connect with TLS or plain, STARTTLS, AUTH, QUIT)
//! so that the error names the step that failed: token refused, unreachable, untrusted
//! certificate, STARTTLS refused, wrong password or refused token. The Graph transport has no login
//! without sending, so [`test_graph`] gets the token only.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};

use super::error::{NotifyError, Stage};
use super::graph_send::GraphSendSettings;
use super::mailer::{MECHANISMS, OAUTH_MECHANISMS, SmtpAuth};
use super::oauth::AccessTokens;
use super::settings::{Security, SmtpSettings};

/// Connects, secures, authenticates and quits. `Ok(())` means a notification would be accepted for
/// submission (recipients are not tried). The error's `Display` is the one line to show the operator.
pub async fn test_connection(
    settings: &SmtpSettings,
    password: &SecretString,
) -> Result<(), NotifyError> {
    test_connection_from(settings, password, None).await
}

/// [`test_connection`] from a chosen local address (a multi-homed host, or a test that must not share
/// the server's per-address failed-login penalty with other clients).
pub async fn test_connection_from(
    settings: &SmtpSettings,
    password: &SecretString,
    local_address: Option<std::net::IpAddr>,
) -> Result<(), NotifyError> {
    test_login(
        settings,
        &SmtpAuth::Password(password.clone()),
        local_address,
    )
    .await
}

/// [`test_connection`] for either way of logging in: with OAuth the token is fetched first (step
/// `token`), and a refused token is reported as such rather than as a wrong password.
pub async fn test_login(
    settings: &SmtpSettings,
    auth: &SmtpAuth,
    local_address: Option<std::net::IpAddr>,
) -> Result<(), NotifyError> {
    let server = settings.server();
    let (credentials, mechanisms): (Credentials, &[_]) = match auth {
        SmtpAuth::Password(password) => (
            Credentials::new(
                settings.username.clone(),
                password.expose_secret().to_owned(),
            ),
            &MECHANISMS,
        ),
        SmtpAuth::OAuth(tokens) => {
            let token = tokens
                .access_token(false)
                .await
                .map_err(|failure| NotifyError::token(server.clone(), false, &failure))?;
            (
                Credentials::new(settings.username.clone(), token.expose_secret().to_owned()),
                &OAUTH_MECHANISMS,
            )
        }
    };
    let timeout = settings.command_timeout;
    let hello = ClientId::default();
    let implicit_tls = match settings.security {
        Security::ImplicitTls => Some(settings.tls_parameters()?),
        Security::StartTls => None,
    };

    let connect = AsyncSmtpConnection::connect_tokio1(
        (settings.host.as_str(), settings.port),
        Some(timeout),
        &hello,
        implicit_tls,
        local_address,
    );
    let mut conn = step(&server, Stage::Connect, timeout, connect).await?;

    if settings.security == Security::StartTls {
        let parameters = settings.tls_parameters()?;
        step(
            &server,
            Stage::StartTls,
            timeout,
            conn.starttls(parameters, &hello),
        )
        .await?;
    }

    let authenticated = step(
        &server,
        Stage::Auth,
        timeout,
        conn.auth(mechanisms, &credentials),
    )
    .await;
    match auth {
        // A refused token is about the token or the app's permission, not a password.
        SmtpAuth::OAuth(_) => authenticated.map_err(super::mailer::token_refused)?,
        SmtpAuth::Password(_) => authenticated?,
    };
    // A failed QUIT after a successful AUTH does not make the settings wrong.
    let _ = tokio::time::timeout(timeout, conn.quit()).await;
    Ok(())
}

/// Gets an access token for the Graph transport (the only step Graph has without sending).
pub async fn test_graph(
    settings: &GraphSendSettings,
    tokens: &dyn AccessTokens,
) -> Result<(), NotifyError> {
    tokens
        .access_token(false)
        .await
        .map(drop)
        .map_err(|failure| NotifyError::token(settings.server(), true, &failure))
}

/// Runs one step under our own deadline (lettre's timeout covers single reads and writes only).
async fn step<T>(
    server: &str,
    stage: Stage,
    timeout: std::time::Duration,
    fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, NotifyError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(NotifyError::smtp(server.to_owned(), stage, err)),
        Err(_elapsed) => Err(NotifyError::timeout(server.to_owned(), stage, timeout)),
    }
}
