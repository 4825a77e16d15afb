//! Shared by the benchmarks (and, through `#[path]`, the fuzz seed generator):
//! realistic generated mail and hostile worst-case messages.
#![allow(dead_code)]

pub mod hostile;
pub mod langs;
pub mod mailgen;

/// Seed of the generated benchmark corpus; fixed so runs compare like with like.
pub const SEED: u64 = 0x006d_6169_6c73_6967;

/// Size of the generated corpus in bytes: `MAILSIG_BENCH_MB` megabytes, 50 by default.
pub fn corpus_bytes() -> usize {
    std::env::var("MAILSIG_BENCH_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(50)
        * 1_000_000
}

/// Every `*.eml` below `MAILSIG_BENCH_CORPUS` (a labelled corpus's directory), read at bench
/// time and never copied into the project; empty when the variable is unset.
pub fn external_corpus() -> Vec<Vec<u8>> {
    let Ok(dir) = std::env::var("MAILSIG_BENCH_CORPUS") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                match std::fs::read(&path) {
                    Ok(bytes) => out.push(bytes),
                    Err(e) => eprintln!("skipping {}: {e}", path.display()),
                }
            }
        }
    }
    out
}

/// Writes `messages` as `NNNNN.eml` into `MAILSIG_BENCH_DUMP` when set (to inspect what
/// the generator produces, or to score the engine on it by hand), and the hostile inputs as
/// `hostile/<name>.eml` beside them (for `examples/timing` or a profiler).
pub fn dump_if_asked(messages: &[Vec<u8>]) {
    if let Ok(dir) = std::env::var("MAILSIG_BENCH_DUMP") {
        let dir = std::path::PathBuf::from(dir).join("hostile");
        if std::fs::create_dir_all(&dir).is_ok() {
            for (name, raw) in hostile::all() {
                if let Err(e) = std::fs::write(dir.join(format!("{name}.eml")), raw) {
                    eprintln!("cannot write into {}: {e}", dir.display());
                }
            }
        }
    }
    let Ok(dir) = std::env::var("MAILSIG_BENCH_DUMP") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return;
    }
    for (i, m) in messages.iter().enumerate() {
        if let Err(e) = std::fs::write(dir.join(format!("{i:05}.eml")), m) {
            eprintln!("cannot write into {}: {e}", dir.display());
            return;
        }
    }
}
