//! Exit codes and the CLI's error type.
//!
//! Every failure leaves the process with one line on stderr, `error: <what failed>: <cause>`,
//! and a sysexits(3) code that says what kind of failure it was, so scripts and systemd
//! (`systemctl status` shows the code) can tell a bad config from a database outage.

use std::fmt;
use std::process::ExitCode;

/// sysexits(3) codes used by `mailsigd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// Bad command line.
    Usage = 64,
    /// Input data was wrong: unknown user, bad e-mail address, undecryptable secret.
    Data = 65,
    /// A file that must exist does not (config, key file, message file).
    NoInput = 66,
    /// A service is unavailable: the database, the IMAP or SMTP server.
    Unavailable = 69,
    /// A bug or an unexpected internal state.
    Software = 70,
    /// Refusing to overwrite an existing file.
    CantCreate = 73,
    /// Reading or writing a file failed.
    Io = 74,
    /// Permission problem: key file mode or owner, authentication refused.
    NoPerm = 77,
    /// The configuration is invalid.
    Config = 78,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error with the exit code it should produce. The message is `anyhow`'s context chain.
pub struct CliError {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            exit,
            error: error.into(),
        }
    }

    /// A plain message (no underlying error).
    pub fn msg(exit: Exit, message: impl fmt::Display + Send + Sync + 'static) -> CliError {
        CliError {
            exit,
            error: anyhow::anyhow!("{message}"),
        }
    }

    /// Adds "what failed" in front of the cause.
    pub fn context(self, what: impl fmt::Display + Send + Sync + 'static) -> CliError {
        CliError {
            exit: self.exit,
            error: self.error.context(what),
        }
    }

    /// The single stderr line: `error: what: cause`, newlines flattened.
    pub fn line(&self) -> String {
        format!("error: {:#}", self.error).replace(['\n', '\r'], " ")
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (exit {})", self.line(), self.exit as u8)
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Lets each module's error pick its exit code: `result.or_exit("open the database")?`.
pub trait OrExit<T> {
    fn or_exit(self, what: &'static str) -> CliResult<T>;
}

impl<T> OrExit<T> for Result<T, crate::config::ConfigError> {
    fn or_exit(self, what: &'static str) -> CliResult<T> {
        self.map_err(|e| {
            let exit = if e.is_missing() {
                Exit::NoInput
            } else {
                Exit::Config
            };
            CliError::new(exit, e).context(what)
        })
    }
}

impl<T> OrExit<T> for Result<T, crate::vault::KeyError> {
    fn or_exit(self, what: &'static str) -> CliResult<T> {
        self.map_err(|e| {
            let exit = if e.is_missing() {
                Exit::NoInput
            } else if e.is_permission() {
                Exit::NoPerm
            } else if e.is_malformed() {
                Exit::Data
            } else if matches!(e, crate::vault::KeyError::Exists { .. }) {
                Exit::CantCreate
            } else {
                Exit::Io
            };
            CliError::new(exit, e).context(what)
        })
    }
}

impl<T> OrExit<T> for Result<T, crate::vault::VaultError> {
    fn or_exit(self, what: &'static str) -> CliResult<T> {
        self.map_err(|e| CliError::new(Exit::Data, e).context(what))
    }
}

impl<T> OrExit<T> for Result<T, crate::store::Error> {
    fn or_exit(self, what: &'static str) -> CliResult<T> {
        self.map_err(|e| {
            use crate::store::Error;
            let exit = match &e {
                Error::NotFound { .. } | Error::Conflict { .. } | Error::Invalid { .. } => {
                    Exit::Data
                }
                Error::Corrupt { .. } | Error::Migrate(_) | Error::Fenced { .. } => Exit::Software,
                Error::UnsupportedUrl { .. } => Exit::Config,
                Error::Database { .. } | Error::Timeout { .. } => Exit::Unavailable,
            };
            CliError::new(exit, e).context(what)
        })
    }
}

impl<T> OrExit<T> for Result<T, std::io::Error> {
    fn or_exit(self, what: &'static str) -> CliResult<T> {
        self.map_err(|e| {
            let exit = match e.kind() {
                std::io::ErrorKind::NotFound => Exit::NoInput,
                std::io::ErrorKind::PermissionDenied => Exit::NoPerm,
                std::io::ErrorKind::AlreadyExists => Exit::CantCreate,
                _ => Exit::Io,
            };
            CliError::new(exit, e).context(what)
        })
    }
}

impl<T> OrExit<T> for Result<T, crate::notify::NotifyError> {
    fn or_exit(self, what: &'static str) -> CliResult<T> {
        self.map_err(|e| {
            let exit = if matches!(
                e.failure(),
                Some(
                    crate::notify::SmtpFailure::AuthRejected
                        | crate::notify::SmtpFailure::TokenRejected
                        | crate::notify::SmtpFailure::TokenRefused
                )
            ) {
                Exit::NoPerm
            } else if e.is_configuration() {
                Exit::Config
            } else if e.is_transient() {
                Exit::Unavailable
            } else {
                Exit::Data
            };
            CliError::new(exit, e).context(what)
        })
    }
}

/// A service refusal as an exit code and one line: field errors spelled out one by one, a
/// refused login a permission problem, an unavailable store or server as such, the other
/// refusals (not found, forbidden, in use, invalid, a failed link) data errors.
pub fn service_refusal(e: &crate::service::ServiceError) -> (Exit, String) {
    use crate::service::ServiceError;
    let exit = match e {
        ServiceError::LinkFailed { auth: true, .. } => Exit::NoPerm,
        ServiceError::Unavailable(_) => Exit::Unavailable,
        ServiceError::Internal(_) => Exit::Software,
        _ => Exit::Data,
    };
    let text = match e {
        ServiceError::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    (exit, text)
}

impl<T> OrExit<T> for Result<T, crate::service::ServiceError> {
    fn or_exit(self, what: &'static str) -> CliResult<T> {
        self.map_err(|e| {
            let (exit, text) = service_refusal(&e);
            CliError::msg(exit, text).context(what)
        })
    }
}
