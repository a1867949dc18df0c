//! Hashes end to end: differential tests against a real redis-server (7.0)
//! over RESP2 and RESP3, and Ferrocache-only checks of what cannot be
//! compared byte for byte (random replies, HSCAN over a hashtable).
//!
//! Listpack-encoded hashes keep insertion order in both servers, so their
//! replies are compared exactly. A hashtable's order is its own in each
//! server: those replies are compared sorted (`~sort`: elements; `~pairs`:
//! field/value pairs), random replies by shape only (`~shape`: the reply's
//! types and lengths), and a hashtable's HSCAN by iterating it to the end on
//! both servers and comparing what was gathered.
//!
//! A missing redis-server fails the differential tests (CI installs it).

mod common;

use std::collections::{HashMap, HashSet};

use common::Raw;

use common::diff::*;

// ---------------------------------------------------------------------------
// Differential tables
// ---------------------------------------------------------------------------

const WRONGTYPE_CASES: &[Line] = &[
    &["SET", "s", "x"],
    &["HSET", "s", "a", "b"],
    &["HMSET", "s", "a", "b"],
    &["HSETNX", "s", "a", "b"],
    &["HGET", "s", "a"],
    &["HMGET", "s", "a", "b"],
    &["HGETALL", "s"],
    &["HKEYS", "s"],
    &["HVALS", "s"],
    &["HLEN", "s"],
    &["HEXISTS", "s", "a"],
    &["HSTRLEN", "s", "a"],
    &["HDEL", "s", "a"],
    &["HINCRBY", "s", "a", "1"],
    &["HINCRBY", "s", "a", "x"],
    &["HINCRBYFLOAT", "s", "a", "1"],
    &["HINCRBYFLOAT", "s", "a", "inf"],
    &["HRANDFIELD", "s"],
    &["HRANDFIELD", "s", "1"],
    &["HRANDFIELD", "s", "1", "WITHVALUES"],
    &["HRANDFIELD", "s", "1", "x"],
    &["HSCAN", "s", "0"],
    &["HSCAN", "s", "x"],
    &["HSCAN", "s", "0", "COUNT", "0"],
    &["GET", "s"],
];

#[test]
fn differential_basics() {
    check(
        "hash basics",
        &[
            &["HSET", "h", "f1", "v1", "f2", "v2"],
            &["HSET", "h", "f1", "x", "f3", "v3"],
            &["HGET", "h", "f1"],
            &["HGET", "h", "nope"],
            &["HGET", "nokey", "f"],
            &["HMSET", "h", "f4", "4", "f5", "-5"],
            &["HMGET", "h", "f1", "nope", "f4", "f5"],
            &["HMGET", "nokey", "a", "b"],
            &["HGETALL", "h"],
            &["HKEYS", "h"],
            &["HVALS", "h"],
            &["HLEN", "h"],
            &["HLEN", "nokey"],
            &["HEXISTS", "h", "f1"],
            &["HEXISTS", "h", "zz"],
            &["HEXISTS", "nokey", "zz"],
            &["HSTRLEN", "h", "f1"],
            &["HSTRLEN", "h", "f5"],
            &["HSTRLEN", "h", "nope"],
            &["HSTRLEN", "nokey", "nope"],
            &["HSETNX", "h", "f1", "y"],
            &["HSETNX", "h", "f9", "y"],
            &["HSETNX", "new", "a", "b"],
            &["HGETALL", "new"],
            &["HGETALL", "nokey"],
            &["HKEYS", "nokey"],
            &["HVALS", "nokey"],
            &["OBJECT", "ENCODING", "h"],
            &["TYPE", "h"],
            &["HDEL", "h", "f1", "nope", "f2"],
            &["HDEL", "nokey", "a"],
            &["HDEL", "h", "f3", "f4", "f5", "f9", "f3"],
            &["EXISTS", "h"],
            &["TYPE", "h"],
            // Arity.
            &["HSET", "h"],
            &["HSET", "h", "a"],
            &["HSET", "h", "a", "b", "c"],
            &["HMSET", "h", "a"],
            &["HMSET", "h", "a", "b", "c"],
            &["HDEL", "h"],
            &["HGET", "h"],
            &["HMGET", "h"],
            &["HSETNX", "h", "a"],
            &["HINCRBY", "h", "a"],
            &["HSTRLEN", "h"],
            &["HRANDFIELD"],
            &["HSCAN", "h"],
            &["EXISTS", "h"],
            // Odd bytes: empty fields and values, integer-looking strings.
            &["HSET", "e", "", ""],
            &["HGETALL", "e"],
            &["HSTRLEN", "e", ""],
            &["HEXISTS", "e", ""],
            &[
                "HSET",
                "n",
                "1",
                "2",
                "-0",
                "007",
                "01",
                "x",
                "9223372036854775808",
                "-9223372036854775808",
                "-1",
                " 1",
                "63",
                "64",
                "-129",
                "70000",
            ],
            &["HSET", "n", "1", "one", "63", "12345678901234"],
            &["HGETALL", "n"],
            &["HGET", "n", "1"],
            &["HGET", "n", "01"],
            &["HGET", "n", "-0"],
            &["HSTRLEN", "n", "9223372036854775808"],
            &["HSTRLEN", "n", "-1"],
            &["HDEL", "n", "1", "-0"],
            &["HKEYS", "n"],
            &["HVALS", "n"],
            // Case-insensitive command names.
            &["hset", "c", "a", "1"],
            &["HgEtAlL", "c"],
        ],
    );
}

#[test]
fn differential_wrong_type() {
    check("hash wrong type", WRONGTYPE_CASES);
}

/// Encodings: listpack while small, hashtable beyond either limit, never
/// back. Replies from hashtables are compared sorted.
#[test]
fn differential_encodings() {
    let long65 = "x".repeat(65);
    let long64 = "y".repeat(64);
    let lines: Vec<Vec<&str>> = vec![
        // Defaults (512 entries, 64 bytes): the edges.
        vec!["HSET", "d", "a", &long64],
        vec!["OBJECT", "ENCODING", "d"],
        vec!["HSET", "d", "b", &long65],
        vec!["OBJECT", "ENCODING", "d"],
        vec!["HSET", "d2", &long65, "v"],
        vec!["OBJECT", "ENCODING", "d2"],
        vec!["HSETNX", "d3", "a", &long65],
        vec!["OBJECT", "ENCODING", "d3"],
        vec!["CONFIG", "SET", "hash-max-listpack-entries", "4"],
        vec!["CONFIG", "SET", "hash-max-listpack-value", "8"],
        vec!["HSET", "e", "a", "1", "b", "2", "c", "3", "d", "4"],
        vec!["OBJECT", "ENCODING", "e"],
        vec!["HSET", "e", "a", "12345678"],
        vec!["OBJECT", "ENCODING", "e"],
        vec!["HGETALL", "e"],
        vec!["HSET", "e", "e", "5"],
        vec!["OBJECT", "ENCODING", "e"],
        vec!["~sort", "HKEYS", "e"],
        vec!["~sort", "HVALS", "e"],
        vec!["~pairs", "HGETALL", "e"],
        vec!["HMGET", "e", "a", "e", "zz"],
        vec!["HLEN", "e"],
        vec!["HDEL", "e", "a", "b", "c", "d"],
        vec!["OBJECT", "ENCODING", "e"],
        vec!["HGETALL", "e"],
        vec!["HDEL", "e", "e"],
        vec!["EXISTS", "e"],
        // A long value or field converts at once.
        vec!["HSET", "v", "a", "123456789"],
        vec!["OBJECT", "ENCODING", "v"],
        vec!["HSET", "f", "123456789", "x"],
        vec!["OBJECT", "ENCODING", "f"],
        // HSETNX on an existing field converts nothing.
        vec!["HSET", "nx", "a", "1"],
        vec!["HSETNX", "nx", "a", "123456789"],
        vec!["OBJECT", "ENCODING", "nx"],
        vec!["HSETNX", "nx", "b", "123456789"],
        vec!["OBJECT", "ENCODING", "nx"],
        // Counters convert when their result gets long.
        vec!["HINCRBY", "i", "f", "12345678"],
        vec!["OBJECT", "ENCODING", "i"],
        vec!["HINCRBY", "i", "f", "100000000"],
        vec!["OBJECT", "ENCODING", "i"],
        vec!["HGET", "i", "f"],
        vec!["HINCRBYFLOAT", "j", "f", "1.5"],
        vec!["OBJECT", "ENCODING", "j"],
        vec!["HINCRBYFLOAT", "j", "f", "0.0000001"],
        vec!["OBJECT", "ENCODING", "j"],
        vec!["HGET", "j", "f"],
        // A lowered limit converts on the next write, even an update.
        vec!["HSET", "w", "a", "1", "b", "2", "c", "3"],
        vec!["CONFIG", "SET", "hash-max-listpack-entries", "2"],
        vec!["HGET", "w", "a"],
        vec!["OBJECT", "ENCODING", "w"],
        vec!["HSET", "w", "a", "9"],
        vec!["OBJECT", "ENCODING", "w"],
        vec!["~pairs", "HGETALL", "w"],
        // Zero entries: the first field converts.
        vec!["CONFIG", "SET", "hash-max-listpack-entries", "0"],
        vec!["HSET", "z", "a", "b"],
        vec!["OBJECT", "ENCODING", "z"],
        vec!["CONFIG", "SET", "hash-max-listpack-value", "0"],
        vec!["CONFIG", "SET", "hash-max-listpack-entries", "128"],
        vec!["HSET", "z2", "", ""],
        vec!["OBJECT", "ENCODING", "z2"],
        vec!["HSET", "z3", "a", ""],
        vec!["OBJECT", "ENCODING", "z3"],
        // The old names still work.
        vec!["CONFIG", "SET", "hash-max-ziplist-entries", "3"],
        vec!["CONFIG", "SET", "hash-max-ziplist-value", "10"],
        vec!["~pairs", "CONFIG", "GET", "hash-max-listpack-*"],
        vec!["HSET", "o", "a", "1", "b", "2", "c", "3"],
        vec!["OBJECT", "ENCODING", "o"],
        vec!["HSET", "o", "d", "4"],
        vec!["OBJECT", "ENCODING", "o"],
        vec!["CONFIG", "SET", "hash-max-listpack-entries", "512"],
        vec!["CONFIG", "SET", "hash-max-listpack-value", "64"],
    ];
    let lines: Vec<Line> = lines.iter().map(Vec::as_slice).collect();
    check("hash encodings", &lines);
}

/// A big hash built and shrunk on both servers, compared sorted.
#[test]
fn differential_big_hashtable() {
    let mut d = Diff::new("hash big hashtable");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        for i in 0..1500 {
            let (f, v) = (format!("field:{i}"), format!("{}", i * 7));
            d.line(&["HSET", "big", &f, &v]);
        }
        d.line(&["OBJECT", "ENCODING", "big"]);
        d.line(&["HLEN", "big"]);
        d.line(&["~pairs", "HGETALL", "big"]);
        d.line(&["~sort", "HKEYS", "big"]);
        for i in (0..1500).step_by(3) {
            let f = format!("field:{i}");
            d.line(&["HDEL", "big", &f, "nope"]);
        }
        for i in (0..1500).step_by(7) {
            let f = format!("field:{i}");
            d.line(&["HGET", "big", &f]);
            d.line(&["HINCRBY", "big", &f, "3"]);
            d.line(&["HSTRLEN", "big", &f]);
        }
        d.line(&["~pairs", "HGETALL", "big"]);
        d.line(&["~sort", "HVALS", "big"]);
        d.line(&["OBJECT", "ENCODING", "big"]);
    }
    d.finish();
}

#[test]
fn differential_counters() {
    let big = "9".repeat(400);
    let lines: Vec<Vec<&str>> = vec![
        vec!["HINCRBY", "h", "n", "5"],
        vec!["HINCRBY", "h", "n", "-7"],
        vec!["HINCRBY", "h", "n", "0"],
        vec!["HINCRBY", "new", "n", "-9223372036854775808"],
        vec!["HINCRBY", "new", "n", "-1"],
        vec!["HINCRBY", "h", "m", "9223372036854775807"],
        vec!["HINCRBY", "h", "m", "1"],
        vec!["HINCRBY", "h", "m", "-9223372036854775807"],
        vec!["HINCRBY", "h", "m", "-9223372036854775808"],
        vec!["HINCRBY", "h", "n", "x"],
        vec!["HINCRBY", "h", "n", "1.5"],
        vec!["HINCRBY", "h", "n", " 1"],
        vec!["HINCRBY", "h", "n", "+1"],
        vec!["HINCRBY", "h", "n", ""],
        vec!["HINCRBY", "h", "n", "9223372036854775808"],
        vec![
            "HSET", "h", "s", "abc", "sp", " 1", "sp2", "1 ", "z", "-0", "lz", "01", "e", "", "f",
            "1.5",
        ],
        vec!["HINCRBY", "h", "s", "1"],
        vec!["HINCRBY", "h", "sp", "1"],
        vec!["HINCRBY", "h", "sp2", "1"],
        vec!["HINCRBY", "h", "z", "1"],
        vec!["HINCRBY", "h", "lz", "1"],
        vec!["HINCRBY", "h", "e", "1"],
        vec!["HINCRBY", "h", "f", "1"],
        vec!["HINCRBYFLOAT", "h", "f", "10.5"],
        vec!["HINCRBYFLOAT", "h", "f", "0.1"],
        vec!["HINCRBYFLOAT", "h", "f", "-5"],
        vec!["HINCRBYFLOAT", "h", "f", "5.0e3"],
        vec!["HINCRBYFLOAT", "h", "f", "1e-5"],
        vec!["HINCRBYFLOAT", "h", "f", "1.23e+20"],
        vec!["HINCRBYFLOAT", "h", "f", "-1.23e+20"],
        vec!["HINCRBYFLOAT", "h", "g", "0x10"],
        vec!["HINCRBYFLOAT", "h", "g", "3.0e3"],
        vec!["HINCRBYFLOAT", "h", "g", "-0.0"],
        vec!["HINCRBYFLOAT", "h", "n", "1.5"],
        vec!["HINCRBYFLOAT", "h", "m", "0.5"],
        vec!["HINCRBYFLOAT", "h", "i", "1e300"],
        vec!["HINCRBYFLOAT", "h", "i", "1e300"],
        vec!["HINCRBYFLOAT", "h", "j", &big],
        vec!["HINCRBYFLOAT", "h", "j", &big],
        vec!["HINCRBYFLOAT", "h", "f", "inf"],
        vec!["HINCRBYFLOAT", "h", "f", "-inf"],
        vec!["HINCRBYFLOAT", "h", "f", "nan"],
        vec!["HINCRBYFLOAT", "h", "f", "abc"],
        vec!["HINCRBYFLOAT", "h", "f", ""],
        vec!["HINCRBYFLOAT", "h", "f", " 1"],
        vec!["HINCRBYFLOAT", "h", "f", "1 "],
        vec!["HINCRBYFLOAT", "h", "s", "1"],
        vec!["HINCRBYFLOAT", "h", "sp", "1"],
        vec!["HINCRBYFLOAT", "h", "sp2", "1"],
        vec!["HINCRBYFLOAT", "h", "z", "1"],
        vec!["HINCRBYFLOAT", "h", "lz", "1"],
        vec!["HINCRBYFLOAT", "h", "e", "1"],
        vec!["HSET", "h", "nul", "1\u{0}2"],
        vec!["HINCRBYFLOAT", "h", "nul", "1"],
        vec!["HINCRBY", "h", "nul", "1"],
        // The 400-digit values made it a hashtable.
        vec!["OBJECT", "ENCODING", "h"],
        vec!["~pairs", "HGETALL", "h"],
        vec!["HINCRBYFLOAT", "fresh", "f", "nan"],
        vec!["EXISTS", "fresh"],
        vec!["HINCRBY", "fresh", "f", "x"],
        vec!["EXISTS", "fresh"],
    ];
    let lines: Vec<Line> = lines.iter().map(Vec::as_slice).collect();
    check("hash counters", &lines);
}

#[test]
fn differential_hrandfield() {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut add = |l: &[&str]| lines.push(l.iter().map(|s| s.to_string()).collect());
    // Deterministic cases: errors, missing keys, count 0, one field, and a
    // count covering a listpack hash (its order is insertion order).
    add(&["HRANDFIELD", "nokey"]);
    add(&["HRANDFIELD", "nokey", "5"]);
    add(&["HRANDFIELD", "nokey", "-5", "WITHVALUES"]);
    add(&["HRANDFIELD", "nokey", "0"]);
    add(&["HSET", "one", "a", "1"]);
    add(&["HRANDFIELD", "one"]);
    add(&["HRANDFIELD", "one", "-3"]);
    add(&["HRANDFIELD", "one", "-3", "WITHVALUES"]);
    add(&["HRANDFIELD", "one", "3", "withvalues"]);
    add(&["HRANDFIELD", "one", "1", "WITHVALUES"]);
    add(&[
        "HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5",
    ]);
    add(&["HRANDFIELD", "h", "0"]);
    add(&["HRANDFIELD", "h", "0", "WITHVALUES"]);
    add(&["HRANDFIELD", "h", "5"]);
    add(&["HRANDFIELD", "h", "100", "WITHVALUES"]);
    add(&["HRANDFIELD", "h", "x"]);
    add(&["HRANDFIELD", "h", "1.5"]);
    add(&["HRANDFIELD", "h", "1", "WITHSCORES"]);
    add(&["HRANDFIELD", "h", "1", "WITHVALUES", "x"]);
    add(&["HRANDFIELD", "h", "-9223372036854775808"]);
    add(&["HRANDFIELD", "h", "-9223372036854775808", "WITHVALUES"]);
    add(&["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"]);
    add(&["HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"]);
    add(&["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"]);
    add(&["HRANDFIELD", "h", "9223372036854775807"]);
    // Random cases: compare the shape only.
    for args in [
        &["HRANDFIELD", "h"][..],
        &["HRANDFIELD", "h", "1"],
        &["HRANDFIELD", "h", "2"],
        &["HRANDFIELD", "h", "4"],
        &["HRANDFIELD", "h", "-2"],
        &["HRANDFIELD", "h", "-20"],
        &["HRANDFIELD", "h", "2", "WITHVALUES"],
        &["HRANDFIELD", "h", "4", "WITHVALUES"],
        &["HRANDFIELD", "h", "-20", "WITHVALUES"],
        &["HRANDFIELD", "h", "-1", "WITHVALUES"],
    ] {
        let mut l = vec!["~shape"];
        l.extend_from_slice(args);
        add(&l);
    }
    add(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]);
    add(&[
        "HSET", "t", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5",
    ]);
    add(&["OBJECT", "ENCODING", "t"]);
    for args in [
        &["HRANDFIELD", "t"][..],
        &["HRANDFIELD", "t", "1"],
        &["HRANDFIELD", "t", "2"],
        &["HRANDFIELD", "t", "4"],
        &["HRANDFIELD", "t", "5"],
        &["HRANDFIELD", "t", "-7"],
        &["HRANDFIELD", "t", "2", "WITHVALUES"],
        &["HRANDFIELD", "t", "4", "WITHVALUES"],
        &["HRANDFIELD", "t", "9", "WITHVALUES"],
        &["HRANDFIELD", "t", "-9", "WITHVALUES"],
    ] {
        let mut l = vec!["~shape"];
        l.extend_from_slice(args);
        add(&l);
    }
    add(&["~pairs", "HRANDFIELD", "t", "5", "WITHVALUES"]);
    add(&["~sort", "HRANDFIELD", "t", "5"]);
    add(&["CONFIG", "SET", "hash-max-listpack-entries", "512"]);
    let lines: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.iter().map(String::as_str).collect())
        .collect();
    let lines: Vec<Line> = lines.iter().map(Vec::as_slice).collect();
    check("hash hrandfield", &lines);
}

#[test]
fn differential_hscan_listpack() {
    check(
        "hash hscan listpack",
        &[
            &["HSCAN", "nokey", "0"],
            &["HSCAN", "nokey", "x"],
            &["HSCAN", "nokey", "0", "COUNT", "0"],
            &["HSCAN", "nokey", "0", "BOGUS"],
            &[
                "HSET", "h", "a1", "1", "b1", "2", "a2", "3", "ab", "4", "7", "8",
            ],
            &["HSCAN", "h", "0"],
            &["HSCAN", "h", "5"],
            &["HSCAN", "h", "+0"],
            &["HSCAN", "h", "-1"],
            &["HSCAN", "h", "18446744073709551615"],
            &["HSCAN", "h", "0", "COUNT", "1"],
            &["HSCAN", "h", "0", "MATCH", "a*"],
            &["HSCAN", "h", "0", "MATCH", "*"],
            &["HSCAN", "h", "0", "MATCH", "?"],
            &["HSCAN", "h", "0", "MATCH", "nomatch"],
            &["HSCAN", "h", "0", "match", "a[12]", "count", "100"],
            &["HSCAN", "h", "0", "MATCH", "a*", "MATCH", "b*"],
            // Errors: the cursor first, then the options.
            &["HSCAN", "h", "x"],
            &["HSCAN", "h", ""],
            &["HSCAN", "h", " 1"],
            &["HSCAN", "h", "1.5"],
            &["HSCAN", "h", "18446744073709551616"],
            &["HSCAN", "h", "0", "COUNT", "0"],
            &["HSCAN", "h", "0", "COUNT", "-1"],
            &["HSCAN", "h", "0", "COUNT", "x"],
            &["HSCAN", "h", "0", "COUNT"],
            &["HSCAN", "h", "0", "MATCH"],
            &["HSCAN", "h", "0", "TYPE", "string"],
            &["HSCAN", "h", "0", "NOVALUES"],
            &["HSCAN", "h", "0", "COUNT", "1", "BOGUS"],
        ],
    );
}

/// Iterates HSCAN to the end on a connection; returns field -> value and
/// the number of calls.
fn scan_all(c: &mut Raw, key: &str, extra: &[&str]) -> (HashMap<String, String>, usize) {
    let mut out = HashMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let mut args = vec!["HSCAN", key, &cursor];
        args.extend_from_slice(extra);
        let reply = Node::parse(&c.call(&args));
        calls += 1;
        assert_eq!(reply.kids.len(), 2, "HSCAN reply {reply:?}");
        cursor = reply.kids[0].text();
        for kv in reply.kids[1].kids.chunks(2) {
            out.insert(kv[0].text(), kv[1].text());
        }
        if cursor == "0" {
            return (out, calls);
        }
        assert!(calls < 100_000, "HSCAN does not terminate");
    }
}

#[test]
fn differential_hscan_hashtable() {
    let mut d = Diff::new("hash hscan hashtable");
    d.reconnect(2);
    for i in 0..2000 {
        let (f, v) = (format!("f:{i}"), format!("v{i}"));
        d.line(&["HSET", "big", &f, &v]);
    }
    d.line(&["OBJECT", "ENCODING", "big"]);
    for extra in [
        &[][..],
        &["COUNT", "1"],
        &["COUNT", "7"],
        &["COUNT", "1000"],
        &["MATCH", "f:1*"],
        &["MATCH", "f:1*", "COUNT", "3"],
        &["MATCH", "nothing"],
    ] {
        let (r, r_calls) = scan_all(&mut d.r, "big", extra);
        let (f, f_calls) = scan_all(&mut d.f, "big", extra);
        d.compared += 1;
        if r != f {
            let label = format!("full HSCAN big {extra:?}");
            d.fail(
                &label,
                &format!("{} fields", r.len()),
                &format!("{} fields", f.len()),
            );
        }
        // COUNT is honoured roughly as Redis does (same order of calls).
        if extra.is_empty() || extra == ["COUNT", "7"] {
            assert!(
                f_calls <= 2 * r_calls + 2 && r_calls <= 2 * f_calls + 2,
                "{extra:?}: redis needed {r_calls} calls, ferrocache {f_calls}"
            );
        }
    }
    // Errors against a hashtable.
    d.line(&["HSCAN", "big", "0", "COUNT", "0"]);
    d.line(&["HSCAN", "big", "x"]);
    d.finish();
}

// ---------------------------------------------------------------------------
// Ferrocache only: random replies and HSCAN guarantees
// ---------------------------------------------------------------------------

/// The fields of a flat RESP2 reply (every element, or every other one
/// with values).
fn fields(reply: &Node, withvalues: bool) -> Vec<(String, Option<String>)> {
    if withvalues {
        reply
            .kids
            .chunks(2)
            .map(|kv| (kv[0].text(), Some(kv[1].text())))
            .collect()
    } else {
        reply.kids.iter().map(|k| (k.text(), None)).collect()
    }
}

#[test]
fn hrandfield_properties() {
    let p = common::start_ferrocache(&[]);
    let mut c = p.raw();
    for (key, n, entries) in [("lp", 10usize, "512"), ("ht", 40, "16")] {
        c.call(&["CONFIG", "SET", "hash-max-listpack-entries", entries]);
        let mut all = HashMap::new();
        for i in 0..n {
            let (f, v) = (format!("f{i}"), format!("v{i}"));
            c.call(&["HSET", key, &f, &v]);
            all.insert(f, v);
        }
        let enc = Node::parse(&c.call(&["OBJECT", "ENCODING", key])).text();
        assert_eq!(enc, if key == "lp" { "listpack" } else { "hashtable" });
        for count in [1i64, 2, 3, 5, 9, 10, 13, 39, 40, 100, -1, -5, -100] {
            for withvalues in [false, true] {
                let count_s = count.to_string();
                let mut args = vec!["HRANDFIELD", key, &count_s];
                if withvalues {
                    args.push("WITHVALUES");
                }
                let reply = Node::parse(&c.call(&args));
                let got = fields(&reply, withvalues);
                let want = if count < 0 {
                    count.unsigned_abs() as usize
                } else {
                    (count as usize).min(n)
                };
                assert_eq!(got.len(), want, "{args:?}");
                for (f, v) in &got {
                    let real = all
                        .get(f)
                        .unwrap_or_else(|| panic!("{args:?}: unknown {f}"));
                    if let Some(v) = v {
                        assert_eq!(v, real);
                    }
                }
                if count > 0 {
                    let distinct: HashSet<_> = got.iter().map(|(f, _)| f).collect();
                    assert_eq!(distinct.len(), got.len(), "{args:?}: repeated fields");
                }
            }
        }
        // Every field comes up eventually, and roughly uniformly.
        let reply = Node::parse(&c.call(&["HRANDFIELD", key, "-20000"]));
        let mut counts: HashMap<String, usize> = HashMap::new();
        for k in &reply.kids {
            *counts.entry(k.text()).or_default() += 1;
        }
        assert_eq!(counts.len(), n);
        let expect = 20000 / n;
        assert!(
            counts.values().all(|&c| c > expect / 2 && c < expect * 2),
            "{key}: {counts:?}"
        );
        let mut single = HashSet::new();
        for _ in 0..(n * 30) {
            single.insert(Node::parse(&c.call(&["HRANDFIELD", key])).text());
        }
        assert_eq!(single.len(), n);
        // RESP3: nested pairs with values, flat without.
        c.call(&["HELLO", "3"]);
        let reply = Node::parse(&c.call(&["HRANDFIELD", key, "3", "WITHVALUES"]));
        assert_eq!(reply.kids.len(), 3);
        assert!(reply
            .kids
            .iter()
            .all(|p| p.kids.len() == 2 && all.get(&p.kids[0].text()) == Some(&p.kids[1].text())));
        let reply = Node::parse(&c.call(&["HRANDFIELD", key, "-4", "WITHVALUES"]));
        assert_eq!(reply.kids.len(), 4);
        assert!(reply.kids.iter().all(|p| p.kids.len() == 2));
        let reply = Node::parse(&c.call(&["HRANDFIELD", key, "3"]));
        assert!(reply.kids.iter().all(|k| k.head[0] == b'$'));
        c.call(&["HELLO", "2"]);
    }
}

/// Every field present for a whole HSCAN is returned, while other fields
/// come and go and the hash grows and shrinks; cursors stay small.
#[test]
fn hscan_guarantee_under_writes() {
    let p = common::start_ferrocache(&[]);
    let mut c = p.raw();
    let mut w = p.raw();
    for i in 0..3000 {
        let f = format!("keep:{i}");
        c.call(&["HSET", "h", &f, "v"]);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let reply = Node::parse(&c.call(&["HSCAN", "h", &cursor, "COUNT", "20"]));
        cursor = reply.kids[0].text();
        let as_num: u64 = cursor.parse().expect("numeric cursor");
        assert!(as_num <= u64::from(u32::MAX), "cursor {cursor}");
        for kv in reply.kids[1].kids.chunks(2) {
            *seen.entry(kv[0].text()).or_default() += 1;
        }
        // Another client churns the hash in between.
        for j in 0..40 {
            let f = format!("tmp:{step}:{j}");
            w.call(&["HSET", "h", &f, "x"]);
        }
        if step >= 10 {
            for j in 0..40 {
                let f = format!("tmp:{}:{j}", step - 10);
                w.call(&["HDEL", "h", &f]);
            }
        }
        step += 1;
        if cursor == "0" {
            break;
        }
    }
    for i in 0..3000 {
        assert_eq!(seen.get(&format!("keep:{i}")), Some(&1), "keep:{i}");
    }
}

/// Memory: many small listpack hashes, compared with redis-server's
/// used_memory growth (printed; the bound allows allocator noise only).
#[test]
fn small_hash_memory_against_redis() {
    let redis = common::start_redis();
    let ferro = common::start_ferrocache(&[]);
    let n = 100_000;
    let mut per_key = Vec::new();
    for p in [&redis, &ferro] {
        let mut c = p.raw();
        let used = |c: &mut Raw| {
            let info = Node::parse(&c.call(&["INFO", "memory"])).text();
            common::info_field(&info, "used_memory")
                .and_then(|v| v.parse::<f64>().ok())
                .expect("used_memory")
        };
        let before = used(&mut c);
        // Pipelined: one batch of HSETs, then read every reply.
        let mut batch = Vec::new();
        for i in 0..n {
            let key = format!("hash:{i}");
            let mut args: Vec<String> = vec!["HSET".into(), key];
            for j in 0..10 {
                args.push(format!("field{j}"));
                args.push(format!("value{j}"));
            }
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            batch.extend(common::encode(&args));
        }
        // Written from another thread so neither side's buffers fill up.
        let mut writer = c.stream.try_clone().expect("clone");
        let sender = std::thread::spawn(move || {
            use std::io::Write;
            writer.write_all(&batch).expect("write");
        });
        for _ in 0..n {
            c.read_reply();
        }
        sender.join().expect("sender");
        per_key.push((used(&mut c) - before) / n as f64);
    }
    eprintln!(
        "bytes per 10-field hash: redis {:.1}, ferrocache {:.1}",
        per_key[0], per_key[1]
    );
    assert!(
        per_key[1] <= per_key[0] * 1.03,
        "ferrocache uses {:.1} bytes per hash, redis {:.1}",
        per_key[1],
        per_key[0]
    );
}
