//! `mailsigd`: parses the command line and hands over to [`mailsig_daemon::cli`]. Every error
//! ends here as one line on stderr and a sysexits exit code.

use std::process::ExitCode;

use mailsig_daemon::cli::{self, Exit};

fn main() -> ExitCode {
    let outcome = cli::parse_args().and_then(cli::execute);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.exit == Exit::Ok => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", err.line());
            err.exit.into()
        }
    }
}
