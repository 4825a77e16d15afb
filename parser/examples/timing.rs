//! Times `extract` on each file given (best of 5 runs), to check the per-message worst case:
//! `cargo run --release -p mailsig-parser --example timing -- FILE...`

use std::time::{Duration, Instant};

fn main() {
    // MAILSIG_LOOP=N: extract every file N times in one process (for profiling), print totals.
    if let Some(n) = std::env::var("MAILSIG_LOOP")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let files: Vec<Vec<u8>> = std::env::args()
            .skip(1)
            .filter_map(|p| std::fs::read(p).ok())
            .collect();
        let start = Instant::now();
        let mut found = 0;
        for _ in 0..n {
            for raw in &files {
                found += usize::from(mailsig_parser::extract(raw).has_signature);
            }
        }
        let took = start.elapsed().as_secs_f64();
        let bytes: usize = files.iter().map(Vec::len).sum::<usize>() * n;
        println!(
            "{} messages in {took:.3} s: {:.0} msg/s, {:.1} MB/s ({found} with a signature)",
            files.len() * n,
            (files.len() * n) as f64 / took,
            bytes as f64 / took / 1e6
        );
        return;
    }
    for path in std::env::args().skip(1) {
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let mut best = Duration::MAX;
        let mut has_signature = false;
        for _ in 0..5 {
            let start = Instant::now();
            let x = mailsig_parser::extract(&raw);
            best = best.min(start.elapsed());
            has_signature = x.has_signature;
        }
        let mut bare = Duration::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            let parsed = mail_parser::MessageParser::default().parse(&raw);
            bare = bare.min(start.elapsed());
            std::hint::black_box(parsed);
        }
        println!(
            "{:>9.3} ms extract  {:>9.3} ms mail-parser  {:>9} bytes  signature={has_signature}  {path}",
            best.as_secs_f64() * 1000.0,
            bare.as_secs_f64() * 1000.0,
            raw.len()
        );
    }
}
