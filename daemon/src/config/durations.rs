//! Duration keys of the configuration (`"30s"`, `"15m"`), parsed one way for every section.

use std::time::Duration;

use super::ConfigError;

/// A duration key (`"30s"`, `"15m"`), or its default when absent.
pub(super) fn duration(
    key: &'static str,
    text: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            ConfigError::invalid(
                key,
                format!("{text:?} is not a duration like \"30s\" or \"15m\" ({e})"),
            )
        }),
    }
}
