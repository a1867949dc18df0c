//! `config_file`: a redis.conf-style file through `engine::Config::load_file`,
//! the parser the server starts with (`--config`); `user` lines reach the
//! ACL rule parser through it.
//!
//! `load_file` reads a path (there is no in-memory entry point), so the
//! input is written to a file of this thread's own in the temporary
//! directory, and removed after.

use std::path::PathBuf;

use engine::config::{validate, PARAMS};
use engine::Config;

/// Parameters whose value CONFIG REWRITE writes back unquoted, word by
/// word, as Redis does: a word holding a quote or a tab reads back
/// differently (in Redis too), so their values are not compared.
const WRITTEN_RAW: &[&str] = &["bind"];

thread_local! {
    /// This thread's config file.
    static PATH: PathBuf = std::env::temp_dir().join(format!(
        "ferrocache-fuzz-config-{}-{:?}.conf",
        std::process::id(),
        std::thread::current().id()
    ));
}

/// Does the file hold an `include` directive (as the loader reads lines)?
/// Included files are read from disk: a fuzzed `include /dev/zero` would
/// read forever, so such inputs are skipped.
fn has_include(text: &str) -> bool {
    text.lines().any(|raw| {
        let line = raw.trim();
        !line.is_empty()
            && !line.starts_with('#')
            && resp::split_inline_args(line.as_bytes())
                .and_then(|words| words.into_iter().next())
                .is_some_and(|w| w.eq_ignore_ascii_case(b"include"))
    })
}

/// `config_file`: the input (made UTF-8, lossily, as the loader requires)
/// is a configuration file. Loading it must not panic; a refusal names a
/// line of the file. A file that loads leaves every changed parameter with
/// a canonical value (validating it again gives it back), and CONFIG
/// REWRITE of it writes a file that loads to the same values.
pub fn config_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if has_include(&text) {
        return;
    }
    PATH.with(|path| {
        std::fs::write(path, text.as_bytes()).expect("writing the config file");
        check(path, &text);
        let _ = std::fs::remove_file(path);
    });
}

fn check(path: &PathBuf, text: &str) {
    let mut config = Config::new();
    if let Err(e) = config.load_file(path) {
        let lines = text.lines().count();
        assert!(
            (1..=lines).contains(&e.line),
            "error at line {} of a file of {lines} lines: {}",
            e.line,
            e.reason
        );
        return;
    }
    let defaults = Config::new();
    for param in PARAMS {
        let value = config.get(param.name);
        if value == defaults.get(param.name) {
            continue;
        }
        assert_eq!(
            validate(param, &value).as_deref(),
            Ok(value.as_str()),
            "{}: the loaded value {value:?} is not canonical",
            param.name
        );
    }
    config.rewrite(None).expect("CONFIG REWRITE");
    let mut again = Config::new();
    match again.load_file(path) {
        Ok(()) => {}
        Err(e) if WRITTEN_RAW.iter().any(|p| e.text.starts_with(p)) => return,
        Err(e) => panic!(
            "the rewritten file does not load: {e}\n--- rewritten:\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        ),
    }
    for param in PARAMS {
        if WRITTEN_RAW.contains(&param.name) {
            continue;
        }
        assert_eq!(
            again.get(param.name),
            config.get(param.name),
            "{} changed through CONFIG REWRITE",
            param.name
        );
    }
}
