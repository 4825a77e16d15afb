//! Stage target: `mailsig_parser::stages::top_message_lines` alone, so a panic or a super-linear path in
//! this stage shows without the earlier stages filtering the input first.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let text = String::from_utf8_lossy(raw);
    let _ = mailsig_parser::stages::top_message_lines(&text);
});
