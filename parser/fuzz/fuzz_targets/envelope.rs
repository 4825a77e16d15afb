//! Header stage: `envelope` reads From, Message-ID and the auto-reply markers the daemon
//! filters on. Must never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let e = mailsig_parser::envelope(raw);
    if let Some(address) = &e.from_address {
        assert_eq!(address, &address.to_lowercase(), "from_address must be lower-cased");
    }
});
