//! Bitmaps end to end: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO compared byte for byte with a real redis-server (7.0), plus
//! fixed expectations for the Redis 7.2 behaviour 7.0 lacks (7.2 checks
//! the arguments of BITCOUNT and BITPOS before looking the key up, so a
//! missing key no longer hides a bad argument).
//!
//! A missing redis-server fails the differential tests (CI installs it).

mod common;

use common::diff::{check, Diff};
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------
// Differential tables
// ---------------------------------------------------------------------------

#[test]
fn diff_setbit_getbit() {
    check(
        "bitmaps: setbit/getbit",
        &[
            &["SETBIT", "k", "7", "1"],
            &["SETBIT", "k", "7", "1"],
            &["GET", "k"],
            &["GETBIT", "k", "7"],
            &["GETBIT", "k", "6"],
            &["GETBIT", "k", "100000"],
            &["GETBIT", "nokey", "3"],
            &["SETBIT", "k", "100", "0"],
            &["STRLEN", "k"],
            &["SETBIT", "k", "-1", "1"],
            &["SETBIT", "k", "4294967296", "1"],
            &["SETBIT", "k", "4294967295", "1x"],
            &["SETBIT", "k", "1", "2"],
            &["SETBIT", "k", "1", "-1"],
            &["SETBIT", "k", "x", "1"],
            &["GETBIT", "k", "-1"],
            &["GETBIT", "k", "4294967296"],
            &["SET", "n", "12"],
            &["GETBIT", "n", "2"],
            &["GETBIT", "n", "3"],
            &["SETBIT", "n", "6", "1"],
            &["GET", "n"],
            &["OBJECT", "ENCODING", "n"],
            &["LPUSH", "l", "a"],
            &["SETBIT", "l", "0", "1"],
            &["GETBIT", "l", "0"],
        ],
    );
}

#[test]
fn diff_bitcount() {
    check(
        "bitmaps: bitcount",
        &[
            &["SET", "s", "foobar"],
            &["BITCOUNT", "s"],
            &["BITCOUNT", "s", "0", "0"],
            &["BITCOUNT", "s", "1", "1"],
            &["BITCOUNT", "s", "0", "-1"],
            &["BITCOUNT", "s", "-2", "-1"],
            &["BITCOUNT", "s", "-1", "-2"],
            &["BITCOUNT", "s", "-10", "-20"],
            &["BITCOUNT", "s", "-20", "-10"],
            &["BITCOUNT", "s", "2", "1"],
            &["BITCOUNT", "s", "100", "200"],
            &["BITCOUNT", "s", "-100", "100"],
            &["BITCOUNT", "s", "1", "1", "BYTE"],
            &["BITCOUNT", "s", "5", "30", "BIT"],
            &["BITCOUNT", "s", "5", "30", "bit"],
            &["BITCOUNT", "s", "0", "-1", "BIT"],
            &["BITCOUNT", "s", "-3", "-1", "BIT"],
            &["BITCOUNT", "s", "7", "7", "BIT"],
            &["BITCOUNT", "s", "9", "8", "BIT"],
            &["BITCOUNT", "s", "0", "1000", "BIT"],
            &[
                "BITCOUNT",
                "s",
                "-9223372036854775808",
                "9223372036854775807",
                "BIT",
            ],
            &["BITCOUNT", "s", "0", "1", "WORD"],
            &["BITCOUNT", "s", "0"],
            &["BITCOUNT", "s", "0", "1", "BIT", "x"],
            &["BITCOUNT", "s", "a", "1"],
            &["BITCOUNT", "s", "0", "1.5"],
            &["BITCOUNT", "s", "0", "9223372036854775808"],
            &["BITCOUNT", "nokey"],
            &["BITCOUNT", "nokey", "0", "10"],
            &["SET", "n", "-1234567890"],
            &["BITCOUNT", "n"],
            &["BITCOUNT", "n", "1", "3"],
            &["BITCOUNT", "n", "3", "20", "BIT"],
            &["SET", "e", ""],
            &["BITCOUNT", "e"],
            &["BITCOUNT", "e", "0", "-1"],
            &["BITCOUNT", "e", "0", "-1", "BIT"],
            &["SADD", "set", "a"],
            &["BITCOUNT", "set"],
            &["BITCOUNT", "set", "0", "1"],
        ],
    );
}

#[test]
fn diff_bitpos() {
    check(
        "bitmaps: bitpos",
        &[
            &["SET", "ones", "\u{7f}"],
            &["SETRANGE", "full", "0", "\u{0}"],
            &["SETBIT", "a", "0", "1"],
            &["SETBIT", "a", "1", "1"],
            &["SETBIT", "a", "2", "1"],
            &["SETBIT", "a", "3", "1"],
            &["SETBIT", "a", "4", "1"],
            &["SETBIT", "a", "5", "1"],
            &["SETBIT", "a", "6", "1"],
            &["SETBIT", "a", "7", "1"],
            &["SETBIT", "a", "8", "1"],
            &["SETBIT", "a", "15", "1"],
            &["SETBIT", "a", "9", "1"],
            &["SETBIT", "a", "10", "1"],
            &["SETBIT", "a", "11", "1"],
            &["SETBIT", "a", "12", "1"],
            &["SETBIT", "a", "13", "1"],
            &["SETBIT", "a", "14", "1"],
            // "a" is two 0xff bytes: a clear bit only past the end.
            &["BITPOS", "a", "0"],
            &["BITPOS", "a", "0", "0"],
            &["BITPOS", "a", "0", "1"],
            &["BITPOS", "a", "0", "0", "-1"],
            &["BITPOS", "a", "0", "0", "1"],
            &["BITPOS", "a", "0", "0", "1", "BYTE"],
            &["BITPOS", "a", "0", "0", "15", "BIT"],
            &["BITPOS", "a", "0", "5", "-1", "BIT"],
            &["BITPOS", "a", "1"],
            &["BITPOS", "a", "1", "1"],
            &["BITPOS", "a", "1", "3"],
            &["BITPOS", "a", "1", "3", "5", "BIT"],
            &["BITPOS", "a", "1", "-3", "-1", "BIT"],
            &["BITPOS", "a", "1", "2", "1"],
            &["BITPOS", "a", "0", "2", "1"],
            &["BITPOS", "a", "0", "2"],
            &["BITPOS", "ones", "0"],
            &["BITPOS", "ones", "1"],
            &["BITPOS", "ones", "1", "2", "5", "BIT"],
            &["BITPOS", "ones", "0", "1", "5", "BIT"],
            &["BITPOS", "full", "1"],
            &["BITPOS", "full", "0"],
            &["BITPOS", "full", "1", "0", "-1", "BIT"],
            &["BITPOS", "nokey", "0"],
            &["BITPOS", "nokey", "1"],
            &["BITPOS", "nokey", "0", "5", "10"],
            &["BITPOS", "a", "2"],
            &["BITPOS", "a", "-1"],
            &["BITPOS", "a", "x"],
            &["BITPOS", "a", "1", "x"],
            &["BITPOS", "a", "1", "0", "x"],
            &["BITPOS", "a", "1", "0", "1", "NIBBLE"],
            &["BITPOS", "a", "1", "0", "1", "BIT", "extra"],
            &["SET", "n", "0"],
            &["BITPOS", "n", "1"],
            &["BITPOS", "n", "0"],
            &["SET", "e", ""],
            &["BITPOS", "e", "0"],
            &["BITPOS", "e", "1"],
            &["BITPOS", "e", "0", "0"],
            &["BITPOS", "e", "0", "0", "-1", "BIT"],
            &["HSET", "h", "f", "v"],
            &["BITPOS", "h", "0"],
            &["BITPOS", "h", "1", "0", "-1"],
        ],
    );
}

#[test]
fn diff_bitop() {
    let long_a: String = (0..100)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let long_b: String = (0..77).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
    check(
        "bitmaps: bitop",
        &[
            &["SET", "a", "foobar"],
            &["SET", "b", "abcdef"],
            &["SET", "c", "xy"],
            &["SET", "la", &long_a],
            &["SET", "lb", &long_b],
            &["SET", "n", "123456"],
            &["BITOP", "AND", "d", "a", "b"],
            &["GET", "d"],
            &["BITOP", "or", "d", "a", "c"],
            &["GET", "d"],
            &["OBJECT", "ENCODING", "d"],
            &["BITOP", "Xor", "d", "a", "b", "c"],
            &["GET", "d"],
            &["BITOP", "AND", "d", "a", "c"],
            &["GET", "d"],
            &["BITOP", "NOT", "d", "a"],
            &["GET", "d"],
            &["BITOP", "AND", "d", "la", "lb", "a"],
            &["GET", "d"],
            &["BITOP", "OR", "d", "la", "lb"],
            &["GET", "d"],
            &["BITOP", "XOR", "d", "la", "lb", "la"],
            &["GET", "d"],
            &["BITOP", "NOT", "d", "la"],
            &["GET", "d"],
            &["BITOP", "AND", "d", "la", "nokey"],
            &["GET", "d"],
            &["BITOP", "OR", "d", "nokey", "lb"],
            &["GET", "d"],
            &["BITOP", "XOR", "d", "n", "a"],
            &["GET", "d"],
            &["BITOP", "OR", "a2", "a", "a"],
            &["GET", "a2"],
            &["BITOP", "XOR", "a", "a", "a"],
            &["GET", "a"],
            &["SET", "a", "foobar"],
            // The destination loses its TTL.
            &["SET", "t", "x", "EX", "100"],
            &["BITOP", "OR", "t", "b"],
            &["TTL", "t"],
            // An empty result deletes the destination.
            &["BITOP", "OR", "d", "nokey", "nokey2"],
            &["EXISTS", "d"],
            &["BITOP", "NOT", "d", "nokey"],
            &["SET", "e", ""],
            &["BITOP", "AND", "d", "e", "e"],
            &["EXISTS", "d"],
            &["BITOP", "NOT", "d", "a", "b"],
            &["BITOP", "NOT", "d"],
            &["BITOP", "NAND", "d", "a", "b"],
            &["BITOP", "AND", "d"],
            &["LPUSH", "l", "x"],
            &["BITOP", "AND", "d", "a", "l"],
            &["BITOP", "AND", "d", "l", "nokey"],
            &["BITOP", "NOT", "d", "l"],
            // A wrong-typed destination is simply overwritten.
            &["BITOP", "AND", "l", "a", "b"],
            &["TYPE", "l"],
            &["GET", "l"],
            &["LPUSH", "l2", "x"],
            &["BITOP", "AND", "l2", "nokey"],
            &["EXISTS", "l2"],
        ],
    );
}

#[test]
fn diff_bitfield() {
    check(
        "bitmaps: bitfield",
        &[
            &["BITFIELD", "k", "SET", "i8", "0", "100"],
            &[
                "BITFIELD", "k", "GET", "i8", "0", "GET", "u4", "0", "GET", "u4", "4",
            ],
            &["BITFIELD", "k", "INCRBY", "i8", "0", "27"],
            &["BITFIELD", "k", "INCRBY", "i8", "0", "1"],
            &[
                "BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100",
            ],
            &[
                "BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-1000",
            ],
            &[
                "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "-1",
            ],
            &["BITFIELD", "k", "GET", "i8", "0"],
            &[
                "BITFIELD", "k", "OVERFLOW", "wrap", "INCRBY", "i8", "0", "-1",
            ],
            &["BITFIELD", "k", "SET", "u8", "#1", "255", "GET", "u8", "8"],
            &["BITFIELD", "k", "SET", "u8", "#1", "256", "GET", "u8", "8"],
            &["BITFIELD", "k", "SET", "u8", "#1", "-1", "GET", "u8", "8"],
            &["BITFIELD", "k", "OVERFLOW", "SAT", "SET", "u8", "#1", "-1"],
            &[
                "BITFIELD", "k", "OVERFLOW", "SAT", "SET", "u8", "#1", "1000",
            ],
            &[
                "BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i8", "#1", "-1000",
            ],
            &[
                "BITFIELD",
                "k",
                "OVERFLOW",
                "SAT",
                "SET",
                "i8",
                "#1",
                "-9223372036854775808",
            ],
            &[
                "BITFIELD",
                "k",
                "OVERFLOW",
                "SAT",
                "SET",
                "i8",
                "#1",
                "-9223372036854775681",
            ],
            &[
                "BITFIELD",
                "k",
                "OVERFLOW",
                "SAT",
                "SET",
                "i8",
                "#1",
                "-9223372036854775680",
            ],
            &[
                "BITFIELD",
                "k",
                "OVERFLOW",
                "SAT",
                "SET",
                "i64",
                "#1",
                "-9223372036854775808",
            ],
            &[
                "BITFIELD",
                "k",
                "OVERFLOW",
                "FAIL",
                "SET",
                "i8",
                "#1",
                "-9223372036854775808",
            ],
            &[
                "BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "i8", "#1", "-129",
            ],
            &[
                "BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "i8", "#1", "-128",
            ],
            &[
                "BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u2", "#1", "4", "SET", "u2", "#1", "3",
            ],
            &["GET", "k"],
            &[
                "BITFIELD", "k", "SET", "u1", "3", "1", "INCRBY", "u1", "3", "1",
            ],
            &[
                "BITFIELD", "k", "SET", "i1", "3", "0", "INCRBY", "i1", "3", "1",
            ],
            &["BITFIELD", "k", "INCRBY", "i1", "3", "1"],
            &["BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i1", "3", "5"],
            &["BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u1", "3", "5"],
            &[
                "BITFIELD",
                "w",
                "SET",
                "i64",
                "5",
                "9223372036854775807",
                "INCRBY",
                "i64",
                "5",
                "1",
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "i64",
                "5",
                "-1",
                "INCRBY",
                "i64",
                "5",
                "-9223372036854775808",
                "INCRBY",
                "i64",
                "5",
                "-9223372036854775808",
                "OVERFLOW",
                "FAIL",
                "INCRBY",
                "i64",
                "5",
                "-1",
                "GET",
                "i64",
                "5",
                "GET",
                "u63",
                "6",
            ],
            &[
                "BITFIELD",
                "w",
                "SET",
                "u63",
                "3",
                "9223372036854775807",
                "INCRBY",
                "u63",
                "3",
                "1",
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "u63",
                "3",
                "9223372036854775807",
                "INCRBY",
                "u63",
                "3",
                "-9223372036854775808",
            ],
            &["GET", "w"],
            // Offsets past the end read zeros; a GET creates nothing.
            &["BITFIELD", "nokey", "GET", "u8", "100", "GET", "i64", "#3"],
            &["EXISTS", "nokey"],
            &["BITFIELD", "nokey"],
            &["EXISTS", "nokey"],
            &["BITFIELD", "nokey", "OVERFLOW", "FAIL"],
            &["EXISTS", "nokey"],
            // A write creates the key sized for the farthest write, even when
            // the write itself fails.
            &[
                "BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u8", "100", "999",
            ],
            &["STRLEN", "f"],
            &["BITFIELD", "g", "GET", "u8", "200", "SET", "u4", "#5", "3"],
            &["GET", "g"],
            &["BITFIELD_RO", "g", "GET", "u4", "#5", "GET", "i4", "#5"],
            &["BITFIELD_RO", "g"],
            &["BITFIELD_RO", "g", "SET", "u4", "0", "1"],
            &["BITFIELD_RO", "g", "INCRBY", "u4", "0", "1"],
            &["BITFIELD_RO", "g", "OVERFLOW", "SAT", "GET", "u4", "0"],
            &["BITFIELD_RO", "g", "GET", "u64", "0"],
            &["BITFIELD_RO", "nokey", "GET", "i5", "1"],
            // Integer-encoded strings read as their text.
            &["SET", "n", "1234"],
            &["BITFIELD", "n", "GET", "u8", "0", "GET", "u16", "#1"],
            &["BITFIELD", "n", "SET", "u8", "0", "57"],
            &["GET", "n"],
            // Errors.
            &["BITFIELD", "k", "GET", "u64", "0"],
            &["BITFIELD", "k", "GET", "i65", "0"],
            &["BITFIELD", "k", "GET", "i0", "0"],
            &["BITFIELD", "k", "GET", "u0", "0"],
            &["BITFIELD", "k", "GET", "I8", "0"],
            &["BITFIELD", "k", "GET", "x8", "0"],
            &["BITFIELD", "k", "GET", "i", "0"],
            &["BITFIELD", "k", "GET", "", "0"],
            &["BITFIELD", "k", "GET", "i08", "0"],
            &["BITFIELD", "k", "GET", "i-8", "0"],
            &["BITFIELD", "k", "GET", "i8", "-1"],
            &["BITFIELD", "k", "GET", "i8", "x"],
            &["BITFIELD", "k", "GET", "i8", "#-1"],
            &["BITFIELD", "k", "GET", "i8", "##1"],
            &["BITFIELD", "k", "GET", "i8", "#"],
            &["BITFIELD", "k", "GET", "i8", "4294967296"],
            &["BITFIELD", "k", "GET", "i8", "4294967295"],
            &["BITFIELD", "k", "GET", "i8", "#536870912"],
            &["BITFIELD", "k", "GET", "i8", "#536870911"],
            &["BITFIELD", "k", "SET", "i8", "#536870912", "1"],
            &["BITFIELD", "k", "SET", "i8", "0", "x"],
            &["BITFIELD", "k", "SET", "i8", "0", "1.5"],
            &["BITFIELD", "k", "INCRBY", "i8", "0", "9223372036854775808"],
            &["BITFIELD", "k", "SET", "i8", "0"],
            &["BITFIELD", "k", "GET", "i8"],
            &["BITFIELD", "k", "OVERFLOW"],
            &["BITFIELD", "k", "OVERFLOW", "SATURATE", "GET", "i8", "0"],
            &["BITFIELD", "k", "FETCH", "i8", "0"],
            &["BITFIELD", "k", "GET", "i8", "0", "SET", "u64", "0", "1"],
            &["BITFIELD", "k", "SET", "i8", "0", "1", "GET", "i8"],
            &["GET", "k"],
            &["HSET", "h", "f", "v"],
            &["BITFIELD", "h", "GET", "i8", "0"],
            &["BITFIELD", "h", "SET", "i8", "0", "1"],
            &["BITFIELD_RO", "h", "GET", "i8", "0"],
            &["BITFIELD_RO", "h", "SET", "i8", "0", "1"],
            &["BITFIELD", "h", "GET", "i8", "x"],
        ],
    );
}

/// BITOP's `set`/`del` and BITFIELD's and SETBIT's `setbit` events, only
/// when something changed, in order.
#[test]
fn diff_notifications() {
    let mut d = Diff::new("bitmaps: notifications");
    d.reconnect(2);
    d.line(&["~skip", "CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let (mut sub_r, mut sub_f) = (d.redis.raw(), d.ferro.raw());
    for sub in [&mut sub_r, &mut sub_f] {
        sub.cmd(&[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
        sub.read_reply();
    }
    d.run(&[
        &["SETBIT", "a", "3", "1"],
        &["SETBIT", "a", "3", "1"],
        &["SETBIT", "a", "3", "0"],
        &["SETBIT", "a", "30", "0"],
        &["BITOP", "NOT", "d", "a"],
        &["BITOP", "AND", "d", "nokey"],
        &["BITOP", "AND", "d", "nokey"],
        &["BITFIELD", "b", "GET", "u8", "0"],
        &["BITFIELD", "b", "SET", "u8", "0", "0"],
        &["BITFIELD", "b", "SET", "u8", "0", "0"],
        &[
            "BITFIELD", "b", "SET", "u8", "0", "5", "SET", "u8", "0", "5",
        ],
        &[
            "BITFIELD", "b", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000",
        ],
        &["BITFIELD", "b", "INCRBY", "u8", "0", "0"],
        &["BITFIELD", "b", "SET", "u8", "100", "0"],
        &["SET", "end", "x"],
    ]);
    // setbit a (new), setbit a (cleared), setbit a (grown), set d, del d,
    // setbit b (new), setbit b (5), setbit b (grown), set end.
    for _ in 0..9 {
        let (r, f) = (sub_r.read_reply(), sub_f.read_reply());
        if r != f {
            let (rs, fs) = (common::diff::show(&r), common::diff::show(&f));
            d.fail("keyevent", &rs, &fs);
        }
    }
    d.finish();
}

/// A watched key counts as modified only when a bit actually changed (or
/// the string grew), as Redis signals it.
#[test]
fn diff_watch() {
    let mut lines: Vec<Vec<&str>> = vec![vec!["SETBIT", "k", "3", "1"], vec!["SET", "b", "x"]];
    let writes: &[&[&str]] = &[
        &["SETBIT", "k", "3", "1"],
        &["SETBIT", "k", "3", "0"],
        &["SETBIT", "k", "3", "0"],
        &["SETBIT", "k", "100", "0"],
        &["BITFIELD", "k", "SET", "u4", "0", "0"],
        &["BITFIELD", "k", "SET", "u4", "0", "7"],
        &["BITFIELD", "k", "INCRBY", "u4", "0", "0"],
        &[
            "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u4", "0", "100",
        ],
        &["BITFIELD", "k", "GET", "u4", "0"],
        &["BITFIELD", "k", "SET", "u4", "2000", "0"],
        &["BITOP", "OR", "k", "k"],
        &["BITOP", "OR", "b", "k"],
        &["BITCOUNT", "k"],
    ];
    for w in writes {
        lines.push(vec!["WATCH", "k", "b"]);
        lines.push(w.to_vec());
        lines.push(vec!["MULTI"]);
        lines.push(vec!["PING"]);
        lines.push(vec!["EXEC"]);
    }
    let lines: Vec<&[&str]> = lines.iter().map(|l| l.as_slice()).collect();
    check("bitmaps: watch", &lines);
}

// ---------------------------------------------------------------------------
// Random differential sweeps
// ---------------------------------------------------------------------------

/// Random strings (mostly sparse or mostly full, to hit the word paths),
/// then BITCOUNT and BITPOS over random ranges in both units.
#[test]
fn diff_random_counts_and_positions() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let mut d = Diff::new("bitmaps: random bitcount/bitpos");
    d.reconnect(2);
    let mut lines: Vec<Vec<String>> = Vec::new();
    for round in 0..40 {
        let key = format!("k{round}");
        let len = rng.gen_range(1..90);
        let fill = rng.gen_range(0..3);
        let bits = len * 8;
        // Built with SETBIT so the string is the same on both servers
        // whatever bytes it holds.
        lines.push(vec![
            "SETBIT".into(),
            key.clone(),
            (bits - 1).to_string(),
            "0".into(),
        ]);
        for i in 0..bits {
            let on = match fill {
                0 => rng.gen_bool(0.5),
                1 => rng.gen_ratio(1, 50),
                _ => !rng.gen_ratio(1, 50),
            };
            if on {
                lines.push(vec![
                    "SETBIT".into(),
                    key.clone(),
                    i.to_string(),
                    "1".into(),
                ]);
            }
        }
        lines.push(vec!["BITCOUNT".into(), key.clone()]);
        for bit in ["0", "1"] {
            lines.push(vec!["BITPOS".into(), key.clone(), bit.into()]);
        }
        for _ in 0..30 {
            let in_bits = rng.gen_bool(0.5);
            let span = if in_bits {
                bits as i64 + 20
            } else {
                len as i64 + 3
            };
            let start = rng.gen_range(-span..span).to_string();
            let end = rng.gen_range(-span..span).to_string();
            let unit = if in_bits { "BIT" } else { "BYTE" };
            let mut count = vec!["BITCOUNT".into(), key.clone(), start.clone(), end.clone()];
            if in_bits || rng.gen_bool(0.5) {
                count.push(unit.into());
            }
            lines.push(count);
            let bit = if rng.gen_bool(0.5) { "1" } else { "0" };
            let mut pos = vec!["BITPOS".into(), key.clone(), bit.into(), start];
            match rng.gen_range(0..3) {
                0 if !in_bits => {}
                1 if !in_bits => pos.push(end),
                _ => {
                    pos.push(end);
                    pos.push(unit.into());
                }
            }
            lines.push(pos);
        }
    }
    d.run_owned(&lines);
    d.finish();
}

/// Random BITOPs over random strings of assorted lengths.
#[test]
fn diff_random_bitop() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    let mut d = Diff::new("bitmaps: random bitop");
    d.reconnect(2);
    let mut lines: Vec<Vec<String>> = Vec::new();
    for i in 0..8 {
        let key = format!("s{i}");
        let len = rng.gen_range(0..200usize);
        for _ in 0..len {
            // Fields of 8 bits written with BITFIELD give arbitrary bytes.
            let byte: u8 = rng.gen();
            let at = rng.gen_range(0..len);
            lines.push(vec![
                "BITFIELD".into(),
                key.clone(),
                "SET".into(),
                "u8".into(),
                format!("#{at}"),
                byte.to_string(),
            ]);
        }
    }
    for _ in 0..150 {
        let op = ["AND", "OR", "XOR", "NOT"][rng.gen_range(0..4)];
        let n = if op == "NOT" { 1 } else { rng.gen_range(1..6) };
        let dst = format!("s{}", rng.gen_range(0..10));
        let mut line = vec!["BITOP".to_string(), op.into(), dst.clone()];
        for _ in 0..n {
            line.push(format!("s{}", rng.gen_range(0..10)));
        }
        lines.push(line);
        lines.push(vec!["GET".into(), dst.clone()]);
        lines.push(vec!["BITCOUNT".into(), dst]);
    }
    d.run_owned(&lines);
    d.finish();
}

/// A random integer argument: mostly small, sometimes near the edges of
/// the i64 range.
fn random_value(rng: &mut impl Rng) -> String {
    match rng.gen_range(0..5) {
        0 => rng.gen::<i64>().to_string(),
        1 => (i64::MAX - rng.gen_range(0..3)).to_string(),
        2 => (i64::MIN + rng.gen_range(0..3)).to_string(),
        _ => rng.gen_range(-300i64..300).to_string(),
    }
}

/// Random BITFIELD command sequences (every type width, plain and `#N`
/// offsets, overflow modes switching mid-command) on a few keys.
#[test]
fn diff_random_bitfield() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let mut d = Diff::new("bitmaps: random bitfield");
    let mut lines: Vec<Vec<String>> = Vec::new();
    for _ in 0..600 {
        let key = format!("b{}", rng.gen_range(0..3));
        let read_only = rng.gen_ratio(1, 8);
        let mut line = vec![
            if read_only { "BITFIELD_RO" } else { "BITFIELD" }.to_string(),
            key.clone(),
        ];
        for _ in 0..rng.gen_range(1..6) {
            if rng.gen_ratio(1, 5) {
                let ow = ["WRAP", "SAT", "FAIL", "wrap", "sat", "fail"][rng.gen_range(0..6)];
                line.extend(["OVERFLOW".to_string(), ow.into()]);
            }
            let signed = rng.gen_bool(0.5);
            let bits = if signed {
                rng.gen_range(1..=64)
            } else {
                rng.gen_range(1..=63)
            };
            let ty = format!("{}{bits}", if signed { "i" } else { "u" });
            let offset = if rng.gen_bool(0.3) {
                format!("#{}", rng.gen_range(0..12))
            } else {
                rng.gen_range(0..300).to_string()
            };
            let sub = if read_only && !rng.gen_ratio(1, 20) {
                0
            } else {
                rng.gen_range(0..3)
            };
            match sub {
                0 => line.extend(["GET".to_string(), ty, offset]),
                1 => line.extend(["SET".to_string(), ty, offset, random_value(&mut rng)]),
                _ => line.extend(["INCRBY".to_string(), ty, offset, random_value(&mut rng)]),
            }
        }
        lines.push(line);
        if rng.gen_ratio(1, 10) {
            lines.push(vec!["GET".into(), key]);
        }
    }
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        d.run_owned(&lines);
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// Redis 7.2 behaviour (fixed expectations)
// ---------------------------------------------------------------------------

/// Redis 7.2 parses BITCOUNT's and BITPOS's arguments before looking up
/// the key, so a missing key no longer answers 0 to a malformed command.
#[test]
fn arguments_checked_before_the_key() {
    let ferro = common::start_ferrocache(&[]);
    let mut c = ferro.raw();
    let mut call = |args: &[&str]| {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        c.cmd(&args);
        String::from_utf8_lossy(&c.read_reply()).into_owned()
    };
    let not_int = "-ERR value is not an integer or out of range\r\n";
    let syntax = "-ERR syntax error\r\n";
    assert_eq!(call(&["BITCOUNT", "nokey", "a", "1"]), not_int);
    assert_eq!(call(&["BITCOUNT", "nokey", "0", "1", "WORD"]), syntax);
    assert_eq!(call(&["BITCOUNT", "nokey", "0"]), syntax);
    assert_eq!(call(&["BITCOUNT", "nokey", "0", "1", "BIT"]), ":0\r\n");
    assert_eq!(call(&["BITPOS", "nokey", "1", "x"]), not_int);
    assert_eq!(call(&["BITPOS", "nokey", "1", "0", "x"]), not_int);
    assert_eq!(call(&["BITPOS", "nokey", "0", "0", "1", "WORD"]), syntax);
    assert_eq!(call(&["BITPOS", "nokey", "0", "0", "1", "BIT"]), ":0\r\n");
    assert_eq!(call(&["BITPOS", "nokey", "1", "0", "1", "BIT"]), ":-1\r\n");
}

/// BITFIELD offsets are bounded by proto-max-bulk-len, like SETBIT's.
#[test]
fn offsets_follow_proto_max_bulk_len() {
    let ferro = common::start_ferrocache(&[]);
    let mut c = ferro.raw();
    let mut call = |args: &[&str]| {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        c.cmd(&args);
        String::from_utf8_lossy(&c.read_reply()).into_owned()
    };
    let bad = "-ERR bit offset is not an integer or out of range\r\n";
    assert_eq!(
        call(&["CONFIG", "SET", "proto-max-bulk-len", "1048576"]),
        "+OK\r\n"
    );
    assert_eq!(call(&["SETBIT", "k", "8388608", "1"]), bad);
    assert_eq!(call(&["BITFIELD", "k", "GET", "u8", "#1048576"]), bad);
    assert_eq!(
        call(&["BITFIELD", "k", "GET", "u8", "#1048575"]),
        "*1\r\n:0\r\n"
    );
    assert_eq!(call(&["SETBIT", "k", "8388607", "1"]), ":0\r\n");
    assert_eq!(call(&["STRLEN", "k"]), ":1048576\r\n");
    assert_eq!(call(&["BITCOUNT", "k"]), ":1\r\n");
    assert_eq!(call(&["BITPOS", "k", "1"]), ":8388607\r\n");
    assert_eq!(call(&["BITPOS", "k", "0", "-1"]), ":8388600\r\n");
}
