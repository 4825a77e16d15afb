//! Which certificate authorities an IMAP connection trusts.
//!
//! Three sources, in this order of precedence:
//! - the mailbox's own CA (`ImapSettings::ca_pem`, PEM text given when linking, stored with the
//!   mailbox: a CA certificate is public, not a secret), which is trusted *instead of* any other,
//!   so a private server's mailbox trusts exactly the authority its owner named;
//! - a CA file named by the operator's CLI for one mailbox (`ImapSettings::ca_file`, records
//!   linked before the CA was stored with the mailbox): read once into `ca_pem` by
//!   `settings::inline_legacy_ca_file` when the watcher first starts, and never read again;
//! - otherwise the public web roots plus the operator's `[imap] ca_file` (for every mailbox,
//!   e.g. an internal mail server under the organisation's own CA), read once when the
//!   configuration is loaded ([`OperatorRoots`]).
//!
//! The client configuration built on the public roots and the operator's CAs is built once per
//! configuration load and shared by every connection ([`OperatorRoots::client_config`]); only a
//! mailbox with its own CA gets a configuration of its own.
//!
//! Parsing a CA never puts what it read into an error: a pasted text can be anything.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

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
#[derive(Debug, Clone, Default)]
pub struct OperatorRoots {
    certs: Arc<[CertificateDer<'static>]>,
    /// The client configuration on the public roots plus these, built at the first connection.
    config: Arc<OnceLock<Arc<ClientConfig>>>,
}

impl PartialEq for OperatorRoots {
    fn eq(&self, other: &Self) -> bool {
        self.certs == other.certs
    }
}

impl Eq for OperatorRoots {}

impl OperatorRoots {
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        OperatorRoots {
            certs: certs.into(),
            config: Arc::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Adds them to `store` (each was checked when it was read).
    pub fn add_to(&self, store: &mut RootCertStore) {
        for cert in self.certs.iter() {
            let _ = store.add(cert.clone());
        }
    }

    /// The client configuration of every mailbox without a CA of its own: the public web roots
    /// plus these. Built once (about 150 roots) and shared.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, rustls::Error> {
        if let Some(config) = self.config.get() {
            return Ok(Arc::clone(config));
        }
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        self.add_to(&mut roots);
        let config = client_config(roots)?;
        Ok(Arc::clone(self.config.get_or_init(|| config)))
    }
}

/// The client configuration of one mailbox with its own CA: exactly the certificates of `pem`.
pub fn mailbox_client_config(pem: &str) -> Result<Arc<ClientConfig>, MailboxCaError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_ca_pem(pem.as_bytes()).map_err(MailboxCaError::Ca)? {
        roots
            .add(cert)
            .map_err(|_| MailboxCaError::Ca(CaError::Unusable))?;
    }
    client_config(roots).map_err(|_| MailboxCaError::Versions)
}

/// Why a mailbox's own CA gives no client configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MailboxCaError {
    #[error("the mailbox's CA {0}")]
    Ca(CaError),
    #[error("TLS 1.2 and 1.3 are not available")]
    Versions,
}

/// TLS 1.3 or 1.2, certificates verified against `roots`, no client certificate.
fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
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

    #[test]
    fn the_shared_client_configuration_is_built_once() {
        let roots = OperatorRoots::new(parse_ca_pem(TEST_CA.as_bytes()).expect("ca"));
        let first = roots.client_config().expect("config");
        let again = roots.clone().client_config().expect("config");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(
            roots,
            OperatorRoots::new(parse_ca_pem(TEST_CA.as_bytes()).expect("ca"))
        );
    }
}
