//! Throughput and worst-case latency of `mailsig_parser::extract`, measured next to bare
//! `mail_parser::MessageParser::parse` on the same bytes in the same run (issue #3,
//! "How it is measured": >= 0.3x bare mail-parser throughput, < 5 ms worst case).
//!
//! ```text
//! cargo bench -p mailsig-parser --bench extract -- --warm-up-time 1 --measurement-time 5
//! ```
//! Environment: `MAILSIG_BENCH_MB` (default 50) sets the size of the generated corpus;
//! `MAILSIG_BENCH_CORPUS=DIR` adds a group over every `*.eml` under DIR, read at bench time;
//! `MAILSIG_BENCH_DUMP=DIR` writes the generated messages there for inspection;
//! `MAILSIG_BENCH_SUMMARY=0` skips the summary table (e.g. under `--profile-time` and perf).
//!
//! Criterion groups: `corpus/<set>/{mail_parser,envelope,extract}` (Throughput::Bytes, so
//! criterion prints MB/s) and `worst/<input>/{mail_parser,extract}`. After criterion, a
//! summary table prints messages/s, MB/s, the extract/mail-parser ratio and, for each
//! worst-case input, the median and maximum of single runs against the 5 ms budget.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use mail_parser::MessageParser;

/// Target from issue #3: extraction throughput relative to bare mail-parser.
const MIN_RATIO: f64 = 0.3;
/// Target from issue #3: worst case for one message.
const WORST_BUDGET: Duration = Duration::from_millis(5);

fn parse_all(messages: &[Vec<u8>]) -> usize {
    let parser = MessageParser::default();
    messages.iter().filter(|m| black_box(parser.parse(m.as_slice())).is_some()).count()
}

fn envelope_all(messages: &[Vec<u8>]) -> usize {
    messages.iter().filter(|m| black_box(mailsig_parser::envelope(m)).from_address.is_some()).count()
}

fn extract_all(messages: &[Vec<u8>]) -> usize {
    messages.iter().filter(|m| black_box(mailsig_parser::extract(m)).has_signature).count()
}

fn bench_corpus(c: &mut Criterion, set: &str, messages: &[Vec<u8>]) {
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group(format!("corpus/{set}"));
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.bench_function("mail_parser", |b| b.iter(|| parse_all(messages)));
    group.bench_function("envelope", |b| b.iter(|| envelope_all(messages)));
    group.bench_function("extract", |b| b.iter(|| extract_all(messages)));
    group.finish();
}

fn bench_worst(c: &mut Criterion, inputs: &[(&'static str, Vec<u8>)]) {
    let mut group = c.benchmark_group("worst");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    let parser = MessageParser::default();
    for (name, raw) in inputs {
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_with_input(BenchmarkId::new(*name, "mail_parser"), raw, |b, raw| {
            b.iter(|| black_box(parser.parse(raw.as_slice())).is_some())
        });
        group.bench_with_input(BenchmarkId::new(*name, "extract"), raw, |b, raw| {
            b.iter(|| black_box(mailsig_parser::extract(raw)).has_signature)
        });
    }
    group.finish();
}

/// Best of `runs` timings of `f`.
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn summary_corpus(set: &str, messages: &[Vec<u8>]) {
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mb = bytes as f64 / 1e6;
    let n = messages.len() as f64;
    let parse = best_of(3, || {
        parse_all(messages);
    });
    let mut found = 0;
    let extract = best_of(3, || found = extract_all(messages));
    let row = |what: &str, d: Duration| {
        let s = d.as_secs_f64();
        println!("  {what:<12} {:>10.3} s {:>10.0} msg/s {:>9.2} MB/s", s, n / s, mb / s);
    };
    println!("corpus/{set}: {} messages, {:.2} MB, signature found in {found}", messages.len(), mb);
    row("mail_parser", parse);
    row("extract", extract);
    let ratio = parse.as_secs_f64() / extract.as_secs_f64();
    let verdict = if ratio >= MIN_RATIO { "meets" } else { "MISSES" };
    println!("  ratio extract/mail_parser throughput = {ratio:.3} ({verdict} target >= {MIN_RATIO})");
}

fn summary_worst(inputs: &[(&'static str, Vec<u8>)]) {
    let parser = MessageParser::default();
    println!("worst case (11 single runs each; budget {} ms for extract):", WORST_BUDGET.as_millis());
    println!("  {:<26} {:>10} {:>12} {:>12} {:>12}", "input", "bytes", "mail_parser", "extract med", "extract max");
    for (name, raw) in inputs {
        let time = |f: &mut dyn FnMut()| {
            let mut runs: Vec<Duration> = (0..11)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed()
                })
                .collect();
            runs.sort();
            (runs[runs.len() / 2], runs[runs.len() - 1])
        };
        let (parse_med, _) = time(&mut || {
            black_box(parser.parse(raw.as_slice()));
        });
        let (med, max) = time(&mut || {
            black_box(mailsig_parser::extract(raw));
        });
        let verdict = if med < WORST_BUDGET { "ok" } else { "OVER BUDGET" };
        println!(
            "  {name:<26} {:>10} {:>9.3} ms {:>9.3} ms {:>9.3} ms  {verdict}",
            raw.len(),
            parse_med.as_secs_f64() * 1e3,
            med.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    let started = Instant::now();
    let generated = support::mailgen::corpus(support::SEED, support::corpus_bytes());
    let mut mix = std::collections::BTreeMap::new();
    for g in &generated {
        *mix.entry(g.kind).or_insert(0usize) += 1;
    }
    let generated: Vec<Vec<u8>> = generated.into_iter().map(|g| g.raw).collect();
    let bytes: usize = generated.iter().map(Vec::len).sum();
    println!(
        "generated corpus: {} messages, {:.2} MB, mix {mix:?}, in {:.1} s",
        generated.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    support::dump_if_asked(&generated);
    let external = support::external_corpus();
    let worst = support::hostile::all();

    let mut c = Criterion::default().configure_from_args();
    bench_corpus(&mut c, "generated", &generated);
    if !external.is_empty() {
        bench_corpus(&mut c, "external", &external);
    }
    bench_worst(&mut c, &worst);
    c.final_summary();
    if std::env::var("MAILSIG_BENCH_SUMMARY").is_ok_and(|v| v == "0") {
        return;
    }

    println!("\n==== summary (same process, same bytes) ====");
    summary_corpus("generated", &generated);
    if !external.is_empty() {
        summary_corpus("external", &external);
    }
    summary_worst(&worst);
}
