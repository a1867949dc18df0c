//! cargo-fuzz target `aof_manifest`: see `harness::aof_manifest` for what one input exercises.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::aof_manifest(data));
