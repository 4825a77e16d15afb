//! Peak heap memory of `mailsig_parser::extract` relative to the input size
//! (target: "memory within a small multiple of the input"), next to bare mail-parser.
//!
//! ```text
//! cargo bench -p mailsig-parser --bench memory
//! ```
//! A counting global allocator (`peak_alloc`) records the high-water mark of live heap
//! bytes while one message is processed; the input buffer itself is allocated before the
//! measurement starts and is not counted. Not a criterion bench: it prints one table.

mod support;

use std::hint::black_box;

use mail_parser::MessageParser;
use peak_alloc::PeakAlloc;

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

/// Extra heap bytes at the high-water mark while `f` runs.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = PEAK.current_usage();
    PEAK.reset_peak_usage();
    f();
    PEAK.peak_usage().saturating_sub(base)
}

struct Row {
    bytes: usize,
    parse: usize,
    extract: usize,
}

fn measure(raw: &[u8]) -> Row {
    let parser = MessageParser::default();
    let parse = peak_of(|| {
        black_box(parser.parse(raw));
    });
    let extract = peak_of(|| {
        black_box(mailsig_parser::extract(raw));
    });
    Row {
        bytes: raw.len(),
        parse,
        extract,
    }
}

fn print(name: &str, r: &Row) {
    println!(
        "  {name:<26} {:>10} {:>12} {:>6.2}x {:>12} {:>6.2}x",
        r.bytes,
        r.parse,
        r.parse as f64 / r.bytes as f64,
        r.extract,
        r.extract as f64 / r.bytes as f64
    );
}

fn corpus_report(set: &str, messages: &[Vec<u8>]) {
    let rows: Vec<Row> = messages.iter().map(|m| measure(m)).collect();
    let total: usize = rows.iter().map(|r| r.bytes).sum();
    let ratio = |r: &Row| r.extract as f64 / r.bytes as f64;
    let mut ratios: Vec<f64> = rows.iter().map(ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ratios
            .get(((ratios.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "corpus/{set}: {} messages, {:.2} MB; extract peak / input size: median {:.2}x, p99 {:.2}x, max {:.2}x",
        rows.len(),
        total as f64 / 1e6,
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    if let Some(r) = rows.iter().max_by_key(|r| r.extract) {
        print("largest extract peak", r);
    }
    if let Some(r) = rows.iter().max_by(|a, b| ratio(a).total_cmp(&ratio(b))) {
        print("largest extract ratio", r);
    }
}

fn main() {
    let generated: Vec<Vec<u8>> =
        support::mailgen::corpus(support::SEED, support::corpus_bytes().min(10_000_000))
            .into_iter()
            .map(|g| g.raw)
            .collect();
    // Warm-up: the engine's lazily built tables (regexes, phone metadata per region) are
    // allocated once per process; they are not per-message memory.
    for m in &generated {
        black_box(mailsig_parser::extract(m));
    }
    println!("(after one warm-up pass over the corpus; lazily built tables are not counted)");
    println!(
        "peak extra heap while processing one message (bytes, and multiple of the input size)"
    );
    println!(
        "  {:<26} {:>10} {:>12} {:>7} {:>12} {:>7}",
        "input", "bytes", "mail_parser", "", "extract", ""
    );
    for (name, raw) in support::hostile::all() {
        print(name, &measure(&raw));
    }
    corpus_report("generated (first 10 MB)", &generated);
    let external = support::external_corpus();
    if !external.is_empty() {
        corpus_report("external", &external);
    }
}
