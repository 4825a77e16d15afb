//! Hostile and damaged input: extraction must never panic and must stay linear. Runs every
//! small fixture truncated and bit-flipped at many positions, plus generated worst cases.

use std::path::Path;
use std::time::{Duration, Instant};

fn small_fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures");
    let mut out = Vec::new();
    for kind in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(kind.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "eml")
                && let Ok(raw) = std::fs::read(f.path())
                && raw.len() < 8_000
            {
                out.push(raw);
            }
        }
    }
    out
}

#[test]
fn damaged_fixtures_never_panic() {
    let fixtures = small_fixtures();
    assert!(fixtures.len() >= 20, "expected the fixtures to be present");
    let mut n_runs = 0;
    for raw in &fixtures {
        let step = (raw.len() / 40).max(1);
        for cut in (0..raw.len()).step_by(step) {
            let _ = mailsig_parser::extract(&raw[..cut]);
            let mut flipped = raw.clone();
            if let Some(b) = flipped.get_mut(cut) {
                *b ^= 0xA5;
            }
            let _ = mailsig_parser::extract(&flipped);
            let _ = mailsig_parser::envelope(&flipped);
            n_runs += 2;
        }
    }
    assert!(n_runs > 1_000);
}

fn timed(raw: &[u8]) -> (bool, Duration) {
    let start = Instant::now();
    let x = mailsig_parser::extract(raw);
    (x.has_signature, start.elapsed())
}

const HEAD: &str = "From: Ann Lee <ann.lee@acme-freight.com>\nSubject: x\nMIME-Version: 1.0\n";
const SIG: &str = "Best,\nAnn Lee\nAcme Freight Inc.\n(510) 555-0142\n";

/// Generous bound for unoptimised test builds on a busy machine: catches super-linear work,
/// not micro-regressions (the release timing is measured by `examples/timing.rs`).
const LIMIT: Duration = Duration::from_secs(3);

#[test]
fn hostile_inputs_stay_bounded() {
    let nested = format!(
        "{HEAD}Content-Type: text/html\n\n<html><body>{}x{}<p>Best,</p><p>Ann Lee<br>Acme Freight Inc.<br>(510) 555-0142</p></body></html>\n",
        "<div>".repeat(50_000),
        "</div>".repeat(50_000)
    );
    let (sig, took) = timed(nested.as_bytes());
    assert!(sig, "signature after 50,000 nested tags");
    assert!(took < LIMIT, "nested tags took {took:?}");

    let quoted = format!(
        "{HEAD}Content-Type: text/plain\n\nok\n\n{SIG}\nOn Mon, Bob wrote:\n{}",
        "> quoted 555-0100\n".repeat(100_000)
    );
    let (sig, took) = timed(quoted.as_bytes());
    assert!(sig, "signature above 100,000 quoted lines");
    assert!(took < LIMIT, "quoted lines took {took:?}");

    let one_line = format!(
        "{HEAD}Content-Type: text/plain\n\n{}\n",
        "x".repeat(5_000_000)
    );
    let (sig, took) = timed(one_line.as_bytes());
    assert!(!sig);
    assert!(took < LIMIT, "5 MB line took {took:?}");

    let unclosed = format!(
        "{HEAD}Content-Type: text/html\n\n{}",
        "<table><tr><td><a href=\"https://x\">".repeat(20_000)
    );
    let (_, took) = timed(unclosed.as_bytes());
    assert!(took < LIMIT, "unclosed tags took {took:?}");
}
