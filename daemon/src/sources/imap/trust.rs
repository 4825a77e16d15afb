//! Which certificate authorities an IMAP connection trusts.
//!
//! Three sources, in this order of precedence:
//! - the mailbox's own CA (`ImapSettings::ca_pem`, PEM text given when linking, stored with the
//!   mailbox: a CA certificate is public, not a secret), which is trusted *instead of* any other,
//!   so a private server's mailbox trusts exactly the authority its owner named;
//! - a CA file named by the operator's CLI for one mailbox (`ImapSettings::ca_file`, older
//!   records), likewise instead of any other;
//! - otherwise the public web roots plus the operator's `[imap] ca_file` (for every mailbox,
//!   e.g. an internal mail server under the organisation's own CA), read once when the
//!   configuration is loaded ([`OperatorRoots`]).
//!
//! Parsing a CA never puts what it read into an error: a pasted text can be anything.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

/// Most bytes of CA text one mailbox may carry (a handful of certificates).
pub const MAX_CA_PEM_BYTES: usize = 64 * 1024;

/// Why a CA text or file cannot be used, as a fixed sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaError {
    #[error("holds no PEM certificate (a block starting with -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    #[error("is not readable PEM")]
    Unreadable,
    #[error("holds a certificate that cannot be used as a certificate authority")]
    Unusable,
    #[error("is longer than 64 KiB")]
    TooLong,
}

/// The certificates of a PEM text, each one usable as a trust anchor; at least one.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CaError> {
    if pem.len() > MAX_CA_PEM_BYTES {
        return Err(CaError::TooLong);
    }
    let mut certs = Vec::new();
    let mut reader = pem;
    for cert in rustls_pemfile::certs(&mut reader) {
        certs.push(cert.map_err(|_| CaError::Unreadable)?);
    }
    if certs.is_empty() {
        return Err(CaError::NoCertificate);
    }
    let mut store = RootCertStore::empty();
    for cert in &certs {
        store.add(cert.clone()).map_err(|_| CaError::Unusable)?;
    }
    Ok(certs)
}

/// The operator's extra trust anchors (`[imap] ca_file`), shared by every connection. Compared
/// by content, so a reload can tell whether the file changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorRoots(Arc<[CertificateDer<'static>]>);

impl OperatorRoots {
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        OperatorRoots(certs.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds them to `store` (each was checked when it was read).
    pub fn add_to(&self, store: &mut RootCertStore) {
        for cert in self.0.iter() {
            let _ = store.add(cert.clone());
        }
    }
}

/// A self-signed CA certificate (its key was thrown away) for unit tests.
#[cfg(test)]
pub(crate) const TEST_CA: &str = include_str!("testdata/ca.pem");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_certificate_is_read_and_repeated_text_around_it_is_ignored() {
        let certs = parse_ca_pem(TEST_CA.as_bytes()).map(|c| c.len());
        assert_eq!(certs, Ok(1));
        let two = format!("comment\n{TEST_CA}\n{TEST_CA}");
        assert_eq!(parse_ca_pem(two.as_bytes()).map(|c| c.len()), Ok(2));
    }

    #[test]
    fn text_without_a_certificate_is_refused_without_echoing_it() {
        assert_eq!(
            parse_ca_pem(b"hello, I am not a certificate"),
            Err(CaError::NoCertificate)
        );
        assert_eq!(parse_ca_pem(b""), Err(CaError::NoCertificate));
        let broken = b"-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n";
        assert!(parse_ca_pem(broken).is_err());
        let long = vec![b'a'; MAX_CA_PEM_BYTES + 1];
        assert_eq!(parse_ca_pem(&long), Err(CaError::TooLong));
        assert!(!CaError::NoCertificate.to_string().contains("hello"));
    }
}
