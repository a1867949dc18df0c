//! cargo-fuzz target `rdb_packed`: see `harness::rdb_packed` for what one input exercises.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::rdb_packed(data));
