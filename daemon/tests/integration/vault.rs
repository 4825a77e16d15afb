//! The vault's public contract: sealed records round-trip, and every kind of damage, a wrong
//! key, truncation or an unknown version gives the same opaque error. Master-key files are
//! refused unless private to the current user.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use mailsig_daemon::store::{SecretId, SecretKind};
use mailsig_daemon::vault::{
    Binding, KeySource, MasterKey, SealedSecret, Vault, VaultError, reseal,
};
use secrecy::ExposeSecret;

fn vault_with(byte: u8) -> Vault {
    Vault::new(MasterKey::from_bytes([byte; 32]))
}

/// The row the records of these tests are sealed for.
fn row() -> Binding {
    Binding::secret(SecretKind::ImapPassword, SecretId(1))
}

fn seal(vault: &Vault, plaintext: &[u8]) -> SealedSecret {
    match vault.seal(&row(), plaintext) {
        Ok(sealed) => sealed,
        Err(err) => panic!("seal failed: {err}"),
    }
}

#[test]
fn round_trip_returns_the_plaintext() {
    let vault = vault_with(1);
    for plaintext in [
        &b""[..],
        b"p",
        b"correct horse battery staple",
        &[0u8; 16],
        &[0xFF; 1000],
    ] {
        let sealed = seal(&vault, plaintext);
        let opened = vault.open(&row(), &sealed).map(|p| p.to_vec());
        assert_eq!(opened, Ok(plaintext.to_vec()));
    }
}

#[test]
fn sealed_record_does_not_contain_the_plaintext() {
    let vault = vault_with(1);
    let sealed = seal(&vault, b"Sup3r-Secret-IMAP-Password");
    let bytes = sealed.as_bytes();
    assert!(!bytes.windows(8).any(|w| w == b"Sup3r-Se"));
}

#[test]
fn same_plaintext_seals_differently_each_time() {
    let vault = vault_with(1);
    let first = seal(&vault, b"same");
    let second = seal(&vault, b"same");
    assert_ne!(first, second, "salt and IV must be random per record");
    // Salt (bytes 5..21) and IV (21..37) both differ.
    assert_ne!(first.as_bytes()[5..21], second.as_bytes()[5..21]);
    assert_ne!(first.as_bytes()[21..37], second.as_bytes()[21..37]);
}

#[test]
fn open_string_gives_the_text() {
    let vault = vault_with(1);
    let sealed = seal(&vault, "pässwörd".as_bytes());
    let opened = vault
        .open_string(&row(), &sealed)
        .map(|s| s.expose_secret().to_owned());
    assert_eq!(opened, Ok("pässwörd".to_owned()));
    let binary = seal(&vault, &[0xFF, 0xFE]);
    assert!(vault.open_string(&row(), &binary).is_err());
}

#[test]
fn flipping_any_byte_is_rejected() {
    let vault = vault_with(1);
    let sealed = seal(&vault, b"imap password");
    let bytes = sealed.as_bytes().to_vec();
    for index in 0..bytes.len() {
        // Alternate the lowest and highest bit so both ends of every byte get exercised.
        let bit = if index % 2 == 0 { 0x01u8 } else { 0x80 };
        let mut tampered = bytes.clone();
        tampered[index] ^= bit;
        let result = vault.open(&row(), &SealedSecret::from_bytes(tampered));
        assert_eq!(
            result.err(),
            Some(VaultError),
            "byte {index} bit {bit:#x} accepted"
        );
    }
}

#[test]
fn wrong_key_is_rejected() {
    let sealed = seal(&vault_with(1), b"imap password");
    assert_eq!(vault_with(2).open(&row(), &sealed).err(), Some(VaultError));
}

#[test]
fn truncated_and_extended_records_are_rejected() {
    let vault = vault_with(1);
    let sealed = seal(&vault, b"a secret long enough for two blocks of ciphertext");
    let bytes = sealed.as_bytes();
    for len in 0..bytes.len() {
        let result = vault.open(&row(), &SealedSecret::from_bytes(bytes[..len].to_vec()));
        assert_eq!(
            result.err(),
            Some(VaultError),
            "truncated to {len} accepted"
        );
    }
    let mut extended = bytes.to_vec();
    extended.push(0);
    assert_eq!(
        vault
            .open(&row(), &SealedSecret::from_bytes(extended))
            .err(),
        Some(VaultError)
    );
    // Dropping a whole ciphertext block keeps the length well-formed; the MAC still catches it.
    let mut shortened = bytes.to_vec();
    shortened.drain(37..53);
    assert_eq!(
        vault
            .open(&row(), &SealedSecret::from_bytes(shortened))
            .err(),
        Some(VaultError)
    );
}

#[test]
fn unknown_versions_are_rejected() {
    let vault = vault_with(1);
    let sealed = seal(&vault, b"secret");
    for version in [0u8, 1, 3, 0x7F, 0xFF] {
        let mut bytes = sealed.as_bytes().to_vec();
        bytes[0] = version;
        assert_eq!(
            vault.open(&row(), &SealedSecret::from_bytes(bytes)).err(),
            Some(VaultError)
        );
    }
}

#[test]
fn every_failure_has_the_same_message() {
    let vault = vault_with(1);
    let sealed = seal(&vault, b"secret");
    let mut tampered = sealed.as_bytes().to_vec();
    tampered[40] ^= 1;
    let messages: Vec<String> = [
        vault_with(2).open(&row(), &sealed).err(),
        vault
            .open(&row(), &SealedSecret::from_bytes(tampered))
            .err(),
        vault
            .open(&row(), &SealedSecret::from_bytes(vec![1; 10]))
            .err(),
    ]
    .into_iter()
    .map(|err| err.map(|e| e.to_string()).unwrap_or_default())
    .collect();
    assert!(!messages[0].is_empty());
    assert!(messages.iter().all(|m| m == &messages[0]), "{messages:?}");
}

#[test]
fn reseal_moves_a_record_to_the_new_key() {
    let (old, new) = (vault_with(1), vault_with(2));
    let sealed = seal(&old, b"rotate me");
    let moved = reseal(&old, &new, &row(), &sealed).map_err(|e| e.to_string());
    let moved = match moved {
        Ok(moved) => moved,
        Err(err) => panic!("reseal failed: {err}"),
    };
    assert_eq!(
        new.open(&row(), &moved).map(|p| p.to_vec()),
        Ok(b"rotate me".to_vec())
    );
    assert!(old.open(&row(), &moved).is_err());
    // Resealing with the wrong "old" key fails and produces nothing.
    assert!(reseal(&new, &old, &row(), &sealed).is_err());
}

#[test]
fn generated_key_file_is_private_and_loads_back() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let dir = match dir {
        Ok(dir) => dir,
        Err(err) => panic!("temp dir: {err}"),
    };
    let path = dir.path().join("master.key");
    let key = MasterKey::generate().map_err(|e| e.to_string());
    let key = key.unwrap_or_else(|err| panic!("generate: {err}"));
    assert!(key.write_new_file(&path).is_ok());
    let mode = fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(text.trim_end().len(), 64);
    assert!(text.trim_end().bytes().all(|b| b.is_ascii_hexdigit()));

    // A record sealed with the generated key opens with the loaded key.
    let sealed = seal(&Vault::new(key.clone()), b"x");
    let loaded = MasterKey::load_from(None, &path).map_err(|e| e.to_string());
    let (loaded, source) = loaded.unwrap_or_else(|err| panic!("load: {err}"));
    assert_eq!(source, KeySource::File(path.clone()));
    assert_eq!(
        Vault::new(loaded).open(&row(), &sealed).map(|p| p.to_vec()),
        Ok(b"x".to_vec())
    );

    // Never overwritten.
    let again = key.write_new_file(&path);
    assert!(matches!(
        again,
        Err(mailsig_daemon::vault::KeyError::Exists { .. })
    ));
}

#[test]
fn key_files_readable_by_others_are_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("temp dir: {err}"));
    let path = dir.path().join("master.key");
    let key = MasterKey::generate().unwrap_or_else(|err| panic!("generate: {err}"));
    assert!(key.write_new_file(&path).is_ok());
    for mode in [0o644, 0o640, 0o604, 0o660, 0o700, 0o666] {
        assert!(fs::set_permissions(&path, fs::Permissions::from_mode(mode)).is_ok());
        let err = MasterKey::load_from(None, &path).err();
        let err = err.unwrap_or_else(|| panic!("mode {mode:o} accepted"));
        assert!(err.is_permission(), "mode {mode:o}: {err}");
        assert!(err.to_string().contains("0600"), "{err}");
    }
    assert!(fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).is_ok());
    assert!(MasterKey::load_from(None, &path).is_ok());
}

#[test]
fn missing_and_malformed_key_files_have_clear_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("temp dir: {err}"));
    let missing = dir.path().join("nope.key");
    let err = MasterKey::load_from(None, &missing).err();
    assert!(err.as_ref().is_some_and(|e| e.is_missing()), "{err:?}");

    let malformed = dir.path().join("bad.key");
    assert!(fs::write(&malformed, "not hex at all\n").is_ok());
    assert!(fs::set_permissions(&malformed, fs::Permissions::from_mode(0o600)).is_ok());
    let err = MasterKey::load_from(None, &malformed).err();
    assert!(err.as_ref().is_some_and(|e| e.is_malformed()), "{err:?}");
    // The error names the file, never its content.
    assert!(err.is_some_and(|e| !e.to_string().contains("not hex")));

    let short = dir.path().join("short.key");
    assert!(fs::write(&short, "abcd\n").is_ok());
    assert!(fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).is_ok());
    assert!(MasterKey::load_from(None, &short).is_err_and(|e| e.is_malformed()));
}

#[test]
fn systemd_credential_takes_precedence_over_the_key_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("temp dir: {err}"));
    let credentials = dir.path().join("credentials");
    assert!(fs::create_dir(&credentials).is_ok());
    let credential_key = MasterKey::from_bytes([9; 32]);
    assert!(
        credential_key
            .write_new_file(&credentials.join("master-key"))
            .is_ok()
    );
    // The configured file does not even exist: the credential is enough.
    let key_file = dir.path().join("absent.key");
    let loaded = MasterKey::load_from(Some(&credentials), &key_file);
    let (loaded, source) = loaded.unwrap_or_else(|err| panic!("load: {err}"));
    assert_eq!(
        source,
        KeySource::Credential(credentials.join("master-key"))
    );
    let sealed = seal(&Vault::new(credential_key), b"x");
    assert!(Vault::new(loaded).open(&row(), &sealed).is_ok());

    // A credentials directory without `master-key` falls back to the key file.
    let empty = dir.path().join("empty");
    assert!(fs::create_dir(&empty).is_ok());
    let err = MasterKey::load_from(Some(&empty), &key_file).err();
    assert!(err.is_some_and(|e| e.is_missing()));
}
