//! The Graph transport: a notification submitted with Microsoft Graph `sendMail` from the technical
//! user's mailbox, for Microsoft 365 customers whose tenant has SMTP AUTH switched off.
//!
//! `POST {graph_url}/users/{mailbox}/sendMail` with the message in MIME form (the documented
//! `Content-Type: text/plain` body holding the base64 of the RFC 5322 bytes), so the digest is
//! exactly the message the SMTP transport would submit; Graph answers 202 and takes the
//! recipients from the To header. The bearer token comes from an [`AccessTokens`] source (the
//! client-credentials grant with the `Mail.Send` application permission, usually). A 401 gets one
//! fresh token and one more try. Graph's answer is reduced to its HTTP status and error code.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::Mailbox;
use secrecy::ExposeSecret;
use url::Url;

use super::error::{NotifyError, SmtpFailure, Stage};
use super::oauth::AccessTokens;
use super::outgoing::OutgoingMail;

/// Default time allowed for one `sendMail` request.
pub const DEFAULT_GRAPH_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and as whom the Graph transport sends.
#[derive(Debug, Clone)]
pub struct GraphSendSettings {
    /// The Graph API base, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: Url,
    /// The sending mailbox: its user id or user principal name.
    pub mailbox: String,
    /// The From address of every notification.
    pub from: Mailbox,
    pub timeout: Duration,
}

impl GraphSendSettings {
    /// `host:port` of the Graph endpoint, for messages.
    pub fn server(&self) -> String {
        format!(
            "{}:{}",
            self.graph_url.host_str().unwrap_or("graph"),
            self.graph_url.port_or_known_default().unwrap_or(443)
        )
    }

    /// The `sendMail` URL of the mailbox.
    pub fn send_mail_url(&self) -> Result<Url, NotifyError> {
        let mut url = self.graph_url.clone();
        url.path_segments_mut()
            .map_err(|()| self.config_error("the Graph URL cannot carry a path"))?
            .pop_if_empty()
            .extend(["users", self.mailbox.as_str(), "sendMail"]);
        Ok(url)
    }

    fn config_error(&self, reason: &str) -> NotifyError {
        NotifyError::Graph {
            server: self.server(),
            stage: Stage::Connect,
            failure: SmtpFailure::Tls,
            reply: reason.to_owned(),
        }
    }
}

/// Sends through Graph. Clones share the HTTP connection pool and the token source.
#[derive(Clone)]
pub(crate) struct GraphMailer {
    settings: GraphSendSettings,
    http: reqwest::Client,
    tokens: Arc<dyn AccessTokens>,
}

impl GraphMailer {
    pub(crate) fn new(
        settings: GraphSendSettings,
        tokens: Arc<dyn AccessTokens>,
    ) -> Result<GraphMailer, NotifyError> {
        let loopback = matches!(
            settings.graph_url.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || settings.graph_url.host_str() == Some("localhost");
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            // Plain HTTP only to an endpoint on this machine (an emulator, a local bridge).
            .https_only(!loopback)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| settings.config_error("cannot build the HTTP client"))?;
        Ok(GraphMailer {
            settings,
            http,
            tokens,
        })
    }

    pub(crate) fn settings(&self) -> &GraphSendSettings {
        &self.settings
    }

    /// A token from the source (the `token` step).
    pub(crate) async fn token(&self, refresh: bool) -> Result<secrecy::SecretString, NotifyError> {
        self.tokens
            .access_token(refresh)
            .await
            .map_err(|failure| NotifyError::token(self.settings.server(), true, &failure))
    }

    pub(crate) async fn send(&self, mail: &OutgoingMail) -> Result<(), NotifyError> {
        let body = STANDARD.encode(&mail.bytes);
        match self.post(&body, false).await {
            Err(err) if err.failure() == Some(SmtpFailure::TokenRejected) && err_is_401(&err) => {
                self.post(&body, true).await
            }
            other => other,
        }
    }

    async fn post(&self, body: &str, refresh: bool) -> Result<(), NotifyError> {
        let token = self.token(refresh).await?;
        let url = self.settings.send_mail_url()?;
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| self.network_error(&e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let code = response
            .json::<GraphErrorBody>()
            .await
            .ok()
            .and_then(|b| b.error)
            .and_then(|e| e.code)
            .map(|c| error_code(&c))
            .unwrap_or_else(|| "no error code".to_owned());
        let (stage, failure) = match status {
            401 | 403 => (Stage::Auth, SmtpFailure::TokenRejected),
            // The mailbox does not exist (or the app may not see it): the setting is wrong.
            404 => (Stage::Auth, SmtpFailure::TokenRejected),
            408 | 429 | 500..=599 => (Stage::Send, SmtpFailure::Transient),
            _ => (Stage::Send, SmtpFailure::Permanent),
        };
        Err(NotifyError::Graph {
            server: self.settings.server(),
            stage,
            failure,
            reply: format!("{status} {code}"),
        })
    }

    fn network_error(&self, error: &reqwest::Error) -> NotifyError {
        let (failure, reply) = if error.is_timeout() {
            (SmtpFailure::Timeout, "timed out")
        } else if has_certificate_error(error) {
            (SmtpFailure::UntrustedCertificate, "certificate not trusted")
        } else if error.is_connect() {
            (SmtpFailure::Unreachable, "connection failed")
        } else {
            (SmtpFailure::Unreachable, "request failed")
        };
        NotifyError::Graph {
            server: self.settings.server(),
            stage: Stage::Connect,
            failure,
            reply: reply.to_owned(),
        }
    }
}

fn err_is_401(err: &NotifyError) -> bool {
    matches!(err, NotifyError::Graph { reply, .. } if reply.starts_with("401"))
}

#[derive(serde::Deserialize)]
struct GraphErrorBody {
    error: Option<GraphErrorDetail>,
}

#[derive(serde::Deserialize)]
struct GraphErrorDetail {
    code: Option<String>,
}

/// A Graph error code is a short identifier (`ErrorAccessDenied`); anything else is not repeated.
fn error_code(code: &str) -> String {
    if code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        code.to_owned()
    } else {
        "malformed error code".to_owned()
    }
}

fn has_certificate_error(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = cause {
        if matches!(
            current.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_))
        ) {
            return true;
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && matches!(
                inner.downcast_ref::<rustls::Error>(),
                Some(rustls::Error::InvalidCertificate(_))
            )
        {
            return true;
        }
        cause = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_mail_url_names_the_mailbox_as_one_segment() -> Result<(), Box<dyn std::error::Error>>
    {
        let settings = GraphSendSettings {
            graph_url: Url::parse("https://graph.microsoft.com/v1.0")?,
            mailbox: "notify/../x@contoso.com".into(),
            from: "mailsig <notify@contoso.com>".parse()?,
            timeout: DEFAULT_GRAPH_TIMEOUT,
        };
        assert_eq!(
            settings.send_mail_url()?.as_str(),
            "https://graph.microsoft.com/v1.0/users/notify%2F..%2Fx@contoso.com/sendMail"
        );
        assert_eq!(settings.server(), "graph.microsoft.com:443");
        assert_eq!(error_code("ErrorAccessDenied"), "ErrorAccessDenied");
        assert_eq!(error_code("<b>"), "malformed error code");
        Ok(())
    }
}
