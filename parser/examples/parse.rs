//! Prints one scorer prediction (JSON) per file given on the command line, like
//! `mailsigd parse --json FILE...`, so the engine can be scored without the daemon.

use std::io::Write;

fn main() {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(raw) => {
                if std::env::var_os("MAILSIG_TRACE").is_some() {
                    for line in mailsig_parser::debug_trace(&raw) {
                        eprintln!("{line}");
                    }
                }
                let x = mailsig_parser::extract(&raw);
                // MAILSIG_FULL=1: the whole extraction (rules, lines, diagnostics), to compare
                // two builds of the engine output for output.
                let line = if std::env::var_os("MAILSIG_FULL").is_some() {
                    format!("{path} {x:?}")
                } else {
                    mailsig_parser::prediction_json(&path, &x).to_string()
                };
                if writeln!(out, "{line}").is_err() {
                    std::process::exit(1);
                }
            }
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
