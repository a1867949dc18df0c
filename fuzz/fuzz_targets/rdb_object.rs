//! cargo-fuzz target `rdb_object`: see `fuzz_targets::rdb_object` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::rdb_object(data));
