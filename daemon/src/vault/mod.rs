//! The vault: the only place where IMAP passwords, OAuth tokens and SMTP passwords exist in
//! plaintext.
//!
//! Secrets are sealed into opaque [`SealedSecret`] records before they reach the store, and
//! opened only for the moment a connection needs them. The record format and the reasoning
//! behind the cryptography (AES-256-CBC, encrypt-then-MAC with HMAC-SHA256, per-record keys
//! from PBKDF2-HMAC-SHA256) are in [`record`]; where the master secret comes from is in
//! [`master_key`]. Every record is bound to its purpose and row ([`Binding`]), so it opens
//! only where it was sealed; [`upgrade`] re-seals records written before that.
//!
//! Architecture invariant: secrets are write-only. Nothing outside a connection attempt ever
//! holds an opened secret, and no command or endpoint returns one.

mod binding;
mod master_key;
mod record;
pub mod rotation;
pub mod upgrade;

use std::fmt;

use secrecy::SecretString;
use zeroize::Zeroizing;

pub use binding::Binding;
pub use master_key::{
    CREDENTIAL_NAME, CREDENTIALS_DIRECTORY_ENV, KeyError, KeySource, MasterKey,
    check_key_file_permissions,
};

/// The one error for every way opening (or sealing) a record can fail: wrong key, tampered or
/// truncated record, unknown version, bad padding. Deliberately carries no detail, so it
/// cannot become a padding or MAC oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("secret could not be decrypted (wrong master key or damaged record)")]
pub struct VaultError;

/// An encrypted secret as stored in the database. Opaque bytes; `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Wraps bytes read back from the store.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SealedSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for SealedSecret {
    fn from(bytes: Vec<u8>) -> Self {
        SealedSecret(bytes)
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

/// Seals and opens secrets under one master key. Cheap to clone (the key is 32 bytes), and
/// `Send + Sync`, so it can be shared with `Arc` or cloned into tasks.
#[derive(Clone, Debug)]
pub struct Vault {
    key: MasterKey,
}

impl Vault {
    pub fn new(key: MasterKey) -> Self {
        Vault { key }
    }

    /// Encrypts `plaintext` under a fresh random salt and IV, bound to `binding`. Fails only
    /// if the OS random number generator fails.
    pub fn seal(&self, binding: &Binding, plaintext: &[u8]) -> Result<SealedSecret, VaultError> {
        let sealed = record::seal(self.key.expose(), plaintext, &binding.associated_data())
            .map(SealedSecret);
        crate::telemetry::metrics::metrics()
            .vault
            .record_seal(&sealed);
        sealed
    }

    /// Checks the record's MAC over the record and `binding`, then decrypts. A record sealed
    /// for another row or purpose fails like a damaged one. The plaintext is zeroized when
    /// dropped.
    pub fn open(
        &self,
        binding: &Binding,
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let opened = record::open(self.key.expose(), &sealed.0, &binding.associated_data());
        crate::telemetry::metrics::metrics()
            .vault
            .record_open(&opened);
        opened
    }

    /// [`open`](Self::open) for secrets that are text (passwords, tokens). Invalid UTF-8 is
    /// the same opaque error.
    pub fn open_string(
        &self,
        binding: &Binding,
        sealed: &SealedSecret,
    ) -> Result<SecretString, VaultError> {
        let plaintext = self.open(binding, sealed)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| VaultError)?;
        Ok(SecretString::from(text))
    }
}

impl Vault {
    /// An HMAC-SHA256 tag over `data` under a key derived from the master key for `purpose`
    /// alone, so tags of one purpose are never valid for another. Used to recognise values
    /// this daemon issued (an OAuth `state`) before any store work; every replica sharing the
    /// master key recognises them.
    pub fn tag(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        type HmacSha256 = hmac::Hmac<sha2::Sha256>;
        // HMAC accepts keys of any length; these cannot fail.
        let mut derive = <HmacSha256 as KeyInit>::new_from_slice(self.key.expose())
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        derive.update(b"mailsig tag key\0");
        derive.update(purpose.as_bytes());
        let key = Zeroizing::new(derive.finalize().into_bytes());
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.as_slice())
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl Vault {
    /// Seals `plaintext` for a new `secrets` row of `kind` and stores it, in one transaction
    /// (see [`Store::put_secret_sealed_by`](crate::store::Store::put_secret_sealed_by)).
    pub async fn store_new(
        &self,
        store: &crate::store::Store,
        kind: crate::store::SecretKind,
        key_version: i64,
        plaintext: &[u8],
    ) -> Result<crate::store::SecretId, crate::store::Error> {
        store
            .put_secret_sealed_by(kind, key_version, |id| {
                self.seal(&Binding::secret(kind, id), plaintext)
                    .map(SealedSecret::into_bytes)
                    .map_err(|_| crate::store::Error::Invalid {
                        what: "secret",
                        reason: "could not be sealed".to_owned(),
                    })
            })
            .await
    }

    /// Opens a record written before records were bound (version 1). Only the upgrade
    /// ([`upgrade`]) and the key check of `check-config` call it: in service, an unbound
    /// record never opens.
    pub(crate) fn open_unbound(
        &self,
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        record::open_unbound(self.key.expose(), &sealed.0)
    }
}

impl SealedSecret {
    /// Whether this record predates bindings (version 1) and waits for the upgrade.
    pub fn is_unbound(&self) -> bool {
        record::version_of(&self.0) == Some(record::UNBOUND_VERSION)
    }
}

/// Re-encrypts one record from `old` to `new` (master key rotation), for the same binding. The
/// plaintext lives only in a zeroizing buffer between the two steps.
pub fn reseal(
    old: &Vault,
    new: &Vault,
    binding: &Binding,
    sealed: &SealedSecret,
) -> Result<SealedSecret, VaultError> {
    let plaintext = old.open(binding, sealed)?;
    new.seal(binding, &plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_key_or_record_bytes() {
        let vault = Vault::new(MasterKey::from_bytes([0xAB; 32]));
        let shown = format!("{vault:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        let sealed = SealedSecret::from_bytes(vec![0xCD; 100]);
        assert_eq!(format!("{sealed:?}"), "SealedSecret(100 bytes)");
    }
}
