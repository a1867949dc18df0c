//! cargo-fuzz target `rdb_load`: see `fuzz_targets::rdb_load` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::rdb_load(data));
