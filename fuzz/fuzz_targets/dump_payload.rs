//! cargo-fuzz target `dump_payload`: see `harness::dump_payload` for what one input exercises.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dump_payload(data));
