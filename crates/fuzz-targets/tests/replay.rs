//! Replays the committed fuzz inputs on stable: every file of
//! `fuzz/corpus/<target>/` (seeds and what the fuzzer kept) and of
//! `fuzz/regressions/<target>/` (inputs that once crashed) goes through
//! its target's function, as the cargo-fuzz target would run it. A missing
//! or empty corpus fails, so a renamed target cannot pass silently.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of a directory, sorted; None when it does not exist.
fn files(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Some(files)
}

/// Names of the subdirectories of `fuzz/<kind>/`, or of the `.rs` files
/// of `fuzz/fuzz_targets/`.
fn names(kind: &str) -> Vec<String> {
    let dir = fuzz_dir().join(kind);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            match kind {
                "fuzz_targets" => name.strip_suffix(".rs").map(str::to_string),
                _ => p.is_dir().then_some(name),
            }
        })
        .collect();
    names.sort();
    names
}

fn target(name: &str) -> fuzz_targets::Target {
    fuzz_targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name} in fuzz_targets::TARGETS"))
        .1
}

/// Runs every corpus and regression input of `name`; fails naming each
/// input that panicked (all of them, not only the first).
fn replay(name: &str) {
    let check = target(name);
    let corpus = fuzz_dir().join("corpus").join(name);
    let mut inputs =
        files(&corpus).unwrap_or_else(|| panic!("corpus {} is missing", corpus.display()));
    assert!(!inputs.is_empty(), "corpus {} is empty", corpus.display());
    let regressions = fuzz_dir().join("regressions").join(name);
    if let Some(more) = files(&regressions) {
        assert!(
            !more.is_empty(),
            "{} exists but is empty",
            regressions.display()
        );
        inputs.extend(more);
    }
    let mut failed = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).expect("input file");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} inputs panicked:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*

        /// The targets replayed here.
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
    };
}

replay_tests!(
    resp_command,
    memcached_text,
    memcached_meta,
    memcached_binary,
    config_file,
    acl_rules,
    rdb_load,
    rdb_object,
    rdb_packed,
    dump_payload,
    aof_load,
);

/// Every target is replayed here, has a `fuzz_target!` and a corpus, and
/// every corpus, regression directory and `fuzz_target!` belongs to one.
#[test]
fn targets_match_the_fuzz_directory() {
    let mut targets: Vec<String> = fuzz_targets::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    targets.sort();
    let mut replayed: Vec<String> = REPLAYED.iter().map(|n| n.to_string()).collect();
    replayed.sort();
    assert_eq!(replayed, targets, "replay tests vs fuzz_targets::TARGETS");
    assert_eq!(
        names("fuzz_targets"),
        targets,
        "fuzz/fuzz_targets/*.rs vs TARGETS"
    );
    assert_eq!(names("corpus"), targets, "fuzz/corpus/* vs TARGETS");
    if fuzz_dir().join("regressions").is_dir() {
        for name in names("regressions") {
            assert!(
                targets.contains(&name),
                "fuzz/regressions/{name} belongs to no target"
            );
        }
    }
}
