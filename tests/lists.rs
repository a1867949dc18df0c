//! Lists end to end: the same command lines go to a real redis-server (7.0)
//! and to Ferrocache over RESP2 and RESP3, and the replies must match byte
//! for byte; then seeded random command streams on a few keys (with small
//! `list-max-listpack-size` values, so node splits and conversions happen
//! all the time); then OBJECT ENCODING transitions, checked against Redis
//! 7.2's rules on Ferrocache alone (redis-server 7.0 always answers
//! "quicklist", so encodings cannot be compared with it).
//!
//! A missing redis-server is a failure, not a skip: CI installs it.

mod common;

use common::diff::{Diff, Line};
use common::Raw;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every run starts from the default list encoding threshold.
const SETUP: &[Line] = &[&["~skip", "CONFIG", "SET", "list-max-listpack-size", "-2"]];

fn check(name: &'static str, lines: &[Line]) {
    let mut d = Diff::new(name);
    d.run_both_with(SETUP, lines);
    d.finish();
}

// ---------------------------------------------------------------------------
// Command tables
// ---------------------------------------------------------------------------

#[test]
fn pushes_pops_and_counts() {
    check(
        "pushes_pops_and_counts",
        &[
            &["LPUSH", "l", "a", "b", "c"],
            &["RPUSH", "l", "d", "1", "-1", "9223372036854775808", ""],
            &["LRANGE", "l", "0", "-1"],
            &["LPUSHX", "l", "x"],
            &["RPUSHX", "l", "y", "z"],
            &["LPUSHX", "none", "x"],
            &["RPUSHX", "none", "x"],
            &["EXISTS", "none"],
            &["LLEN", "l"],
            &["LLEN", "none"],
            &["LPOP", "l"],
            &["RPOP", "l"],
            &["LPOP", "l", "2"],
            &["RPOP", "l", "3"],
            &["LPOP", "l", "0"],
            &["RPOP", "l", "0"],
            &["LPOP", "l", "100"],
            &["EXISTS", "l"],
            &["LPOP", "l"],
            &["RPOP", "l"],
            &["LPOP", "l", "1"],
            &["RPOP", "l", "0"],
            &["LPOP", "l", "-1"],
            &["RPOP", "l", "abc"],
            &["LPOP", "l", "1", "2"],
            &["RPOP", "l", "1", "2", "3"],
            &["LPOP", "l", "9223372036854775807"],
            &["RPUSH", "l", "only"],
            &["RPOP", "l", "9223372036854775807"],
            &["LPOP", "l", "99999999999999999999"],
            &["RPUSH", "n", "1"],
            &["LPOP", "n", "-1"],
            &["LPOP", "n", " 1"],
            &["LPOP", "n", "+1"],
            &["LPOP", "n", "01"],
            &["LLEN", "n"],
            &["LPUSH"],
            &["LPUSH", "l"],
            &["RPUSHX", "l"],
            &["LLEN"],
        ],
    );
}

#[test]
fn index_range_set_insert() {
    check(
        "index_range_set_insert",
        &[
            &["RPUSH", "l", "a", "b", "c", "d", "e"],
            &["LINDEX", "l", "0"],
            &["LINDEX", "l", "4"],
            &["LINDEX", "l", "5"],
            &["LINDEX", "l", "-1"],
            &["LINDEX", "l", "-5"],
            &["LINDEX", "l", "-6"],
            &["LINDEX", "l", "9223372036854775807"],
            &["LINDEX", "l", "-9223372036854775808"],
            &["LINDEX", "l", "x"],
            &["LINDEX", "l", "1.5"],
            &["LINDEX", "none", "x"],
            &["LINDEX", "none", "0"],
            &["LRANGE", "l", "0", "-1"],
            &["LRANGE", "l", "1", "3"],
            &["LRANGE", "l", "-3", "-2"],
            &["LRANGE", "l", "-100", "100"],
            &["LRANGE", "l", "3", "1"],
            &["LRANGE", "l", "5", "10"],
            &["LRANGE", "l", "-1", "-5"],
            &["LRANGE", "l", "0", "-6"],
            &["LRANGE", "l", "-9223372036854775808", "9223372036854775807"],
            &["LRANGE", "l", "x", "1"],
            &["LRANGE", "l", "0", "y"],
            &["LRANGE", "none", "0", "-1"],
            &["LRANGE", "none", "x", "-1"],
            &["LSET", "l", "0", "A"],
            &["LSET", "l", "-1", "E"],
            &["LSET", "l", "5", "x"],
            &["LSET", "l", "-6", "x"],
            &["LSET", "l", "x", "x"],
            &["LSET", "none", "0", "x"],
            &["LSET", "none", "x", "x"],
            &["LRANGE", "l", "0", "-1"],
            &["LINSERT", "l", "BEFORE", "A", "first"],
            &["LINSERT", "l", "AFTER", "E", "last"],
            &["LINSERT", "l", "after", "c", "mid"],
            &["LINSERT", "l", "before", "nothere", "x"],
            &["LINSERT", "l", "sideways", "c", "x"],
            &["LINSERT", "none", "before", "c", "x"],
            &["LINSERT", "none", "sideways", "c", "x"],
            &["LRANGE", "l", "0", "-1"],
            &["LINSERT", "l", "BEFORE", "", "empty"],
            &["RPUSH", "l", ""],
            &["LINSERT", "l", "BEFORE", "", "empty"],
            &["LRANGE", "l", "0", "-1"],
        ],
    );
}

#[test]
fn rem_trim_pos() {
    check(
        "rem_trim_pos",
        &[
            &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c", "a"],
            &["LPOS", "l", "c"],
            &["LPOS", "l", "c", "RANK", "1"],
            &["LPOS", "l", "c", "RANK", "2"],
            &["LPOS", "l", "c", "RANK", "4"],
            &["LPOS", "l", "c", "RANK", "-1"],
            &["LPOS", "l", "c", "RANK", "-3"],
            &["LPOS", "l", "c", "RANK", "-4"],
            &["LPOS", "l", "c", "RANK", "0"],
            &["LPOS", "l", "c", "RANK", "x"],
            &["LPOS", "l", "c", "RANK", "9223372036854775807"],
            &["LPOS", "l", "c", "COUNT", "0"],
            &["LPOS", "l", "c", "COUNT", "2"],
            &["LPOS", "l", "c", "COUNT", "2", "RANK", "2"],
            &["LPOS", "l", "c", "COUNT", "0", "RANK", "-1"],
            &["LPOS", "l", "c", "COUNT", "-1"],
            &["LPOS", "l", "c", "COUNT", "x"],
            &["LPOS", "l", "c", "MAXLEN", "3"],
            &["LPOS", "l", "c", "MAXLEN", "2"],
            &["LPOS", "l", "c", "MAXLEN", "0", "COUNT", "0"],
            &["LPOS", "l", "c", "MAXLEN", "7", "COUNT", "0"],
            &["LPOS", "l", "c", "MAXLEN", "3", "RANK", "-1", "COUNT", "0"],
            &["LPOS", "l", "c", "MAXLEN", "-1"],
            &["LPOS", "l", "c", "MAXLEN", "y"],
            &["LPOS", "l", "c", "RANK"],
            &["LPOS", "l", "c", "COUNT", "1", "FOO"],
            &["LPOS", "l", "c", "FOO", "1"],
            &["LPOS", "l", "zz"],
            &["LPOS", "l", "zz", "COUNT", "0"],
            &["LPOS", "none", "c"],
            &["LPOS", "none", "c", "COUNT", "1"],
            &["LPOS", "none", "c", "RANK", "0"],
            &["LPOS", "l", "c", "rank", "2", "count", "1", "maxlen", "9"],
            &["LREM", "l", "1", "c"],
            &["LREM", "l", "-1", "a"],
            &["LRANGE", "l", "0", "-1"],
            &["LREM", "l", "0", "c"],
            &["LREM", "l", "5", "zz"],
            &["LREM", "l", "x", "a"],
            &["LREM", "none", "1", "a"],
            &["LREM", "none", "x", "a"],
            &["LRANGE", "l", "0", "-1"],
            &["LTRIM", "l", "1", "-2"],
            &["LRANGE", "l", "0", "-1"],
            &["LTRIM", "l", "-100", "100"],
            &["LRANGE", "l", "0", "-1"],
            &["LTRIM", "l", "x", "1"],
            &["LTRIM", "none", "0", "1"],
            &["LTRIM", "none", "x", "1"],
            &["LTRIM", "l", "2", "1"],
            &["EXISTS", "l"],
            &["RPUSH", "m", "x", "x", "x"],
            &["LREM", "m", "0", "x"],
            &["EXISTS", "m"],
            &["RPUSH", "m", "a", "b"],
            &["LTRIM", "m", "5", "10"],
            &["EXISTS", "m"],
        ],
    );
}

#[test]
fn moves_and_multi_pops() {
    check(
        "moves_and_multi_pops",
        &[
            &["RPUSH", "s", "a", "b", "c", "d"],
            &["LMOVE", "s", "d", "LEFT", "LEFT"],
            &["LMOVE", "s", "d", "LEFT", "RIGHT"],
            &["LMOVE", "s", "d", "right", "left"],
            &["LMOVE", "s", "d", "RIGHT", "RIGHT"],
            &["EXISTS", "s"],
            &["LRANGE", "d", "0", "-1"],
            &["LMOVE", "s", "d", "LEFT", "LEFT"],
            &["LMOVE", "d", "d", "LEFT", "RIGHT"],
            &["LMOVE", "d", "d", "RIGHT", "LEFT"],
            &["LRANGE", "d", "0", "-1"],
            &["LMOVE", "d", "d", "UP", "LEFT"],
            &["LMOVE", "d", "d", "LEFT", "DOWN"],
            &["LMOVE", "none", "d", "UP", "LEFT"],
            &["RPOPLPUSH", "d", "e"],
            &["RPOPLPUSH", "d", "d"],
            &["RPOPLPUSH", "none", "d"],
            &["SET", "str", "v"],
            &["RPOPLPUSH", "d", "str"],
            &["LMOVE", "d", "str", "LEFT", "LEFT"],
            &["LMOVE", "str", "d", "LEFT", "LEFT"],
            &["RPOPLPUSH", "none", "str"],
            &["LRANGE", "d", "0", "-1"],
            &["RPUSH", "one", "x"],
            &["RPOPLPUSH", "one", "one"],
            &["LRANGE", "one", "0", "-1"],
            &["RPOPLPUSH", "one", "two"],
            &["EXISTS", "one"],
            &["LMPOP", "1", "d", "LEFT"],
            &["LMPOP", "2", "none", "d", "RIGHT"],
            &["LMPOP", "2", "none", "d", "RIGHT", "COUNT", "2"],
            &["LMPOP", "3", "none", "two", "d", "LEFT", "COUNT", "100"],
            &["LMPOP", "2", "none", "none2", "LEFT"],
            &["LMPOP", "2", "none", "str", "LEFT"],
            &["LMPOP", "0", "d", "LEFT"],
            &["LMPOP", "-1", "d", "LEFT"],
            &["LMPOP", "x", "d", "LEFT"],
            &["LMPOP", "5", "d", "LEFT"],
            &["LMPOP", "1", "d", "UP"],
            &["LMPOP", "1", "d"],
            &["LMPOP", "1", "d", "LEFT", "COUNT"],
            &["LMPOP", "1", "d", "LEFT", "COUNT", "0"],
            &["LMPOP", "1", "d", "LEFT", "COUNT", "-1"],
            &["LMPOP", "1", "d", "LEFT", "COUNT", "x"],
            &["LMPOP", "1", "d", "LEFT", "COUNT", "1", "COUNT", "1"],
            &["LMPOP", "1", "d", "LEFT", "FOO"],
            &["LMPOP", "9223372036854775807", "d", "LEFT"],
            &["LMPOP", "1"],
            &["LMOVE", "s", "d", "LEFT"],
            &["RPOPLPUSH", "s"],
        ],
    );
}

#[test]
fn wrong_types() {
    let mut lines: Vec<Vec<&str>> = vec![
        vec!["SET", "str", "v"],
        vec!["HSET", "h", "f", "v"],
        vec!["RPUSH", "l", "a"],
    ];
    let cmds: &[&[&str]] = &[
        &["LPUSH", "K", "a"],
        &["RPUSH", "K", "a"],
        &["LPUSHX", "K", "a"],
        &["RPUSHX", "K", "a"],
        &["LPOP", "K"],
        &["RPOP", "K", "0"],
        &["LPOP", "K", "-1"],
        &["LLEN", "K"],
        &["LINDEX", "K", "0"],
        &["LINDEX", "K", "x"],
        &["LINSERT", "K", "BEFORE", "a", "b"],
        &["LINSERT", "K", "NOWHERE", "a", "b"],
        &["LRANGE", "K", "0", "-1"],
        &["LRANGE", "K", "x", "-1"],
        &["LREM", "K", "0", "a"],
        &["LREM", "K", "x", "a"],
        &["LSET", "K", "0", "a"],
        &["LSET", "K", "x", "a"],
        &["LTRIM", "K", "0", "1"],
        &["LPOS", "K", "a"],
        &["LPOS", "K", "a", "RANK", "0"],
        &["LMOVE", "K", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "K", "LEFT", "LEFT"],
        &["RPOPLPUSH", "K", "none"],
        &["LMPOP", "1", "K", "LEFT"],
        &["LMPOP", "2", "none", "K", "LEFT"],
        &["LMPOP", "2", "l", "K", "LEFT"],
    ];
    for key in ["str", "h"] {
        for c in cmds {
            lines.push(c.iter().map(|a| if *a == "K" { key } else { a }).collect());
        }
        lines.push(vec!["RPUSH", "l", "a"]);
    }
    lines.push(vec!["LRANGE", "l", "0", "-1"]);
    let table: Vec<&[&str]> = lines.iter().map(Vec::as_slice).collect();
    check("wrong_types", &table);
}

/// Big and binary elements, with a small listpack size so nodes split.
#[test]
fn big_and_binary_elements() {
    let big = "x".repeat(9000);
    let mid = "y".repeat(3000);
    let bin = "\0\r\n\u{7f}\u{ff}";
    let lines: Vec<Vec<&str>> = vec![
        vec!["~skip", "CONFIG", "SET", "list-max-listpack-size", "-1"],
        vec!["RPUSH", "l", &big, &mid, bin, "1", &mid, &big],
        vec!["LRANGE", "l", "0", "-1"],
        vec!["LINSERT", "l", "BEFORE", bin, &big],
        vec!["LINSERT", "l", "AFTER", "1", &mid],
        vec!["LSET", "l", "0", "small"],
        vec!["LSET", "l", "2", &big],
        vec!["LRANGE", "l", "0", "-1"],
        vec!["LPOS", "l", &big, "COUNT", "0"],
        vec!["LREM", "l", "-1", &big],
        vec!["LRANGE", "l", "0", "-1"],
        vec!["LPOP", "l", "3"],
        vec!["RPOP", "l", "2"],
        vec!["LRANGE", "l", "0", "-1"],
        vec!["LLEN", "l"],
    ];
    let lines: Vec<Line> = lines.iter().map(Vec::as_slice).collect();
    let mut d = Diff::new("big_and_binary_elements");
    d.run_both_with(SETUP, &lines);
    d.finish();
}

// ---------------------------------------------------------------------------
// Random command streams
// ---------------------------------------------------------------------------

const KEYS: [&str; 4] = ["k1", "k2", "k3", "str"];

/// A random element: mostly from a small set (so matches happen), some
/// integers, now and then long (past the byte limits of -1 and -2).
fn element(rng: &mut StdRng) -> String {
    match rng.gen_range(0..20) {
        0..=11 => ["a", "b", "c", "", "0", "17"][rng.gen_range(0..6)].to_string(),
        12..=14 => rng.gen_range(-100_000i64..100_000).to_string(),
        15..=17 => "z".repeat(rng.gen_range(1..80)),
        18 => "m".repeat(rng.gen_range(1000..5000)),
        _ => "L".repeat(rng.gen_range(8000..10000)),
    }
}

fn index(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0 => "9223372036854775807".into(),
        1 => "-9223372036854775807".into(),
        2 => "x".into(),
        _ => rng.gen_range(-15i64..15).to_string(),
    }
}

fn end(rng: &mut StdRng) -> &'static str {
    ["LEFT", "RIGHT", "left", "right"][rng.gen_range(0..4)]
}

fn key(rng: &mut StdRng) -> String {
    KEYS[rng.gen_range(0..KEYS.len())].to_string()
}

/// One random list command line.
fn random_line(rng: &mut StdRng) -> Vec<String> {
    let k = key(rng);
    let mut v: Vec<String> = match rng.gen_range(0..22) {
        0..=3 => {
            let cmd = ["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"][rng.gen_range(0..4)];
            let mut v = vec![cmd.to_string(), k];
            for _ in 0..rng.gen_range(1..6) {
                v.push(element(rng));
            }
            v
        }
        4..=5 => {
            let mut v = vec![["LPOP", "RPOP"][rng.gen_range(0..2)].into(), k];
            if rng.gen_bool(0.5) {
                v.push(rng.gen_range(-1i64..6).to_string());
            }
            v
        }
        6 => vec!["LLEN".into(), k],
        7 => vec!["LINDEX".into(), k, index(rng)],
        8 => vec![
            "LINSERT".into(),
            k,
            ["BEFORE", "AFTER"][rng.gen_range(0..2)].into(),
            element(rng),
            element(rng),
        ],
        9..=10 => vec!["LRANGE".into(), k, index(rng), index(rng)],
        11 => vec![
            "LREM".into(),
            k,
            rng.gen_range(-3i64..4).to_string(),
            element(rng),
        ],
        12 => vec!["LSET".into(), k, index(rng), element(rng)],
        13 => vec!["LTRIM".into(), k, index(rng), index(rng)],
        14 => {
            let mut v = vec!["LPOS".into(), k, element(rng)];
            if rng.gen_bool(0.5) {
                v.extend(["RANK".into(), rng.gen_range(-3i64..4).to_string()]);
            }
            if rng.gen_bool(0.5) {
                v.extend(["COUNT".into(), rng.gen_range(-1i64..4).to_string()]);
            }
            if rng.gen_bool(0.3) {
                v.extend(["MAXLEN".into(), rng.gen_range(-1i64..8).to_string()]);
            }
            v
        }
        15..=16 => vec![
            "LMOVE".into(),
            k,
            key(rng),
            end(rng).into(),
            end(rng).into(),
        ],
        17 => vec!["RPOPLPUSH".into(), k, key(rng)],
        18..=19 => {
            let n = rng.gen_range(1..4);
            let mut v = vec!["LMPOP".into(), n.to_string()];
            for _ in 0..n {
                v.push(key(rng));
            }
            v.push(end(rng).into());
            if rng.gen_bool(0.5) {
                v.extend(["COUNT".into(), rng.gen_range(0i64..5).to_string()]);
            }
            v
        }
        20 => vec!["TYPE".into(), k],
        _ => vec!["EXISTS".into(), k],
    };
    // Now and then a whole dump, so divergence shows up quickly.
    if rng.gen_range(0..10) == 0 {
        v = vec!["LRANGE".into(), key(rng), "0".into(), "-1".into()];
    }
    v
}

#[test]
fn random_streams_match_redis() {
    let mut d = Diff::new("random_streams_match_redis");
    for (seed, fill) in [
        (1u64, "-2"),
        (2, "4"),
        (3, "1"),
        (4, "-1"),
        (5, "3"),
        (6, "0"),
        (7, "2"),
        (8, "-5"),
    ] {
        let mut rng = StdRng::seed_from_u64(seed);
        let proto = if seed % 2 == 0 { 3 } else { 2 };
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.line(&["~skip", "CONFIG", "SET", "list-max-listpack-size", fill]);
        d.line(&["~skip", "SET", "str", "not a list"]);
        for _ in 0..2500 {
            let line = random_line(&mut rng);
            let line: Vec<&str> = line.iter().map(String::as_str).collect();
            d.line(&line);
        }
        for k in KEYS {
            d.line(&["LRANGE", k, "0", "-1"]);
        }
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// Encodings (Redis 7.2 rules, Ferrocache only)
// ---------------------------------------------------------------------------

fn call(c: &mut Raw, args: &[&str]) -> String {
    String::from_utf8_lossy(&c.call(args)).into_owned()
}

fn encoding(c: &mut Raw, key: &str) -> String {
    let r = call(c, &["OBJECT", "ENCODING", key]);
    r.lines().nth(1).unwrap_or(&r).to_string()
}

#[test]
fn encoding_transitions() {
    let ferro = common::start_ferrocache(&[]);
    let mut c = ferro.raw();
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "4"]),
        "+OK\r\n"
    );

    // Grows into a quicklist on the 5th element (nodes [e] [a b c d]), and
    // shrinks back once it is one node of at most 2 (half the limit).
    call(&mut c, &["RPUSH", "l", "a", "b", "c", "d"]);
    assert_eq!(encoding(&mut c, "l"), "listpack");
    call(&mut c, &["LPUSH", "l", "e"]);
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    call(&mut c, &["LPOP", "l"]);
    assert_eq!(encoding(&mut c, "l"), "quicklist", "one node, but 4 > 2");
    call(&mut c, &["RPOP", "l", "2"]);
    assert_eq!(encoding(&mut c, "l"), "listpack");

    // A batch that would not fit converts before pushing.
    call(&mut c, &["DEL", "l"]);
    call(&mut c, &["RPUSH", "l", "1", "2", "3", "4", "5"]);
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    call(&mut c, &["LTRIM", "l", "0", "1"]);
    assert_eq!(encoding(&mut c, "l"), "listpack");

    // LSET and LINSERT check for one more element first, even when the
    // index is out of range or the pivot missing.
    call(&mut c, &["RPUSH", "l", "3", "4"]);
    assert_eq!(
        call(&mut c, &["LSET", "l", "9", "x"]),
        "-ERR index out of range\r\n"
    );
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    call(&mut c, &["DEL", "l"]);
    call(&mut c, &["RPUSH", "l", "1", "2", "3", "4"]);
    assert_eq!(
        call(&mut c, &["LINSERT", "l", "AFTER", "nope", "x"]),
        ":-1\r\n"
    );
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    // LREM that removes nothing does not convert back; one that does does.
    call(&mut c, &["LREM", "l", "0", "nope"]);
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    call(&mut c, &["LREM", "l", "2", "1"]);
    call(&mut c, &["LREM", "l", "2", "2"]);
    assert_eq!(encoding(&mut c, "l"), "listpack");

    // Byte limits, with the default -2 (8 KB).
    call(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "-2"]);
    let big = "v".repeat(4000);
    call(&mut c, &["DEL", "b"]);
    call(&mut c, &["RPUSH", "b", &big, &big]);
    assert_eq!(encoding(&mut c, "b"), "listpack");
    call(&mut c, &["RPUSH", "b", "tiny", "tiny", "tiny"]);
    assert_eq!(
        encoding(&mut c, "b"),
        "listpack",
        "8000 + 12 + 7 bytes still fit"
    );
    call(&mut c, &["RPUSH", "b", &"w".repeat(200)]);
    assert_eq!(encoding(&mut c, "b"), "quicklist");
    call(&mut c, &["RPOP", "b"]);
    assert_eq!(
        encoding(&mut c, "b"),
        "quicklist",
        "one node, but over 4 KB"
    );
    call(&mut c, &["LPOP", "b"]);
    assert_eq!(encoding(&mut c, "b"), "listpack");

    // An element over the node limit gets a plain node of its own and
    // keeps the list a quicklist until it is gone.
    call(&mut c, &["DEL", "p"]);
    call(&mut c, &["RPUSH", "p", &"x".repeat(9000)]);
    assert_eq!(encoding(&mut c, "p"), "quicklist");
    call(&mut c, &["LSET", "p", "0", "small"]);
    assert_eq!(encoding(&mut c, "p"), "listpack");

    // Destinations of LMOVE start as listpacks; LMPOP shrinks its source.
    call(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "2"]);
    call(&mut c, &["DEL", "s", "d"]);
    call(&mut c, &["RPUSH", "s", "1", "2", "3"]);
    assert_eq!(encoding(&mut c, "s"), "quicklist");
    call(&mut c, &["LMOVE", "s", "d", "LEFT", "LEFT"]);
    assert_eq!(encoding(&mut c, "d"), "listpack");
    assert_eq!(encoding(&mut c, "s"), "quicklist", "nodes [2] [3]");
    call(&mut c, &["LMPOP", "1", "s", "RIGHT"]);
    assert_eq!(encoding(&mut c, "s"), "listpack");
    // A config change applies to the next conversion check.
    call(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "128"]);
    call(&mut c, &["RPUSH", "d", "a", "b", "c"]);
    assert_eq!(encoding(&mut c, "d"), "listpack");
}
