//! The log output formats an operator chooses from (`[log] format`).

use std::fmt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Journald's format under systemd, text on a terminal, JSON otherwise (the default).
    Auto,
    /// Human-readable lines with timestamps.
    Text,
    /// One JSON object per line.
    Json,
    /// Plain lines without timestamps or colours, for journald (which adds its own).
    Journald,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Auto => "auto",
            LogFormat::Text => "text",
            LogFormat::Json => "json",
            LogFormat::Journald => "journald",
        })
    }
}
