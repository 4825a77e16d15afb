//! Writes the seed corpora for the fuzz targets into `corpus/<target>/`: generated
//! realistic mail (the benchmark's generator), the hostile worst cases shrunk to fuzzing
//! size, and small malformed shapes. Nothing is copied from outside the project.
//!
//! Run from `parser/fuzz`: `cargo run --release --manifest-path seeds/Cargo.toml [COUNT]`
//! (default 400 generated messages, plus the hostile and malformed shapes).

#[path = "../../../benches/support/mod.rs"]
mod support;

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;

fn malformed() -> Vec<Vec<u8>> {
    let header = "From: \"Doe, Jane\" <Jane.Doe@Example.COM>\r\nSubject: x\r\n";
    vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        b"From: <>\r\n\r\n-- \r\n".to_vec(),
        format!("{header}Content-Type: multipart/alternative; boundary=\"\"\r\n\r\n--\r\n--\r\n").into_bytes(),
        format!("{header}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%===\r\n").into_bytes(),
        format!("{header}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E2=82=\r\n=ZZ\r\n-- =\r\nJane\r\n").into_bytes(),
        format!("{header}Content-Type: text/html\r\n\r\n<table><td><a href=\"tel:\">T:</a><img alt=\"</td><script>").into_bytes(),
        format!("{header}Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B%F%9%H\x1b(B\r\n-- \r\n\x1b$B;3ED\x1b(B\r\n").into_bytes(),
        format!("{header}\r\nThanks,\r\nJane Doe\r\nT: +49 (0)30 1234567\r\nM: 0151 1234 5678\r\nF: +1 (415) 555-0100 ext. 12\r\n").into_bytes(),
        format!("{header}\r\n-- \r\n\u{202e}Jane\u{0}Doe\r\nTel.: ++++0000000000000000000000\r\n").into_bytes(),
        format!("{header}Content-Type: message/rfc822\r\n\r\n{header}Content-Type: message/rfc822\r\n\r\n{header}\r\nbody\r\n").into_bytes(),
    ]
}

fn write_all(dir: &Path, prefix: &str, inputs: &[Vec<u8>]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (i, input) in inputs.iter().enumerate() {
        std::fs::write(dir.join(format!("{prefix}-{i:04}")), input)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let count = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(400usize);
    let mut rng = StdRng::seed_from_u64(support::SEED);
    // Seeds stay small (libFuzzer's -max_len defaults to the largest seed, capped here):
    // skip generated messages with big attachments.
    let generated: Vec<Vec<u8>> = std::iter::repeat_with(|| support::mailgen::message(&mut rng).raw)
        .filter(|m| m.len() <= 64 * 1024)
        .take(count)
        .collect();
    let hostile = vec![
        support::hostile::large_html(16 * 1024),
        support::hostile::nested_tags(2_000),
        support::hostile::unclosed_formatting(2_000),
        support::hostile::nested_tables(500),
        support::hostile::quoted_lines(1_000),
        support::hostile::long_line(32 * 1024),
        support::hostile::long_token(32 * 1024),
        support::hostile::many_parts(200),
    ];
    for target in ["extract", "envelope", "prediction", "trace", "stage_html_lines", "stage_mime_lines", "stage_top_message_lines", "stage_signature_lines", "stage_field_count"] {
        let dir = Path::new("corpus").join(target);
        write_all(&dir, "gen", &generated)?;
        write_all(&dir, "hostile", &hostile)?;
        write_all(&dir, "malformed", &malformed())?;
    }
    println!("wrote {} seeds per target into corpus/", generated.len() + hostile.len() + malformed().len());
    Ok(())
}
