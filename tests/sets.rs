//! Sets end to end: differential tests against a real redis-server (7.0)
//! and Ferrocache-only tests of Redis 7.2 behaviour that 7.0 lacks.
//!
//! Redis 7.0 has no listpack encoding for sets (small sets of strings are
//! hashtables there), so the differential tables compare OBJECT ENCODING
//! only where 7.0 and 7.2 agree (intsets, and hashtables too big for a
//! listpack), and compare the order of a reply only where it is
//! deterministic in both (intset results). Other arrays are compared sorted
//! (`~sort`). The 7.2-only behaviour (listpack encoding and order, SADD's
//! size hint, SPOP's error text, SSCAN over our hashtable) is checked
//! against fixed expectations in the second half.
//!
//! A missing redis-server fails the differential tests (CI installs it).

mod common;

use common::diff::{check, Diff, Node};

use common::Raw;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};

// ---------------------------------------------------------------------------
// Differential tables
// ---------------------------------------------------------------------------

#[test]
fn diff_basics() {
    let long = "x".repeat(70);
    check(
        "sets: basics",
        &[
            &["SADD", "s1", "3", "1", "2"],
            &["SADD", "s1", "2", "4"],
            &["SCARD", "s1"],
            &["SMEMBERS", "s1"],
            &["OBJECT", "ENCODING", "s1"],
            &["SISMEMBER", "s1", "3"],
            &["SISMEMBER", "s1", "9"],
            &["SISMEMBER", "s1", "03"],
            &["SISMEMBER", "s1", "-0"],
            &["SISMEMBER", "s1", " 3"],
            &["SMISMEMBER", "s1", "1", "9", "01", "4"],
            &["SMISMEMBER", "nokey", "a", "b"],
            &["SREM", "s1", "1", "9", "x"],
            &["SMEMBERS", "s1"],
            &["SREM", "s1", "2", "3", "4", "5"],
            &["EXISTS", "s1"],
            &["SMEMBERS", "s1"],
            &["SCARD", "s1"],
            &["SADD", "h", "a", "b", "c", "a"],
            &["~sort", "SMEMBERS", "h"],
            &["SCARD", "h"],
            &["SISMEMBER", "h", "a"],
            &["SMISMEMBER", "h", "c", "d"],
            &["TYPE", "h"],
            &["SADD", "big", "a", &long],
            &["OBJECT", "ENCODING", "big"],
            &["SISMEMBER", "big", &long],
            &["~sort", "SMEMBERS", "big"],
            &[
                "SADD",
                "ints",
                "9223372036854775807",
                "-9223372036854775808",
                "0",
            ],
            &["SMEMBERS", "ints"],
            &["OBJECT", "ENCODING", "ints"],
            &["SADD", "n", "9223372036854775808", "1"],
            &["~sort", "SMEMBERS", "n"],
            &["SISMEMBER", "n", "9223372036854775808"],
            // The intset limit: in both versions an intset past it is a hashtable.
            &["CONFIG", "SET", "set-max-intset-entries", "4"],
            &["SADD", "i", "1", "2", "3", "4"],
            &["OBJECT", "ENCODING", "i"],
            &["SADD", "i", "5"],
            &["OBJECT", "ENCODING", "i"],
            &["~sort", "SMEMBERS", "i"],
            &["CONFIG", "SET", "set-max-intset-entries", "512"],
            // Arity and types.
            &["SADD"],
            &["SADD", "k"],
            &["SREM", "k"],
            &["SCARD"],
            &["SISMEMBER", "k"],
            &["SMISMEMBER", "k"],
            &["SMEMBERS"],
            &["SET", "str", "v"],
            &["SADD", "str", "a"],
            &["SREM", "str", "a"],
            &["SCARD", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SMEMBERS", "str"],
            &["GET", "str"],
        ],
    );
}

#[test]
fn diff_algebra() {
    check(
        "sets: algebra",
        &[
            &["SADD", "a", "1", "2", "3", "4", "5"],
            &["SADD", "b", "4", "5", "6", "7"],
            &["SADD", "c", "5", "7", "9", "11", "13", "15"],
            &["SADD", "s", "x", "y", "1", "5"],
            &["SINTER", "a", "b"],
            &["SINTER", "a", "c"],
            &["SINTER", "b", "a", "c"],
            &["SINTER", "a", "nokey"],
            &["SINTER", "nokey"],
            &["SINTER", "a", "a", "a"],
            &["~sort", "SINTER", "s", "a"],
            &["SINTERCARD", "2", "a", "b"],
            &["SINTERCARD", "2", "a", "b", "LIMIT", "1"],
            &["SINTERCARD", "2", "a", "b", "limit", "0"],
            &["SINTERCARD", "3", "a", "b", "c"],
            &["SINTERCARD", "1", "nokey"],
            &["SINTERCARD", "2", "a", "nokey", "LIMIT", "5"],
            &["SINTERCARD", "0", "a"],
            &["SINTERCARD", "x", "a"],
            &["SINTERCARD", "3", "a", "b"],
            &["SINTERCARD", "1", "a", "b"],
            &["SINTERCARD", "1", "a", "LIMIT"],
            &["SINTERCARD", "1", "a", "LIMIT", "-1"],
            &["SINTERCARD", "1", "a", "LIMIT", "x"],
            &["SINTERCARD"],
            &["SINTERCARD", "1"],
            &["SINTERSTORE", "d", "a", "b"],
            &["SMEMBERS", "d"],
            &["OBJECT", "ENCODING", "d"],
            &["SINTERSTORE", "d", "a", "nokey"],
            &["EXISTS", "d"],
            &["SUNION", "a", "b"],
            &["SUNION", "nokey", "c", "a"],
            &["SUNION", "nokey"],
            &["~sort", "SUNION", "a", "s"],
            &["SUNIONSTORE", "d", "a", "b", "c"],
            &["SMEMBERS", "d"],
            &["OBJECT", "ENCODING", "d"],
            &["SDIFF", "a", "b"],
            &["SDIFF", "a", "b", "c"],
            &["SDIFF", "b", "a"],
            &["SDIFF", "a", "a"],
            &["SDIFF", "a", "nokey", "a"],
            &["SDIFF", "nokey", "a"],
            &["SDIFF", "c", "nokey"],
            &["~sort", "SDIFF", "s", "a"],
            &["SDIFF", "a", "s"],
            &["SDIFFSTORE", "d", "a", "b"],
            &["SMEMBERS", "d"],
            &["OBJECT", "ENCODING", "d"],
            &["SDIFFSTORE", "d", "a", "a"],
            &["EXISTS", "d"],
            // A STORE overwrites any type and drops the TTL.
            &["SET", "dst", "v", "EX", "100"],
            &["SINTERSTORE", "dst", "a", "b"],
            &["TTL", "dst"],
            &["TYPE", "dst"],
            &["SET", "dst", "v"],
            &["SUNIONSTORE", "dst", "nokey1", "nokey2"],
            &["EXISTS", "dst"],
            // The destination may also be a source.
            &["SUNIONSTORE", "a", "a", "b"],
            &["SMEMBERS", "a"],
            &["SDIFFSTORE", "b", "b", "c"],
            &["SMEMBERS", "b"],
            // Types: the first wrong key in argument order fails the command.
            &["SET", "str", "v"],
            &["SINTER", "str", "nokey"],
            &["SINTER", "nokey", "str"],
            &["SINTER", "a", "str"],
            &["SINTERSTORE", "d2", "a", "str"],
            &["EXISTS", "d2"],
            &["SINTERCARD", "2", "a", "str"],
            &["SUNION", "a", "str"],
            &["SUNIONSTORE", "d2", "str"],
            &["SDIFF", "str", "a"],
            &["SDIFF", "a", "str"],
            &["SDIFFSTORE", "d2", "a", "nokey", "str"],
            &["EXISTS", "d2"],
            &["SINTER"],
            &["SINTERSTORE", "d"],
            &["SUNIONSTORE", "d"],
            &["SDIFFSTORE", "d"],
        ],
    );
}

#[test]
fn diff_random_and_move() {
    check(
        "sets: random, pop, move",
        &[
            &["SADD", "r", "3", "1", "2"],
            &["SRANDMEMBER", "r", "10"],
            &["SRANDMEMBER", "r", "3"],
            &["SRANDMEMBER", "r", "0"],
            &["SRANDMEMBER", "nokey", "5"],
            &["SRANDMEMBER", "nokey", "-5"],
            &["SRANDMEMBER", "nokey"],
            &["SRANDMEMBER", "r", "-9223372036854775808"],
            &["SRANDMEMBER", "r", "x"],
            &["SRANDMEMBER", "r", "1", "2"],
            &["SRANDMEMBER"],
            &["SADD", "one", "x"],
            &["SRANDMEMBER", "one", "-3"],
            &["SRANDMEMBER", "one"],
            &["SRANDMEMBER", "one", "1"],
            &["SPOP", "one"],
            &["EXISTS", "one"],
            &["SPOP", "r", "0"],
            &["SPOP", "r", "-1"],
            &["SPOP", "nokey"],
            &["SPOP", "nokey", "2"],
            &["SPOP", "r", "10"],
            &["EXISTS", "r"],
            &["SPOP", "r", "1", "2"],
            &["SPOP"],
            &["SADD", "r", "3", "1", "2"],
            &["SPOP", "r", "3"],
            &["SET", "str", "v"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "0"],
            &["SPOP", "str"],
            &["SPOP", "str", "0"],
            // SMOVE
            &["SADD", "m1", "1", "a", "b"],
            &["SADD", "m2", "2", "3", "4"],
            &["SMOVE", "m1", "m2", "1"],
            &["SMEMBERS", "m2"],
            &["OBJECT", "ENCODING", "m2"],
            &["SMOVE", "m1", "m2", "zz"],
            &["SMOVE", "nokey", "m2", "a"],
            &["SMOVE", "m2", "m3", "2"],
            &["SMEMBERS", "m3"],
            &["OBJECT", "ENCODING", "m3"],
            &["SMOVE", "m2", "m2", "3"],
            &["SMOVE", "m2", "m2", "9"],
            &["SMOVE", "str", "m2", "a"],
            &["SMOVE", "m2", "str", "3"],
            &["SMOVE", "nokey", "str", "a"],
            &["SMOVE", "m3", "m2", "2"],
            &["EXISTS", "m3"],
            &["SMEMBERS", "m2"],
            &["SMOVE", "m1", "m2", "a"],
            &["~sort", "SMEMBERS", "m2"],
            &["~sort", "SMEMBERS", "m1"],
            &["SMOVE", "m1", "m2"],
        ],
    );
}

#[test]
fn diff_sscan_compact() {
    check(
        "sets: sscan",
        &[
            &["SADD", "sc", "1", "2", "3", "10", "20"],
            &["SSCAN", "sc", "0"],
            &["SSCAN", "sc", "0", "MATCH", "1*"],
            &["SSCAN", "sc", "0", "match", "*"],
            &["SSCAN", "sc", "0", "COUNT", "1"],
            &["SSCAN", "sc", "0", "COUNT", "1", "MATCH", "2*"],
            &["SSCAN", "sc", "-1"],
            &["SSCAN", "sc", "0", "COUNT", "0"],
            &["SSCAN", "sc", "0", "COUNT", "x"],
            &["SSCAN", "sc", "0", "COUNT"],
            &["SSCAN", "sc", "0", "FOO", "bar"],
            &["SSCAN", "sc", "0", "TYPE", "set"],
            &["SSCAN", "sc", "x"],
            &["SSCAN", "sc", "1x"],
            &["SSCAN", "nokey", "0"],
            &["SSCAN", "nokey", "0", "COUNT", "0"],
            &["SSCAN", "nokey", "x"],
            &["SET", "str", "v"],
            &["SSCAN", "str", "0"],
            &["SSCAN", "sc"],
        ],
    );
}

/// Random command streams over a few keys, members mixing integers and
/// words; array replies compared sorted (7.0 and 7.2 order small sets of
/// words differently).
#[test]
fn diff_fuzz() {
    let mut d = Diff::new("sets: fuzz");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5e75);
    let keys = ["k1", "k2", "k3", "k4"];
    let member = |rng: &mut rand::rngs::StdRng| -> String {
        match rng.gen_range(0..10) {
            0..=4 => rng.gen_range(-5..40).to_string(),
            5 => ["01", "-0", "+3", "1.5", "", "9223372036854775808"][rng.gen_range(0..6)]
                .to_string(),
            _ => ["a", "b", "c", "dd", "eee", "ffff"][rng.gen_range(0..6)].to_string(),
        }
    };
    for proto in [2u8, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        for _ in 0..1500 {
            let k = |rng: &mut rand::rngs::StdRng| keys[rng.gen_range(0..keys.len())].to_string();
            let mut line: Vec<String> = Vec::new();
            match rng.gen_range(0..14) {
                0..=3 => {
                    line.extend(["SADD".into(), k(&mut rng)]);
                    for _ in 0..rng.gen_range(1..6) {
                        line.push(member(&mut rng));
                    }
                }
                4 | 5 => {
                    line.extend(["SREM".into(), k(&mut rng)]);
                    for _ in 0..rng.gen_range(1..4) {
                        line.push(member(&mut rng));
                    }
                }
                6 => line.extend(["SMOVE".into(), k(&mut rng), k(&mut rng), member(&mut rng)]),
                7 => {
                    let cmd = ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"][rng.gen_range(0..3)];
                    line.extend([cmd.into(), k(&mut rng), k(&mut rng), k(&mut rng)]);
                }
                8 => {
                    let cmd = ["~sort SINTER", "~sort SUNION", "~sort SDIFF"][rng.gen_range(0..3)];
                    line.extend(cmd.split(' ').map(String::from));
                    for _ in 0..rng.gen_range(1..4) {
                        line.push(k(&mut rng));
                    }
                }
                9 => line.extend(["SINTERCARD".into(), "2".into(), k(&mut rng), k(&mut rng)]),
                10 => line.extend(["~sort".into(), "SMEMBERS".into(), k(&mut rng)]),
                11 => line.extend(["SCARD".into(), k(&mut rng)]),
                12 => line.extend(["SISMEMBER".into(), k(&mut rng), member(&mut rng)]),
                _ => line.extend([
                    "~sort".into(),
                    "SMISMEMBER".into(),
                    k(&mut rng),
                    member(&mut rng),
                    member(&mut rng),
                ]),
            }
            let l: Vec<&str> = line.iter().map(String::as_str).collect();
            d.line(&l);
        }
        for k in keys {
            d.line(&["~sort", "SMEMBERS", k]);
            d.line(&["EXISTS", k]);
        }
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// Ferrocache only: Redis 7.2 behaviour
// ---------------------------------------------------------------------------

/// A RESP2 array of bulk strings.
fn arr(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        s.push_str(&format!("${}\r\n{i}\r\n", i.len()));
    }
    s
}

/// Sends a command, returns the raw reply as text.
fn q(c: &mut Raw, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.cmd(&args);
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn encoding(c: &mut Raw, key: &str) -> String {
    let r = q(c, &["OBJECT", "ENCODING", key]);
    Node::parse(r.as_bytes()).text()
}

/// The bulk strings of an array or set reply.
fn members(reply: &str) -> Vec<String> {
    Node::parse(reply.as_bytes())
        .kids
        .iter()
        .map(Node::text)
        .collect()
}

#[test]
fn encodings_and_order_72() {
    let p = common::start_ferrocache(&[]);
    let mut c = p.raw();
    for (k, v) in [
        ("set-max-intset-entries", "4"),
        ("set-max-listpack-entries", "6"),
        ("set-max-listpack-value", "8"),
    ] {
        assert_eq!(q(&mut c, &["CONFIG", "SET", k, v]), "+OK\r\n");
    }
    // intset, ascending; past 4 integers a hashtable.
    q(&mut c, &["SADD", "i", "4", "2", "3", "1"]);
    assert_eq!(encoding(&mut c, "i"), "intset");
    assert_eq!(q(&mut c, &["SMEMBERS", "i"]), arr(&["1", "2", "3", "4"]));
    q(&mut c, &["SADD", "i", "5"]);
    assert_eq!(encoding(&mut c, "i"), "hashtable");
    // SADD's argument count decides the first encoding.
    q(&mut c, &["SADD", "j", "1", "2", "3", "4", "5"]);
    assert_eq!(encoding(&mut c, "j"), "listpack");
    q(&mut c, &["SADD", "dup", "1", "1", "1", "1", "1", "1", "1"]);
    assert_eq!(encoding(&mut c, "dup"), "hashtable");
    assert_eq!(q(&mut c, &["SCARD", "dup"]), ":1\r\n");
    // intset + word: a listpack in intset order, then insertion order.
    q(&mut c, &["SADD", "k", "30", "10"]);
    q(&mut c, &["SADD", "k", "b"]);
    q(&mut c, &["SADD", "k", "a", "20"]);
    assert_eq!(encoding(&mut c, "k"), "listpack");
    assert_eq!(
        q(&mut c, &["SMEMBERS", "k"]),
        arr(&["10", "30", "b", "a", "20"])
    );
    q(&mut c, &["SREM", "k", "b"]);
    assert_eq!(q(&mut c, &["SMEMBERS", "k"]), arr(&["10", "30", "a", "20"]));
    assert_eq!(
        q(&mut c, &["SSCAN", "k", "0", "COUNT", "1"]),
        format!("*2\r\n$1\r\n0\r\n{}", arr(&["10", "30", "a", "20"]))
    );
    // Too long a member, too many members: hashtable.
    q(&mut c, &["SADD", "l", "a", "123456789"]);
    assert_eq!(encoding(&mut c, "l"), "hashtable");
    q(&mut c, &["SADD", "m", "a", "b", "c", "d", "e", "f"]);
    assert_eq!(encoding(&mut c, "m"), "listpack");
    q(&mut c, &["SADD", "m", "g"]);
    assert_eq!(encoding(&mut c, "m"), "hashtable");
    // An intset whose numbers are too long for a listpack value.
    q(&mut c, &["SADD", "n", "123456789"]);
    q(&mut c, &["SADD", "n", "x"]);
    assert_eq!(encoding(&mut c, "n"), "hashtable");
    // SMOVE of a word into an intset: listpack.
    q(&mut c, &["SADD", "src", "w", "v"]);
    q(&mut c, &["SADD", "dst", "7", "3"]);
    assert_eq!(q(&mut c, &["SMOVE", "src", "dst", "w"]), ":1\r\n");
    assert_eq!(encoding(&mut c, "dst"), "listpack");
    assert_eq!(q(&mut c, &["SMEMBERS", "dst"]), arr(&["3", "7", "w"]));
    assert_eq!(q(&mut c, &["SMOVE", "src", "new", "v"]), ":1\r\n");
    assert_eq!(encoding(&mut c, "new"), "listpack");
    assert_eq!(q(&mut c, &["EXISTS", "src"]), ":0\r\n");

    // Algebra results: SUNION starts from an intset.
    q(&mut c, &["SADD", "la", "x", "2", "1"]);
    q(&mut c, &["SADD", "lb", "2", "1", "y"]);
    // lb was created as an intset, so it is [1, 2, y]; la is [x, 2, 1].
    assert_eq!(q(&mut c, &["SMEMBERS", "lb"]), arr(&["1", "2", "y"]));
    assert_eq!(
        q(&mut c, &["SUNION", "lb", "la"]),
        arr(&["1", "2", "y", "x"])
    );
    assert_eq!(
        q(&mut c, &["SUNION", "la", "lb"]),
        arr(&["x", "2", "1", "y"])
    );
    assert_eq!(
        q(&mut c, &["SUNION", "dst", "lb"]),
        arr(&["3", "7", "w", "1", "2", "y"])
    );
    q(&mut c, &["SUNIONSTORE", "u", "la", "lb"]);
    assert_eq!(encoding(&mut c, "u"), "listpack");
    q(&mut c, &["SUNIONSTORE", "u", "la", "lb", "m"]);
    assert_eq!(encoding(&mut c, "u"), "hashtable");
    // SINTERSTORE of listpacks with an integer result: intset.
    assert_eq!(q(&mut c, &["SINTER", "la", "lb"]), arr(&["2", "1"]));
    assert_eq!(q(&mut c, &["SINTERSTORE", "is", "la", "lb"]), ":2\r\n");
    assert_eq!(encoding(&mut c, "is"), "intset");
    q(&mut c, &["SADD", "lc", "x", "2", "q"]);
    q(&mut c, &["SINTERSTORE", "ls", "la", "lc"]);
    assert_eq!(encoding(&mut c, "ls"), "listpack");
    assert_eq!(q(&mut c, &["SMEMBERS", "ls"]), arr(&["x", "2"]));
    // SDIFFSTORE: intsets stay intsets.
    q(&mut c, &["SADD", "ia", "1", "2", "3"]);
    q(&mut c, &["SADD", "ib", "2"]);
    q(&mut c, &["SDIFFSTORE", "id", "ia", "ib"]);
    assert_eq!(encoding(&mut c, "id"), "intset");
    assert_eq!(q(&mut c, &["SDIFF", "la", "ib"]), arr(&["x", "1"]));

    // SPOP with a count leaving few members of a hashtable: a listpack.
    assert_eq!(
        q(
            &mut c,
            &["CONFIG", "SET", "set-max-listpack-entries", "128"]
        ),
        "+OK\r\n"
    );
    let many: Vec<String> = (0..200).map(|i| format!("e{i}")).collect();
    let mut args = vec!["SADD", "h"];
    args.extend(many.iter().map(String::as_str));
    q(&mut c, &args);
    assert_eq!(encoding(&mut c, "h"), "hashtable");
    let popped = members(&q(&mut c, &["SPOP", "h", "190"]));
    assert_eq!(popped.len(), 190);
    assert_eq!(encoding(&mut c, "h"), "listpack");
    let rest = members(&q(&mut c, &["SMEMBERS", "h"]));
    let all: HashSet<String> = popped.into_iter().chain(rest).collect();
    assert_eq!(all.len(), 200);

    // Over RESP3 the same replies are sets.
    assert!(q(&mut c, &["HELLO", "3"]).starts_with('%'));
    assert_eq!(
        q(&mut c, &["SMEMBERS", "ls"]),
        format!("~2\r\n{}{}", bulk("x"), bulk("2"))
    );
    assert_eq!(q(&mut c, &["SINTER", "la", "nokey"]), "~0\r\n");
    assert_eq!(q(&mut c, &["SPOP", "nokey", "3"]), "~0\r\n");
    assert_eq!(q(&mut c, &["SPOP", "nokey"]), "_\r\n");
    assert_eq!(q(&mut c, &["SRANDMEMBER", "nokey", "3"]), "*0\r\n");
    assert_eq!(q(&mut c, &["SRANDMEMBER", "ls", "5"]), arr(&["x", "2"]));
    assert_eq!(
        q(&mut c, &["SSCAN", "ls", "0"]),
        format!("*2\r\n$1\r\n0\r\n{}", arr(&["x", "2"]))
    );
    assert_eq!(
        q(&mut c, &["SMISMEMBER", "ls", "x", "y"]),
        "*2\r\n:1\r\n:0\r\n"
    );
}

#[test]
fn spop_count_errors_72() {
    let p = common::start_ferrocache(&[]);
    let mut c = p.raw();
    // Redis 7.2 answers both with the range error (7.0: "not an integer").
    for count in ["-1", "x", "1.5"] {
        assert_eq!(
            q(&mut c, &["SPOP", "k", count]),
            "-ERR value is out of range, must be positive\r\n"
        );
    }
}

/// SSCAN over a hashtable returns every member present for the whole scan,
/// while another client keeps adding and removing other members (which
/// splits and merges the table under the cursor).
#[test]
fn sscan_hashtable_guarantee_under_writes() {
    let p = common::start_ferrocache(&[]);
    let mut c = p.raw();
    let mut w = p.raw();
    let stable: Vec<String> = (0..3000).map(|i| format!("stable:{i}")).collect();
    for chunk in stable.chunks(500) {
        let mut args = vec!["SADD", "h"];
        args.extend(chunk.iter().map(String::as_str));
        q(&mut c, &args);
    }
    assert_eq!(encoding(&mut c, "h"), "hashtable");
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor = "0".to_string();
    let mut round = 0usize;
    loop {
        let reply = q(&mut c, &["SSCAN", "h", &cursor, "COUNT", "7"]);
        let n = Node::parse(reply.as_bytes());
        cursor = n.kids[0].text();
        for m in &n.kids[1].kids {
            *seen.entry(m.text()).or_default() += 1;
        }
        if cursor == "0" {
            break;
        }
        // Add a burst, then remove it again: the table doubles and halves.
        let (cmd, batch) = match round & 1 {
            0 => ("SADD", round),
            _ => ("SREM", round - 1),
        };
        let burst: Vec<String> = (0..400).map(|i| format!("tmp:{batch}:{i}")).collect();
        let mut args = vec![cmd, "h"];
        args.extend(burst.iter().map(String::as_str));
        q(&mut w, &args);
        round += 1;
        assert!(round < 100_000, "scan does not terminate");
    }
    for m in &stable {
        assert!(seen.contains_key(m), "SSCAN missed {m}");
    }
    for (m, n) in &seen {
        assert!(m.starts_with("tmp:") || *n == 1, "{m} returned {n} times");
    }
    // Without writes a full scan returns every member exactly once.
    let total: usize = members(&q(&mut c, &["SMEMBERS", "h"])).len();
    let mut count = 0;
    let mut cursor = "0".to_string();
    loop {
        let reply = q(
            &mut c,
            &["SSCAN", "h", &cursor, "COUNT", "100", "MATCH", "*"],
        );
        let n = Node::parse(reply.as_bytes());
        cursor = n.kids[0].text();
        count += n.kids[1].kids.len();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(count, total);
}

/// SRANDMEMBER and SPOP draw uniformly in every encoding.
#[test]
fn random_members_are_uniform() {
    let p = common::start_ferrocache(&[]);
    let mut c = p.raw();
    let sets: [(&str, Vec<String>); 3] = [
        ("ints", (0..10).map(|i| i.to_string()).collect()),
        ("words", (0..10).map(|i| format!("w{i}")).collect()),
        (
            "table",
            (0..10).map(|i| format!("{}{i}", "t".repeat(70))).collect(),
        ),
    ];
    for (key, items) in &sets {
        let mut args = vec!["SADD", key];
        args.extend(items.iter().map(String::as_str));
        q(&mut c, &args);
        let mut hist: HashMap<String, usize> = HashMap::new();
        for m in members(&q(&mut c, &["SRANDMEMBER", key, "-10000"])) {
            *hist.entry(m).or_default() += 1;
        }
        for _ in 0..500 {
            for m in members(&q(&mut c, &["SRANDMEMBER", key, "3"])) {
                *hist.entry(m).or_default() += 1;
            }
        }
        assert_eq!(hist.len(), 10, "{key}: {hist:?}");
        // 11500 draws over 10 members: 1150 each, chi-square with 9 df.
        let chi: f64 = hist
            .values()
            .map(|&n| (n as f64 - 1150.0).powi(2) / 1150.0)
            .sum();
        assert!(chi < 40.0, "{key}: chi-square {chi}, {hist:?}");
    }
    // SPOP eventually takes every member.
    let mut popped = HashSet::new();
    loop {
        let got = members(&q(&mut c, &["SPOP", "words", "3"]));
        if got.is_empty() {
            break;
        }
        for m in got {
            assert!(popped.insert(m), "popped twice");
        }
    }
    assert_eq!(q(&mut c, &["EXISTS", "words"]), ":0\r\n");
    assert_eq!(popped.len(), 10);
}
