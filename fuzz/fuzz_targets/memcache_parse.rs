//! cargo-fuzz target `memcache_parse`: see `harness::memcache_parse` for what one input exercises.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::memcache_parse(data));
