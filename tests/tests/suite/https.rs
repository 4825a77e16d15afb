//! The HTTPS listener of a real supervisor: TLS 1.2 and 1.3 are served and TLS 1.1 refused,
//! HSTS on every HTTPS response, the plain-HTTP listener only redirects (308), a replaced
//! certificate is served after `reload()` without a restart, plain HTTP on a public address
//! is refused by the configuration, and CORS answers only the configured origins.
//!
//! Certificates are signed by the test servers' CA (`scripts/test.sh` makes it); the TLS 1.1
//! probe is `openssl s_client`, because rustls cannot speak TLS 1.1.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::config::Config;
use mailsig_daemon::http::tls::{CertificateFiles, HttpsOptions};
use mailsig_daemon::store::Store;
use mailsig_daemon::supervisor::{Supervisor, SupervisorOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use mailsig_tests::https::{
    IssuedCertificate, Reply, Request, client_config, http, https, issue_certificate, openssl_probe,
};
use mailsig_tests::servers::TestEnv;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const ALLOWED_ORIGIN: &str = "https://crm.example.net";

struct Running {
    supervisor: Supervisor,
    https: SocketAddr,
    redirect: SocketAddr,
    _dir: tempfile::TempDir,
}

/// A supervisor serving HTTPS on a loopback socket bound here with `cert`, a redirect listener, and CORS
/// for [`ALLOWED_ORIGIN`].
async fn start(dir: tempfile::TempDir, cert: &IssuedCertificate) -> Result<Running> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    let options = SupervisorOptions {
        http_listener: Some(std::sync::Arc::new(listener)),
        https: HttpsOptions {
            certificate: Some(CertificateFiles {
                cert: cert.chain.clone(),
                key: cert.key.clone(),
            }),
            redirect_from: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            https_base: format!("https://localhost:{port}"),
            cors_origins: vec![ALLOWED_ORIGIN.to_owned()],
        },
        shutdown_grace: Duration::from_secs(20),
        ..SupervisorOptions::default()
    };
    let supervisor = Supervisor::start(
        options,
        store,
        Vault::new(MasterKey::generate()?),
        CancellationToken::new(),
    )
    .await?;
    let https = supervisor.http_addr().context("https address")?;
    let redirect = supervisor.redirect_addr().context("redirect address")?;
    Ok(Running {
        supervisor,
        https,
        redirect,
        _dir: dir,
    })
}

/// `/healthz` over a fresh TLS session (no resumption: a resumed session reports the
/// certificate of the session it resumes, not the one the server holds now).
/// [`start`] in a new temp dir, serving a certificate issued for the test.
async fn start_with_fresh_certificate(env: &TestEnv) -> Result<Running> {
    let dir = tempfile::tempdir()?;
    let cert = issue_certificate(env, dir.path(), "server")?;
    start(dir, &cert).await
}

async fn get_healthz(env: &TestEnv, addr: SocketAddr) -> Result<Reply> {
    https(
        addr,
        client_config(env, &rustls::version::TLS13)?,
        &Request::get("/healthz"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_and_1_3_are_served_and_tls_1_1_is_refused() -> Result<()> {
    let env = TestEnv::from_env()?;
    let running = start_with_fresh_certificate(&env).await?;

    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let reply = https(
            running.https,
            client_config(&env, version)?,
            &Request::get("/healthz"),
        )
        .await?;
        ensure!(
            reply.status == 200 && reply.body.trim() == "ok",
            "{:?}: {reply:?}",
            version.version
        );
        ensure!(
            reply.tls_version == Some(version.version),
            "negotiated {:?}",
            reply.tls_version
        );
    }

    let old = openssl_probe(running.https, "tls1_1").await?;
    ensure!(
        !old.connected,
        "a TLS 1.1 handshake succeeded:\n{}",
        old.output
    );
    // rustls answers a client whose best version is 1.1 with a fatal alert (handshake_failure,
    // number 40), before sending any certificate.
    ensure!(
        old.output.contains("SSL alert number")
            && old.output.contains("no peer certificate available"),
        "TLS 1.1 was not refused with an alert:\n{}",
        old.output
    );
    // The same probe with TLS 1.2 connects: the refusal above is the server's, not openssl's.
    let current = openssl_probe(running.https, "tls1_2").await?;
    ensure!(
        current.connected,
        "openssl could not connect with TLS 1.2:\n{}",
        current.output
    );

    running.supervisor.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_responses_carry_hsts_and_plain_http_is_redirected_with_308() -> Result<()> {
    let env = TestEnv::from_env()?;
    let running = start_with_fresh_certificate(&env).await?;

    let reply = get_healthz(&env, running.https).await?;
    ensure!(reply.status == 200, "{reply:?}");
    ensure!(
        reply.header("strict-transport-security") == Some("max-age=31536000"),
        "no HSTS: {:?}",
        reply.headers
    );
    // A 404 is an HTTPS response too.
    let missing = https(
        running.https,
        env.tls_client_config(),
        &Request::get("/no/such/page"),
    )
    .await?;
    ensure!(
        missing.status == 404 && missing.header("strict-transport-security").is_some(),
        "{missing:?}"
    );

    let redirected = http(running.redirect, &Request::get("/review?list=3&page=2")).await?;
    ensure!(
        redirected.status == 308,
        "redirect status {}",
        redirected.status
    );
    let expected = format!(
        "https://localhost:{}/review?list=3&page=2",
        running.https.port()
    );
    ensure!(
        redirected.header("location") == Some(expected.as_str()),
        "location {:?}",
        redirected.header("location")
    );
    // The target comes from the configuration, not from a forged Host header.
    let forged = http(
        running.redirect,
        &Request::get("/").header("X-Forwarded-Host", "evil.example"),
    )
    .await?;
    ensure!(
        forged.header("location")
            == Some(format!("https://localhost:{}/", running.https.port()).as_str()),
        "{forged:?}"
    );
    ensure!(
        redirected.header("strict-transport-security").is_none(),
        "HSTS over plain HTTP"
    );

    // Plain HTTP sent to the HTTPS port gets no page.
    let plain = http(running.https, &Request::get("/healthz")).await;
    ensure!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "plain HTTP served on the HTTPS port: {plain:?}"
    );

    running.supervisor.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_is_served_after_reload_without_a_restart() -> Result<()> {
    let env = TestEnv::from_env()?;
    let dir = tempfile::tempdir()?;
    let first = issue_certificate(&env, dir.path(), "server")?;
    let running = start(dir, &first).await?;
    let certificate = running
        .supervisor
        .tls_certificate()
        .context("the supervisor exposes its certificate")?;
    ensure!(
        certificate.summary().sha256 == hex::encode(Sha256::digest(&first.leaf_der)),
        "summary of the first"
    );

    let before = get_healthz(&env, running.https).await?;
    ensure!(
        before.peer_leaf == first.leaf_der,
        "the first certificate is not the one served"
    );

    // A new certificate written over the same files, as certbot or an operator does.
    let staging = tempfile::tempdir()?;
    let second = issue_certificate(&env, staging.path(), "renewed")?;
    ensure!(
        second.leaf_der != first.leaf_der,
        "two issued certificates are identical"
    );
    std::fs::copy(&second.chain, &first.chain)?;
    std::fs::copy(&second.key, &first.key)?;

    // Not picked up by itself: only reload() swaps it.
    let unchanged = get_healthz(&env, running.https).await?;
    ensure!(
        unchanged.peer_leaf == first.leaf_der,
        "certificate changed before reload"
    );
    let summary = certificate.reload()?;
    ensure!(
        summary.sha256 == hex::encode(Sha256::digest(&second.leaf_der)),
        "reload summary {summary}"
    );
    let after = get_healthz(&env, running.https).await?;
    ensure!(
        after.status == 200 && after.peer_leaf == second.leaf_der,
        "the renewed certificate is not served"
    );

    // A broken file: reload fails and the last good certificate keeps serving.
    std::fs::write(&first.key, "not a key")?;
    ensure!(certificate.reload().is_err(), "a broken key was accepted");
    let still = get_healthz(&env, running.https).await?;
    ensure!(
        still.peer_leaf == second.leaf_der,
        "a failed reload changed the served certificate"
    );

    running.supervisor.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_the_configured_origin() -> Result<()> {
    let env = TestEnv::from_env()?;
    let running = start_with_fresh_certificate(&env).await?;
    let preflight = |origin: &'static str| Request {
        method: "OPTIONS",
        path: "/healthz",
        headers: vec![
            ("Origin", origin.to_owned()),
            ("Access-Control-Request-Method", "GET".to_owned()),
        ],
        body: String::new(),
    };

    let allowed = https(
        running.https,
        env.tls_client_config(),
        &preflight(ALLOWED_ORIGIN),
    )
    .await?;
    ensure!(
        allowed.header("access-control-allow-origin") == Some(ALLOWED_ORIGIN),
        "preflight: {allowed:?}"
    );
    ensure!(
        allowed
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("GET")),
        "{allowed:?}"
    );
    let other = https(
        running.https,
        env.tls_client_config(),
        &preflight("https://evil.example"),
    )
    .await?;
    ensure!(
        other.header("access-control-allow-origin").is_none(),
        "other origin allowed: {other:?}"
    );

    let simple = https(
        running.https,
        env.tls_client_config(),
        &Request::get("/healthz").header("Origin", ALLOWED_ORIGIN),
    )
    .await?;
    ensure!(
        simple.status == 200
            && simple.header("access-control-allow-origin") == Some(ALLOWED_ORIGIN),
        "{simple:?}"
    );
    let simple_other = https(
        running.https,
        env.tls_client_config(),
        &Request::get("/healthz").header("Origin", "https://evil.example"),
    )
    .await?;
    ensure!(
        simple_other.header("access-control-allow-origin").is_none(),
        "{simple_other:?}"
    );

    running.supervisor.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_a_public_address_is_refused_by_the_configuration() -> Result<()> {
    let path = Path::new("/etc/mailsig/mailsig.toml");
    let no_vars = Vec::<(String, String)>::new;
    let refused = Config::from_toml("[http]\nlisten = \"0.0.0.0:8080\"\n", path, no_vars());
    let message = refused
        .err()
        .map(|e| e.to_string())
        .context("0.0.0.0 without TLS was accepted")?;
    ensure!(
        message.contains("http.listen") && message.contains("loopback"),
        "{message}"
    );
    // The same address with a certificate, or behind a declared proxy, is accepted.
    let tls = "[http]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
    ensure!(
        Config::from_toml(tls, path, no_vars()).is_ok(),
        "TLS on 0.0.0.0 refused"
    );
    let proxy = "[http]\nlisten = \"0.0.0.0:8080\"\nbehind_proxy = true\ntrusted_proxies = [\"10.0.0.2\"]\n";
    ensure!(
        Config::from_toml(proxy, path, no_vars()).is_ok(),
        "behind_proxy refused"
    );
    // A proxy must be named: otherwise every client would share its rate limit.
    let unnamed = "[http]\nlisten = \"0.0.0.0:8080\"\nbehind_proxy = true\n";
    let message = Config::from_toml(unnamed, path, no_vars())
        .err()
        .map(|e| e.to_string())
        .context("behind_proxy without trusted_proxies was accepted")?;
    ensure!(message.contains("http.trusted_proxies"), "{message}");
    // And the environment overrides the Dockerfile documents work the same way.
    let docker = Config::from_toml(
        "",
        path,
        vec![
            ("MAILSIG_HTTP_LISTEN", "0.0.0.0:8080"),
            ("MAILSIG_HTTP_BEHIND_PROXY", "true"),
            ("MAILSIG_HTTP_TRUSTED_PROXIES", "[\"172.17.0.1\"]"),
        ],
    );
    ensure!(docker.is_ok(), "{:?}", docker.err().map(|e| e.to_string()));
    // The image's own default (loopback, no proxy) needs no edit to be accepted.
    let image = Config::from_toml("", path, vec![("MAILSIG_HTTP_LISTEN", "127.0.0.1:8080")]);
    ensure!(image.is_ok(), "{:?}", image.err().map(|e| e.to_string()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_certificate_fails_the_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("mailsig.db"))).await?;
    let options = SupervisorOptions {
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        https: HttpsOptions {
            certificate: Some(CertificateFiles {
                cert: dir.path().join("none.pem"),
                key: dir.path().join("none.key"),
            }),
            ..HttpsOptions::default()
        },
        ..SupervisorOptions::default()
    };
    let started = Supervisor::start(
        options,
        store,
        Vault::new(MasterKey::generate()?),
        CancellationToken::new(),
    )
    .await;
    let error = started.err().context("started without its certificate")?;
    let chain = format!("{:#}", anyhow::Error::from(error));
    ensure!(
        chain.contains("none.pem"),
        "the error does not name the file: {chain}"
    );
    Ok(())
}
