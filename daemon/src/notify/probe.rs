//! `test_connection`: the check behind `mailsigd smtp test`. It walks the conversation one step at a
//! time (connect with TLS or plain, STARTTLS, AUTH, QUIT) so that the error names the step that
//! failed: unreachable, untrusted certificate, STARTTLS refused, wrong password.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};

use super::error::{NotifyError, Stage};
use super::mailer::MECHANISMS;
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
    let server = settings.server();
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

    let credentials = Credentials::new(
        settings.username.clone(),
        password.expose_secret().to_owned(),
    );
    step(
        &server,
        Stage::Auth,
        timeout,
        conn.auth(&MECHANISMS, &credentials),
    )
    .await?;
    // A failed QUIT after a successful AUTH does not make the settings wrong.
    let _ = tokio::time::timeout(timeout, conn.quit()).await;
    Ok(())
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
