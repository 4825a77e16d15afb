//! `[address_books]` → [`BookSettings`]: where the CardDAV servers lists connect to may be, how
//! long one request may take, and how often connected books are synced.

use std::time::Duration;

use super::ConfigError;
use super::durations::duration;
use super::raw::RawAddressBooks;
use crate::books::BookSettings;

pub(super) fn from_raw(raw: RawAddressBooks) -> Result<BookSettings, ConfigError> {
    let d = BookSettings::default();
    let positive = |key: &'static str, value: Duration| {
        if value.is_zero() {
            Err(ConfigError::invalid(key, "must be more than 0"))
        } else {
            Ok(value)
        }
    };
    Ok(BookSettings {
        allow_private_hosts: raw.allow_private_hosts.unwrap_or(d.allow_private_hosts),
        allowed_hosts: raw
            .allowed_hosts
            .unwrap_or_default()
            .iter()
            .map(|h| crate::sources::host_guard::normalise(h))
            .collect(),
        allow_http: raw.allow_http.unwrap_or(d.allow_http),
        timeout: positive(
            "address_books.timeout",
            duration("address_books.timeout", raw.timeout, d.timeout)?,
        )?,
        interval: positive(
            "address_books.interval",
            duration("address_books.interval", raw.interval, d.interval)?,
        )?,
    })
}
