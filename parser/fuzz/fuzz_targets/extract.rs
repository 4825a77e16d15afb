//! Whole extraction on raw bytes: must never panic, and (with `-timeout=2`) never take
//! super-linear time. Also checks the invariants every caller relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let x = mailsig_parser::extract(raw);
    assert!((0.0..=1.0).contains(&x.confidence), "overall confidence out of [0, 1]: {}", x.confidence);
    if let Some(contact) = &x.contact {
        let confidences = contact
            .name
            .iter()
            .chain(&contact.title)
            .chain(&contact.company)
            .chain(&contact.address)
            .chain(&contact.emails)
            .chain(&contact.websites)
            .chain(&contact.social)
            .map(|f| f.confidence)
            .chain(contact.phones.iter().map(|f| f.confidence));
        for c in confidences {
            assert!((0.0..=1.0).contains(&c), "field confidence out of [0, 1]: {c}");
        }
        for phone in &contact.phones {
            let e164 = &phone.value.e164;
            assert!(
                e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()),
                "phone is not E.164: {e164:?}"
            );
        }
    }
});
