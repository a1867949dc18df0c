//! A differential harness shared by the per-family tests: one redis-server
//! and one Ferrocache, the same command lines sent to both, replies compared
//! byte for byte (or after a normalizer, for replies whose order legitimately
//! differs).
#![allow(dead_code)]

use std::time::Duration;

use super::{Proc, Raw};

pub type Line<'a> = &'a [&'a str];

/// A redis-server and a Ferrocache node, one connection to each.
pub struct Diff {
    pub name: &'static str,
    pub redis: Proc,
    pub ferro: Proc,
    pub r: Raw,
    pub f: Raw,
    pub proto: u8,
    pub compared: usize,
    pub mismatches: Vec<String>,
}

impl Diff {
    pub fn new(name: &'static str) -> Diff {
        assert!(
            super::have_redis(),
            "redis-server not found on PATH: the differential tests need it \
             (Debian/Ubuntu: apt-get install redis-server)"
        );
        let redis = super::start_redis();
        let ferro = super::start_ferrocache(&[]);
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

    pub fn set_timeouts(&mut self) {
        for raw in [&self.r, &self.f] {
            raw.stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
        }
    }

    /// Fresh connections to both servers, speaking `proto` (2 or 3).
    pub fn reconnect(&mut self, proto: u8) {
        self.r = self.redis.raw();
        self.f = self.ferro.raw();
        self.set_timeouts();
        self.proto = 2;
        if proto == 3 {
            self.line(&["~skip", "HELLO", "3"]);
            self.proto = 3;
        }
    }

    /// Runs `lines` over RESP2, then over RESP3, each time on fresh
    /// connections and emptied servers.
    pub fn run_both(&mut self, lines: &[Line]) {
        self.run_both_with(&[], lines);
    }

    /// Like [`Diff::run_both`], with `setup` lines (not compared: give them
    /// `~skip`) run first each time, e.g. encoding thresholds.
    pub fn run_both_with(&mut self, setup: &[Line], lines: &[Line]) {
        for proto in [2, 3] {
            self.reconnect(proto);
            self.line(&["~skip", "FLUSHALL"]);
            self.run(setup);
            self.run(lines);
        }
    }

    pub fn run(&mut self, lines: &[Line]) {
        for l in lines {
            self.line(l);
        }
    }

    /// [`Diff::run`] for generated lines.
    pub fn run_owned(&mut self, lines: &[Vec<String>]) {
        for l in lines {
            let l: Vec<&str> = l.iter().map(String::as_str).collect();
            self.line(&l);
        }
    }

    /// Sends one command line (with an optional leading marker) to both.
    /// Markers: `~skip` (not compared), `~sort` (elements sorted), `~pairs`
    /// (field/value pairs sorted), `~shape` (types and lengths only), `~len`
    /// (the reply's first line only). A reply that cannot be read (timeout,
    /// closed connection) is a mismatch, and both connections are reopened.
    pub fn line(&mut self, line: &[&str]) {
        let (marker, args) = match line.first() {
            Some(m) if m.starts_with('~') => (*m, &line[1..]),
            _ => ("", line),
        };
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.r.cmd(&bytes);
        self.f.cmd(&bytes);
        let (r, f) = match (self.r.try_read_reply(), self.f.try_read_reply()) {
            (Ok(r), Ok(f)) => (r, f),
            (r, f) => {
                let show_r = r.map(|v| show(&v)).unwrap_or_else(|e| format!("<{e}>"));
                let show_f = f.map(|v| show(&v)).unwrap_or_else(|e| format!("<{e}>"));
                self.fail(&describe(line), &show_r, &show_f);
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
            "~sort" => normalize(&r, sort_elements) == normalize(&f, sort_elements),
            "~pairs" => normalize(&r, sort_pairs) == normalize(&f, sort_pairs),
            "~shape" => normalize(&r, shape) == normalize(&f, shape),
            "~len" => first_line(&r) == first_line(&f),
            _ => r == f,
        };
        if !same {
            self.fail(&describe(line), &show(&r), &show(&f));
        }
    }

    /// Sends a command to both servers and returns (redis, ferrocache) replies.
    pub fn both(&mut self, args: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.r.cmd(&args);
        self.f.cmd(&args);
        (self.r.read_reply(), self.f.read_reply())
    }

    pub fn fail(&mut self, label: &str, redis: &str, ferro: &str) {
        self.mismatches.push(format!(
            "[RESP{}] {label}\n    redis:      {redis}\n    ferrocache: {ferro}",
            self.proto
        ));
    }

    /// Panics with every mismatch found.
    pub fn finish(self) {
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

pub fn check(name: &'static str, lines: &[Line]) {
    let mut d = Diff::new(name);
    d.run_both(lines);
    d.finish();
}

pub fn describe(line: &[&str]) -> String {
    let parts: Vec<String> = line
        .iter()
        .map(|a| {
            if a.len() > 60 {
                format!("<{} bytes>", a.len())
            } else if a.is_empty() || a.bytes().any(|c| c <= b' ' || c == b'"') {
                format!("{a:?}")
            } else {
                a.to_string()
            }
        })
        .collect();
    parts.join(" ")
}

pub fn show(reply: &[u8]) -> String {
    let cut = &reply[..reply.len().min(300)];
    format!("{:?}", String::from_utf8_lossy(cut))
}

// ---------------------------------------------------------------------------
// A small RESP reader, for replies that need normalizing
// ---------------------------------------------------------------------------

/// One parsed RESP value: its header line, bulk body and nested values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub kids: Vec<Node>,
}

impl Node {
    pub fn parse(buf: &[u8]) -> Node {
        let mut pos = 0;
        Node::parse_at(buf, &mut pos)
    }

    pub fn parse_at(buf: &[u8], pos: &mut usize) -> Node {
        let end = *pos
            + buf[*pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF");
        let head = buf[*pos..end + 2].to_vec();
        *pos = end + 2;
        let n: i64 = std::str::from_utf8(&head[1..head.len() - 2])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut node = Node {
            head,
            body: Vec::new(),
            kids: Vec::new(),
        };
        let count = match node.head[0] {
            b'$' | b'=' | b'!' if n >= 0 => {
                node.body = buf[*pos..*pos + n as usize + 2].to_vec();
                *pos += n as usize + 2;
                0
            }
            b'*' | b'~' | b'>' if n > 0 => n,
            b'%' | b'|' if n > 0 => 2 * n,
            _ => 0,
        };
        for _ in 0..count {
            node.kids.push(Node::parse_at(buf, pos));
        }
        node
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.head.clone();
        out.extend_from_slice(&self.body);
        for k in &self.kids {
            out.extend(k.bytes());
        }
        out
    }

    /// The text of a bulk string (without CRLF) or of a simple line.
    pub fn text(&self) -> String {
        let raw = if self.head[0] == b'$' {
            &self.body[..self.body.len().saturating_sub(2)]
        } else {
            &self.head[1..self.head.len() - 2]
        };
        String::from_utf8_lossy(raw).into_owned()
    }

    pub fn int(&self) -> i64 {
        self.text().parse().expect("integer reply")
    }

    /// Parses a buffer holding exactly one reply.
    pub fn parse_exact(buf: &[u8]) -> Node {
        let mut pos = 0;
        let n = Node::parse_at(buf, &mut pos);
        assert_eq!(pos, buf.len(), "trailing bytes after a reply");
        n
    }
}

/// An array or set reply with its elements sorted (for replies whose order
/// legitimately differs between servers); other replies unchanged.
pub fn sorted(reply: &[u8]) -> Vec<u8> {
    if !matches!(reply.first(), Some(b'*' | b'~')) {
        return reply.to_vec();
    }
    let mut n = Node::parse(reply);
    n.kids.sort_by_key(Node::bytes);
    n.bytes()
}

/// Applies `f` to a parsed reply (errors and simple replies pass through).
pub fn normalize(reply: &[u8], f: fn(&mut Node)) -> Vec<u8> {
    if !matches!(reply.first(), Some(b'*' | b'~' | b'%' | b'$')) {
        return reply.to_vec();
    }
    let mut n = Node::parse(reply);
    f(&mut n);
    n.bytes()
}

pub fn sort_elements(n: &mut Node) {
    n.kids.sort_by_key(Node::bytes);
}

/// Sorts a flat field/value list (or RESP3 map) by pair; a RESP3 array of
/// pairs (HRANDFIELD ... WITHVALUES) by element.
pub fn sort_pairs(n: &mut Node) {
    if n.kids.iter().any(|k| !k.kids.is_empty()) {
        return sort_elements(n);
    }
    let mut pairs: Vec<Vec<Node>> = n.kids.chunks(2).map(<[Node]>::to_vec).collect();
    pairs.sort_by_key(|p| p.iter().flat_map(Node::bytes).collect::<Vec<u8>>());
    n.kids = pairs.into_iter().flatten().collect();
}

/// FUNCTION LIST: libraries sorted, and the functions of each (Redis lists
/// them in hash-table order).
pub fn sort_function_list(n: &mut Node) {
    for lib in &mut n.kids {
        let at = lib.kids.iter().position(|k| k.text() == "functions");
        if let Some(funcs) = at.and_then(|at| lib.kids.get_mut(at + 1)) {
            funcs.kids.sort_by_key(Node::bytes);
        }
    }
    n.kids.sort_by_key(Node::bytes);
}

/// Only the reply's structure: types and lengths of aggregates; bulk
/// strings reduced to their type.
pub fn shape(n: &mut Node) {
    if n.head[0] == b'$' && n.head != b"$-1\r\n" {
        n.head = b"$\r\n".to_vec();
        n.body.clear();
    }
    for k in &mut n.kids {
        shape(k);
    }
}

/// A reply's first line (its type and length, or a simple value).
pub fn first_line(reply: &[u8]) -> &[u8] {
    let end = reply
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(reply.len());
    &reply[..end]
}
