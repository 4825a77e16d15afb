//! The PostgreSQL password from a file or a systemd credential, so that it need not be written
//! into `database_url` (the configuration file) or an environment variable (readable from
//! `/proc` by the same user and inherited by every child).
//!
//! Where it comes from, first match wins: `$CREDENTIALS_DIRECTORY/database-password` (systemd
//! `LoadCredential=database-password:…`), then `database_password_file`. The first line of the
//! file is the password. It is read when the store is opened ([`connect_url`]) and put into the
//! connection URL handed to the store, nowhere else: [`DatabaseUrl`] never holds it, and the
//! connection URL is zeroized on drop.

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use super::{ConfigError, DatabaseUrl};

/// File name of the password inside `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_NAME: &str = "database-password";

/// A password file larger than this is not a password (a log, a binary): refused.
const MAX_LEN: u64 = 4096;

const KEY: &str = "database_password_file";

/// Refuses set-ups that cannot work, at load time: a password file for SQLite, or a password
/// both in the URL and in a file.
pub(super) fn check(url: &DatabaseUrl, file: Option<&Path>) -> Result<(), ConfigError> {
    match url {
        DatabaseUrl::Sqlite { .. } if file.is_some() => Err(ConfigError::invalid(
            KEY,
            "a password file is only for a postgres:// database_url",
        )),
        DatabaseUrl::Postgres { url } if file.is_some() && has_password(url) => {
            Err(ConfigError::invalid(
                "database_url",
                "holds a password while database_password_file gives one too: keep it in one \
                 place",
            ))
        }
        _ => Ok(()),
    }
}

fn has_password(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| u.password().is_some() || u.query_pairs().any(|(k, _)| k == "password"))
}

/// The URL to connect with: `url` with the password from the systemd credential or `file`
/// when one is there, read now (so a changed password is picked up at the next start).
/// `credentials_dir` is `$CREDENTIALS_DIRECTORY`.
pub fn connect_url(
    url: &DatabaseUrl,
    file: Option<&Path>,
    credentials_dir: Option<&Path>,
) -> Result<Zeroizing<String>, ConfigError> {
    check(url, file)?;
    let DatabaseUrl::Postgres { url } = url else {
        return Ok(Zeroizing::new(url.as_str().to_owned()));
    };
    let credential = credentials_dir
        .map(|dir| dir.join(CREDENTIAL_NAME))
        .filter(|path| path.is_file());
    let Some((path, from_credential)) = credential
        .map(|path| (path, true))
        .or_else(|| file.map(|path| (path.to_path_buf(), false)))
    else {
        return Ok(url.clone());
    };
    if has_password(url) {
        return Err(ConfigError::invalid(
            "database_url",
            "holds a password while the database-password credential gives one too: keep it \
             in one place",
        ));
    }
    let mut parsed = url::Url::parse(url)
        .map_err(|_| ConfigError::invalid("database_url", "is not a valid postgres:// URL"))?;
    let password = read(&path, !from_credential)?;
    parsed
        .set_password(Some(&password))
        .map_err(|()| ConfigError::invalid("database_url", "has no user to give a password to"))?;
    Ok(Zeroizing::new(String::from(parsed)))
}

/// The first line of `path`. A file the operator named (not a systemd credential, which systemd
/// makes private) must not be readable or writable by others.
fn read(path: &Path, check_mode: bool) -> Result<Zeroizing<String>, ConfigError> {
    let invalid = |reason: String| ConfigError::invalid(KEY, reason);
    let file = std::fs::File::open(path)
        .map_err(|e| invalid(format!("cannot open {}: {}", path.display(), e.kind())))?;
    if check_mode {
        use std::os::unix::fs::MetadataExt;
        let mode = file
            .metadata()
            .map_err(|e| invalid(format!("cannot read {}: {}", path.display(), e.kind())))?
            .mode();
        if mode & 0o007 != 0 {
            return Err(invalid(format!(
                "{} has mode {:04o}; others must have no access (run `chmod o= {}`)",
                path.display(),
                mode & 0o7777,
                path.display()
            )));
        }
    }
    let mut raw = Zeroizing::new(Vec::new());
    file.take(MAX_LEN + 1)
        .read_to_end(&mut raw)
        .map_err(|e| invalid(format!("cannot read {}: {}", path.display(), e.kind())))?;
    if raw.len() as u64 > MAX_LEN {
        return Err(invalid(format!(
            "{} is longer than 4096 bytes",
            path.display()
        )));
    }
    let text = std::str::from_utf8(&raw)
        .map_err(|_| invalid(format!("{} is not UTF-8", path.display())))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(invalid(format!("{} is empty", path.display())));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;

    fn postgres(url: &str) -> DatabaseUrl {
        DatabaseUrl::parse(url).unwrap_or_else(|e| panic!("{e}"))
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[test]
    fn the_password_file_goes_into_the_connect_url_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = write(dir.path(), "pw", "p@ss:w/rd\nignored\n", 0o640);
        let url = postgres("postgres://app@127.0.0.1/mailsig");
        let connect = connect_url(&url, Some(&file), None).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            connect.contains("app:p%40ss%3Aw%2Frd@"),
            "{}",
            connect.as_str()
        );
        assert!(!url.to_string().contains("p%40ss") && !format!("{url:?}").contains("p%40ss"));
    }

    #[test]
    fn the_systemd_credential_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = write(dir.path(), "pw", "from-file", 0o600);
        write(dir.path(), CREDENTIAL_NAME, "from-credential", 0o400);
        let url = postgres("postgres://app@127.0.0.1/mailsig");
        let connect =
            connect_url(&url, Some(&file), Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            connect.contains(":from-credential@"),
            "{}",
            connect.as_str()
        );
    }

    #[test]
    fn unsafe_or_ambiguous_set_ups_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let open = write(dir.path(), "open", "secret", 0o644);
        let private = write(dir.path(), "private", "secret", 0o600);
        let empty = write(dir.path(), "empty", "\n", 0o600);
        let base = postgres("postgres://app@127.0.0.1/mailsig");
        assert!(connect_url(&base, Some(&open), None).is_err());
        assert!(connect_url(&base, Some(&empty), None).is_err());
        let inline = postgres("postgres://app:inline@127.0.0.1/mailsig");
        assert!(check(&inline, Some(&private)).is_err());
        let sqlite = DatabaseUrl::sqlite(&dir.path().join("db"));
        assert!(check(&sqlite, Some(&private)).is_err());
    }
}
