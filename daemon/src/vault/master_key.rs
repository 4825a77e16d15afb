//! The master secret: 256 random bits from which every record key is derived.
//!
//! Where it comes from, in order:
//! 1. `$CREDENTIALS_DIRECTORY/master-key`, the systemd `LoadCredential=` path. systemd has
//!    already made that file private to the service, so no permission check is done there.
//! 2. The configured key file (`master_key_file`). It must be a regular file owned by the user
//!    running the daemon with mode 0600 or 0400; anything looser is refused, because a key
//!    that others can read protects nothing.
//!
//! The file holds the secret as 64 hex digits and a newline, so an operator can back it up
//! or paste it into a credential store without a binary-safe tool.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// File name of the master secret inside `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_NAME: &str = "master-key";

/// The environment variable systemd sets for `LoadCredential=`.
pub const CREDENTIALS_DIRECTORY_ENV: &str = "CREDENTIALS_DIRECTORY";

const KEY_LEN: usize = 32;
/// A key file is 64 hex digits plus a newline; anything much bigger is not a key file.
const MAX_KEY_FILE_LEN: u64 = 1024;

/// The 256-bit master secret. Zeroized on drop; `Debug` shows no content.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Where a master key was loaded from; printed by `check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `$CREDENTIALS_DIRECTORY/master-key` (systemd `LoadCredential=`).
    Credential(PathBuf),
    /// The configured key file.
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Credential(path) => write!(f, "systemd credential {}", path.display()),
            KeySource::File(path) => write!(f, "key file {}", path.display()),
        }
    }
}

/// Why a master key could not be loaded or written. These errors name files, never content.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key file {} does not exist (create one with `mailsigd init`)", path.display())]
    Missing { path: PathBuf },
    #[error("master key file {} already exists; refusing to overwrite it", path.display())]
    Exists { path: PathBuf },
    #[error("read or write master key file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "master key file {} has mode {mode:04o}; it must be 0600 or 0400 (run `chmod 600 {}`)",
        path.display(), path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "master key file {} is owned by uid {owner}, not by the current user (uid {current})",
        path.display()
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        current: u32,
    },
    #[error("master key file {} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("master key file {} does not hold 64 hex digits", path.display())]
    Malformed { path: PathBuf },
    #[error("the operating system's random number generator failed")]
    Random,
}

impl KeyError {
    /// True when the problem is file ownership or mode (exit code 77, "no permission").
    pub fn is_permission(&self) -> bool {
        matches!(self, KeyError::Permissions { .. } | KeyError::Owner { .. })
            || matches!(self, KeyError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied)
    }

    /// True when the key file is absent (exit code 66, "no input").
    pub fn is_missing(&self) -> bool {
        matches!(self, KeyError::Missing { .. })
    }

    /// True when the file exists but does not hold a key (exit code 65, "data error").
    pub fn is_malformed(&self) -> bool {
        matches!(self, KeyError::Malformed { .. } | KeyError::NotAFile { .. })
    }
}

impl MasterKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(key.as_mut()).map_err(|_| KeyError::Random)?;
        Ok(MasterKey(key))
    }

    /// Wraps raw key bytes (tests, and keys that arrive from a credential store).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        MasterKey(Zeroizing::new(bytes))
    }

    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// Loads the key the way the daemon does: the systemd credential when
    /// `$CREDENTIALS_DIRECTORY` is set and holds `master-key`, else `key_file`.
    pub fn load(key_file: &Path) -> Result<(Self, KeySource), KeyError> {
        let credentials_dir = std::env::var_os(CREDENTIALS_DIRECTORY_ENV).map(PathBuf::from);
        Self::load_from(credentials_dir.as_deref(), key_file)
    }

    /// [`load`](Self::load) with the credentials directory passed in, so tests need not
    /// touch the process environment.
    pub fn load_from(
        credentials_dir: Option<&Path>,
        key_file: &Path,
    ) -> Result<(Self, KeySource), KeyError> {
        if let Some(dir) = credentials_dir {
            let path = dir.join(CREDENTIAL_NAME);
            if path.exists() {
                let key = read_key(&path)?;
                return Ok((key, KeySource::Credential(path)));
            }
        }
        check_key_file_permissions(key_file)?;
        let key = read_key(key_file)?;
        Ok((key, KeySource::File(key_file.to_path_buf())))
    }

    /// Writes the key to a new file with mode 0600, failing if the file exists, and syncs it
    /// to disk before returning.
    pub fn write_new_file(&self, path: &Path) -> Result<(), KeyError> {
        let io_error = |source: io::Error| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| {
                if source.kind() == io::ErrorKind::AlreadyExists {
                    KeyError::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    io_error(source)
                }
            })?;
        let mut text = Zeroizing::new(hex::encode(self.0.as_ref()));
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        // The umask cannot widen 0600, but a pre-set default ACL could; make the mode explicit.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_error)?;
        Ok(())
    }
}

/// A failed read of the key file: "missing" when it does not exist, else the I/O error.
fn read_error(path: &Path, source: io::Error) -> KeyError {
    if source.kind() == io::ErrorKind::NotFound {
        KeyError::Missing {
            path: path.to_path_buf(),
        }
    } else {
        KeyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Refuses a key file that is not a regular file owned by us with mode 0600 or 0400.
pub fn check_key_file_permissions(path: &Path) -> Result<(), KeyError> {
    let metadata = fs::metadata(path).map_err(|source| read_error(path, source))?;
    if !metadata.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode != 0o600 && mode != 0o400 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let current = rustix::process::geteuid().as_raw();
    if metadata.uid() != current {
        return Err(KeyError::Owner {
            path: path.to_path_buf(),
            owner: metadata.uid(),
            current,
        });
    }
    Ok(())
}

fn read_key(path: &Path) -> Result<MasterKey, KeyError> {
    let io_error = |source: io::Error| read_error(path, source);
    let file = fs::File::open(path).map_err(io_error)?;
    let mut text = Zeroizing::new(Vec::with_capacity(80));
    file.take(MAX_KEY_FILE_LEN)
        .read_to_end(&mut text)
        .map_err(io_error)?;
    let trimmed = text.trim_ascii();
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    hex::decode_to_slice(trimmed, key.as_mut()).map_err(|_| KeyError::Malformed {
        path: path.to_path_buf(),
    })?;
    Ok(MasterKey(key))
}
