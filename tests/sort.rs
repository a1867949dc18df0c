//! SORT and SORT_RO end to end: differential tests against a real
//! redis-server (7.0) over RESP2 and RESP3.
//!
//! Sources are lists (whose order is deterministic in both servers), intsets
//! and sorted sets, so almost every reply is compared byte for byte,
//! including the order of elements that compare equal (Redis sorts with a
//! stable merge sort, or its own partial quicksort when BY and LIMIT are
//! combined, and Ferrocache ports both). Sets of strings are compared
//! sorted (`~sort`) where their iteration order shows through (BY nosort).
//! OBJECT ENCODING of a stored list is not compared: Redis 7.0 has no
//! listpack lists.
//!
//! A missing redis-server fails the differential tests (CI installs it).
#![allow(dead_code)]

mod common;

use common::diff::*;

// ---------------------------------------------------------------------------
// Differential tables
// ---------------------------------------------------------------------------

fn owned(lines: &[Vec<String>]) -> Vec<Vec<&str>> {
    lines
        .iter()
        .map(|l| l.iter().map(String::as_str).collect())
        .collect()
}

fn check_owned(name: &'static str, lines: &[Vec<String>]) {
    let lines = owned(lines);
    let lines: Vec<Line> = lines.iter().map(Vec::as_slice).collect();
    check(name, &lines);
}

fn line(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A list `l` of the numbers 0..n in a scrambled order, weights `w_i`
/// (strings) and `h_i->w` (hash fields) with some ties, and a few values
/// `v_i` to GET.
fn dataset(n: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, next() % (i + 1));
    }
    for i in order {
        out.push(line(&["RPUSH", "l", &i.to_string()]));
        // Weights with ties (every value appears about three times) and
        // a few missing ones.
        let w = (next() % (n / 3 + 1)).to_string();
        if i % 11 != 5 {
            out.push(line(&["SET", &format!("w_{i}"), &w]));
            out.push(line(&[
                "HSET",
                &format!("h_{i}"),
                "w",
                &w,
                "v",
                &format!("hv{i}"),
            ]));
        }
        if i % 4 != 0 {
            out.push(line(&["SET", &format!("v_{i}"), &format!("val{i}")]));
        }
        let aw = format!("{}{}", ["b", "a", "c", ""][next() % 4], next() % 3);
        out.push(line(&["SET", &format!("a_{i}"), &aw]));
    }
    out
}

#[test]
fn differential_lists() {
    let mut lines = dataset(60);
    for opts in [
        &[][..],
        &["DESC"],
        &["ALPHA"],
        &["ALPHA", "DESC"],
        &["LIMIT", "0", "10"],
        &["LIMIT", "5", "10", "DESC"],
        &["LIMIT", "55", "10"],
        &["LIMIT", "60", "10"],
        &["LIMIT", "100", "10"],
        &["LIMIT", "-5", "3"],
        &["LIMIT", "3", "-1"],
        &["LIMIT", "3", "-5"],
        &["LIMIT", "3", "0"],
        &["LIMIT", "0", "0"],
        &["LIMIT", "-1", "-1"],
        &["LIMIT", "1", "2", "LIMIT", "4", "5"],
        &["BY", "w_*"],
        &["BY", "w_*", "DESC"],
        &["BY", "w_*", "LIMIT", "10", "15"],
        &["BY", "w_*", "LIMIT", "0", "7", "DESC"],
        &["BY", "w_*", "LIMIT", "50", "100"],
        &["BY", "h_*->w"],
        &["BY", "h_*->w", "LIMIT", "20", "5"],
        &["BY", "h_*->nofield"],
        &["BY", "h_*->nofield", "LIMIT", "20", "5"],
        &["BY", "a_*", "ALPHA"],
        &["BY", "a_*", "ALPHA", "DESC"],
        &["BY", "a_*", "ALPHA", "LIMIT", "10", "20"],
        &["BY", "a_*", "ALPHA", "LIMIT", "0", "59", "DESC"],
        &["BY", "nokey_*", "ALPHA"],
        &["BY", "nokey_*", "ALPHA", "LIMIT", "3", "10"],
        &["BY", "nokey_*"],
        &["BY", "nosort"],
        &["BY", "nosort", "DESC"],
        &["BY", "nosort", "LIMIT", "10", "5"],
        &["BY", "nosort", "LIMIT", "10", "5", "DESC"],
        &["BY", "nosort", "LIMIT", "-3", "100", "DESC"],
        &["BY", "nosort", "ALPHA"],
        &["BY", "nosort", "BY", "w_*"],
        &["BY", "w_*", "BY", "nosort"],
        &["GET", "#"],
        &["GET", "v_*"],
        &["GET", "#", "GET", "v_*", "GET", "h_*->v", "GET", "h_*->w"],
        &["GET", "constant"],
        &["GET", "h_*->"],
        &["GET", "h_*->", "GET", "w_*->w"],
        &["BY", "w_*", "GET", "#", "GET", "w_*", "LIMIT", "5", "10"],
        &["BY", "nosort", "GET", "v_*", "LIMIT", "5", "3"],
        &["ASC", "DESC", "ASC"],
        &["alpha", "limit", "2", "3", "desc", "get", "#"],
    ] {
        let mut l = vec!["SORT", "l"];
        l.extend_from_slice(opts);
        lines.push(line(&l));
        l[0] = "SORT_RO";
        lines.push(line(&l));
    }
    // STORE: the result, the key's type, TTL cleared, empty results.
    for opts in [
        &["STORE", "dst"][..],
        &["BY", "w_*", "STORE", "dst", "LIMIT", "3", "4"],
        &["BY", "nosort", "DESC", "STORE", "dst"],
        &["GET", "#", "GET", "v_*", "STORE", "dst"],
        &["BY", "a_*", "ALPHA", "STORE", "dst"],
        &["LIMIT", "100", "1", "STORE", "dst"],
    ] {
        lines.push(line(&["SET", "dst", "old"]));
        lines.push(line(&["EXPIRE", "dst", "100"]));
        let mut l = vec!["SORT", "l"];
        l.extend_from_slice(opts);
        lines.push(line(&l));
        lines.push(line(&["TYPE", "dst"]));
        lines.push(line(&["TTL", "dst"]));
        lines.push(line(&["LRANGE", "dst", "0", "-1"]));
    }
    lines.push(line(&["SORT", "l", "STORE", "l"]));
    lines.push(line(&["LRANGE", "l", "0", "-1"]));
    lines.push(line(&["SORT", "nokey", "STORE", "dst"]));
    lines.push(line(&["EXISTS", "dst"]));
    check_owned("sort lists", &lines);
}

#[test]
fn differential_scores() {
    let mut lines = vec![line(&[
        "RPUSH", "f", "1.5", "-2", "1e3", "3", "0.1", "-0.5", "1E-2", "10", "2.5e1", "+4", " 7",
        "", "0x10", "inf", "-inf", "-0", "0",
    ])];
    for opts in [
        &[][..],
        &["DESC"],
        &["LIMIT", "2", "5"],
        &["ALPHA"],
        &["ALPHA", "DESC"],
        &["BY", "nosort"],
    ] {
        let mut l = vec!["SORT", "f"];
        l.extend_from_slice(opts);
        lines.push(line(&l));
    }
    for bad in ["abc", "1 ", "12abc", "nan", "1e400", "1e-400", "--1"] {
        lines.push(line(&["DEL", "b"]));
        lines.push(line(&["RPUSH", "b", "1", bad, "2"]));
        lines.push(line(&["SORT", "b"]));
        lines.push(line(&["SORT", "b", "ALPHA"]));
        lines.push(line(&["SORT", "b", "BY", "nosort"]));
        lines.push(line(&["SORT", "b", "STORE", "bdst"]));
        lines.push(line(&["EXISTS", "bdst"]));
    }
    // Bad weights read through BY.
    lines.push(line(&["RPUSH", "k", "a", "b", "c"]));
    lines.push(line(&["MSET", "wk_a", "1", "wk_b", "x", "wk_c", "3"]));
    lines.push(line(&["SORT", "k", "BY", "wk_*"]));
    lines.push(line(&["SORT", "k", "BY", "wk_*", "ALPHA"]));
    lines.push(line(&["SORT", "k"]));
    // Binary data: ALPHA compares C strings unless storing.
    lines.push(line(&["RPUSH", "z", "a\u{0}b", "a\u{0}a", "a", "a\u{0}"]));
    lines.push(line(&["SORT", "z", "ALPHA"]));
    lines.push(line(&["SORT", "z", "ALPHA", "DESC"]));
    lines.push(line(&["SORT", "z", "ALPHA", "STORE", "zd"]));
    lines.push(line(&["LRANGE", "zd", "0", "-1"]));
    check_owned("sort scores", &lines);
}

#[test]
fn differential_sets_and_zsets() {
    let lines: Vec<Line> = vec![
        // Intsets: ordered in both servers.
        &["SADD", "is", "5", "-3", "10", "7", "0", "100"],
        &["SORT", "is"],
        &["SORT", "is", "DESC", "LIMIT", "1", "3"],
        &["SORT", "is", "ALPHA"],
        &["SORT", "is", "BY", "nosort"],
        &["SORT", "is", "BY", "nosort", "LIMIT", "2", "2"],
        &["SORT", "is", "BY", "nosort", "STORE", "isd"],
        &["LRANGE", "isd", "0", "-1"],
        &["MSET", "wi_5", "1", "wi_-3", "2", "wi_10", "3"],
        &["SORT", "is", "BY", "wi_*"],
        &["SORT", "is", "BY", "wi_*", "GET", "#", "GET", "wi_*"],
        // Sets of strings.
        &["SADD", "ss", "pear", "apple", "fig", "kiwi", "banana"],
        &["SORT", "ss", "ALPHA"],
        &["SORT", "ss", "ALPHA", "DESC", "LIMIT", "1", "2"],
        &["SORT", "ss"],
        &["~sort", "SORT", "ss", "BY", "nosort"],
        &["SORT", "ss", "BY", "nosort", "STORE", "ssd"],
        &["LRANGE", "ssd", "0", "-1"],
        &["SORT", "ss", "BY", "nosort", "DESC", "STORE", "ssd"],
        &["LRANGE", "ssd", "0", "-1"],
        &[
            "SORT", "ss", "BY", "nosort", "LIMIT", "1", "2", "STORE", "ssd",
        ],
        &["LRANGE", "ssd", "0", "-1"],
        // Sorted sets: BY nosort keeps the score order.
        &[
            "ZADD", "z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e",
        ],
        &["OBJECT", "ENCODING", "z"],
        &["SORT", "z", "BY", "nosort"],
        &["OBJECT", "ENCODING", "z"],
        &["SORT", "z", "BY", "nosort", "DESC"],
        &["SORT", "z", "BY", "nosort", "LIMIT", "0", "1"],
        &["SORT", "z", "BY", "nosort", "LIMIT", "0", "2", "DESC"],
        &["SORT", "z", "BY", "nosort", "LIMIT", "1", "3", "DESC"],
        &["SORT", "z", "BY", "nosort", "LIMIT", "5", "10"],
        &["SORT", "z", "BY", "nosort", "LIMIT", "-10", "100"],
        &["SORT", "z", "ALPHA", "DESC"],
        &["SORT", "z", "ALPHA"],
        &["SORT", "z"],
        &["SORT_RO", "z", "BY", "nosort", "GET", "#"],
        &["SORT", "z", "BY", "nosort", "STORE", "zd"],
        &["LRANGE", "zd", "0", "-1"],
        &["ZADD", "zi", "-inf", "x", "+inf", "y", "0", "z"],
        &["SORT", "zi", "BY", "nosort"],
        &["SORT", "zi", "BY", "nosort", "DESC"],
        &["ZADD", "zn", "1", "3", "2", "1", "3", "2.5"],
        &["SORT", "zn"],
        &["SORT", "zn", "DESC", "LIMIT", "0", "2"],
        &["SORT_RO", "zn", "BY", "nosort"],
        // Errors.
        &["SET", "str", "x"],
        &["SORT", "str"],
        &["SORT_RO", "str"],
        &["HSET", "hash", "a", "1"],
        &["SORT", "hash"],
        &["SORT", "l", "LIMIT", "1"],
        &["SORT", "l", "LIMIT", "a", "1"],
        &["SORT", "l", "LIMIT", "1", "a"],
        &["SORT", "l", "LIMIT", "1", "9223372036854775808"],
        &["SORT", "l", "FOO"],
        &["SORT", "l", "BY"],
        &["SORT", "l", "GET"],
        &["SORT", "l", "STORE"],
        &["SORT_RO", "l", "STORE", "x"],
        &["SORT", "str", "FOO"],
        &["SORT", "str", "LIMIT", "x", "1"],
        &["SORT"],
        &["SORT_RO"],
        &["SORT", "nokey"],
        &["SORT", "nokey", "BY", "w_*", "GET", "#"],
        &["SORT", "nokey", "STORE", "x"],
        &["EXISTS", "x"],
    ];
    check("sort sets and zsets", &lines);
}

/// Big sources (quicklists, hashtables, skiplists) sorted through
/// patterns, compared exactly (weights are distinct).
#[test]
fn differential_big_sources() {
    let mut d = Diff::new("sort big sources");
    d.reconnect(2);
    for i in 0..700 {
        let (m, w) = (i.to_string(), ((i * 7919) % 1000).to_string());
        d.line(&["~skip", "RPUSH", "bl", &m]);
        d.line(&["~skip", "SADD", "bs", &format!("m{i}")]);
        d.line(&["~skip", "ZADD", "bz", &w, &format!("m{i}")]);
        d.line(&["~skip", "SET", &format!("w_m{i}"), &w]);
        d.line(&["~skip", "SET", &format!("w_{i}"), &w]);
    }
    for args in [
        &["SORT", "bl"][..],
        &["SORT", "bl", "BY", "w_*"],
        &["SORT", "bl", "BY", "w_*", "LIMIT", "100", "50"],
        &["SORT", "bl", "BY", "nosort", "LIMIT", "650", "100", "DESC"],
        &["SORT", "bs", "ALPHA"],
        &["SORT", "bs", "BY", "w_*", "GET", "#", "GET", "w_*"],
        &["SORT", "bs", "BY", "w_*", "LIMIT", "10", "10", "DESC"],
        &["SORT", "bz", "BY", "nosort"],
        &["SORT", "bz", "BY", "nosort", "LIMIT", "300", "20", "DESC"],
        &["SORT", "bz", "ALPHA", "LIMIT", "0", "30"],
        &["SORT", "bz", "BY", "w_*", "DESC"],
        &["OBJECT", "ENCODING", "bs"],
        &["OBJECT", "ENCODING", "bz"],
    ] {
        d.line(args);
    }
    d.finish();
}
