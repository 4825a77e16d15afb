//! Times `extract` on each file given (best of 5 runs), to check the per-message worst case:
//! `cargo run --release -p mailsig-parser --example timing -- FILE...`

use std::time::{Duration, Instant};

/// The allocator `mailsigd` ships with (daemon/src/main.rs), so both sides are timed as they run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time this thread has run, in ns (Linux `/proc/thread-self/schedstat`).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// MAILSIG_RATIO=N: N alternating passes of bare mail-parser and `extract` over all files,
/// timed in CPU time (steady on a shared machine); prints the best pass of each and the
/// throughput ratio extract / mail-parser (target >= 0.3).
fn ratio(rounds: usize, files: &[Vec<u8>]) {
    let parser = mail_parser::MessageParser::default();
    let found = warm_up(files);
    let (mut parse, mut extract) = (u64::MAX, u64::MAX);
    for _ in 0..rounds {
        let start = cpu_ns();
        parse_pass(&parser, files);
        let mid = cpu_ns();
        extract_pass(files);
        parse = parse.min(mid - start);
        extract = extract.min(cpu_ns() - mid);
    }
    let bytes: usize = files.iter().map(Vec::len).sum();
    let per = |ns: u64| ns as f64 / 1e3 / files.len() as f64;
    println!(
        "{} messages ({found} with a signature), {:.2} MB; best of {rounds} (CPU): mail_parser {:.3} s ({:.1} us/msg), extract {:.3} s ({:.1} us/msg); ratio {:.3}",
        files.len(),
        bytes as f64 / 1e6,
        parse as f64 / 1e9,
        per(parse),
        extract as f64 / 1e9,
        per(extract),
        parse as f64 / extract as f64
    );
}

/// One extraction pass before timing: the engine builds its tables lazily.
/// (It differs from `extract_pass` so that the linker cannot fold the two into one symbol.)
#[inline(never)]
fn warm_up(files: &[Vec<u8>]) -> usize {
    files
        .iter()
        .filter(|raw| mailsig_parser::extract(raw).has_signature)
        .count()
}

// Separate, never-inlined passes so that `valgrind --tool=callgrind` reports each one's
// instruction count (inclusive cost of `timing::parse_pass` / `timing::extract_pass`),
// which unlike time does not depend on the machine's load.
#[inline(never)]
fn parse_pass(parser: &mail_parser::MessageParser, files: &[Vec<u8>]) {
    for raw in files {
        std::hint::black_box(parser.parse(raw));
    }
}

#[inline(never)]
fn extract_pass(files: &[Vec<u8>]) {
    for raw in files {
        std::hint::black_box(mailsig_parser::extract(raw));
    }
}

fn main() {
    if let Some(n) = std::env::var("MAILSIG_RATIO")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let files: Vec<Vec<u8>> = std::env::args()
            .skip(1)
            .filter_map(|p| std::fs::read(p).ok())
            .collect();
        ratio(n, &files);
        return;
    }
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
        // Mean CPU time over 20 calls: unlike the wall-clock best, it does not count waiting
        // for a core on a loaded machine.
        let start = cpu_ns();
        for _ in 0..20 {
            std::hint::black_box(mailsig_parser::extract(&raw));
        }
        let cpu = (cpu_ns() - start) as f64 / 20.0 / 1e6;
        println!(
            "{:>9.3} ms extract ({cpu:.3} ms CPU)  {:>9.3} ms mail-parser  {:>9} bytes  signature={has_signature}  {path}",
            best.as_secs_f64() * 1000.0,
            bare.as_secs_f64() * 1000.0,
            raw.len()
        );
    }
}
