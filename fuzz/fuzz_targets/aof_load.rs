//! cargo-fuzz target `aof_load`: see `fuzz_targets::aof_load` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::aof_load(data));
