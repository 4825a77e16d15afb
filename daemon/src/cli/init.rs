//! `mailsigd init`: a working installation in one command. Writes the configuration (the
//! documented example with `data_dir` filled in), creates the data directory (0700), a new
//! 256-bit master key (0600) and the database. Never overwrites anything.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::vault::MasterKey;

use super::context;
use super::exit::{CliError, CliResult, Exit, OrExit};

/// The documented example configuration; `init` writes it with the data directory filled in.
const EXAMPLE_CONFIG: &str = include_str!("../../../config/example.toml");
const EXAMPLE_DATA_DIR_LINE: &str = "data_dir = \"/var/lib/mailsig\"";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory to create (database, master key). Relative paths are taken from the
    /// configuration file's directory.
    #[arg(long, default_value = "mailsig-data")]
    pub data_dir: PathBuf,
}

/// What `init` created, for the caller to report: printed by `mailsigd init`, logged by
/// `mailsigd run --init` (whose log must not start with lines in another format).
#[derive(Debug)]
pub struct Created {
    pub config: PathBuf,
    pub master_key: PathBuf,
    /// The database URL (never holds a password: SQLite, a file path).
    pub database: String,
}

impl Created {
    /// The three notices as text lines on standard output.
    pub fn print(&self) {
        println!("created config {}", self.config.display());
        println!(
            "created master key {} (back it up: without it the stored passwords cannot be read)",
            self.master_key.display()
        );
        println!("created database {}", self.database);
    }

    /// The same notices as log events (logging is set up by then).
    pub fn log(&self) {
        tracing::info!(config = %self.config.display(), "created config");
        tracing::info!(
            master_key = %self.master_key.display(),
            "created master key (back it up: without it the stored passwords cannot be read)"
        );
        tracing::info!(database = %self.database, "created database");
    }
}

pub async fn init(config_path: &Path, args: InitArgs) -> CliResult<Created> {
    if config_path.exists() {
        return Err(CliError::msg(
            Exit::CantCreate,
            format!(
                "create config file {}: it already exists; refusing to overwrite it",
                config_path.display()
            ),
        ));
    }
    let base = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::fs::canonicalize(base).or_exit("find the configuration directory")?;
    let data_dir = if args.data_dir.is_absolute() {
        args.data_dir.clone()
    } else {
        base.join(&args.data_dir)
    };

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data_dir)
        .or_exit("create the data directory")?;
    let key_file = data_dir.join(crate::config::validate::DEFAULT_MASTER_KEY_FILE);
    let key = MasterKey::generate().or_exit("generate the master key")?;
    key.write_new_file(&key_file)
        .or_exit("write the master key")?;

    let data_dir_text = data_dir.to_str().ok_or_else(|| {
        CliError::msg(
            Exit::Data,
            "write config: the data directory path is not UTF-8",
        )
    })?;
    let data_dir_line = format!(
        "data_dir = {}",
        toml::Value::String(data_dir_text.to_owned())
    );
    let text = EXAMPLE_CONFIG.replacen(EXAMPLE_DATA_DIR_LINE, &data_dir_line, 1);
    write_new_private(config_path, text.as_bytes()).or_exit("write the config file")?;

    // Prove the result works: load it back the way `run` will, and create the database.
    let config = context::load_config(config_path)?;
    let store = context::open_store(&config).await?;
    store.close().await;
    Ok(Created {
        config: config_path.to_path_buf(),
        master_key: key_file,
        database: config.database_url.to_string(),
    })
}

/// Creates `path` with mode 0600, failing if it exists.
fn write_new_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content)?;
    file.sync_all()
}
