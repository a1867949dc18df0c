//! cargo-fuzz target `aof_file`: see `harness::aof_file` for what one input exercises.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::aof_file(data));
