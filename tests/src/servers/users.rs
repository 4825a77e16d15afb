//! Mail users: one Dovecot passwd-file per user in a `users.d` directory, so a test can add its own
//! user while the servers run and log in at once (Dovecot re-reads a shared users file at most once
//! a second, which makes a login right after an append fail now and then).

use std::path::Path;

use anyhow::{Context, Result};

/// A mail account on a test Dovecot. Postfix delivers `<name>@<any domain>` to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailUser {
    /// The IMAP/SMTP login, e.g. `u3f9a0c1b2d4e5f60`.
    pub name: String,
    /// The password (random, test-only).
    pub password: String,
    /// `<name>@example.test`: an address that Postfix delivers into this user's INBOX.
    pub address: String,
}

/// Creates a fresh user with a unique name and random password as the file `users_dir/<name>`.
pub(crate) fn add_user(users_dir: &Path, domain: &str) -> Result<MailUser> {
    // 64 random bits: unique among the tests of all the processes sharing the directory.
    let name = format!("u{:016x}", rand::random::<u64>());
    let password = format!("p{:016x}", rand::random::<u64>());
    let line = format!("{name}:{{PLAIN}}{password}::::::\n");
    // Written aside and renamed, so Dovecot never reads a half-written file.
    let tmp = users_dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, line).with_context(|| {
        format!(
            "write {} (are the test servers running? run scripts/test.sh)",
            tmp.display()
        )
    })?;
    std::fs::rename(&tmp, users_dir.join(&name))
        .with_context(|| format!("rename {}", tmp.display()))?;
    Ok(MailUser {
        address: format!("{name}@{domain}"),
        name,
        password,
    })
}
