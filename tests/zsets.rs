//! Sorted sets end to end: the same command streams go to a real
//! redis-server (7.0) and to Ferrocache and the replies must match byte for
//! byte, over RESP2 and RESP3, in both encodings (listpack and skiplist,
//! forced with CONFIG SET), including OBJECT ENCODING transitions and the
//! printing of inf, -inf and 17-digit scores. Random replies (ZRANDMEMBER)
//! and hash-ordered ones (ZSCAN over a skiplist) are checked for their shape
//! and content instead, and ZRANK/ZREVRANK WITHSCORE (Redis 7.2, which the
//! reference 7.0 server lacks) against fixed expectations.
//!
//! A line may start with a marker:
//! * `~skip`  sent to both, replies read but not compared;
//! * `~sort`  the top-level elements of an array reply are sorted first;
//! * `~len`   only the reply's first line (its type and length) is compared.

mod common;

use common::diff::{Diff, Line, Node};

use common::Raw;

// ---------------------------------------------------------------------------
// Harness: tests/common/diff.rs, with the encoding thresholds set per run
// ---------------------------------------------------------------------------

/// Default thresholds: small sorted sets stay listpacks.
const LISTPACK: &[Line] = &[
    &["~skip", "CONFIG", "SET", "zset-max-listpack-entries", "128"],
    &["~skip", "CONFIG", "SET", "zset-max-listpack-value", "64"],
];
/// Both thresholds at 0: every sorted set is a skiplist.
const SKIPLIST: &[Line] = &[
    &["~skip", "CONFIG", "SET", "zset-max-listpack-entries", "0"],
    &["~skip", "CONFIG", "SET", "zset-max-listpack-value", "0"],
];

fn check_both(name: &'static str, lines: &[Line]) {
    let mut d = Diff::new(name);
    d.run_both_with(LISTPACK, lines);
    d.finish();
}

fn check_both_encodings(name: &'static str, lines: &[Line]) {
    let mut d = Diff::new(name);
    d.run_both_with(LISTPACK, lines);
    d.run_both_with(SKIPLIST, lines);
    d.finish();
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY, scores
// ---------------------------------------------------------------------------

#[test]
fn zadd_options_and_errors() {
    check_both_encodings(
        "zadd_options_and_errors",
        &[
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
            &["ZADD", "z", "1", "a"],
            &["ZADD", "z", "CH", "1", "a", "5", "b", "7", "d"],
            &["ZADD", "z", "NX", "10", "a", "10", "e"],
            &["ZADD", "z", "XX", "10", "a", "10", "f"],
            &["ZADD", "z", "XX", "CH", "11", "a", "10", "f"],
            &["ZADD", "z", "GT", "CH", "1", "a", "20", "b", "1", "g"],
            &["ZADD", "z", "LT", "CH", "100", "a", "0", "b"],
            &["ZADD", "z", "XX", "GT", "CH", "50", "a", "1", "c"],
            &["ZADD", "z", "INCR", "2.5", "a"],
            &["ZADD", "z", "INCR", "NX", "2.5", "a"],
            &["ZADD", "z", "INCR", "XX", "2.5", "nosuch"],
            &["ZADD", "z", "INCR", "GT", "-1", "a"],
            &["ZADD", "z", "INCR", "LT", "-1", "a"],
            &["ZADD", "z", "NX", "XX", "1", "a"],
            &["ZADD", "z", "NX", "GT", "1", "a"],
            &["ZADD", "z", "NX", "LT", "1", "a"],
            &["ZADD", "z", "GT", "LT", "1", "a"],
            &["ZADD", "z", "NX", "XX", "GT", "1", "a"],
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            &["ZADD", "z", "INCR", "NX", "XX", "1", "a"],
            &["ZADD", "z", "1", "a", "2"],
            &["ZADD", "z", "CH", "1"],
            &["ZADD", "z", "NX", "XX", "x", "a"],
            &["ZADD", "z", "x", "a"],
            &["ZADD", "z", "1", "a", "x", "b"],
            &["ZADD", "z", "nx", "xx", "1", "a", "2"],
            &["ZADD", "z", "+inf", "i", "-inf", "j"],
            &["ZADD", "z", "INCR", "-inf", "i"],
            &["ZINCRBY", "z", "+inf", "j"],
            &["ZINCRBY", "z", "1", "a"],
            &["ZINCRBY", "z", "x", "a"],
            &["ZINCRBY", "z", "nan", "a"],
            &["ZINCRBY", "newkey", "5", "m"],
            &["ZADD", "xxkey", "XX", "1", "a"],
            &["ZADD", "xxkey", "XX", "INCR", "1", "a"],
            &["EXISTS", "xxkey"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            &["ZCARD", "z"],
            &["ZCARD", "nosuch"],
            &["SET", "s", "x"],
            &["ZADD", "s", "1", "a"],
            &["ZADD", "s", "NX", "XX", "1", "a"],
            &["ZADD", "s", "x", "a"],
            &["ZINCRBY", "s", "1", "a"],
            &["ZCARD", "s"],
        ],
    );
}

#[test]
fn score_parsing_and_printing() {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let scores = [
        "0.1",
        "0.2",
        "1.0000000000000002",
        "3.141592653589793",
        "-0",
        "+0",
        "0",
        "1e15",
        "1e16",
        "1e17",
        "123456789012345678",
        "1.7976931348623157e308",
        "4.9e-324",
        "2.2250738585072014e-308",
        "1e-5",
        "0.0001",
        "-1.5e-7",
        "inf",
        "+inf",
        "-inf",
        "Infinity",
        "-INFINITY",
        "0x10",
        "0X1p4",
        "0x1.8p1",
        "0x",
        "1e400",
        "-1e400",
        "1e-400",
        "nan",
        "NaN",
        " 1",
        "1 ",
        "",
        "1e",
        "1e+",
        ".5",
        "5.",
        "+.5e+1",
        "--1",
        "1_000",
        "0b1",
        "9007199254740993",
        "1e308",
        "2.5e-320",
        "00012",
        "-00.0e0",
    ];
    for (i, s) in scores.iter().enumerate() {
        let m = format!("m{i}");
        lines.push(vec!["ZADD".into(), "z".into(), s.to_string(), m.clone()]);
        lines.push(vec!["ZSCORE".into(), "z".into(), m.clone()]);
        lines.push(vec![
            "ZINCRBY".into(),
            "inc".into(),
            s.to_string(),
            "x".into(),
        ]);
    }
    lines.push(vec![
        "ZRANGE".into(),
        "z".into(),
        "0".into(),
        "-1".into(),
        "WITHSCORES".into(),
    ]);
    lines.push(vec![
        "ZRANGE".into(),
        "inc".into(),
        "0".into(),
        "-1".into(),
        "WITHSCORES".into(),
    ]);
    lines.push(vec![
        "ZMSCORE".into(),
        "z".into(),
        "m0".into(),
        "nosuch".into(),
        "m17".into(),
    ]);
    // Sums that are not exact.
    for s in ["0.1", "0.2", "0.3", "1e16", "1", "-1e16"] {
        lines.push(vec!["ZINCRBY".into(), "sum".into(), s.into(), "x".into()]);
    }
    let mut d = Diff::new("score_parsing_and_printing");
    for (entries, value) in [("128", "64"), ("0", "0")] {
        for proto in [2, 3] {
            d.reconnect(proto);
            d.line(&["~skip", "FLUSHALL"]);
            d.line(&[
                "~skip",
                "CONFIG",
                "SET",
                "zset-max-listpack-entries",
                entries,
            ]);
            d.line(&["~skip", "CONFIG", "SET", "zset-max-listpack-value", value]);
            d.run_owned(&lines);
            if entries != "0" {
                // A skiplist is scanned in hash order: see the ZSCAN tests.
                d.line(&["ZSCAN", "z", "0"]);
            }
        }
    }
    d.finish();
}

#[test]
fn negative_zero_and_equal_scores() {
    check_both_encodings(
        "negative_zero_and_equal_scores",
        &[
            &["ZADD", "z", "-0", "b", "0", "a", "0", "c"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            &["ZADD", "z", "0", "b"],
            &["ZSCORE", "z", "b"],
            &["ZINCRBY", "z", "0", "b"],
            &["ZSCORE", "z", "b"],
            &["ZADD", "z", "GT", "CH", "0", "b"],
            &["ZADD", "z", "INCR", "-0", "a"],
            &["ZRANGEBYSCORE", "z", "-0", "0", "WITHSCORES"],
            &["ZRANGEBYSCORE", "z", "(0", "+inf"],
            &["ZCOUNT", "z", "-0", "(0"],
            &["ZRANK", "z", "c"],
            &["ZREVRANK", "z", "c"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------

#[test]
fn encoding_transitions() {
    let long = "x".repeat(65);
    let exact = "y".repeat(64);
    let mut big: Vec<String> = vec!["ZADD".into(), "big".into()];
    for i in 0..130 {
        big.push(i.to_string());
        big.push(format!("m{i}"));
    }
    let template: &[Line] = &[
        &["ZADD", "z", "1", "a"],
        &["OBJECT", "ENCODING", "z"],
        &["ZADD", "z", "2", "$EXACT"],
        &["OBJECT", "ENCODING", "z"],
        &["ZADD", "z", "3", "$LONG"],
        &["OBJECT", "ENCODING", "z"],
        &["ZREM", "z", "$LONG"],
        &["OBJECT", "ENCODING", "z"],
        &["ZADD", "first-long", "1", "$LONG"],
        &["OBJECT", "ENCODING", "first-long"],
        &["ZADD", "xx", "XX", "1", "$LONG"],
        &["OBJECT", "ENCODING", "xx"],
        &["$BIG"],
        &["OBJECT", "ENCODING", "big"],
        &["ZRANGESTORE", "d1", "big", "0", "127"],
        &["OBJECT", "ENCODING", "d1"],
        &["ZRANGESTORE", "d2", "big", "0", "128"],
        &["OBJECT", "ENCODING", "d2"],
        &["ZRANGESTORE", "d3", "big", "(100", "+inf", "BYSCORE"],
        &["OBJECT", "ENCODING", "d3"],
        &["ZRANGESTORE", "d4", "z", "0", "-1"],
        &["OBJECT", "ENCODING", "d4"],
        &["ZUNIONSTORE", "u1", "1", "d3"],
        &["OBJECT", "ENCODING", "u1"],
        &["ZUNIONSTORE", "u2", "2", "big", "z"],
        &["OBJECT", "ENCODING", "u2"],
        &["ZINTERSTORE", "i1", "2", "big", "d3"],
        &["OBJECT", "ENCODING", "i1"],
        &["ZDIFFSTORE", "df", "2", "big", "d3"],
        &["OBJECT", "ENCODING", "df"],
        &["ZREMRANGEBYRANK", "big", "0", "125"],
        &["OBJECT", "ENCODING", "big"],
        &["ZRANGE", "big", "0", "-1", "WITHSCORES"],
        &["ZUNIONSTORE", "u3", "1", "big"],
        &["OBJECT", "ENCODING", "u3"],
        &["CONFIG", "SET", "zset-max-listpack-entries", "2"],
        &["ZADD", "small", "1", "a", "2", "b"],
        &["OBJECT", "ENCODING", "small"],
        &["ZADD", "small", "3", "c"],
        &["OBJECT", "ENCODING", "small"],
        &["ZADD", "small2", "1", "a", "2", "b", "3", "c"],
        &["OBJECT", "ENCODING", "small2"],
        &["ZPOPMIN", "small2", "2"],
        &["OBJECT", "ENCODING", "small2"],
        &["CONFIG", "SET", "zset-max-listpack-entries", "0"],
        &["ZADD", "zero", "1", "a"],
        &["OBJECT", "ENCODING", "zero"],
        &["ZRANGESTORE", "zero2", "small", "0", "0"],
        &["OBJECT", "ENCODING", "zero2"],
        &["CONFIG", "SET", "zset-max-listpack-entries", "128"],
        &["CONFIG", "SET", "zset-max-listpack-value", "0"],
        &["ZADD", "v0", "1", "a"],
        &["OBJECT", "ENCODING", "v0"],
        &["ZADD", "v1", "1", ""],
        &["OBJECT", "ENCODING", "v1"],
    ];
    let lines: Vec<Vec<String>> = template
        .iter()
        .map(|l| {
            if l == &["$BIG"] {
                return big.clone();
            }
            l.iter()
                .map(|a| match *a {
                    "$LONG" => long.clone(),
                    "$EXACT" => exact.clone(),
                    a => a.to_string(),
                })
                .collect()
        })
        .collect();
    let mut d = Diff::new("encoding_transitions");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.line(&["~skip", "CONFIG", "SET", "zset-max-listpack-entries", "128"]);
        d.line(&["~skip", "CONFIG", "SET", "zset-max-listpack-value", "64"]);
        d.run_owned(&lines);
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

const RANGE_DATA: Line = &[
    "ZADD", "z", "-inf", "ninf", "1", "a", "2", "b", "2", "bb", "3", "c", "4.5", "d", "10", "e",
    "+inf", "pinf",
];

#[test]
fn zrange_by_rank() {
    let lines: Vec<Line> = vec![RANGE_DATA];
    let pairs: &[(&str, &str)] = &[
        ("0", "-1"),
        ("0", "0"),
        ("2", "4"),
        ("-3", "-1"),
        ("-100", "100"),
        ("5", "2"),
        ("8", "10"),
        ("-1", "-3"),
        ("x", "1"),
        ("1", "1.5"),
    ];
    let owned: Vec<[&str; 4]> = pairs.iter().map(|(a, b)| ["z", *a, *b, ""]).collect();
    let mut all: Vec<Vec<&str>> = Vec::new();
    for o in &owned {
        for cmd in ["ZRANGE", "ZREVRANGE"] {
            all.push(vec![cmd, o[0], o[1], o[2]]);
            all.push(vec![cmd, o[0], o[1], o[2], "WITHSCORES"]);
        }
        all.push(vec!["ZRANGE", o[0], o[1], o[2], "REV", "WITHSCORES"]);
        all.push(vec!["ZRANGESTORE", "dst", o[0], o[1], o[2]]);
        all.push(vec!["ZRANGE", "dst", "0", "-1", "WITHSCORES"]);
        all.push(vec!["ZREMRANGEBYRANK", "copy", o[1], o[2]]);
    }
    let extra: Vec<Line> = vec![
        &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"],
        &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "-1"],
        &["ZRANGE", "z", "0", "-1", "LIMIT", "0"],
        &["ZRANGE", "z", "0", "-1", "REV", "REV"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES", "WITHSCORES"],
        &["ZRANGE", "z", "0", "-1", "FOO"],
        &["ZREVRANGE", "z", "0", "-1", "REV"],
        &["ZREVRANGE", "z", "0", "-1", "BYSCORE"],
        &["ZREVRANGE", "z", "0", "-1", "LIMIT", "0", "1"],
        &["ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"],
        &["ZRANGE", "nosuch", "0", "-1"],
        &["ZRANGESTORE", "dst", "nosuch", "0", "-1"],
        &["EXISTS", "dst"],
        &["SET", "str", "x"],
        &["ZRANGE", "str", "0", "-1"],
        &["ZRANGE", "str", "x", "-1"],
        &["ZRANGESTORE", "dst", "str", "0", "-1"],
        &["ZRANGESTORE", "str", "z", "0", "1"],
        &["TYPE", "str"],
        &["SET", "dst", "x"],
        &["EXPIRE", "dst", "100"],
        &["ZRANGESTORE", "dst", "z", "0", "1"],
        &["TTL", "dst"],
        &["ZRANGESTORE", "z", "z", "1", "2"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    ];
    let mut d = Diff::new("zrange_by_rank");
    for (entries, value) in [("128", "64"), ("0", "0")] {
        for proto in [2, 3] {
            d.reconnect(proto);
            d.line(&["~skip", "FLUSHALL"]);
            d.line(&[
                "~skip",
                "CONFIG",
                "SET",
                "zset-max-listpack-entries",
                entries,
            ]);
            d.line(&["~skip", "CONFIG", "SET", "zset-max-listpack-value", value]);
            d.run(&lines);
            for l in &all {
                if l[0] == "ZREMRANGEBYRANK" {
                    d.line(&["~skip", "DEL", "copy"]);
                    d.line(&["~skip", "ZUNIONSTORE", "copy", "1", "z"]);
                }
                d.line(l);
                if l[0] == "ZREMRANGEBYRANK" {
                    d.line(&["ZRANGE", "copy", "0", "-1", "WITHSCORES"]);
                    d.line(&["EXISTS", "copy"]);
                }
            }
            d.run(&extra);
        }
    }
    d.finish();
}

#[test]
fn zrange_by_score() {
    let bounds: &[(&str, &str)] = &[
        ("-inf", "+inf"),
        ("2", "2"),
        ("(2", "2"),
        ("2", "(2"),
        ("(1", "(4.5"),
        ("1", "4.5"),
        ("3", "1"),
        ("-inf", "-inf"),
        ("(-inf", "(+inf"),
        ("+inf", "+inf"),
        ("", "3"),
        ("(", "(3"),
        (" 2", "3"),
        ("0x2", "0x3"),
        ("1e400", "inf"),
        ("-Infinity", "0"),
        ("x", "1"),
        ("1", "(x"),
        ("nan", "1"),
        ("(nan", "1"),
        ("1 ", "2"),
        ("((1", "2"),
    ];
    let limits: &[&[&str]] = &[
        &[],
        &["LIMIT", "0", "2"],
        &["LIMIT", "1", "2"],
        &["LIMIT", "2", "-1"],
        &["LIMIT", "-1", "2"],
        &["LIMIT", "0", "0"],
        &["LIMIT", "7", "5"],
        &["LIMIT", "8", "5"],
        &["LIMIT", "x", "1"],
    ];
    let mut lines: Vec<Vec<String>> = vec![RANGE_DATA.iter().map(|s| s.to_string()).collect()];
    for &(min, max) in bounds {
        for lim in limits {
            let v = |parts: &[&str]| -> Vec<String> {
                parts
                    .iter()
                    .chain(lim.iter())
                    .map(|s| s.to_string())
                    .collect()
            };
            lines.push(v(&["ZRANGEBYSCORE", "z", min, max]));
            lines.push(v(&["ZRANGEBYSCORE", "z", min, max, "WITHSCORES"]));
            lines.push(v(&["ZREVRANGEBYSCORE", "z", max, min, "WITHSCORES"]));
            lines.push(v(&["ZRANGE", "z", min, max, "BYSCORE"]));
            lines.push(v(&[
                "ZRANGE",
                "z",
                max,
                min,
                "BYSCORE",
                "REV",
                "WITHSCORES",
            ]));
            lines.push(v(&["ZRANGESTORE", "dst", "z", min, max, "BYSCORE"]));
            lines.push(v(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]));
        }
        lines.push(vec![
            "ZCOUNT".into(),
            "z".into(),
            min.to_string(),
            max.to_string(),
        ]);
        lines.push(vec![
            "ZUNIONSTORE".into(),
            "copy".into(),
            "1".into(),
            "z".into(),
        ]);
        lines.push(vec![
            "ZREMRANGEBYSCORE".into(),
            "copy".into(),
            min.to_string(),
            max.to_string(),
        ]);
        lines.push(vec![
            "ZRANGE".into(),
            "copy".into(),
            "0".into(),
            "-1".into(),
            "WITHSCORES".into(),
        ]);
    }
    for l in [
        vec!["ZCOUNT", "nosuch", "0", "1"],
        vec!["ZCOUNT", "nosuch", "x", "1"],
        vec!["ZRANGEBYSCORE", "nosuch", "0", "1"],
        vec!["ZRANGEBYSCORE", "nosuch", "x", "1"],
        vec!["ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "0"],
        vec!["ZRANGEBYSCORE", "z", "0", "1", "BYSCORE"],
        vec!["ZRANGEBYSCORE", "z", "0", "1", "REV"],
        vec!["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"],
        vec!["ZRANGE", "z", "0", "1", "BYSCORE", "BYSCORE"],
        vec!["ZREMRANGEBYSCORE", "nosuch", "0", "1"],
        vec!["ZREMRANGEBYSCORE", "z", "x", "1"],
        vec!["SET", "str", "x"],
        vec!["ZCOUNT", "str", "0", "1"],
        vec!["ZCOUNT", "str", "x", "1"],
        vec!["ZRANGEBYSCORE", "str", "0", "1"],
        vec!["ZREMRANGEBYSCORE", "str", "0", "1"],
    ] {
        lines.push(l.iter().map(|s| s.to_string()).collect());
    }
    let mut d = Diff::new("zrange_by_score");
    for (entries, value) in [("128", "64"), ("0", "0")] {
        for proto in [2, 3] {
            d.reconnect(proto);
            d.line(&["~skip", "FLUSHALL"]);
            d.line(&[
                "~skip",
                "CONFIG",
                "SET",
                "zset-max-listpack-entries",
                entries,
            ]);
            d.line(&["~skip", "CONFIG", "SET", "zset-max-listpack-value", value]);
            d.run_owned(&lines);
        }
    }
    d.finish();
}

#[test]
fn zrange_by_lex() {
    let data: Line = &[
        "ZADD", "z", "0", "", "0", "a", "0", "aa", "0", "ab", "0", "b", "0", "c", "0", "d\u{ff}",
        "0", "e",
    ];
    let bounds: &[(&str, &str)] = &[
        ("-", "+"),
        ("+", "-"),
        ("-", "-"),
        ("+", "+"),
        ("[a", "[b"),
        ("(a", "(b"),
        ("[a", "(a"),
        ("[a", "[a"),
        ("(a", "[a"),
        ("[", "[a"),
        ("(", "+"),
        ("[b", "[a"),
        ("[aa", "+"),
        ("-", "(c"),
        ("[d", "[e"),
        ("a", "[b"),
        ("[a", "b"),
        ("+a", "+"),
        ("-", "-a"),
        ("", "+"),
    ];
    let limits: &[&[&str]] = &[
        &[],
        &["LIMIT", "0", "2"],
        &["LIMIT", "1", "-1"],
        &["LIMIT", "-1", "1"],
        &["LIMIT", "3", "0"],
        &["LIMIT", "20", "1"],
    ];
    let mut lines: Vec<Vec<String>> = vec![data.iter().map(|s| s.to_string()).collect()];
    for &(min, max) in bounds {
        for lim in limits {
            let v = |parts: &[&str]| -> Vec<String> {
                parts
                    .iter()
                    .chain(lim.iter())
                    .map(|s| s.to_string())
                    .collect()
            };
            lines.push(v(&["ZRANGEBYLEX", "z", min, max]));
            lines.push(v(&["ZREVRANGEBYLEX", "z", max, min]));
            lines.push(v(&["ZRANGE", "z", min, max, "BYLEX"]));
            lines.push(v(&["ZRANGE", "z", max, min, "BYLEX", "REV"]));
            lines.push(v(&["ZRANGESTORE", "dst", "z", min, max, "BYLEX"]));
            lines.push(v(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]));
        }
        lines.push(vec![
            "ZLEXCOUNT".into(),
            "z".into(),
            min.to_string(),
            max.to_string(),
        ]);
        lines.push(vec![
            "ZUNIONSTORE".into(),
            "copy".into(),
            "1".into(),
            "z".into(),
        ]);
        lines.push(vec![
            "ZREMRANGEBYLEX".into(),
            "copy".into(),
            min.to_string(),
            max.to_string(),
        ]);
        lines.push(vec![
            "ZRANGE".into(),
            "copy".into(),
            "0".into(),
            "-1".into(),
        ]);
    }
    for l in [
        vec!["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
        vec!["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"],
        vec!["ZLEXCOUNT", "nosuch", "-", "+"],
        vec!["ZLEXCOUNT", "nosuch", "x", "+"],
        vec!["ZREMRANGEBYLEX", "nosuch", "-", "+"],
        vec!["SET", "str", "x"],
        vec!["ZLEXCOUNT", "str", "-", "+"],
        vec!["ZRANGEBYLEX", "str", "-", "+"],
        vec!["ZRANGEBYLEX", "str", "x", "+"],
    ] {
        lines.push(l.iter().map(|s| s.to_string()).collect());
    }
    // Members with different scores: what each encoding's walk gives.
    let mixed: Vec<Vec<String>> = [
        vec!["ZADD", "m", "1", "d", "2", "a", "3", "c", "4", "b"],
        vec!["ZRANGEBYLEX", "m", "[b", "[c"],
        vec!["ZRANGEBYLEX", "m", "-", "[c"],
        vec!["ZREVRANGEBYLEX", "m", "[c", "[b"],
        vec!["ZLEXCOUNT", "m", "[a", "[c"],
    ]
    .iter()
    .map(|l| l.iter().map(|s| s.to_string()).collect())
    .collect();
    let mut d = Diff::new("zrange_by_lex");
    for (entries, value) in [("128", "64"), ("0", "0")] {
        for proto in [2, 3] {
            d.reconnect(proto);
            d.line(&["~skip", "FLUSHALL"]);
            d.line(&[
                "~skip",
                "CONFIG",
                "SET",
                "zset-max-listpack-entries",
                entries,
            ]);
            d.line(&["~skip", "CONFIG", "SET", "zset-max-listpack-value", value]);
            d.run_owned(&lines);
            if entries == "128" {
                d.run_owned(&mixed);
            }
        }
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// Members, ranks, removal
// ---------------------------------------------------------------------------

#[test]
fn member_reads_and_removal() {
    check_both_encodings(
        "member_reads_and_removal",
        &[
            RANGE_DATA,
            &["ZSCORE", "z", "d"],
            &["ZSCORE", "z", "nosuch"],
            &["ZSCORE", "nosuch", "a"],
            &["ZMSCORE", "z", "a", "nosuch", "pinf", "ninf"],
            &["ZMSCORE", "nosuch", "a", "b"],
            &["ZRANK", "z", "c"],
            &["ZRANK", "z", "nosuch"],
            &["ZRANK", "nosuch", "c"],
            &["ZREVRANK", "z", "c"],
            &["ZREVRANK", "z", "pinf"],
            &["ZREM", "z", "a", "nosuch", "a", "b"],
            &["ZREM", "nosuch", "a"],
            &["ZCARD", "z"],
            &["ZREM", "z", "ninf", "bb", "c", "d", "e", "pinf", "again"],
            &["EXISTS", "z"],
            &["ZADD", "z", "1", "a"],
            &["ZREMRANGEBYRANK", "z", "x", "1"],
            &["ZREMRANGEBYRANK", "z", "0", "x"],
            &["ZREMRANGEBYRANK", "nosuch", "0", "1"],
            &["ZREMRANGEBYRANK", "z", "1", "0"],
            &["ZREMRANGEBYRANK", "z", "0", "0"],
            &["EXISTS", "z"],
            &["SET", "str", "x"],
            &["ZSCORE", "str", "a"],
            &["ZMSCORE", "str", "a"],
            &["ZRANK", "str", "a"],
            &["ZREVRANK", "str", "a"],
            &["ZREM", "str", "a"],
            &["ZREMRANGEBYRANK", "str", "0", "1"],
            &["ZREMRANGEBYLEX", "str", "-", "+"],
        ],
    );
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, ZINTERCARD
// ---------------------------------------------------------------------------

#[test]
fn set_operations() {
    let data: &[Line] = &[
        &["ZADD", "{t}a", "1", "a", "2", "b", "3", "c", "4", "x"],
        &["ZADD", "{t}b", "1", "b", "2", "c", "3", "d", "-inf", "x"],
        &["ZADD", "{t}c", "10", "c", "20", "d", "+inf", "x"],
        &["ZADD", "{t}i", "+inf", "p", "-inf", "q", "0", "z"],
        &["ZADD", "{t}j", "-inf", "p", "+inf", "q", "5", "z"],
    ];
    let mut lines: Vec<Vec<String>> = data
        .iter()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .collect();
    let key_sets: &[&[&str]] = &[
        &["{t}a"],
        &["{t}a", "{t}b"],
        &["{t}b", "{t}a"],
        &["{t}a", "{t}b", "{t}c"],
        &["{t}a", "{t}nosuch"],
        &["{t}nosuch", "{t}a"],
        &["{t}a", "{t}a"],
        &["{t}i", "{t}j"],
        &["{t}nosuch"],
    ];
    let options: &[&[&str]] = &[
        &[],
        &["WITHSCORES"],
        &["AGGREGATE", "MIN", "WITHSCORES"],
        &["AGGREGATE", "max", "WITHSCORES"],
        &["AGGREGATE", "SUM", "WITHSCORES"],
        &["WEIGHTS", "W", "WITHSCORES"],
        &["WEIGHTS", "W", "AGGREGATE", "MIN", "WITHSCORES"],
        &["WEIGHTS", "Z", "AGGREGATE", "MAX", "WITHSCORES"],
        &["WEIGHTS", "Z", "WITHSCORES"],
        &["WEIGHTS", "I", "WITHSCORES"],
        &["WEIGHTS", "x"],
        &["WEIGHTS"],
        &["AGGREGATE", "AVG"],
        &["AGGREGATE"],
        &["FOO"],
        &["LIMIT", "1"],
    ];
    for keys in key_sets {
        let n = keys.len().to_string();
        for opts in options {
            let mut tail: Vec<String> = Vec::new();
            for o in opts.iter() {
                match *o {
                    "W" => {
                        tail.extend((0..keys.len()).map(|i| ["2", "0.5", "-1"][i % 3].to_string()))
                    }
                    "Z" => tail.extend((0..keys.len()).map(|_| "0".to_string())),
                    "I" => tail.extend((0..keys.len()).map(|_| "inf".to_string())),
                    o => tail.push(o.to_string()),
                }
            }
            for cmd in ["ZUNION", "ZINTER", "ZDIFF"] {
                let mut l = vec![cmd.to_string(), n.clone()];
                l.extend(keys.iter().map(|s| s.to_string()));
                l.extend(tail.iter().cloned());
                lines.push(l);
                let store = format!("{cmd}STORE");
                let mut l = vec![store, "{t}dst".to_string(), n.clone()];
                l.extend(keys.iter().map(|s| s.to_string()));
                l.extend(tail.iter().filter(|t| *t != "WITHSCORES").cloned());
                lines.push(l);
                lines.push(
                    ["ZRANGE", "{t}dst", "0", "-1", "WITHSCORES"]
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                );
            }
        }
        let lims: &[&[&str]] = &[
            &[],
            &["LIMIT", "0"],
            &["LIMIT", "1"],
            &["LIMIT", "-1"],
            &["LIMIT", "x"],
            &["LIMIT"],
            &["WITHSCORES"],
        ];
        for lim in lims {
            let mut l = vec!["ZINTERCARD".to_string(), n.clone()];
            l.extend(keys.iter().map(|s| s.to_string()));
            l.extend(lim.iter().map(|s| s.to_string()));
            lines.push(l);
        }
    }
    for l in [
        vec!["ZUNION", "0", "{t}a"],
        vec!["ZUNION", "-1", "{t}a"],
        vec!["ZUNION", "x", "{t}a"],
        vec!["ZUNION", "3", "{t}a", "{t}b"],
        vec!["ZUNIONSTORE", "{t}dst", "0", "{t}a"],
        vec!["ZINTERSTORE", "{t}dst", "2", "{t}a"],
        vec!["ZDIFFSTORE", "{t}dst", "1", "{t}a", "WEIGHTS", "1"],
        vec!["ZDIFF", "1", "{t}a", "AGGREGATE", "SUM"],
        vec!["ZINTERCARD", "0", "{t}a"],
        vec!["ZINTERCARD", "2", "{t}a"],
        vec!["SET", "{t}str", "x"],
        vec!["ZUNION", "2", "{t}a", "{t}str"],
        vec!["ZUNION", "2", "{t}a", "{t}str", "WEIGHTS", "x"],
        vec!["ZINTERSTORE", "{t}dst", "2", "{t}str", "{t}a"],
        vec!["ZINTERCARD", "2", "{t}str", "{t}nosuch"],
        vec!["ZDIFF", "2", "{t}nosuch", "{t}str"],
        vec!["ZUNIONSTORE", "{t}str", "1", "{t}a"],
        vec!["TYPE", "{t}str"],
        vec!["SET", "{t}dst", "x"],
        vec!["EXPIRE", "{t}dst", "100"],
        vec!["ZINTERSTORE", "{t}dst", "2", "{t}a", "{t}nosuch"],
        vec!["EXISTS", "{t}dst"],
        vec!["ZUNIONSTORE", "{t}dst", "1", "{t}a"],
        vec!["TTL", "{t}dst"],
        vec!["ZUNIONSTORE", "{t}a", "2", "{t}a", "{t}b"],
        vec!["ZRANGE", "{t}a", "0", "-1", "WITHSCORES"],
    ] {
        lines.push(l.iter().map(|s| s.to_string()).collect());
    }
    let mut d = Diff::new("set_operations");
    for (entries, value) in [("128", "64"), ("0", "0")] {
        for proto in [2, 3] {
            d.reconnect(proto);
            d.line(&["~skip", "FLUSHALL"]);
            d.line(&[
                "~skip",
                "CONFIG",
                "SET",
                "zset-max-listpack-entries",
                entries,
            ]);
            d.line(&["~skip", "CONFIG", "SET", "zset-max-listpack-value", value]);
            d.run_owned(&lines);
        }
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// Pops and random members
// ---------------------------------------------------------------------------

#[test]
fn pops() {
    check_both_encodings(
        "pops",
        &[
            &[
                "ZADD", "{t}z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
            ],
            &["ZPOPMIN", "{t}z"],
            &["ZPOPMAX", "{t}z"],
            &["ZPOPMIN", "{t}z", "2"],
            &["ZPOPMIN", "{t}z", "0"],
            &["ZPOPMIN", "{t}z", "-1"],
            &["ZPOPMIN", "{t}z", "x"],
            &["ZPOPMIN", "{t}z", "1", "2"],
            &["ZPOPMAX", "{t}z", "10"],
            &["EXISTS", "{t}z"],
            &["ZPOPMIN", "{t}z"],
            &["ZPOPMIN", "{t}z", "3"],
            &["ZPOPMIN", "{t}z", "0"],
            &["ZADD", "{t}y", "1", "a", "2", "b", "3", "c"],
            &["ZMPOP", "2", "{t}z", "{t}y", "MIN"],
            &["ZMPOP", "2", "{t}z", "{t}y", "max", "COUNT", "10"],
            &["ZMPOP", "2", "{t}z", "{t}y", "MIN"],
            &["ZMPOP", "0", "{t}z", "MIN"],
            &["ZMPOP", "x", "{t}z", "MIN"],
            &["ZMPOP", "1", "{t}z"],
            &["ZMPOP", "2", "{t}z", "MIN"],
            &["ZMPOP", "1", "{t}z", "FOO"],
            &["ZMPOP", "1", "{t}z", "MIN", "COUNT"],
            &["ZMPOP", "1", "{t}z", "MIN", "COUNT", "0"],
            &["ZMPOP", "1", "{t}z", "MIN", "COUNT", "x"],
            &["ZMPOP", "1", "{t}z", "MIN", "COUNT", "1", "COUNT", "1"],
            &["ZMPOP", "1", "{t}z", "MIN", "FOO", "1"],
            &["SET", "{t}s", "x"],
            &["ZPOPMIN", "{t}s"],
            &["ZPOPMIN", "{t}s", "0"],
            &["ZADD", "{t}y", "1", "a"],
            &["ZMPOP", "2", "{t}y", "{t}s", "MIN"],
            &["ZMPOP", "2", "{t}s", "{t}y", "MIN"],
            &["ZMPOP", "2", "{t}nosuch", "{t}s", "MIN"],
        ],
    );
}

#[test]
fn zrandmember_deterministic_cases() {
    check_both_encodings(
        "zrandmember_deterministic_cases",
        &[
            &["ZADD", "z", "1", "a", "2.5", "b", "inf", "c"],
            &["ZRANDMEMBER", "nosuch"],
            &["ZRANDMEMBER", "nosuch", "3"],
            &["ZRANDMEMBER", "nosuch", "3", "WITHSCORES"],
            &["ZRANDMEMBER", "z", "0"],
            &["ZRANDMEMBER", "z", "3"],
            &["ZRANDMEMBER", "z", "3", "WITHSCORES"],
            &["ZRANDMEMBER", "z", "100", "WITHSCORES"],
            &["ZRANDMEMBER", "z", "x"],
            &["ZRANDMEMBER", "z", "1", "FOO"],
            &["ZRANDMEMBER", "z", "1", "WITHSCORES", "x"],
            &["ZRANDMEMBER", "z", "-9223372036854775808"],
            &["ZRANDMEMBER", "z", "-9223372036854770000", "WITHSCORES"],
            &["ZRANDMEMBER", "z", "9223372036854770000", "WITHSCORES"],
            &["~len", "ZRANDMEMBER", "z", "-5", "WITHSCORES"],
            &["~len", "ZRANDMEMBER", "z", "2"],
            &["~len", "ZRANDMEMBER", "z", "-7"],
            &["ZADD", "one", "7", "only"],
            &["ZRANDMEMBER", "one"],
            &["ZRANDMEMBER", "one", "-4", "WITHSCORES"],
            &["ZRANDMEMBER", "one", "1", "WITHSCORES"],
            &["SET", "s", "x"],
            &["ZRANDMEMBER", "s"],
            &["ZRANDMEMBER", "s", "1"],
            &["ZRANDMEMBER", "s", "x"],
        ],
    );
}

// ---------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------

#[test]
fn zscan_listpack_and_errors() {
    check_both(
        "zscan_listpack_and_errors",
        &[
            &[
                "ZADD", "z", "1", "a", "2.5", "b", "-inf", "c", "0.1", "abc", "-0", "n",
            ],
            &["ZSCAN", "z", "0"],
            &["ZSCAN", "z", "0", "COUNT", "1"],
            &["ZSCAN", "z", "0", "MATCH", "a*"],
            &["ZSCAN", "z", "0", "MATCH", "*"],
            &["ZSCAN", "z", "0", "MATCH", "nothing"],
            &["ZSCAN", "z", "0", "match", "?", "count", "100"],
            &["ZSCAN", "z", "123"],
            &["ZSCAN", "z", "-1"],
            &["ZSCAN", "z", ""],
            &["ZSCAN", "z", " 0"],
            &["ZSCAN", "z", "x"],
            &["ZSCAN", "z", "18446744073709551616"],
            &["ZSCAN", "z", "0", "COUNT", "0"],
            &["ZSCAN", "z", "0", "COUNT", "x"],
            &["ZSCAN", "z", "0", "COUNT"],
            &["ZSCAN", "z", "0", "TYPE", "zset"],
            &["ZSCAN", "z", "0", "FOO", "bar"],
            &["ZSCAN", "nosuch", "0"],
            &["ZSCAN", "nosuch", "0", "COUNT", "0"],
            &["ZSCAN", "nosuch", "x"],
            &["SET", "s", "x"],
            &["ZSCAN", "s", "0"],
            &["ZSCAN", "s", "x"],
        ],
    );
}

/// The members and score texts of a full ZSCAN iteration (each member once
/// per step it appeared in).
fn full_zscan(raw: &mut Raw, key: &str, extra: &[&str]) -> Vec<(String, String)> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let mut args: Vec<&[u8]> = vec![b"ZSCAN", key.as_bytes(), cursor.as_bytes()];
        args.extend(extra.iter().map(|s| s.as_bytes()));
        raw.cmd(&args);
        let reply = Node::parse(&raw.read_reply());
        assert_eq!(reply.kids.len(), 2, "{reply:?}");
        cursor = reply.kids[0].text();
        for pair in reply.kids[1].kids.chunks(2) {
            out.push((pair[0].text(), pair[1].text()));
        }
        if cursor == "0" {
            return out;
        }
    }
    panic!("ZSCAN did not finish");
}

#[test]
fn zscan_skiplist_returns_every_member_with_its_score() {
    let redis = common::start_redis();
    let ferro = common::start_ferrocache(&[]);
    let (mut r, mut f) = (redis.raw(), ferro.raw());
    let mut args: Vec<String> = vec!["ZADD".into(), "z".into()];
    for i in 0..1000 {
        args.push(format!("{}", (i as f64) / 7.0));
        args.push(format!("member:{i}"));
    }
    let refs: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    for raw in [&mut r, &mut f] {
        raw.cmd(&refs);
        assert_eq!(raw.read_reply(), b":1000\r\n");
        raw.cmd(&[b"OBJECT", b"ENCODING", b"z"]);
        assert_eq!(raw.read_reply(), b"$8\r\nskiplist\r\n");
    }
    for extra in [
        &[][..],
        &["COUNT", "1"],
        &["COUNT", "100"],
        &["MATCH", "member:1*"],
    ] {
        let mut want = full_zscan(&mut r, "z", extra);
        let mut got = full_zscan(&mut f, "z", extra);
        want.sort();
        want.dedup();
        got.sort();
        let before = got.len();
        got.dedup();
        assert_eq!(before, got.len(), "a member came twice: {extra:?}");
        assert_eq!(want, got, "{extra:?}");
    }
    // Members present throughout are returned while others come and go.
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut step = 0;
    loop {
        f.cmd(&[b"ZSCAN", b"z", cursor.as_bytes(), b"COUNT", b"5"]);
        let reply = Node::parse(&f.read_reply());
        cursor = reply.kids[0].text();
        for pair in reply.kids[1].kids.chunks(2) {
            seen.insert(pair[0].text());
        }
        let tmp = format!("tmp:{step}");
        f.cmd(&[b"ZADD", b"z", b"-5", tmp.as_bytes()]);
        f.read_reply();
        let moved = format!("member:{}", (step * 37) % 1000);
        f.cmd(&[b"ZINCRBY", b"z", b"-1000", moved.as_bytes()]);
        f.read_reply();
        step += 1;
        if cursor == "0" {
            break;
        }
        assert!(step < 5000);
    }
    for i in 0..1000 {
        assert!(seen.contains(&format!("member:{i}")), "member:{i} missed");
    }
}

// ---------------------------------------------------------------------------
// Wrong types everywhere, arity, and ZRANK WITHSCORE (Redis 7.2)
// ---------------------------------------------------------------------------

#[test]
fn wrongtype_for_every_command() {
    check_both(
        "wrongtype_for_every_command",
        &[
            &["SET", "{t}l", "x"],
            &["ZADD", "{t}l", "1", "a"],
            &["ZINCRBY", "{t}l", "1", "a"],
            &["ZCARD", "{t}l"],
            &["ZCOUNT", "{t}l", "0", "1"],
            &["ZLEXCOUNT", "{t}l", "-", "+"],
            &["ZSCORE", "{t}l", "a"],
            &["ZMSCORE", "{t}l", "a"],
            &["ZRANK", "{t}l", "a"],
            &["ZREVRANK", "{t}l", "a"],
            &["ZRANGE", "{t}l", "0", "1"],
            &["ZRANGESTORE", "{t}d", "{t}l", "0", "1"],
            &["ZRANGEBYSCORE", "{t}l", "0", "1"],
            &["ZREVRANGEBYSCORE", "{t}l", "0", "1"],
            &["ZRANGEBYLEX", "{t}l", "-", "+"],
            &["ZREVRANGEBYLEX", "{t}l", "+", "-"],
            &["ZREVRANGE", "{t}l", "0", "1"],
            &["ZREM", "{t}l", "a"],
            &["ZREMRANGEBYRANK", "{t}l", "0", "1"],
            &["ZREMRANGEBYSCORE", "{t}l", "0", "1"],
            &["ZREMRANGEBYLEX", "{t}l", "-", "+"],
            &["ZUNION", "1", "{t}l"],
            &["ZINTER", "1", "{t}l"],
            &["ZDIFF", "1", "{t}l"],
            &["ZUNIONSTORE", "{t}d", "1", "{t}l"],
            &["ZINTERSTORE", "{t}d", "1", "{t}l"],
            &["ZDIFFSTORE", "{t}d", "1", "{t}l"],
            &["ZINTERCARD", "1", "{t}l"],
            &["ZPOPMIN", "{t}l"],
            &["ZPOPMAX", "{t}l", "2"],
            &["ZMPOP", "1", "{t}l", "MIN"],
            &["ZRANDMEMBER", "{t}l"],
            &["ZRANDMEMBER", "{t}l", "2"],
            &["ZSCAN", "{t}l", "0"],
            &["EXISTS", "{t}d"],
        ],
    );
}

fn call(raw: &mut Raw, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    raw.cmd(&args);
    String::from_utf8_lossy(&raw.read_reply()).into_owned()
}

#[test]
fn zrank_withscore_redis_7_2() {
    let ferro = common::start_ferrocache(&[]);
    let mut c = ferro.raw();
    assert_eq!(
        call(&mut c, &["ZADD", "z", "1.5", "a", "2", "b", "inf", "c"]),
        ":3\r\n"
    );
    assert_eq!(
        call(&mut c, &["ZRANK", "z", "a", "WITHSCORE"]),
        "*2\r\n:0\r\n$3\r\n1.5\r\n"
    );
    assert_eq!(
        call(&mut c, &["ZREVRANK", "z", "a", "withscore"]),
        "*2\r\n:2\r\n$3\r\n1.5\r\n"
    );
    assert_eq!(
        call(&mut c, &["ZRANK", "z", "c", "WITHSCORE"]),
        "*2\r\n:2\r\n$3\r\ninf\r\n"
    );
    assert_eq!(call(&mut c, &["ZRANK", "z", "x", "WITHSCORE"]), "*-1\r\n");
    assert_eq!(
        call(&mut c, &["ZRANK", "nosuch", "x", "WITHSCORE"]),
        "*-1\r\n"
    );
    assert_eq!(call(&mut c, &["ZRANK", "nosuch", "x"]), "$-1\r\n");
    assert_eq!(
        call(&mut c, &["ZRANK", "z", "a", "WITHSCORES"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        call(&mut c, &["ZRANK", "z", "a", "WITHSCORE", "x"]),
        "-ERR wrong number of arguments for 'zrank' command\r\n"
    );
    assert_eq!(
        call(&mut c, &["ZREVRANK", "z"]),
        "-ERR wrong number of arguments for 'zrevrank' command\r\n"
    );
    assert_eq!(call(&mut c, &["SET", "s", "x"]), "+OK\r\n");
    assert_eq!(
        call(&mut c, &["ZRANK", "s", "a", "WITHSCORE"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    call(&mut c, &["HELLO", "3"]);
    assert_eq!(
        call(&mut c, &["ZRANK", "z", "b", "WITHSCORE"]),
        "*2\r\n:1\r\n,2\r\n"
    );
    assert_eq!(call(&mut c, &["ZRANK", "z", "x", "WITHSCORE"]), "_\r\n");
    assert_eq!(call(&mut c, &["ZRANK", "z", "x"]), "_\r\n");
    // The command table carries the 7.2 shape.
    let info = call(&mut c, &["COMMAND", "INFO", "zrank"]);
    assert!(
        info.starts_with("*1\r\n*10\r\n$5\r\nzrank\r\n:-3\r\n"),
        "{info}"
    );
    let docs = call(&mut c, &["COMMAND", "DOCS", "zrevrank"]);
    assert!(
        docs.contains("Added the optional `WITHSCORE` argument."),
        "{docs}"
    );
    assert!(docs.contains("withscore"), "{docs}");
}

#[test]
fn empty_sets_are_deleted_and_writes_keep_ttl() {
    check_both_encodings(
        "empty_sets_are_deleted_and_writes_keep_ttl",
        &[
            &["ZADD", "z", "1", "a", "2", "b"],
            &["EXPIRE", "z", "100"],
            &["ZADD", "z", "3", "c"],
            &["ZINCRBY", "z", "1", "a"],
            &["ZREM", "z", "b"],
            &["TTL", "z"],
            &["ZPOPMIN", "z", "5"],
            &["EXISTS", "z"],
            &["TTL", "z"],
            &["ZADD", "z", "1", "a"],
            &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"],
            &["EXISTS", "z"],
            &["ZADD", "z", "1", "a"],
            &["ZREMRANGEBYLEX", "z", "-", "+"],
            &["EXISTS", "z"],
            &["ZADD", "z", "1", "a"],
            &["ZMPOP", "1", "z", "MAX"],
            &["EXISTS", "z"],
            &["DBSIZE"],
        ],
    );
}

#[test]
fn sets_as_inputs() {
    let mut big = vec!["SADD", "{t}hs"];
    let members: Vec<String> = (0..200).map(|i| format!("h{i}")).collect();
    big.extend(members.iter().map(String::as_str));
    let mut lines: Vec<Vec<String>> = [
        &["SADD", "{t}is", "1", "2", "3", "10", "-5"][..],
        &["SADD", "{t}ls", "a", "b", "1", "01", "h5"],
        &big,
        &[
            "ZADD", "{t}z", "5", "1", "6", "01", "7", "a", "8", "h7", "9", "x", "-1", "-5",
        ],
    ]
    .iter()
    .map(|l| l.iter().map(|s| s.to_string()).collect())
    .collect();
    let key_sets: &[&[&str]] = &[
        &["{t}is"],
        &["{t}is", "{t}z"],
        &["{t}z", "{t}is"],
        &["{t}ls", "{t}z"],
        &["{t}z", "{t}ls", "{t}is"],
        &["{t}hs", "{t}z"],
        &["{t}z", "{t}hs"],
        &["{t}is", "{t}ls"],
    ];
    for keys in key_sets {
        let n = keys.len().to_string();
        for cmd in ["ZUNION", "ZINTER", "ZDIFF"] {
            let mut l = vec![cmd.to_string(), n.clone()];
            l.extend(keys.iter().map(|s| s.to_string()));
            l.push("WITHSCORES".into());
            lines.push(l);
            let mut l = vec![format!("{cmd}STORE"), "{t}d".into(), n.clone()];
            l.extend(keys.iter().map(|s| s.to_string()));
            lines.push(l);
            lines.push(
                ["ZRANGE", "{t}d", "0", "-1", "WITHSCORES"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            );
            lines.push(
                ["OBJECT", "ENCODING", "{t}d"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            );
        }
        let mut l = vec!["ZUNION".to_string(), n.clone()];
        l.extend(keys.iter().map(|s| s.to_string()));
        l.push("WEIGHTS".into());
        l.extend(keys.iter().map(|_| "2.5".to_string()));
        l.extend(
            ["AGGREGATE", "MAX", "WITHSCORES"]
                .iter()
                .map(|s| s.to_string()),
        );
        lines.push(l);
        let mut l = vec!["ZINTERCARD".to_string(), n.clone()];
        l.extend(keys.iter().map(|s| s.to_string()));
        lines.push(l);
    }
    let mut d = Diff::new("sets_as_inputs");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.run_owned(&lines);
    }
    d.finish();
}
