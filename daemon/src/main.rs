//! `mailsigd`: parses the command line and hands over to [`mailsig_daemon::cli`]. Every error
//! ends here as one line on stderr and a sysexits exit code.

use std::process::ExitCode;

use mailsig_daemon::cli::{self, Exit};

/// mimalloc rather than the system allocator: the signature engine makes many small,
/// short-lived allocations per message (lines, cells, candidate strings), and mimalloc cuts
/// its CPU time per message by about 10% (parser/README.md, "Timing") while bare
/// mail-parser's is unchanged. Built from source by the `cc` crate; no system library.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
