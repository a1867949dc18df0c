//! Pub/sub end to end: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB.
//!
//! Three parts:
//!
//! * differential tables: the same command lines go to a real redis-server
//!   (7.0) and to Ferrocache, over RESP2 and then over RESP3 (fresh servers
//!   each time), replies compared byte for byte. Unlike tests/common/diff.rs
//!   a table drives several connections per server (`@N` picks one), a
//!   command may answer several frames (one per channel), and `~recv` reads
//!   the pushed messages a connection got: so subscription counts, the
//!   RESP2 subscribed-mode restrictions, `message`/`pmessage`/`smessage`
//!   frames (RESP2 arrays, RESP3 pushes), glob patterns and PUBSUB
//!   introspection are all checked against Redis itself;
//! * scenarios run on Ferrocache and on redis-server with the same fixed
//!   expectations: publish order, a RESP3 client receiving its own publish,
//!   subscribers that go away, CLIENT LIST / INFO fields, and subscribers too
//!   slow to read cut off by `client-output-buffer-limit pubsub` (hard limit;
//!   soft limit held for its seconds);
//! * fan-out across the worker threads of a `--threads 4` node: 20
//!   subscribers, 5 concurrent publishers, every message delivered exactly
//!   once and in each publisher's order; subscribers churning while a
//!   publisher runs.
//!
//! Every connection has a read timeout, so a lost message or a hang fails the
//! test instead of blocking it. A missing redis-server is a failure, not a
//! skip: CI installs it.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::conn::{Conn, QUIET, READ_TIMEOUT};
use common::diff::{describe, normalize, show, sort_elements, Node};
use common::{encode, info_field, join_all, start_ferrocache, start_redis, wait_until, Proc, Raw};

/// Ferrocache's worker threads in every test: connections of one test land
/// on different threads, so deliveries cross threads.
const FERRO_ARGS: &[&str] = &["--threads", "4", "--worker-placement", "spread"];

const OBUF_LIMIT: &str = "client-output-buffer-limit";

// ---------------------------------------------------------------------------
// Differential tables over several connections
// ---------------------------------------------------------------------------

/// One table line: optional markers, then a command.
///
/// * `@N`: send on connection N (default 0; opened on first use, with
///   `HELLO 3` in the RESP3 run);
/// * `~sort`: the reply is an array in hash order: compare it sorted;
/// * `~anyorder`: (P|S)UNSUBSCRIBE without arguments answers one frame per
///   channel in hash order: compare with the channel names sorted (counts
///   stay in order);
/// * `~recv` (no command): the messages pushed to the connection since;
/// * `~eof` (no command): the server has closed the connection.
///
/// A (P|S)(UN)SUBSCRIBE with channel arguments answers one frame per
/// channel; without, and for `~recv`, redis-server's frames before its
/// reply to a PING sent after say how many frames Ferrocache must send. A
/// frame too many shows at the connection's next line or at the end.
type Line<'a> = &'a [&'a str];

/// One redis-server and one Ferrocache, with parallel connections.
struct Table {
    redis: Proc,
    ferro: Proc,
    conns: Vec<(Raw, Raw)>,
    proto: u8,
    compared: usize,
    mismatches: Vec<String>,
    /// Ferrocache missed a frame: the rest of the table would be out of step.
    broken: bool,
}

impl Table {
    fn start(proto: u8) -> Table {
        assert!(
            common::have_redis(),
            "redis-server not found on PATH: the differential tests need it \
             (Debian/Ubuntu: apt-get install redis-server)"
        );
        Table {
            redis: start_redis(),
            ferro: start_ferrocache(FERRO_ARGS),
            conns: Vec::new(),
            proto,
            compared: 0,
            mismatches: Vec::new(),
            broken: false,
        }
    }

    fn pair(&mut self, i: usize) -> &mut (Raw, Raw) {
        while self.conns.len() <= i {
            let mut r = raw_conn(&self.redis);
            let mut f = raw_conn(&self.ferro);
            if self.proto == 3 {
                for (raw, server) in [(&mut r, "redis-server"), (&mut f, "ferrocache")] {
                    let hello = raw.call(&["HELLO", "3"]);
                    assert!(
                        hello.starts_with(b"%"),
                        "{server}: HELLO 3: {}",
                        show(&hello)
                    );
                }
            }
            self.conns.push((r, f));
        }
        &mut self.conns[i]
    }

    fn line(&mut self, line: Line) {
        let mut conn = 0usize;
        let mut marker = "";
        let mut args = line;
        while let Some((first, rest)) = args.split_first() {
            if let Some(n) = first.strip_prefix('@') {
                conn = n.parse().expect("@N: a connection number");
            } else if first.starts_with('~') {
                marker = first;
            } else {
                break;
            }
            args = rest;
        }
        let label = if args.is_empty() {
            format!("@{conn} {marker}")
        } else {
            format!("@{conn} {}", describe(args))
        };
        let (r, f) = self.pair(conn);

        if marker == "~eof" {
            assert!(at_eof(r), "redis-server kept @{conn} open: table broken");
            if !at_eof(f) {
                self.fail(&label, "<connection closed>", "<connection still open>");
            }
            return;
        }

        let want: Vec<Vec<u8>> = if marker == "~recv" {
            frames_before_sentinel(r)
        } else {
            let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            r.cmd(&bytes);
            f.cmd(&bytes);
            match frames_for(args) {
                Some(n) => read_frames(r, n)
                    .unwrap_or_else(|e| panic!("redis-server: {label}: {e}: table broken")),
                None => frames_before_sentinel(r),
            }
        };
        let got = read_frames(f, want.len());
        self.compared += 1;
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                self.broken = true;
                self.fail(&label, &show(&want.concat()), &format!("<{e}>"));
                return;
            }
        };
        let norm = |frames: &[Vec<u8>]| -> Vec<Vec<u8>> {
            match marker {
                "~sort" => frames.iter().map(|f| normalize(f, sort_elements)).collect(),
                "~anyorder" => channels_sorted(frames),
                _ => frames.to_vec(),
            }
        };
        if norm(&want) != norm(&got) {
            self.fail(&label, &show(&want.concat()), &show(&got.concat()));
        }
    }

    /// Nothing left unread on any connection (a frame too many shows here).
    fn check_quiet(&mut self) {
        std::thread::sleep(QUIET);
        let mut left = Vec::new();
        for (i, (r, f)) in self.conns.iter_mut().enumerate() {
            let (want, got) = (drain_frames(r), drain_frames(f));
            if want != got {
                left.push((i, show(&want.concat()), show(&got.concat())));
            }
        }
        for (i, want, got) in left {
            self.fail(&format!("@{i} <left unread at the end>"), &want, &got);
        }
    }

    fn fail(&mut self, label: &str, redis: &str, ferro: &str) {
        self.mismatches.push(format!(
            "[RESP{}] {label}\n    redis:      {redis}\n    ferrocache: {ferro}",
            self.proto
        ));
    }
}

/// Runs `lines` over RESP2 and over RESP3, on fresh servers each time, and
/// fails with every line whose frames differ from redis-server's.
fn table(name: &str, lines: &[Line]) {
    table_for(name, &[2, 3], lines);
}

fn table_for(name: &str, protos: &[u8], lines: &[Line]) {
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for &proto in protos {
        let mut t = Table::start(proto);
        for l in lines {
            t.line(l);
            if t.broken {
                break;
            }
        }
        if !t.broken {
            t.check_quiet();
        }
        compared += t.compared;
        mismatches.extend(t.mismatches);
    }
    eprintln!("{name}: {compared} lines compared");
    assert!(
        mismatches.is_empty(),
        "{name}: {} of {compared} lines differ from redis-server:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn raw_conn(node: &Proc) -> Raw {
    let raw = node.raw();
    raw.stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    raw
}

/// How many frames a command answers (None: as many as redis-server sends).
fn frames_for(args: &[&str]) -> Option<usize> {
    let name = args.first()?.to_ascii_uppercase();
    let per_channel = matches!(
        name.as_str(),
        "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE" | "SSUBSCRIBE" | "SUNSUBSCRIBE"
    );
    match (per_channel, args.len()) {
        (true, 1) => None,
        (true, n) => Some(n - 1),
        (false, _) => Some(1),
    }
}

fn read_frames(raw: &mut Raw, n: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut frames = Vec::with_capacity(n);
    for i in 0..n {
        match raw.try_read_reply() {
            Ok(f) => frames.push(f),
            Err(e) => {
                return Err(format!(
                    "frame {} of {n} missing ({e}); got before: {}",
                    i + 1,
                    show(&frames.concat())
                ))
            }
        }
    }
    Ok(frames)
}

/// Frames a redis-server connection got, up to the reply to a PING sent
/// now: redis-server is single-threaded, so everything pushed to the
/// connection before comes first.
fn frames_before_sentinel(raw: &mut Raw) -> Vec<Vec<u8>> {
    const TOKEN: &[u8] = b"table-sentinel-3f9c";
    raw.cmd(&[b"PING", TOKEN]);
    let mut frames = Vec::new();
    loop {
        let f = raw.read_reply();
        if f.windows(TOKEN.len()).any(|w| w == TOKEN) {
            return frames;
        }
        frames.push(f);
    }
}

/// The frames that arrive within a short moment (the caller waited first).
fn drain_frames(raw: &mut Raw) -> Vec<Vec<u8>> {
    raw.stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .expect("timeout");
    let mut frames = Vec::new();
    while let Ok(f) = raw.try_read_reply() {
        frames.push(f);
    }
    raw.stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    frames
}

/// Has the peer closed the connection (EOF or reset, not a timeout)?
fn at_eof(raw: &mut Raw) -> bool {
    let mut b = [0u8; 1024];
    loop {
        match raw.stream.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// (P|S)UNSUBSCRIBE frames with the channel names sorted among them.
fn channels_sorted(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut nodes: Vec<Node> = frames.iter().map(|f| Node::parse(f)).collect();
    let mut names: Vec<Node> = nodes
        .iter()
        .filter(|n| n.kids.len() == 3)
        .map(|n| n.kids[1].clone())
        .collect();
    names.sort_by_key(Node::bytes);
    let mut names = names.into_iter();
    for n in nodes.iter_mut().filter(|n| n.kids.len() == 3) {
        n.kids[1] = names.next().expect("a name per frame");
    }
    nodes.iter().map(Node::bytes).collect()
}

// ---------------------------------------------------------------------------
// Part 1: one connection
// ---------------------------------------------------------------------------

#[test]
fn differential_subscribe_and_unsubscribe_counts() {
    table(
        "subscribe/unsubscribe counts",
        &[
            // Nothing subscribed: UNSUBSCRIBE answers a nil channel and 0.
            &["UNSUBSCRIBE"],
            &["UNSUBSCRIBE", "x"],
            &["UNSUBSCRIBE", "x", "y"],
            &["SUBSCRIBE", "a"],
            &["SUBSCRIBE", "b", "c"],
            // Subscribing again keeps the count.
            &["SUBSCRIBE", "a"],
            &["SUBSCRIBE", "d", "d"],
            &["SUBSCRIBE", "b", "e", "a"],
            &["UNSUBSCRIBE", "a"],
            // A channel not subscribed: the count unchanged.
            &["UNSUBSCRIBE", "a"],
            &["UNSUBSCRIBE", "nope", "b", "b"],
            &["~anyorder", "UNSUBSCRIBE"],
            &["UNSUBSCRIBE"],
            // Out of subscribed mode: ordinary commands again.
            &["SET", "k", "v"],
            &["GET", "k"],
            &["PING"],
            // Unsubscribing the only channel by name leaves the mode too.
            &["SUBSCRIBE", "only"],
            &["UNSUBSCRIBE", "only"],
            &["GET", "k"],
            // ...and without arguments.
            &["SUBSCRIBE", "only"],
            &["UNSUBSCRIBE"],
            &["GET", "k"],
            &["SUBSCRIBE", "case", "CASE", "Case"],
            &["~anyorder", "UNSUBSCRIBE"],
            // A subscriber-less publish reaches nobody.
            &["PUBLISH", "nobody", "hello"],
            &["SPUBLISH", "nobody", "hello"],
            &["PUBLISH", "nobody", ""],
        ],
    );
}

#[test]
fn differential_patterns_channels_and_shard_channels_counted_apart() {
    table(
        "pattern and shard counts",
        &[
            &["PUNSUBSCRIBE"],
            &["PUNSUBSCRIBE", "p*"],
            &["PSUBSCRIBE", "p.*"],
            &["PSUBSCRIBE", "p.*", "q?"],
            // Channels and patterns share one count.
            &["SUBSCRIBE", "ch1"],
            &["SUBSCRIBE", "p.*"],
            &["PUNSUBSCRIBE", "q?"],
            &["PUNSUBSCRIBE", "zz", "ch1"],
            // A pattern is not a channel: UNSUBSCRIBE p.* drops the channel.
            &["UNSUBSCRIBE", "p.*"],
            &["PSUBSCRIBE", "p.*", "q?", "r[ab]"],
            // Shard channels count on their own.
            &["SSUBSCRIBE", "s1", "s2"],
            &["SSUBSCRIBE", "s1"],
            &["SSUBSCRIBE", "ch1"],
            &["SUNSUBSCRIBE", "ch1"],
            &["SUNSUBSCRIBE", "nope"],
            &["UNSUBSCRIBE", "ch1"],
            &["SUNSUBSCRIBE", "s1"],
            &["~anyorder", "PUNSUBSCRIBE"],
            // Still in subscribed mode through the shard channel s2.
            &["GET", "k"],
            &["PUNSUBSCRIBE"],
            &["SUNSUBSCRIBE"],
            &["SUNSUBSCRIBE"],
            &["GET", "k"],
            // Shard channels only: subscribed mode as well.
            &["SSUBSCRIBE", "{t}a", "{t}b", "x"],
            &["GET", "k"],
            &["SUBSCRIBE", "c"],
            &["~anyorder", "SUNSUBSCRIBE"],
            &["GET", "k"],
            &["UNSUBSCRIBE"],
            &["GET", "k"],
            // Patterns only.
            &["PSUBSCRIBE", "*"],
            &["GET", "k"],
            &["PUNSUBSCRIBE", "*"],
            &["GET", "k"],
        ],
    );
}

#[test]
fn differential_subscribed_mode_restrictions() {
    // RESP2: only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET;
    // PING answers ["pong", arg]. RESP3: every command, PING as usual.
    table(
        "subscribed-mode restrictions",
        &[
            &["PING"],
            &["SUBSCRIBE", "a"],
            &["PING"],
            &["PING", "hello"],
            &["PING", ""],
            &["ping", "x"],
            &["PING", "a", "b"],
            &["GET", "k"],
            &["SET", "k", "v"],
            &["get", "k"],
            &["ECHO", "x"],
            &["DBSIZE"],
            &["CLIENT", "GETNAME"],
            &["CONFIG", "GET", "maxmemory"],
            &["PUBSUB", "NUMSUB", "a"],
            &["SELECT", "1"],
            &["MULTI"],
            &["DISCARD"],
            // Unknown commands and arity errors come first.
            &["NOSUCHCMD", "x"],
            &["GET"],
            &["SUBSCRIBE"],
            &["PSUBSCRIBE"],
            &["SSUBSCRIBE"],
            // The allowed ones work.
            &["PSUBSCRIBE", "p*"],
            &["SSUBSCRIBE", "s"],
            &["SUNSUBSCRIBE", "s"],
            &["PUNSUBSCRIBE", "p*"],
            &["SUBSCRIBE", "b"],
            // RESET leaves subscribed mode (and RESP3: back to RESP2).
            &["RESET"],
            &["GET", "k"],
            &["PUBSUB", "NUMSUB", "a", "b"],
            &["PING"],
            &["UNSUBSCRIBE"],
            // QUIT is allowed, answers +OK and closes.
            &["SUBSCRIBE", "a"],
            &["QUIT"],
            &["~eof"],
        ],
    );
}

#[test]
fn differential_arity_and_subcommand_errors() {
    table(
        "pubsub arity and subcommand errors",
        &[
            &["SUBSCRIBE"],
            &["PSUBSCRIBE"],
            &["SSUBSCRIBE"],
            &["PUBLISH"],
            &["PUBLISH", "a"],
            &["PUBLISH", "a", "b", "c"],
            &["SPUBLISH"],
            &["SPUBLISH", "a"],
            &["SPUBLISH", "a", "b", "c"],
            &["PUBSUB"],
            &["PUBSUB", "NOSUCH"],
            &["PUBSUB", "NUMPAT", "x"],
            &["PUBSUB", "CHANNELS", "a", "b"],
            &["PUBSUB", "SHARDCHANNELS", "a", "b"],
            &["PUBSUB", "HELP"],
            &["pubsub", "help"],
            &["PUBSUB", "NUMSUB"],
            &["PUBSUB", "SHARDNUMSUB"],
            &["PUBSUB", "CHANNELS"],
            &["PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "NUMPAT"],
            &["pubsub", "numsub", "a", "a"],
            // The count commands work with nothing subscribed.
            &["PUNSUBSCRIBE"],
            &["SUNSUBSCRIBE"],
            &["PUNSUBSCRIBE", "a", "b"],
            &["SUNSUBSCRIBE", "a", "b"],
        ],
    );
}

#[test]
fn differential_output_buffer_limit_config() {
    table_for(
        "client-output-buffer-limit config",
        &[2],
        &[
            &["CONFIG", "SET", OBUF_LIMIT, "pubsub 1mb 512kb 60"],
            &["CONFIG", "GET", OBUF_LIMIT],
            &["CONFIG", "SET", OBUF_LIMIT, "pubsub 0 256kb 1"],
            &["CONFIG", "GET", OBUF_LIMIT],
            &[
                "CONFIG",
                "SET",
                OBUF_LIMIT,
                "normal 0 0 0 pubsub 32mb 8mb 60",
            ],
            &["CONFIG", "GET", OBUF_LIMIT],
        ],
    );
}

// ---------------------------------------------------------------------------
// Part 2: several connections, still differential
// ---------------------------------------------------------------------------

#[test]
fn differential_pubsub_introspection() {
    table(
        "pubsub introspection",
        &[
            &["PUBSUB", "CHANNELS"],
            &["PUBSUB", "NUMPAT"],
            &["PUBSUB", "NUMSUB", "a"],
            &["@1", "SUBSCRIBE", "news.x", "c2", "other"],
            &["@1", "PSUBSCRIBE", "news.*", "h?llo"],
            &["@2", "SUBSCRIBE", "news.x"],
            // The same pattern twice counts once (redis 7: distinct patterns).
            &["@2", "PSUBSCRIBE", "news.*"],
            &["@3", "SSUBSCRIBE", "sh1", "sh2"],
            &["@4", "SSUBSCRIBE", "sh1"],
            &["PUBSUB", "NUMSUB", "news.x", "c2", "none", "news.*", "sh1"],
            &["PUBSUB", "NUMSUB", "news.x", "news.x"],
            &["PUBSUB", "NUMPAT"],
            &["~sort", "PUBSUB", "CHANNELS"],
            &["~sort", "PUBSUB", "CHANNELS", "*"],
            &["PUBSUB", "CHANNELS", "news.*"],
            &["~sort", "PUBSUB", "CHANNELS", "[cn]*"],
            &["PUBSUB", "CHANNELS", "nomatch*"],
            &["~sort", "PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "SHARDCHANNELS", "*1"],
            &["PUBSUB", "SHARDNUMSUB", "sh1", "sh2", "news.x", "x"],
            // Unsubscribing updates every view.
            &["@1", "UNSUBSCRIBE", "other", "c2"],
            &["@1", "PUNSUBSCRIBE", "h?llo"],
            &["@2", "PUNSUBSCRIBE", "news.*"],
            &["@4", "SUNSUBSCRIBE"],
            &["PUBSUB", "NUMSUB", "news.x", "c2", "other"],
            &["PUBSUB", "NUMPAT"],
            &["PUBSUB", "CHANNELS"],
            &["~sort", "PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "SHARDNUMSUB", "sh1", "sh2"],
            &["@1", "PUNSUBSCRIBE"],
            &["PUBSUB", "NUMPAT"],
            &["@3", "RESET"],
            &["PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "SHARDNUMSUB", "sh1"],
        ],
    );
}

#[test]
fn differential_publish_delivers_to_every_subscriber() {
    table(
        "publish delivery",
        &[
            &["@1", "SUBSCRIBE", "news.x", "c2"],
            &["@2", "SUBSCRIBE", "news.x"],
            &["@3", "PSUBSCRIBE", "news.*"],
            // Both a channel and a matching pattern: two messages.
            &["@4", "SUBSCRIBE", "news.x"],
            &["@4", "PSUBSCRIBE", "news.*"],
            &["PUBLISH", "news.x", "hi"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            &["PUBLISH", "c2", "only one"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["PUBLISH", "news.y", "patterns only"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            // Several messages queue up in order.
            &["PUBLISH", "news.x", "1"],
            &["PUBLISH", "c2", "2"],
            &["PUBLISH", "news.x", "3"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            // PUBLISH inside a transaction.
            &["MULTI"],
            &["PUBLISH", "news.x", "tx1"],
            &["PUBLISH", "c2", "tx2"],
            &["EXEC"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            // After UNSUBSCRIBE nothing more arrives.
            &["@2", "UNSUBSCRIBE", "news.x"],
            &["PUBLISH", "news.x", "after"],
            &["@2", "~recv"],
            &["@1", "~recv"],
            &["@3", "PUNSUBSCRIBE"],
            &["@4", "UNSUBSCRIBE"],
            &["PUBLISH", "news.x", "again"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            &["@1", "~recv"],
            &["@4", "PUNSUBSCRIBE", "news.*"],
            &["PUBLISH", "news.x", "last"],
            &["@4", "~recv"],
            &["@1", "~recv"],
            &["PUBLISH", "nobody", "x"],
            // A subscriber may subscribe again after leaving.
            &["@2", "SUBSCRIBE", "news.x"],
            &["PUBLISH", "news.x", "back"],
            &["@2", "~recv"],
            &["@1", "~recv"],
            &["@1", "~anyorder", "UNSUBSCRIBE"],
            &["@1", "PING"],
            &["PUBSUB", "NUMSUB", "news.x", "c2"],
        ],
    );
}

#[test]
fn differential_glob_patterns() {
    // One pattern per connection: each PUBLISH reaches each connection at
    // most once, so the frames' order is fixed.
    table(
        "glob patterns",
        &[
            &["@1", "PSUBSCRIBE", "news.*"],
            &["@2", "PSUBSCRIBE", "h?llo"],
            &["@3", "PSUBSCRIBE", "h[ae]llo"],
            &["@4", "PSUBSCRIBE", "h\\*llo"],
            &["@5", "PSUBSCRIBE", "h[^e]llo"],
            &["@6", "PSUBSCRIBE", "*"],
            &["@7", "PSUBSCRIBE", "a\\[b]"],
            &["@8", "PSUBSCRIBE", "[a-c]*[0-9]"],
            &["@9", "PSUBSCRIBE", "*.end"],
            &["PUBSUB", "NUMPAT"],
            &["PUBLISH", "news.sport", "1"],
            &["PUBLISH", "news.", "2"],
            &["PUBLISH", "news", "3"],
            &["PUBLISH", "xnews.sport", "4"],
            &["PUBLISH", "hello", "5"],
            &["PUBLISH", "hallo", "6"],
            &["PUBLISH", "hxllo", "7"],
            &["PUBLISH", "h*llo", "8"],
            &["PUBLISH", "heello", "9"],
            &["PUBLISH", "HELLO", "10"],
            &["PUBLISH", "hllo", "11"],
            &["PUBLISH", "a[b]", "12"],
            &["PUBLISH", "ab]", "13"],
            &["PUBLISH", "b77", "14"],
            &["PUBLISH", "c7x", "15"],
            &["PUBLISH", "d7", "16"],
            &["PUBLISH", "news.the.end", "17"],
            &["PUBLISH", ".end", "18"],
            &["PUBLISH", "end", "19"],
            &["PUBLISH", "", "20"],
            &["SPUBLISH", "hello", "shard messages never match patterns"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            &["@5", "~recv"],
            &["@6", "~recv"],
            &["@7", "~recv"],
            &["@8", "~recv"],
            &["@9", "~recv"],
            // The same patterns filter PUBSUB CHANNELS.
            &[
                "@10",
                "SUBSCRIBE",
                "hello",
                "hallo",
                "h*llo",
                "news.a",
                "a[b]",
                "b77",
            ],
            &["~sort", "PUBSUB", "CHANNELS", "h?llo"],
            &["~sort", "PUBSUB", "CHANNELS", "h[ae]llo"],
            &["PUBSUB", "CHANNELS", "h\\*llo"],
            &["PUBSUB", "CHANNELS", "a\\[b]"],
            &["~sort", "PUBSUB", "CHANNELS", "[a-c]*[0-9]"],
        ],
    );
}

#[test]
fn differential_glob_pattern_edge_cases() {
    // Unterminated classes, trailing backslashes, `[^...]`, reversed and
    // open ranges, `!` (not a negation in Redis): one pattern per connection.
    const PATTERNS: &str = concat!(
        r"a\ [ []x [!a]b [z-a] a[\]]b a[b a[b- *[a-] \ ? ?? [^]x x[^] a*b*c [a\-c]",
        r" *a*a*a*a*a*a*a*b",
    );
    const CHANNELS: &str = concat!(
        r"a\ a [ ]x x !b ab bb zb m a]b a[b ab- a- - b \ q qq x] axbyc abc ac a-c \-",
        r" aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac aaaaaaaaab",
    );
    let patterns: Vec<&str> = PATTERNS.split(' ').collect();
    let conns: Vec<String> = (1..=patterns.len()).map(|i| format!("@{i}")).collect();
    let mut lines: Vec<Vec<&str>> = Vec::new();
    for (c, p) in conns.iter().zip(&patterns) {
        lines.push(vec![c, "PSUBSCRIBE", p]);
    }
    for ch in CHANNELS.split(' ') {
        lines.push(vec!["PUBLISH", ch, "m"]);
    }
    for c in &conns {
        lines.push(vec![c, "~recv"]);
    }
    let lines: Vec<Line> = lines.iter().map(Vec::as_slice).collect();
    table("glob pattern edge cases", &lines);
}

#[test]
fn differential_shard_channels() {
    table(
        "spublish and smessage",
        &[
            &["@1", "SSUBSCRIBE", "s1", "s2"],
            &["@2", "SSUBSCRIBE", "s1"],
            &["@3", "SUBSCRIBE", "s1"],
            &["@4", "PSUBSCRIBE", "s*"],
            // SPUBLISH reaches shard subscribers only ...
            &["SPUBLISH", "s1", "m1"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            // ... and PUBLISH ordinary and pattern subscribers only.
            &["PUBLISH", "s1", "m2"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            &["SPUBLISH", "s2", "m3"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@1", "SUNSUBSCRIBE", "s1"],
            &["SPUBLISH", "s1", "m4"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["PUBSUB", "SHARDNUMSUB", "s1", "s2", "s3"],
            &["~sort", "PUBSUB", "SHARDCHANNELS"],
            &["~sort", "PUBSUB", "SHARDCHANNELS", "s[12]"],
            &["PUBSUB", "NUMSUB", "s1", "s2"],
            &["PUBSUB", "CHANNELS"],
            &["@1", "SUNSUBSCRIBE"],
            &["@2", "SUNSUBSCRIBE", "s1"],
            &["SPUBLISH", "s1", "m5"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["PUBSUB", "SHARDCHANNELS"],
        ],
    );
}

#[test]
fn differential_binary_safe_channels_and_payloads() {
    let big: String = (0..300_000u32)
        .map(|i| char::from(b"ab\r\n\0z"[(i % 6) as usize]))
        .collect();
    table(
        "binary-safe channels and payloads",
        &[
            &["@1", "SUBSCRIBE", "bin\r\nch\0x", "", " ", "\0"],
            &["@2", "PSUBSCRIBE", "bin\r\n*"],
            &["@3", "SSUBSCRIBE", "sh\r\n\0"],
            &["PUBLISH", "bin\r\nch\0x", "a\r\nb\0c"],
            &["PUBLISH", "bin\r\nch\0x", "*3\r\n$7\r\nmessage\r\n"],
            &["PUBLISH", "", ""],
            &["PUBLISH", " ", "\r\n"],
            &["PUBLISH", "\0", "\0\0\0"],
            &["PUBLISH", "bin\r\nch\0x", &big],
            &["SPUBLISH", "sh\r\n\0", "\r\n\0"],
            &["@1", "~recv"],
            &["@2", "~recv"],
            &["@3", "~recv"],
            &["PUBSUB", "NUMSUB", "bin\r\nch\0x", "", "\0"],
            &["~sort", "PUBSUB", "CHANNELS"],
            &["PUBSUB", "SHARDCHANNELS"],
            &["@1", "UNSUBSCRIBE", "bin\r\nch\0x", "\0"],
            &["@2", "PUNSUBSCRIBE", "bin\r\n*"],
            &["PUBLISH", "bin\r\nch\0x", "gone"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Scenarios asserted identically on both servers
// ---------------------------------------------------------------------------

/// Runs `scenario` on a fresh Ferrocache and on a fresh redis-server.
fn on_both(scenario: fn(&Proc, &'static str)) {
    let ferro = start_ferrocache(FERRO_ARGS);
    scenario(&ferro, "ferrocache");
    drop(ferro);
    assert!(
        common::have_redis(),
        "redis-server not found on PATH: these tests also run each scenario on a \
         real redis-server (Debian/Ubuntu: apt-get install redis-server)"
    );
    let redis = start_redis();
    scenario(&redis, "redis-server");
}

/// An array (RESP2) or push (RESP3) of bulk strings.
fn push(proto: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("{}{}\r\n", if proto == 3 { '>' } else { '*' }, parts.len()).into_bytes();
    for p in parts {
        v.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        v.extend_from_slice(p);
        v.extend_from_slice(b"\r\n");
    }
    v
}

fn message(proto: u8, channel: &[u8], payload: &[u8]) -> Vec<u8> {
    push(proto, &[b"message", channel, payload])
}

fn pmessage(proto: u8, pattern: &[u8], channel: &[u8], payload: &[u8]) -> Vec<u8> {
    push(proto, &[b"pmessage", pattern, channel, payload])
}

/// The lines of CLIENT LIST, one per client.
fn client_list(c: &mut Conn) -> Vec<String> {
    c.text(&["CLIENT", "LIST"])
        .lines()
        .filter(|l| l.starts_with("id="))
        .map(str::to_string)
        .collect()
}

/// The CLIENT LIST line of the client named `name`.
fn client_line(c: &mut Conn, name: &str) -> String {
    let needle = format!(" name={name} ");
    client_list(c)
        .into_iter()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("{}: no client named {name}", c.server))
}

/// `field:value` of INFO stats, as a number.
fn stat(c: &mut Conn, field: &str) -> i64 {
    let info = c.text(&["INFO", "stats"]);
    info_field(&info, field)
        .unwrap_or_else(|| panic!("{}: INFO stats has no {field}", c.server))
        .parse()
        .expect("a number")
}

#[test]
fn messages_arrive_in_publish_order() {
    on_both(|node, server| {
        for proto in [2, 3] {
            let mut by_channel = Conn::open(node, server, proto);
            by_channel.subscribe("SUBSCRIBE", &["seq.a", "seq.b"]);
            let mut by_pattern = Conn::open(node, server, proto);
            by_pattern.subscribe("PSUBSCRIBE", &["seq.*"]);
            // 1000 PUBLISH in one write, alternating between two channels.
            let mut publisher = Conn::open(node, server, proto);
            let mut batch = Vec::new();
            for i in 0..1000 {
                let ch = if i % 3 == 0 { "seq.a" } else { "seq.b" };
                batch.extend(encode(&[
                    b"PUBLISH",
                    ch.as_bytes(),
                    i.to_string().as_bytes(),
                ]));
            }
            publisher.writer.write_all(&batch).expect("write");
            for i in 0..1000 {
                assert_eq!(
                    publisher.frame("PUBLISH"),
                    b":2\r\n",
                    "{server}: publish {i}"
                );
            }
            for i in 0..1000 {
                let ch: &[u8] = if i % 3 == 0 { b"seq.a" } else { b"seq.b" };
                let payload = i.to_string();
                let got = by_channel.frame("message");
                assert_eq!(
                    show(&got),
                    show(&message(proto, ch, payload.as_bytes())),
                    "{server} RESP{proto}: message {i}"
                );
                let got = by_pattern.frame("pmessage");
                assert_eq!(
                    show(&got),
                    show(&pmessage(proto, b"seq.*", ch, payload.as_bytes())),
                    "{server} RESP{proto}: pmessage {i}"
                );
            }
            by_channel.expect_nothing("after the 1000 messages");
            by_pattern.expect_nothing("after the 1000 messages");
        }
    });
}

#[test]
fn deliveries_follow_the_order_publishes_complete_in() {
    // Two publishers on different connections (so different worker
    // threads), used in turn: each PUBLISH completes before the next
    // starts, so every subscriber sees them in that order.
    on_both(|node, server| {
        let mut subs: Vec<Conn> = (0..4).map(|_| Conn::open(node, server, 2)).collect();
        for (i, s) in subs.iter_mut().enumerate() {
            if i % 2 == 0 {
                s.subscribe("SUBSCRIBE", &["turn.a", "turn.b"]);
            } else {
                s.subscribe("PSUBSCRIBE", &["turn.*"]);
            }
        }
        let mut publishers = [Conn::open(node, server, 2), Conn::open(node, server, 3)];
        for i in 0..300 {
            let ch: &[u8] = if i % 2 == 0 { b"turn.a" } else { b"turn.b" };
            let n = publishers[i % 2].publish(ch, i.to_string().as_bytes());
            assert_eq!(n, 4, "{server}: publish {i}");
        }
        for (k, s) in subs.iter_mut().enumerate() {
            for i in 0..300 {
                let ch: &[u8] = if i % 2 == 0 { b"turn.a" } else { b"turn.b" };
                let payload = i.to_string();
                let want = if k % 2 == 0 {
                    message(2, ch, payload.as_bytes())
                } else {
                    pmessage(2, b"turn.*", ch, payload.as_bytes())
                };
                assert_eq!(
                    show(&s.frame("message")),
                    show(&want),
                    "{server}: subscriber {k}, message {i}"
                );
            }
            s.expect_nothing("after the 300 messages");
        }
    });
}

#[test]
fn a_client_matching_several_ways_gets_one_message_each() {
    // A channel subscription and two matching patterns: three frames, the
    // `message` first, the `pmessage`s in either order (Redis: hash order).
    on_both(|node, server| {
        for proto in [2, 3] {
            let mut s = Conn::open(node, server, proto);
            s.subscribe("SUBSCRIBE", &["multi.x"]);
            s.subscribe("PSUBSCRIBE", &["multi.*", "*.x", "nomatch.*"]);
            let mut publisher = Conn::open(node, server, 2);
            assert_eq!(publisher.publish(b"multi.x", b"p"), 3, "{server}");
            assert_eq!(
                show(&s.frame("message")),
                show(&message(proto, b"multi.x", b"p")),
                "{server} RESP{proto}"
            );
            let mut got = vec![s.frame("pmessage"), s.frame("pmessage")];
            got.sort();
            let mut want = vec![
                pmessage(proto, b"multi.*", b"multi.x", b"p"),
                pmessage(proto, b"*.x", b"multi.x", b"p"),
            ];
            want.sort();
            assert_eq!(got, want, "{server} RESP{proto}: {}", show(&got.concat()));
            s.expect_nothing("after the three frames");
        }
    });
}

#[test]
fn without_a_limit_a_slow_subscriber_gets_everything() {
    // `pubsub 0 0 0`: no limit. A subscriber that reads only after 2000
    // messages of 10 KiB were published still gets all of them, in order,
    // and the publisher was never held back.
    on_both(|node, server| {
        let mut admin = Conn::open(node, server, 2);
        admin.expect(&["CONFIG", "SET", OBUF_LIMIT, "pubsub 0 0 0"], b"+OK\r\n");
        let mut slow = Conn::open(node, server, 2);
        slow.subscribe("SUBSCRIBE", &["unlimited"]);
        let mut publisher = Conn::open(node, server, 2);
        let started = Instant::now();
        for i in 0..2000u32 {
            let mut payload = vec![b'x'; 10 * 1024];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            assert_eq!(
                publisher.publish(b"unlimited", &payload),
                1,
                "{server}: {i}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{server}: publishing 20 MB took {:?}",
            started.elapsed()
        );
        for i in 0..2000u32 {
            let mut payload = vec![b'x'; 10 * 1024];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            let got = slow.frame("message");
            assert!(
                got == message(2, b"unlimited", &payload),
                "{server}: message {i}: {}",
                show(&got)
            );
        }
        slow.expect_nothing("after the 2000 messages");
    });
}

#[test]
fn resp3_client_receives_its_own_publish() {
    // As in Redis 7.0, the push comes before PUBLISH's reply.
    on_both(|node, server| {
        let mut c = Conn::open(node, server, 3);
        c.subscribe("SUBSCRIBE", &["me"]);
        c.send(&[b"PUBLISH", b"me", b"self"]);
        let frames = [c.frame("PUBLISH me"), c.frame("PUBLISH me")].concat();
        let want = [message(3, b"me", b"self"), b":1\r\n".to_vec()].concat();
        assert_eq!(show(&frames), show(&want), "{server}");

        // With a matching pattern too: two pushes and the count 2.
        c.subscribe("PSUBSCRIBE", &["m*"]);
        c.send(&[b"PUBLISH", b"me", b"twice"]);
        let frames: Vec<u8> = (0..3).flat_map(|_| c.frame("PUBLISH me")).collect();
        let want = [
            message(3, b"me", b"twice"),
            pmessage(3, b"m*", b"me", b"twice"),
            b":2\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(show(&frames), show(&want), "{server}");

        // SPUBLISH to its own shard channel likewise.
        c.subscribe("SSUBSCRIBE", &["sme"]);
        c.send(&[b"SPUBLISH", b"sme", b"shard"]);
        let frames = [c.frame("SPUBLISH sme"), c.frame("SPUBLISH sme")].concat();
        let want = [
            push(3, &[b"smessage", b"sme", b"shard"]),
            b":1\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(show(&frames), show(&want), "{server}");

        // Ordinary commands keep working in between.
        c.expect(&["SET", "k", "v"], b"+OK\r\n");
        c.expect(&["GET", "k"], b"$1\r\nv\r\n");
        assert_eq!(c.publish(b"other", b"x"), 0, "{server}");
        c.expect(&["PING"], b"+PONG\r\n");
        c.expect_nothing("after PING");

        // Another client's message is pushed while this one is idle.
        let mut other = Conn::open(node, server, 2);
        assert_eq!(other.publish(b"me", b"from other"), 2, "{server}");
        assert_eq!(
            show(&c.frame("message")),
            show(&message(3, b"me", b"from other")),
            "{server}"
        );
        assert_eq!(
            show(&c.frame("pmessage")),
            show(&pmessage(3, b"m*", b"me", b"from other")),
            "{server}"
        );
        c.expect_nothing("after the pushes");
    });
}

#[test]
fn disconnected_subscribers_are_cleaned_up() {
    on_both(|node, server| {
        let mut admin = Conn::open(node, server, 2);
        {
            let mut subs: Vec<Conn> = (0..10)
                .map(|i| Conn::open(node, server, if i % 2 == 0 { 2 } else { 3 }))
                .collect();
            for s in &mut subs {
                s.subscribe("SUBSCRIBE", &["gone.ch", "gone.other"]);
                s.subscribe("PSUBSCRIBE", &["gone.*"]);
                s.subscribe("SSUBSCRIBE", &["gone.sh"]);
            }
            admin.expect(
                &["PUBSUB", "NUMSUB", "gone.ch"],
                b"*2\r\n$7\r\ngone.ch\r\n:10\r\n",
            );
            assert_eq!(admin.int(&["PUBSUB", "NUMPAT"]), 1, "{server}");
            assert_eq!(admin.publish(b"gone.ch", b"x"), 20, "{server}");
            // A subscriber with unread messages and a half-sent command.
            subs[0]
                .writer
                .write_all(b"*2\r\n$4\r\nPING")
                .expect("write");
        }
        wait_until(
            Duration::from_secs(5),
            &format!("{server}: the subscribers to be gone"),
            || client_list(&mut admin).len() == 1,
        );
        wait_until(
            Duration::from_secs(5),
            &format!("{server}: PUBSUB NUMSUB gone.ch to drop to 0"),
            || admin.call(&["PUBSUB", "NUMSUB", "gone.ch"]) == b"*2\r\n$7\r\ngone.ch\r\n:0\r\n",
        );
        admin.expect(
            &["PUBSUB", "NUMSUB", "gone.ch", "gone.other"],
            b"*4\r\n$7\r\ngone.ch\r\n:0\r\n$10\r\ngone.other\r\n:0\r\n",
        );
        admin.expect(&["PUBSUB", "NUMPAT"], b":0\r\n");
        admin.expect(&["PUBSUB", "CHANNELS"], b"*0\r\n");
        admin.expect(&["PUBSUB", "SHARDCHANNELS"], b"*0\r\n");
        admin.expect(
            &["PUBSUB", "SHARDNUMSUB", "gone.sh"],
            b"*2\r\n$7\r\ngone.sh\r\n:0\r\n",
        );
        assert_eq!(admin.publish(b"gone.ch", b"x"), 0, "{server}");
        admin.expect(&["SPUBLISH", "gone.sh", "x"], b":0\r\n");
        assert_eq!(stat(&mut admin, "pubsub_channels"), 0, "{server}");
        assert_eq!(stat(&mut admin, "pubsub_patterns"), 0, "{server}");
        assert_eq!(stat(&mut admin, "pubsubshard_channels"), 0, "{server}");

        // New subscribers of the same channels work.
        let mut s = Conn::open(node, server, 2);
        s.subscribe("SUBSCRIBE", &["gone.ch"]);
        assert_eq!(admin.publish(b"gone.ch", b"fresh"), 1, "{server}");
        assert_eq!(
            show(&s.frame("message")),
            show(&message(2, b"gone.ch", b"fresh")),
            "{server}"
        );
    });
}

#[test]
fn client_list_shows_subscriptions() {
    on_both(|node, server| {
        let mut admin = Conn::open(node, server, 2);
        let line = client_line(&mut admin, "");
        assert!(line.contains(" flags=N "), "{server}: {line}");
        assert!(line.contains(" sub=0 psub=0 ssub=0 "), "{server}: {line}");

        let mut a = Conn::open(node, server, 2);
        a.expect(&["CLIENT", "SETNAME", "subber"], b"+OK\r\n");
        a.subscribe("SUBSCRIBE", &["c1", "c2"]);
        a.subscribe("PSUBSCRIBE", &["p*"]);
        let line = client_line(&mut admin, "subber");
        assert!(line.contains(" flags=P "), "{server}: {line}");
        assert!(line.contains(" sub=2 psub=1 ssub=0 "), "{server}: {line}");
        assert!(line.contains(" cmd=psubscribe "), "{server}: {line}");

        let mut s = Conn::open(node, server, 2);
        s.expect(&["CLIENT", "SETNAME", "sharder"], b"+OK\r\n");
        s.subscribe("SSUBSCRIBE", &["s1", "s2"]);
        let line = client_line(&mut admin, "sharder");
        assert!(line.contains(" flags=P "), "{server}: {line}");
        assert!(line.contains(" sub=0 psub=0 ssub=2 "), "{server}: {line}");

        // A RESP3 subscriber may ask about itself.
        let mut r3 = Conn::open(node, server, 3);
        r3.expect(&["CLIENT", "SETNAME", "three"], b"+OK\r\n");
        r3.subscribe("SUBSCRIBE", &["x"]);
        r3.subscribe("SSUBSCRIBE", &["y"]);
        let info = r3.text(&["CLIENT", "INFO"]);
        assert!(info.contains(" flags=P "), "{server}: {info}");
        assert!(info.contains(" sub=1 psub=0 ssub=1 "), "{server}: {info}");
        assert!(info.contains(" resp=3"), "{server}: {info}");

        // Unsubscribed: flag and counts back to normal.
        a.send(&[b"UNSUBSCRIBE"]);
        a.frame("UNSUBSCRIBE");
        a.frame("UNSUBSCRIBE");
        let line = client_line(&mut admin, "subber");
        assert!(line.contains(" flags=P "), "{server}: {line}");
        assert!(line.contains(" sub=0 psub=1 ssub=0 "), "{server}: {line}");
        a.send(&[b"PUNSUBSCRIBE"]);
        a.frame("PUNSUBSCRIBE");
        let line = client_line(&mut admin, "subber");
        assert!(line.contains(" flags=N "), "{server}: {line}");
        assert!(line.contains(" sub=0 psub=0 ssub=0 "), "{server}: {line}");
        s.expect(&["RESET"], b"+RESET\r\n");
        let info = s.text(&["CLIENT", "INFO"]);
        assert!(info.contains(" flags=N "), "{server}: {info}");
        assert!(info.contains(" sub=0 psub=0 ssub=0 "), "{server}: {info}");
    });
}

#[test]
fn client_type_pubsub_selects_subscribed_clients() {
    on_both(|node, server| {
        let mut admin = Conn::open(node, server, 2);
        admin.expect(&["CLIENT", "SETNAME", "plain"], b"+OK\r\n");
        let mut a = Conn::open(node, server, 2);
        a.expect(&["CLIENT", "SETNAME", "sub-a"], b"+OK\r\n");
        a.subscribe("SUBSCRIBE", &["x"]);
        let mut b = Conn::open(node, server, 3);
        b.expect(&["CLIENT", "SETNAME", "sub-b"], b"+OK\r\n");
        b.subscribe("SSUBSCRIBE", &["y"]);
        let mut c = Conn::open(node, server, 2);
        c.expect(&["CLIENT", "SETNAME", "sub-c"], b"+OK\r\n");
        c.subscribe("PSUBSCRIBE", &["z*"]);
        let names = |text: String| -> Vec<String> {
            let mut v: Vec<String> = text
                .lines()
                .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("name=")))
                .map(str::to_string)
                .collect();
            v.sort();
            v
        };
        let pubsub = names(admin.text(&["CLIENT", "LIST", "TYPE", "pubsub"]));
        assert_eq!(pubsub, ["sub-a", "sub-b", "sub-c"], "{server}");
        let normal = names(admin.text(&["CLIENT", "LIST", "TYPE", "normal"]));
        assert_eq!(normal, ["plain"], "{server}");
        assert_eq!(
            admin.int(&["CLIENT", "KILL", "TYPE", "pubsub"]),
            3,
            "{server}"
        );
        for s in [&mut a, &mut b, &mut c] {
            s.read_to_eof(Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("{server}: a killed subscriber: {e}"));
        }
        wait_until(
            Duration::from_secs(2),
            &format!("{server}: the killed subscribers' channels to go"),
            || admin.call(&["PUBSUB", "NUMSUB", "x"]) == b"*2\r\n$1\r\nx\r\n:0\r\n",
        );
        admin.expect(&["PUBSUB", "NUMPAT"], b":0\r\n");
        admin.expect(&["PUBSUB", "SHARDCHANNELS"], b"*0\r\n");
    });
}

#[test]
fn info_stats_pubsub_counts() {
    on_both(|node, server| {
        let mut admin = Conn::open(node, server, 2);
        let counts = |admin: &mut Conn| {
            [
                stat(admin, "pubsub_channels"),
                stat(admin, "pubsub_patterns"),
                stat(admin, "pubsubshard_channels"),
            ]
        };
        assert_eq!(counts(&mut admin), [0, 0, 0], "{server}");
        let mut a = Conn::open(node, server, 2);
        let mut b = Conn::open(node, server, 3);
        let mut c = Conn::open(node, server, 2);
        let mut d = Conn::open(node, server, 2);
        a.subscribe("SUBSCRIBE", &["c1", "c2"]);
        a.subscribe("PSUBSCRIBE", &["x*", "y*"]);
        b.subscribe("SUBSCRIBE", &["c1"]);
        b.subscribe("PSUBSCRIBE", &["x*"]);
        c.subscribe("SSUBSCRIBE", &["s1", "s2"]);
        d.subscribe("SSUBSCRIBE", &["s1"]);
        // Distinct channels and patterns, not subscriptions.
        assert_eq!(counts(&mut admin), [2, 2, 2], "{server}");
        assert_eq!(admin.int(&["PUBSUB", "NUMPAT"]), 2, "{server}");
        a.send(&[b"UNSUBSCRIBE", b"c2"]);
        a.frame("UNSUBSCRIBE");
        assert_eq!(counts(&mut admin), [1, 2, 2], "{server}");
        b.send(&[b"PUNSUBSCRIBE", b"x*"]);
        b.frame("PUNSUBSCRIBE");
        assert_eq!(counts(&mut admin), [1, 2, 2], "{server}");
        a.send(&[b"PUNSUBSCRIBE", b"x*"]);
        a.frame("PUNSUBSCRIBE");
        assert_eq!(counts(&mut admin), [1, 1, 2], "{server}");
        c.send(&[b"SUNSUBSCRIBE", b"s2"]);
        c.frame("SUNSUBSCRIBE");
        assert_eq!(counts(&mut admin), [1, 1, 1], "{server}");
        drop((a, b, c, d));
        wait_until(
            Duration::from_secs(5),
            &format!("{server}: the pubsub counts to drop to 0"),
            || counts(&mut admin) == [0, 0, 0],
        );
    });
}

// ---------------------------------------------------------------------------
// Slow subscribers: client-output-buffer-limit pubsub
// ---------------------------------------------------------------------------

/// A subscriber that never reads while 2000 messages of 10 KiB (20 MB, far
/// more than the kernel's socket buffers hold) are published: the hard
/// limit of 1 MB cuts it off.
fn hard_limit_cut_off(node: &Proc, server: &'static str) {
    let started = Instant::now();
    let mut admin = Conn::open(node, server, 2);
    admin.expect(
        &["CONFIG", "SET", OBUF_LIMIT, "pubsub 1mb 512kb 60"],
        b"+OK\r\n",
    );
    let mut slow = Conn::open(node, server, 2);
    slow.subscribe("SUBSCRIBE", &["slow"]);
    // A healthy subscriber on another channel, reading as it goes.
    let mut healthy = Conn::open(node, server, 2);
    healthy.subscribe("SUBSCRIBE", &["healthy"]);

    let mut publisher = Conn::open(node, server, 2);
    let payload = vec![b'x'; 10 * 1024];
    let mut counts = Vec::new();
    for i in 0..2000 {
        counts.push(publisher.publish(b"slow", &payload));
        if i % 100 == 0 {
            assert_eq!(publisher.publish(b"healthy", b"beat"), 1, "{server}");
            assert_eq!(
                show(&healthy.frame("message")),
                show(&message(2, b"healthy", b"beat")),
                "{server}"
            );
        }
    }
    let first_zero = counts.iter().position(|&n| n == 0);
    let first_zero = first_zero
        .unwrap_or_else(|| panic!("{server}: the subscriber that never reads still got all 20 MB"));
    assert!(
        counts[..first_zero].iter().all(|&n| n == 1)
            && counts[first_zero..].iter().all(|&n| n == 0),
        "{server}: PUBLISH counts: once cut off a subscriber stays gone: {counts:?}"
    );
    // The subscriber reads what the kernel buffered, then EOF.
    let read = slow
        .read_to_eof(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{server}: the slow subscriber was not disconnected: {e}"));
    assert!(read < 20 * 1024 * 1024, "{server}: read {read} bytes");
    // The server stays responsive, the channel is free again.
    admin.expect(&["PING"], b"+PONG\r\n");
    wait_until(
        Duration::from_secs(2),
        &format!("{server}: NUMSUB slow to drop to 0"),
        || admin.call(&["PUBSUB", "NUMSUB", "slow"]) == b"*2\r\n$4\r\nslow\r\n:0\r\n",
    );
    assert_eq!(publisher.publish(b"healthy", b"after"), 1, "{server}");
    assert_eq!(
        show(&healthy.frame("message")),
        show(&message(2, b"healthy", b"after")),
        "{server}"
    );
    let mut again = Conn::open(node, server, 2);
    again.subscribe("SUBSCRIBE", &["slow"]);
    assert_eq!(publisher.publish(b"slow", b"small"), 1, "{server}");
    assert_eq!(
        show(&again.frame("message")),
        show(&message(2, b"slow", b"small")),
        "{server}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{server}: took {:?}",
        started.elapsed()
    );
    // Redis 7.0 has no such INFO field (7.2 added it); a server that
    // reports it must count the disconnection.
    let info = admin.text(&["INFO", "stats"]);
    if let Some(v) = info_field(&info, "client_output_buffer_limit_disconnections") {
        let n: i64 = v.parse().expect("a number");
        assert!(
            n >= 1,
            "{server}: client_output_buffer_limit_disconnections:{n} after a disconnection"
        );
    }
}

#[test]
fn slow_subscriber_cut_off_at_the_hard_limit() {
    on_both(hard_limit_cut_off);
}

#[test]
fn cut_off_subscriber_is_dropped_before_it_reads() {
    // The subscriber reads nothing at all: the server must close it by
    // itself, not when the peer finally drains the socket.
    on_both(|node, server| {
        for limit in ["pubsub 1mb 512kb 60", "pubsub 0 256kb 1"] {
            let mut admin = Conn::open(node, server, 2);
            admin.expect(&["CONFIG", "SET", OBUF_LIMIT, limit], b"+OK\r\n");
            let mut slow = Conn::open(node, server, 2);
            slow.expect(&["CLIENT", "SETNAME", "slow-sub"], b"+OK\r\n");
            slow.subscribe("SUBSCRIBE", &["slow"]);
            let mut publisher = Conn::open(node, server, 2);
            let payload = vec![b'x'; 10 * 1024];
            // 20 MB at once, then (soft limit) a small message every 50 ms.
            let started = Instant::now();
            for i in 0.. {
                let n = if i < 2000 {
                    publisher.publish(b"slow", &payload)
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                    publisher.publish(b"slow", b"tick")
                };
                if n == 0 {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(6),
                    "{server} ({limit}): never cut off"
                );
            }
            wait_until(
                Duration::from_secs(2),
                &format!("{server} ({limit}): the cut-off subscriber to leave CLIENT LIST"),
                || {
                    !client_list(&mut admin)
                        .iter()
                        .any(|l| l.contains(" name=slow-sub "))
                },
            );
            admin.expect(&["PUBSUB", "NUMSUB", "slow"], b"*2\r\n$4\r\nslow\r\n:0\r\n");
            admin.expect(&["PUBSUB", "CHANNELS"], b"*0\r\n");
            assert_eq!(stat(&mut admin, "pubsub_channels"), 0, "{server} ({limit})");
            slow.read_to_eof(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{server} ({limit}): not disconnected: {e}"));
        }
    });
}

#[test]
fn slow_subscriber_cut_off_after_the_soft_limit_seconds() {
    // No hard limit; a soft limit of 256 KB held for more than 1 second.
    on_both(|node, server| {
        let mut admin = Conn::open(node, server, 2);
        admin.expect(
            &["CONFIG", "SET", OBUF_LIMIT, "pubsub 0 256kb 1"],
            b"+OK\r\n",
        );
        let mut slow = Conn::open(node, server, 2);
        slow.subscribe("SUBSCRIBE", &["slow"]);
        let mut publisher = Conn::open(node, server, 2);
        let payload = vec![b'x'; 10 * 1024];
        // 8 MB at once: well over the soft limit, but not for a second yet.
        let burst = Instant::now();
        let counts: Vec<i64> = (0..800)
            .map(|_| publisher.publish(b"slow", &payload))
            .collect();
        let burst_took = burst.elapsed();
        if burst_took < Duration::from_millis(900) {
            assert!(
                counts.iter().all(|&n| n == 1),
                "{server}: cut off before the soft limit's second passed \
                 (burst took {burst_took:?}): {counts:?}"
            );
        }
        // Over the limit for longer than a second: cut off at a later write.
        let cut = loop {
            if publisher.publish(b"slow", b"tick") == 0 {
                break burst.elapsed();
            }
            assert!(
                burst.elapsed() < Duration::from_secs(5),
                "{server}: still subscribed 5 s after exceeding the soft limit"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            cut >= Duration::from_secs(1),
            "{server}: cut off after {cut:?}, before the soft limit's 1 s"
        );
        slow.read_to_eof(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{server}: not disconnected: {e}"));
        admin.expect(&["PING"], b"+PONG\r\n");
        wait_until(
            Duration::from_secs(2),
            &format!("{server}: NUMSUB slow to drop to 0"),
            || admin.call(&["PUBSUB", "NUMSUB", "slow"]) == b"*2\r\n$4\r\nslow\r\n:0\r\n",
        );
    });
}

// ---------------------------------------------------------------------------
// Fan-out across threads
// ---------------------------------------------------------------------------

#[test]
fn fan_out_across_threads_is_exact_and_ordered() {
    // 20 subscribers (half by channel, half by pattern, RESP2 and RESP3),
    // 5 publishers publishing 200 numbered messages each to their own
    // channel at once: every subscriber gets all 1000 messages exactly once,
    // each publisher's in order.
    const SUBS: usize = 20;
    const PUBS: usize = 5;
    const EACH: usize = 200;
    on_both(|node, server| {
        let ready = Arc::new(Barrier::new(SUBS + 1));
        let subscribers: Vec<_> = (0..SUBS)
            .map(|i| {
                let mut c = Conn::open(node, server, if i % 4 < 2 { 2 } else { 3 });
                let ready = ready.clone();
                std::thread::spawn(move || {
                    let by_pattern = i % 2 == 1;
                    if by_pattern {
                        c.subscribe("PSUBSCRIBE", &["fan.*"]);
                    } else {
                        c.subscribe("SUBSCRIBE", &["fan.0", "fan.1", "fan.2", "fan.3", "fan.4"]);
                    }
                    ready.wait();
                    let mut next = [0usize; PUBS];
                    for n in 0..PUBS * EACH {
                        let f = c.try_frame().unwrap_or_else(|e| {
                            panic!(
                                "{server}: subscriber {i} got {n} of {} messages ({e}); \
                                 next expected per publisher: {next:?}",
                                PUBS * EACH
                            )
                        });
                        let frame = Node::parse_exact(&f);
                        let texts: Vec<String> = frame.kids.iter().map(Node::text).collect();
                        let (channel, payload) = match (by_pattern, texts.as_slice()) {
                            (false, [kind, ch, p]) if kind == "message" => (ch, p),
                            (true, [kind, pat, ch, p]) if kind == "pmessage" && pat == "fan.*" => {
                                (ch, p)
                            }
                            _ => panic!("{server}: subscriber {i}: unexpected {}", show(&f)),
                        };
                        let (p, seq) = payload.split_once(':').expect("p:seq");
                        let (p, seq): (usize, usize) = (p.parse().unwrap(), seq.parse().unwrap());
                        assert_eq!(channel, &format!("fan.{p}"), "{server}: subscriber {i}");
                        assert_eq!(
                            seq, next[p],
                            "{server}: subscriber {i}: publisher {p}'s messages out of order \
                             (a duplicate or a loss)"
                        );
                        next[p] += 1;
                    }
                    c.expect_nothing("after all the messages");
                })
            })
            .collect();
        ready.wait();
        let publishers: Vec<_> = (0..PUBS)
            .map(|p| {
                let mut c = Conn::open(node, server, 2);
                std::thread::spawn(move || {
                    for seq in 0..EACH {
                        let ch = format!("fan.{p}");
                        let payload = format!("{p}:{seq}");
                        let n = c.publish(ch.as_bytes(), payload.as_bytes());
                        assert_eq!(n, SUBS as i64, "{server}: publisher {p}, message {seq}");
                    }
                })
            })
            .collect();
        join_all(publishers);
        join_all(subscribers);
    });
}

#[test]
fn subscribers_churning_while_publishing() {
    // Subscribers come and go (dropped, unsubscribed, RESET) while a
    // publisher keeps publishing: no hang, and the server ends clean.
    on_both(|node, server| {
        let stop = Arc::new(AtomicBool::new(false));
        let published = Arc::new(AtomicU64::new(0));
        let mut pc = Conn::open(node, server, 2);
        let publisher = {
            let (stop, published) = (stop.clone(), published.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    pc.publish(b"churn.x", b"m");
                    published.fetch_add(1, Ordering::Relaxed);
                }
                pc
            })
        };
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let conns: Vec<Conn> = (0..25)
                    .map(|i| Conn::open(node, server, if (w + i) % 2 == 0 { 2 } else { 3 }))
                    .collect();
                std::thread::spawn(move || {
                    for (i, mut c) in conns.into_iter().enumerate() {
                        c.subscribe("SUBSCRIBE", &["churn.x"]);
                        c.subscribe("PSUBSCRIBE", &["churn.*"]);
                        c.subscribe("SSUBSCRIBE", &["churn.s"]);
                        // Messages flow to this subscriber.
                        for _ in 0..2 {
                            let f = c.frame("a churn message");
                            assert!(
                                f.windows(7).any(|w| w == b"churn.x"),
                                "{server}: {}",
                                show(&f)
                            );
                        }
                        match i % 3 {
                            0 => {}
                            1 => {
                                c.send(&[b"UNSUBSCRIBE"]);
                                c.send(&[b"PUNSUBSCRIBE"]);
                                c.send(&[b"SUNSUBSCRIBE"]);
                            }
                            _ => c.send(&[b"RESET"]),
                        }
                        drop(c);
                    }
                })
            })
            .collect();
        join_all(workers);
        stop.store(true, Ordering::Relaxed);
        let mut pc = join_all(vec![publisher]).pop().expect("publisher");
        assert!(published.load(Ordering::Relaxed) > 0, "{server}");
        let mut admin = Conn::open(node, server, 2);
        wait_until(
            Duration::from_secs(5),
            &format!("{server}: the churned subscribers to be gone"),
            || {
                admin.call(&["PUBSUB", "NUMSUB", "churn.x"]) == b"*2\r\n$7\r\nchurn.x\r\n:0\r\n"
                    && admin.call(&["PUBSUB", "NUMPAT"]) == b":0\r\n"
                    && admin.call(&["PUBSUB", "SHARDCHANNELS"]) == b"*0\r\n"
            },
        );
        assert_eq!(pc.publish(b"churn.x", b"end"), 0, "{server}");
        assert_eq!(stat(&mut admin, "pubsub_channels"), 0, "{server}");
        assert_eq!(stat(&mut admin, "pubsub_patterns"), 0, "{server}");
        assert_eq!(stat(&mut admin, "pubsubshard_channels"), 0, "{server}");
    });
}
