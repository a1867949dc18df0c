//! cargo-fuzz target `config_file`: see `fuzz_targets::config_file` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::config_file(data));
