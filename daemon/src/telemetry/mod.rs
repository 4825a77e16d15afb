//! Logging: the tracing subscriber (text, JSON or journald lines on stderr) and the helpers
//! that keep mail content out of log lines.
//!
//! Privacy rule for every module: log message ids only through [`hash_id`], and wrap anything
//! that might carry content or a secret in [`Redacted`]. Never log subjects, bodies,
//! signatures, third parties' addresses or passwords.

pub mod exposition_check;
pub mod histogram;
mod journald;
pub mod metrics;

use std::fmt;

use sha2::{Digest, Sha256};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Number of hex digits of the SHA-256 kept by [`hash_id`]: 48 bits tell messages apart in
/// logs without making the hash a useful lookup key.
pub const HASH_ID_HEX_LEN: usize = 12;

/// The first 12 hex digits of the SHA-256 of `id` (a Message-ID, an address): a stable handle
/// to correlate log lines without writing the value itself.
pub fn hash_id(id: impl AsRef<[u8]>) -> String {
    let digest = Sha256::digest(id.as_ref());
    let mut text = hex::encode(digest);
    text.truncate(HASH_ID_HEX_LEN);
    text
}

/// Wraps a value that must not appear in logs; `Debug` and `Display` print `***`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter { filter: String, reason: String },
    #[error("a log subscriber is already installed")]
    AlreadyInstalled,
}

/// Checks an `EnvFilter` directive without installing anything (used by config validation).
pub fn check_filter(directive: &str) -> Result<(), String> {
    EnvFilter::try_new(directive).map(|_| ()).map_err(|e| e.to_string())
}

/// Installs the global subscriber writing to stderr. `RUST_LOG`, when set, overrides `level`.
pub fn init(format: LogFormat, level: &str) -> Result<(), TelemetryError> {
    let directive = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let directive = directive.as_deref().unwrap_or(level);
    let filter = EnvFilter::try_new(directive).map_err(|e| TelemetryError::Filter {
        filter: directive.to_owned(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Journald => builder.event_format(journald::JournaldFormat).try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadyInstalled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_id_is_a_short_stable_sha256_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(hash_id("abc"), "ba7816bf8f01");
        assert_eq!(hash_id("<id@example.com>").len(), HASH_ID_HEX_LEN);
        assert_ne!(hash_id("<a@x>"), hash_id("<b@x>"));
    }

    #[test]
    fn redacted_never_shows_the_value() {
        let secret = Redacted("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
    }

    #[test]
    fn filters_are_checked() {
        assert!(check_filter("info").is_ok());
        assert!(check_filter("mailsig_daemon=debug,warn").is_ok());
        assert!(check_filter("info,[[[").is_err());
    }
}
