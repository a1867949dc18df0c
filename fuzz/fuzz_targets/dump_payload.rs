//! cargo-fuzz target `dump_payload`: see `fuzz_targets::dump_payload` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::dump_payload(data));
