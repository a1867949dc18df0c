//! cargo-fuzz target `memcached_text`: see `fuzz_targets::memcached_text` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::memcached_text(data));
