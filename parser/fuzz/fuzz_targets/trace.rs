//! Body stages (MIME body choice, HTML to lines, segmentation, signature marking) through
//! the parser's development trace, which runs them without field extraction.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let lines = mailsig_parser::debug_trace(raw);
    // Lines come from the input; the trace must not invent more lines than bytes allow.
    assert!(lines.len() <= raw.len() + 16, "{} trace lines from {} bytes", lines.len(), raw.len());
});
