//! The on-disk format of one sealed secret and the cryptography behind it.
//!
//! Layout of a record (all integers big-endian):
//!
//! ```text
//! version (1) || iterations (4) || salt (16) || iv (16) || ciphertext (16·n) || tag (32)
//! ```
//!
//! Version 2 (the only one this build writes or opens in service) binds the record to its
//! purpose and row ([`Binding`](super::Binding)): the tag also covers that associated data,
//! which is not stored in the record. Version 1 records carried no associated data; they are
//! opened only once, by the upgrade that re-seals them as version 2
//! ([`open_unbound`]).
//!
//! * `salt` is random per record; PBKDF2-HMAC-SHA256(master secret, salt, iterations) gives
//!   64 bytes: the first 32 are the AES-256 key, the last 32 the HMAC-SHA256 key. Two separate
//!   keys, so the MAC key never touches the block cipher.
//! * `iv` is random per record (CBC needs an unpredictable IV).
//! * `ciphertext` is AES-256-CBC with PKCS#7 padding.
//! * `tag` is HMAC-SHA256 over everything before it (version, iterations, salt, IV, ciphertext),
//!   then, for version 2, the associated data and its length (8 bytes): encrypt-then-MAC. The tag is checked in constant time *before* any decryption, so a
//!   forged record never reaches the padding check and there is no padding oracle.
//!
//! Every failure (short record, unknown version, out-of-range iteration count, bad tag, bad
//! padding) is reported as the same opaque [`VaultError`](super::VaultError).

use aes::Aes256;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::VaultError;

type Aes256CbcEnc = cbc::Encryptor<Aes256>;
type Aes256CbcDec = cbc::Decryptor<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// The record version this build writes and opens: bound to associated data.
pub(crate) const VERSION: u8 = 2;
/// Records written before the binding: opened only by the upgrade that re-seals them.
pub(crate) const UNBOUND_VERSION: u8 = 1;

/// PBKDF2-HMAC-SHA256 iteration count written into new records.
///
/// Why so low compared with OWASP's 600,000 for *passwords*: the input here is a 256-bit
/// secret drawn from the OS CSPRNG, not something a human chose. Guessing it costs 2^255
/// attempts on average whatever the iteration count, so key stretching buys no security.
/// PBKDF2 is used here only as a salted key-derivation function, giving every record its own
/// independent encryption and MAC keys.
///
/// What the count *does* cost is start-up time: the daemon decrypts every stored mailbox
/// secret when it starts, and each record needs its own derivation (64 bytes of output =
/// two PBKDF2 blocks, i.e. `2 × ITERATIONS` HMAC-SHA256 calls). The target is 10,000
/// mailboxes decrypted in well under 60 s on 2 cores. Measured with
/// `cargo run --release -p mailsig-daemon --example vault_startup` (AMD EPYC with SHA-NI, the
/// 2-core machine shared with other builds at load ~25): opening one record costs ~0.5 ms of
/// CPU, so 10,000 records need ~5 s of CPU; wall time on that contended machine was 24.5 s
/// on one thread and 22.6 s on two. 10,000 iterations (measured ~9 ms per record wall at
/// load ~14) would have put the same start-up near 90 s, which is why the count is not higher.
/// We keep a couple of thousand iterations rather than 1 as cheap defence in depth should a
/// master key ever be generated badly.
pub(crate) const ITERATIONS: u32 = 2_000;

/// Records claiming fewer iterations than this are refused (a downgrade would be pointless
/// for a random key, but a record we did not write is suspicious anyway).
const MIN_ITERATIONS: u32 = 1_000;
/// Records claiming more iterations are refused before any work is done, so a corrupted or
/// hostile record (anyone who can write to the database can write one) cannot make `open`
/// spin: 50 times the count this build writes, about 25 ms of CPU per record.
const MAX_ITERATIONS: u32 = 100_000;

const SALT_LEN: usize = 16;
const IV_LEN: usize = 16;
const BLOCK_LEN: usize = 16;
const TAG_LEN: usize = 32;
const HEADER_LEN: usize = 1 + 4 + SALT_LEN + IV_LEN;
/// The shortest well-formed record: header, one block of ciphertext (PKCS#7 always pads),
/// and the tag.
pub(crate) const MIN_RECORD_LEN: usize = HEADER_LEN + BLOCK_LEN + TAG_LEN;

/// 32 bytes of AES-256 key followed by 32 bytes of HMAC-SHA256 key.
pub(crate) fn derive_keys(master: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 64]> {
    let mut okm = Zeroizing::new([0u8; 64]);
    pbkdf2::pbkdf2_hmac::<Sha256>(master, salt, iterations, okm.as_mut());
    okm
}

/// AES-256-CBC with PKCS#7 padding. The output holds no plaintext: the crate copies the
/// message into the output buffer and encrypts it in place.
pub(crate) fn cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Aes256CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// Inverse of [`cbc_encrypt`]; decrypts inside a zeroizing buffer so no plaintext copy is
/// left behind, padding bytes included.
pub(crate) fn cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = Aes256CbcDec::new(key.into(), iv.into())
        .decrypt_padded::<Pkcs7>(&mut buffer)
        .map_err(|_| VaultError)?
        .len();
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

fn split_keys(okm: &[u8; 64]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let mut enc_key = Zeroizing::new([0u8; 32]);
    let mut mac_key = Zeroizing::new([0u8; 32]);
    enc_key.copy_from_slice(&okm[..32]);
    mac_key.copy_from_slice(&okm[32..]);
    (enc_key, mac_key)
}

/// HMAC accepts keys of any length, so this cannot fail in practice; the error is mapped
/// rather than unwrapped all the same.
fn mac(mac_key: &[u8; 32]) -> Result<HmacSha256, VaultError> {
    <HmacSha256 as KeyInit>::new_from_slice(mac_key).map_err(|_| VaultError)
}

/// Seals `plaintext` with the given salt and IV. Separate from [`seal`] so tests can check
/// the layout with fixed values; production code always goes through [`seal`].
pub(crate) fn seal_with(
    master: &[u8],
    plaintext: &[u8],
    aad: &[u8],
    iterations: u32,
    salt: &[u8; SALT_LEN],
    iv: &[u8; IV_LEN],
) -> Result<Vec<u8>, VaultError> {
    let okm = derive_keys(master, salt, iterations);
    let (enc_key, mac_key) = split_keys(&okm);
    let ciphertext = cbc_encrypt(&enc_key, iv, plaintext);

    let mut record = Vec::with_capacity(HEADER_LEN + ciphertext.len() + TAG_LEN);
    record.push(VERSION);
    record.extend_from_slice(&iterations.to_be_bytes());
    record.extend_from_slice(salt);
    record.extend_from_slice(iv);
    record.extend_from_slice(&ciphertext);
    let mut tag = mac(&mac_key)?;
    tag.update(&record);
    update_associated(&mut tag, aad);
    record.extend_from_slice(&tag.finalize().into_bytes());
    Ok(record)
}

/// The associated data enters the MAC after the record, followed by its length, so a record
/// body can never be confused with a longer one ending in associated-data bytes.
fn update_associated(mac: &mut HmacSha256, aad: &[u8]) {
    mac.update(aad);
    mac.update(&(aad.len() as u64).to_be_bytes());
}

/// Seals with random salt and IV from the OS.
pub(crate) fn seal(master: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut salt = [0u8; SALT_LEN];
    let mut iv = [0u8; IV_LEN];
    getrandom::fill(&mut salt).map_err(|_| VaultError)?;
    getrandom::fill(&mut iv).map_err(|_| VaultError)?;
    seal_with(master, plaintext, aad, ITERATIONS, &salt, &iv)
}

/// Checks the tag over the record and `aad`, then decrypts a version-2 record. Every
/// failure, a record sealed for another binding included, is the same opaque error.
pub(crate) fn open(
    master: &[u8],
    record: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    open_version(master, record, VERSION, Some(aad))
}

/// Opens a version-1 record, which has no associated data. Only the one-time upgrade that
/// re-seals such records under their binding calls this; a version-2 record is refused.
pub(crate) fn open_unbound(master: &[u8], record: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    open_version(master, record, UNBOUND_VERSION, None)
}

/// The record's version byte, if it is long enough to have one.
pub(crate) fn version_of(record: &[u8]) -> Option<u8> {
    record.first().copied()
}

fn open_version(
    master: &[u8],
    record: &[u8],
    expected: u8,
    aad: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if record.len() < MIN_RECORD_LEN
        || !(record.len() - HEADER_LEN - TAG_LEN).is_multiple_of(BLOCK_LEN)
    {
        return Err(VaultError);
    }
    let (body, tag) = record.split_at(record.len() - TAG_LEN);
    let (version, rest) = body.split_at(1);
    let (iterations, rest) = rest.split_at(4);
    let (salt, rest) = rest.split_at(SALT_LEN);
    let (iv, ciphertext) = rest.split_at(IV_LEN);

    if version != [expected] {
        return Err(VaultError);
    }
    let iterations = u32::from_be_bytes(iterations.try_into().map_err(|_| VaultError)?);
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(VaultError);
    }
    let iv: &[u8; IV_LEN] = iv.try_into().map_err(|_| VaultError)?;

    let okm = derive_keys(master, salt, iterations);
    let (enc_key, mac_key) = split_keys(&okm);
    let mut check = mac(&mac_key)?;
    check.update(body);
    if let Some(aad) = aad {
        update_associated(&mut check, aad);
    }
    // `verify_slice` compares in constant time (it uses `subtle`).
    check.verify_slice(tag).map_err(|_| VaultError)?;
    cbc_decrypt(&enc_key, iv, ciphertext)
}

#[cfg(test)]
mod tests {
    //! Known-answer tests for the primitives as this module calls them.
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(s).unwrap_or_default()
    }

    // NIST SP 800-38A, Appendix F.2.5 (CBC-AES256.Encrypt) and F.2.6 (CBC-AES256.Decrypt).
    const NIST_KEY: &str = "603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4";
    const NIST_IV: &str = "000102030405060708090a0b0c0d0e0f";
    const NIST_PLAINTEXT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                                  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const NIST_CIPHERTEXT: &str = "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
                                   39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b";

    fn nist_key_iv() -> ([u8; 32], [u8; 16]) {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 16];
        key.copy_from_slice(&unhex(NIST_KEY));
        iv.copy_from_slice(&unhex(NIST_IV));
        (key, iv)
    }

    #[test]
    fn cbc_aes256_encrypt_matches_sp800_38a_f_2_5() {
        let (key, iv) = nist_key_iv();
        let out = cbc_encrypt(&key, &iv, &unhex(NIST_PLAINTEXT));
        // 64 bytes of plaintext give 4 NIST blocks plus one full PKCS#7 padding block.
        assert_eq!(out.len(), 80);
        assert_eq!(out[..64], unhex(NIST_CIPHERTEXT)[..]);
    }

    #[test]
    fn cbc_aes256_decrypt_matches_sp800_38a_f_2_6() {
        let (key, iv) = nist_key_iv();
        // The NIST vector is unpadded: decrypt it block by block with the same cipher type.
        let mut buffer = unhex(NIST_CIPHERTEXT);
        let plain = Aes256CbcDec::new((&key).into(), (&iv).into())
            .decrypt_padded::<cbc::cipher::block_padding::NoPadding>(&mut buffer)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        assert_eq!(plain, unhex(NIST_PLAINTEXT));
        // And through our padded path: our encryption of the vector decrypts back to it.
        let sealed = cbc_encrypt(&key, &iv, &unhex(NIST_PLAINTEXT));
        let opened = cbc_decrypt(&key, &iv, &sealed)
            .map(|p| p.to_vec())
            .unwrap_or_default();
        assert_eq!(opened, unhex(NIST_PLAINTEXT));
    }

    // RFC 7914 §11, the two PBKDF2-HMAC-SHA256 test vectors (dkLen = 64, as `derive_keys`).
    #[test]
    fn pbkdf2_hmac_sha256_matches_rfc7914_vector_1() {
        let okm = derive_keys(b"passwd", b"salt", 1);
        let expected = unhex(
            "55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05
             f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc
             49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31
             7c 71 b8 45 b1 e3 0b d5 09 11 20 41 d3 a1 97 83",
        );
        assert_eq!(okm[..], expected[..]);
    }

    #[test]
    fn pbkdf2_hmac_sha256_matches_rfc7914_vector_2() {
        let okm = derive_keys(b"Password", b"NaCl", 80_000);
        let expected = unhex(
            "4d dc d8 f6 0b 98 be 21 83 0c ee 5e f2 27 01 f9
             64 1a 44 18 d0 4c 04 14 ae ff 08 87 6b 34 ab 56
             a1 d4 25 a1 22 58 33 54 9a db 84 1b 51 c9 b3 17
             6a 27 2b de bb a1 d0 78 47 8f 62 b3 97 f3 3c 8d",
        );
        assert_eq!(okm[..], expected[..]);
    }

    #[test]
    fn record_layout_is_as_documented() {
        let master = [7u8; 32];
        let salt = [1u8; SALT_LEN];
        let iv = [2u8; IV_LEN];
        let record =
            seal_with(&master, b"hunter2", b"row", ITERATIONS, &salt, &iv).unwrap_or_default();
        assert_eq!(record[0], VERSION);
        assert_eq!(record[1..5], ITERATIONS.to_be_bytes());
        assert_eq!(record[5..21], salt);
        assert_eq!(record[21..37], iv);
        assert_eq!(record.len(), HEADER_LEN + BLOCK_LEN + TAG_LEN);
        // The tag is HMAC-SHA256 under the *second* half of the derived keys.
        let okm = derive_keys(&master, &salt, ITERATIONS);
        let (_, mac_key) = split_keys(&okm);
        let verified = mac(&mac_key).map(|mut check| {
            check.update(&record[..record.len() - TAG_LEN]);
            update_associated(&mut check, b"row");
            check
                .verify_slice(&record[record.len() - TAG_LEN..])
                .is_ok()
        });
        assert_eq!(verified, Ok(true));
    }

    #[test]
    fn records_with_absurd_iteration_counts_are_refused_without_work() {
        let master = [7u8; 32];
        let mut record = seal_with(&master, b"x", b"", ITERATIONS, &[0; SALT_LEN], &[0; IV_LEN])
            .unwrap_or_default();
        assert!(open(&master, &record, b"").is_ok());
        record[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(open(&master, &record, b"").is_err());
    }

    /// A well-formed record (valid tag) claiming more iterations than the bound is refused: at
    /// 200,000 it would cost 100 times a normal record, at every start and every use.
    #[test]
    fn a_genuine_record_with_an_expensive_iteration_count_is_refused() {
        let master = [7u8; 32];
        let costly = 200_000;
        let record =
            seal_with(&master, b"x", b"", costly, &[0; SALT_LEN], &[0; IV_LEN]).unwrap_or_default();
        assert!(!record.is_empty());
        assert!(open(&master, &record, b"").is_err());
    }

    /// The associated data is authenticated: the same record opens only with the data it was
    /// sealed with, and an unbound (version 1) record opens only through `open_unbound`.
    #[test]
    fn a_record_opens_only_with_its_associated_data() {
        let master = [7u8; 32];
        let record = seal(&master, b"secret", b"row 1").unwrap_or_default();
        assert_eq!(
            open(&master, &record, b"row 1").map(|p| p.to_vec()),
            Ok(b"secret".to_vec())
        );
        assert!(open(&master, &record, b"row 2").is_err());
        assert!(open(&master, &record, b"").is_err());
        assert!(open_unbound(&master, &record).is_err());
    }

    /// A version-1 record as the previous format wrote it: version byte 1, tag over the body
    /// alone. Only the upgrade path opens it.
    #[test]
    fn an_unbound_version_1_record_opens_only_for_the_upgrade() {
        let master = [7u8; 32];
        let record = legacy_record(&master, b"old secret");
        assert_eq!(
            open_unbound(&master, &record).map(|p| p.to_vec()),
            Ok(b"old secret".to_vec())
        );
        assert!(open(&master, &record, b"").is_err());
    }

    /// Writes a record in the version-1 format (no associated data in the tag).
    pub(crate) fn legacy_record(master: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let salt = [3u8; SALT_LEN];
        let iv = [4u8; IV_LEN];
        let okm = derive_keys(master, &salt, ITERATIONS);
        let (enc_key, mac_key) = split_keys(&okm);
        let mut record = vec![UNBOUND_VERSION];
        record.extend_from_slice(&ITERATIONS.to_be_bytes());
        record.extend_from_slice(&salt);
        record.extend_from_slice(&iv);
        record.extend_from_slice(&cbc_encrypt(&enc_key, &iv, plaintext));
        let tag = mac(&mac_key).map(|mut m| {
            m.update(&record);
            m.finalize().into_bytes().to_vec()
        });
        record.extend_from_slice(&tag.unwrap_or_default());
        record
    }
}
