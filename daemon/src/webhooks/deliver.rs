//! One HTTP attempt of one delivery: the target passes the SSRF guard again (a DNS change after
//! the endpoint was added does not lead inside), the request goes to exactly the checked
//! addresses, redirects are not followed, and the outcome is a status code or a fixed word,
//! never the receiver's text.

use std::error::Error as _;

use reqwest::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};

use crate::domain::AttemptOutcome;
use crate::sources::host_guard::{GuardError, resolve_and_check_with};
use crate::store::Delivery;

use super::WebhookSettings;
use super::sign::{SIGNATURE_HEADER, signature};

/// What one attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub http_status: Option<u16>,
    pub outcome: AttemptOutcome,
}

impl Attempt {
    fn failed(outcome: AttemptOutcome) -> Attempt {
        Attempt {
            http_status: None,
            outcome,
        }
    }
}

/// Sends `delivery` to `url`, signed with `secret` at `now_secs`.
pub async fn attempt(
    settings: &WebhookSettings,
    url: &str,
    secret: &[u8],
    delivery: &Delivery,
    now_secs: i64,
) -> Attempt {
    let Ok(target) = settings.target(url) else {
        return Attempt::failed(AttemptOutcome::Unusable);
    };
    let addrs = match resolve_and_check_with(&target.host, target.port, &settings.policy()).await {
        Ok(addrs) => addrs,
        Err(GuardError::Refused(_) | GuardError::Port) => {
            return Attempt::failed(AttemptOutcome::RefusedHost);
        }
        Err(GuardError::Unresolvable | GuardError::Timeout) => {
            return Attempt::failed(AttemptOutcome::Connect);
        }
    };
    let client = match reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(!settings.allow_http)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .resolve_to_addrs(&target.host, &addrs)
        .build()
    {
        Ok(client) => client,
        Err(_) => return Attempt::failed(AttemptOutcome::Tls),
    };
    let body = delivery.payload.as_bytes().to_vec();
    let signed = signature(secret, now_secs, &body);
    let mut request = client
        .post(target.url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, HeaderValue::from_static("mailsig-webhooks"))
        .header("Mailsig-Event", delivery.event.as_str())
        .header("Mailsig-Delivery", delivery.id.0.to_string());
    request = request.header(SIGNATURE_HEADER, signed);
    match request.body(body).send().await {
        Ok(response) => {
            let status = response.status();
            Attempt {
                http_status: Some(status.as_u16()),
                outcome: if status.is_success() {
                    AttemptOutcome::Delivered
                } else {
                    AttemptOutcome::HttpStatus
                },
            }
        }
        Err(e) if e.is_timeout() => Attempt::failed(AttemptOutcome::Timeout),
        Err(e) if is_tls(&e) => Attempt::failed(AttemptOutcome::Tls),
        Err(_) => Attempt::failed(AttemptOutcome::Connect),
    }
}

/// Whether a rustls error is somewhere in the chain (a certificate or handshake failure).
fn is_tls(e: &reqwest::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        // An I/O error hides its inner error from `source()`: look at it directly.
        let inner = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|i| i.is::<rustls::Error>());
        if inner || s.is::<rustls::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}
