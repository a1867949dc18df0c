//! cargo-fuzz target `memcached_meta`: see `fuzz_targets::memcached_meta` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::memcached_meta(data));
