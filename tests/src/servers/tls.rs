//! rustls client configuration that trusts exactly one CA file, as the tests' clients need.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

/// A rustls client config (ring provider) whose only trust anchors are the certificates in the PEM
/// file `ca`.
pub fn client_config_trusting(ca: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let file = File::open(ca).with_context(|| format!("open CA file {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
        let cert = cert.with_context(|| format!("read PEM {}", ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("add CA certificate from {}", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("no certificate in CA file {}", ca.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("rustls protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
