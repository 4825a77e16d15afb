//! A server that never speaks, for the timeout tests: it accepts TCP connections on loopback
//! and keeps them open without sending a byte, or first completes a TLS handshake (with a
//! certificate from the test CA) and then stays silent, so a client waiting for an IMAP greeting
//! waits forever. Nothing is read or answered; every connection is held until the server drops.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the server does after accepting.
pub enum Silence {
    /// Nothing at all: not even a TLS handshake.
    Tcp,
    /// A TLS handshake with this certificate chain and key (PEM files), then nothing.
    AfterTls {
        chain: std::path::PathBuf,
        key: std::path::PathBuf,
    },
}

pub struct SilentServer {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    handshakes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl SilentServer {
    pub async fn start(silence: Silence) -> Result<SilentServer> {
        let acceptor = match &silence {
            Silence::Tcp => None,
            Silence::AfterTls { chain, key } => Some(tls_acceptor(chain, key)?),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let handshakes = Arc::new(AtomicU64::new(0));
        let (counted, shaken) = (Arc::clone(&accepted), Arc::clone(&handshakes));
        let task = tokio::spawn(async move {
            // Dropped with the task: every held connection closes with it.
            let mut held = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                match &acceptor {
                    None => drop(held.spawn(async move {
                        let _tcp = tcp;
                        std::future::pending::<()>().await
                    })),
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let shaken = Arc::clone(&shaken);
                        drop(held.spawn(async move {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                shaken.fetch_add(1, Ordering::SeqCst);
                                let _tls = tls;
                                std::future::pending::<()>().await
                            }
                        }));
                    }
                }
            }
        });
        Ok(SilentServer {
            addr,
            accepted,
            handshakes,
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tls_acceptor(chain: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(chain).with_context(|| format!("open {}", chain.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("open {}", key.display()))?,
    ))?
    .context("no private key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
