//! What sender authentication costs per message, next to the signature engine in the same run
//! (BENCHMARKS.md, "Sender authentication"): DKIM-signed messages of the test zone (NSD, started by
//! `scripts/test-servers.sh`) are extracted, then authenticated with a warm DNS cache (CPU time per
//! message of this thread, where the runtime and the verifier run) and with a cold one (a new
//! authenticator, so new caches and a new resolver, per message: wall time, DNS round trips
//! included).
//!
//! Usage: eval "$(scripts/test-servers.sh env)"; cargo run --release -p mailsig-tests --bin
//! sender-auth-cost [MESSAGES]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mailsig_daemon::domain::AuthResult;
use mailsig_daemon::sender_auth::{SenderAuthSettings, SenderAuthenticator, TrustedIds};
use mailsig_tests::imap_support::SignedMail;

/// This thread's time on a CPU so far (Linux schedstat, nanoseconds).
fn thread_cpu() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = text
        .split_whitespace()
        .next()
        .context("schedstat")?
        .parse()?;
    Ok(Duration::from_nanos(ns))
}

fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2000);
    let port: u16 = std::env::var("MAILSIG_TEST_DNS_PORT")
        .context("MAILSIG_TEST_DNS_PORT: run scripts/test-servers.sh start")?
        .parse()?;
    let keys = PathBuf::from(std::env::var("MAILSIG_TEST_DKIM_KEYS")?);
    let pem = std::fs::read(keys.join("example.test.rsa2026.pem"))?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice())?.context("no key")?;
    let key = RsaKey::<Sha256>::from_key_der(key).map_err(|e| anyhow::anyhow!("{e}"))?;
    let signer = DkimSigner::from_key(key)
        .domain("example.test")
        .selector("rsa2026")
        .headers(["From", "To", "Subject", "Date", "Message-ID"]);
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let raw = SignedMail {
                first: "Nora",
                last: "Whitfield",
                address: "nora.whitfield@example.test",
                to: "owner@mailsig-owner.test",
                subject: &format!("Project update {i}"),
                message_id: &format!("bench{i}@example.test"),
                company: "Whitfield Marine Services, LLC",
                phone_suffix: i % 100,
            }
            .bytes();
            let header = signer.sign(&raw).map(|s| s.to_header());
            header.map(|h| [h.into_bytes(), raw].concat())
        })
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("sign: {e}"))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let settings = SenderAuthSettings {
        resolver: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        ..SenderAuthSettings::default()
    };
    let trust = TrustedIds::default();

    // The signature engine on the same messages.
    let cpu = thread_cpu()?;
    for m in &messages {
        std::hint::black_box(mailsig_parser::extract(m));
    }
    let extract_cpu = (thread_cpu()? - cpu) / n as u32;

    // Warm: one authenticator, primed once.
    let warm = SenderAuthenticator::new(&settings)?;
    runtime.block_on(warm.authenticate(&messages[0], &trust));
    let cpu = thread_cpu()?;
    let mut passed = 0;
    for m in &messages {
        let verdict = runtime.block_on(warm.authenticate(m, &trust));
        passed += usize::from(verdict.result == AuthResult::Authenticated);
    }
    let warm_cpu = (thread_cpu()? - cpu) / n as u32;
    ensure!(passed == n, "only {passed} of {n} authenticated");

    // Cold: a new authenticator (empty caches, new resolver) for each of the first 200.
    let cold_n = n.min(200);
    let started = Instant::now();
    for m in &messages[..cold_n] {
        let cold = SenderAuthenticator::new(&settings)?;
        let verdict = runtime.block_on(cold.authenticate(m, &trust));
        ensure!(verdict.result == AuthResult::Authenticated, "{verdict:?}");
    }
    let cold_wall = started.elapsed() / cold_n as u32;

    println!(
        "messages: {n} (cold: {cold_n}), {} bytes each",
        messages[0].len()
    );
    println!("extract, CPU per message:                 {extract_cpu:?}");
    println!("authenticate, warm cache, CPU per message: {warm_cpu:?}");
    println!("authenticate, cold cache, wall per message: {cold_wall:?}");
    Ok(())
}
