//! cargo-fuzz target `resp_parse`: see `harness::resp_parse` for what one input exercises.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::resp_parse(data));
