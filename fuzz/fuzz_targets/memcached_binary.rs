//! cargo-fuzz target `memcached_binary`: see `fuzz_targets::memcached_binary` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::memcached_binary(data));
