//! Output stage: the scorer's JSON for any extraction must serialise and round-trip
//! through serde_json (no NaN confidences, valid strings).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let x = mailsig_parser::extract(raw);
    let value = mailsig_parser::prediction_json("fuzz.eml", &x);
    let text = serde_json::to_string(&value).unwrap_or_else(|e| panic!("prediction does not serialise: {e}"));
    let back: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("prediction does not parse back: {e}"));
    assert_eq!(back["has_signature"].as_bool(), Some(x.has_signature && x.contact.is_some()));
});
