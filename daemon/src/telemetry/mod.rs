//! Logging: the tracing subscriber (text, JSON or journald lines on stderr, `auto` picking one
//! from where stderr goes), its filter replaceable at runtime ([`set_level`], used by the
//! SIGHUP reload), the helpers that keep mail content out of log lines, and the metrics
//! plumbing ([`metrics`], [`histogram`]) that `/metrics` renders.
//!
//! Privacy rule for every module: log message ids only through [`hash_id`], and wrap anything
//! that might carry content or a secret in [`Redacted`]. Never log subjects, bodies,
//! signatures, third parties' addresses or passwords. Dependencies' own log output never
//! reaches the writer, whatever the filter ([`policy`]).

pub mod exposition;
// Test-only: compiled into the daemon's unit tests and, by path, into the tests crate; never shipped.
#[cfg(test)]
pub(crate) mod exposition_check;
pub mod histogram;
mod journald;
mod log_format;
pub mod metrics;
pub mod panic;
pub mod policy;

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use tracing_subscriber::layer::{Layer, Layered, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry, reload};

pub use log_format::LogFormat;

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
    #[error("replace the log filter: {0}")]
    Reload(String),
}

/// Checks an `EnvFilter` directive without installing anything (used by config validation).
pub fn check_filter(directive: &str) -> Result<(), tracing_subscriber::filter::ParseError> {
    EnvFilter::try_new(directive).map(|_| ())
}

/// The log filter of the installed subscriber, for [`set_level`] (a reload).
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();
/// Set when `RUST_LOG` chose the filter: it then wins over the configuration, also on reload.
static FILTER_FROM_ENV: AtomicBool = AtomicBool::new(false);

/// The formatting layer, boxed so that the three formats share one subscriber type.
type FormatLayer =
    Box<dyn Layer<Layered<reload::Layer<EnvFilter, Registry>, Registry>> + Send + Sync>;

/// Installs the global subscriber writing to stderr. `RUST_LOG`, when set, overrides `level`.
/// Returns the format actually used (`auto` resolved, see [`resolve_format`]).
///
/// The output layer carries the [`policy::LogPolicy`] after the operator's filter, so no
/// directive lets a dependency's events through; and the subscriber is installed without
/// tracing-subscriber's `log` bridge (`set_global_default`, not `try_init`), so the `log`
/// crate's records (async-imap, html5ever, rustls …) are never even formatted.
pub fn init(format: LogFormat, level: &str) -> Result<LogFormat, TelemetryError> {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let directive = from_env.as_deref().unwrap_or(level);
    let filter = parse_filter(directive)?;
    let (filter, handle) = reload::Layer::new(filter);
    let format = resolve_format(format);
    let layer: FormatLayer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(policy::LogPolicy)
            .boxed(),
        LogFormat::Journald => tracing_subscriber::fmt::layer()
            .event_format(journald::JournaldFormat)
            .with_writer(std::io::stderr)
            .with_filter(policy::LogPolicy)
            .boxed(),
        LogFormat::Text | LogFormat::Auto => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .with_filter(policy::LogPolicy)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    panic::install_hook();
    FILTER_FROM_ENV.store(from_env.is_some(), Ordering::Relaxed);
    // Only the first successful installation gets here, so the cell is empty.
    let _ = FILTER.set(handle);
    Ok(format)
}

/// `auto`: journald's format when stderr is connected to the journal (systemd sets
/// `$JOURNAL_STREAM` to the device and inode of that stream), human-readable text on a
/// terminal, and one JSON object per line otherwise (Docker, files, log shippers).
pub fn resolve_format(format: LogFormat) -> LogFormat {
    if format != LogFormat::Auto {
        return format;
    }
    if stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref()) {
        LogFormat::Journald
    } else if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    }
}

/// Whether `$JOURNAL_STREAM` (`<device>:<inode>`) names this process's stderr (a child that
/// inherited the variable but not the stream must not use journald's format).
fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    let Some((device, inode)) = journal_stream.and_then(|v| v.trim().split_once(':')) else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(std::io::stderr()) else {
        return false;
    };
    device.parse::<u64>().is_ok_and(|d| d == stat.st_dev)
        && inode.parse::<u64>().is_ok_and(|i| i == stat.st_ino)
}

/// What [`set_level`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelChange {
    /// The new filter is in force.
    Applied,
    /// `RUST_LOG` chose the filter at start; it keeps winning.
    OverriddenByEnv,
    /// No subscriber of ours is installed (e.g. a test installed its own).
    NotInstalled,
}

/// Replaces the log filter at runtime (configuration reload).
pub fn set_level(level: &str) -> Result<LevelChange, TelemetryError> {
    let filter = parse_filter(level)?;
    if FILTER_FROM_ENV.load(Ordering::Relaxed) {
        return Ok(LevelChange::OverriddenByEnv);
    }
    let Some(handle) = FILTER.get() else {
        return Ok(LevelChange::NotInstalled);
    };
    handle
        .reload(filter)
        .map_err(|e| TelemetryError::Reload(e.to_string()))?;
    Ok(LevelChange::Applied)
}

fn parse_filter(directive: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(directive).map_err(|e| TelemetryError::Filter {
        filter: directive.to_owned(),
        reason: e.to_string(),
    })
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
    fn only_the_journal_stream_of_our_own_stderr_means_journald() {
        assert!(!stderr_is_journal(None));
        assert!(!stderr_is_journal(Some("garbage")));
        assert!(!stderr_is_journal(Some("1:1")));
        if let Ok(stat) = rustix::fs::fstat(std::io::stderr()) {
            assert!(stderr_is_journal(Some(&format!(
                "{}:{}",
                stat.st_dev, stat.st_ino
            ))));
        }
        assert_eq!(resolve_format(LogFormat::Json), LogFormat::Json);
        assert_ne!(resolve_format(LogFormat::Auto), LogFormat::Auto);
    }

    #[test]
    fn filters_are_checked() {
        assert!(check_filter("info").is_ok());
        assert!(check_filter("mailsig_daemon=debug,warn").is_ok());
        assert!(check_filter("info,[[[").is_err());
    }
}
