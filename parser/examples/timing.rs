//! Times `extract` on each file given (best of 5 runs), to check the per-message worst case:
//! `cargo run --release -p mailsig-parser --example timing -- FILE...`

use std::time::{Duration, Instant};

fn main() {
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
