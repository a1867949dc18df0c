use crate::keys::{key_positions, KeysError};
use crate::*;

fn cmd(name: &str) -> &'static CommandSpec {
    let (top, sub) = match name.split_once('|') {
        Some((t, _)) => (t, Some(name)),
        None => (name, None),
    };
    let c = find(top).unwrap_or_else(|| panic!("{top} not in the table"));
    match sub {
        None => c,
        Some(full) => c
            .subcommands
            .iter()
            .find(|s| s.name == full)
            .unwrap_or_else(|| panic!("{full} not in the table")),
    }
}

fn keys(name: &str, line: &str) -> Vec<(usize, u32)> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    key_positions(cmd(name), &args).unwrap()
}

fn positions(name: &str, line: &str) -> Vec<usize> {
    keys(name, line).into_iter().map(|(i, _)| i).collect()
}

#[test]
fn get_is_readonly_fast_arity_2() {
    let get = cmd("get");
    assert_eq!(get.arity, 2);
    assert!(get.has_flag(flag::READONLY));
    assert!(get.has_flag(flag::FAST));
    assert!(!get.has_flag(flag::WRITE));
    assert_eq!(get.acl_categories, acl::READ | acl::STRING | acl::FAST);
    assert_eq!((get.first_key, get.last_key, get.key_step), (1, 1, 1));
    assert_eq!(get.group, Group::String);
    assert!(get.arity_ok(2));
    assert!(!get.arity_ok(3));
}

#[test]
fn set_and_config_get_arity() {
    assert_eq!(cmd("set").arity, -3);
    assert!(cmd("set").has_flag(flag::WRITE | flag::DENYOOM));
    assert_eq!(cmd("config|get").arity, -3);
    assert!(cmd("config|get").arity_ok(4));
    assert!(!cmd("config|get").arity_ok(2));
}

#[test]
fn find_is_case_insensitive_and_top_level_only() {
    assert_eq!(find("GeT").map(|c| c.name), Some("get"));
    assert_eq!(find("CONFIG").map(|c| c.name), Some("config"));
    assert!(find("config|get").is_none());
    assert!(find("nosuchcommand").is_none());
}

#[test]
fn table_is_sorted_and_complete() {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);

    let listed: Vec<&str> = include_str!("../gen/commands.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut all_names: Vec<&str> = all().map(|c| c.name).collect();
    assert_eq!(all_names.len(), listed.len());
    all_names.sort_unstable();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort_unstable();
    assert_eq!(all_names, listed_sorted);
}

#[test]
fn all_yields_containers_before_their_subcommands() {
    let order: Vec<&str> = all().map(|c| c.name).collect();
    for c in COMMANDS.iter().filter(|c| !c.subcommands.is_empty()) {
        let at = order.iter().position(|n| *n == c.name).unwrap();
        for (k, s) in c.subcommands.iter().enumerate() {
            assert_eq!(order[at + 1 + k], s.name);
        }
    }
}

#[test]
fn subcommand_names_start_with_container() {
    for c in COMMANDS {
        assert!(!c.name.contains('|'), "{}", c.name);
        for s in c.subcommands {
            let prefix = format!("{}|", c.name);
            assert!(s.name.starts_with(&prefix), "{} under {}", s.name, c.name);
            assert!(s.subcommands.is_empty());
            assert_eq!(s.leaf_name(), &s.name[prefix.len()..]);
        }
    }
}

#[test]
fn redis_7_2_client_subcommands_present() {
    let setinfo = cmd("client|setinfo");
    assert_eq!(setinfo.arity, 4);
    assert_eq!(setinfo.since, "7.2.0");
    assert_eq!(setinfo.acl_categories, acl::SLOW | acl::CONNECTION);
    let no_touch = cmd("client|no-touch");
    assert_eq!(no_touch.arity, 3);
    assert_eq!(no_touch.arguments[0].kind, ArgType::OneOf);
    assert_eq!(no_touch.arguments[0].arguments.len(), 2);
}

#[test]
fn key_spec_indexes_are_in_range() {
    fn walk(c: &CommandSpec, args: &[Arg]) {
        for a in args {
            // SORT's BY/GET patterns name keys too (Redis gives them key specs).
            if a.kind == ArgType::Key || (a.kind == ArgType::Pattern && a.key_spec_index >= 0) {
                assert!(
                    (a.key_spec_index as usize) < c.key_specs.len(),
                    "{}",
                    c.name
                );
            } else {
                assert_eq!(a.key_spec_index, -1, "{}", c.name);
            }
            walk(c, a.arguments);
        }
    }
    for c in all() {
        walk(c, c.arguments);
    }
}

#[test]
fn mset_keys() {
    assert_eq!(positions("mset", "mset a 1 b 2 c 3"), vec![1, 3, 5]);
    let k = keys("mset", "mset a 1");
    assert_eq!(k, vec![(1, key_flag::OW | key_flag::UPDATE)]);
}

#[test]
fn copy_keys() {
    assert_eq!(
        keys("copy", "copy src dst DB 0 REPLACE"),
        vec![
            (1, key_flag::RO | key_flag::ACCESS),
            (2, key_flag::OW | key_flag::UPDATE)
        ]
    );
}

#[test]
fn lcs_keys() {
    assert_eq!(positions("lcs", "lcs k1 k2 LEN"), vec![1, 2]);
    assert_eq!(positions("lcs", "lcs k1 k2"), vec![1, 2]);
}

#[test]
fn object_encoding_key() {
    assert_eq!(
        keys("object|encoding", "object encoding k"),
        vec![(2, key_flag::RO)]
    );
}

#[test]
fn del_and_get_keys() {
    assert_eq!(positions("del", "del a b c"), vec![1, 2, 3]);
    assert_eq!(positions("get", "get a"), vec![1]);
    assert!(positions("ping", "ping").is_empty());
    // Too few arguments: a range past the end yields nothing.
    assert_eq!(positions("rename", "rename a"), vec![1]);
    assert_eq!(positions("rename", "rename a b"), vec![1, 2]);
}

const fn synthetic(begin_search: BeginSearch, find_keys: FindKeys) -> KeySpec {
    KeySpec {
        notes: "",
        flags: key_flag::RO,
        begin_search,
        find_keys,
    }
}

fn with_specs(specs: &'static [KeySpec]) -> CommandSpec {
    CommandSpec {
        key_specs: specs,
        ..*cmd("get")
    }
}

fn run(spec: &CommandSpec, line: &str) -> Result<Vec<usize>, KeysError> {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    key_positions(spec, &args).map(|v| v.into_iter().map(|(i, _)| i).collect())
}

#[test]
fn keynum_spec() {
    // Like EVAL: numkeys at index 2, keys follow it.
    static SPECS: [KeySpec; 1] = [synthetic(
        BeginSearch::Index(2),
        FindKeys::Keynum {
            keynumidx: 0,
            firstkey: 1,
            keystep: 1,
        },
    )];
    let c = with_specs(&SPECS);
    assert_eq!(run(&c, "eval s 2 a b x"), Ok(vec![3, 4]));
    assert_eq!(run(&c, "eval s 0 x"), Ok(vec![]));
    assert_eq!(run(&c, "eval s 5 a"), Ok(vec![]));
    assert_eq!(run(&c, "eval s"), Ok(vec![]));
    assert_eq!(run(&c, "eval s -1 a"), Err(KeysError::InvalidArguments));
    assert_eq!(run(&c, "eval s abc a"), Err(KeysError::InvalidArguments));
    assert_eq!(run(&c, "eval s 01 a"), Err(KeysError::InvalidArguments));
    assert_eq!(
        KeysError::InvalidArguments.to_string(),
        "ERR Invalid arguments specified for command"
    );
}

#[test]
fn keyword_specs() {
    // Like XREAD: keys after STREAMS, half of the remaining arguments.
    static XREAD: [KeySpec; 1] = [synthetic(
        BeginSearch::Keyword {
            keyword: "STREAMS",
            startfrom: 1,
        },
        FindKeys::Range {
            lastkey: -1,
            keystep: 1,
            limit: 2,
        },
    )];
    let c = with_specs(&XREAD);
    assert_eq!(run(&c, "xread COUNT 2 streams a b 0 0"), Ok(vec![4, 5]));
    assert_eq!(run(&c, "xread COUNT 2 a b 0 0"), Ok(vec![]));

    // Like MIGRATE: keys after KEYS, searched backwards from the end.
    static MIGRATE: [KeySpec; 2] = [
        synthetic(
            BeginSearch::Index(3),
            FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        ),
        synthetic(
            BeginSearch::Keyword {
                keyword: "KEYS",
                startfrom: -2,
            },
            FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        ),
    ];
    let c = with_specs(&MIGRATE);
    assert_eq!(run(&c, "migrate h p k 0 5"), Ok(vec![3]));
    assert_eq!(
        run(&c, "migrate h p x 0 5 KEYS a b c"),
        Ok(vec![3, 7, 8, 9])
    );
}

#[test]
fn unknown_specs_yield_nothing() {
    static SPECS: [KeySpec; 1] = [synthetic(BeginSearch::Unknown, FindKeys::Unknown)];
    let c = with_specs(&SPECS);
    assert_eq!(run(&c, "x a b c"), Ok(vec![]));
}
