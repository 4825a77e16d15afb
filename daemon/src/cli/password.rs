//! Reading a password for a command without it ever being a command-line argument (which any
//! local user can see in `ps`): from standard input or from a file.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::exit::{CliError, CliResult, Exit, OrExit};

/// Passwords are bounded so a wrong file (a log, a binary) is refused rather than stored.
const MAX_PASSWORD_LEN: u64 = 4096;

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PasswordSource {
    /// Read the password from standard input (the first line; the newline is dropped).
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the password from this file (the first line; the newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl PasswordSource {
    /// The password, in a buffer zeroized on drop.
    pub fn read(&self) -> CliResult<Zeroizing<String>> {
        let mut raw = Zeroizing::new(Vec::new());
        if let Some(path) = &self.password_file {
            let file = std::fs::File::open(path).or_exit("open the password file")?;
            file.take(MAX_PASSWORD_LEN + 1)
                .read_to_end(&mut raw)
                .or_exit("read the password file")?;
        } else {
            std::io::stdin()
                .take(MAX_PASSWORD_LEN + 1)
                .read_to_end(&mut raw)
                .or_exit("read the password from standard input")?;
        }
        if raw.len() as u64 > MAX_PASSWORD_LEN {
            return Err(CliError::msg(
                Exit::Data,
                "read the password: longer than 4096 bytes",
            ));
        }
        let text = std::str::from_utf8(&raw)
            .map_err(|_| CliError::msg(Exit::Data, "read the password: not valid UTF-8"))?;
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(CliError::msg(Exit::Data, "read the password: it is empty"));
        }
        Ok(Zeroizing::new(line.to_owned()))
    }
}
