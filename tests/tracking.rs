//! Client-side caching end to end: CLIENT TRACKING (default mode, REDIRECT,
//! BCAST, PREFIX, OPTIN, OPTOUT, NOLOOP), CLIENT CACHING, CLIENT GETREDIR,
//! CLIENT TRACKINGINFO and the invalidation messages, against a real
//! redis-server 7.0.
//!
//! Three parts:
//!
//! * differential tables: the same command lines go to a redis-server and to
//!   a `--threads 4` Ferrocache over several connections per server (`@N`
//!   picks one; each test states each connection's protocol with `HELLO 3`),
//!   replies compared byte for byte. `~recv` compares what a connection was
//!   sent since its last reply (RESP3 `invalidate` pushes, RESP2
//!   `__redis__:invalidate` messages, `tracking-redir-broken`): everything
//!   before the reply to a sentinel command sent then. A command's reply is
//!   read as the very next frame, so an invalidation sent before the reply
//!   of the command that caused it is a mismatch too. Covered: REDIRECT to a
//!   RESP2 subscriber and to RESP3 clients, a key invalidated once then
//!   untracked until read again, the writer's own invalidation after its
//!   reply (also after EXEC and after a script), NOLOOP, BCAST with and
//!   without prefixes (one sorted message per prefix), OPTIN/OPTOUT and
//!   CLIENT CACHING lasting one command, FLUSHALL/FLUSHDB null
//!   invalidations in both protocols, active and lazy expiry, every CLIENT
//!   TRACKING/CACHING error, CLIENT GETREDIR and TRACKINGINFO in every mode
//!   (RESP2 and RESP3 shapes), a REDIRECT client going away
//!   (`tracking-redir-broken`, `broken_redirect`), which writes invalidate,
//!   and scripts (a script running a read-only command tracks the EVAL's
//!   declared keys, as Redis 7.0 does);
//! * scenarios asserted identically on both servers where Redis is not
//!   deterministic: `tracking-table-max-keys` evicting random keys (each an
//!   invalidation) and the INFO tracking fields;
//! * a concurrency check on a `--threads 4` Ferrocache only: tracking
//!   clients (default and BCAST mode) cache what they read while writers on
//!   other threads rewrite the keys; in the end no cached value may differ
//!   from the server's without an invalidation having arrived.
//!
//! Every connection has a read timeout: a missing message or reply fails
//! the test instead of hanging it. A missing redis-server is a failure, not
//! a skip. Tests marked `#[ignore]` document differences from redis-server
//! found by this file (run them with `--ignored`). `TRACKING_TRACE=1`
//! prints redis-server's side of every compared line.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::conn::{Conn, READ_TIMEOUT};
use common::diff::{describe, show, Node};
use common::{info_field, start_ferrocache, start_redis, Proc, Raw};
use rand::{Rng, SeedableRng};

/// Ferrocache's worker threads: the connections of a test land on different
/// threads, so invalidations cross threads.
const FERRO_ARGS: &[&str] = &["--threads", "4", "--worker-placement", "spread"];

const SERVERS: [&str; 2] = ["redis-server", "ferrocache"];

// ---------------------------------------------------------------------------
// Differential tables over several connections
// ---------------------------------------------------------------------------

/// One table line: markers, then a command (or no command for `~recv`,
/// `~sleep`, `~expired`, `~gone`).
///
/// * `@N`: the connection (default 0), opened on first use, named
///   `trk-sentinel-N-end` (RESP2, or RESP3 in a table run with protocol 3);
/// * `$N` as an argument: connection N's client id on that server;
/// * `~skip`: run on both, reply not compared (HELLO: versions and ids differ);
/// * `~ids`: client ids of the table's connections in the reply are
///   compared as `#N`;
/// * `~recv`: what the connection was sent since (see the module doc);
/// * `~sleep:MS`: pause;
/// * `~expired:N`: wait until INFO stats expired_keys reaches N on both;
/// * `~gone:N`: wait until connection N's client is gone on both (QUIT).
type Line<'a> = &'a [&'a str];

/// One connection of the table to one server.
struct Side {
    raw: Raw,
    id: i64,
    /// Subscribed in RESP2 (only PING may serve as the sentinel).
    subscribed: bool,
    closed: bool,
}

struct Table {
    servers: [Proc; 2],
    conns: Vec<Option<[Side; 2]>>,
    /// Untracked connections for polling (INFO, CLIENT LIST).
    helpers: Option<[Raw; 2]>,
    proto: u8,
    /// Mismatch prefix: which protocol run of a table run twice.
    tag: String,
    /// The last command line, for `~recv` labels.
    last: String,
    compared: usize,
    /// Frames redis-server sent that `~recv` lines compared: a table
    /// expecting messages must see some (it is not comparing silences).
    received: usize,
    mismatches: Vec<String>,
    /// Ferrocache missed a reply: the rest of the table would be out of step.
    broken: bool,
}

fn need_redis() {
    assert!(
        common::have_redis(),
        "redis-server not found on PATH: the differential tests need it \
         (Debian/Ubuntu: apt-get install redis-server)"
    );
}

fn sentinel_token(n: usize) -> String {
    format!("trk-sentinel-{n}-end")
}

impl Table {
    fn start(proto: u8, tag: String) -> Table {
        need_redis();
        Table {
            servers: [start_redis(), start_ferrocache(FERRO_ARGS)],
            conns: Vec::new(),
            helpers: None,
            proto,
            tag,
            last: String::new(),
            compared: 0,
            received: 0,
            mismatches: Vec::new(),
            broken: false,
        }
    }

    fn open(&mut self, n: usize) {
        while self.conns.len() <= n {
            self.conns.push(None);
        }
        if self.conns[n].is_some() {
            return;
        }
        let proto = self.proto;
        let sides = [0, 1].map(|s| {
            let mut raw = self.servers[s].raw();
            raw.stream
                .set_read_timeout(Some(READ_TIMEOUT))
                .expect("timeout");
            if proto == 3 {
                let hello = raw.call(&["HELLO", "3"]);
                assert!(hello.starts_with(b"%"), "{}: HELLO 3", SERVERS[s]);
            }
            let ok = raw.call(&["CLIENT", "SETNAME", &sentinel_token(n)]);
            assert_eq!(ok, b"+OK\r\n", "{}: CLIENT SETNAME", SERVERS[s]);
            let id = Node::parse(&raw.call(&["CLIENT", "ID"])).int();
            Side {
                raw,
                id,
                subscribed: false,
                closed: false,
            }
        });
        self.conns[n] = Some(sides);
    }

    fn helper(&mut self, s: usize) -> &mut Raw {
        if self.helpers.is_none() {
            self.helpers = Some([self.servers[0].raw(), self.servers[1].raw()]);
        }
        &mut self.helpers.as_mut().expect("helpers")[s]
    }

    fn side(&mut self, n: usize, s: usize) -> &mut Side {
        self.open(n);
        &mut self.conns[n].as_mut().expect("open")[s]
    }

    /// The `INFO stats` expired_keys of server `s`.
    fn expired_keys(&mut self, s: usize) -> u64 {
        let info = self.helper(s).call(&["INFO", "stats"]);
        let info = String::from_utf8_lossy(&info).into_owned();
        info_field(&info, "expired_keys")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn line(&mut self, line: Line) {
        let mut conn = 0usize;
        let mut markers: Vec<&str> = Vec::new();
        let mut args = line;
        while let Some((first, rest)) = args.split_first() {
            if let Some(n) = first.strip_prefix('@') {
                conn = n.parse().expect("@N: a connection number");
            } else if first.starts_with('~') {
                markers.push(first);
            } else {
                break;
            }
            args = rest;
        }
        for m in &markers {
            if m.contains(':') {
                self.last = m.to_string();
            }
            if let Some(ms) = m.strip_prefix("~sleep:") {
                std::thread::sleep(Duration::from_millis(ms.parse().expect("~sleep:MS")));
                return;
            }
            if let Some(n) = m.strip_prefix("~expired:") {
                let n: u64 = n.parse().expect("~expired:N");
                for (s, server) in SERVERS.iter().enumerate() {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while self.expired_keys(s) < n {
                        assert!(
                            Instant::now() < deadline,
                            "{server}: expired_keys never reached {n}"
                        );
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                // The expiry's invalidations are sent right after it counts.
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
            if let Some(n) = m.strip_prefix("~gone:") {
                let n: usize = n.parse().expect("~gone:N");
                for (s, server) in SERVERS.iter().enumerate() {
                    let id = self.side(n, s).id.to_string();
                    let deadline = Instant::now() + Duration::from_secs(10);
                    loop {
                        let list = self.helper(s).call(&["CLIENT", "LIST", "ID", &id]);
                        if !list.windows(3).any(|w| w == b"id=") {
                            break;
                        }
                        assert!(
                            Instant::now() < deadline,
                            "{server}: client {id} still connected"
                        );
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                return;
            }
        }
        let marked = |m: &str| markers.contains(&m);
        let label = if args.is_empty() {
            format!("@{conn} {} (after {})", markers.join(" "), self.last)
        } else {
            self.last = format!("@{conn} {}", describe(args));
            self.last.clone()
        };
        self.open(conn);

        if marked("~recv") {
            let want = match self.frames_before_sentinel(conn, 0) {
                Ok(f) => f,
                Err(e) => panic!("redis-server: {label}: {e}: table broken"),
            };
            let got = self.frames_before_sentinel(conn, 1);
            self.received += want.len();
            self.compare(&label, &markers, want, got);
            return;
        }

        // `$N` arguments: that connection's client id, per server.
        let mut per_server: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        for (s, out) in per_server.iter_mut().enumerate() {
            for a in args {
                match a.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) => out.push(self.side(n, s).id.to_string()),
                    None => out.push(a.to_string()),
                }
            }
        }
        let subscribes = args.first().is_some_and(|c| {
            c.eq_ignore_ascii_case("subscribe") || c.eq_ignore_ascii_case("psubscribe")
        });
        let quits = args.first().is_some_and(|c| c.eq_ignore_ascii_case("quit"));
        let proto = self.proto;
        for (s, args) in per_server.iter().enumerate() {
            let side = self.side(conn, s);
            let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            side.raw.cmd(&bytes);
            if subscribes && proto == 2 {
                side.subscribed = true;
            }
            if quits {
                side.closed = true;
            }
        }
        let [r, f] = [0, 1].map(|s| self.side(conn, s).raw.try_read_reply());
        let r = r.unwrap_or_else(|e| panic!("redis-server: {label}: {e}: table broken"));
        if marked("~skip") {
            if f.is_err() {
                self.broken = true;
                self.fail(&label, &show(&r), "<no reply>");
            }
            return;
        }
        self.compare(
            &label,
            &markers,
            vec![r],
            f.map(|f| vec![f]).map_err(|e| e.to_string()),
        );
    }

    fn compare(
        &mut self,
        label: &str,
        markers: &[&str],
        want: Vec<Vec<u8>>,
        got: Result<Vec<Vec<u8>>, String>,
    ) {
        self.compared += 1;
        if std::env::var_os("TRACKING_TRACE").is_some() {
            eprintln!("{label}\n    redis: {}", show(&want.concat()));
        }
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                self.broken = true;
                self.fail(label, &show(&want.concat()), &format!("<{e}>"));
                return;
            }
        };
        let (want, got) = if markers.contains(&"~ids") {
            (self.ids_named(0, &want), self.ids_named(1, &got))
        } else {
            (want, got)
        };
        if want != got {
            self.fail(label, &show(&want.concat()), &show(&got.concat()));
        }
    }

    /// Client ids of the table's connections, as `:#N` (integer replies).
    fn ids_named(&self, s: usize, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        frames
            .iter()
            .map(|f| {
                let mut f = f.clone();
                for (n, c) in self.conns.iter().enumerate() {
                    if let Some(c) = c {
                        let from = format!(":{}\r\n", c[s].id).into_bytes();
                        let to = format!(":#{n}\r\n").into_bytes();
                        f = replace_all(&f, &from, &to);
                    }
                }
                f
            })
            .collect()
    }

    /// The frames connection `n` of server `s` was sent before the reply to
    /// a sentinel sent now: `CLIENT GETNAME` (a CLIENT subcommand keeps a
    /// pending CLIENT CACHING, in Redis and in Ferrocache), or `PING name`
    /// on a RESP2 subscriber. Both servers queue what was sent to a
    /// connection ahead of the replies to commands it sends later.
    fn frames_before_sentinel(&mut self, n: usize, s: usize) -> Result<Vec<Vec<u8>>, String> {
        let token = sentinel_token(n);
        let side = self.side(n, s);
        if side.closed {
            return Ok(Vec::new());
        }
        if side.subscribed {
            side.raw.cmd(&[b"PING", token.as_bytes()]);
        } else {
            side.raw.cmd(&[b"CLIENT", b"GETNAME"]);
        }
        let mut frames = Vec::new();
        loop {
            match side.raw.try_read_reply() {
                Ok(f) if f.windows(token.len()).any(|w| w == token.as_bytes()) => {
                    return Ok(frames)
                }
                Ok(f) => frames.push(f),
                Err(e) => {
                    return Err(format!(
                        "no sentinel reply ({e}); frames before: {}",
                        show(&frames.concat())
                    ))
                }
            }
            if frames.len() > 10_000 {
                return Err("more than 10000 frames".into());
            }
        }
    }

    /// Nothing left unsent-yet-unread on any connection.
    fn check_quiet(&mut self) {
        for n in 0..self.conns.len() {
            if self.conns[n].is_none() {
                continue;
            }
            let want = self
                .frames_before_sentinel(n, 0)
                .unwrap_or_else(|e| panic!("redis-server: @{n} at the end: {e}"));
            let got = self.frames_before_sentinel(n, 1);
            let label = format!("@{n} <left unread at the end>");
            if want.is_empty() && got.as_ref().is_ok_and(|g| g.is_empty()) {
                continue;
            }
            self.compare(&label, &[], want, got);
        }
    }

    fn fail(&mut self, label: &str, redis: &str, ferro: &str) {
        self.mismatches.push(format!(
            "{}{label}\n    redis:      {redis}\n    ferrocache: {ferro}",
            self.tag
        ));
    }
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Runs `lines` on fresh servers (connections open in RESP2 unless a line
/// says HELLO 3) and fails with every line that differs from redis-server.
fn table(name: &str, lines: &[Line]) {
    table_for(name, &[2], lines);
}

/// Like [`table`], once per protocol: connections open with HELLO 3 in
/// the protocol-3 run.
fn table_for(name: &str, protos: &[u8], lines: &[Line]) {
    let mut compared = 0;
    let mut received = 0;
    let mut mismatches = Vec::new();
    for &proto in protos {
        let tag = if protos.len() > 1 {
            format!("[RESP{proto} run] ")
        } else {
            String::new()
        };
        let mut t = Table::start(proto, tag);
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
        received += t.received;
        mismatches.extend(std::mem::take(&mut t.mismatches));
    }
    eprintln!("{name}: {compared} lines compared, {received} frames received");
    let expects_messages = lines.iter().any(|l| l.contains(&"~recv"));
    assert!(
        !expects_messages || received > 0,
        "{name}: redis-server sent no message at all: the table tests nothing"
    );
    assert!(
        mismatches.is_empty(),
        "{name}: {} of {compared} lines differ from redis-server:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

const INVALIDATE: &str = "__redis__:invalidate";

// ---------------------------------------------------------------------------
// 1. Default mode, REDIRECT to a RESP2 subscriber
// ---------------------------------------------------------------------------

#[test]
fn default_mode_redirect_to_resp2_subscriber() {
    table(
        "default mode, REDIRECT to a RESP2 subscriber",
        &[
            &["@1", "SUBSCRIBE", INVALIDATE],
            &["@0", "CLIENT", "TRACKING", "on", "REDIRECT", "$1"],
            &["@0", "GET", "a"],
            &["@0", "GET", "b"],
            // A write to a read key: exactly one message, to the subscriber.
            &["@2", "SET", "a", "1"],
            &["@1", "~recv"],
            &["@0", "~recv"],
            // A key never read: nothing.
            &["@2", "SET", "c", "1"],
            &["@1", "~recv"],
            // Invalidated once, `a` is no longer tracked ...
            &["@2", "SET", "a", "2"],
            &["@2", "DEL", "a"],
            &["@1", "~recv"],
            // ... until read again.
            &["@0", "GET", "a"],
            &["@2", "SET", "a", "3"],
            &["@1", "~recv"],
            &["@2", "SET", "a", "4"],
            &["@1", "~recv"],
            // One message per key, in the order the command changed them.
            &["@0", "MGET", "a", "b", "c"],
            &["@2", "MSET", "c", "1", "a", "1", "b", "1", "zz", "1"],
            &["@1", "~recv"],
            // The tracking client's own write: its RESP2 stream stays clean,
            // the message goes to the subscriber.
            &["@0", "GET", "a"],
            &["@0", "SET", "a", "own"],
            &["@0", "~recv"],
            &["@1", "~recv"],
            // Deleting a missing key changes nothing: no message.
            &["@0", "GET", "d"],
            &["@2", "DEL", "d"],
            &["@1", "~recv"],
            &["@2", "SET", "d", "1"],
            &["@1", "~recv"],
            // Other read commands track their keys too.
            &["@0", "STRLEN", "d"],
            &["@0", "EXISTS", "e"],
            &["@0", "TYPE", "f"],
            &["@2", "MSET", "d", "2", "e", "2", "f", "2"],
            &["@1", "~recv"],
            // Binary-safe key names.
            &["@0", "GET", "bin\r\nkey\0"],
            &["@2", "SET", "bin\r\nkey\0", "v"],
            &["@1", "~recv"],
            // A RESP3 tracking client may redirect to a RESP2 subscriber too.
            &["@3", "~skip", "HELLO", "3"],
            &["@3", "CLIENT", "TRACKING", "on", "REDIRECT", "$1"],
            &["@3", "GET", "g"],
            &["@2", "SET", "g", "1"],
            &["@3", "~recv"],
            &["@1", "~recv"],
            // A RESP2 redirect target not subscribed: nothing anywhere ...
            &["@4", "PING"],
            &["@5", "CLIENT", "TRACKING", "on", "REDIRECT", "$4"],
            &["@5", "GET", "h"],
            &["@2", "SET", "h", "1"],
            &["@4", "~recv"],
            &["@5", "~recv"],
            // ... until it subscribes.
            &["@5", "GET", "h"],
            &["@4", "SUBSCRIBE", INVALIDATE],
            &["@2", "SET", "h", "2"],
            &["@4", "~recv"],
            // Subscribed to another channel or to a pattern only: the
            // message still comes, as `message` on __redis__:invalidate.
            &["@6", "SUBSCRIBE", "other"],
            &["@7", "PSUBSCRIBE", "__redis__:*"],
            &["@8", "CLIENT", "TRACKING", "on", "REDIRECT", "$6"],
            &["@9", "CLIENT", "TRACKING", "on", "REDIRECT", "$7"],
            &["@8", "GET", "i"],
            &["@9", "GET", "j"],
            &["@2", "MSET", "i", "1", "j", "1"],
            &["@6", "~recv"],
            &["@7", "~recv"],
            // A RESP2 tracking client without REDIRECT gets nothing.
            &["@10", "CLIENT", "TRACKING", "on"],
            &["@10", "GET", "k"],
            &["@2", "SET", "k", "1"],
            &["@10", "SET", "k", "2"],
            &["@10", "~recv"],
        ],
    );
}

// ---------------------------------------------------------------------------
// 2. RESP3: the tracking client's own pushes
// ---------------------------------------------------------------------------

#[test]
fn resp3_pushes_after_the_reply_noloop_and_transactions() {
    table(
        "RESP3 invalidate pushes",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "GET", "a"],
            &["@0", "GET", "b"],
            &["@2", "SET", "a", "1"],
            &["@0", "~recv"],
            &["@2", "SET", "z", "1"],
            &["@2", "SET", "a", "2"],
            &["@0", "~recv"],
            // Its own write: the push comes after the write's reply (the
            // reply is read as the next frame, then the push).
            &["@0", "GET", "a"],
            &["@0", "SET", "a", "3"],
            &["@0", "~recv"],
            &["@0", "GET", "a"],
            &["@0", "MSET", "b", "4", "a", "4", "c", "4"],
            &["@0", "~recv"],
            // MULTI/EXEC: the push after the EXEC reply; the GET inside
            // tracks `a` again.
            &["@0", "GET", "a"],
            &["@0", "MULTI"],
            &["@0", "SET", "a", "5"],
            &["@0", "GET", "a"],
            &["@0", "INCR", "n"],
            &["@0", "EXEC"],
            &["@0", "~recv"],
            &["@2", "SET", "a", "6"],
            &["@0", "~recv"],
            // A read and then a write of the same key in one transaction.
            &["@0", "MULTI"],
            &["@0", "GET", "t"],
            &["@0", "SET", "t", "1"],
            &["@0", "EXEC"],
            &["@0", "~recv"],
            &["@2", "SET", "t", "2"],
            &["@0", "~recv"],
            // A push queued before a command comes before its reply.
            &["@0", "GET", "q"],
            &["@2", "SET", "q", "1"],
            &["@0", "GET", "q"],
            // NOLOOP: its own writes are not news to it ...
            &["@0", "CLIENT", "TRACKING", "on", "NOLOOP"],
            &["@0", "GET", "a"],
            &["@0", "SET", "a", "7"],
            &["@0", "~recv"],
            // ... and they still untrack the key ...
            &["@2", "SET", "a", "8"],
            &["@0", "~recv"],
            // ... while the others' writes are.
            &["@0", "GET", "a"],
            &["@2", "SET", "a", "9"],
            &["@0", "~recv"],
            &["@0", "GET", "a"],
            &["@0", "MULTI"],
            &["@0", "SET", "a", "10"],
            &["@0", "EXEC"],
            &["@0", "~recv"],
            // CLIENT TRACKING on again without NOLOOP drops it.
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "GET", "a"],
            &["@0", "SET", "a", "11"],
            &["@0", "~recv"],
            // Tracking off: no more messages; a key changed meanwhile is
            // forgotten ...
            &["@0", "GET", "y"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@2", "SET", "y", "1"],
            &["@0", "~recv"],
            &["@0", "GET", "y"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@2", "SET", "y", "2"],
            &["@0", "~recv"],
            // ... but one read before and unchanged stays in the table (as
            // Redis: entries of a client are dropped lazily).
            &["@0", "GET", "w"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@2", "SET", "w", "1"],
            &["@0", "~recv"],
            // Tracking is per key name, whatever the database.
            &["@0", "GET", "x"],
            &["@2", "SELECT", "1"],
            &["@2", "SET", "x", "db1"],
            &["@2", "SELECT", "0"],
            &["@0", "~recv"],
            // REDIRECT to a RESP3 client: a push on that client.
            &["@3", "~skip", "HELLO", "3"],
            &["@4", "CLIENT", "TRACKING", "on", "REDIRECT", "$3"],
            &["@4", "GET", "r"],
            &["@2", "SET", "r", "1"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            // REDIRECT to itself.
            &["@5", "~skip", "HELLO", "3"],
            &["@5", "CLIENT", "TRACKING", "on", "REDIRECT", "$5"],
            &["@5", "GET", "u"],
            &["@5", "SET", "u", "1"],
            &["@5", "~recv"],
            // Two tracking clients of one key: each gets its push.
            &["@6", "~skip", "HELLO", "3"],
            &["@6", "CLIENT", "TRACKING", "on"],
            &["@0", "GET", "v"],
            &["@6", "GET", "v"],
            &["@2", "SET", "v", "1"],
            &["@0", "~recv"],
            &["@6", "~recv"],
        ],
    );
}

#[test]
fn redirect_target_writing_gets_the_push_before_its_reply() {
    table(
        "REDIRECT target writing",
        &[
            &["@3", "~skip", "HELLO", "3"],
            &["@4", "CLIENT", "TRACKING", "on", "REDIRECT", "$3"],
            &["@4", "GET", "s"],
            &["@3", "SET", "s", "1"],
            &["@3", "~recv"],
            &["@3", "FLUSHALL"],
            &["@3", "~recv"],
        ],
    );
}

// ---------------------------------------------------------------------------
// Which writes invalidate
// ---------------------------------------------------------------------------

#[test]
fn writes_that_change_a_key_invalidate_it() {
    // Setup, read by the tracking client, write by another client: does
    // the write invalidate? (Some of these change nothing or fail, and
    // send nothing.)
    write_cases(
        "writes that invalidate",
        &[
            "SET k 1 | GET k | EXPIRE k 100",
            "SET k 1 EX 100 | TTL k | PERSIST k",
            "SET k 1 | GET k | PERSIST k",
            "SET k 1 | GET k | EXPIRE k 100 GT",
            "SET k 1 | GET k | PEXPIRE k 0",
            "SET k 1 | GET k | INCRBY k 0",
            "SET k 1 | GET k | APPEND k ''",
            "SET k 1 | GET k | SET k 1 NX",
            "SET k 1 | GET k | SET k 1 XX",
            "SET k 1 | GET k | SETNX k 2",
            "SET k 1 | GET k | MSETNX k 2 k2 2",
            "SET k 1 | GET k | SET k 2 GET",
            "SET k 1 | GET k | GETDEL k",
            "SET k 1 | GET k | GETEX k PX 100000",
            "SET k 1 | GET k | GETEX k",
            "SET k 1 | GET k | UNLINK k",
            "SET k 1 | GET k | RENAME k k2",
            "SET k2 1 | GET k | RENAME k2 k",
            "SET k 1 | GET k | RENAME k k",
            "SET k2 1 | GET k | COPY k2 k",
            "SET k 1 | GET k | MOVE k 1",
            "SET k 1 | GET k | SETRANGE k 0 x",
            "SET k 1 | GET k | SETEX k 100 v",
            "SET k 1 | GETBIT k 0 | SETBIT k 0 1",
            "SET k 1 | GET k | GETRANGE k 0 1",
            "SET k 1 | GET k | TOUCH k",
            "SET k 1 | GET k | EXPIRE nokey 100",
            "RPUSH k a b | LRANGE k 0 -1 | LPOP k 2",
            "RPUSH k a b | LLEN k | LTRIM k 0 -1",
            "RPUSH k a b | LINDEX k 0 | LSET k 0 a",
            "RPUSH src a | LLEN k | LMOVE src k LEFT LEFT",
            "SET x 1 | LLEN k | LMOVE nolist k LEFT LEFT",
            "RPUSH l 3 1 | GET k | SORT l STORE k",
            "HSET k f v | HGET k f | HSET k f v",
            "HSET k f v | HLEN k | HINCRBY k g 0",
            "HSET k f v | HGETALL k | HDEL k f",
            "SADD k a | SCARD k | SADD k b",
            "SADD k a | SMEMBERS k | SINTERSTORE k k nokey",
            "SADD k a | SISMEMBER k a | SPOP k",
            "ZADD k 1 a | ZSCORE k a | ZADD k 2 a",
            "ZADD k 1 a | ZCARD k | ZINCRBY k 1 a",
            "ZADD k 1 a | ZRANGE k 0 -1 | ZREM k a",
        ],
    );
}

#[test]
#[ignore = "Ferrocache bug: writes that change nothing (SADD of a member, SREM/HDEL/ZREM \
            of a missing one, SMOVE of a missing member, HSETNX on a field, ZADD of the same \
            score, ZADD NX on a member, ZINCRBY 0, ZREMRANGEBYSCORE matching nothing, LREM / \
            LINSERT finding nothing, SETRANGE with an empty value, SETBIT to the same bit) \
            invalidate the key; redis-server sends nothing"]
fn writes_that_change_nothing_do_not_invalidate() {
    write_cases(
        "writes that change nothing",
        &[
            "SADD k a | SCARD k | SADD k a",
            "SADD k a | SCARD k | SREM k nope",
            "SADD k a | SCARD k | SMOVE k k2 nope",
            "HSET k f v | HLEN k | HDEL k nope",
            "HSET k f v | HLEN k | HSETNX k f x",
            "ZADD k 1 a | ZCARD k | ZADD k 1 a",
            "ZADD k 1 a | ZCARD k | ZADD k NX 2 a",
            "ZADD k 1 a | ZCARD k | ZINCRBY k 0 a",
            "ZADD k 1 a | ZCARD k | ZREM k nope",
            "ZADD k 1 a | ZCARD k | ZREMRANGEBYSCORE k 5 6",
            "RPUSH k a | LLEN k | LREM k 0 nope",
            "RPUSH k a | LLEN k | LINSERT k BEFORE nope x",
            "SET k abc | GET k | SETRANGE k 0 ''",
            "SETBIT k 3 1 | GET k | SETBIT k 3 1",
        ],
    );
}

/// Runs "setup | read | write" cases (words; `''` an empty argument): a
/// RESP3 tracking client reads, another client writes, the pushes compared.
fn write_cases(name: &str, cases: &[&'static str]) {
    let word = |w: &'static str| if w == "''" { "" } else { w };
    let mut lines: Vec<Vec<&str>> = vec![
        vec!["@0", "~skip", "HELLO", "3"],
        vec!["@0", "CLIENT", "TRACKING", "on"],
    ];
    for case in cases {
        let parts: Vec<&'static str> = case.split(" | ").collect();
        let [setup, read, write] = parts[..] else {
            panic!("not setup | read | write: {case}");
        };
        lines.push(vec!["@2", "FLUSHALL"]);
        lines.push(vec!["@0", "~recv"]);
        for (conn, cmd) in [("@2", setup), ("@0", read), ("@2", write)] {
            let mut line = vec![conn];
            line.extend(cmd.split(' ').map(word));
            lines.push(line);
        }
        lines.push(vec!["@0", "~recv"]);
    }
    let lines: Vec<Line> = lines.iter().map(Vec::as_slice).collect();
    table(name, &lines);
}

// ---------------------------------------------------------------------------
// 3. BCAST
// ---------------------------------------------------------------------------

#[test]
fn bcast_with_and_without_prefixes() {
    table(
        "BCAST",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST"],
            // One message per command, keys sorted.
            &["@2", "MSET", "c", "1", "a", "2", "b", "3"],
            &["@0", "~recv"],
            &["@2", "SET", "a", "1"],
            &["@2", "SET", "a", "2"],
            &["@0", "~recv"],
            &["@2", "MSET", "a", "1", "a", "2"],
            &["@0", "~recv"],
            // Reads track nothing, and do not invalidate.
            &["@0", "GET", "a"],
            &["@2", "GET", "a"],
            &["@0", "~recv"],
            &["@2", "SET", "a", "3"],
            &["@0", "~recv"],
            // Its own writes, after their reply.
            &["@0", "SET", "z", "1"],
            &["@0", "~recv"],
            &["@0", "MULTI"],
            &["@0", "SET", "y", "1"],
            &["@0", "DEL", "x"],
            &["@0", "SET", "x", "1"],
            &["@0", "EXEC"],
            &["@0", "~recv"],
            // A command that changes nothing sends nothing.
            &["@2", "DEL", "nothere"],
            &["@0", "~recv"],
            // Prefixes: each client only the matching keys, one message
            // per prefix (prefixes in order).
            &["@1", "~skip", "HELLO", "3"],
            &[
                "@1", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "obj:",
            ],
            &[
                "@2", "MSET", "user:2", "x", "obj:1", "y", "other", "1", "user:1", "z",
            ],
            &["@0", "~recv"],
            &["@1", "~recv"],
            &["@2", "SET", "other", "2"],
            &["@1", "~recv"],
            &["@0", "~recv"],
            &["@2", "SET", "use", "2"],
            &["@1", "~recv"],
            &["@0", "~recv"],
            // NOLOOP: its own writes are left out ...
            &["@3", "~skip", "HELLO", "3"],
            &[
                "@3", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "NOLOOP",
            ],
            &["@3", "MSET", "user:9", "1", "user:3", "2"],
            &["@3", "~recv"],
            &["@1", "~recv"],
            &["@0", "~recv"],
            &["@3", "MULTI"],
            &["@3", "SET", "user:5", "1"],
            &["@3", "SET", "obj:5", "1"],
            &["@3", "EXEC"],
            &["@3", "~recv"],
            &["@1", "~recv"],
            // ... the others' are not.
            &["@2", "DEL", "user:9", "user:3", "nothere"],
            &["@3", "~recv"],
            &["@1", "~recv"],
            &["@0", "~recv"],
            // BCAST without a prefix added to prefixes: the empty prefix
            // joins them, and a key matching two prefixes is sent twice.
            &["@1", "CLIENT", "TRACKING", "on", "BCAST"],
            &["@1", "CLIENT", "TRACKINGINFO"],
            &["@2", "MSET", "user:7", "1", "q", "1"],
            &["@1", "~recv"],
            &["@0", "~recv"],
            &["@3", "~recv"],
            // RESP2 BCAST with REDIRECT to a subscriber.
            &["@4", "SUBSCRIBE", INVALIDATE],
            &[
                "@5", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "obj:", "REDIRECT", "$4",
            ],
            &["@2", "MSET", "obj:b", "1", "obj:a", "1", "user:1", "2"],
            &["@4", "~recv"],
            &["@5", "~recv"],
            &["@0", "~recv"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            // Tracking off: no more messages for that client.
            &["@1", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@2", "MSET", "user:8", "1", "obj:8", "1"],
            &["@1", "~recv"],
            &["@0", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
        ],
    );
}

// ---------------------------------------------------------------------------
// 4. OPTIN and OPTOUT
// ---------------------------------------------------------------------------

#[test]
fn optin_and_optout_caching_lasts_one_command() {
    table(
        "OPTIN / OPTOUT",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "GET", "a"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "GET", "b"],
            &["@0", "GET", "c"],
            // Other CLIENT subcommands keep a pending CACHING yes.
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "GETREDIR"],
            &["@0", "MGET", "d", "e"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            // A write uses it up.
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "SET", "x", "1"],
            &["@0", "GET", "f"],
            // A whole transaction is one command.
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "MULTI"],
            &["@0", "GET", "g"],
            &["@0", "GET", "h"],
            &["@0", "EXEC"],
            &["@0", "GET", "i"],
            &["@0", "MULTI"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "GET", "j"],
            &["@0", "EXEC"],
            &["@0", "GET", "l"],
            &[
                "@2", "MSET", "a", "1", "b", "1", "c", "1", "d", "1", "e", "1", "f", "1",
            ],
            &[
                "@2", "MSET", "g", "1", "h", "1", "i", "1", "j", "1", "l", "1",
            ],
            &["@0", "~recv"],
            // OPTOUT: tracked unless CLIENT CACHING no.
            &["@1", "~skip", "HELLO", "3"],
            &["@1", "CLIENT", "TRACKING", "on", "OPTOUT"],
            &["@1", "GET", "a"],
            &["@1", "CLIENT", "CACHING", "no"],
            &["@1", "CLIENT", "TRACKINGINFO"],
            &["@1", "GET", "b"],
            &["@1", "GET", "c"],
            &["@1", "CLIENT", "CACHING", "no"],
            &["@1", "MGET", "d", "e"],
            &["@1", "GET", "f"],
            &["@1", "CLIENT", "CACHING", "no"],
            &["@1", "PING"],
            &["@1", "GET", "g"],
            &[
                "@2", "MSET", "a", "2", "b", "2", "c", "2", "d", "2", "e", "2", "f", "2", "g", "2",
            ],
            &["@1", "~recv"],
            &["@0", "~recv"],
            // OPTIN over RESP2, REDIRECT to a subscriber.
            &["@3", "SUBSCRIBE", INVALIDATE],
            &["@4", "CLIENT", "TRACKING", "on", "OPTIN", "REDIRECT", "$3"],
            &["@4", "CLIENT", "CACHING", "yes"],
            &["@4", "GET", "k1"],
            &["@4", "GET", "k2"],
            &["@2", "MSET", "k2", "1", "k1", "1"],
            &["@3", "~recv"],
            // OPTIN with NOLOOP: a cached key's own write sends nothing.
            &["@5", "~skip", "HELLO", "3"],
            &["@5", "CLIENT", "TRACKING", "on", "OPTIN", "NOLOOP"],
            &["@5", "CLIENT", "CACHING", "yes"],
            &["@5", "GET", "m"],
            &["@5", "SET", "m", "1"],
            &["@5", "~recv"],
            &["@5", "CLIENT", "CACHING", "yes"],
            &["@5", "GET", "m"],
            &["@2", "SET", "m", "2"],
            &["@5", "~recv"],
        ],
    );
}

#[test]
fn caching_is_used_up_by_rejected_commands() {
    table(
        "CLIENT CACHING and rejected commands",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "NOSUCHCMD"],
            &["@0", "GET", "a"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "GET"],
            &["@0", "GET", "b"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "NOSUCH"],
            &["@0", "GET", "c"],
            // The control: a read right after CLIENT CACHING yes is tracked.
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "GET", "d"],
            &["@2", "MSET", "a", "1", "b", "1", "c", "1", "d", "1"],
            &["@0", "~recv"],
        ],
    );
}

#[test]
fn caching_survives_tracking_on_again() {
    table(
        "CLIENT CACHING across CLIENT TRACKING on",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "GET", "a"],
            &["@0", "GET", "b"],
            &["@2", "MSET", "a", "1", "b", "1"],
            &["@0", "~recv"],
        ],
    );
}

// ---------------------------------------------------------------------------
// 5. FLUSHALL / FLUSHDB
// ---------------------------------------------------------------------------

#[test]
fn flushes_send_a_null_invalidation() {
    table(
        "FLUSHALL / FLUSHDB",
        &[
            &["@1", "SUBSCRIBE", INVALIDATE],
            // RESP2 tracking client redirected: `$-1` in the message.
            &["@0", "CLIENT", "TRACKING", "on", "REDIRECT", "$1"],
            // RESP3 tracking client: `_` in the push.
            &["@3", "~skip", "HELLO", "3"],
            &["@3", "CLIENT", "TRACKING", "on"],
            &["@0", "GET", "a"],
            &["@3", "GET", "a"],
            &["@2", "SET", "b", "1"],
            &["@2", "FLUSHALL"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            &["@0", "~recv"],
            // The keys are forgotten.
            &["@2", "SET", "a", "1"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            // Any flush, even of an empty or another database.
            &["@2", "FLUSHDB"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            &["@2", "FLUSHALL", "ASYNC"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            &["@2", "FLUSHDB", "SYNC"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            &["@2", "SELECT", "1"],
            &["@2", "FLUSHDB"],
            &["@2", "SELECT", "0"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            // The flushing client's own null comes after the reply; after
            // the EXEC reply in a transaction.
            &["@3", "FLUSHALL"],
            &["@3", "~recv"],
            &["@1", "~recv"],
            &["@3", "MULTI"],
            &["@3", "FLUSHDB"],
            &["@3", "PING"],
            &["@3", "EXEC"],
            &["@3", "~recv"],
            &["@1", "~recv"],
            // A failed flush sends nothing.
            &["@2", "FLUSHALL", "NOPE"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            // SWAPDB: no invalidation in Redis 7.0.
            &["@3", "GET", "a"],
            &["@2", "SWAPDB", "0", "1"],
            &["@3", "~recv"],
            &["@1", "~recv"],
            // A RESP3 tracking client redirected to a RESP2 subscriber: the
            // null is in the tracking client's protocol (Redis).
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@4", "~skip", "HELLO", "3"],
            &["@4", "CLIENT", "TRACKING", "on", "REDIRECT", "$1"],
            &["@2", "FLUSHALL"],
            &["@1", "~recv"],
            &["@3", "~recv"],
            &["@4", "~recv"],
            // BCAST clients get the null too (and no per-key message).
            &["@3", "CLIENT", "TRACKING", "off"],
            &["@5", "~skip", "HELLO", "3"],
            &["@5", "CLIENT", "TRACKING", "on", "BCAST"],
            &["@2", "MSET", "x", "1", "y", "1"],
            &["@5", "~recv"],
            &["@1", "~recv"],
            &["@2", "FLUSHALL"],
            &["@5", "~recv"],
            &["@1", "~recv"],
            &["@3", "~recv"],
        ],
    );
}

// ---------------------------------------------------------------------------
// 6. Expiry
// ---------------------------------------------------------------------------

#[test]
fn expiring_keys_are_invalidated() {
    table(
        "expiry",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@1", "SUBSCRIBE", INVALIDATE],
            &["@3", "CLIENT", "TRACKING", "on", "REDIRECT", "$1"],
            &["@4", "~skip", "HELLO", "3"],
            &["@4", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ex:"],
            // Active expiry.
            &["@2", "SET", "ex:a", "v", "PX", "500"],
            &["@4", "~recv"],
            &["@0", "GET", "ex:a"],
            &["@3", "GET", "ex:a"],
            &["~expired:1"],
            &["@0", "~recv"],
            &["@1", "~recv"],
            &["@4", "~recv"],
            &["@2", "SET", "ex:a", "again"],
            &["@0", "~recv"],
            &["@4", "~recv"],
            // Lazy expiry when another client reads the key.
            &["@2", "DEBUG", "SET-ACTIVE-EXPIRE", "0"],
            &["@2", "SET", "ex:b", "v", "PX", "500"],
            &["@4", "~recv"],
            &["@0", "GET", "ex:b"],
            &["@3", "GET", "ex:b"],
            &["~sleep:800"],
            &["@0", "~recv"],
            &["@1", "~recv"],
            &["@4", "~recv"],
            &["@2", "GET", "ex:b"],
            &["@0", "~recv"],
            &["@1", "~recv"],
            &["@4", "~recv"],
            &["@2", "SET", "ex:b", "again"],
            &["@0", "~recv"],
            &["@4", "~recv"],
            // ... or writes it.
            &["@2", "SET", "ex:c", "v", "PX", "500"],
            &["@0", "GET", "ex:c"],
            &["~sleep:800"],
            &["@2", "SET", "ex:c", "new"],
            &["@0", "~recv"],
            &["@4", "~recv"],
            &["@2", "DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        ],
    );
}

#[test]
#[ignore = "Ferrocache differs: reading an expired key that was not tracked sends the \
            reader an extra (harmless) invalidation: Ferrocache records keys before a read \
            too, so that a write racing the read on another thread is never missed, and \
            the read's lazy expiry then invalidates that record"]
fn reading_an_expired_key_keeps_it_tracked() {
    table(
        "reading an expired key",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "DEBUG", "SET-ACTIVE-EXPIRE", "0"],
            &["@0", "CLIENT", "TRACKING", "on"],
            // Tracked, then expired, then read by the tracking client: the
            // expiry's push after the reply, and the key tracked again.
            &["@2", "SET", "k", "v", "PX", "500"],
            &["@0", "GET", "k"],
            &["~sleep:800"],
            &["@0", "GET", "k"],
            &["@0", "~recv"],
            &["@2", "SET", "k", "2"],
            &["@0", "~recv"],
            // Not tracked, expired, read: no push; tracked afterwards.
            &["@2", "SET", "j", "v", "PX", "100"],
            &["~sleep:300"],
            &["@0", "GET", "j"],
            &["@0", "~recv"],
            &["@2", "SET", "j", "2"],
            &["@0", "~recv"],
            &["@0", "DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        ],
    );
}

// ---------------------------------------------------------------------------
// 7. Errors, CLIENT CACHING / GETREDIR / TRACKINGINFO, broken redirects
// ---------------------------------------------------------------------------

#[test]
fn tracking_option_errors() {
    table_for(
        "CLIENT TRACKING errors",
        &[2, 3],
        &[
            &["@1", "PING"],
            &["@0", "CLIENT", "TRACKING"],
            &["@0", "CLIENT", "TRACKING", "on", "PREFIX", "a"],
            &[
                "@0", "CLIENT", "TRACKING", "on", "PREFIX", "a", "OPTIN", "OPTOUT",
            ],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "OPTOUT"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "OPTIN", "OPTOUT"],
            &["@0", "CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
            &["@0", "CLIENT", "TRACKING", "on", "REDIRECT", "0"],
            &["@0", "CLIENT", "TRACKING", "on", "REDIRECT", "-1"],
            &["@0", "CLIENT", "TRACKING", "on", "REDIRECT", "abc"],
            &[
                "@0", "CLIENT", "TRACKING", "on", "REDIRECT", "$1", "REDIRECT", "$1",
            ],
            &[
                "@0", "CLIENT", "TRACKING", "on", "REDIRECT", "999999", "FOO",
            ],
            &[
                "@0", "CLIENT", "TRACKING", "on", "FOO", "REDIRECT", "999999",
            ],
            &["@0", "CLIENT", "TRACKING", "on", "REDIRECT"],
            &["@0", "CLIENT", "TRACKING", "on", "PREFIX"],
            &["@0", "CLIENT", "TRACKING", "on", "FOO"],
            &["@0", "CLIENT", "TRACKING", "maybe"],
            &["@0", "CLIENT", "TRACKING", "maybe", "FOO"],
            &["@0", "CLIENT", "TRACKING", "maybe", "REDIRECT", "999999"],
            &["@0", "CLIENT", "TRACKING", "off", "REDIRECT", "999999"],
            &["@0", "CLIENT", "TRACKING", "off", "FOO"],
            &["@0", "CLIENT", "TRACKING", "off", "BCAST", "PREFIX", "a"],
            // Overlapping prefixes within one call (the first one overlaps).
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "ab",
            ],
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b", "PREFIX", "c", "PREFIX",
                "bc",
            ],
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "x",
            ],
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "", "PREFIX", "x",
            ],
            // None of the failed calls turned tracking on.
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "GETREDIR"],
            // Options are case-insensitive.
            &[
                "@0", "CLIENT", "TRACKING", "ON", "bcast", "prefix", "A", "Prefix", "b", "noloop",
            ],
            &["@0", "CLIENT", "TRACKINGINFO"],
            // Overlapping an existing prefix (or repeating one).
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "bb"],
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c", "PREFIX", "bb",
            ],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "A"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            // Switching BCAST off while on.
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            // BCAST without prefix adds the empty one, which overlaps all.
            &["@0", "CLIENT", "TRACKING", "on", "BCAST"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "d"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "off"],
            // Switching BCAST on, and OPTIN/OPTOUT, while on.
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTOUT"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "OPTOUT"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTOUT"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKING", "off"],
            // CLIENT CACHING errors.
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "CACHING", "no"],
            &["@0", "CLIENT", "CACHING", "maybe"],
            &["@0", "CLIENT", "CACHING"],
            &["@0", "CLIENT", "CACHING", "yes", "no"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "CACHING", "no"],
            &["@0", "CLIENT", "CACHING", "maybe"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "CACHING", "no"],
            &["@0", "CLIENT", "CACHING", "YES"],
            &["@0", "CLIENT", "CACHING", "maybe"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTOUT"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "CACHING", "No"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "CACHING", "no"],
            // Arity of the other subcommands.
            &["@0", "CLIENT", "GETREDIR", "x"],
            &["@0", "CLIENT", "TRACKINGINFO", "x"],
        ],
    );
}

#[test]
#[ignore = "Ferrocache differs: CLIENT TRACKING on BCAST PREFIX a PREFIX b PREFIX bc \
            (a prefix other than the first overlaps a later one): redis-server 7.0 answers \
            the overlap error AND +OK, with tracking turned on with all three prefixes \
            (checkPrefixCollisionsOrReply returns the index); Ferrocache answers the error \
            only, tracking off"]
fn overlapping_prefixes_after_the_first_prefix() {
    table(
        "overlap found after the first prefix",
        &[
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b", "PREFIX",
                "bc",
            ],
            &["@0", "~recv"],
            &["@0", "CLIENT", "TRACKINGINFO"],
        ],
    );
}

#[test]
fn getredir_and_trackinginfo_in_every_mode() {
    table_for(
        "CLIENT GETREDIR / TRACKINGINFO",
        &[2, 3],
        &[
            &["@1", "PING"],
            &["@0", "CLIENT", "GETREDIR"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "CLIENT", "GETREDIR"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "~ids", "CLIENT", "TRACKING", "on", "REDIRECT", "$1"],
            &["@0", "~ids", "CLIENT", "GETREDIR"],
            &["@0", "~ids", "CLIENT", "TRACKINGINFO"],
            // CLIENT TRACKING on again without REDIRECT drops it.
            &["@0", "CLIENT", "TRACKING", "on", "NOLOOP"],
            &["@0", "CLIENT", "GETREDIR"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "GETREDIR"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b", "PREFIX", "a", "NOLOOP",
            ],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &[
                "@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c", "PREFIX", "\0x",
            ],
            &["@0", "CLIENT", "TRACKINGINFO"],
            // Tracking off forgets the prefixes.
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "z"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &[
                "@0", "~ids", "CLIENT", "TRACKING", "on", "OPTIN", "NOLOOP", "REDIRECT", "$1",
            ],
            &["@0", "~ids", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "~ids", "CLIENT", "TRACKINGINFO"],
            &["@0", "GET", "a"],
            &["@0", "~ids", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTOUT"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "CACHING", "no"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "PING"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "TRACKING", "off"],
            // Tracking off forgets a pending CACHING.
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "CACHING", "yes"],
            &["@0", "CLIENT", "TRACKING", "off"],
            &["@0", "CLIENT", "TRACKING", "on", "OPTIN"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            // RESET turns tracking off.
            &["@0", "RESET"],
            &["@0", "CLIENT", "SETNAME", "trk-sentinel-0-end"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "CLIENT", "GETREDIR"],
        ],
    );
}

#[test]
fn redirect_client_going_away() {
    table(
        "broken REDIRECT",
        &[
            // RESP3 tracking client: tracking-redir-broken pushes.
            &["@1", "PING"],
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "~ids", "CLIENT", "TRACKING", "on", "REDIRECT", "$1"],
            &["@0", "GET", "a"],
            &["@0", "GET", "b"],
            &["@0", "GET", "c"],
            &["@1", "QUIT"],
            &["~gone:1"],
            // Not broken until a message finds the client gone.
            &["@0", "~ids", "CLIENT", "TRACKINGINFO"],
            &["@0", "~ids", "CLIENT", "GETREDIR"],
            &["@2", "SET", "a", "1"],
            &["@0", "~ids", "~recv"],
            &["@0", "~ids", "CLIENT", "TRACKINGINFO"],
            // Each later invalidation says it again; its own write after
            // the reply.
            &["@2", "SET", "b", "1"],
            &["@0", "~ids", "~recv"],
            &["@0", "SET", "c", "1"],
            &["@0", "~ids", "~recv"],
            &["@0", "GET", "a"],
            &["@0", "FLUSHALL"],
            &["@0", "~ids", "~recv"],
            // Re-enabling tracking clears the flag.
            &["@0", "CLIENT", "TRACKING", "on"],
            &["@0", "CLIENT", "TRACKINGINFO"],
            &["@0", "GET", "a"],
            &["@2", "SET", "a", "2"],
            &["@0", "~recv"],
            // BCAST with a broken redirect.
            &["@3", "PING"],
            &["@4", "~skip", "HELLO", "3"],
            &[
                "@4", "~ids", "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", "$3",
            ],
            &["@3", "QUIT"],
            &["~gone:3"],
            &["@2", "MSET", "x", "1", "y", "1"],
            &["@4", "~ids", "~recv"],
            &["@4", "~ids", "CLIENT", "TRACKINGINFO"],
            // RESP2 tracking client: nothing to tell it, but the flag.
            &["@5", "PING"],
            &["@6", "~ids", "CLIENT", "TRACKING", "on", "REDIRECT", "$5"],
            &["@6", "GET", "d"],
            &["@5", "QUIT"],
            &["~gone:5"],
            &["@2", "SET", "d", "1"],
            &["@6", "~recv"],
            &["@6", "~ids", "CLIENT", "TRACKINGINFO"],
            &["@6", "GET", "d"],
            &["@6", "SET", "d", "2"],
            &["@6", "~recv"],
            &["@4", "~ids", "~recv"],
        ],
    );
}

#[test]
fn client_list_shows_tracking() {
    need_redis();
    let mut seen: Vec<Vec<String>> = Vec::new();
    for s in 0..2 {
        let node = if s == 0 {
            start_redis()
        } else {
            start_ferrocache(FERRO_ARGS)
        };
        let mut target = node.raw();
        let target_id = Node::parse(&target.call(&["CLIENT", "ID"]))
            .int()
            .to_string();
        let mut c = node.raw();
        let mut other = node.raw();
        let mut fields = Vec::new();
        let info = |c: &mut Raw| {
            let text = String::from_utf8_lossy(&c.call(&["CLIENT", "INFO"])).into_owned();
            let field = |name: &str| {
                let value = text
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or("?");
                // Only a whole value is the target's id ("-1" is not id 1).
                if value == target_id {
                    "#target".to_string()
                } else {
                    value.to_string()
                }
            };
            format!("{} {}", field("flags="), field("redir="))
        };
        fields.push(info(&mut c));
        c.call(&["CLIENT", "TRACKING", "on"]);
        fields.push(info(&mut c));
        c.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &target_id]);
        fields.push(info(&mut c));
        c.call(&["GET", "k"]);
        drop(target);
        common::wait_until(Duration::from_secs(10), "redirect client gone", || {
            !String::from_utf8_lossy(&other.call(&["CLIENT", "LIST", "ID", &target_id]))
                .contains("id=")
        });
        other.call(&["SET", "k", "1"]);
        fields.push(info(&mut c));
        c.call(&["CLIENT", "TRACKING", "off"]);
        c.call(&["CLIENT", "TRACKING", "on", "BCAST"]);
        fields.push(info(&mut c));
        seen.push(fields);
    }
    assert_eq!(
        seen[0], seen[1],
        "CLIENT INFO flags/redir: redis-server vs ferrocache"
    );
}

// ---------------------------------------------------------------------------
// 8. Scripts
// ---------------------------------------------------------------------------

const LIB: &str = "#!lua name=trk\n\
    redis.register_function{function_name='rd', callback=function(keys, args) \
    return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n\
    redis.register_function{function_name='wr', callback=function(keys, args) \
    return redis.call('SET', keys[1], 'v') end}";

#[test]
fn scripts_track_their_declared_keys() {
    table(
        "scripts",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on"],
            // A read-only command in the script: the EVAL's keys are tracked.
            &["@0", "EVAL", "return redis.call('GET', KEYS[1])", "1", "a"],
            &["@2", "SET", "a", "1"],
            &["@0", "~recv"],
            // The declared keys, not the ones the script reads (Redis 7.0).
            &["@0", "EVAL", "return redis.call('GET', 'b')", "1", "c"],
            &["@2", "SET", "b", "1"],
            &["@0", "~recv"],
            &["@2", "SET", "c", "1"],
            &["@0", "~recv"],
            &[
                "@0",
                "EVAL",
                "return redis.call('GET', KEYS[1])",
                "2",
                "m",
                "n",
            ],
            &["@2", "MSET", "n", "1", "m", "1"],
            &["@0", "~recv"],
            // A write-only script tracks nothing ...
            &[
                "@0",
                "EVAL",
                "return redis.call('SET', KEYS[1], 'x')",
                "1",
                "d",
            ],
            &["@2", "SET", "d", "1"],
            &["@0", "~recv"],
            // ... nor one running no command.
            &["@0", "EVAL", "return 1", "1", "e"],
            &["@2", "SET", "e", "1"],
            &["@0", "~recv"],
            // EVAL_RO, EVALSHA, FCALL, FCALL_RO.
            &[
                "@0",
                "EVAL_RO",
                "return redis.call('GET', KEYS[1])",
                "1",
                "f",
            ],
            &[
                "@0",
                "~skip",
                "SCRIPT",
                "LOAD",
                "return redis.call('EXISTS', KEYS[1])",
            ],
            &[
                "@0",
                "EVALSHA",
                "36470718001cbf79c047c6e440069970b40bb3b4",
                "1",
                "g",
            ],
            &["@0", "~skip", "FUNCTION", "LOAD", LIB],
            &["@0", "FCALL", "rd", "1", "h"],
            &["@0", "FCALL_RO", "rd", "1", "i"],
            &["@0", "FCALL", "wr", "1", "j"],
            &[
                "@2", "MSET", "f", "1", "g", "1", "h", "1", "i", "1", "j", "1",
            ],
            &["@0", "~recv"],
            // Another client's script write invalidates.
            &["@0", "GET", "k"],
            &[
                "@2",
                "EVAL",
                "return redis.call('SET', KEYS[1], 'x')",
                "1",
                "k",
            ],
            &["@0", "~recv"],
            // The tracking client's own script write: after the reply; not
            // at all with NOLOOP.
            &["@0", "GET", "l"],
            &[
                "@0",
                "EVAL",
                "return redis.call('SET', KEYS[1], 'x')",
                "1",
                "l",
            ],
            &["@0", "~recv"],
            &["@0", "CLIENT", "TRACKING", "on", "NOLOOP"],
            &["@0", "GET", "l"],
            &[
                "@0",
                "EVAL",
                "return redis.call('SET', KEYS[1], 'y')",
                "1",
                "l",
            ],
            &["@0", "~recv"],
            // A script's write in BCAST mode.
            &["@1", "~skip", "HELLO", "3"],
            &["@1", "CLIENT", "TRACKING", "on", "BCAST"],
            &[
                "@2",
                "EVAL",
                "redis.call('SET', KEYS[2], 1) return redis.call('SET', KEYS[1], 1)",
                "2",
                "p",
                "o",
            ],
            &["@1", "~recv"],
            &[
                "@1",
                "EVAL",
                "return redis.call('SET', KEYS[1], 'x')",
                "1",
                "q",
            ],
            &["@1", "~recv"],
        ],
    );
}

#[test]
fn script_reading_then_writing_its_keys() {
    table(
        "script read then write",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on"],
            &[
                "@0",
                "EVAL",
                "redis.call('GET', KEYS[1]) return redis.call('SET', KEYS[2], 'x')",
                "2",
                "f",
                "g",
            ],
            &["@0", "~recv"],
            &["@2", "MSET", "f", "1", "g", "1"],
            &["@0", "~recv"],
        ],
    );
}

#[test]
#[ignore = "Ferrocache differs: a BCAST NOLOOP client's own write from inside a script: \
            redis-server 7.0 sends it the invalidation (after the EVAL reply: the script's \
            client, not the caller, is recorded as the writer), Ferrocache sends nothing"]
fn bcast_noloop_and_scripts() {
    table(
        "BCAST NOLOOP script write",
        &[
            &["@0", "~skip", "HELLO", "3"],
            &["@0", "CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"],
            &[
                "@0",
                "EVAL",
                "return redis.call('SET', KEYS[1], 'y')",
                "1",
                "h",
            ],
            &["@0", "~recv"],
        ],
    );
}

// ---------------------------------------------------------------------------
// 9. tracking-table-max-keys and INFO
// ---------------------------------------------------------------------------

/// The keys of a RESP3 `invalidate` push (None: a null, "everything").
fn invalidated_keys(server: &str, frame: &[u8]) -> Option<Vec<String>> {
    let push = Node::parse_exact(frame);
    assert!(
        push.head == b">2\r\n" && push.kids[0].text() == "invalidate",
        "{server}: not an invalidate push: {}",
        show(frame)
    );
    let keys = &push.kids[1];
    if keys.head == b"_\r\n" {
        return None;
    }
    Some(keys.kids.iter().map(Node::text).collect())
}

/// Runs `scenario` on a fresh redis-server and on a fresh Ferrocache.
fn on_both(scenario: fn(&Proc, &'static str)) {
    need_redis();
    let redis = start_redis();
    scenario(&redis, "redis-server");
    drop(redis);
    let ferro = start_ferrocache(FERRO_ARGS);
    scenario(&ferro, "ferrocache");
}

#[test]
fn tracking_table_max_keys_evicts_with_invalidations() {
    on_both(|node, server| {
        let mut admin = Conn::open(node, server, 2);
        let mut t = Conn::open(node, server, 3);
        let mut t2 = Conn::open(node, server, 2);
        let mut b1 = Conn::open(node, server, 3);
        let mut b2 = Conn::open(node, server, 3);
        assert_eq!(admin.info_num("tracking_clients"), 0, "{server}");
        assert_eq!(admin.info_num("tracking_total_keys"), 0, "{server}");

        // Five keys read by `t`, one of them also by `t2`: 5 keys, 6 items.
        t.ok(&["CLIENT", "TRACKING", "on"]);
        t2.ok(&["CLIENT", "TRACKING", "on"]);
        let keys = ["k1", "k2", "k3", "k4", "k5"];
        t.call(&["MGET", "k1", "k2", "k3"]);
        t.call(&["GET", "k4"]);
        t.call(&["EXISTS", "k5"]);
        t2.call(&["GET", "k1"]);
        assert_eq!(admin.info_num("tracking_clients"), 2, "{server}");
        assert_eq!(admin.info_num("tracking_total_keys"), 5, "{server}");
        assert_eq!(admin.info_num("tracking_total_items"), 6, "{server}");
        assert_eq!(admin.info_num("tracking_total_prefixes"), 0, "{server}");
        // Reading again adds nothing.
        t.call(&["GET", "k1"]);
        assert_eq!(admin.info_num("tracking_total_items"), 6, "{server}");

        // BCAST prefixes are counted once each, whatever the clients.
        b1.ok(&[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p", "PREFIX", "q",
        ]);
        b2.ok(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p"]);
        assert_eq!(admin.info_num("tracking_clients"), 4, "{server}");
        assert_eq!(admin.info_num("tracking_total_prefixes"), 2, "{server}");
        assert_eq!(admin.info_num("tracking_total_keys"), 5, "{server}");

        // Down to one key: the four others are invalidated, one message
        // each, and forgotten.
        admin.ok(&["CONFIG", "SET", "tracking-table-max-keys", "1"]);
        let mut evicted = HashSet::new();
        for i in 0..4 {
            let f = t.frame(&format!("eviction invalidation {}", i + 1));
            let k = invalidated_keys(server, &f).expect("keys, not a null");
            assert_eq!(k.len(), 1, "{server}: one key per message: {}", show(&f));
            assert!(keys.contains(&k[0].as_str()), "{server}: {}", show(&f));
            assert!(evicted.insert(k[0].clone()), "{server}: {} twice", k[0]);
        }
        t.expect_no_frame("after the evictions");
        assert_eq!(admin.info_num("tracking_total_keys"), 1, "{server}");
        let items = admin.info_num("tracking_total_items");
        let kept = keys
            .iter()
            .find(|k| !evicted.contains(**k))
            .expect("one key kept")
            .to_string();
        let want_items = if kept == "k1" { 2 } else { 1 };
        assert_eq!(items, want_items, "{server}: items with {kept} kept");

        // Evicted keys no longer tracked; the kept one still is.
        for k in &evicted {
            admin.ok(&["SET", k, "x"]);
        }
        t.expect_no_frame("writes to evicted keys");
        admin.ok(&["SET", &kept, "x"]);
        let f = t.frame("the kept key's invalidation");
        assert_eq!(
            invalidated_keys(server, &f),
            Some(vec![kept.clone()]),
            "{server}"
        );
        assert_eq!(admin.info_num("tracking_total_keys"), 0, "{server}");

        // The limit applies to keys read from now on, too; CONFIG SET from
        // the tracking client itself: its +OK first, then the push.
        t.ok(&["CONFIG", "SET", "tracking-table-max-keys", "0"]);
        t.call(&["MGET", "a", "b", "c"]);
        assert_eq!(admin.info_num("tracking_total_keys"), 3, "{server}");
        let r = t.call(&["CONFIG", "SET", "tracking-table-max-keys", "2"]);
        assert_eq!(
            r, b"+OK\r\n",
            "{server}: the reply before the eviction push"
        );
        let f = t.frame("eviction after the CONFIG SET reply");
        let k = invalidated_keys(server, &f).expect("keys");
        assert!(
            ["a", "b", "c"].contains(&k[0].as_str()) && k.len() == 1,
            "{server}"
        );
        t.expect_no_frame("one eviction only");
        assert_eq!(admin.info_num("tracking_total_keys"), 2, "{server}");
        admin.ok(&["CONFIG", "SET", "tracking-table-max-keys", "0"]);

        // Tracking off: the clients count drops, the table entries stay
        // (dropped lazily, as in Redis).
        t.ok(&["CLIENT", "TRACKING", "off"]);
        b2.ok(&["CLIENT", "TRACKING", "off"]);
        assert_eq!(admin.info_num("tracking_clients"), 2, "{server}");
        assert_eq!(admin.info_num("tracking_total_prefixes"), 2, "{server}");
        assert_eq!(admin.info_num("tracking_total_keys"), 2, "{server}");
        drop(b1);
        common::wait_until(Duration::from_secs(10), "BCAST client gone", || {
            admin.info_num("tracking_clients") == 1
        });
        assert_eq!(admin.info_num("tracking_total_prefixes"), 0, "{server}");
        // A flush empties the table.
        admin.ok(&["FLUSHALL"]);
        assert_eq!(admin.info_num("tracking_total_keys"), 0, "{server}");
        assert_eq!(admin.info_num("tracking_total_items"), 0, "{server}");
        drop(t2);
        common::wait_until(Duration::from_secs(10), "tracking client gone", || {
            admin.info_num("tracking_clients") == 0
        });
    });
}

// ---------------------------------------------------------------------------
// 10. Concurrency: no lost invalidations
// ---------------------------------------------------------------------------

/// What a caching client ends with: its cache and how much it did.
struct CacheReport {
    name: String,
    cache: HashMap<String, Option<Vec<u8>>>,
    reads: usize,
    hits: usize,
    invalidations: usize,
}

/// A client-side cache over a RESP3 tracking connection: reads go to the
/// cache, misses to GET (the value then cached, nulls too); invalidation
/// pushes drop keys (a null push drops everything).
struct Cache {
    conn: Conn,
    name: String,
    cache: HashMap<String, Option<Vec<u8>>>,
    invalidations: usize,
}

impl Cache {
    fn handle_push(&mut self, frame: &[u8]) {
        self.invalidations += 1;
        match invalidated_keys("ferrocache", frame) {
            Some(keys) => {
                for k in keys {
                    self.cache.remove(&k);
                }
            }
            None => self.cache.clear(),
        }
    }

    /// Reads frames until the reply (pushes handled on the way).
    fn reply(&mut self, what: &str) -> Vec<u8> {
        loop {
            let f = self.conn.frame(what);
            if f.starts_with(b">") {
                self.handle_push(&f);
            } else {
                return f;
            }
        }
    }

    fn get(&mut self, key: &str) -> bool {
        if self.cache.contains_key(key) {
            return true;
        }
        self.conn.send(&[b"GET", key.as_bytes()]);
        let r = self.reply("GET");
        let value = bulk_value(&r);
        self.cache.insert(key.to_string(), value);
        false
    }

    fn mget(&mut self, keys: &[String]) {
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        self.conn.send(&args);
        let r = self.reply("MGET");
        let n = Node::parse_exact(&r);
        assert_eq!(n.kids.len(), keys.len(), "MGET reply: {}", show(&r));
        for (k, v) in keys.iter().zip(&n.kids) {
            self.cache.insert(k.clone(), bulk_value(&v.bytes()));
        }
    }

    /// Everything pushed before now (all writers have their replies).
    fn settle(&mut self) {
        self.conn.send(&[b"PING", b"settle-sentinel"]);
        let r = self.reply("sentinel");
        assert!(
            r.windows(15).any(|w| w == b"settle-sentinel"),
            "{}: sentinel reply {}",
            self.name,
            show(&r)
        );
    }
}

/// A bulk string's value (None for a null).
fn bulk_value(reply: &[u8]) -> Option<Vec<u8>> {
    if reply == b"_\r\n" || reply == b"$-1\r\n" {
        return None;
    }
    let n = Node::parse_exact(reply);
    assert!(
        n.head.starts_with(b"$"),
        "not a bulk string: {}",
        show(reply)
    );
    Some(n.body[..n.body.len() - 2].to_vec())
}

#[test]
fn no_invalidation_is_lost_across_threads() {
    const KEYS: usize = 24;
    const WRITERS: usize = 3;
    const WRITES: usize = 2500;
    let node = start_ferrocache(FERRO_ARGS);
    let key = |i: usize| format!("cc:{i}");
    let done = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(Barrier::new(3));

    // Caching clients: default mode, default mode also writing itself,
    // BCAST on the keys' prefix.
    let modes: [(&str, &[&str]); 3] = [
        ("default", &["CLIENT", "TRACKING", "on"]),
        ("default+own-writes", &["CLIENT", "TRACKING", "on"]),
        (
            "bcast",
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "cc:"],
        ),
    ];
    let readers: Vec<_> = modes
        .iter()
        .enumerate()
        .map(|(r, (name, tracking))| {
            let mut conn = Conn::open(&node, "ferrocache", 3);
            conn.ok(tracking);
            let done = done.clone();
            let stopped = stopped.clone();
            let name = name.to_string();
            std::thread::spawn(move || {
                let mut c = Cache {
                    conn,
                    name: name.clone(),
                    cache: HashMap::new(),
                    invalidations: 0,
                };
                let mut rng = rand::rngs::StdRng::seed_from_u64(0x7ac0 + r as u64);
                let (mut reads, mut hits, mut n) = (0, 0, 0u64);
                while !done.load(Ordering::Relaxed) {
                    n += 1;
                    let k = key(rng.gen_range(0..KEYS));
                    if name == "default+own-writes" && n % 7 == 0 {
                        // Its own write: the invalidation follows the reply.
                        let v = format!("own-{n}");
                        c.conn.send(&[b"SET", k.as_bytes(), v.as_bytes()]);
                        let r = c.reply("SET");
                        assert_eq!(r, b"+OK\r\n", "{name}: SET");
                        continue;
                    }
                    if n % 11 == 0 {
                        let ks: Vec<String> = (0..3).map(|_| key(rng.gen_range(0..KEYS))).collect();
                        c.mget(&ks);
                        reads += 3;
                        continue;
                    }
                    reads += 1;
                    if c.get(&k) {
                        hits += 1;
                    }
                }
                // Everyone's writes (this client's too) have their replies
                // before anyone collects its last invalidations.
                stopped.wait();
                c.settle();
                CacheReport {
                    name,
                    cache: c.cache,
                    reads,
                    hits,
                    invalidations: c.invalidations,
                }
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut c = Conn::open(&node, "ferrocache", 2);
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(0x3417 + w as u64);
                for n in 0..WRITES {
                    let k = key(rng.gen_range(0..KEYS));
                    let v = format!("w{w}-{n}");
                    let r = match n % 10 {
                        0 => c.call(&["DEL", &k]),
                        1 => {
                            let k2 = key(rng.gen_range(0..KEYS));
                            c.call(&["MSET", &k, &v, &k2, &v])
                        }
                        2 => c.call(&["APPEND", &k, "+"]),
                        _ => c.call(&["SET", &k, &v]),
                    };
                    assert!(!r.starts_with(b"-"), "writer {w}: {}", show(&r));
                    if w == 0 && n == WRITES / 2 {
                        c.ok(&["FLUSHDB"]);
                    }
                }
            })
        })
        .collect();
    for h in writers {
        h.join().expect("a writer failed");
    }
    // Every write has its reply: all the invalidations are queued.
    done.store(true, Ordering::Relaxed);
    let reports: Vec<CacheReport> = readers
        .into_iter()
        .map(|h| h.join().expect("a caching client failed"))
        .collect();

    let mut check = Conn::open(&node, "ferrocache", 2);
    let mut stale = Vec::new();
    for rep in &reports {
        eprintln!(
            "{}: {} reads, {} cache hits, {} invalidations, {} keys cached at the end",
            rep.name,
            rep.reads,
            rep.hits,
            rep.invalidations,
            rep.cache.len()
        );
        assert!(
            rep.reads > 100,
            "{}: too few reads to mean anything",
            rep.name
        );
        assert!(
            rep.invalidations > 0,
            "{}: no invalidation at all",
            rep.name
        );
        for (k, cached) in &rep.cache {
            let now = bulk_value(&check.call(&["GET", k]));
            if &now != cached {
                stale.push(format!(
                    "{}: {k} cached {:?}, server has {:?}",
                    rep.name,
                    cached
                        .as_ref()
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                    now.as_ref()
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "cached values changed on the server without an invalidation:\n{}",
        stale.join("\n")
    );
}
