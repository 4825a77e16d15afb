//! Configuration errors. Each names the file, key or variable at fault so the one-line message
//! printed by the CLI is enough to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist (create one with `mailsigd init`)", path.display())]
    Missing { path: PathBuf },
    #[error("read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax, a wrong type or an unknown key; `message` comes from the TOML parser and
    /// includes the line and column.
    #[error("parse config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl ConfigError {
    /// True when the configuration file is absent (exit code 66, "no input"); every other
    /// configuration error is exit code 78.
    pub fn is_missing(&self) -> bool {
        matches!(self, ConfigError::Missing { .. })
    }

    pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key,
            reason: reason.into(),
        }
    }
}
