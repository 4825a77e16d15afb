//! `mailsigd completions SHELL` and `mailsigd man`: shell completions and manual pages
//! generated from the clap definitions at run time, so they always match `--help`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::Cli;
use super::exit::{CliResult, OrExit};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for. Install, for example:
    /// `mailsigd completions bash > /etc/bash_completion.d/mailsigd`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (mailsigd.1, mailsigd-user.1, mailsigd-user-add.1, …) into
    /// this directory instead of printing mailsigd(1) to standard output.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: &CompletionsArgs) -> CliResult {
    let mut command = Cli::command();
    // Rendered into memory first: `generate` panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "mailsigd", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .or_exit("write the completions")
}

/// Prints mailsigd(1), or writes every command's page into a directory.
pub fn man(args: &ManArgs) -> CliResult {
    let command = Cli::command();
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).or_exit("create the manual directory")?;
            clap_mangen::generate_to(command, dir).or_exit("write the manual pages")?;
            println!("{}", dir.display());
            Ok(())
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .or_exit("write the manual page")?;
            out.flush().or_exit("write the manual page")
        }
    }
}
