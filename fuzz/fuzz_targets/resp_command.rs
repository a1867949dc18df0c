//! cargo-fuzz target `resp_command`: see `fuzz_targets::resp_command` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::resp_command(data));
