//! cargo-fuzz target `rdb_object`: see `harness::rdb_object` for what one input exercises.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::rdb_object(data));
