//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same
//! checks the cargo-fuzz targets run (`fuzz/harness.rs`, included here), so
//! every input the fuzzers kept — seeds from a real redis-server and the
//! regressions of past crashes — is rerun on stable in `cargo test`.

#[path = "../../../fuzz/harness.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Runs `check` on every file of the target's corpus; fails naming each
/// input that panicked (all of them, not only the first).
fn replay(target: &str, check: fn(&[u8])) {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("corpus file");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs panicked:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn rdb_file_corpus() {
    replay("rdb_file", harness::rdb_file);
}

#[test]
fn rdb_object_corpus() {
    replay("rdb_object", harness::rdb_object);
}

#[test]
fn rdb_packed_corpus() {
    replay("rdb_packed", harness::rdb_packed);
}

#[test]
fn dump_payload_corpus() {
    replay("dump_payload", harness::dump_payload);
}

#[test]
fn resp_parse_corpus() {
    replay("resp_parse", harness::resp_parse);
}

#[test]
fn memcache_parse_corpus() {
    replay("memcache_parse", harness::memcache_parse);
}

#[test]
fn aof_file_corpus() {
    replay("aof_file", harness::aof_file);
}

#[test]
fn aof_manifest_corpus() {
    replay("aof_manifest", harness::aof_manifest);
}
