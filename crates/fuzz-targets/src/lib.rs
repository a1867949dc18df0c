//! What each fuzz target does with one input: one `pub fn NAME(data: &[u8])`
//! per cargo-fuzz target of `fuzz/`, which calls it from a one-line
//! `fuzz_target!`, and which `tests/replay.rs` runs on stable over every
//! committed corpus and regression input (`cargo test`).
//!
//! Each function drives a real entry point the way the server does (a
//! connection's parse loop, the config and ACL loaders, the RDB and AOF
//! readers) and panics only when the code under test misbehaves: it panics
//! itself, breaks a round trip, makes no progress, or answers differently
//! when the same bytes arrive in smaller pieces. Refusing damaged input with
//! an error is the expected outcome. Nothing here does I/O except
//! `config_file`, whose only entry point (`Config::load_file`) reads a path:
//! it writes the input to a file of its own in the temporary directory.
//!
//! See `docs/fuzzing.md` for the targets, their input layouts and how to run
//! a campaign.

mod acl_target;
mod aof_target;
mod config_target;
mod memcached_targets;
mod rdb_targets;
mod resp_targets;

pub use acl_target::acl_rules;
pub use aof_target::aof_load;
pub use config_target::config_file;
pub use memcached_targets::{memcached_binary, memcached_meta, memcached_text};
pub use rdb_targets::{dump_payload, rdb_load, rdb_object, rdb_packed};
pub use resp_targets::resp_command;

/// A target's function: one input, a panic when the code under test misbehaves.
pub type Target = fn(&[u8]);

/// Every target by name: the name of its `fuzz/fuzz_targets/<name>.rs`, of
/// its corpus `fuzz/corpus/<name>/` and of its regressions
/// `fuzz/regressions/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("resp_command", resp_command),
    ("memcached_text", memcached_text),
    ("memcached_meta", memcached_meta),
    ("memcached_binary", memcached_binary),
    ("config_file", config_file),
    ("acl_rules", acl_rules),
    ("rdb_load", rdb_load),
    ("rdb_object", rdb_object),
    ("rdb_packed", rdb_packed),
    ("dump_payload", dump_payload),
    ("aof_load", aof_load),
];
