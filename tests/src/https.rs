//! Talking HTTPS to the daemon in tests: certificates signed by the test servers' CA (made with
//! the `openssl` command that `scripts/test-servers.sh` installs), a one-shot HTTP/1.1 client
//! over rustls that also reports the certificate the server presented, and a TLS 1.1 probe
//! through `openssl s_client` (rustls cannot speak TLS 1.1, so it cannot be the probe).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::servers::TestEnv;

/// A leaf certificate (SAN `localhost`, `127.0.0.1`) and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// Leaf then CA, as a server sends its chain.
    pub chain: PathBuf,
    pub key: PathBuf,
    /// The leaf's DER, to compare with what a server presents.
    pub leaf_der: Vec<u8>,
}

/// Issues a fresh leaf certificate signed by the test CA into `dir` (files `<name>.pem`,
/// `<name>.key`). Each call gets a new key and a random serial, so two certificates never match.
pub fn issue_certificate(env: &TestEnv, dir: &Path, name: &str) -> Result<IssuedCertificate> {
    issue_certificate_for(env, dir, name, "DNS:localhost,IP:127.0.0.1")
}

/// [`issue_certificate`] for other names: `san` is the subjectAltName value in openssl's form
/// (`DNS:a.example,IP:127.0.0.1`); the subject's CN is the first name.
pub fn issue_certificate_for(
    env: &TestEnv,
    dir: &Path,
    name: &str,
    san: &str,
) -> Result<IssuedCertificate> {
    let ca_key = env.ca.with_file_name("ca.key");
    ensure!(
        ca_key.exists(),
        "no test CA key at {}: run scripts/test.sh",
        ca_key.display()
    );
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let leaf = dir.join(format!("{name}.leaf.pem"));
    let ext = dir.join(format!("{name}.ext"));
    let chain = dir.join(format!("{name}.pem"));
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName={san}\n"
        ),
    )?;
    let common_name = san
        .split(',')
        .next()
        .and_then(|first| first.split_once(':'))
        .map_or("localhost", |(_, value)| value);
    let subject = format!("/CN={common_name}");
    run_openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        &subject,
        "-keyout",
        path(&key)?,
        "-out",
        path(&csr)?,
    ])?;
    // A random serial instead of -CAcreateserial: that would write ca.srl into the shared
    // servers' directory, racing the other tests.
    let serial = format!("0x{:016x}", rand::random::<u64>());
    run_openssl(&[
        "x509",
        "-req",
        "-in",
        path(&csr)?,
        "-CA",
        path(&env.ca)?,
        "-CAkey",
        path(&ca_key)?,
        "-set_serial",
        &serial,
        "-days",
        "2",
        "-extfile",
        path(&ext)?,
        "-out",
        path(&leaf)?,
    ])?;
    let leaf_pem = std::fs::read(&leaf)?;
    let ca_pem = std::fs::read(&env.ca)?;
    std::fs::write(&chain, [leaf_pem.as_slice(), ca_pem.as_slice()].concat())?;
    let leaf_der = rustls_pemfile::certs(&mut leaf_pem.as_slice())
        .next()
        .context("openssl wrote no certificate")??
        .as_ref()
        .to_vec();
    Ok(IssuedCertificate {
        chain,
        key,
        leaf_der,
    })
}

fn path(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("non-UTF-8 path {}", p.display()))
}

fn run_openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .context("run openssl (installed by scripts/test-servers.sh; run scripts/test.sh)")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The leaf certificate the server presented (empty for plain HTTP).
    pub peer_leaf: Vec<u8>,
    /// The TLS version negotiated (`None` for plain HTTP).
    pub tls_version: Option<rustls::ProtocolVersion>,
}

impl Reply {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request: method, path, extra headers, body.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: String,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            path,
            ..Request::default()
        }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }
}

/// Sends `request` over HTTPS to `addr` (SNI `localhost`) with `tls` as the client config.
pub async fn https(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    request: &Request<'_>,
) -> Result<Reply> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    let name = ServerName::try_from("localhost").context("server name")?;
    let mut stream = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .context("tls handshake within 10 s")?
        .context("tls handshake")?;
    let (peer_leaf, tls_version) = {
        let (_, connection) = stream.get_ref();
        let leaf = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c: &CertificateDer<'_>| c.as_ref().to_vec())
            .unwrap_or_default();
        (leaf, connection.protocol_version())
    };
    stream.write_all(&encode(request, "localhost")).await?;
    let raw = read_all(&mut stream).await?;
    let mut reply = decode(&raw)?;
    reply.peer_leaf = peer_leaf;
    reply.tls_version = tls_version;
    Ok(reply)
}

/// Sends `request` over plain HTTP to `addr`.
pub async fn http(addr: SocketAddr, request: &Request<'_>) -> Result<Reply> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream
        .write_all(&encode(request, &addr.to_string()))
        .await?;
    let raw = read_all(&mut stream).await?;
    decode(&raw)
}

/// A rustls client trusting the test CA and speaking only `version`, without session
/// resumption (each connection is a full handshake that shows the server's current certificate).
pub fn client_config(
    env: &TestEnv,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<Arc<rustls::ClientConfig>> {
    let pem = std::fs::read(&env.ca).with_context(|| format!("read {}", env.ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

fn encode(request: &Request<'_>, host: &str) -> Vec<u8> {
    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
        request.method, request.path
    );
    for (name, value) in &request.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.body.is_empty() || request.method != "GET" {
        text.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    text.push_str("\r\n");
    text.push_str(&request.body);
    text.into_bytes()
}

async fn read_all<S: AsyncReadExt + Unpin>(stream: &mut S) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("response within 10 s")?;
    match read {
        Ok(_) => Ok(raw),
        // A server that closes without TLS close_notify after a complete response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(e.into()),
    }
}

fn decode(raw: &[u8]) -> Result<Reply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("no header end in {text:?}"))?;
    let mut lines = head.lines();
    let status_line = lines.next().context("empty response")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok(Reply {
        status,
        headers,
        body,
        peer_leaf: Vec::new(),
        tls_version: None,
    })
}

fn dechunk(mut body: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("chunk size line")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .context("chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).context("short chunk")?;
        out.push_str(chunk);
        body = rest
            .get(size..)
            .and_then(|r| r.strip_prefix("\r\n"))
            .context("chunk end")?;
    }
}

/// What `openssl s_client` made of a handshake forced to one protocol version.
#[derive(Debug, Clone)]
pub struct OpensslProbe {
    /// The handshake completed.
    pub connected: bool,
    /// stdout and stderr together, for assertions and failure messages.
    pub output: String,
}

/// Connects with `openssl s_client -<flag>` (`tls1_1`, `tls1_2`, …). The security level is
/// lowered so that OpenSSL itself is willing to offer the old version: the refusal must come
/// from the server.
pub async fn openssl_probe(addr: SocketAddr, flag: &str) -> Result<OpensslProbe> {
    let mut command = tokio::process::Command::new("openssl");
    command
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            &format!("-{flag}"),
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .args(["-servername", "localhost"])
        .stdin(std::process::Stdio::null());
    let out = tokio::time::timeout(Duration::from_secs(15), command.output())
        .await
        .context("openssl s_client within 15 s")?
        .context(
            "run openssl s_client (installed by scripts/test-servers.sh; run scripts/test.sh)",
        )?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A finished handshake prints the negotiated cipher ("Cipher is X"), a failed one
    // "Cipher is (NONE)" or only an alert.
    let connected = output.contains("Cipher is ") && !output.contains("Cipher is (NONE)");
    Ok(OpensslProbe { connected, output })
}
