//! `[webhooks]` → [`WebhookSettings`]: where a list's webhooks may point and how deliveries are
//! retried, and how long delivered and failed deliveries stay in the log.

use std::time::Duration;

use super::ConfigError;
use super::durations::duration;
use super::raw::RawWebhooks;
use crate::webhooks::WebhookSettings;

pub(super) fn from_raw(raw: RawWebhooks) -> Result<WebhookSettings, ConfigError> {
    let d = WebhookSettings::default();
    let positive = |key: &'static str, value: Duration| {
        if value.is_zero() {
            Err(ConfigError::invalid(key, "must be more than 0"))
        } else {
            Ok(value)
        }
    };
    let settings = WebhookSettings {
        allow_private_hosts: raw.allow_private_hosts.unwrap_or(d.allow_private_hosts),
        allowed_hosts: raw
            .allowed_hosts
            .unwrap_or_default()
            .iter()
            .map(|h| crate::sources::host_guard::normalise(h))
            .collect(),
        allow_http: raw.allow_http.unwrap_or(d.allow_http),
        poll_interval: positive(
            "webhooks.poll_interval",
            duration("webhooks.poll_interval", raw.poll_interval, d.poll_interval)?,
        )?,
        retry_base: positive(
            "webhooks.retry_base",
            duration("webhooks.retry_base", raw.retry_base, d.retry_base)?,
        )?,
        retry_max: positive(
            "webhooks.retry_max",
            duration("webhooks.retry_max", raw.retry_max, d.retry_max)?,
        )?,
        max_attempts: match raw.max_attempts {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "webhooks.max_attempts",
                    "must be at least 1",
                ));
            }
            Some(n) => n,
            None => d.max_attempts,
        },
        timeout: positive(
            "webhooks.timeout",
            duration("webhooks.timeout", raw.timeout, d.timeout)?,
        )?,
        retention: positive(
            "webhooks.retention",
            duration("webhooks.retention", raw.retention, d.retention)?,
        )?,
    };
    Ok(settings)
}
