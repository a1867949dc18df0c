//! Differential tests: the same command streams go to a real redis-server
//! (7.0) and to Ferrocache, and the replies must match byte for byte.
//!
//! Each case is a table of command lines. A line may start with a marker
//! that changes how its replies are compared:
//!
//! * `~sort`    the reply is an array whose order legitimately differs
//!   (KEYS): its elements are sorted before comparing;
//! * `~clock`   an integer that depends on the clock (PTTL, OBJECT IDLETIME):
//!   negative ones (-1, -2) must be equal, others close;
//! * `~subcommands` a COMMAND INFO/DOCS reply: container subcommands are
//!   compared sorted, and only those both servers have;
//! * `~skip`    sent to both and the replies read, but not compared (a
//!   successful HELLO: its map holds the server version and client id);
//! * `~noreply` sent to both, no reply expected (CLIENT REPLY OFF/SKIP).
//!
//! Most families run twice: over RESP2 and, on fresh connections after
//! `HELLO 3`, over RESP3. A missing redis-server is a failure, not a skip:
//! CI installs it.

mod common;

use common::diff::{sorted, Node};

use std::time::Duration;

use commands::{arg_flag, Arg, ArgType, CommandSpec, FLAG_NAMES};
use common::{Proc, Raw};

/// Commands Ferrocache has (from Redis 7.2) that redis-server 7.0 lacks.
/// Commands whose 7.2 form cannot be compared with redis-server 7.0: new in
/// 7.2, or changed (ZRANK/ZREVRANK gained WITHSCORE).
const NOT_IN_REDIS_70: &[&str] = &[
    "client|setinfo",
    "client|no-touch",
    "zrank",
    "zrevrank",
    "waitaof",
];

type Line<'a> = &'a [&'a str];

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn require_redis() {
    assert!(
        common::have_redis(),
        "redis-server not found on PATH: the differential tests compare Ferrocache with a real \
         redis-server 7.0 and cannot run without it (Debian/Ubuntu: apt-get install redis-server)"
    );
}

/// A redis-server and a Ferrocache node, one connection to each.
struct Diff {
    name: &'static str,
    redis: Proc,
    ferro: Proc,
    r: Raw,
    f: Raw,
    proto: u8,
    compared: usize,
    mismatches: Vec<String>,
}

impl Diff {
    fn new(name: &'static str) -> Diff {
        require_redis();
        let redis = common::start_redis();
        let ferro = common::start_ferrocache(&[]);
        let (r, f) = (redis.raw(), ferro.raw());
        let mut d = Diff {
            name,
            redis,
            ferro,
            r,
            f,
            proto: 2,
            compared: 0,
            mismatches: Vec::new(),
        };
        d.set_timeouts();
        d
    }

    fn set_timeouts(&mut self) {
        for raw in [&self.r, &self.f] {
            raw.stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
        }
    }

    /// Fresh connections to both servers, speaking `proto` (2 or 3).
    fn reconnect(&mut self, proto: u8) {
        self.r = self.redis.raw();
        self.f = self.ferro.raw();
        self.set_timeouts();
        self.proto = 2;
        if proto == 3 {
            self.line(&["~skip", "HELLO", "3"]);
            self.proto = 3;
        }
    }

    /// Runs `lines` over RESP2, then again over RESP3, each time on fresh
    /// connections and emptied servers.
    fn run_both(&mut self, lines: &[Line]) {
        for proto in [2, 3] {
            self.reconnect(proto);
            self.line(&["~skip", "FLUSHALL"]);
            self.run(lines);
        }
    }

    fn run(&mut self, lines: &[Line]) {
        for l in lines {
            self.line(l);
        }
    }

    fn run_owned(&mut self, lines: &[Vec<String>]) {
        for l in lines {
            let l: Vec<&str> = l.iter().map(String::as_str).collect();
            self.line(&l);
        }
    }

    /// Sends one command line (with an optional leading marker) to both.
    fn line(&mut self, line: &[&str]) {
        let (marker, args) = match line.first() {
            Some(m) if m.starts_with('~') => (*m, &line[1..]),
            _ => ("", line),
        };
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.r.cmd(&args);
        self.f.cmd(&args);
        if marker == "~noreply" {
            return;
        }
        let label = describe(line);
        self.compare_replies(&label, marker);
    }

    /// Sends raw bytes (inline commands) to both and compares one reply.
    fn raw_line(&mut self, bytes: &[u8]) {
        self.r.send(bytes);
        self.f.send(bytes);
        let label = format!(
            "raw {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
        );
        self.compare_replies(&label, "");
    }

    fn compare_replies(&mut self, label: &str, marker: &str) {
        let (r, f) = (self.r.try_read_reply(), self.f.try_read_reply());
        let (r, f) = match (r, f) {
            (Ok(r), Ok(f)) => (r, f),
            (r, f) => {
                self.fail(label, &show_result(&r), &show_result(&f));
                // The streams may be out of step now: start over.
                let proto = self.proto;
                self.reconnect(proto);
                return;
            }
        };
        if marker == "~skip" {
            return;
        }
        self.compared += 1;
        let same = match marker {
            "~sort" => sorted(&r) == sorted(&f),
            "~subcommands" => common_subcommands(&r) == common_subcommands(&f),
            "~clock" => close_clock(&r, &f),
            _ => r == f,
        };
        if !same {
            let (r, f) = show_difference(&r, &f);
            self.fail(label, &r, &f);
        }
    }

    fn fail(&mut self, label: &str, redis: &str, ferro: &str) {
        self.mismatches.push(format!(
            "[RESP{}] {label}\n    redis:      {redis}\n    ferrocache: {ferro}",
            self.proto
        ));
    }

    /// Sends `bytes`, compares the (error) reply and checks that both
    /// servers then close the connection.
    fn protocol_error(&mut self, bytes: &[u8]) {
        self.reconnect(2);
        self.raw_line(bytes);
        let label = format!(
            "raw {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
        );
        self.expect_closed(&label);
        self.reconnect(2);
    }

    /// Checks that both servers have closed the current connections.
    fn expect_closed(&mut self, label: &str) {
        let mut open = Vec::new();
        for (who, raw) in [("redis", &mut self.r), ("ferrocache", &mut self.f)] {
            raw.stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            if !raw.is_closed() {
                open.push(who);
            }
        }
        for who in open {
            self.mismatches
                .push(format!("{label}: {who} did not close the connection"));
        }
    }

    /// Panics with every mismatch found.
    fn finish(self) {
        eprintln!("{}: {} command lines compared", self.name, self.compared);
        assert!(
            self.mismatches.is_empty(),
            "{}: {} of {} replies differ from redis-server:\n{}",
            self.name,
            self.mismatches.len(),
            self.compared,
            self.mismatches.join("\n")
        );
    }
}

/// Runs a table over RESP2 and RESP3 on a fresh server pair.
fn check(name: &'static str, lines: &[Line]) {
    let mut d = Diff::new(name);
    d.run_both(lines);
    d.finish();
}

fn describe(line: &[&str]) -> String {
    let mut s = String::new();
    for a in line {
        if !s.is_empty() {
            s.push(' ');
        }
        if a.len() > 60 {
            s.push_str(&format!("<{} bytes>", a.len()));
        } else if a.is_empty() || a.bytes().any(|c| c <= b' ' || c == b'"') {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(a);
        }
    }
    s
}

fn show(reply: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(reply))
}

/// Both replies in full when short, else around their first difference.
fn show_difference(r: &[u8], f: &[u8]) -> (String, String) {
    if r.len().max(f.len()) <= 240 {
        return (show(r), show(f));
    }
    let at = r.iter().zip(f).take_while(|(a, b)| a == b).count();
    let start = at.saturating_sub(60);
    let window = |b: &[u8]| {
        format!(
            "[{} bytes, from byte {start}] {}",
            b.len(),
            show(&b[start.min(b.len())..(at + 100).min(b.len())])
        )
    };
    (window(r), window(f))
}

fn show_result(r: &std::io::Result<Vec<u8>>) -> String {
    match r {
        Ok(v) => show(v),
        Err(e) => format!("<no reply: {e}>"),
    }
}

// ---------------------------------------------------------------------------
// A small RESP reader, for the few replies that need normalizing
// ---------------------------------------------------------------------------

/// A COMMAND INFO or COMMAND DOCS reply with the subcommand lists of its
/// containers sorted (Redis prints them in hash-table order) and reduced to
/// the subcommands both servers have (we implement fewer CLIENT ones).
fn common_subcommands(reply: &[u8]) -> Vec<u8> {
    fn keep(name: &str) -> bool {
        !NOT_IN_REDIS_70.contains(&name) && commands::all().any(|c| c.name == name)
    }
    fn set_len(n: &mut Node, len: usize) {
        n.head = format!("{}{len}\r\n", n.head[0] as char).into_bytes();
    }
    fn info_entry(entry: &mut Node) {
        if entry.kids.len() == 10 && !entry.kids[9].kids.is_empty() {
            let subs = &mut entry.kids[9];
            subs.kids.retain(|s| keep(&s.kids[0].text()));
            subs.kids.sort_by_key(Node::bytes);
            let n = subs.kids.len();
            set_len(subs, n);
        }
    }
    fn docs_entry(doc: &mut Node) {
        for pair in doc.kids.chunks_mut(2) {
            if let [k, v] = pair {
                if k.text() == "subcommands" {
                    let mut pairs: Vec<(Node, Node)> = v
                        .kids
                        .chunks(2)
                        .map(|p| (p[0].clone(), p[1].clone()))
                        .filter(|(name, _)| keep(&name.text()))
                        .collect();
                    pairs.sort_by_key(|(name, _)| name.text());
                    let n = pairs.len();
                    v.kids = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
                    set_len(v, if v.head[0] == b'%' { n } else { 2 * n });
                }
            }
        }
    }
    if !matches!(reply.first(), Some(b'*' | b'%')) {
        return reply.to_vec();
    }
    let mut top = Node::parse_exact(reply);
    // DOCS: a map (flat in RESP2) of names to docs; INFO: an array of entries.
    let is_docs = top.head[0] == b'%'
        || top
            .kids
            .first()
            .is_some_and(|k| k.head[0] == b'$' && k.head != b"$-1\r\n");
    if is_docs {
        for doc in top.kids.iter_mut().skip(1).step_by(2) {
            docs_entry(doc);
        }
    } else {
        for entry in top.kids.iter_mut() {
            info_entry(entry);
        }
    }
    top.bytes()
}

/// Clock-dependent integers: equal when negative, else within 1% + 2.
fn close_clock(r: &[u8], f: &[u8]) -> bool {
    if r[0] != b':' || f[0] != b':' {
        return r == f;
    }
    let (a, b) = (Node::parse_exact(r).int(), Node::parse_exact(f).int());
    if a < 0 || b < 0 {
        return a == b;
    }
    (a - b).abs() <= a / 100 + 2
}

// ---------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------

#[test]
fn strings_set_options() {
    let mut d = Diff::new("strings_set_options");
    d.run_both(&[
        &["SET", "k", "v"],
        &["GET", "k"],
        &["SET", "k", "v2", "NX"],
        &["SET", "k", "v2", "XX"],
        &["GET", "k"],
        &["SET", "n1", "v", "XX"],
        &["SET", "n1", "v", "NX"],
        &["SET", "n1", "v", "nx"],
        &["SET", "k", "v3", "GET"],
        &["SET", "missing", "v", "GET"],
        &["SET", "k", "v4", "NX", "GET"],
        &["SET", "k2", "v", "XX", "GET"],
        &["SET", "k", "v5", "XX", "GET"],
        &["SET", "k", "v5", "GET", "GET"],
        &["SET", "k", "v5", "NX", "NX"],
        &["SET", "k", "v5", "XX", "XX"],
        &["SET", "k", "v", "NX", "XX"],
        &["SET", "k", "v", "XX", "NX"],
        // Expiry options.
        &["SET", "k", "v", "EX", "100"],
        &["TTL", "k"],
        &["SET", "k", "v", "PX", "100000"],
        &["~clock", "PTTL", "k"],
        &["SET", "k", "v", "KEEPTTL"],
        &["TTL", "k"],
        &["SET", "k", "v", "KEEPTTL", "GET"],
        &["TTL", "k"],
        &["SET", "k", "v"],
        &["TTL", "k"],
        &["SET", "k", "v", "EXAT", "4102444800"],
        &["EXPIRETIME", "k"],
        &["SET", "k", "v", "PXAT", "4102444800123"],
        &["PEXPIRETIME", "k"],
        &["SET", "k", "v", "ex", "100", "xx", "get"],
        &["TTL", "k"],
        &["SET", "k", "v", "EX", "10", "EX", "20"],
        &["TTL", "k"],
        &["SET", "k", "v", "PX", "10000", "PX", "20000"],
        &["SET", "k", "v", "EX", "10", "PX", "10"],
        &["SET", "k", "v", "PX", "10", "EX", "10"],
        &[
            "SET",
            "k",
            "v",
            "EXAT",
            "4102444800",
            "PXAT",
            "4102444800000",
        ],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "KEEPTTL", "KEEPTTL"],
        // Bad expire values.
        &["SET", "k", "v", "EX", "0"],
        &["SET", "k", "v", "EX", "-1"],
        &["SET", "k", "v", "PX", "0"],
        &["SET", "k", "v", "PX", "-5"],
        &["SET", "k", "v", "EXAT", "0"],
        &["SET", "k", "v", "PXAT", "-1"],
        &["SET", "k", "v", "EX", "abc"],
        &["SET", "k", "v", "EX", "1.5"],
        &["SET", "k", "v", "EX", ""],
        &["SET", "k", "v", "EX", " 1"],
        &["SET", "k", "v", "EX", "9223372036854775807"],
        &["SET", "k", "v", "EX", "9223372036854775808"],
        &["SET", "k", "v", "EX", "9223372036854775"],
        &["SET", "k", "v", "EX", "9223372036854776"],
        &["SET", "k", "v", "PX", "9223372036854775807"],
        &["SET", "k", "v", "EXAT", "9223372036854775807"],
        &["SET", "k", "v", "PXAT", "9223372036854775807"],
        &["SET", "k", "v", "EX", "-9223372036854775808"],
        &["GET", "k"],
        // Syntax errors.
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "PXAT"],
        &["SET", "k", "v", "KEEPTTL", "PX"],
        &["SET", "k", "v", "PERSIST"],
        &["SET", "k", "v", "FOO"],
        &["SET", "k", "v", "NX", "FOO"],
        &["SET", "k", "v", "10"],
        &["SET", "k"],
        &["SET"],
        // Times in the past.
        &["SET", "k", "v", "EXAT", "1"],
        &["EXISTS", "k"],
        &["SET", "k", "v"],
        &["SET", "k", "w", "PXAT", "1", "GET"],
        &["EXISTS", "k"],
        &["SET", "k", "w", "NX", "PXAT", "1"],
        &["EXISTS", "k"],
        // GET, GETDEL, GETSET, SETNX.
        &["GET", "nokey"],
        &["GET"],
        &["GET", "a", "b"],
        &["SET", "g", "hello"],
        &["GETDEL", "g"],
        &["GETDEL", "g"],
        &["EXISTS", "g"],
        &["GETSET", "g", "1"],
        &["GETSET", "g", "2"],
        &["GET", "g"],
        &["SET", "g", "v", "EX", "100"],
        &["GETSET", "g", "w"],
        &["TTL", "g"],
        &["SETNX", "g", "x"],
        &["SETNX", "h", "x"],
        &["GET", "h"],
        &["SETNX", "h"],
        // Empty and binary values.
        &["SET", "e", ""],
        &["GET", "e"],
        &["STRLEN", "e"],
        &["SET", "b", "a\0b\r\nc"],
        &["GET", "b"],
        &["SET", "", "empty key"],
        &["GET", ""],
    ]);
    // Every ordered combination of up to three distinct options, on a key
    // that exists (with a TTL, so KEEPTTL shows) and on a missing one.
    d.reconnect(2);
    d.run_owned(&option_combinations(
        &[
            &["NX"],
            &["XX"],
            &["GET"],
            &["KEEPTTL"],
            &["EX", "100"],
            &["PX", "100000"],
            &["EXAT", "4102444800"],
            &["PXAT", "4102444800000"],
        ],
        3,
        |opts| {
            let set = || [&["SET", "k", "new"][..], opts].concat();
            vec![
                vec!["SET", "k", "old", "PX", "500000"],
                set(),
                vec!["~clock", "PTTL", "k"],
                vec!["GET", "k"],
                vec!["DEL", "k"],
                set(),
                vec!["~clock", "PTTL", "k"],
                vec!["EXISTS", "k"],
            ]
        },
    ));
    d.finish();
}

/// Command lines for every ordered selection of up to `max` distinct
/// options, as `lines(selection)` builds them.
fn option_combinations(
    options: &[&[&'static str]],
    max: usize,
    lines: impl Fn(&[&'static str]) -> Vec<Vec<&'static str>>,
) -> Vec<Vec<String>> {
    fn walk(
        options: &[&[&'static str]],
        max: usize,
        chosen: &mut Vec<usize>,
        out: &mut Vec<Vec<&'static str>>,
    ) {
        if !chosen.is_empty() {
            out.push(
                chosen
                    .iter()
                    .flat_map(|&i| options[i].iter().copied())
                    .collect(),
            );
        }
        if chosen.len() == max {
            return;
        }
        for i in 0..options.len() {
            if !chosen.contains(&i) {
                chosen.push(i);
                walk(options, max, chosen, out);
                chosen.pop();
            }
        }
    }
    let mut selections = Vec::new();
    walk(options, max, &mut Vec::new(), &mut selections);
    selections
        .iter()
        .flat_map(|opts| lines(opts))
        .map(|l| l.into_iter().map(String::from).collect())
        .collect()
}

#[test]
fn strings_getex_setex_mset() {
    let mut d = Diff::new("strings_getex_setex_mset");
    d.reconnect(2);
    d.run_owned(&option_combinations(
        &[
            &["PERSIST"],
            &["EX", "100"],
            &["PX", "100000"],
            &["EXAT", "4102444800"],
            &["PXAT", "4102444800000"],
        ],
        2,
        |opts| {
            vec![
                vec!["SET", "k", "v", "PX", "500000"],
                [&["GETEX", "k"][..], opts].concat(),
                vec!["~clock", "PTTL", "k"],
                [&["GETEX", "nokey"][..], opts].concat(),
            ]
        },
    ));
    d.run_both(&[
        &["SET", "k", "v"],
        &["GETEX", "k"],
        &["TTL", "k"],
        &["GETEX", "k", "EX", "100"],
        &["TTL", "k"],
        &["GETEX", "k", "PERSIST"],
        &["TTL", "k"],
        &["GETEX", "k", "PX", "100000"],
        &["~clock", "PTTL", "k"],
        &["GETEX", "k", "EXAT", "4102444800"],
        &["EXPIRETIME", "k"],
        &["GETEX", "k", "PXAT", "4102444800000"],
        &["PEXPIRETIME", "k"],
        &["GETEX", "k", "persist"],
        &["GETEX", "k", "EX", "0"],
        &["GETEX", "k", "EX", "-1"],
        &["GETEX", "k", "PX", "0"],
        &["GETEX", "k", "EXAT", "-5"],
        &["GETEX", "k", "EX", "x"],
        &["GETEX", "k", "EX", "9223372036854775807"],
        &["GETEX", "k", "PX", "9223372036854775807"],
        &["GETEX", "k", "EX"],
        &["GETEX", "k", "PERSIST", "EX", "10"],
        &["GETEX", "k", "EX", "10", "PERSIST"],
        &["GETEX", "k", "EX", "10", "PX", "10"],
        &["GETEX", "k", "EX", "10", "EX", "20"],
        &["TTL", "k"],
        &["GETEX", "k", "PERSIST", "PERSIST"],
        &["GETEX", "k", "KEEPTTL"],
        &["GETEX", "k", "FOO"],
        &["GETEX", "nokey"],
        &["GETEX", "nokey", "EX", "10"],
        &["GETEX", "nokey", "FOO"],
        &["GETEX", "nokey", "EX", "0"],
        &["GETEX", "k", "EXAT", "1"],
        &["EXISTS", "k"],
        &["GETEX"],
        // SETEX / PSETEX.
        &["SETEX", "s", "100", "v"],
        &["TTL", "s"],
        &["GET", "s"],
        &["PSETEX", "s", "100000", "w"],
        &["~clock", "PTTL", "s"],
        &["SETEX", "s", "0", "v"],
        &["SETEX", "s", "-1", "v"],
        &["SETEX", "s", "x", "v"],
        &["SETEX", "s", "1.5", "v"],
        &["SETEX", "s", "9223372036854775807", "v"],
        &["SETEX", "s", "9223372036854775", "v"],
        &["PSETEX", "s", "0", "v"],
        &["PSETEX", "s", "-100", "v"],
        &["PSETEX", "s", "9223372036854775807", "v"],
        &["SETEX", "s", "10"],
        &["PSETEX", "s"],
        &["GET", "s"],
        // MSET / MSETNX / MGET.
        &["MSET", "a", "1", "b"],
        &["MSET", "a"],
        &["MSET", "a", "1", "b", "2"],
        &["MGET", "a", "b", "c"],
        &["MSETNX", "a", "1", "c"],
        &["MSETNX", "c", "3", "a", "1"],
        &["MGET", "c"],
        &["MSETNX", "c", "3", "d", "4"],
        &["MSETNX", "e", "5", "e", "6"],
        &["MGET", "a", "b", "c", "d", "e", "nosuch"],
        &["MSET", "a", "1", "a", "2"],
        &["GET", "a"],
        &["MGET"],
        &["MSETNX"],
        &["MGET", "a", "a"],
        // APPEND / STRLEN.
        &["APPEND", "ap", "Hello"],
        &["APPEND", "ap", " World"],
        &["APPEND", "ap", ""],
        &["GET", "ap"],
        &["STRLEN", "ap"],
        &["STRLEN", "nokey"],
        &["APPEND", "empty", ""],
        &["EXISTS", "empty"],
        &["SET", "num", "12"],
        &["APPEND", "num", "34"],
        &["GET", "num"],
        &["INCR", "num"],
        &["STRLEN", "num"],
        &["SET", "neg", "-100"],
        &["STRLEN", "neg"],
        &["APPEND", "ap"],
        &["STRLEN"],
    ]);
    d.finish();
}

#[test]
fn strings_counters() {
    check(
        "strings_counters",
        &[
            &["INCR", "fresh"],
            &["DECR", "fresh2"],
            &["INCRBY", "fresh3", "5"],
            &["DECRBY", "fresh4", "5"],
            &["SET", "n", "10"],
            &["INCR", "n"],
            &["DECR", "n"],
            &["INCRBY", "n", "5"],
            &["DECRBY", "n", "5"],
            &["INCRBY", "n", "-5"],
            &["DECRBY", "n", "-5"],
            &["INCRBY", "n", "0"],
            &["GET", "n"],
            // Bad increments.
            &["INCRBY", "n", "x"],
            &["INCRBY", "n", " 1"],
            &["INCRBY", "n", "1 "],
            &["INCRBY", "n", "01"],
            &["INCRBY", "n", "-0"],
            &["INCRBY", "n", "+1"],
            &["INCRBY", "n", "1.0"],
            &["INCRBY", "n", ""],
            &["INCRBY", "n", "9223372036854775808"],
            &["INCRBY", "n", "-9223372036854775809"],
            &["INCRBY", "n", "99999999999999999999999"],
            &["DECRBY", "n", "x"],
            &["GET", "n"],
            // Overflow.
            &["SET", "n", "9223372036854775807"],
            &["INCR", "n"],
            &["INCRBY", "n", "1"],
            &["DECRBY", "n", "-1"],
            &["DECR", "n"],
            &["SET", "n", "-9223372036854775808"],
            &["DECR", "n"],
            &["INCRBY", "n", "-1"],
            &["DECRBY", "n", "1"],
            &["INCR", "n"],
            &["SET", "n", "0"],
            &["DECRBY", "n", "-9223372036854775808"],
            &["INCRBY", "n", "-9223372036854775808"],
            &["DECRBY", "n", "9223372036854775807"],
            &["DECRBY", "n", "2"],
            // Values that are not integers.
            &["SET", "s", " 1"],
            &["INCR", "s"],
            &["SET", "s", "1 "],
            &["INCR", "s"],
            &["SET", "s", "01"],
            &["INCR", "s"],
            &["SET", "s", "-0"],
            &["INCR", "s"],
            &["SET", "s", "+1"],
            &["INCR", "s"],
            &["SET", "s", "abc"],
            &["INCR", "s"],
            &["SET", "s", "1.5"],
            &["INCR", "s"],
            &["SET", "s", "1e3"],
            &["INCR", "s"],
            &["SET", "s", "9223372036854775808"],
            &["INCR", "s"],
            &["SET", "s", "99999999999999999999"],
            &["DECR", "s"],
            &["SET", "s", ""],
            &["INCR", "s"],
            &["GET", "s"],
            // Results keep the canonical form.
            &["SET", "z", "-1"],
            &["INCR", "z"],
            &["GET", "z"],
            &["INCR", "z"],
            &["DECRBY", "z", "10"],
            &["GET", "z"],
            &["APPEND", "z", "0"],
            &["INCR", "z"],
            &["INCR"],
            &["INCR", "a", "b"],
            &["INCRBY", "n"],
            &["DECRBY", "n", "1", "2"],
        ],
    );
}

#[test]
fn strings_incrbyfloat() {
    check(
        "strings_incrbyfloat",
        &[
            &["SET", "f", "10.5"],
            &["INCRBYFLOAT", "f", "0.1"],
            &["INCRBYFLOAT", "f", "5.0e3"],
            &["INCRBYFLOAT", "f", "-5.0e3"],
            &["INCRBYFLOAT", "f", "-0.6"],
            &["GET", "f"],
            &["INCRBYFLOAT", "f", "abc"],
            &["INCRBYFLOAT", "f", "1e"],
            &["INCRBYFLOAT", "f", " 1"],
            &["INCRBYFLOAT", "f", "1 "],
            &["INCRBYFLOAT", "f", ""],
            &["INCRBYFLOAT", "f", "nan"],
            &["INCRBYFLOAT", "f", "inf"],
            &["INCRBYFLOAT", "f", "-inf"],
            &["INCRBYFLOAT", "f", "+inf"],
            &["INCRBYFLOAT", "f", "1e400"],
            &["INCRBYFLOAT", "f", ".5"],
            &["INCRBYFLOAT", "f", "5."],
            &["INCRBYFLOAT", "f", "+1"],
            &["INCRBYFLOAT", "f", "1e-5"],
            &["INCRBYFLOAT", "f", "0x10"],
            &["GET", "f"],
            &["INCRBYFLOAT", "g", "0.1"],
            &["INCRBYFLOAT", "g", "0.2"],
            &["INCRBYFLOAT", "h", "3"],
            &["INCRBYFLOAT", "h", "3.0"],
            &["INCRBYFLOAT", "h", "1e20"],
            &["INCRBYFLOAT", "h", "-1e20"],
            &["INCRBYFLOAT", "i", "1.23456789012345678"],
            &["INCRBYFLOAT", "j", "-0.0"],
            &["INCRBYFLOAT", "k", "5e-324"],
            // 1.5e308 * 10 overflows a double.
            &["INCRBYFLOAT", "h", "1e5000"],
            &["INCRBYFLOAT", "h", "1e-5000"],
            &["INCRBYFLOAT", "h", "0e-99999"],
            &["SET", "huge", "1e4932"],
            &["INCRBYFLOAT", "huge", "1e4932"],
            &["INCRBYFLOAT", "huge", "-1e4932"],
            &["SET", "big", "1.5e308"],
            &["INCRBYFLOAT", "big", "1.35e309"],
            &["INCRBYFLOAT", "big", "1.5e308"],
            &["GET", "big"],
            // Stored values that are not floats.
            &["SET", "s", "abc"],
            &["INCRBYFLOAT", "s", "1"],
            &["SET", "s", " 1"],
            &["INCRBYFLOAT", "s", "1"],
            &["SET", "s", "1e3"],
            &["INCRBYFLOAT", "s", "1"],
            &["SET", "s", "5"],
            &["INCRBYFLOAT", "s", "0.5"],
            &["INCRBYFLOAT", "s", "-0.5"],
            &["GET", "s"],
            &["INCR", "s"],
            &["INCRBYFLOAT", "s"],
        ],
    );
}

#[test]
fn strings_ranges() {
    let mut lines: Vec<Vec<String>> = vec![
        vec!["SET".into(), "r".into(), "Hello World".into()],
        vec!["SET".into(), "one".into(), "x".into()],
        vec!["SET".into(), "e".into(), "".into()],
        vec!["SET".into(), "int".into(), "12345".into()],
    ];
    let bounds = [
        "0",
        "4",
        "-1",
        "-5",
        "5",
        "3",
        "10",
        "11",
        "12",
        "-11",
        "-12",
        "-100",
        "100",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    for cmd in ["GETRANGE", "SUBSTR"] {
        for key in ["r", "one", "e", "nokey", "int"] {
            for s in bounds {
                for e in ["0", "4", "-1", "-5", "3", "11", "-100", "100"] {
                    // Every sign combination on the long string; a sample on the others.
                    if key != "r" && !matches!(s, "0" | "-1" | "5" | "-100") {
                        continue;
                    }
                    lines.push(vec![cmd.into(), key.into(), s.into(), e.into()]);
                }
            }
        }
        for bad in [["x", "1"], ["0", "y"], ["1.5", "2"], ["", "1"]] {
            lines.push(vec![cmd.into(), "r".into(), bad[0].into(), bad[1].into()]);
        }
        lines.push(vec![cmd.into(), "r".into(), "0".into()]);
    }
    let mut d = Diff::new("strings_ranges");
    d.reconnect(2);
    d.run_owned(&lines);
    d.reconnect(3);
    d.run_owned(&lines[..40]);
    d.run_both(&[
        // SETRANGE: padding, empty values, offsets.
        &["SETRANGE", "sr", "5", "x"],
        &["GET", "sr"],
        &["SETRANGE", "sr", "0", "ab"],
        &["GET", "sr"],
        &["SETRANGE", "sr", "20", "z"],
        &["STRLEN", "sr"],
        &["GET", "sr"],
        &["SETRANGE", "sr", "100", ""],
        &["STRLEN", "sr"],
        &["SETRANGE", "sr", "2", ""],
        &["SETRANGE", "sr", "1", "BCDEFGHIJKLMNOPQRSTUVWXYZ"],
        &["GET", "sr"],
        &["SETRANGE", "new", "0", ""],
        &["EXISTS", "new"],
        &["SETRANGE", "new", "10", ""],
        &["EXISTS", "new"],
        &["SETRANGE", "new", "-1", ""],
        &["SETRANGE", "sr", "-1", "x"],
        &["SETRANGE", "sr", "x", "x"],
        &["SETRANGE", "sr", "1.5", "x"],
        &["SETRANGE", "sr", "9223372036854775808", "x"],
        &["SETRANGE", "sr", "536870912", "x"],
        &["SETRANGE", "sr", "536870911", "xx"],
        &["SETRANGE", "new", "536870912", "x"],
        &["SETRANGE", "new", "536870912", ""],
        &["SETRANGE", "sr", "536870912", ""],
        &["SET", "i", "1234"],
        &["SETRANGE", "i", "1", "x"],
        &["GET", "i"],
        &["SET", "i", "1234"],
        &["SETRANGE", "i", "4", "5"],
        &["INCR", "i"],
        &["SETRANGE", "sr", "1"],
        &["SETRANGE", "sr", "1", "x", "y"],
        // A smaller proto-max-bulk-len bounds SETRANGE and APPEND.
        &["CONFIG", "SET", "proto-max-bulk-len", "1mb"],
        &["SETRANGE", "sr", "1048575", "x"],
        &["SETRANGE", "sr", "1048576", "x"],
        &["SETRANGE", "sr", "1048575", "xy"],
        &["SETRANGE", "other", "1048576", "x"],
        &["APPEND", "sr", "x"],
        &["STRLEN", "sr"],
        &["CONFIG", "SET", "proto-max-bulk-len", "512mb"],
    ]);
    d.finish();
}

#[test]
fn strings_lcs() {
    check(
        "strings_lcs",
        &[
            &["MSET", "key1", "ohmytext", "key2", "mynewtext"],
            &["LCS", "key1", "key2"],
            &["LCS", "key1", "key2", "LEN"],
            &["LCS", "key1", "key2", "len"],
            &["LCS", "key1", "key2", "IDX"],
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"],
            &[
                "LCS",
                "key1",
                "key2",
                "IDX",
                "MINMATCHLEN",
                "4",
                "WITHMATCHLEN",
            ],
            &["LCS", "key1", "key2", "IDX", "WITHMATCHLEN"],
            &["LCS", "key1", "key2", "WITHMATCHLEN", "IDX"],
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "0"],
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "-1"],
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "100"],
            &["LCS", "key1", "key2", "MINMATCHLEN", "2"],
            &["LCS", "key1", "key2", "WITHMATCHLEN"],
            &["LCS", "key1", "key2", "LEN", "MINMATCHLEN", "2"],
            &["LCS", "key1", "key2", "LEN", "IDX"],
            &["LCS", "key1", "key2", "IDX", "LEN"],
            &["LCS", "key1", "key2", "MINMATCHLEN"],
            &["LCS", "key1", "key2", "MINMATCHLEN", "x"],
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "1.5"],
            &["LCS", "key1", "key2", "FOO"],
            &["LCS", "key1", "key2", "LEN", "FOO"],
            &["LCS", "key1", "nokey"],
            &["LCS", "nokey", "key1", "LEN"],
            &["LCS", "nokey", "nokey2", "IDX"],
            &["LCS", "key1", "key1"],
            &["LCS", "key1", "key1", "IDX", "WITHMATCHLEN"],
            &["MSET", "a", "abcdefgh", "b", "xbcdxxfghy"],
            &["LCS", "a", "b"],
            &["LCS", "a", "b", "IDX", "WITHMATCHLEN"],
            &["LCS", "b", "a", "IDX", "WITHMATCHLEN"],
            &["LCS", "a", "b", "IDX", "MINMATCHLEN", "3", "WITHMATCHLEN"],
            &["MSET", "c", "aaaa", "d", "aa"],
            &["LCS", "c", "d", "IDX", "WITHMATCHLEN"],
            &["MSET", "x", "", "y", "abc"],
            &["LCS", "x", "y", "IDX"],
            &["LCS", "x", "y"],
            &["LCS", "key1"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

#[test]
fn keys_del_exists_rename() {
    check(
        "keys_del_exists_rename",
        &[
            &["MSET", "a", "1", "b", "2", "c", "3"],
            &["EXISTS", "a", "a", "b", "nokey"],
            &["EXISTS", "nokey"],
            &["DEL", "a", "a", "nokey"],
            &["UNLINK", "b", "b"],
            &["EXISTS", "a", "b", "c"],
            &["DEL", "nokey"],
            &["UNLINK", "nokey", "c"],
            &["DEL"],
            &["UNLINK"],
            &["EXISTS"],
            &["TYPE", "a"],
            &["SET", "a", "1"],
            &["TYPE", "a"],
            &["TYPE"],
            &["TOUCH", "a", "a", "nokey"],
            &["TOUCH", "nokey"],
            &["TOUCH"],
            // RENAME / RENAMENX.
            &["RENAME", "nokey", "x"],
            &["RENAME", "nokey", "nokey"],
            &["RENAMENX", "nokey", "x"],
            &["RENAMENX", "nokey", "nokey"],
            &["RENAME", "a", "a"],
            &["RENAMENX", "a", "a"],
            &["GET", "a"],
            &["SET", "t", "v", "EX", "100"],
            &["RENAME", "t", "t2"],
            &["TTL", "t2"],
            &["EXISTS", "t"],
            &["RENAME", "t2", "t2"],
            &["TTL", "t2"],
            &["SET", "x", "1"],
            &["RENAMENX", "t2", "x"],
            &["RENAMENX", "t2", "y"],
            &["TTL", "y"],
            &["RENAME", "y", "x"],
            &["TTL", "x"],
            &["GET", "x"],
            &["SET", "p", "persistent"],
            &["RENAME", "p", "x"],
            &["TTL", "x"],
            &["RENAME", "x"],
            &["RENAMENX", "x", "y", "z"],
            // RANDOMKEY.
            &["FLUSHDB"],
            &["RANDOMKEY"],
            &["SET", "only", "1"],
            &["RANDOMKEY"],
            &["RANDOMKEY", "x"],
            // SCAN: an empty database, argument errors.
            &["FLUSHDB"],
            &["SCAN", "0"],
            &["SCAN", "0", "COUNT", "100", "MATCH", "*", "TYPE", "string"],
            &["SCAN", "x"],
            &["SCAN", "1.5"],
            &["SCAN", "-1"],
            &["SCAN", "+0"],
            &["SCAN", ""],
            &["SCAN", "-"],
            &["SCAN", " 0"],
            &["SCAN", "0 "],
            &["SCAN", "18446744073709551616"],
            &["SCAN", "0", "COUNT", "0"],
            &["SCAN", "0", "COUNT", "-1"],
            &["SCAN", "0", "COUNT", "x"],
            &["SCAN", "0", "MATCH"],
            &["SCAN", "0", "FOO", "bar"],
            &["SCAN", "x", "FOO", "bar"],
            &["SCAN", "0", "TYPE", "nosuchtype"],
            &["SCAN"],
        ],
    );
}

#[test]
fn keys_copy_move_select() {
    check(
        "keys_copy_move_select",
        &[
            &["SET", "c", "v", "EX", "100"],
            &["COPY", "c", "d"],
            &["TTL", "d"],
            &["GET", "d"],
            &["COPY", "c", "d"],
            &["COPY", "c", "d", "REPLACE"],
            &["COPY", "c", "d", "replace", "REPLACE"],
            &["COPY", "c", "c"],
            &["COPY", "c", "c", "REPLACE"],
            &["COPY", "c", "c", "DB", "0"],
            &["COPY", "c", "c", "DB", "1"],
            &["COPY", "c", "c", "DB", "1"],
            &["COPY", "c", "d", "DB", "16"],
            &["COPY", "c", "d", "DB", "-1"],
            &["COPY", "c", "d", "DB", "x"],
            &["COPY", "c", "d", "DB", "99999999999"],
            &["COPY", "c", "d", "DB"],
            &["COPY", "c", "d", "FOO"],
            &["COPY", "c", "d", "REPLACE", "FOO"],
            &["COPY", "nokey", "d"],
            &["COPY", "nokey", "nokey"],
            &["COPY", "nokey", "d", "DB", "16"],
            &["COPY", "c", "e", "DB", "2", "REPLACE"],
            &["COPY", "c"],
            &["SELECT", "1"],
            &["GET", "c"],
            &["TTL", "c"],
            &["SELECT", "2"],
            &["GET", "e"],
            &["SELECT", "0"],
            // MOVE.
            &["SET", "m", "v"],
            &["MOVE", "m", "3"],
            &["EXISTS", "m"],
            &["MOVE", "m", "3"],
            &["SET", "m", "again"],
            &["MOVE", "m", "3"],
            &["MOVE", "m", "0"],
            &["MOVE", "nokey", "0"],
            &["MOVE", "nokey", "3"],
            &["MOVE", "m", "16"],
            &["MOVE", "m", "-1"],
            &["MOVE", "m", "x"],
            &["MOVE", "m", "1.5"],
            &["MOVE", "m"],
            &["SELECT", "3"],
            &["GET", "m"],
            &["DBSIZE"],
            &["SELECT", "0"],
            // SELECT.
            &["SELECT", "15"],
            &["SELECT", "16"],
            &["SELECT", "-1"],
            &["SELECT", "x"],
            &["SELECT", "1.5"],
            &["SELECT", "9999999999"],
            &["SELECT", ""],
            &["SELECT", "01"],
            &["SELECT"],
            &["SELECT", "0", "1"],
            &["SELECT", "0"],
            &["GET", "m"],
        ],
    );
}

#[test]
fn keys_glob_patterns() {
    let keys = [
        "hello", "hallo", "hxllo", "hllo", "heeeello", "h?llo", "h*llo", "h[a]llo", "a\\b", "x",
        "foo:1", "foo:2", "foo:bar", "", "HELLO", "[", "]", "-", "^x", "a-b",
    ];
    let patterns = [
        "*",
        "h?llo",
        "h*llo",
        "h[ae]llo",
        "h[^e]llo",
        "h[a-b]llo",
        "h[b-a]llo",
        "h\\?llo",
        "h\\*llo",
        "h\\[a\\]llo",
        "foo:*",
        "*:*",
        "[",
        "h[",
        "\\",
        "a\\\\b",
        "*x*",
        "",
        "h[!e]llo",
        "[a-",
        "[]]",
        "[]",
        "\\[",
        "]",
        "[-]",
        "[\\-]",
        "?",
        "??",
        "[^a-z]*",
        "*o",
        "HELLO",
        "h*l*o",
        "***",
        "h[a-z",
        "[[]",
        "^*",
        "a[--]b",
        "*[",
    ];
    let mut d = Diff::new("keys_glob_patterns");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.line(&["~skip", "FLUSHALL"]);
        for k in keys {
            d.line(&["SET", k, "v"]);
        }
        for p in patterns {
            d.line(&["~sort", "KEYS", p]);
        }
        d.line(&["KEYS"]);
        d.line(&["KEYS", "a", "b"]);
    }
    d.finish();
}

#[test]
fn keys_object() {
    let s44 = "a".repeat(44);
    let s45 = "a".repeat(45);
    let mut d = Diff::new("keys_object");
    d.run_both(&[
        &["SET", "i", "123"],
        &["OBJECT", "ENCODING", "i"],
        &["SET", "neg", "-5"],
        &["OBJECT", "ENCODING", "neg"],
        &["SET", "big", "9223372036854775807"],
        &["OBJECT", "ENCODING", "big"],
        &["SET", "huge", "12345678901234567890"],
        &["OBJECT", "ENCODING", "huge"],
        &["SET", "lz", "012"],
        &["OBJECT", "ENCODING", "lz"],
        &["SET", "sp", " 1"],
        &["OBJECT", "ENCODING", "sp"],
        &["SET", "str", "abc"],
        &["OBJECT", "ENCODING", "str"],
        &["SET", "empty", ""],
        &["OBJECT", "ENCODING", "empty"],
        &["APPEND", "i", "4"],
        &["OBJECT", "ENCODING", "i"],
        &["SET", "j", "12"],
        &["SETRANGE", "j", "0", "3"],
        &["OBJECT", "ENCODING", "j"],
        &["INCR", "j"],
        &["OBJECT", "ENCODING", "j"],
        &["SET", "k", "abc"],
        &["APPEND", "k", "d"],
        &["OBJECT", "ENCODING", "k"],
        &["INCR", "cnt"],
        &["OBJECT", "ENCODING", "cnt"],
        &["INCRBYFLOAT", "fl", "1.5"],
        &["OBJECT", "ENCODING", "fl"],
        &["INCRBYFLOAT", "fl2", "3"],
        &["OBJECT", "ENCODING", "fl2"],
        &["MSET", "m1", "7", "m2", "x"],
        &["OBJECT", "ENCODING", "m1"],
        &["OBJECT", "ENCODING", "m2"],
        &["GETSET", "gs", "42"],
        &["OBJECT", "ENCODING", "gs"],
        &["SETEX", "se", "100", "42"],
        &["OBJECT", "ENCODING", "se"],
        &["SETNX", "sn", "42"],
        &["OBJECT", "ENCODING", "sn"],
        &["COPY", "str", "str2"],
        &["OBJECT", "ENCODING", "str2"],
        &["RENAME", "cnt", "cnt2"],
        &["OBJECT", "ENCODING", "cnt2"],
        &["OBJECT", "ENCODING", "nokey"],
        &["OBJECT", "encoding", "str"],
        // REFCOUNT / FREQ / IDLETIME.
        &["OBJECT", "REFCOUNT", "nokey"],
        &["OBJECT", "REFCOUNT", "str"],
        &["OBJECT", "REFCOUNT", "big"],
        &["OBJECT", "REFCOUNT", "k"],
        &["OBJECT", "REFCOUNT", "m1"],
        &["OBJECT", "REFCOUNT", "cnt2"],
        &["OBJECT", "REFCOUNT", "neg"],
        &["OBJECT", "IDLETIME", "nokey"],
        &["~clock", "OBJECT", "IDLETIME", "str"],
        &["OBJECT", "FREQ", "str"],
        &["OBJECT", "FREQ", "nokey"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        &["OBJECT", "IDLETIME", "str"],
        &["OBJECT", "IDLETIME", "nokey"],
        &["OBJECT", "FREQ", "nokey"],
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
        // HELP and errors.
        &["OBJECT", "HELP"],
        &["OBJECT", "help"],
        &["OBJECT", "HELP", "x"],
        &["OBJECT"],
        &["OBJECT", "FOO"],
        &["OBJECT", "FOO", "k"],
        &["OBJECT", "ENCODING"],
        &["OBJECT", "ENCODING", "a", "b"],
        &["OBJECT", "REFCOUNT"],
        &["OBJECT", "FREQ"],
        &["OBJECT", "IDLETIME"],
    ]);
    d.reconnect(2);
    d.run_owned(&[
        vec!["SET".into(), "s44".into(), s44],
        vec!["OBJECT".into(), "ENCODING".into(), "s44".into()],
        vec!["SET".into(), "s45".into(), s45],
        vec!["OBJECT".into(), "ENCODING".into(), "s45".into()],
        vec!["OBJECT".into(), "REFCOUNT".into(), "s45".into()],
    ]);
    d.finish();
}

// ---------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------

#[test]
fn expiry() {
    check(
        "expiry",
        &[
            &["SET", "k", "v"],
            &["TTL", "k"],
            &["PTTL", "k"],
            &["TTL", "nokey"],
            &["PTTL", "nokey"],
            &["EXPIRETIME", "k"],
            &["PEXPIRETIME", "k"],
            &["EXPIRETIME", "nokey"],
            &["PEXPIRETIME", "nokey"],
            // NX / XX / GT / LT.
            &["EXPIRE", "k", "100", "XX"],
            &["EXPIRE", "k", "100", "GT"],
            &["TTL", "k"],
            &["EXPIRE", "k", "100", "NX"],
            &["EXPIRE", "k", "200", "NX"],
            &["EXPIRE", "k", "50", "GT"],
            &["EXPIRE", "k", "200", "GT"],
            &["TTL", "k"],
            &["EXPIRE", "k", "300", "LT"],
            &["EXPIRE", "k", "100", "LT"],
            &["TTL", "k"],
            &["EXPIRE", "k", "150", "XX"],
            &["EXPIRE", "k", "140", "XX", "GT"],
            &["EXPIRE", "k", "160", "XX", "GT"],
            &["EXPIRE", "k", "100", "XX", "LT"],
            &["EXPIRE", "k", "100", "lt"],
            &["TTL", "k"],
            &["PEXPIRE", "k", "90000", "LT"],
            &["~clock", "PTTL", "k"],
            &["PERSIST", "k"],
            &["EXPIRE", "k", "100", "LT"],
            &["PERSIST", "k"],
            &["PERSIST", "k"],
            &["PERSIST", "nokey"],
            // Incompatible and unknown options.
            &["EXPIRE", "k", "100", "NX", "XX"],
            &["EXPIRE", "k", "100", "NX", "GT"],
            &["EXPIRE", "k", "100", "NX", "LT"],
            &["EXPIRE", "k", "100", "XX", "NX"],
            &["EXPIRE", "k", "100", "GT", "LT"],
            &["EXPIRE", "k", "100", "LT", "GT"],
            &["EXPIRE", "k", "100", "NX", "NX"],
            &["EXPIRE", "k", "100", "FOO"],
            &["EXPIRE", "k", "100", "XX", "FOO"],
            &["EXPIRE", "k", "x", "FOO"],
            &["EXPIRE", "k", "x", "NX", "XX"],
            &["PEXPIRE", "k", "100", "GT", "LT"],
            &["EXPIREAT", "k", "100", "NX", "LT"],
            &["PEXPIREAT", "k", "100", "BAR"],
            &["EXPIRE", "nokey", "100", "FOO"],
            // Bad and extreme times.
            &["EXPIRE", "k", "x"],
            &["EXPIRE", "k", "1.5"],
            &["EXPIRE", "k", ""],
            &["EXPIRE", "k", " 100"],
            &["EXPIRE", "k", "9223372036854775807"],
            &["EXPIRE", "k", "9223372036854775"],
            &["EXPIRE", "k", "9223372036854776"],
            &["EXPIRE", "k", "-9223372036854775808"],
            &["EXPIRE", "k", "-9223372036854776"],
            &["PEXPIRE", "k", "9223372036854775807"],
            &["PEXPIRE", "k", "9223372036854775808"],
            &["EXPIREAT", "k", "9223372036854775807"],
            &["PEXPIREAT", "k", "9223372036854775807"],
            &["EXPIRETIME", "k"],
            &["PEXPIREAT", "k", "-9223372036854775808"],
            &["EXISTS", "k"],
            &["EXPIRE", "nokey", "100"],
            &["EXPIRE", "nokey", "-1"],
            // Negative and past times delete the key.
            &["SET", "k", "v"],
            &["EXPIRE", "k", "-1"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["EXPIRE", "k", "0"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["PEXPIRE", "k", "-100"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["EXPIREAT", "k", "1"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["PEXPIREAT", "k", "0"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["EXPIRE", "k", "-1", "XX"],
            &["EXISTS", "k"],
            &["EXPIRE", "k", "-1", "NX"],
            &["EXISTS", "k"],
            &["EXPIRE", "k", "-1", "GT"],
            &["EXPIRE", "k", "-1", "LT"],
            &["EXISTS", "k"],
            // Absolute times.
            &["SET", "k", "v"],
            &["EXPIREAT", "k", "4102444800"],
            &["EXPIRETIME", "k"],
            &["PEXPIRETIME", "k"],
            &["~clock", "TTL", "k"],
            &["PEXPIREAT", "k", "4102444800123"],
            &["PEXPIRETIME", "k"],
            &["EXPIRETIME", "k"],
            &["PEXPIREAT", "k", "4102444800499"],
            &["EXPIRETIME", "k"],
            &["PEXPIREAT", "k", "4102444800500"],
            &["EXPIRETIME", "k"],
            &["PEXPIREAT", "k", "4102444800999"],
            &["EXPIRETIME", "k"],
            &["EXPIREAT", "k", "4102444801", "GT"],
            &["EXPIREAT", "k", "4102444700", "GT"],
            &["EXPIREAT", "k", "4102444700", "LT"],
            &["EXPIRETIME", "k"],
            &["PERSIST", "k"],
            &["EXPIRETIME", "k"],
            // Arity.
            &["EXPIRE", "k"],
            &["TTL"],
            &["TTL", "a", "b"],
            &["PERSIST"],
            &["EXPIRETIME"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Databases and connection
// ---------------------------------------------------------------------------

#[test]
fn databases() {
    check(
        "databases",
        &[
            &["DBSIZE"],
            &["MSET", "a", "1", "b", "2"],
            &["DBSIZE"],
            &["DBSIZE", "x"],
            &["FLUSHDB", "SYNC"],
            &["DBSIZE"],
            &["SET", "a", "1"],
            &["FLUSHDB", "ASYNC"],
            &["DBSIZE"],
            &["FLUSHDB", "async"],
            &["FLUSHDB", "FOO"],
            &["FLUSHDB", "SYNC", "ASYNC"],
            &["FLUSHDB", ""],
            &["FLUSHALL", "sync"],
            &["FLUSHALL", "ASYNC"],
            &["FLUSHALL", "BAD"],
            &["FLUSHALL", "ASYNC", "x"],
            &["FLUSHALL"],
            &["FLUSHDB"],
            // SWAPDB.
            &["SET", "a", "db0"],
            &["SWAPDB", "0", "1"],
            &["GET", "a"],
            &["SELECT", "1"],
            &["GET", "a"],
            &["SWAPDB", "1", "0"],
            &["GET", "a"],
            &["SELECT", "0"],
            &["GET", "a"],
            &["SWAPDB", "0", "0"],
            &["SWAPDB", "0", "16"],
            &["SWAPDB", "16", "0"],
            &["SWAPDB", "x", "1"],
            &["SWAPDB", "0", "y"],
            &["SWAPDB", "x", "y"],
            &["SWAPDB", "-1", "0"],
            &["SWAPDB", "0", "-1"],
            &["SWAPDB", "1.5", "0"],
            &["SWAPDB", "99999999999", "0"],
            &["SWAPDB", "0"],
            &["SWAPDB", "0", "1", "2"],
            &["SET", "b", "x"],
            &["SELECT", "2"],
            &["FLUSHALL"],
            &["SELECT", "0"],
            &["DBSIZE"],
        ],
    );
}

#[test]
fn connection_commands() {
    let mut d = Diff::new("connection_commands");
    d.run_both(&[
        &["PING"],
        &["PING", "hi"],
        &["PING", ""],
        &["PING", "a", "b"],
        &["ping"],
        &["ECHO", "x"],
        &["ECHO", ""],
        &["ECHO", "a\r\nb"],
        &["ECHO"],
        &["ECHO", "a", "b"],
        // AUTH without a configured password.
        &["AUTH", "x"],
        &["AUTH", "default", "x"],
        &["AUTH", "nobody", "x"],
        &["AUTH", "a", "b", "c"],
        &["AUTH"],
        // HELLO errors (a successful HELLO's map holds the version and id).
        &["HELLO", "4"],
        &["HELLO", "1"],
        &["HELLO", "0"],
        &["HELLO", "-1"],
        &["HELLO", "x"],
        &["HELLO", "3.0"],
        &["HELLO", ""],
        &["HELLO", "99999999999999999999"],
        &["HELLO", "3", "FOO"],
        &["HELLO", "3", "AUTH"],
        &["HELLO", "3", "AUTH", "default"],
        &["HELLO", "3", "AUTH", "nobody", "pass"],
        &["HELLO", "3", "SETNAME"],
        &["HELLO", "3", "SETNAME", "a b"],
        &["HELLO", "3", "SETNAME", "ok", "FOO"],
        &["HELLO", "4", "SETNAME", "a b"],
        &["HELLO", "x", "FOO"],
        &["CLIENT", "GETNAME"],
        &["~skip", "HELLO", "2", "SETNAME", "via-hello"],
        &["CLIENT", "GETNAME"],
        &["~skip", "HELLO", "2", "AUTH", "default", "anything"],
        &["PING"],
        &["~skip", "HELLO"],
        &["PING"],
        // RESET: back to db 0, RESP2, no name, replies on.
        &["SELECT", "3"],
        &["SET", "in3", "x"],
        &["CLIENT", "SETNAME", "before-reset"],
        &["~noreply", "CLIENT", "REPLY", "OFF"],
        &["RESET"],
        &["GET", "in3"],
        &["CLIENT", "GETNAME"],
        &["RESET", "x"],
    ]);
    // QUIT answers, then both close the connection.
    d.line(&["QUIT"]);
    d.expect_closed("QUIT");
    d.reconnect(2);
    d.line(&["QUIT", "extra", "args"]);
    d.expect_closed("QUIT extra args");
    d.finish();
}

#[test]
fn client_subcommands() {
    let mut d = Diff::new("client_subcommands");
    d.run_both(&[
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "a b"],
        &["CLIENT", "SETNAME", "a\nb"],
        &["CLIENT", "SETNAME", "caf\u{e9}"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "ok-name"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", ""],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME"],
        &["CLIENT", "SETNAME", "a", "b"],
        &["CLIENT", "GETNAME", "x"],
        &["client", "setname", "lower"],
        &["CLIENT", "GETNAME"],
        // NO-EVICT.
        &["CLIENT", "NO-EVICT", "maybe"],
        &["CLIENT", "NO-EVICT", "on"],
        &["CLIENT", "NO-EVICT", "OFF"],
        &["CLIENT", "NO-EVICT", ""],
        &["CLIENT", "NO-EVICT"],
        &["CLIENT", "NO-EVICT", "on", "off"],
        // PAUSE / UNPAUSE.
        &["CLIENT", "PAUSE", "x"],
        &["CLIENT", "PAUSE", "-1"],
        &["CLIENT", "PAUSE", "1.5"],
        &["CLIENT", "PAUSE", "100", "FOO"],
        &["CLIENT", "PAUSE", "100", "WRITE", "x"],
        &["CLIENT", "PAUSE", "x", "FOO"],
        &["CLIENT", "PAUSE"],
        &["CLIENT", "PAUSE", "0"],
        &["CLIENT", "PAUSE", "0", "WRITE"],
        &["CLIENT", "PAUSE", "0", "all"],
        &["CLIENT", "UNPAUSE"],
        &["CLIENT", "UNPAUSE", "x"],
        // UNBLOCK.
        &["CLIENT", "UNBLOCK", "x"],
        &["CLIENT", "UNBLOCK", "12345"],
        &["CLIENT", "UNBLOCK", "12345", "FOO"],
        &["CLIENT", "UNBLOCK", "12345", "ERROR"],
        &["CLIENT", "UNBLOCK", "12345", "timeout"],
        &["CLIENT", "UNBLOCK", "-1"],
        &["CLIENT", "UNBLOCK", "0"],
        &["CLIENT", "UNBLOCK"],
        &["CLIENT", "UNBLOCK", "1", "ERROR", "x"],
        &["CLIENT", "UNBLOCK", "x", "FOO"],
        // KILL argument errors.
        &["CLIENT", "KILL", "1.2.3.4:5"],
        &["CLIENT", "KILL", "ID"],
        &["CLIENT", "KILL", "ID", "x"],
        &["CLIENT", "KILL", "ID", "0"],
        &["CLIENT", "KILL", "ID", "-5"],
        &["CLIENT", "KILL", "ID", "99999"],
        &["CLIENT", "KILL", "FOO", "bar"],
        &["CLIENT", "KILL", "TYPE", "bogus"],
        &["CLIENT", "KILL", "TYPE", "master"],
        &["CLIENT", "KILL", "TYPE", "pubsub"],
        &["CLIENT", "KILL", "SKIPME", "maybe"],
        &["CLIENT", "KILL", "ADDR", "1.2.3.4:5"],
        &["CLIENT", "KILL", "LADDR", "1.2.3.4:5"],
        &["CLIENT", "KILL", "ID", "99999", "SKIPME", "no"],
        &["CLIENT", "KILL", "ID", "1", "ID"],
        &["CLIENT", "KILL", "ID", "1", "TYPE"],
        &["CLIENT", "KILL"],
        // LIST / INFO arguments.
        &["CLIENT", "LIST", "TYPE", "bogus"],
        &["CLIENT", "LIST", "TYPE", "master"],
        &["CLIENT", "LIST", "TYPE", "pubsub"],
        &["CLIENT", "LIST", "ID", "x"],
        &["CLIENT", "LIST", "ID", "0"],
        &["CLIENT", "LIST", "ID", "99999"],
        &["CLIENT", "LIST", "ID", "99999", "x"],
        &["CLIENT", "LIST", "FOO"],
        &["CLIENT", "LIST", "TYPE"],
        &["CLIENT", "LIST", "ID"],
        &["CLIENT", "INFO", "x"],
        &["CLIENT", "ID", "x"],
        // REPLY argument errors.
        &["CLIENT", "REPLY", "FOO"],
        &["CLIENT", "REPLY"],
        &["CLIENT", "REPLY", "ON"],
        &["CLIENT", "REPLY", "ON", "x"],
        // Unknown subcommands.
        &["CLIENT"],
        &["CLIENT", "FOO"],
        &["CLIENT", "FOO", "bar"],
        &["CLIENT", ""],
    ]);
    // CLIENT KILL USER with a user that does not exist.
    d.line(&["CLIENT", "KILL", "USER", "nobody"]);
    d.line(&["CLIENT", "KILL", "USER", "default"]);
    d.finish();
}

#[test]
fn client_reply_modes() {
    check(
        "client_reply_modes",
        &[
            &["~noreply", "CLIENT", "REPLY", "OFF"],
            &["~noreply", "SET", "a", "1"],
            &["~noreply", "GET", "a"],
            &["~noreply", "NOSUCHCOMMAND"],
            &["~noreply", "GET"],
            &["~noreply", "INCR", "a", "b"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["CLIENT", "REPLY", "ON"],
            &["GET", "a"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["~noreply", "INCR", "a"],
            &["GET", "a"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["~noreply", "NOSUCHCOMMAND"],
            &["PING"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["~noreply", "GET"],
            &["PING"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["~noreply", "PING"],
            &["PING", "after-double-skip"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["CLIENT", "REPLY", "ON"],
            &["PING", "after-skip-on"],
            &["~noreply", "CLIENT", "REPLY", "OFF"],
            &["~noreply", "CLIENT", "REPLY", "FOO"],
            &["~noreply", "CLIENT", "REPLY", "OFF"],
            &["CLIENT", "REPLY", "ON"],
            &["CLIENT", "REPLY", "ON"],
            &["~noreply", "CLIENT", "REPLY", "SKIP"],
            &["~noreply", "CLIENT", "REPLY", "OFF"],
            &["~noreply", "PING"],
            &["CLIENT", "REPLY", "ON"],
            &["GET", "a"],
        ],
    );
}

#[test]
fn config_get_set() {
    check(
        "config_get_set",
        &[
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "GET", "hz"],
            &["CONFIG", "GET", "slowlog-max-len"],
            &["CONFIG", "GET", "maxmemory-policy"],
            &["CONFIG", "GET", "notify-keyspace-events"],
            &["CONFIG", "GET", "MAXMEMORY"],
            &["CONFIG", "GET", "nonexistent"],
            &["CONFIG", "GET", "nonexistent*"],
            &["CONFIG", "GET", "maxmemory-pol*"],
            &["CONFIG", "GET", "hz", "hz"],
            // notify-keyspace-events is printed in canonical form.
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
            &["CONFIG", "GET", "notify-keyspace-events"],
            &["CONFIG", "SET", "notify-keyspace-events", "Kx"],
            &["CONFIG", "GET", "notify-keyspace-events"],
            &["CONFIG", "SET", "notify-keyspace-events", "gE$lshzxet"],
            &["CONFIG", "GET", "notify-keyspace-events"],
            &["CONFIG", "SET", "notify-keyspace-events", "Em"],
            &["CONFIG", "GET", "notify-keyspace-events"],
            &["CONFIG", "SET", "notify-keyspace-events", "Z"],
            &["CONFIG", "SET", "notify-keyspace-events", ""],
            &["CONFIG", "GET", "notify-keyspace-events"],
            // Memory values.
            &["CONFIG", "SET", "maxmemory", "1gb"],
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "SET", "maxmemory", "100MB"],
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "SET", "maxmemory", "1k"],
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "SET", "maxmemory", "abc"],
            &["CONFIG", "SET", "maxmemory", "-1"],
            &["CONFIG", "SET", "maxmemory", "1.5gb"],
            &["CONFIG", "SET", "maxmemory", ""],
            &["CONFIG", "SET", "maxmemory", "0"],
            &["CONFIG", "GET", "maxmemory"],
            // Integers.
            &["CONFIG", "SET", "hz", "abc"],
            &["CONFIG", "SET", "hz", "-1"],
            &["CONFIG", "SET", "hz", "100"],
            &["CONFIG", "GET", "hz"],
            &["CONFIG", "SET", "hz", "1000"],
            &["CONFIG", "GET", "hz"],
            &["CONFIG", "SET", "hz", "10"],
            &["CONFIG", "SET", "slowlog-max-len", "x"],
            &["CONFIG", "SET", "slowlog-max-len", "-1"],
            &["CONFIG", "SET", "slowlog-max-len", "64"],
            &["CONFIG", "GET", "slowlog-max-len"],
            // Enums and booleans.
            &["CONFIG", "SET", "maxmemory-policy", "bogus"],
            &["CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LRU"],
            &["CONFIG", "GET", "maxmemory-policy"],
            &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
            &["CONFIG", "SET", "activerehashing", "maybe"],
            &["CONFIG", "SET", "activerehashing", "NO"],
            &["CONFIG", "GET", "activerehashing"],
            &["CONFIG", "SET", "activerehashing", "yes"],
            // Immutable, unknown, duplicate, atomic.
            &["CONFIG", "SET", "daemonize", "yes"],
            &["CONFIG", "SET", "databases", "4"],
            &["CONFIG", "SET", "foo", "bar"],
            &["CONFIG", "SET", "hz", "10", "hz", "20"],
            &["CONFIG", "SET", "hz", "10", "HZ", "20"],
            &["CONFIG", "SET", "maxmemory", "2mb", "hz", "x"],
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "SET", "maxmemory", "2mb", "foo", "x"],
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "SET", "maxmemory", "2mb", "hz", "20"],
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "GET", "hz"],
            &["CONFIG", "SET", "hz"],
            &["CONFIG", "SET", "hz", "1", "maxmemory"],
            &["CONFIG", "SET"],
            &["CONFIG", "GET"],
            &["CONFIG"],
            &["CONFIG", "FOO"],
            &["CONFIG", "RESETSTAT"],
            &["CONFIG", "RESETSTAT", "x"],
            &["CONFIG", "HELP"],
            &["CONFIG", "REWRITE", "x"],
        ],
    );
}

#[test]
fn slowlog() {
    check(
        "slowlog",
        &[
            &["CONFIG", "SET", "slowlog-log-slower-than", "-1"],
            &["SLOWLOG", "RESET"],
            &["SLOWLOG", "LEN"],
            &["SLOWLOG", "GET"],
            &["SLOWLOG", "GET", "-1"],
            &["SLOWLOG", "GET", "0"],
            &["SLOWLOG", "GET", "5"],
            &["SLOWLOG", "GET", "x"],
            &["SLOWLOG", "GET", "-2"],
            &["SLOWLOG", "GET", "1.5"],
            &["SLOWLOG", "GET", "1", "2"],
            &["SLOWLOG", "LEN", "x"],
            &["SLOWLOG", "RESET", "x"],
            &["SLOWLOG", "HELP"],
            &["SLOWLOG", "HELP", "x"],
            &["SLOWLOG", "FOO"],
            &["SLOWLOG"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Arity and unknown commands, for the whole table
// ---------------------------------------------------------------------------

/// The words a user types for `spec` ("client|kill" -> CLIENT KILL).
fn command_words(spec: &CommandSpec) -> Vec<String> {
    spec.name.split('|').map(str::to_ascii_uppercase).collect()
}

fn in_redis_70(spec: &CommandSpec) -> bool {
    !NOT_IN_REDIS_70.contains(&spec.name)
}

#[test]
fn wrong_arity_for_every_command() {
    let mut lines = Vec::new();
    for spec in commands::all().filter(|s| in_redis_70(s)) {
        let words = command_words(spec);
        let a = spec.arity;
        let mut counts = Vec::new();
        if a > 0 {
            counts.push(a as usize + 1);
            if a as usize > words.len() {
                counts.push(a as usize - 1);
            }
        } else if (-a) as usize > words.len() {
            counts.push((-a) as usize - 1);
        }
        for argc in counts {
            let mut l = words.clone();
            while l.len() < argc {
                l.push(format!("x{}", l.len()));
            }
            l.truncate(argc);
            lines.push(l);
        }
    }
    let mut d = Diff::new("wrong_arity_for_every_command");
    d.reconnect(2);
    d.run_owned(&lines);
    d.reconnect(3);
    d.run_owned(&lines);
    d.finish();
}

#[test]
fn unknown_commands() {
    let long = "x".repeat(200);
    let name300 = "C".repeat(300);
    let many: Vec<String> = std::iter::once("NOSUCH".to_string())
        .chain((0..50).map(|i| format!("argument-{i}")))
        .collect();
    let mut d = Diff::new("unknown_commands");
    for proto in [2, 3] {
        d.reconnect(proto);
        d.run(&[
            &["FOO"],
            &["FOO", "a", "b"],
            &["fOo", "bar"],
            &[""],
            &["", ""],
            &["GET|X", "k"],
            &["CLIENT|ID"],
            &["FOO", "a b", "c\"d", "e\r\nf"],
        ]);
        d.run_owned(&[
            vec!["FOO".into(), long.clone()],
            vec!["FOO".into(), long.clone(), long.clone()],
            vec!["FOO".into(), "a".into(), long.clone()],
            vec![long.clone()],
            vec![name300.clone(), "x".into()],
            many.clone(),
            vec!["CLIENT".into(), long.clone()],
            vec!["CONFIG".into(), name300.clone()],
        ]);
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------

/// A command line exercising `args` (as COMMAND DOCS describes them): only
/// the required arguments, or every optional one too; `multiple`
/// arguments appear twice, `oneof` picks the first alternative.
fn sample_args(args: &[Arg], optional: bool, out: &mut Vec<String>) {
    for a in args {
        if a.flags & arg_flag::OPTIONAL != 0 && !optional {
            continue;
        }
        let reps = if a.flags & arg_flag::MULTIPLE != 0 {
            2
        } else {
            1
        };
        for rep in 0..reps {
            if let Some(t) = a.token {
                if rep == 0 || a.flags & arg_flag::MULTIPLE_TOKEN != 0 {
                    out.push(t.to_string());
                }
            }
            match a.kind {
                ArgType::Key => out.push(format!("key{}", out.len())),
                ArgType::String => out.push("str".into()),
                ArgType::Integer => out.push("1".into()),
                ArgType::Double => out.push("1.5".into()),
                ArgType::UnixTime => out.push("4102444800".into()),
                ArgType::Pattern => out.push("pat*".into()),
                ArgType::PureToken => {}
                ArgType::OneOf => sample_args(&a.arguments[..1], true, out),
                ArgType::Block => sample_args(a.arguments, optional, out),
            }
        }
    }
}

#[test]
fn command_getkeys_for_every_command() {
    let mut lines = Vec::new();
    for spec in commands::all().filter(|s| in_redis_70(s)) {
        for optional in [false, true] {
            let mut line = command_words(spec);
            sample_args(spec.arguments, optional, &mut line);
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut l = vec!["COMMAND".to_string(), sub.to_string()];
                l.extend(line.iter().cloned());
                lines.push(l);
            }
        }
    }
    let mut d = Diff::new("command_getkeys_for_every_command");
    d.reconnect(2);
    d.run_owned(&lines);
    d.run_both(&[
        &["COMMAND", "GETKEYS"],
        &["COMMAND", "GETKEYS", "FOO"],
        &["COMMAND", "GETKEYS", "FOO", "k"],
        &["COMMAND", "GETKEYS", "GET"],
        &["COMMAND", "GETKEYS", "GET", "a", "b"],
        &["COMMAND", "GETKEYS", "PING"],
        &["COMMAND", "GETKEYS", "PING", "a", "b", "c"],
        &["COMMAND", "GETKEYS", "CLIENT"],
        &["COMMAND", "GETKEYS", "CLIENT", "FOO"],
        &["COMMAND", "GETKEYS", "OBJECT", "ENCODING"],
        &["COMMAND", "GETKEYS", "OBJECT", "ENCODING", "k"],
        &["COMMAND", "GETKEYS", "OBJECT", "FOO", "k"],
        &["COMMAND", "GETKEYS", "MSET", "a"],
        &["COMMAND", "GETKEYS", "MSET", "a", "1", "b"],
        &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"],
        &["COMMAND", "GETKEYS", "SET", "k", "v", "GET"],
        &["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v"],
        &["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v", "GET"],
        &["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v", "get"],
        &["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v", "EX", "get"],
        &["COMMAND", "GETKEYSANDFLAGS", "DEL", "a", "b", "a"],
        &["COMMAND", "GETKEYSANDFLAGS", "LCS", "a", "b", "IDX"],
        &["COMMAND", "GETKEYSANDFLAGS", "COPY", "a", "b", "DB", "1"],
        &["COMMAND", "GETKEYSANDFLAGS", "RENAME", "a", "b"],
        &["COMMAND", "GETKEYSANDFLAGS", "GETEX", "a", "PERSIST"],
        &["COMMAND", "GETKEYSANDFLAGS", "PING"],
        &["command", "getkeys", "get", "k"],
    ]);
    d.finish();
}

#[test]
fn command_info_and_docs() {
    let names: Vec<String> = include_str!("../crates/commands/gen/commands.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !NOT_IN_REDIS_70.contains(l))
        .map(String::from)
        .collect();
    let mut d = Diff::new("command_info_and_docs");
    for proto in [2, 3] {
        d.reconnect(proto);
        for n in &names {
            d.line(&["~subcommands", "COMMAND", "INFO", n]);
            d.line(&["~subcommands", "COMMAND", "DOCS", n]);
        }
        d.run(&[
            &["COMMAND", "INFO", "get", "nosuch", "SET"],
            &["COMMAND", "INFO", "nosuch"],
            &["COMMAND", "INFO", "config|get", "CONFIG|SET"],
            &["COMMAND", "INFO", "get|x"],
            &["COMMAND", "DOCS", "get", "nosuch", "set"],
            &["COMMAND", "DOCS", "nosuch"],
            &["COMMAND", "DOCS", "GET"],
        ]);
    }
    d.finish();
}

#[test]
fn command_misc() {
    check(
        "command_misc",
        &[
            &["COMMAND", "HELP"],
            &["COMMAND", "HELP", "x"],
            &["COMMAND", "COUNT", "x"],
            &["COMMAND", "FOO"],
            &["COMMAND", "LIST", "FILTERBY"],
            &["COMMAND", "LIST", "FILTERBY", "FOO", "x"],
            &["COMMAND", "LIST", "FILTERBY", "ACLCAT"],
            &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuchcat"],
            &["COMMAND", "LIST", "FILTERBY", "MODULE", "foo"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "xyz*"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "getra*"],
            &["COMMAND", "LIST", "FILTERBY", "pattern", "lc?"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "config|g*"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "x", "y"],
            &["COMMAND", "LIST", "FOO"],
            &["COMMAND", "LIST", "FOO", "x", "y"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Raw protocol: inline commands and protocol errors
// ---------------------------------------------------------------------------

#[test]
fn inline_commands() {
    let mut d = Diff::new("inline_commands");
    d.reconnect(2);
    for l in [
        &b"PING\r\n"[..],
        b"ping\r\n",
        b"  PING  \r\n",
        b"PING\n",
        b"ECHO hello\r\n",
        b"SET a \"b c\"\r\n",
        b"GET a\r\n",
        b"ECHO \"\\x41\\n\\t\\\\\"\r\n",
        b"ECHO 'single quoted'\r\n",
        b"ECHO 'it\\'s'\r\n",
        b"ECHO \"\"\r\n",
        b"\r\nPING\r\n",
        b"*-1\r\nPING\r\n",
        b"*0\r\nPING\r\n",
        b"SET\r\n",
        b"NOSUCH a b\r\n",
        b"MSET x 1 y 2\r\nMGET x y\r\n",
    ] {
        d.raw_line(l);
    }
    // Pipelined inline commands: one reply each.
    d.raw_line(b"SET p 1\r\nINCR p\r\nINCR p\r\n");
    d.line(&["GET", "p"]);
    d.line(&["GET", "p"]);
    d.finish();
}

#[test]
fn protocol_errors_close_the_connection() {
    let mut d = Diff::new("protocol_errors_close_the_connection");
    let mut long_count = b"*".to_vec();
    long_count.extend([b'1'; 70_000]);
    let mut long_bulk = b"*1\r\n$".to_vec();
    long_bulk.extend([b'1'; 70_000]);
    let mut long_inline = b"GET ".to_vec();
    long_inline.extend([b'a'; 70_000]);
    for bytes in [
        &b"*1\r\n$x\r\n"[..],
        b"*x\r\n",
        b"*1\r\nfoo\r\n",
        b"*1\r\n$600000000\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$-5\r\n",
        b"*2147483648\r\n",
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"SET a \"b\r\n",
        b"SET a \"b\"c\r\n",
        b"SET a 'b\r\n",
        &long_count,
        &long_bulk,
        &long_inline,
    ] {
        d.protocol_error(bytes);
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// The command table against redis-server's COMMAND INFO
// ---------------------------------------------------------------------------

#[test]
fn command_table_matches_redis_command_info() {
    require_redis();
    let redis = common::start_redis();
    let mut r = redis.raw();
    let specs: Vec<&CommandSpec> = commands::all().filter(|s| in_redis_70(s)).collect();
    let mut args: Vec<&[u8]> = vec![b"COMMAND", b"INFO"];
    args.extend(specs.iter().map(|s| s.name.as_bytes()));
    r.cmd(&args);
    let reply = Node::parse_exact(&r.read_reply());
    assert_eq!(reply.kids.len(), specs.len());
    let mut problems = Vec::new();
    for (spec, info) in specs.iter().zip(&reply.kids) {
        if info.kids.is_empty() {
            problems.push(format!("{}: unknown to redis-server", spec.name));
            continue;
        }
        let f = &info.kids;
        let ours_flags: Vec<&str> = FLAG_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| spec.flags & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        let theirs_flags: Vec<String> = f[2].kids.iter().map(Node::text).collect();
        let checks = [
            ("name", spec.name.to_string(), f[0].text()),
            ("arity", spec.arity.to_string(), f[1].text()),
            ("flags", ours_flags.join(" "), theirs_flags.join(" ")),
            ("first key", spec.first_key.to_string(), f[3].text()),
            ("last key", spec.last_key.to_string(), f[4].text()),
            ("key step", spec.key_step.to_string(), f[5].text()),
        ];
        for (what, ours, theirs) in checks {
            if ours != theirs {
                problems.push(format!(
                    "{}: {what}: ours {ours:?}, redis {theirs:?}",
                    spec.name
                ));
            }
        }
    }
    eprintln!(
        "command_table_matches_redis_command_info: {} commands checked",
        specs.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `min-replicas-to-write` takes effect at CONFIG SET (not at the next
/// replication cron): a plain write is refused at once, a script that
/// declares flags without `no-writes` is refused before it runs, and one in
/// compatibility mode fails at its first write.
#[test]
fn min_replicas_to_write_refuses_writes_and_scripts() {
    let mut d = Diff::new("min_replicas_to_write_refuses_writes_and_scripts");
    d.reconnect(2);
    d.run(&[
        &["SET", "x", "before"],
        &["CONFIG", "SET", "min-replicas-to-write", "1"],
        &["SET", "x", "1"],
        &["GET", "x"],
        &["EVAL", "#!lua\nreturn redis.call('get','x')", "1", "x"],
        &[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get','x')",
            "1",
            "x",
        ],
        &["EVAL", "return redis.call('get','x')", "1", "x"],
        &["EVAL", "return redis.call('set','x','2')", "1", "x"],
        &["EVAL", "return redis.pcall('set','x','2')", "1", "x"],
        &["CONFIG", "SET", "min-replicas-to-write", "0"],
        &["SET", "x", "3"],
        &["EVAL", "#!lua\nreturn redis.call('set','x','4')", "1", "x"],
    ]);
    d.finish();
}
