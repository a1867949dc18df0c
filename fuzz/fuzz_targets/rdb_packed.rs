//! cargo-fuzz target `rdb_packed`: see `fuzz_targets::rdb_packed` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::rdb_packed(data));
