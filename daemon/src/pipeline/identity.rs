//! How a message is recognised when it comes again: the value its processed marker is stored
//! under, unique per mailbox (`processed_messages.message_id_hash`).
//!
//! A message with a Message-ID is the SHA-256 of that id. A message without one is recognised
//! by its identity headers (date, addresses, subject, threading; [`mailsig_parser::identity_headers`])
//! and not by where it sits: a UIDVALIDITY change or a second fetch gives the same message a new
//! position, and a position-based marker would let it merge into its suggestion a second time.
//! Those headers include the subject, so the hash is keyed ([`IdentityKey`], derived from the
//! master key): the stored value cannot be checked against a guessed subject or sender, and
//! says nothing about the content. Only a message that was never fetched (over the size limit)
//! is still identified by its position, since nothing else is known of it.
//!
//! A master key rotation changes the key: a message without a Message-ID that is fetched again
//! after one is processed once more.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The purpose the identity key is derived for (see [`crate::vault::Vault::tag`]).
const KEY_PURPOSE: &str = "message identity";

/// The key of the identity hash of messages without a Message-ID. Never printed.
#[derive(Clone)]
pub struct IdentityKey(Zeroizing<[u8; 32]>);

impl IdentityKey {
    /// The daemon's key, derived from the master key: every replica sharing the master key
    /// recognises the same message.
    pub fn derive(vault: &crate::vault::Vault) -> Self {
        IdentityKey(Zeroizing::new(vault.tag(KEY_PURPOSE, b"key")))
    }

    /// A key of this process alone (a pipeline built in code, tests, benches): the same message
    /// is recognised while it runs, not across restarts.
    pub fn random() -> Self {
        IdentityKey(Zeroizing::new(rand::random()))
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"))
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKey(..)")
    }
}

/// What is known of a message besides its Message-ID (see [`message_id_hash`]).
pub enum FallbackIdentity<'a> {
    /// The fetched bytes: a keyed hash of the identity headers, or of the whole bytes when the
    /// message has none.
    Raw(&'a [u8]),
    /// Fetched bytes whose headers cannot be read: a keyed hash of the bytes.
    Bytes(&'a [u8]),
    /// Not fetched, only its place in an ordered source.
    Position {
        folder: &'a str,
        uidvalidity: u32,
        uid: u32,
    },
    /// Nothing: a random identity counts the message once and matches no other.
    Unknown,
}

/// The hex value a message's processed marker is stored under.
pub fn message_id_hash(
    message_id: Option<&str>,
    fallback: FallbackIdentity<'_>,
    key: &IdentityKey,
) -> String {
    if let Some(id) = message_id.map(str::trim).filter(|id| !id.is_empty()) {
        let mut hasher = Sha256::new();
        hasher.update(b"mid:");
        hasher.update(id.trim_matches(|c| c == '<' || c == '>').as_bytes());
        return hex::encode(hasher.finalize());
    }
    match fallback {
        FallbackIdentity::Raw(bytes) => keyed_headers(bytes, key),
        FallbackIdentity::Bytes(bytes) => keyed_bytes(bytes, key),
        FallbackIdentity::Position {
            folder,
            uidvalidity,
            uid,
        } => {
            let mut hasher = Sha256::new();
            hasher.update(b"pos:");
            hasher.update(folder.as_bytes());
            hasher.update(b"\0");
            hasher.update(uidvalidity.to_be_bytes());
            hasher.update(uid.to_be_bytes());
            hex::encode(hasher.finalize())
        }
        FallbackIdentity::Unknown => {
            let mut hasher = Sha256::new();
            hasher.update(b"none:");
            hasher.update(rand::random::<[u8; 16]>());
            hex::encode(hasher.finalize())
        }
    }
}

/// HMAC-SHA256 under `key` of the identity headers (each length-prefixed, so no two header
/// lists give the same input), or of the bytes when there are none.
fn keyed_headers(bytes: &[u8], key: &IdentityKey) -> String {
    let mut mac = key.mac();
    mac.update(b"hdr:");
    let visited = mailsig_parser::identity_headers(bytes, |name, value| {
        for part in [name.as_bytes(), value.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
    });
    if visited == 0 {
        return keyed_bytes(bytes, key);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// HMAC-SHA256 under `key` of the whole bytes.
fn keyed_bytes(bytes: &[u8], key: &IdentityKey) -> String {
    let mut mac = key.mac();
    mac.update(b"raw:");
    mac.update(bytes);
    hex::encode(mac.finalize().into_bytes())
}

/// The form of a message-id hash that appears in log lines: its first 12 hex digits.
pub fn log_id(message_id_hash: &str) -> &str {
    message_id_hash.get(..12).unwrap_or(message_id_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ID: &[u8] = b"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: Jane <jane@partner.example>\r\nTo: owner@mycorp.example\r\nSubject: Spring order\r\n\r\nHello\r\n";

    #[test]
    fn message_id_hash_ignores_angle_brackets_and_whitespace() {
        let key = IdentityKey::random();
        let a = message_id_hash(Some("<abc@example.com>"), FallbackIdentity::Raw(b"x"), &key);
        let b = message_id_hash(Some(" abc@example.com "), FallbackIdentity::Unknown, &key);
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(log_id(&a).len(), 12);
    }

    #[test]
    fn without_a_message_id_the_same_headers_are_the_same_message_wherever_it_sits() {
        let key = IdentityKey::random();
        let first = message_id_hash(None, FallbackIdentity::Raw(NO_ID), &key);
        // Another server's trace header on top: still the same message.
        let mut again = b"Received: from relay.example\r\n".to_vec();
        again.extend_from_slice(NO_ID);
        let blank = message_id_hash(Some("  "), FallbackIdentity::Raw(&again), &key);
        assert_eq!(first, blank);
        let other = String::from_utf8_lossy(NO_ID).replace("Spring", "Autumn");
        assert_ne!(
            first,
            message_id_hash(None, FallbackIdentity::Raw(other.as_bytes()), &key)
        );
    }

    #[test]
    fn the_stored_value_is_keyed_so_it_cannot_be_checked_against_a_guess() {
        let one = message_id_hash(None, FallbackIdentity::Raw(NO_ID), &IdentityKey::random());
        let two = message_id_hash(None, FallbackIdentity::Raw(NO_ID), &IdentityKey::random());
        assert_ne!(
            one, two,
            "a hash without a key would be the same everywhere"
        );
        let unkeyed = hex::encode(Sha256::digest(NO_ID));
        assert_ne!(one, unkeyed);
    }

    #[test]
    fn the_key_comes_from_the_master_key() {
        use crate::vault::{MasterKey, Vault};
        let vault = Vault::new(MasterKey::from_bytes([7; 32]));
        let a = message_id_hash(
            None,
            FallbackIdentity::Raw(NO_ID),
            &IdentityKey::derive(&vault),
        );
        let b = message_id_hash(
            None,
            FallbackIdentity::Raw(NO_ID),
            &IdentityKey::derive(&vault.clone()),
        );
        assert_eq!(a, b, "replicas sharing the master key agree");
        let other = Vault::new(MasterKey::from_bytes([8; 32]));
        assert_ne!(
            a,
            message_id_hash(
                None,
                FallbackIdentity::Raw(NO_ID),
                &IdentityKey::derive(&other)
            )
        );
        assert_eq!(
            format!("{:?}", IdentityKey::derive(&vault)),
            "IdentityKey(..)"
        );
    }

    #[test]
    fn headerless_bytes_and_unfetched_messages_still_get_an_identity() {
        let key = IdentityKey::random();
        let raw = message_id_hash(None, FallbackIdentity::Raw(b"no headers at all"), &key);
        assert_eq!(
            raw,
            message_id_hash(None, FallbackIdentity::Bytes(b"no headers at all"), &key)
        );
        assert_ne!(raw, hex::encode(Sha256::digest(b"raw:no headers at all")));
        let position = |uid| FallbackIdentity::Position {
            folder: "INBOX",
            uidvalidity: 1,
            uid,
        };
        assert_ne!(
            message_id_hash(None, position(7), &key),
            message_id_hash(None, position(8), &key)
        );
        assert_ne!(
            message_id_hash(None, FallbackIdentity::Unknown, &key),
            message_id_hash(None, FallbackIdentity::Unknown, &key)
        );
    }
}
