//! cargo-fuzz target `acl_rules`: see `fuzz_targets::acl_rules` (crates/fuzz-targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::acl_rules(data));
