//! The key-file half of master-key rotation (`mailsigd secrets rotate`).
//!
//! The order that makes a crash at any point lose nothing:
//! 1. Open every record with the current key, reseal it with a new key (in memory only).
//! 2. Write the new key to `<key file>.new` (mode 0600) and fsync it and its directory.
//!    The new key is now durable *before* any record depends on it.
//! 3. Replace every record in ONE database transaction and commit.
//! 4. Rename `<key file>.new` over `<key file>` (atomic) and fsync the directory.
//!
//! A crash before 3 commits leaves every record under the old key, which is still the key
//! file: the stray `.new` is discarded by the next rotation. A crash between 3 and 4 leaves
//! the records under the new key, which is safe in `.new`: the next rotation sees that the
//! records open with `.new` and finishes step 4. At no point is a record sealed under a key
//! that is not on disk.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::master_key::{KeyError, MasterKey, check_key_file_permissions};

/// `<key file>.new`: where the next key waits until the database has committed.
pub fn pending_key_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Step 2: writes `key` to the pending path, durable on return.
pub fn write_pending_key(key_file: &Path, key: &MasterKey) -> Result<PathBuf, KeyError> {
    let pending = pending_key_path(key_file);
    key.write_new_file(&pending)?;
    sync_parent(&pending)?;
    Ok(pending)
}

/// The pending key left by an interrupted rotation, if any.
pub fn load_pending_key(key_file: &Path) -> Result<Option<MasterKey>, KeyError> {
    let pending = pending_key_path(key_file);
    if !pending.exists() {
        return Ok(None);
    }
    check_key_file_permissions(&pending)?;
    let (key, _) = MasterKey::load_from(None, &pending)?;
    Ok(Some(key))
}

/// Step 4: the pending key becomes the key file.
pub fn commit_pending_key(key_file: &Path) -> Result<(), KeyError> {
    let pending = pending_key_path(key_file);
    fs::rename(&pending, key_file).map_err(|source| KeyError::Io {
        path: key_file.to_path_buf(),
        source,
    })?;
    sync_parent(key_file)
}

/// Drops a pending key that never became current (its rotation did not commit).
pub fn discard_pending_key(key_file: &Path) -> Result<(), KeyError> {
    let pending = pending_key_path(key_file);
    match fs::remove_file(&pending) {
        Ok(()) => sync_parent(&pending),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(KeyError::Io {
            path: pending,
            source,
        }),
    }
}

/// Makes a create, rename or delete in the file's directory durable.
fn sync_parent(path: &Path) -> Result<(), KeyError> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| KeyError::Io {
            path: parent.to_path_buf(),
            source,
        })
}
