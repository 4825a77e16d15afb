//! HTTPS for the web pages and the API: a rustls listener (TLS 1.2 and 1.3 only) whose
//! certificate can be replaced without a restart, the HSTS header, the plain-HTTP listener that
//! only redirects to HTTPS, and CORS for the configured origins only.
//!
//! Why a listener of our own: axum's `serve` takes any [`axum::serve::Listener`], so the TLS
//! handshakes run in their own tasks (one slow or hostile client cannot hold up the accept
//! loop) and finished TLS streams are handed to axum, which keeps its graceful shutdown and
//! `ConnectInfo<SocketAddr>` for the rate limiter.
//!
//! Certificate reload: the rustls configuration asks [`ReloadableCertificate`] for the
//! certificate at every handshake; [`ReloadableCertificate::reload`] re-reads the PEM files and
//! swaps the new key in. A bad new file leaves the old certificate serving.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::response::Redirect;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// A client that has not finished its TLS handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's backlog.
pub const MAX_PENDING_HANDSHAKES: usize = 256;
/// `Strict-Transport-Security` on every HTTPS response: one year, as browsers' preload lists ask.
pub const HSTS_VALUE: &str = "max-age=31536000";
/// How long a browser may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// Where the certificate chain and its private key are (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The leaf certificate first, then the intermediates.
    pub cert: PathBuf,
    /// PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    pub key: PathBuf,
}

/// Why the TLS certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("read the certificate file {path}")]
    ReadCertificate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read the private key file {path}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the certificate file {path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("the key file {path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("the certificate {cert} and the key {key} are not a usable pair")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("build the tls configuration")]
    Config(#[source] rustls::Error),
}

/// A short, loggable description of a loaded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// SHA-256 of the leaf certificate's DER, lowercase hex (what `openssl x509 -fingerprint
    /// -sha256` prints, without the colons).
    pub sha256: String,
    /// Certificates in the chain, the leaf included.
    pub chain_len: usize,
}

impl fmt::Display for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256 {} ({} in chain)", self.sha256, self.chain_len)
    }
}

/// The server certificate, replaceable while the listener runs (SIGHUP calls
/// [`reload`](Self::reload)).
pub struct ReloadableCertificate {
    files: CertificateFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

#[derive(Clone)]
struct Loaded {
    key: Arc<CertifiedKey>,
    summary: CertificateSummary,
}

impl fmt::Debug for ReloadableCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCertificate")
            .field("files", &self.files)
            .field("current", &self.summary())
            .finish()
    }
}

impl ReloadableCertificate {
    /// Reads the certificate and key; fails if either is missing, unreadable or they do not match.
    pub fn load(files: CertificateFiles) -> Result<ReloadableCertificate, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = read_pair(&files, &provider)?;
        Ok(ReloadableCertificate {
            files,
            provider,
            current: RwLock::new(loaded),
        })
    }

    /// Re-reads the files named at [`load`](Self::load). On success, new handshakes get the new
    /// certificate (established connections keep theirs); on failure the old one stays.
    pub fn reload(&self) -> Result<CertificateSummary, TlsError> {
        let loaded = read_pair(&self.files, &self.provider)?;
        let summary = loaded.summary.clone();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
        tracing::info!(certificate = %summary, "tls certificate reloaded");
        Ok(summary)
    }

    /// The certificate being served now.
    pub fn summary(&self) -> CertificateSummary {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .summary
            .clone()
    }

    /// The files this certificate is read from.
    pub fn files(&self) -> &CertificateFiles {
        &self.files
    }

    /// A rustls server configuration that serves this certificate: TLS 1.2 and 1.3 only,
    /// ALPN `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadableCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .key,
        ))
    }
}

fn read_pair(files: &CertificateFiles, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let cert_file = File::open(&files.cert).map_err(|source| TlsError::ReadCertificate {
        path: files.cert.clone(),
        source,
    })?;
    let chain = rustls_pemfile::certs(&mut BufReader::new(cert_file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::ReadCertificate {
            path: files.cert.clone(),
            source,
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    };
    let summary = CertificateSummary {
        sha256: hex::encode(Sha256::digest(leaf.as_ref())),
        chain_len: chain.len(),
    };
    let key_file = File::open(&files.key).map_err(|source| TlsError::ReadKey {
        path: files.key.clone(),
        source,
    })?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(key_file))
        .map_err(|source| TlsError::ReadKey {
            path: files.key.clone(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey {
            path: files.key.clone(),
        })?;
    let key = CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        summary,
    })
}

/// A bound TCP listener that hands axum finished TLS streams. Handshakes run in their own
/// tasks under [`HANDSHAKE_TIMEOUT`], at most [`MAX_PENDING_HANDSHAKES`] at a time.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    /// Stops the accept task when axum drops the listener.
    _stop: DropGuard,
}

impl TlsListener {
    /// Starts accepting on `listener` (spawns the accept task on the current runtime).
    pub fn new(listener: TcpListener, addr: SocketAddr, config: Arc<ServerConfig>) -> TlsListener {
        let (sender, ready) = mpsc::channel(64);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            sender,
            stop.clone(),
        ));
        TlsListener {
            ready,
            addr,
            _stop: stop.drop_guard(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task only ends when this listener is dropped; never hand out a
            // connection again (axum's graceful shutdown stops calling us).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    stop: CancellationToken,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            permit = Arc::clone(&pending).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                // EMFILE and friends: back off a little instead of spinning (as axum does).
                tracing::warn!(error = %error, "https accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    // The receiver is gone only when the server stopped.
                    let _ = ready.send((tls, peer)).await;
                }
                // Scanners, old clients (TLS 1.1) and plain HTTP sent to the TLS port end here.
                Ok(Err(error)) => tracing::debug!(%peer, error = %error, "tls handshake failed"),
                Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
            }
        });
    }
}

/// Adds `Strict-Transport-Security` to every response (only ever on the HTTPS listener).
pub fn with_hsts(router: Router) -> Router {
    router.layer(SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS_VALUE),
    ))
}

/// The plain-HTTP listener's whole application: every request is answered with a 308 to the
/// same path and query under `https_base` (e.g. `https://mailsig.example.net`). The target is
/// built from the configuration, never from the request's `Host` header.
pub fn redirect_router(https_base: &str) -> Router {
    let base: Arc<str> = Arc::from(https_base.trim_end_matches('/'));
    Router::new().fallback(move |uri: Uri| {
        let base = Arc::clone(&base);
        async move {
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            Redirect::permanent(&format!("{base}{path}"))
        }
    })
}

/// CORS for exactly `origins` (`https://app.example.net`, no path); `None` when the list is
/// empty, in which case no CORS header is ever sent and browsers refuse cross-origin reads.
/// Cookies are not allowed cross-origin: other origins use bearer tokens.
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let values: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(values))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(CORS_MAX_AGE),
    )
}

/// The files exist and pair up: the check `mailsigd check-config` and start-up make before
/// binding anything.
pub fn check_files(files: &CertificateFiles) -> Result<CertificateSummary, TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    read_pair(files, &provider).map(|loaded| loaded.summary)
}

/// How the HTTP listener is exposed: HTTPS or not, the redirect listener, CORS. Built from the
/// `[http]` configuration; the default is plain HTTP without CORS (loopback only, which the
/// configuration checks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpsOptions {
    /// Serve HTTPS with this certificate; `None` serves plain HTTP.
    pub certificate: Option<CertificateFiles>,
    /// Also listen here for plain HTTP that only redirects (308) to `https_base`.
    pub redirect_from: Option<SocketAddr>,
    /// Where the redirect points: the public `https://` URL, without a trailing slash.
    pub https_base: String,
    /// Origins allowed to call the API from a browser (CORS); empty means none.
    pub cors_origins: Vec<String>,
}

/// The prepared exposure: the certificate loaded and the redirect port bound, so that a bad
/// certificate or a taken port fails the start before anything runs.
pub struct Exposure {
    certificate: Option<Arc<ReloadableCertificate>>,
    server_config: Option<Arc<ServerConfig>>,
    redirect: Option<(TcpListener, SocketAddr, String)>,
    cors_origins: Vec<String>,
}

impl fmt::Debug for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exposure")
            .field("certificate", &self.certificate)
            .field(
                "redirect",
                &self.redirect.as_ref().map(|(_, addr, base)| (addr, base)),
            )
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

/// Why the HTTPS side could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    #[error("load the https certificate")]
    Certificate(#[from] TlsError),
    #[error("bind the http-to-https redirect listener on {addr}")]
    BindRedirect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Exposure {
    /// Plain HTTP, no CORS.
    pub fn plain() -> Exposure {
        Exposure {
            certificate: None,
            server_config: None,
            redirect: None,
            cors_origins: Vec::new(),
        }
    }

    /// Loads the certificate and binds the redirect listener.
    pub async fn prepare(options: &HttpsOptions) -> Result<Exposure, ExposureError> {
        let mut exposure = Exposure::plain();
        exposure.cors_origins = options.cors_origins.clone();
        if let Some(files) = &options.certificate {
            let certificate = Arc::new(ReloadableCertificate::load(files.clone())?);
            tracing::info!(certificate = %certificate.summary(), "https certificate loaded");
            exposure.server_config = Some(certificate.server_config()?);
            exposure.certificate = Some(certificate);
        }
        if let Some(addr) = options.redirect_from {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ExposureError::BindRedirect { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| ExposureError::BindRedirect { addr, source })?;
            exposure.redirect = Some((listener, bound, options.https_base.clone()));
        }
        Ok(exposure)
    }

    /// The certificate, for reloading it (SIGHUP); `None` on plain HTTP.
    pub fn certificate(&self) -> Option<Arc<ReloadableCertificate>> {
        self.certificate.clone()
    }

    /// The bound address of the redirect listener, if any.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().map(|(_, addr, _)| *addr)
    }

    /// `true` when the main listener speaks TLS.
    pub fn is_https(&self) -> bool {
        self.server_config.is_some()
    }

    /// Serves `app` on `listener` (HTTPS with HSTS when a certificate is loaded, CORS when
    /// origins are configured) and the redirect listener beside it, until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        addr: SocketAddr,
        app: Router,
        shutdown: CancellationToken,
    ) {
        let mut app = app;
        if let Some(cors) = cors_layer(&self.cors_origins) {
            app = app.layer(cors);
        }
        let redirect = self.redirect.map(|(listener, addr, base)| {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tracing::info!(%addr, to = %base, "http listener redirecting to https");
                crate::http::connections::serve(listener, redirect_router(&base), shutdown).await;
            })
        });
        // Connection cap, header and body read timeouts, body limits: `http::connections`.
        match self.server_config {
            Some(config) => {
                tracing::info!(%addr, "https listener serving");
                let listener = TlsListener::new(listener, addr, config);
                crate::http::connections::serve(listener, with_hsts(app), shutdown.clone()).await;
            }
            None => {
                tracing::info!(%addr, "http listener serving (plain http)");
                crate::http::connections::serve(listener, app, shutdown.clone()).await;
            }
        }
        tracing::info!(%addr, "http listener stopped");
        if let Some(redirect) = redirect {
            let _ = redirect.await;
        }
    }
}
