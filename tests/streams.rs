//! Streams end to end: every X* command compared with a real redis-server
//! (7.0) byte for byte, over RESP2 and RESP3, plus seeded random command
//! streams (node boundaries under `MAXLEN ~`, consumer-group read counters
//! and lag, mangled arguments), blocking XREAD / XREADGROUP across
//! connections (several readers on one key included), WATCH, and keyspace
//! notifications.
//!
//! What legitimately differs from 7.0 is normalized away, and the 7.2
//! behaviour Ferrocache follows instead is checked against fixed
//! expectations at the end:
//! - XINFO STREAM's `recorded-first-entry-id`, consumers' `active-time`
//!   (FULL) and `inactive` (CONSUMERS) are 7.2 fields; `radix-tree-nodes`
//!   counts Redis's rax internals; times (`seen-time`, `idle`, delivery
//!   times) are compared for type only.
//! - 7.2 creates the consumer of XREADGROUP, XCLAIM and XAUTOCLAIM even when
//!   nothing is served or claimed (7.0 only when something is): the tables
//!   create their consumers first.
//! - 7.2 refuses an XSETID below the stream's max deleted id.
//!
//! A missing redis-server fails the differential tests (CI installs it).

mod common;

use std::time::{Duration, Instant};

use common::diff::{describe, normalize, show, Diff, Line, Node};
use common::{Proc, Raw};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------
// Normalizers and a runner with stream-specific markers
// ---------------------------------------------------------------------------

/// XINFO fields that only exist in 7.2 or count Redis's rax internals.
const DROPPED: &[&str] = &[
    "recorded-first-entry-id",
    "radix-tree-nodes",
    "active-time",
    "inactive",
];

/// XINFO fields holding a time (compared for type only).
const TIMES: &[&str] = &["seen-time", "idle"];

fn int_node(v: i64) -> Node {
    Node {
        head: format!(":{v}\r\n").into_bytes(),
        body: Vec::new(),
        kids: Vec::new(),
    }
}

/// Is `n` a field/value list (an XINFO reply or one of its groups or
/// consumers) rather than a list of entries?
fn is_record(n: &Node) -> bool {
    let first = n.kids.first().filter(|k| k.head[0] == b'$');
    n.kids.len().is_multiple_of(2)
        && first.is_some_and(|k| matches!(k.text().as_str(), "length" | "name"))
        && n.kids.iter().step_by(2).all(|k| k.head[0] == b'$')
}

/// Masks the delivery time of PEL rows (`[id, consumer, time, count]` or
/// `[id, time, count]`): the next-to-last element.
fn mask_pel_rows(rows: &mut Node) {
    for row in &mut rows.kids {
        let at = row.kids.len().wrapping_sub(2);
        if let Some(t) = row.kids.get_mut(at) {
            if t.head[0] == b':' {
                *t = int_node(0);
            }
        }
    }
}

/// XINFO replies: 7.2-only and rax fields dropped, times masked.
fn info_norm(n: &mut Node) {
    if is_record(n) {
        let mut kept = Vec::new();
        let pairs: Vec<Node> = std::mem::take(&mut n.kids);
        for pair in pairs.chunks(2) {
            let (k, mut v) = (pair[0].clone(), pair[1].clone());
            let name = k.text();
            if DROPPED.contains(&name.as_str()) {
                continue;
            }
            if TIMES.contains(&name.as_str()) && v.head[0] == b':' {
                v = int_node(0);
            }
            if name == "pending" && v.head[0] == b'*' {
                mask_pel_rows(&mut v);
            }
            info_norm(&mut v);
            kept.push(k);
            kept.push(v);
        }
        n.head = match n.head[0] {
            b'%' => format!("%{}\r\n", kept.len() / 2),
            _ => format!("*{}\r\n", kept.len()),
        }
        .into_bytes();
        n.kids = kept;
    } else {
        for k in &mut n.kids {
            info_norm(k);
        }
    }
}

/// XPENDING's extended form: the idle time of each row masked.
fn pending_norm(n: &mut Node) {
    for row in &mut n.kids {
        if let Some(t) = row.kids.get_mut(2) {
            *t = int_node(0);
        }
    }
}

/// Sends one line to both servers and compares the replies after `norm`.
fn line_with(d: &mut Diff, args: &[&str], norm: fn(&mut Node)) {
    let (r, f) = d.both(args);
    let (r, f) = (normalize(&r, norm), normalize(&f, norm));
    d.compared += 1;
    if r != f {
        d.fail(&describe(args), &show(&r), &show(&f));
    }
}

/// Runs lines with the harness markers plus `~info` (XINFO, normalized)
/// and `~pending` (XPENDING rows, idle masked).
fn run(d: &mut Diff, lines: &[Line]) {
    for l in lines {
        match l.first() {
            Some(&"~info") => line_with(d, &l[1..], info_norm),
            Some(&"~pending") => line_with(d, &l[1..], pending_norm),
            _ => d.line(l),
        }
    }
}

/// [`run`] over RESP2 and RESP3, each time on emptied servers after `setup`.
fn check_with(name: &'static str, setup: &[Line], lines: &[Line]) {
    let mut d = Diff::new(name);
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        run(&mut d, setup);
        run(&mut d, lines);
    }
    d.finish();
}

fn check(name: &'static str, lines: &[Line]) {
    check_with(name, &[], lines);
}

// ---------------------------------------------------------------------------
// XADD, ids, XRANGE, XDEL, XLEN, XTRIM, XSETID
// ---------------------------------------------------------------------------

#[test]
fn diff_xadd_ids_and_errors() {
    let huge = "9".repeat(130);
    check(
        "streams: xadd",
        &[
            &["XADD", "s", "1-1", "a", "1"],
            &["XADD", "s", "1-1", "a", "1"],
            &["XADD", "s", "1-0", "a", "1"],
            &["XADD", "s", "0-0", "a", "1"],
            &["XADD", "new", "0-0", "a", "1"],
            &["XADD", "new", "0", "a", "1"],
            &["EXISTS", "new"],
            &["XADD", "s", "1-", "a", "1"],
            &["XADD", "s", "-1", "a", "1"],
            &["XADD", "s", "abc", "a", "1"],
            &["XADD", "s", "1-abc", "a", "1"],
            &["XADD", "s", "1-2-3", "a", "1"],
            &["XADD", "s", " 2", "a", "1"],
            &["XADD", "s", "+2", "a", "1"],
            &["XADD", "s", "\t+3-01", "a", "1"],
            &["XADD", "s", "3- -1", "a", "1"],
            &["XADD", "s", "4--05", "a", "1"],
            &["XADD", "s", "4--5", "a", "1"],
            &["XADD", "s", "4-+", "a", "1"],
            &["XADD", "s", "4-0x1", "a", "1"],
            &["XADD", "s", "4.5-1", "a", "1"],
            &["XADD", "s", "4-\u{0}9", "a", "1"],
            &["XADD", "s", "4\u{0}-9", "a", "1"],
            &["XRANGE", "s", "-", "+"],
            &["XRANGE", "s", " 3", "+3- -1"],
            &["XDEL", "s", "+2", "\t+3-01"],
            &["XADD", "s", "-", "a", "1"],
            &["XADD", "s", "-\u{0}", "a", "1"],
            &["XRANGE", "s", "-\u{0}", "+\u{0}x"],
            &["XADD", "s", "18446744073709551616", "a", "1"],
            &["XADD", "s", "1-18446744073709551616", "a", "1"],
            &["XADD", "s", &huge, "a", "1"],
            &["XADD", "s", "+", "a", "1"],
            &["XADD", "s", "-", "a", "1"],
            &["XADD", "s", "$", "a", "1"],
            &["XADD", "s", "*-1", "a", "1"],
            &["XADD", "s", "5-*", "a", "1"],
            &["XADD", "s", "5-*", "b", "2"],
            &["XADD", "s", "5", "a", "1"],
            &["XADD", "s", "4-*", "a", "1"],
            &["XADD", "s", "6", "a", "1"],
            &["XADD", "s", "6-*", "a", "1"],
            &["XADD", "s", "7-3", "a", "1"],
            &["XADD", "s", "7-*", "a", "1"],
            &["XADD", "t", "0-*", "a", "b"],
            &["XADD", "t", "0-*", "a", "b"],
            &[
                "XADD",
                "u",
                "18446744073709551615-18446744073709551614",
                "a",
                "1",
            ],
            &["XADD", "u", "18446744073709551615-*", "a", "1"],
            &["XADD", "u", "18446744073709551615-*", "a", "1"],
            &["XADD", "u", "*", "a", "1"],
            &["XADD", "v", "18446744073709551615-*", "a", "1"],
            &["XADD", "v", "*", "a", "1"],
            &["XLEN", "u"],
            // Field counts.
            &["XADD", "s", "9-0", "a"],
            &["XADD", "s", "9-0", "a", "1", "b"],
            &["XADD", "s", "9-0"],
            &["XADD", "s"],
            &["XADD", "s", "NOMKSTREAM", "9-0"],
            &["XADD", "s", "MAXLEN", "5", "9-0"],
            &["XADD", "s", "9-0", "a", "1", "a", "2"],
            &["XRANGE", "s", "9-0", "9-0"],
            &["XADD", "s", "10-0", "", ""],
            &["XRANGE", "s", "10", "10"],
            // Options and their errors.
            &["XADD", "nokey", "NOMKSTREAM", "*", "a", "b"],
            &[
                "XADD",
                "nokey",
                "nomkstream",
                "MAXLEN",
                "0",
                "1-1",
                "a",
                "b",
            ],
            &["EXISTS", "nokey"],
            &["XADD", "s", "NOMKSTREAM", "11-0", "a", "b"],
            &["XADD", "s", "NOMKSTREAM", "NOMKSTREAM", "12-0", "a", "b"],
            &["XADD", "s", "MAXLEN", "1", "LIMIT", "10", "*", "a", "b"],
            &[
                "XADD", "s", "MAXLEN", "=", "1", "LIMIT", "10", "*", "a", "b",
            ],
            &["XADD", "s", "LIMIT", "10", "*", "a", "b"],
            &["XADD", "s", "MAXLEN", "1", "MINID", "4", "*", "a", "b"],
            &["XADD", "s", "MINID", "4", "MAXLEN", "1", "*", "a", "b"],
            &["XADD", "s", "MAXLEN", "~", "-1", "*", "a", "b"],
            &["XADD", "s", "MAXLEN", "x", "*", "a", "b"],
            &["XADD", "s", "MAXLEN", "~", "x", "*", "a", "b"],
            &[
                "XADD", "s", "MAXLEN", "~", "1", "LIMIT", "-1", "*", "a", "b",
            ],
            &["XADD", "s", "MAXLEN", "~", "1", "LIMIT", "x", "*", "a", "b"],
            &["XADD", "s", "MINID", "~", "1-", "*", "a", "b"],
            &["XADD", "s", "MINID", "+", "*", "a", "b"],
            &["XADD", "s", "MINID", "-", "*", "a", "b"],
            &["XADD", "s", "MINID", "(5", "*", "a", "b"],
            &["XADD", "s", "MAXLEN", "=", "1", "=", "a", "b"],
            &["XADD", "s", "MAXLEN", "~", "a", "b"],
            &["XADD", "s", "MAXLEN", "9223372036854775808", "*", "a", "b"],
            &["XADD", "s", "FOO", "*", "a", "b"],
            &["XADD", "s", "NOMKSTREAM"],
            &["XLEN", "s"],
            &["XRANGE", "s", "-", "+"],
            // MAXLEN / MINID trimming with exact ids.
            &["XADD", "s", "MAXLEN", "3", "20-0", "a", "b"],
            &["XRANGE", "s", "-", "+"],
            &["XADD", "s", "maxlen", "=", "2", "21-0", "a", "b"],
            &["XRANGE", "s", "-", "+"],
            &["XADD", "s", "MINID", "21", "22-0", "a", "b"],
            &["XRANGE", "s", "-", "+"],
            &["XADD", "s", "MINID", "=", "30", "23-0", "a", "b"],
            &["XRANGE", "s", "-", "+"],
            &["XADD", "s", "MAXLEN", "0", "24-0", "a", "b"],
            &["EXISTS", "s"],
            &["XLEN", "s"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XADD", "s", "MAXLEN", "~", "0", "25-0", "a", "b"],
            &[
                "XADD", "s", "MAXLEN", "~", "0", "LIMIT", "0", "26-0", "a", "b",
            ],
            &[
                "XADD", "s", "MINID", "~", "0", "LIMIT", "1", "27-0", "a", "b",
            ],
            &["XLEN", "s"],
            // Types.
            &["SET", "str", "v"],
            &["XADD", "str", "*", "a", "b"],
            &["XADD", "str", "NOMKSTREAM", "*", "a", "b"],
            &["XADD", "str", "MAXLEN", "x", "*", "a", "b"],
            &["XADD", "str", "1-x", "a", "b"],
        ],
    );
}

/// `*` ids depend on the clock: only their shape is compared, and their
/// order checked.
#[test]
fn diff_xadd_auto_ids() {
    check(
        "streams: xadd *",
        &[
            &["~shape", "XADD", "s", "*", "a", "1"],
            &["~shape", "XADD", "s", "*", "a", "1"],
            &["~shape", "XADD", "s", "MAXLEN", "~", "10", "*", "a", "1"],
            &["XLEN", "s"],
            &["~shape", "XRANGE", "s", "-", "+"],
            &["~shape", "XREVRANGE", "s", "+", "-", "COUNT", "1"],
            // A far-future last id: `*` continues its millisecond.
            &["XADD", "f", "99999999999999-5", "a", "1"],
            &["XADD", "f", "*", "a", "1"],
            &["XADD", "f", "*", "a", "1"],
        ],
    );
}

#[test]
fn diff_range_len_del() {
    check(
        "streams: xrange/xdel",
        &[
            &["XADD", "s", "1-1", "a", "1"],
            &["XADD", "s", "1-2", "b", "2"],
            &["XADD", "s", "2-0", "c", "3", "d", "4"],
            &["XADD", "s", "3-5", "a", "1"],
            &["XADD", "s", "18446744073709551615-0", "z", "1"],
            &["XRANGE", "s", "-", "+"],
            &["XRANGE", "s", "(1-1", "+"],
            &["XRANGE", "s", "(", "+"],
            &["XRANGE", "s", "(-", "+"],
            &["XRANGE", "s", "-", "(+"],
            &[
                "XRANGE",
                "s",
                "(18446744073709551615-18446744073709551615",
                "+",
            ],
            &["XRANGE", "s", "-", "(0-0"],
            &["XRANGE", "s", "(0", "+"],
            &["XRANGE", "s", "1", "1"],
            &["XRANGE", "s", "1", "2"],
            &["XRANGE", "s", "(1", "2"],
            &["XRANGE", "s", "2", "(3"],
            &["XRANGE", "s", "(1-1", "(1-2"],
            &["XRANGE", "s", "(1-1", "(2-0"],
            &["XRANGE", "s", "1-1", "1-1"],
            &["XRANGE", "s", "3", "2"],
            &["XRANGE", "s", "-", "+", "COUNT", "0"],
            &["XRANGE", "s", "-", "+", "COUNT", "-1"],
            &["XRANGE", "s", "-", "+", "COUNT", "2"],
            &["XRANGE", "s", "-", "+", "count", "1", "COUNT", "3"],
            &["XRANGE", "s", "-", "+", "COUNT"],
            &["XRANGE", "s", "-", "+", "FOO", "1"],
            &["XRANGE", "s", "-", "+", "COUNT", "x"],
            &["XRANGE", "s", "x", "+"],
            &["XRANGE", "s", "1-x", "+"],
            &["XRANGE", "s", "-", "1-"],
            &["XRANGE", "s", "((1", "+"],
            &["XREVRANGE", "s", "+", "-"],
            &["XREVRANGE", "s", "+", "-", "COUNT", "2"],
            &["XREVRANGE", "s", "(3-5", "(1-1"],
            &["XREVRANGE", "s", "-", "+"],
            &["XREVRANGE", "s", "2", "1"],
            &["XREVRANGE", "s", "+", "-", "COUNT", "0"],
            &["XREVRANGE", "s", "(-", "-"],
            &["XREVRANGE", "s", "+", "(+"],
            &["XREVRANGE", "nokey", "+", "-"],
            &["XRANGE", "nokey", "-", "+"],
            &["XRANGE", "nokey", "-", "+", "COUNT", "0"],
            &["XRANGE", "nokey", "x", "+"],
            // XDEL
            &["XDEL", "s", "1-2", "1-2", "9-9"],
            &["XDEL", "s", "x"],
            &["XDEL", "s", "1-1", "x"],
            &["XLEN", "s"],
            &["XDEL", "s", "+"],
            &["XDEL", "s", "2"],
            &["XDEL", "nokey", "1-1"],
            &["XDEL", "nokey", "x"],
            &["XDEL", "s"],
            &["XRANGE", "s", "-", "+"],
            &["XREVRANGE", "s", "+", "-"],
            &["XLEN", "s"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XDEL", "s", "1-1", "3-5", "18446744073709551615-0"],
            &["EXISTS", "s"],
            &["XLEN", "s"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XADD", "s", "5-0", "a", "1"],
            &["XADD", "s", "18446744073709551615-1", "a", "1"],
            &["XLEN", "nokey"],
            &["TYPE", "s"],
            // Types.
            &["SET", "str", "v"],
            &["XLEN", "str"],
            &["XRANGE", "str", "-", "+"],
            &["XREVRANGE", "str", "+", "-"],
            &["XDEL", "str", "1-1"],
            &["XDEL", "str", "x"],
            &["XRANGE"],
            &["XRANGE", "s", "-"],
            &["XLEN"],
            &["XDEL"],
        ],
    );
}

/// Deleting entries in a node, front, middle and back, and ranges across
/// the tombstones, with a small node size.
#[test]
fn diff_deletes_across_nodes() {
    let mut lines: Vec<Vec<String>> = vec![vec![
        "CONFIG".into(),
        "SET".into(),
        "stream-node-max-entries".into(),
        "4".into(),
    ]];
    for i in 1..=30 {
        lines.push(vec![
            "XADD".into(),
            "s".into(),
            format!("{i}-0"),
            "f".into(),
            i.to_string(),
        ]);
    }
    for id in [
        "1-0", "4-0", "5-0", "6-0", "7-0", "8-0", "13-0", "30-0", "29-0", "17-0",
    ] {
        lines.push(vec!["XDEL".into(), "s".into(), id.into()]);
        lines.push(vec![
            "XRANGE".into(),
            "s".into(),
            "-".into(),
            "+".into(),
            "COUNT".into(),
            "3".into(),
        ]);
        lines.push(vec![
            "XREVRANGE".into(),
            "s".into(),
            "+".into(),
            "-".into(),
            "COUNT".into(),
            "3".into(),
        ]);
        lines.push(vec!["XRANGE".into(), "s".into(), "(3".into(), "(14".into()]);
        lines.push(vec![
            "XREVRANGE".into(),
            "s".into(),
            "20".into(),
            "4".into(),
        ]);
        lines.push(vec!["XLEN".into(), "s".into()]);
    }
    let mut d = Diff::new("streams: deletes across nodes");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.run_owned(&lines);
        line_with(&mut d, &["XINFO", "STREAM", "s"], info_norm);
        line_with(&mut d, &["XINFO", "STREAM", "s", "FULL"], info_norm);
        d.line(&["~skip", "CONFIG", "SET", "stream-node-max-entries", "100"]);
    }
    d.finish();
}

/// A MINID trim that stops at a deleted entry can leave a node without
/// live entries: Redis keeps it (it still counts in XINFO and for node
/// limits) until a later trim drops it.
#[test]
fn diff_trim_leaves_an_empty_node() {
    check_with(
        "streams: trim leaves an empty node",
        &[&["CONFIG", "SET", "stream-node-max-entries", "4"]],
        &[
            &["XADD", "s", "1-0", "f", "1"],
            &["XADD", "s", "2-0", "f", "2"],
            &["XADD", "s", "3-0", "f", "3"],
            &["XADD", "s", "4-0", "f", "4"],
            &["XADD", "s", "5-0", "f", "5"],
            &["XADD", "s", "6-0", "f", "6"],
            &["XDEL", "s", "4-0"],
            &["XTRIM", "s", "MINID", "4"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XRANGE", "s", "-", "+"],
            &["XREVRANGE", "s", "+", "-"],
            &["XTRIM", "s", "MINID", "4"],
            &["XTRIM", "s", "MINID", "~", "5"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XTRIM", "s", "MAXLEN", "~", "2"],
            &["~info", "XINFO", "STREAM", "s"],
            // The same at the tail: the empty node still takes appends.
            &["XADD", "t", "1-0", "f", "1"],
            &["XADD", "t", "2-0", "f", "2"],
            &["XDEL", "t", "2-0"],
            &["XTRIM", "t", "MINID", "2"],
            &["~info", "XINFO", "STREAM", "t"],
            &["XADD", "t", "3-0", "f", "3"],
            &["XADD", "t", "4-0", "f", "4"],
            &["XADD", "t", "5-0", "f", "5"],
            &["~info", "XINFO", "STREAM", "t"],
            &["XRANGE", "t", "-", "+"],
            &["CONFIG", "SET", "stream-node-max-entries", "100"],
        ],
    );
}

#[test]
fn diff_xtrim() {
    check(
        "streams: xtrim",
        &[
            &["XADD", "s", "1-0", "a", "1"],
            &["XADD", "s", "2-0", "a", "1"],
            &["XADD", "s", "3-0", "a", "1"],
            &["XADD", "s", "4-0", "a", "1"],
            &["XADD", "s", "5-0", "a", "1"],
            &["XTRIM", "s"],
            &["XTRIM", "s", "FOO"],
            &["XTRIM", "s", "MAXLEN"],
            &["XTRIM", "s", "MAXLEN", "1", "MINID", "1"],
            &["XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "0"],
            &["XTRIM", "s", "MAXLEN", "=", "1", "LIMIT", "0"],
            &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "1"],
            &["XTRIM", "s", "LIMIT", "5"],
            &["XTRIM", "s", "MINID", "0", "LIMIT", "5"],
            &["XTRIM", "s", "MAXLEN", "-1"],
            &["XTRIM", "s", "MAXLEN", "x"],
            &["XTRIM", "s", "MAXLEN", "18446744073709551616"],
            &["XTRIM", "s", "MINID", "-"],
            &["XTRIM", "s", "MINID", "+"],
            &["XTRIM", "s", "MINID", "x"],
            &["XTRIM", "s", "MAXLEN", "1", "*"],
            &["XTRIM", "s", "MAXLEN", "1", "NOMKSTREAM"],
            &["XTRIM", "s", "MAXLEN", "9223372036854775807"],
            &["XTRIM", "s", "MINID", "~", "0", "LIMIT", "1000"],
            // Approximate trims of a one-node stream remove nothing.
            &["XTRIM", "s", "MAXLEN", "~", "1"],
            &["XTRIM", "s", "MINID", "~", "5"],
            &["XTRIM", "s", "MINID", "2-1"],
            &["XRANGE", "s", "-", "+"],
            &["XTRIM", "s", "MINID", "=", "3"],
            &["XRANGE", "s", "-", "+"],
            &["XTRIM", "s", "maxlen", "1"],
            &["XRANGE", "s", "-", "+"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XTRIM", "s", "MAXLEN", "0"],
            &["EXISTS", "s"],
            &["XLEN", "s"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XTRIM", "nokey", "MAXLEN", "0"],
            &["XTRIM", "nokey", "MAXLEN", "x"],
            &["EXISTS", "nokey"],
            &["SET", "str", "v"],
            &["XTRIM", "str", "MAXLEN", "0"],
            &["XTRIM", "str", "MAXLEN", "x"],
        ],
    );
}

/// `~` trims whole nodes only, up to LIMIT entries (default: 100 times the
/// node size); which nodes exist depends on the node limits.
#[test]
fn diff_approximate_trim_and_limit() {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    for (entries, bytes) in [("10", "4096"), ("3", "0"), ("0", "60"), ("1", "1")] {
        lines.push(s(&["DEL", "s"]));
        lines.push(s(&["CONFIG", "SET", "stream-node-max-entries", entries]));
        lines.push(s(&["CONFIG", "SET", "stream-node-max-bytes", bytes]));
        for i in 1..=95 {
            lines.push(vec![
                "XADD".into(),
                "s".into(),
                format!("{i}-1"),
                "item".into(),
                (i * 7919).to_string(),
            ]);
        }
        for trim in [
            &["XTRIM", "s", "MAXLEN", "~", "90"][..],
            &["XTRIM", "s", "MAXLEN", "~", "50", "LIMIT", "5"],
            &["XTRIM", "s", "MAXLEN", "~", "50", "LIMIT", "20"],
            &["XTRIM", "s", "MINID", "~", "40", "LIMIT", "3"],
            &["XTRIM", "s", "MINID", "~", "60"],
            &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "1"],
            &[
                "XADD", "s", "MAXLEN", "~", "10", "LIMIT", "2", "200-0", "f", "v",
            ],
            &["XTRIM", "s", "MAXLEN", "~", "10"],
            &["XTRIM", "s", "MAXLEN", "20"],
        ] {
            lines.push(s(trim));
            lines.push(s(&["XLEN", "s"]));
            lines.push(s(&["XRANGE", "s", "-", "+", "COUNT", "1"]));
        }
    }
    let mut d = Diff::new("streams: approximate trims");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.run_owned(&lines);
        line_with(&mut d, &["XINFO", "STREAM", "s"], info_norm);
    }
    d.line(&["~skip", "CONFIG", "SET", "stream-node-max-entries", "100"]);
    d.line(&["~skip", "CONFIG", "SET", "stream-node-max-bytes", "4096"]);
    d.finish();
}

/// Without LIMIT, `~` trims at most 100 nodes' worth of entries (100 times
/// stream-node-max-entries, capped at 1000000; 10000 when unlimited).
#[test]
fn diff_default_trim_limit() {
    let fill = "for i=1,tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], i..'-0', 'f', i) end";
    check_with(
        "streams: default trim limit",
        &[&["CONFIG", "SET", "stream-node-max-bytes", "0"]],
        &[
            &["CONFIG", "SET", "stream-node-max-entries", "500"],
            &["EVAL", fill, "1", "s", "12500"],
            &["XTRIM", "s", "MAXLEN", "~", "0"],
            &["XLEN", "s"],
            &["CONFIG", "SET", "stream-node-max-entries", "50"],
            &["EVAL", fill, "1", "t", "12000"],
            &["XTRIM", "t", "MAXLEN", "~", "0"],
            &["XLEN", "t"],
            &["XADD", "t", "MINID", "~", "20000", "20000-0", "f", "v"],
            &["XLEN", "t"],
            &["CONFIG", "SET", "stream-node-max-entries", "0"],
            &["CONFIG", "SET", "stream-node-max-bytes", "100"],
            &["EVAL", fill, "1", "u", "12000"],
            &["XTRIM", "u", "MAXLEN", "~", "0"],
            &["XLEN", "u"],
            &["CONFIG", "SET", "stream-node-max-entries", "100"],
            &["CONFIG", "SET", "stream-node-max-bytes", "4096"],
        ],
    );
}

/// A random field or value: small and large integers (stored as integers
/// in Redis's listpacks, so they change the node size), strings that look
/// like integers but are not, and strings around the listpack length
/// encodings' limits.
fn element(rng: &mut StdRng, j: usize) -> String {
    match rng.gen_range(0..10) {
        0 => rng.gen_range(-10i64.pow(12)..10i64.pow(12)).to_string(),
        1 => rng.gen_range(0..200).to_string(),
        2 => "x".repeat(rng.gen_range(0..200)),
        3 => "y".repeat([0, 63, 64, 65, 127, 128, 4095, 4096][rng.gen_range(0..8)]),
        4 => ["-0", "01", "+1", " 1", "1.5"][rng.gen_range(0..5)].to_string(),
        5 => rng.gen::<i64>().to_string(),
        6 => ["-4096", "4095", "-32768", "32767", "-8388608", "8388607"][rng.gen_range(0..6)]
            .to_string(),
        7 => format!("field{j}"),
        8 => ["a", "b"][rng.gen_range(0..2)].to_string(),
        _ => rng.gen_range(-5000..5000).to_string(),
    }
}

/// A random field name: mostly the same few (entries then share their
/// node's master fields), sometimes a number.
fn field(rng: &mut StdRng, j: usize) -> String {
    match rng.gen_range(0..4) {
        0 => "a".into(),
        1 => "b".into(),
        2 => format!("field{j}"),
        _ => rng.gen_range(-5000..5000).to_string(),
    }
}

/// Random XADD (with and without `MAXLEN ~`), XDEL and XTRIM under random
/// node limits: the stream's length, node count (`radix-tree-keys`) and
/// content must match Redis after every step, which holds only if nodes
/// split exactly where Redis splits its listpacks.
#[test]
fn diff_node_boundaries_fuzz() {
    let mut d = Diff::new("streams: node boundaries");
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    d.reconnect(2);
    for round in 0..20 {
        d.line(&["~skip", "FLUSHALL"]);
        let entries = ["0", "1", "3", "10", "100"][round % 5];
        let bytes = ["0", "1", "50", "120", "300", "4096"][rng.gen_range(0..6)];
        d.line(&["~skip", "CONFIG", "SET", "stream-node-max-entries", entries]);
        d.line(&["~skip", "CONFIG", "SET", "stream-node-max-bytes", bytes]);
        for i in 1..=220u64 {
            let mut cmd: Vec<String> = match rng.gen_range(0..10) {
                0..=5 => vec![
                    "XADD".into(),
                    "s".into(),
                    "MAXLEN".into(),
                    "~".into(),
                    rng.gen_range(0..50).to_string(),
                    format!("{i}-{}", rng.gen_range(0..4)),
                ],
                6 | 7 => vec![
                    "XADD".into(),
                    "s".into(),
                    format!("{i}-{}", rng.gen_range(0..4)),
                ],
                8 => vec![
                    "XDEL".into(),
                    "s".into(),
                    format!("{}-{}", rng.gen_range(1..=i), rng.gen_range(0..4)),
                ],
                _ => vec![
                    "XTRIM".into(),
                    "s".into(),
                    "MINID".into(),
                    ["~", "="][rng.gen_range(0..2)].into(),
                    rng.gen_range(1..=i).to_string(),
                ],
            };
            if cmd[0] == "XADD" {
                for j in 0..rng.gen_range(1..4) {
                    cmd.push(field(&mut rng, j));
                    cmd.push(element(&mut rng, j));
                }
            }
            let before = d.mismatches.len();
            d.run_owned(&[cmd, vec!["XLEN".into(), "s".into()]]);
            line_with(&mut d, &["XINFO", "STREAM", "s"], info_norm);
            if d.mismatches.len() > before {
                let note = format!(
                    "(round {round}: node limits {entries} entries, {bytes} bytes, step {i})"
                );
                d.mismatches.push(note);
                break;
            }
        }
        d.line(&["XRANGE", "s", "-", "+"]);
    }
    d.line(&["~skip", "CONFIG", "SET", "stream-node-max-entries", "100"]);
    d.line(&["~skip", "CONFIG", "SET", "stream-node-max-bytes", "4096"]);
    d.finish();
}

#[test]
fn diff_xsetid() {
    check(
        "streams: xsetid",
        &[
            &["XSETID", "nokey", "1-1"],
            &["XSETID", "nokey", "x"],
            &["XADD", "s", "5-0", "a", "b"],
            &["XSETID", "s", "4-0"],
            &["XSETID", "s", "5-0"],
            &["XSETID", "s", "6"],
            &["~info", "XINFO", "STREAM", "s"],
            &["XADD", "s", "6-0", "a", "b"],
            &["XADD", "s", "6-1", "a", "b"],
            &["XSETID", "s", "7-0", "ENTRIESADDED", "-1"],
            &["XSETID", "s", "7-0", "ENTRIESADDED", "0"],
            &["XSETID", "s", "7-0", "ENTRIESADDED", "1"],
            &["XSETID", "s", "7-0", "ENTRIESADDED", "x"],
            &["XSETID", "s", "7-0", "ENTRIESADDED"],
            &["XSETID", "s", "7-0", "MAXDELETEDID", "8-0"],
            &[
                "XSETID",
                "s",
                "7-0",
                "MAXDELETEDID",
                "6-0",
                "ENTRIESADDED",
                "10",
            ],
            &["~info", "XINFO", "STREAM", "s"],
            &["XSETID", "s", "7-0", "FOO", "bar"],
            &["XSETID", "s", "7-0", "ENTRIESADDED", "5", "FOO"],
            &["XSETID", "s", "x"],
            &["XSETID", "s", "+"],
            &["XSETID", "s", "-"],
            &["XSETID", "s", "$"],
            &["XSETID", "s", "7-0", "MAXDELETEDID", "x"],
            &["XSETID", "s", "7-0", "MAXDELETEDID", "0-0"],
            &[
                "XSETID",
                "s",
                "8-0",
                "MAXDELETEDID",
                "8-0",
                "ENTRIESADDED",
                "20",
            ],
            &["~info", "XINFO", "STREAM", "s"],
            &["XADD", "s", "8-0", "a", "b"],
            &["XADD", "s", "8-1", "a", "b"],
            &["XADD", "s", "8-2", "a", "b"],
            &["XRANGE", "s", "-", "+"],
            // The top item is the last live entry, not the last id (the
            // max deleted id is lowered first: 7.2 refuses ids below it).
            &["XDEL", "s", "8-2"],
            &["XSETID", "s", "8-2", "MAXDELETEDID", "1-0"],
            &["XSETID", "s", "8-1"],
            &["XSETID", "s", "8-0"],
            &["XSETID", "s", "8-1", "ENTRIESADDED", "2"],
            &["XSETID", "s", "8-1", "ENTRIESADDED", "4"],
            &["~info", "XINFO", "STREAM", "s"],
            // An empty stream accepts any id at or above its max deleted id.
            &["XADD", "e", "MAXLEN", "0", "5-0", "a", "b"],
            &["XSETID", "e", "9-0", "ENTRIESADDED", "0"],
            &["~info", "XINFO", "STREAM", "e"],
            &["XADD", "e", "9-0", "a", "b"],
            &["XADD", "e", "9-1", "a", "b"],
            &["SET", "str", "v"],
            &["XSETID", "str", "1-1"],
            &["XSETID", "str", "x"],
            &["XSETID", "s"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------

#[test]
fn diff_xgroup() {
    check(
        "streams: xgroup",
        &[
            &["XGROUP", "CREATE", "nokey", "g", "$"],
            &["XGROUP", "CREATE", "nokey", "g", "x"],
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["TYPE", "s"],
            &["XLEN", "s"],
            &["XGROUP", "CREATE", "s", "g", "$"],
            &["XGROUP", "CREATE", "s", "g2", "x"],
            &["XGROUP", "CREATE", "s", "g2", "-"],
            &["XGROUP", "CREATE", "s", "g2", "+"],
            &["XGROUP", "CREATE", "s", "g2", "1-"],
            &["XGROUP", "CREATE", "s", "g2", "$", "FOO"],
            &["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD"],
            &["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "-2"],
            &["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "x"],
            &[
                "XGROUP",
                "CREATE",
                "s",
                "g2",
                "$",
                "ENTRIESREAD",
                "5",
                "MKSTREAM",
                "MKSTREAM",
            ],
            &[
                "XGROUP",
                "CREATE",
                "s",
                "g2",
                "$",
                "ENTRIESREAD",
                "5",
                "MKSTREAM",
            ],
            &["XGROUP", "CREATE", "s", "g3", "0", "entriesread", "-1"],
            &[
                "XGROUP",
                "CREATE",
                "s",
                "g4",
                "5-5",
                "mkstream",
                "entriesread",
                "3",
                "ENTRIESREAD",
                "2",
            ],
            &["XGROUP", "CREATE", "nokey3", "g", "x", "MKSTREAM"],
            &["EXISTS", "nokey3"],
            &["XGROUP", "CREATE", "s", "g5", "5", "ENTRIESREAD", "0"],
            &["~info", "XINFO", "GROUPS", "s"],
            &["XGROUP", "CREATE"],
            &["XGROUP", "CREATE", "k"],
            &["XGROUP", "CREATE", "k", "g"],
            &["XGROUP", "FOO", "k", "g"],
            &["XGROUP", "HELP"],
            &["XGROUP", "HELP", "x"],
            &["XGROUP"],
            // SETID
            &["XGROUP", "SETID", "s", "nog", "0"],
            &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD"],
            &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "5", "x"],
            &["XGROUP", "SETID", "s", "g", "0", "FOO", "5"],
            &["XGROUP", "SETID", "s", "g", "0", "MKSTREAM"],
            &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "-5"],
            &["XGROUP", "SETID", "s", "g", "x"],
            &["XGROUP", "SETID", "s", "g", "-"],
            &["~info", "XINFO", "GROUPS", "s"],
            &["XGROUP", "SETID", "s", "g", "+"],
            &["~info", "XINFO", "GROUPS", "s"],
            &["XGROUP", "SETID", "s", "g", "5"],
            &["XGROUP", "SETID", "s", "g", "7", "ENTRIESREAD", "3"],
            &[
                "XGROUP",
                "SETID",
                "s",
                "g",
                "$",
                "ENTRIESREAD",
                "3",
                "ENTRIESREAD",
                "4",
            ],
            &["XGROUP", "SETID", "nokey", "g", "5"],
            &["XGROUP", "SETID", "nokey", "g", "5", "MKSTREAM"],
            &["~info", "XINFO", "GROUPS", "s"],
            // CREATECONSUMER / DELCONSUMER / DESTROY
            &["XGROUP", "CREATECONSUMER", "s", "nog", "c"],
            &["XGROUP", "CREATECONSUMER", "s", "g3", "c"],
            &["XGROUP", "CREATECONSUMER", "s", "g3", "c"],
            &["XGROUP", "CREATECONSUMER", "s", "g3", "d"],
            &["XGROUP", "CREATECONSUMER", "nokey", "g3", "c"],
            &["XGROUP", "CREATECONSUMER", "s", "g3"],
            &["XGROUP", "CREATECONSUMER", "s", "g3", "c", "d"],
            &["XGROUP", "CREATECONSUMER", "s", "g3", "c", "MKSTREAM"],
            &["~info", "XINFO", "CONSUMERS", "s", "g3"],
            &["XGROUP", "DELCONSUMER", "s", "g3", "c"],
            &["XGROUP", "DELCONSUMER", "s", "g3", "c"],
            &["XGROUP", "DELCONSUMER", "s", "nog", "c"],
            &["XGROUP", "DELCONSUMER", "nokey", "g", "c"],
            &["~info", "XINFO", "CONSUMERS", "s", "g3"],
            &["XGROUP", "DESTROY", "s", "g"],
            &["XGROUP", "DESTROY", "s", "g"],
            &["XGROUP", "DESTROY", "nokey", "g"],
            &["XGROUP", "DESTROY", "s"],
            &["XGROUP", "DESTROY", "s", "g", "x"],
            &["~info", "XINFO", "GROUPS", "s"],
            // Types.
            &["SET", "str", "v"],
            &["XGROUP", "CREATE", "str", "g", "$"],
            &["XGROUP", "CREATE", "str", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATE", "str", "g", "x", "FOO"],
            &["XGROUP", "SETID", "str", "g", "5"],
            &["XGROUP", "DESTROY", "str", "g"],
            &["XGROUP", "CREATECONSUMER", "str", "g", "c"],
            &["XGROUP", "DELCONSUMER", "str", "g", "c"],
        ],
    );
}

/// The consumers the tables use, created up front (7.2 creates them on a
/// read or claim that serves nothing, 7.0 does not).
const CONSUMERS: &[Line] = &[
    &["XGROUP", "CREATECONSUMER", "s", "g", "c1"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "c2"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "c3"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "c4"],
];

#[test]
fn diff_xreadgroup_xack_xpending() {
    let mut setup: Vec<Line> = vec![
        &["XADD", "s", "1-0", "a", "1"],
        &["XADD", "s", "2-0", "b", "2"],
        &["XADD", "s", "3-0", "c", "3"],
        &["XADD", "s", "4-0", "d", "4"],
        &["XGROUP", "CREATE", "s", "g", "0"],
    ];
    setup.extend_from_slice(CONSUMERS);
    check_with(
        "streams: xreadgroup/xack/xpending",
        &setup,
        &[
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0"],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "1-0"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "1",
                "STREAMS",
                "s",
                "0",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "0",
                "STREAMS",
                "s",
                "0",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "-1",
                "STREAMS",
                "s",
                "0",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "STREAMS",
                "s",
                "18446744073709551615-18446744073709551615",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c2",
                "NOACK",
                "STREAMS",
                "s",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"],
            &["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", "0"],
            &["XPENDING", "s", "g"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10", "c1"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10", "c2"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10", "nobody"],
            &["~pending", "XPENDING", "s", "g", "(", "+", "10"],
            &["~pending", "XPENDING", "s", "g", "(1-0", "+", "10"],
            &["~pending", "XPENDING", "s", "g", "-", "(2-0", "10"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "1"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "0"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "-1"],
            &[
                "~pending", "XPENDING", "s", "g", "IDLE", "0", "-", "+", "10",
            ],
            &[
                "~pending", "XPENDING", "s", "g", "idle", "0", "-", "+", "10", "c1",
            ],
            &[
                "~pending", "XPENDING", "s", "g", "IDLE", "-5", "-", "+", "10",
            ],
            &["XPENDING", "s", "g", "IDLE", "3600000", "-", "+", "10"],
            &["XPENDING", "s", "g", "-", "+", "x"],
            &["XPENDING", "s", "g", "x", "+", "10"],
            &["XPENDING", "s", "g", "-", "x", "10"],
            &[
                "~pending", "XPENDING", "s", "g", "-", "+", "10", "c1", "extra",
            ],
            &["XPENDING", "s", "g", "IDLE", "x", "-", "+", "10"],
            &["XPENDING", "s", "g", "IDLE", "0", "-", "+"],
            &["XPENDING", "s", "g", "-"],
            &["XPENDING", "s", "g", "-", "+"],
            &["XPENDING", "s", "nog"],
            &["XPENDING", "nokey", "g"],
            &["XPENDING", "nokey", "g", "-", "+", "10"],
            &["XPENDING", "s", "nog", "-", "+", "x"],
            &[
                "~pending", "XPENDING", "s", "g", "-", "+", "10", "c1", "c2", "c3",
            ],
            &["XPENDING", "s"],
            // XACK
            &["XACK", "s", "g", "1-0", "9-9"],
            &["XACK", "s", "g", "1-0"],
            &["XACK", "s", "g", "x"],
            &["XACK", "s", "g", "2-0", "x"],
            &["XPENDING", "s", "g"],
            &["XACK", "nokey", "g", "1-0"],
            &["XACK", "s", "nog", "1-0"],
            &["XACK", "nokey", "g", "x"],
            &["XACK", "s", "nog", "x"],
            &["XACK", "s", "g"],
            &["XACK", "s", "g", "2-0", "2-0", "3-0"],
            &["XPENDING", "s", "g"],
            // Reading a consumer's history after acks and deletes.
            &["XGROUP", "SETID", "s", "g", "0"],
            &["XREADGROUP", "GROUP", "g", "c3", "STREAMS", "s", ">"],
            &["XDEL", "s", "2-0"],
            &["XREADGROUP", "GROUP", "g", "c3", "STREAMS", "s", "0"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XADD", "s", "5-0", "e", "5"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c4",
                "COUNT",
                "10",
                "STREAMS",
                "s",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g", "c4", "STREAMS", "s", ">"],
            &["XPENDING", "s", "g"],
            // Errors.
            &["SET", "str", "v"],
            &["XACK", "str", "g", "1-0"],
            &["XPENDING", "str", "g"],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "str", ">"],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "nokey", ">"],
            &["XREADGROUP", "GROUP", "nog", "c1", "STREAMS", "s", ">"],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "$"],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "x"],
            &["XREADGROUP", "GROUP", "g", "STREAMS", "s", ">"],
            &["XREADGROUP", "STREAMS", "s", ">"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "x",
                "STREAMS",
                "s",
                ">",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "BLOCK",
                "x",
                "STREAMS",
                "s",
                ">",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "BLOCK",
                "-1",
                "STREAMS",
                "s",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g", "c1", "FOO", "STREAMS", "s", ">"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "STREAMS",
                "s",
                "str",
                ">",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS"],
            &["XREADGROUP", "GROUP", "g", "c1"],
        ],
    );
}

#[test]
fn diff_xread() {
    check(
        "streams: xread",
        &[
            &["XADD", "s", "1-0", "a", "1"],
            &["XADD", "s", "2-0", "b", "2"],
            &["XADD", "s", "3-0", "c", "3"],
            &["XADD", "t", "1-5", "x", "y"],
            &["XREAD", "STREAMS", "s", "0"],
            &["XREAD", "COUNT", "1", "STREAMS", "s", "0"],
            &["XREAD", "COUNT", "0", "STREAMS", "s", "0"],
            &["XREAD", "COUNT", "-5", "STREAMS", "s", "1"],
            &["XREAD", "STREAMS", "s", "nokey", "t", "0", "0", "1-4"],
            &["XREAD", "STREAMS", "s", "t", "3", "1-5"],
            &["XREAD", "STREAMS", "s", "s", "0", "2"],
            &["XREAD", "STREAMS", "s", "$"],
            &["XREAD", "STREAMS", "s", "3-0"],
            &["XREAD", "STREAMS", "s", "(1-0"],
            &["XREAD", "STREAMS", "s", "-"],
            &[
                "XREAD",
                "STREAMS",
                "s",
                "18446744073709551615-18446744073709551615",
            ],
            &["XREAD", "count", "1", "COUNT", "2", "STREAMS", "s", "0"],
            &["XREAD", "BLOCK", "10", "STREAMS", "s", "3-0"],
            &[
                "XREAD", "BLOCK", "10", "COUNT", "5", "STREAMS", "nokey", "0",
            ],
            &["XDEL", "s", "2-0"],
            &["XREAD", "STREAMS", "s", "1-0"],
            &["XREAD", "STREAMS", "s", "1"],
            // Errors.
            &["SET", "str", "v"],
            &["XREAD", "STREAMS", "str", "0"],
            &["XREAD", "STREAMS", "nokey", "str", "0", "0"],
            &["XREAD", "STREAMS", "s", "str", "0", "x"],
            &["XREAD", "GROUP", "g", "c1", "STREAMS", "s", ">"],
            &["XREAD", "NOACK", "STREAMS", "s", "0"],
            &["XREAD", "STREAMS", "s", ">"],
            &["XREAD", "STREAMS", "s", "x"],
            &["XREAD", "STREAMS", "s"],
            &["XREAD", "STREAMS"],
            &["XREAD", "COUNT", "x", "STREAMS", "s", "0"],
            &["XREAD", "BLOCK", "x", "STREAMS", "s", "0"],
            &["XREAD", "BLOCK", "-1", "STREAMS", "s", "0"],
            &["XREAD", "FOO", "STREAMS", "s", "0"],
            &["XREAD", "COUNT", "1"],
            &["XREAD", "s", "0"],
            &["XREAD"],
        ],
    );
}

#[test]
fn diff_xclaim_xautoclaim() {
    let mut setup: Vec<Line> = vec![
        &["XADD", "s", "1-0", "a", "1"],
        &["XADD", "s", "2-0", "b", "2"],
        &["XADD", "s", "3-0", "c", "3"],
        &["XADD", "s", "4-0", "d", "4"],
        &["XADD", "s", "5-0", "e", "5"],
        &["XGROUP", "CREATE", "s", "g", "0"],
    ];
    setup.extend_from_slice(CONSUMERS);
    check_with(
        "streams: xclaim/xautoclaim",
        &setup,
        &[
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "4",
                "STREAMS",
                "s",
                ">",
            ],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "2-0", "9-0"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "JUSTID"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XCLAIM", "s", "g", "c3", "3600000", "3-0", "JUSTID"],
            &[
                "XCLAIM", "s", "g", "c3", "0", "3-0", "IDLE", "3600000", "JUSTID",
            ],
            &["XCLAIM", "s", "g", "c2", "3600000", "3-0", "JUSTID"],
            &[
                "XCLAIM",
                "s",
                "g",
                "c2",
                "0",
                "3-0",
                "TIME",
                "1",
                "RETRYCOUNT",
                "9",
                "JUSTID",
            ],
            &[
                "~pending", "XPENDING", "s", "g", "IDLE", "1000000", "-", "+", "10",
            ],
            &["XCLAIM", "s", "g", "c3", "x", "1-0"],
            &["XCLAIM", "s", "g", "c3", "-5", "1-0", "JUSTID"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "FOO"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "IDLE", "x"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "IDLE"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "IDLE", "-1", "JUSTID"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "TIME", "x"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "RETRYCOUNT", "x"],
            &[
                "XCLAIM",
                "s",
                "g",
                "c3",
                "0",
                "1-0",
                "RETRYCOUNT",
                "-1",
                "JUSTID",
            ],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "LASTID", "x"],
            &[
                "XCLAIM", "s", "g", "c3", "0", "1-0", "LASTID", "2-0", "JUSTID",
            ],
            &["~info", "XINFO", "GROUPS", "s"],
            &[
                "XCLAIM", "s", "g", "c3", "0", "1-0", "LASTID", "10-0", "JUSTID",
            ],
            &["~info", "XINFO", "GROUPS", "s"],
            &[
                "XCLAIM",
                "s",
                "g",
                "c3",
                "0",
                "1-0",
                "RETRYCOUNT",
                "7",
                "JUSTID",
            ],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            // FORCE creates a pending entry for an existing entry only.
            &[
                "XCLAIM", "s", "g", "c3", "0", "5-0", "9-0", "FORCE", "JUSTID",
            ],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XACK", "s", "g", "5-0"],
            &["XCLAIM", "s", "g", "c3", "3600000", "5-0", "FORCE"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XCLAIM", "s", "g", "c3", "0", "x", "JUSTID"],
            &["XCLAIM", "s", "g", "c3", "0", "1-0", "x"],
            &["XCLAIM", "s", "g", "c3", "0", "IDLE", "5"],
            &["XCLAIM", "s", "nog", "c3", "0", "1-0"],
            &["XCLAIM", "s", "nog", "c3", "x", "1-0"],
            &["XCLAIM", "nokey", "g", "c3", "0", "1-0"],
            &["XCLAIM", "s", "g", "c3", "0"],
            // A deleted entry leaves the PEL when claimed.
            &["XDEL", "s", "2-0"],
            &["XCLAIM", "s", "g", "c1", "0", "2-0", "3-0", "JUSTID"],
            &["XCLAIM", "s", "g", "c1", "0", "2-0", "3-0"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            // XAUTOCLAIM
            &["XAUTOCLAIM", "s", "g", "c4", "0", "0"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "1"],
            &[
                "XAUTOCLAIM",
                "s",
                "g",
                "c4",
                "0",
                "(1-0",
                "COUNT",
                "1",
                "JUSTID",
            ],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "-", "JUSTID"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "+", "JUSTID"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "(", "JUSTID"],
            &[
                "XAUTOCLAIM",
                "s",
                "g",
                "c4",
                "0",
                "(18446744073709551615-18446744073709551615",
            ],
            &["XAUTOCLAIM", "s", "g", "c4", "x", "0"],
            &["XAUTOCLAIM", "s", "g", "c4", "-1", "0", "JUSTID"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "x"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "0"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "-1"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "x"],
            &[
                "XAUTOCLAIM",
                "s",
                "g",
                "c4",
                "0",
                "0",
                "COUNT",
                "576460752303423488",
            ],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "0", "FOO"],
            &["XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT"],
            &["XAUTOCLAIM", "s", "nog", "c4", "0", "0"],
            &["XAUTOCLAIM", "nokey", "g", "c4", "0", "0"],
            &["XAUTOCLAIM", "nokey", "g", "c4", "x", "0"],
            &["XAUTOCLAIM", "s", "g", "c4", "3600000", "0"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            // Deleted entries are reported (and counted against COUNT).
            &["XDEL", "s", "3-0", "4-0"],
            &["XAUTOCLAIM", "s", "g", "c1", "0", "0", "COUNT", "1"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XAUTOCLAIM", "s", "g", "c1", "0", "0", "COUNT", "5"],
            &["~pending", "XPENDING", "s", "g", "-", "+", "10"],
            &["XAUTOCLAIM", "s", "g", "c1", "0", "0", "JUSTID"],
            &["~info", "XINFO", "CONSUMERS", "s", "g"],
            // Types.
            &["SET", "str", "v"],
            &["XCLAIM", "str", "g", "c", "0", "1-0"],
            &["XAUTOCLAIM", "str", "g", "c", "0", "0"],
            &["XAUTOCLAIM", "str", "g", "c", "x", "0"],
        ],
    );
}

/// Many pending entries: the XAUTOCLAIM cursor and the attempts limit
/// (ten times COUNT), with deleted entries in the way.
#[test]
fn diff_xautoclaim_cursor() {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    for i in 1..=60 {
        lines.push(vec![
            "XADD".into(),
            "s".into(),
            format!("{i}-0"),
            "f".into(),
            i.to_string(),
        ]);
    }
    lines.push(s(&["XGROUP", "CREATE", "s", "g", "0"]));
    lines.push(s(&["XGROUP", "CREATECONSUMER", "s", "g", "a"]));
    lines.push(s(&["XGROUP", "CREATECONSUMER", "s", "g", "b"]));
    lines.push(s(&["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"]));
    for i in (3..=60).step_by(4) {
        lines.push(vec!["XDEL".into(), "s".into(), format!("{i}-0")]);
    }
    let mut cursor_steps = vec![
        s(&[
            "XAUTOCLAIM",
            "s",
            "g",
            "b",
            "0",
            "0",
            "COUNT",
            "3",
            "JUSTID",
        ]),
        s(&["XAUTOCLAIM", "s", "g", "b", "0", "5-0", "COUNT", "4"]),
        s(&["XAUTOCLAIM", "s", "g", "b", "3600000", "0", "COUNT", "2"]),
        s(&[
            "XAUTOCLAIM",
            "s",
            "g",
            "b",
            "0",
            "30-0",
            "COUNT",
            "100",
            "JUSTID",
        ]),
        s(&[
            "XAUTOCLAIM",
            "s",
            "g",
            "a",
            "0",
            "0",
            "COUNT",
            "7",
            "JUSTID",
        ]),
        s(&[
            "XAUTOCLAIM",
            "s",
            "g",
            "a",
            "0",
            "(20-0",
            "COUNT",
            "1",
            "JUSTID",
        ]),
    ];
    lines.append(&mut cursor_steps);
    let mut d = Diff::new("streams: xautoclaim cursor");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.run_owned(&lines);
        line_with(
            &mut d,
            &["XPENDING", "s", "g", "-", "+", "100"],
            pending_norm,
        );
        d.line(&["XPENDING", "s", "g"]);
    }
    d.finish();
}

/// [`info_norm`], and consumers left out: 7.2 creates the consumer of a
/// read or claim that serves nothing, 7.0 does not.
fn info_norm_without_consumers(n: &mut Node) {
    info_norm(n);
    drop_consumers(n);
}

fn drop_consumers(n: &mut Node) {
    if is_record(n) {
        let pairs: Vec<Node> = std::mem::take(&mut n.kids);
        let kept: Vec<Node> = pairs
            .chunks(2)
            .filter(|p| p[0].text() != "consumers")
            .flat_map(|p| p.to_vec())
            .collect();
        n.head = match n.head[0] {
            b'%' => format!("%{}\r\n", kept.len() / 2),
            _ => format!("*{}\r\n", kept.len()),
        }
        .into_bytes();
        n.kids = kept;
    }
    for k in &mut n.kids {
        drop_consumers(k);
    }
}

/// Every command with arguments replaced, dropped or inserted at random
/// (bad ids, stray keywords, negative and huge numbers): the same reply,
/// error or not, as Redis, so errors are detected in Redis's order.
#[test]
fn diff_argument_fuzz() {
    const JUNK: &[&str] = &[
        "x",
        "-",
        "+",
        "(",
        "(1",
        "",
        "0",
        "-1",
        "18446744073709551616",
        "COUNT",
        "1-",
        "5-*",
        "$",
        ">",
        "~",
        "=",
        "LIMIT",
        "MAXLEN",
        "MINID",
        "NOACK",
        "STREAMS",
        "JUSTID",
        "FORCE",
        "IDLE",
        "9223372036854775808",
        "1.5",
        " 3",
        "ENTRIESREAD",
        "MKSTREAM",
        "FULL",
    ];
    let templates: &[&[&str]] = &[
        &[
            "XADD",
            "s",
            "MAXLEN",
            "~",
            "3",
            "LIMIT",
            "2",
            "NOMKSTREAM",
            "NEXT",
            "f",
            "v",
        ],
        &["XADD", "s", "MINID", "=", "2", "NEXT", "a", "b"],
        &["XTRIM", "s", "MAXLEN", "=", "2", "LIMIT", "3"],
        &["XTRIM", "s", "MINID", "~", "3"],
        &["XRANGE", "s", "-", "+", "COUNT", "2"],
        &["XREVRANGE", "s", "+", "-", "COUNT", "2"],
        &["XDEL", "s", "1-0", "2-0"],
        &["XLEN", "s"],
        &[
            "XGROUP",
            "CREATE",
            "s",
            "g",
            "$",
            "MKSTREAM",
            "ENTRIESREAD",
            "3",
        ],
        &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "2"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        &["XGROUP", "DELCONSUMER", "s", "g", "c"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "2",
            "NOACK",
            "STREAMS",
            "s",
            ">",
        ],
        &["XREAD", "COUNT", "2", "STREAMS", "s", "0"],
        &["XACK", "s", "g", "1-0", "2-0"],
        &["XPENDING", "s", "g", "IDLE", "0", "-", "+", "5", "c"],
        &["XPENDING", "s", "g"],
        &[
            "XCLAIM",
            "s",
            "g",
            "c",
            "0",
            "1-0",
            "2-0",
            "RETRYCOUNT",
            "3",
            "LASTID",
            "5-0",
            "JUSTID",
        ],
        &[
            "XAUTOCLAIM",
            "s",
            "g",
            "c",
            "0",
            "0",
            "COUNT",
            "2",
            "JUSTID",
        ],
        &["XINFO", "STREAM", "s", "FULL", "COUNT", "2"],
        &["XINFO", "GROUPS", "s"],
    ];
    let mut d = Diff::new("streams: argument fuzz");
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    d.reconnect(2);
    let mut next = 100;
    for step in 0..2500 {
        if step % 250 == 0 {
            d.line(&["~skip", "FLUSHALL"]);
            for i in 1..8 {
                let id = format!("{i}-0");
                d.line(&["~skip", "XADD", "s", &id, "f", "v"]);
            }
            d.line(&["~skip", "XGROUP", "CREATE", "s", "g", "0"]);
        }
        let mut cmd: Vec<String> = templates[rng.gen_range(0..templates.len())]
            .iter()
            .map(|a| a.to_string())
            .collect();
        for _ in 0..rng.gen_range(0..3) {
            let junk = JUNK[rng.gen_range(0..JUNK.len())].to_string();
            match rng.gen_range(0..4) {
                0 | 1 if cmd.len() > 2 => {
                    let at = rng.gen_range(1..cmd.len());
                    cmd[at] = junk;
                }
                2 if cmd.len() > 3 => {
                    cmd.remove(rng.gen_range(2..cmd.len()));
                }
                _ => {
                    let at = rng.gen_range(2..=cmd.len());
                    cmd.insert(at, junk);
                }
            }
        }
        next += 1;
        for a in &mut cmd {
            if a == "NEXT" {
                *a = format!("{next}-0");
            }
        }
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (r, f) = d.both(&args);
        // Consumer c exists after every step on both servers (7.2 creates
        // it on reads and claims that 7.0 leaves without one).
        d.both(&["XGROUP", "CREATECONSUMER", "s", "g", "c"]);
        d.compared += 1;
        let unbalanced = |reply: &[u8]| reply.starts_with(b"-ERR Unbalanced");
        // 7.2 names the command in this message ('xreadgroup', '>').
        if unbalanced(&r) && unbalanced(&f) {
            continue;
        }
        let norm = if args[0] == "XPENDING" {
            pending_norm
        } else {
            info_norm_without_consumers
        };
        let (r, f) = (normalize(&r, norm), normalize(&f, norm));
        if r != f {
            d.fail(&describe(&args), &show(&r), &show(&f));
        }
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// XINFO, read counters and lag
// ---------------------------------------------------------------------------

#[test]
fn diff_xinfo() {
    let mut setup: Vec<Line> = vec![
        &["XADD", "s", "1-0", "a", "1", "b", "2"],
        &["XADD", "s", "2-0", "a", "3", "b", "4"],
        &["XADD", "s", "3-0", "other", "x"],
        &["XADD", "s", "4-0", "a", "5", "b", "6"],
        &["XGROUP", "CREATE", "s", "g", "0"],
    ];
    setup.extend_from_slice(CONSUMERS);
    check_with(
        "streams: xinfo",
        &setup,
        &[
            &["~info", "XINFO", "STREAM", "s"],
            &["~info", "XINFO", "STREAM", "s", "FULL"],
            &["~info", "XINFO", "GROUPS", "s"],
            &["~info", "XINFO", "CONSUMERS", "s", "g"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "3",
                "STREAMS",
                "s",
                ">",
            ],
            &["XGROUP", "CREATE", "s", "g0", "$"],
            &["XGROUP", "CREATE", "s", "a-group", "0", "ENTRIESREAD", "2"],
            &["XCLAIM", "s", "g", "c2", "0", "2-0", "JUSTID"],
            &["~info", "XINFO", "STREAM", "s"],
            &["~info", "XINFO", "STREAM", "s", "FULL"],
            &["~info", "XINFO", "STREAM", "s", "FULL", "COUNT", "1"],
            &["~info", "XINFO", "STREAM", "s", "FULL", "COUNT", "0"],
            &["~info", "XINFO", "STREAM", "s", "full", "count", "-5"],
            &["~info", "XINFO", "GROUPS", "s"],
            &["~info", "XINFO", "CONSUMERS", "s", "g"],
            &["XDEL", "s", "4-0"],
            &["~info", "XINFO", "STREAM", "s"],
            &["~info", "XINFO", "GROUPS", "s"],
            &["XDEL", "s", "1-0", "2-0", "3-0"],
            &["~info", "XINFO", "STREAM", "s"],
            &["~info", "XINFO", "STREAM", "s", "FULL"],
            &["~info", "XINFO", "GROUPS", "s"],
            // Errors (the key is looked up before the options are parsed).
            &["XINFO"],
            &["XINFO", "HELP"],
            &["XINFO", "help", "x"],
            &["XINFO", "FOO"],
            &["XINFO", "FOO", "k"],
            &["XINFO", "STREAM"],
            &["XINFO", "STREAM", "nokey"],
            &["XINFO", "STREAM", "nokey", "FOO"],
            &["XINFO", "STREAM", "s", "x"],
            &["XINFO", "STREAM", "s", "FULL", "x"],
            &["XINFO", "STREAM", "s", "FULL", "COUNT"],
            &["XINFO", "STREAM", "s", "FULL", "COUNT", "x"],
            &["XINFO", "STREAM", "s", "FULL", "FOO", "5"],
            &["XINFO", "STREAM", "s", "FULL", "COUNT", "1", "x"],
            &["XINFO", "GROUPS", "nokey"],
            &["XINFO", "GROUPS", "s", "x"],
            &["XINFO", "CONSUMERS", "nokey", "g"],
            &["XINFO", "CONSUMERS", "s", "nog"],
            &["XINFO", "CONSUMERS", "s"],
            &["XINFO", "CONSUMERS", "s", "g", "x"],
            &["SET", "str", "v"],
            &["XINFO", "STREAM", "str"],
            &["XINFO", "STREAM", "str", "FOO"],
            &["XINFO", "GROUPS", "str"],
            &["XINFO", "CONSUMERS", "str", "g"],
        ],
    );
}

/// Read counters and lag in the cases Redis's estimate distinguishes: no
/// tombstones, a tombstone ahead of the group, tombstones trimmed away,
/// XGROUP SETID (with and without ENTRIESREAD) and XSETID.
#[test]
fn diff_entries_read_and_lag() {
    check(
        "streams: entries-read and lag",
        &[
            &["XGROUP", "CREATE", "x", "g1", "$", "MKSTREAM"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XADD", "x", "1-0", "data", "a"],
            &["XADD", "x", "2-0", "data", "b"],
            &["XADD", "x", "3-0", "data", "c"],
            &["XADD", "x", "4-0", "data", "d"],
            &["XADD", "x", "5-0", "data", "e"],
            &["XGROUP", "CREATE", "x", "g2", "0"],
            &["XGROUP", "CREATE", "x", "g3", "3-0"],
            &["XGROUP", "CREATE", "x", "g4", "1-0"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XGROUP", "CREATECONSUMER", "x", "g1", "c"],
            &["XGROUP", "CREATECONSUMER", "x", "g2", "c"],
            &["XGROUP", "CREATECONSUMER", "x", "g3", "c"],
            &["XGROUP", "CREATECONSUMER", "x", "g4", "c"],
            &[
                "XREADGROUP",
                "GROUP",
                "g1",
                "c",
                "COUNT",
                "1",
                "STREAMS",
                "x",
                ">",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g2",
                "c",
                "COUNT",
                "2",
                "STREAMS",
                "x",
                ">",
            ],
            &["~info", "XINFO", "GROUPS", "x"],
            // A tombstone ahead of g2.
            &["XDEL", "x", "4-0"],
            &["~info", "XINFO", "GROUPS", "x"],
            &[
                "XREADGROUP",
                "GROUP",
                "g2",
                "c",
                "COUNT",
                "1",
                "STREAMS",
                "x",
                ">",
            ],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XREADGROUP", "GROUP", "g3", "c", "STREAMS", "x", ">"],
            &["XREADGROUP", "GROUP", "g4", "c", "STREAMS", "x", ">"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XADD", "x", "6-0", "data", "f"],
            &["~info", "XINFO", "GROUPS", "x"],
            // Trimming the tombstone away.
            &["XTRIM", "x", "MAXLEN", "1"],
            &["~info", "XINFO", "STREAM", "x"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XREADGROUP", "GROUP", "g1", "c", "STREAMS", "x", ">"],
            &["~info", "XINFO", "GROUPS", "x"],
            // SETID resets the counter unless given one.
            &["XGROUP", "SETID", "x", "g2", "0"],
            &["XGROUP", "SETID", "x", "g3", "0", "ENTRIESREAD", "0"],
            &["XGROUP", "SETID", "x", "g4", "$"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XGROUP", "SETID", "x", "g4", "3-0", "ENTRIESREAD", "3"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XGROUP", "SETID", "x", "g4", "9-0", "ENTRIESREAD", "100"],
            &["~info", "XINFO", "GROUPS", "x"],
            // XSETID moves the counters the estimates use.
            &[
                "XSETID",
                "x",
                "7-0",
                "ENTRIESADDED",
                "10",
                "MAXDELETEDID",
                "6-5",
            ],
            &["~info", "XINFO", "STREAM", "x"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XADD", "x", "8-0", "data", "g"],
            &["XREADGROUP", "GROUP", "g2", "c", "STREAMS", "x", ">"],
            &[
                "XREADGROUP",
                "GROUP",
                "g3",
                "c",
                "COUNT",
                "1",
                "STREAMS",
                "x",
                ">",
            ],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XDEL", "x", "6-0", "8-0"],
            &["~info", "XINFO", "STREAM", "x"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["XADD", "x", "9-0", "data", "h"],
            &["~info", "XINFO", "GROUPS", "x"],
            &["~info", "XINFO", "STREAM", "x", "FULL"],
            // A stream whose first group never read.
            &["XADD", "y", "1-0", "f", "v"],
            &["XGROUP", "CREATE", "y", "g", "0", "ENTRIESREAD", "0"],
            &["XDEL", "y", "1-0"],
            &["~info", "XINFO", "GROUPS", "y"],
            &["XADD", "y", "2-0", "f", "v"],
            &["~info", "XINFO", "GROUPS", "y"],
        ],
    );
}

/// A random consumer-group workload (XADD, XDEL, XTRIM, XREADGROUP, XGROUP
/// CREATE/SETID/DELCONSUMER, XSETID, XACK, XCLAIM, XAUTOCLAIM, XPENDING)
/// with XINFO GROUPS and XINFO STREAM FULL compared after every step.
#[test]
fn diff_group_fuzz() {
    let mut d = Diff::new("streams: consumer group fuzz");
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    d.reconnect(2);
    for round in 0..12 {
        d.line(&["~skip", "FLUSHALL"]);
        let node = ["2", "5", "100"][round % 3];
        d.line(&["~skip", "CONFIG", "SET", "stream-node-max-entries", node]);
        let mut ms = 1u64;
        let mut history: Vec<String> = Vec::new();
        for step in 0..140 {
            let g = ["g1", "g2", "g3"][rng.gen_range(0..3)].to_string();
            let id = |rng: &mut StdRng, ms: u64| {
                format!("{}-{}", rng.gen_range(0..=ms + 1), rng.gen_range(0..3))
            };
            let p: f64 = rng.gen();
            let mut cmd: Vec<String> = if p < 0.33 {
                ms += rng.gen_range(0..3);
                let mut c = vec!["XADD".into(), "s".into()];
                if rng.gen_bool(0.2) {
                    c.extend([
                        "MAXLEN".into(),
                        ["~", "="][rng.gen_range(0..2)].into(),
                        rng.gen_range(0..15).to_string(),
                    ]);
                }
                c.extend([
                    format!("{ms}-{}", rng.gen_range(0..4)),
                    "f".into(),
                    step.to_string(),
                ]);
                c
            } else if p < 0.43 {
                let mut c = vec!["XDEL".to_string(), "s".into()];
                for _ in 0..rng.gen_range(1..4) {
                    c.push(id(&mut rng, ms));
                }
                c
            } else if p < 0.48 {
                let kind = ["MAXLEN", "MINID"][rng.gen_range(0..2)];
                let arg = if kind == "MAXLEN" {
                    rng.gen_range(0..15).to_string()
                } else {
                    id(&mut rng, ms)
                };
                vec![
                    "XTRIM".into(),
                    "s".into(),
                    kind.into(),
                    ["~", "="][rng.gen_range(0..2)].into(),
                    arg,
                ]
            } else if p < 0.6 {
                vec![
                    "XREADGROUP".into(),
                    "GROUP".into(),
                    g.clone(),
                    ["c1", "c2"][rng.gen_range(0..2)].into(),
                    "COUNT".into(),
                    rng.gen_range(1..5).to_string(),
                    "STREAMS".into(),
                    "s".into(),
                    [">", ">", ">", "0"][rng.gen_range(0..4)].into(),
                ]
            } else if p < 0.65 {
                let mut c = vec!["XGROUP".into(), "CREATE".into(), "s".into(), g.clone()];
                c.push(match rng.gen_range(0..3) {
                    0 => "$".into(),
                    1 => "0".into(),
                    _ => id(&mut rng, ms),
                });
                if rng.gen_bool(0.5) {
                    c.extend(["ENTRIESREAD".into(), rng.gen_range(-1..10).to_string()]);
                }
                if rng.gen_bool(0.5) {
                    c.push("MKSTREAM".into());
                }
                c
            } else if p < 0.72 {
                let mut c = vec!["XGROUP".into(), "SETID".into(), "s".into(), g.clone()];
                c.push(match rng.gen_range(0..3) {
                    0 => "$".into(),
                    1 => "0".into(),
                    _ => id(&mut rng, ms),
                });
                if rng.gen_bool(0.5) {
                    c.extend(["ENTRIESREAD".into(), rng.gen_range(-1..30).to_string()]);
                }
                c
            } else if p < 0.76 {
                let mut c = vec!["XSETID".into(), "s".into()];
                c.push(if rng.gen_bool(0.5) {
                    id(&mut rng, ms)
                } else {
                    format!("{}-5", ms + 3)
                });
                if rng.gen_bool(0.5) {
                    c.extend(["ENTRIESADDED".into(), rng.gen_range(0..60).to_string()]);
                }
                if rng.gen_bool(0.5) {
                    c.extend(["MAXDELETEDID".into(), id(&mut rng, ms)]);
                }
                c
            } else if p < 0.82 {
                let mut c = vec!["XACK".to_string(), "s".into(), g.clone()];
                for _ in 0..3 {
                    c.push(id(&mut rng, ms));
                }
                c
            } else if p < 0.86 {
                let mut c = vec![
                    "XAUTOCLAIM".to_string(),
                    "s".into(),
                    g.clone(),
                    "c3".into(),
                    "0".into(),
                    id(&mut rng, ms),
                    "COUNT".into(),
                    rng.gen_range(1..4).to_string(),
                ];
                if rng.gen_bool(0.5) {
                    c.push("JUSTID".into());
                }
                c
            } else if p < 0.9 {
                let mut c = vec![
                    "XCLAIM".to_string(),
                    "s".into(),
                    g.clone(),
                    "c1".into(),
                    "0".into(),
                    id(&mut rng, ms),
                    id(&mut rng, ms),
                ];
                match rng.gen_range(0..5) {
                    0 => c.push("JUSTID".into()),
                    1 => c.push("FORCE".into()),
                    2 => c.extend(["RETRYCOUNT".into(), "5".into()]),
                    3 => c.extend(["LASTID".into(), id(&mut rng, ms)]),
                    _ => {}
                }
                c
            } else if p < 0.97 {
                let mut c: Vec<String> = ["XPENDING", "s", &g, "-", "+", "10"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if rng.gen_bool(0.5) {
                    c.push("c1".into());
                }
                c
            } else {
                vec![
                    "XGROUP".into(),
                    ["DELCONSUMER", "CREATECONSUMER"][rng.gen_range(0..2)].into(),
                    "s".into(),
                    g.clone(),
                    ["c1", "c2", "c3"][rng.gen_range(0..3)].into(),
                ]
            };
            // 7.2 refuses an XSETID below the max deleted id (7.0 takes it).
            if cmd[0] == "XSETID" && below_max_deleted(&mut d, &cmd[2]) {
                continue;
            }
            history.push(describe(
                &cmd.iter().map(String::as_str).collect::<Vec<_>>(),
            ));
            let before = d.mismatches.len();
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            if args[0] == "XPENDING" {
                line_with(&mut d, &args, pending_norm);
            } else {
                d.line(&args);
            }
            create_consumers(&mut d);
            line_with(&mut d, &["XINFO", "GROUPS", "s"], info_norm);
            line_with(&mut d, &["XINFO", "STREAM", "s", "FULL"], info_norm);
            if d.mismatches.len() > before {
                let from = history.len().saturating_sub(8);
                d.mismatches.push(format!(
                    "(round {round}, step {step}; last commands:\n      {})",
                    history[from..].join("\n      ")
                ));
                break;
            }
            cmd.clear();
        }
    }
    d.line(&["~skip", "CONFIG", "SET", "stream-node-max-entries", "100"]);
    d.finish();
}

/// Whether `id` is below redis-server's max deleted id of stream `s`.
fn below_max_deleted(d: &mut Diff, id: &str) -> bool {
    let (r, _) = d.both(&["XINFO", "STREAM", "s"]);
    let n = Node::parse(&r);
    let at = n
        .kids
        .iter()
        .position(|k| k.text() == "max-deleted-entry-id");
    let parse = |s: &str| -> Option<(u64, u64)> {
        let (ms, seq) = s.split_once('-')?;
        Some((ms.parse().ok()?, seq.parse().ok()?))
    };
    match (at.and_then(|i| n.kids.get(i + 1)), parse(id)) {
        (Some(max), Some(id)) => parse(&max.text()).is_some_and(|max| id < max),
        _ => false,
    }
}

/// Creates consumers c1..c3 in every group on both servers (not compared),
/// so the consumer sets do not depend on 7.0's lazy creation.
fn create_consumers(d: &mut Diff) {
    let (r, _) = d.both(&["XINFO", "GROUPS", "s"]);
    if r.first() != Some(&b'*') {
        return;
    }
    let groups: Vec<String> = Node::parse(&r)
        .kids
        .iter()
        .filter_map(|g| g.kids.get(1).map(Node::text))
        .collect();
    for g in groups {
        for c in ["c1", "c2", "c3"] {
            d.both(&["XGROUP", "CREATECONSUMER", "s", &g, c]);
        }
    }
}

// ---------------------------------------------------------------------------
// Blocking reads across connections
// ---------------------------------------------------------------------------

fn send(c: &mut Raw, args: &[&str]) {
    let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.cmd(&bytes);
}

fn call(c: &mut Raw, args: &[&str]) -> Vec<u8> {
    send(c, args);
    c.read_reply()
}

/// Waits until the server reports `n` blocked clients.
fn wait_blocked(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = String::from_utf8_lossy(&call(c, &["INFO", "clients"])).into_owned();
        if info.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {n} blocked clients: {info}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One blocking scenario against one server: `block` is sent on a waiting
/// connection, `then` run on another once it is blocked; returns the
/// waiter's reply, then the replies to `after` (on the other connection).
fn blocking_scenario(
    node: &Proc,
    proto: u8,
    setup: &[Line],
    block: Line,
    then: &[Line],
    after: &[Line],
) -> Vec<Vec<u8>> {
    let (mut waiter, mut admin) = (node.raw(), node.raw());
    call(&mut admin, &["FLUSHALL"]);
    for l in setup {
        call(&mut admin, l);
    }
    if proto == 3 {
        call(&mut waiter, &["HELLO", "3"]);
    }
    send(&mut waiter, block);
    wait_blocked(&mut admin, 1);
    for l in then {
        call(&mut admin, l);
    }
    let mut out = vec![waiter.read_reply()];
    wait_blocked(&mut admin, 0);
    for l in after {
        out.push(call(&mut admin, l));
    }
    out
}

fn compare_blocking(
    d: &mut Diff,
    label: &str,
    setup: &[Line],
    block: Line,
    then: &[Line],
    after: &[Line],
) {
    for proto in [2, 3] {
        let r = blocking_scenario(&d.redis, proto, setup, block, then, after);
        let f = blocking_scenario(&d.ferro, proto, setup, block, then, after);
        d.compared += r.len();
        for (i, (r, f)) in r.iter().zip(&f).enumerate() {
            if r != f {
                let what = format!("[RESP{proto}] {label}: reply {i}");
                d.fail(&what, &show(r), &show(f));
            }
        }
    }
}

#[test]
fn diff_blocking_reads() {
    let mut d = Diff::new("streams: blocking");
    compare_blocking(
        &mut d,
        "XREAD $ served by a later XADD",
        &[&["XADD", "s", "1-0", "old", "1"]],
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        &[&["XADD", "s", "2-0", "new", "2"]],
        &[&["XLEN", "s"]],
    );
    compare_blocking(
        &mut d,
        "XREAD on a missing key served by XADD",
        &[],
        &["XREAD", "BLOCK", "0", "STREAMS", "nokey", "$"],
        &[&["XADD", "nokey", "5-0", "f", "v"]],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREAD with an id, two entries added in one transaction",
        &[&["XADD", "s", "1-0", "a", "1"]],
        &["XREAD", "BLOCK", "0", "COUNT", "5", "STREAMS", "s", "1-0"],
        &[
            &["MULTI"],
            &["XADD", "s", "2-0", "b", "2"],
            &["XADD", "s", "3-0", "c", "3"],
            &["EXEC"],
        ],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREAD on several keys, one of them written",
        &[&["XADD", "a", "1-0", "f", "v"]],
        &[
            "XREAD", "BLOCK", "0", "STREAMS", "a", "b", "c", "$", "$", "0",
        ],
        &[&["XADD", "b", "7-0", "f", "v"]],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREAD COUNT limits the blocked reply",
        &[],
        &["XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "$"],
        &[
            &["MULTI"],
            &["XADD", "s", "1-0", "a", "1"],
            &["XADD", "s", "2-0", "b", "2"],
            &["EXEC"],
        ],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREAD keeps waiting through writes that add nothing after its id",
        &[&["XADD", "s", "5-0", "a", "1"]],
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        &[
            &["XDEL", "s", "5-0"],
            &["XGROUP", "CREATE", "s", "g", "$"],
            &["XADD", "s", "6-0", "b", "2"],
        ],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREADGROUP > served across connections",
        &[
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
        &[&["XADD", "s", "1-0", "f", "v"]],
        &[&["XPENDING", "s", "g"], &["XINFO", "GROUPS", "s"]],
    );
    compare_blocking(
        &mut d,
        "XREADGROUP NOACK served across connections",
        &[
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "NOACK",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
        &[&["XADD", "s", "1-0", "f", "v"]],
        &[&["XPENDING", "s", "g"]],
    );
    compare_blocking(
        &mut d,
        "XREADGROUP whose key is deleted",
        &[
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
        &[&["DEL", "s"]],
        &[&["EXISTS", "s"]],
    );
    compare_blocking(
        &mut d,
        "XREADGROUP whose group is destroyed",
        &[
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
        &[&["XGROUP", "DESTROY", "s", "g"]],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREADGROUP whose key becomes another type",
        &[
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
        &[&["DEL", "s"], &["SET", "s", "x"]],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREADGROUP whose database is flushed",
        &[
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
        &[&["FLUSHDB"]],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREAD survives a flush and a re-created key",
        &[&["XADD", "s", "5-0", "f", "v"]],
        &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        &[
            &["FLUSHALL"],
            &["XADD", "s", "1-0", "f", "old"],
            &["XADD", "s", "6-0", "f", "new"],
        ],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREAD times out with a null array",
        &[&["XADD", "s", "1-0", "f", "v"]],
        &["XREAD", "BLOCK", "500", "STREAMS", "s", "$"],
        &[],
        &[],
    );
    compare_blocking(
        &mut d,
        "XREADGROUP times out with a null array",
        &[
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "500",
            "STREAMS",
            "s",
            ">",
        ],
        &[],
        &[&["XINFO", "GROUPS", "s"]],
    );
    d.finish();
}

/// Two XREADGROUP waiters on one group: the first blocked is served the
/// entry; the second keeps waiting and gets the next one.
#[test]
fn diff_blocked_group_readers_share_entries() {
    let d = Diff::new("streams: blocked group readers");
    let mut results = Vec::new();
    for node in [&d.redis, &d.ferro] {
        let (mut a, mut b, mut admin) = (node.raw(), node.raw(), node.raw());
        call(&mut admin, &["FLUSHALL"]);
        call(&mut admin, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        call(&mut admin, &["XGROUP", "CREATECONSUMER", "s", "g", "a"]);
        call(&mut admin, &["XGROUP", "CREATECONSUMER", "s", "g", "b"]);
        send(
            &mut a,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "a",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        wait_blocked(&mut admin, 1);
        send(
            &mut b,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "b",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        wait_blocked(&mut admin, 2);
        call(&mut admin, &["XADD", "s", "1-0", "f", "1"]);
        let first = a.read_reply();
        wait_blocked(&mut admin, 1);
        call(&mut admin, &["XADD", "s", "2-0", "f", "2"]);
        let second = b.read_reply();
        let pending = call(&mut admin, &["XPENDING", "s", "g"]);
        results.push((first, second, pending));
    }
    assert_eq!(
        (
            show(&results[0].0),
            show(&results[0].1),
            show(&results[0].2)
        ),
        (
            show(&results[1].0),
            show(&results[1].1),
            show(&results[1].2)
        ),
        "redis-server (left) and ferrocache (right) differ"
    );
}

/// Readers queued behind one that a write cannot serve (its group has
/// already read past the entry) are still served, in order, as Redis
/// serves every blocked reader the write satisfies.
#[test]
fn diff_unsatisfied_reader_does_not_starve_others() {
    let d = Diff::new("streams: readers behind an unsatisfied one");
    let mut results = Vec::new();
    for node in [&d.redis, &d.ferro] {
        let mut admin = node.raw();
        call(&mut admin, &["FLUSHALL"]);
        call(
            &mut admin,
            &["XGROUP", "CREATE", "s", "ahead", "$", "MKSTREAM"],
        );
        call(&mut admin, &["XGROUP", "SETID", "s", "ahead", "100-0"]);
        call(&mut admin, &["XGROUP", "CREATE", "s", "g", "$"]);
        let mut readers = Vec::new();
        let blocks: [&[&str]; 4] = [
            &[
                "XREADGROUP",
                "GROUP",
                "ahead",
                "a",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "b",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        ];
        for (i, b) in blocks.iter().enumerate() {
            let mut r = node.raw();
            send(&mut r, b);
            wait_blocked(&mut admin, i + 1);
            readers.push(r);
        }
        call(&mut admin, &["XADD", "s", "1-0", "f", "1"]);
        // The plain reader and the first reader of group g are served; the
        // others keep waiting.
        let plain = readers[1].read_reply();
        let first = readers[2].read_reply();
        wait_blocked(&mut admin, 2);
        call(&mut admin, &["XADD", "s", "2-0", "f", "2"]);
        let second = readers[3].read_reply();
        wait_blocked(&mut admin, 1);
        results.push([plain, first, second].map(|r| show(&r)));
    }
    assert_eq!(
        results[0], results[1],
        "redis-server (left) and ferrocache (right) differ"
    );
}

// ---------------------------------------------------------------------------
// WATCH
// ---------------------------------------------------------------------------

/// Which stream commands make a watched key dirty: in Redis only those that
/// change entries (XADD, an XDEL or XTRIM that removes something, XGROUP
/// CREATE ... MKSTREAM creating the key); group bookkeeping does not.
#[test]
fn diff_watch() {
    let writes: &[&[&str]] = &[
        &["XADD", "s", "9-0", "a", "b"],
        &["XDEL", "s", "9-9"],
        &["XDEL", "s", "1-0"],
        &["XTRIM", "s", "MAXLEN", "100"],
        &["XTRIM", "s", "MAXLEN", "1"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"],
        &["XACK", "s", "g", "1-0"],
        &["XACK", "s", "g", "2-0"],
        &["XCLAIM", "s", "g", "c2", "0", "1-0"],
        &["XAUTOCLAIM", "s", "g", "c3", "0", "0"],
        &["XGROUP", "CREATE", "s", "g2", "$"],
        &["XGROUP", "CREATE", "s", "g3", "$", "MKSTREAM"],
        &["XGROUP", "CREATE", "new", "g", "$", "MKSTREAM"],
        &["XGROUP", "SETID", "s", "g", "0"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c9"],
        &["XGROUP", "DELCONSUMER", "s", "g", "c"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["XSETID", "s", "99-0"],
        &["XINFO", "STREAM", "s"],
        &["XRANGE", "s", "-", "+"],
        &["XPENDING", "s", "g"],
    ];
    let setup: &[Line] = &[
        &["XADD", "s", "1-0", "a", "1"],
        &["XADD", "s", "2-0", "a", "1"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c2"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c3"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
    ];
    let mut d = Diff::new("streams: watch");
    d.reconnect(2);
    for w in writes {
        d.line(&["~skip", "FLUSHALL"]);
        for l in setup {
            d.line(
                &["~skip"]
                    .iter()
                    .chain(l.iter())
                    .copied()
                    .collect::<Vec<_>>(),
            );
        }
        d.line(&["WATCH", "s", "new"]);
        match w[0] {
            "XPENDING" | "XINFO" | "XRANGE" => d.line(
                &["~skip"]
                    .iter()
                    .chain(w.iter())
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            _ => d.line(w),
        }
        d.line(&["MULTI"]);
        d.line(&["PING"]);
        d.line(&["EXEC"]);
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// Keyspace notifications
// ---------------------------------------------------------------------------

/// The events of every stream command, in order, only when something
/// changed (an XTRIM or XDEL that removes nothing is silent).
#[test]
fn diff_notifications() {
    let mut d = Diff::new("streams: notifications");
    d.reconnect(2);
    d.line(&["~skip", "CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let (mut sub_r, mut sub_f) = (d.redis.raw(), d.ferro.raw());
    for sub in [&mut sub_r, &mut sub_f] {
        sub.cmd(&[b"PSUBSCRIBE", b"__key*@0__:*"]);
        sub.read_reply();
    }
    let lines: &[Line] = &[
        &["XADD", "s", "1-0", "a", "1"],
        &["XADD", "s", "2-0", "a", "1"],
        &["XADD", "s", "3-0", "a", "1"],
        &["XADD", "s", "MAXLEN", "2", "4-0", "a", "1"],
        &["XADD", "s", "MAXLEN", "~", "2", "5-0", "a", "1"],
        &["XADD", "s", "1-0", "a", "1"],
        &["XADD", "nokey", "NOMKSTREAM", "*", "a", "1"],
        &["XTRIM", "s", "MAXLEN", "10"],
        &["XTRIM", "s", "MAXLEN", "1"],
        &["XDEL", "s", "1-0"],
        &["XDEL", "s", "5-0"],
        &["XADD", "s", "6-0", "a", "1"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATE", "m", "g", "$", "MKSTREAM"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
        &["XREADGROUP", "GROUP", "g", "reader", "STREAMS", "s", ">"],
        &["XGROUP", "SETID", "s", "g", "0"],
        &["XCLAIM", "s", "g", "claimer", "0", "6-0", "JUSTID"],
        &["XAUTOCLAIM", "s", "g", "auto", "0", "0", "JUSTID"],
        &["XACK", "s", "g", "6-0"],
        &["XGROUP", "DELCONSUMER", "s", "g", "c"],
        &["XGROUP", "DELCONSUMER", "s", "g", "nobody"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["XGROUP", "DESTROY", "s", "g"],
        &["XSETID", "s", "10-0"],
        &["XSETID", "s", "5-1"],
        &["DEL", "s"],
        &["SET", "end", "x"],
    ];
    run(&mut d, lines);
    let (r, f) = (events_until_end(&mut sub_r), events_until_end(&mut sub_f));
    d.compared += 1;
    if r != f {
        d.fail(
            "keyspace and keyevent messages",
            &r.join(" | "),
            &f.join(" | "),
        );
    }
    d.finish();
}

/// The `channel payload` of every pmessage up to the `set` of key `end`.
fn events_until_end(sub: &mut Raw) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let n = Node::parse(&sub.read_reply());
        let (channel, payload) = (n.kids[2].text(), n.kids[3].text());
        out.push(format!("{channel} {payload}"));
        if channel == "__keyevent@0__:set" && payload == "end" {
            return out;
        }
    }
}

// ---------------------------------------------------------------------------
// Redis 7.2 behaviour (Ferrocache only)
// ---------------------------------------------------------------------------

fn text(c: &mut Raw, args: &[&str]) -> String {
    String::from_utf8_lossy(&call(c, args)).into_owned()
}

/// The values of a field/value reply, by field name.
fn fields(reply: &[u8]) -> Vec<(String, Node)> {
    Node::parse(reply)
        .kids
        .chunks(2)
        .map(|p| (p[0].text(), p[1].clone()))
        .collect()
}

#[test]
fn redis72_xinfo_fields() {
    let node = common::start_ferrocache(&[]);
    let mut c = node.raw();
    call(&mut c, &["XADD", "s", "1-0", "a", "1"]);
    call(&mut c, &["XADD", "s", "2-0", "a", "2"]);
    call(&mut c, &["XDEL", "s", "1-0"]);
    call(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    let info = fields(&call(&mut c, &["XINFO", "STREAM", "s"]));
    let names: Vec<&str> = info.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "length",
            "radix-tree-keys",
            "radix-tree-nodes",
            "last-generated-id",
            "max-deleted-entry-id",
            "entries-added",
            "recorded-first-entry-id",
            "groups",
            "first-entry",
            "last-entry"
        ]
    );
    assert_eq!(info[6].1.text(), "2-0", "recorded-first-entry-id");

    // A consumer is created by a read that serves nothing; it was seen but
    // never active.
    let reply = text(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "idle", "STREAMS", "s", "0"],
    );
    assert_eq!(reply, "*1\r\n*2\r\n$1\r\ns\r\n*0\r\n");
    let consumers = Node::parse(&call(&mut c, &["XINFO", "CONSUMERS", "s", "g"]));
    assert_eq!(consumers.kids.len(), 1);
    let idle = fields(&consumers.kids[0].bytes());
    let names: Vec<&str> = idle.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["name", "pending", "idle", "inactive"]);
    assert_eq!(
        idle[3].1.int(),
        -1,
        "inactive of a consumer that never read"
    );

    // After a read that delivers, `inactive` is a small age, and FULL shows
    // `active-time` next to `seen-time`.
    call(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "idle", "STREAMS", "s", ">"],
    );
    let consumers = Node::parse(&call(&mut c, &["XINFO", "CONSUMERS", "s", "g"]));
    let active = fields(&consumers.kids[0].bytes());
    assert!(
        (0..5000).contains(&active[3].1.int()),
        "inactive: {:?}",
        active[3].1
    );
    let full = fields(&call(&mut c, &["XINFO", "STREAM", "s", "FULL"]));
    let groups = &full.iter().find(|(k, _)| k == "groups").expect("groups").1;
    let group = fields(&groups.kids[0].bytes());
    let consumers = &group
        .iter()
        .find(|(k, _)| k == "consumers")
        .expect("consumers")
        .1;
    let consumer = fields(&consumers.kids[0].bytes());
    let names: Vec<&str> = consumer.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["name", "seen-time", "active-time", "pel-count", "pending"]
    );
    assert!(consumer[2].1.int() > 0, "active-time after a delivery");

    // XCLAIM and XAUTOCLAIM create their consumer even when claiming nothing.
    call(&mut c, &["XCLAIM", "s", "g", "claimer", "0", "9-0"]);
    call(&mut c, &["XAUTOCLAIM", "s", "g", "auto", "3600000", "0"]);
    let consumers = Node::parse(&call(&mut c, &["XINFO", "CONSUMERS", "s", "g"]));
    let names: Vec<String> = consumers
        .kids
        .iter()
        .map(|k| fields(&k.bytes())[0].1.text())
        .collect();
    assert_eq!(names, ["auto", "claimer", "idle"]);
}

#[test]
fn redis72_xsetid_below_max_deleted_id() {
    let node = common::start_ferrocache(&[]);
    let mut c = node.raw();
    call(&mut c, &["XADD", "x", "1-1", "a", "1"]);
    call(&mut c, &["XADD", "x", "1-2", "b", "2"]);
    call(&mut c, &["XADD", "x", "1-3", "c", "3"]);
    call(&mut c, &["XDEL", "x", "1-2"]);
    call(&mut c, &["XDEL", "x", "1-3"]);
    assert_eq!(
        text(&mut c, &["XSETID", "x", "1-2"]),
        "-ERR The ID specified in XSETID is smaller than current max_deleted_entry_id\r\n"
    );
    assert_eq!(text(&mut c, &["XSETID", "x", "1-3"]), "+OK\r\n");
    assert_eq!(
        text(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">", "y"]),
        "-ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.\r\n"
    );
}
