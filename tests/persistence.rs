//! RDB persistence end to end, against the real binary and the real
//! redis-server 7.0.15: files written here load in redis-server (and pass
//! `redis-check-rdb`) and files written there load here, with every type,
//! encoding, TTL, database and function library; DUMP / RESTORE payloads
//! in both directions (byte-identical where the encoding has one byte
//! order), RESTORE's errors byte for byte, and damaged payloads; restarts
//! through SHUTDOWN / SIGTERM; BGSAVE as a point-in-time cut under
//! concurrent writers and transactions; `kill -9` in the middle of a
//! BGSAVE; corrupt files refused at startup with the file, offset and
//! problem named; `save` points; DEBUG RELOAD and its options; MISCONF
//! after a failed background save; INFO persistence; idle times and
//! frequencies in files; FLUSHALL and SHUTDOWN edge cases.
//!
//! Where a behaviour is checked against redis-server, both servers get the
//! same commands and their replies are compared. Differences by design are
//! named where they are allowed for: small lists and sets in a listpack
//! (Redis 7.2's encodings), consumers' `active-time` in XINFO STREAM FULL,
//! and plain quicklist nodes repacked. RESTORE here refuses an object that
//! runs on into the payload's footer or leaves bytes before it, which
//! redis-server accepts: the damaged-payload test allows that, and
//! `restore_body_running_into_the_footer_matches_redis` shows the
//! difference (it fails while the two differ).
//!
//! Every server runs in a fresh temporary directory (`--dir`); the
//! redis-server instances use ports 7330-7349. A missing redis-server or
//! redis-check-rdb is a failure, not a skip.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    encode, ferrocache_startup_failure, info_field, int_value as int, join_all, q, qs, show_args,
    spawn_ferrocache, wait_until, Proc, Raw, TempDir,
};
use redis::Value;

// ---------------------------------------------------------------------------
// Servers

/// Starts Ferrocache on a free port with `--dir dir` and `extra` options.
fn ferro(dir: &Path, extra: &[&str]) -> Proc {
    ferro_with_log(dir, extra).0
}

/// Like [`ferro`], also returning the log lines before the ready line.
fn ferro_with_log(dir: &Path, extra: &[&str]) -> (Proc, Vec<String>) {
    let dir = dir.to_str().expect("utf-8 temp dir");
    // As redis_in starts redis-server: no save points unless `extra` sets some.
    let mut args = vec!["--port", "0", "--dir", dir, "--save", ""];
    args.extend_from_slice(extra);
    spawn_ferrocache(&args, &[])
}

/// The next port of this file's range (7330-7349) to try for redis-server.
fn next_redis_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    7330 + NEXT.fetch_add(1, Ordering::Relaxed) % 20
}

/// Starts redis-server with `--dir dir` (loading `dir/dump.rdb` if there is
/// one) and `extra` options, on a port of this file's range, and waits
/// until it has loaded its data. Its log goes to `dir/redis.log`.
fn redis_in(dir: &Path, extra: &[&str]) -> Proc {
    common::redis_in_dir(dir, extra, next_redis_port).0
}

/// A `redis` crate connection with 30 s timeouts (a hang fails the test).
fn connect(node: &Proc) -> redis::Connection {
    common::connect_with_timeout(&node.url(), Duration::from_secs(30))
}

fn info(c: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query::<String>(c)
        .expect("INFO")
}

fn field(c: &mut redis::Connection, section: &str, name: &str) -> String {
    let text = info(c, section);
    info_field(&text, name).unwrap_or_else(|| panic!("no {name} in INFO {section}:\n{text}"))
}

/// Waits until no background save runs.
fn wait_bgsave_done(c: &mut redis::Connection) {
    wait_until(
        Duration::from_secs(60),
        "the background save to end",
        || field(c, "persistence", "rdb_bgsave_in_progress") == "0",
    );
}

/// The server's clock in seconds (TIME).
fn server_time(c: &mut redis::Connection) -> i64 {
    let (secs, _micros): (i64, i64) = redis::cmd("TIME").query(c).expect("TIME");
    secs
}

fn lastsave(c: &mut redis::Connection) -> i64 {
    int(&qs(c, &["LASTSAVE"]))
}

/// Sends SHUTDOWN `args` over a raw connection and waits for the process
/// to exit; returns whatever the server replied before closing.
fn shutdown(node: &mut Proc, args: &[&str]) -> Vec<u8> {
    let mut raw = node.raw();
    let mut line = vec!["SHUTDOWN"];
    line.extend_from_slice(args);
    raw.call_no_wait(&line);
    let reply = raw.read_until_eof();
    let status = node
        .wait_exit(Duration::from_secs(30))
        .expect("the server exits after SHUTDOWN");
    assert!(status.success(), "exit status after SHUTDOWN: {status}");
    reply
}

trait CallNoWait {
    fn call_no_wait(&mut self, args: &[&str]);
}

impl CallNoWait for Raw {
    fn call_no_wait(&mut self, args: &[&str]) {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a);
    }
}

/// Copies `from/dump.rdb` into a fresh directory.
fn copy_dump(from: &Path, tag: &str) -> TempDir {
    let to = TempDir::new(tag);
    std::fs::copy(from.join("dump.rdb"), to.path("dump.rdb")).expect("copy dump.rdb");
    to
}

/// `redis-check-rdb` must accept the file.
fn check_rdb(path: &Path) {
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("run redis-check-rdb (is it installed?)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "redis-check-rdb {}: {}\n{text}",
        path.display(),
        out.status
    );
}

// ---------------------------------------------------------------------------
// The data set: every type and encoding, TTLs, several databases, a library

/// Deterministic bytes that LZF cannot shrink.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

const LIBRARY: &str = "#!lua name=persistlib\n\
    redis.register_function('pget', function(keys, args) return redis.call('GET', keys[1]) end)\n\
    redis.register_function{function_name='pone', callback=function(keys, args) return 1 end, flags={'no-writes'}}";

/// What only redis-server can make: a list with plain quicklist nodes
/// (elements over DEBUG QUICKLIST-PACKED-THRESHOLD, one per node).
fn fill_redis_extras(r: &mut redis::Connection) {
    qs(r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"]);
    let big = "p".repeat(300);
    let noisy = noise(5000, 3);
    q(
        r,
        &[
            b"RPUSH",
            b"l:plain",
            b"a",
            big.as_bytes(),
            b"b",
            &noisy,
            b"c",
        ],
    );
    qs(r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1073741824"]);
}

/// Fills a server with the data set (databases 0, 1, 5 and 15).
fn fill(c: &mut redis::Connection) {
    let mut run = |args: Vec<Vec<u8>>| {
        let a: Vec<&[u8]> = args.iter().map(|v| v.as_slice()).collect();
        q(c, &a);
    };
    let s =
        |parts: &[&str]| -> Vec<Vec<u8>> { parts.iter().map(|p| p.as_bytes().to_vec()).collect() };
    run(s(&["SELECT", "0"]));
    // Strings: integers, short, binary, LZF-compressible, incompressible.
    run(s(&["SET", "s:short", "hello"]));
    run(s(&["SET", "s:int", "12345"]));
    run(s(&["SET", "s:negint", "-42"]));
    run(s(&["SET", "s:i64max", "9223372036854775807"]));
    run(s(&["SET", "s:i64min", "-9223372036854775808"]));
    run(s(&["SET", "s:bigint", "123456789012345678901234567890"]));
    run(s(&["SET", "s:leadingzero", "007"]));
    run(s(&["SET", "s:float", "3.14"]));
    run(s(&["SET", "s:empty", ""]));
    run(vec![
        b"SET".to_vec(),
        b"s:binary".to_vec(),
        b"\x00\x01\xff\r\n\x00end".to_vec(),
    ]);
    run(vec![
        b"SET".to_vec(),
        b"s:lzf".to_vec(),
        "abcdefgh".repeat(2000).into_bytes(),
    ]);
    run(vec![b"SET".to_vec(), b"s:noise".to_vec(), noise(5000, 7)]);
    run(vec![
        b"SET".to_vec(),
        b"s:large".to_vec(),
        "Ferrocache persistence test ".repeat(20_000).into_bytes(),
    ]);
    run(s(&["SET", "s:embstr44", &"e".repeat(44)]));
    run(s(&["SET", "", "the empty key name"]));
    run(vec![
        b"SET".to_vec(),
        b"\x00bin\xffkey\r\n".to_vec(),
        b"binary key name".to_vec(),
    ]);
    run(s(&["SET", "s:raw45", &"r".repeat(45)]));
    // Lists: one small node, many nodes, big elements, integers.
    run(s(&["RPUSH", "l:small", "a", "b", "1", "-3", "c"]));
    let mut big = s(&["RPUSH", "l:big"]);
    for i in 0..3000 {
        big.push(format!("element-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxx").into_bytes());
    }
    run(big);
    let mut ints = s(&["RPUSH", "l:ints"]);
    for i in -300..300 {
        ints.push((i * 1_000_003i64).to_string().into_bytes());
    }
    run(ints);
    let mut fat = s(&["RPUSH", "l:fat"]);
    for i in 0..40 {
        fat.push(format!("{i}{}", "compressible-".repeat(300)).into_bytes());
    }
    run(fat);
    // Sets: intset (small and 64-bit), hashtable (strings, and ints past 512).
    let mut si = s(&["SADD", "set:int"]);
    for i in 0..100 {
        si.push((i * 3).to_string().into_bytes());
    }
    si.push(b"-5".to_vec());
    run(si);
    run(s(&[
        "SADD",
        "set:int64",
        "9223372036854775807",
        "-9223372036854775808",
        "1",
    ]));
    run(s(&["SADD", "set:small", "a", "b", "c", "10"]));
    let mut sb = s(&["SADD", "set:big"]);
    for i in 0..1000 {
        sb.push(format!("member-{i}").into_bytes());
    }
    run(sb);
    let mut sbi = s(&["SADD", "set:manyints"]);
    for i in 0..600 {
        sbi.push(i.to_string().into_bytes());
    }
    run(sbi);
    // Sorted sets: listpack and skiplist, with inf, -inf and fractions.
    run(s(&[
        "ZADD",
        "z:small",
        "1.5",
        "a",
        "-0.25",
        "b",
        "inf",
        "c",
        "-inf",
        "d",
        "0",
        "e",
        "3.141592653589793",
        "f",
        "1e-300",
        "g",
        "12345678901",
        "h",
    ]));
    let mut zb = s(&["ZADD", "z:big"]);
    for i in 0..300 {
        zb.push(format!("{}", i as f64 / 7.0).into_bytes());
        zb.push(format!("zm-{i}").into_bytes());
    }
    zb.extend(s(&["inf", "top", "-inf", "bottom", "-2.5", "neg"]));
    run(zb);
    let mut zl = s(&["ZADD", "z:longmember", "1", &"m".repeat(100)]);
    zl.extend(s(&["2", "short"]));
    run(zl);
    // Hashes: listpack and hashtable (many fields, a long value).
    let mut hs = s(&["HSET", "h:small"]);
    for i in 0..10 {
        hs.push(format!("f{i}").into_bytes());
        hs.push(
            if i % 2 == 0 {
                i.to_string()
            } else {
                format!("value-{i}")
            }
            .into_bytes(),
        );
    }
    run(hs);
    let mut hb = s(&["HSET", "h:big"]);
    for i in 0..300 {
        hb.push(format!("field-{i}").into_bytes());
        hb.push(format!("{}", i * 7).into_bytes());
    }
    run(hb);
    run(s(&["HSET", "h:longval", "f", &"x".repeat(100), "g", "1"]));
    // Streams: entries with varying fields, deletions, groups, consumers, pending entries.
    for i in 1..=200 {
        let id = format!("{i}-1");
        if i % 3 == 0 {
            run(s(&[
                "XADD",
                "st:main",
                &id,
                "a",
                &i.to_string(),
                "b",
                "x",
                "extra",
                "y",
            ]));
        } else {
            run(s(&["XADD", "st:main", &id, "a", &i.to_string(), "b", "x"]));
        }
    }
    run(s(&["XDEL", "st:main", "50-1", "51-1", "199-1"]));
    run(s(&["XGROUP", "CREATE", "st:main", "g1", "0"]));
    run(s(&["XGROUP", "CREATE", "st:main", "g2", "$"]));
    run(s(&[
        "XGROUP",
        "CREATE",
        "st:main",
        "g3",
        "100-1",
        "ENTRIESREAD",
        "100",
    ]));
    run(s(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "10",
        "STREAMS",
        "st:main",
        ">",
    ]));
    run(s(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "5",
        "STREAMS",
        "st:main",
        ">",
    ]));
    run(s(&["XACK", "st:main", "g1", "1-1", "2-1"]));
    run(s(&["XCLAIM", "st:main", "g1", "carol", "0", "3-1", "12-1"]));
    run(s(&["XGROUP", "CREATECONSUMER", "st:main", "g1", "dave"]));
    run(s(&[
        "XREADGROUP",
        "GROUP",
        "g3",
        "erin",
        "COUNT",
        "3",
        "STREAMS",
        "st:main",
        ">",
    ]));
    run(s(&["XADD", "st:emptied", "5-5", "k", "v"]));
    run(s(&["XDEL", "st:emptied", "5-5"]));
    run(s(&["XGROUP", "CREATE", "st:emptied", "g", "$"]));
    for i in 0..30 {
        run(s(&[
            "XADD",
            "st:capped",
            "MAXLEN",
            "10",
            "*",
            "n",
            &i.to_string(),
        ]));
    }
    // TTLs on every kind of value.
    run(s(&["SET", "ttl:s", "v", "EX", "1000"]));
    run(s(&["HSET", "ttl:h", "a", "1"]));
    run(s(&["PEXPIRE", "ttl:h", "500000"]));
    run(s(&["RPUSH", "ttl:l", "x", "y"]));
    run(s(&["EXPIREAT", "ttl:l", "4000000000"]));
    run(s(&["ZADD", "ttl:z", "1", "m"]));
    run(s(&["PEXPIRE", "ttl:z", "123456789"]));
    run(s(&["SADD", "ttl:set", "1", "2"]));
    run(s(&["EXPIRE", "ttl:set", "86400"]));
    run(s(&["XADD", "ttl:st", "1-1", "f", "v"]));
    run(s(&["EXPIRE", "ttl:st", "3600"]));
    // Other databases.
    run(s(&["SELECT", "1"]));
    run(s(&["SET", "db1:k", "one"]));
    run(s(&["HSET", "db1:h", "f", "v"]));
    run(s(&["SET", "s:short", "same name, other db"]));
    run(s(&["SELECT", "5"]));
    run(s(&["SADD", "db5:s", "1", "2", "3"]));
    run(s(&["SET", "db5:ttl", "x", "PX", "7777777"]));
    run(s(&["SELECT", "15"]));
    run(s(&["SET", "db15:k", "x", "EX", "5000"]));
    run(s(&["ZADD", "db15:z", "2.5", "a"]));
    run(s(&["SELECT", "0"]));
    run(s(&["FUNCTION", "LOAD", LIBRARY]));
}

// ---------------------------------------------------------------------------
// Reading a server's whole state

/// A reply as text for comparisons and failure messages.
fn text(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(n) => format!("{n}"),
        Value::BulkString(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Array(items) | Value::Set(items) => {
            let parts: Vec<String> = items.iter().map(text).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Map(pairs) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", text(k), text(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => format!("{other:?}"),
    }
}

fn sorted_items(v: &Value) -> Vec<String> {
    let mut items: Vec<String> = match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        other => panic!("expected an array, got {other:?}"),
    };
    items.sort();
    items
}

/// One key as read back from a server.
#[derive(Debug, Clone, PartialEq)]
struct KeyState {
    kind: String,
    value: String,
    /// PEXPIRETIME (absolute, so a slow restart does not shift it): -1
    /// without a TTL.
    expire_at: i64,
    encoding: String,
}

type State = BTreeMap<(u8, Vec<u8>), KeyState>;

fn key_state(c: &mut redis::Connection, key: &[u8]) -> KeyState {
    let kind = match q(c, &[b"TYPE", key]) {
        Value::SimpleString(s) => s,
        Value::Okay => "OK".into(),
        other => panic!("TYPE: {other:?}"),
    };
    let value = match kind.as_str() {
        "string" => text(&q(c, &[b"GET", key])),
        "list" => text(&q(c, &[b"LRANGE", key, b"0", b"-1"])),
        "set" => sorted_items(&q(c, &[b"SMEMBERS", key])).join(", "),
        "zset" => text(&q(c, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])),
        "hash" => {
            let fields = match q(c, &[b"HGETALL", key]) {
                Value::Array(items) => items,
                other => panic!("HGETALL: {other:?}"),
            };
            let mut pairs: Vec<String> = fields
                .chunks(2)
                .map(|p| format!("{}={}", text(&p[0]), text(&p[1])))
                .collect();
            pairs.sort();
            pairs.join(", ")
        }
        "stream" => format!(
            "{} / {}",
            text(&q(c, &[b"XRANGE", key, b"-", b"+"])),
            stream_info(&q(c, &[b"XINFO", b"STREAM", key, b"FULL"]))
        ),
        other => panic!("unexpected type {other}"),
    };
    let expire_at = int(&q(c, &[b"PEXPIRETIME", key]));
    let encoding = text(&q(c, &[b"OBJECT", b"ENCODING", key]));
    KeyState {
        kind,
        value,
        expire_at,
        encoding,
    }
}

/// XINFO STREAM FULL without the radix tree's node counts (how a stream is
/// split into nodes is an implementation detail of each server) and
/// without consumers' `active-time`, which Ferrocache reports (as Redis 7.2
/// does) but redis-server 7.0 neither reports nor saves.
fn stream_info(v: &Value) -> String {
    let full = stream_info_fields(v);
    let mut out = String::new();
    let mut rest = full.as_str();
    while let Some(at) = rest.find("\"active-time\", ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "\"active-time\", ".len()..];
        let digits = after
            .find(|ch: char| !(ch.is_ascii_digit() || ch == '-'))
            .unwrap_or(after.len());
        rest = after[digits..]
            .strip_prefix(", ")
            .unwrap_or(&after[digits..]);
    }
    out.push_str(rest);
    out
}

fn stream_info_fields(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let mut kept = Vec::new();
            for pair in items.chunks(2) {
                let name = text(&pair[0]);
                if name != "\"radix-tree-keys\"" && name != "\"radix-tree-nodes\"" {
                    kept.push(format!("{name}: {}", text(&pair[1])));
                }
            }
            kept.join(", ")
        }
        other => text(other),
    }
}

/// Every key of databases 0-15.
fn state(c: &mut redis::Connection) -> State {
    let mut out = State::new();
    for db in 0..16u8 {
        qs(c, &["SELECT", &db.to_string()]);
        let keys = match qs(c, &["KEYS", "*"]) {
            Value::Array(keys) => keys,
            other => panic!("KEYS: {other:?}"),
        };
        for k in keys {
            let Value::BulkString(key) = k else {
                panic!("KEYS item {k:?}")
            };
            let st = key_state(c, &key);
            out.insert((db, key), st);
        }
    }
    qs(c, &["SELECT", "0"]);
    out
}

/// FUNCTION LIST WITHCODE with each library's functions sorted (servers
/// list them in hash-table order).
fn function_list(c: &mut redis::Connection) -> String {
    let Value::Array(libraries) = qs(c, &["FUNCTION", "LIST", "WITHCODE"]) else {
        panic!("FUNCTION LIST: not an array")
    };
    let rendered: Vec<String> = libraries
        .iter()
        .map(|lib| {
            let Value::Array(fields) = lib else {
                return text(lib);
            };
            let parts: Vec<String> = fields
                .chunks(2)
                .map(|p| match (&p[0], &p[1]) {
                    (Value::BulkString(name), Value::Array(functions)) if name == b"functions" => {
                        let mut f: Vec<String> = functions.iter().map(text).collect();
                        f.sort();
                        format!("functions: [{}]", f.join(", "))
                    }
                    (k, v) => format!("{}: {}", text(k), text(v)),
                })
                .collect();
            parts.join(", ")
        })
        .collect();
    rendered.join("\n")
}

/// Compares two states key by key (TTLs within a second; encodings too
/// when `encodings`); panics listing every difference.
fn compare(what: &str, expected: &State, actual: &State, encodings: bool) {
    let mut problems = Vec::new();
    for ((db, key), e) in expected {
        let name = format!("db{db} {:?}", String::from_utf8_lossy(key));
        let Some(a) = actual.get(&(*db, key.clone())) else {
            problems.push(format!("{name}: missing"));
            continue;
        };
        if e.kind != a.kind {
            problems.push(format!("{name}: type {} vs {}", e.kind, a.kind));
            continue;
        }
        if e.value != a.value {
            problems.push(format!(
                "{name}: value {}",
                first_difference(&e.value, &a.value)
            ));
        }
        // Two servers given the same relative TTL a moment apart differ
        // by that moment.
        let ttl_ok = if e.expire_at < 0 || a.expire_at < 0 {
            e.expire_at == a.expire_at
        } else {
            (e.expire_at - a.expire_at).abs() <= 1000
        };
        if !ttl_ok {
            problems.push(format!(
                "{name}: pexpiretime {} vs {}",
                e.expire_at, a.expire_at
            ));
        }
        if encodings
            && e.encoding != a.encoding
            && !same_by_design(&e.kind, &e.encoding, &a.encoding)
        {
            problems.push(format!("{name}: encoding {} vs {}", e.encoding, a.encoding));
        }
    }
    for (db, key) in actual.keys() {
        if !expected.contains_key(&(*db, key.clone())) {
            problems.push(format!(
                "db{db} {:?}: unexpected key",
                String::from_utf8_lossy(key)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{what}: {} of {} keys differ:\n{}",
        problems.len(),
        expected.len(),
        problems.join("\n")
    );
}

/// Where two renderings first differ, with some context.
fn first_difference(e: &str, a: &str) -> String {
    let at = e
        .bytes()
        .zip(a.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let window = |s: &str| {
        let mut from = at.saturating_sub(200);
        while !s.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (at + 200).min(s.len());
        while !s.is_char_boundary(to) {
            to += 1;
        }
        format!("...{}... ({} chars)", &s[from..to], s.len())
    };
    format!(
        "differs at char {at}:\n    expected {}\n    actual   {}",
        window(e),
        window(a)
    )
}

/// Encodings that differ by design (in either order): Ferrocache keeps
/// small lists and small sets of strings in a listpack (as Redis 7.2 does),
/// redis-server 7.0 in a quicklist and a hash table.
fn same_by_design(kind: &str, a: &str, b: &str) -> bool {
    let pair = |redis: &str, ferrocache: &str| {
        matches!(
            (kind, redis, ferrocache),
            ("list", "\"quicklist\"", "\"listpack\"") | ("set", "\"hashtable\"", "\"listpack\"")
        )
    };
    pair(a, b) || pair(b, a)
}

/// The data set must really hold every encoding it is meant to cover.
fn assert_encodings_covered(st: &State, server: &str) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in st.values() {
        *seen
            .entry(format!("{}/{}", s.kind, s.encoding))
            .or_default() += 1;
    }
    for want in [
        "string/\"int\"",
        "string/\"embstr\"",
        "string/\"raw\"",
        "list/\"quicklist\"",
        "set/\"intset\"",
        "set/\"hashtable\"",
        "zset/\"listpack\"",
        "zset/\"skiplist\"",
        "hash/\"listpack\"",
        "hash/\"hashtable\"",
        "stream/\"stream\"",
    ] {
        assert!(
            seen.contains_key(want),
            "{server}: no {want} in the data set: {seen:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 1 and 2: files both ways

/// The server options each direction is tried with: the defaults, then
/// no compression, compressed quicklist nodes, and deep checks of every
/// listpack / ziplist / intset at load time (sanitize-dump-payload).
const FILE_OPTIONS: [&[&str]; 2] = [
    &[],
    &[
        "--rdbcompression",
        "no",
        "--list-compress-depth",
        "1",
        "--sanitize-dump-payload",
        "yes",
    ],
];

#[test]
fn ferrocache_rdb_loads_in_redis_server() {
    for options in FILE_OPTIONS {
        let dir = TempDir::new("persist-f2r");
        let node = ferro(&dir.0, options);
        let mut c = connect(&node);
        fill(&mut c);
        let expected = state(&mut c);
        assert_encodings_covered(&expected, "ferrocache");
        let functions = function_list(&mut c);
        assert_eq!(qs(&mut c, &["SAVE"]), Value::Okay);
        check_rdb(&dir.path("dump.rdb"));

        let copy = copy_dump(&dir.0, "persist-f2r-redis");
        let redis = redis_in(&copy.0, options);
        let mut r = connect(&redis);
        let loaded = state(&mut r);
        let what = format!("ferrocache SAVE -> redis-server, options {options:?}");
        compare(&what, &expected, &loaded, true);
        assert_eq!(function_list(&mut r), functions, "{what}: FUNCTION LIST");
        assert_eq!(
            qs(&mut r, &["FCALL", "pget", "1", "s:short"]),
            Value::BulkString(b"hello".to_vec())
        );
    }
}

#[test]
fn redis_server_rdb_loads_in_ferrocache() {
    for options in FILE_OPTIONS {
        let dir = TempDir::new("persist-r2f");
        let redis = redis_in(&dir.0, options);
        let mut r = connect(&redis);
        fill(&mut r);
        fill_redis_extras(&mut r);
        let expected = state(&mut r);
        assert_encodings_covered(&expected, "redis-server");
        let functions = function_list(&mut r);
        assert_eq!(qs(&mut r, &["SAVE"]), Value::Okay);

        let copy = copy_dump(&dir.0, "persist-r2f-ferro");
        let node = ferro(&copy.0, options);
        let mut c = connect(&node);
        let loaded = state(&mut c);
        let what = format!("redis-server SAVE -> ferrocache, options {options:?}");
        compare(&what, &expected, &loaded, true);
        assert_eq!(function_list(&mut c), functions, "{what}: FUNCTION LIST");
        assert_eq!(
            qs(&mut c, &["FCALL", "pget", "1", "s:short"]),
            Value::BulkString(b"hello".to_vec())
        );
    }
}

// ---------------------------------------------------------------------------
// 3: DUMP / RESTORE

/// DUMPs every key of `from` and RESTOREs it (with its TTL) in `to`.
fn copy_by_dump(from: &mut redis::Connection, to: &mut redis::Connection, keys: &State) {
    for (db, key) in keys.keys() {
        let db = db.to_string();
        qs(from, &["SELECT", &db]);
        qs(to, &["SELECT", &db]);
        let Value::BulkString(payload) = q(from, &[b"DUMP", key]) else {
            panic!("DUMP {key:?} returned no payload")
        };
        let pttl = int(&q(from, &[b"PTTL", key])).max(0).to_string();
        let reply = q(to, &[b"RESTORE", key, pttl.as_bytes(), &payload]);
        assert_eq!(
            reply,
            Value::Okay,
            "RESTORE {}",
            String::from_utf8_lossy(key)
        );
    }
    qs(from, &["SELECT", "0"]);
    qs(to, &["SELECT", "0"]);
}

/// DUMP of every key whose encoding has one byte order (not hash tables)
/// must give the same payload in both servers once the value moved over.
fn compare_payloads(a: &mut redis::Connection, b: &mut redis::Connection, keys: &State) {
    let mut differ = Vec::new();
    for ((db, key), st) in keys {
        // Hash tables iterate in an order of their own; a listpack set has
        // no RDB type of its own in RDB 10; Ferrocache packs what Redis
        // keeps in plain quicklist nodes.
        if st.encoding == "\"hashtable\""
            || (st.kind == "set" && st.encoding == "\"listpack\"")
            || key.as_slice() == b"l:plain"
        {
            continue;
        }
        let db = db.to_string();
        qs(a, &["SELECT", &db]);
        qs(b, &["SELECT", &db]);
        let pa = q(a, &[b"DUMP", key]);
        let pb = q(b, &[b"DUMP", key]);
        if pa != pb {
            differ.push(format!(
                "db{db} {} ({})",
                String::from_utf8_lossy(key),
                st.encoding
            ));
        }
    }
    qs(a, &["SELECT", "0"]);
    qs(b, &["SELECT", "0"]);
    assert!(
        differ.is_empty(),
        "DUMP payloads differ for: {}",
        differ.join(", ")
    );
}

#[test]
fn dump_restore_both_ways() {
    let (fdir, rdir) = (TempDir::new("persist-dr-f"), TempDir::new("persist-dr-r"));
    let (f_src, r_src) = (ferro(&fdir.0, &[]), redis_in(&rdir.0, &[]));
    let (fdir2, rdir2) = (TempDir::new("persist-dr-f2"), TempDir::new("persist-dr-r2"));
    let (f_dst, r_dst) = (ferro(&fdir2.0, &[]), redis_in(&rdir2.0, &[]));
    let (mut fs, mut rs) = (connect(&f_src), connect(&r_src));
    let (mut fd, mut rd) = (connect(&f_dst), connect(&r_dst));
    // Deep checks of every payload restored.
    for c in [&mut fd, &mut rd] {
        assert_eq!(
            qs(c, &["CONFIG", "SET", "sanitize-dump-payload", "yes"]),
            Value::Okay
        );
    }

    fill(&mut fs);
    let expected = state(&mut fs);
    copy_by_dump(&mut fs, &mut rd, &expected);
    compare(
        "ferrocache DUMP -> redis-server RESTORE",
        &expected,
        &state(&mut rd),
        false,
    );
    compare_payloads(&mut fs, &mut rd, &expected);

    fill(&mut rs);
    fill_redis_extras(&mut rs);
    let expected = state(&mut rs);
    copy_by_dump(&mut rs, &mut fd, &expected);
    compare(
        "redis-server DUMP -> ferrocache RESTORE",
        &expected,
        &state(&mut fd),
        true,
    );
    compare_payloads(&mut rs, &mut fd, &expected);
}

/// RESTORE's errors and edge cases, byte for byte against redis-server.
#[test]
fn restore_errors_match_redis() {
    let (fdir, rdir) = (TempDir::new("persist-re-f"), TempDir::new("persist-re-r"));
    let (f, r) = (ferro(&fdir.0, &[]), redis_in(&rdir.0, &[]));
    let (mut fr, mut rr) = (f.raw(), r.raw());
    let both = |fr: &mut Raw, rr: &mut Raw, args: &[&[u8]]| -> (Vec<u8>, Vec<u8>) {
        fr.cmd(args);
        rr.cmd(args);
        (rr.read_reply(), fr.read_reply())
    };
    for c in [&mut fr, &mut rr] {
        assert_eq!(c.call(&["SET", "src", "hello world"]), b"+OK\r\n");
        assert_eq!(c.call(&["SET", "busy", "x"]), b"+OK\r\n");
    }
    // The same payload in both (a plain string object).
    let (rp, fp) = both(&mut fr, &mut rr, &[b"DUMP", b"src"]);
    assert_eq!(fp, rp, "DUMP of a short string");
    let payload = bulk_body(&rp);
    let mut bad_crc = payload.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x55;
    let mut newer = payload[..payload.len() - 10].to_vec();
    newer.extend_from_slice(&99u16.to_le_bytes());
    let crc = rdb::crc64(0, &newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    let mut garbage = b"\x00\xff\xff\xff\xff\xffgarbage".to_vec();
    rdb::dump::seal(&mut garbage);
    let mut bad_type = b"\x63abc".to_vec();
    rdb::dump::seal(&mut bad_type);
    let cases: Vec<(&str, Vec<&[u8]>)> = vec![
        ("BUSYKEY", vec![b"RESTORE", b"busy", b"0", &payload]),
        (
            "BUSYKEY before a bad TTL",
            vec![b"RESTORE", b"busy", b"-1", &payload],
        ),
        ("negative TTL", vec![b"RESTORE", b"new1", b"-1", &payload]),
        (
            "TTL not a number",
            vec![b"RESTORE", b"new1", b"ten", &payload],
        ),
        (
            "TTL overflow",
            vec![b"RESTORE", b"new1", b"99999999999999999999", &payload],
        ),
        ("bad checksum", vec![b"RESTORE", b"new1", b"0", &bad_crc]),
        ("newer RDB version", vec![b"RESTORE", b"new1", b"0", &newer]),
        ("payload too short", vec![b"RESTORE", b"new1", b"0", b"abc"]),
        ("empty payload", vec![b"RESTORE", b"new1", b"0", b""]),
        ("garbage body", vec![b"RESTORE", b"new1", b"0", &garbage]),
        (
            "unknown object type",
            vec![b"RESTORE", b"new1", b"0", &bad_type],
        ),
        (
            "IDLETIME negative",
            vec![b"RESTORE", b"new1", b"0", &payload, b"IDLETIME", b"-1"],
        ),
        (
            "IDLETIME not a number",
            vec![b"RESTORE", b"new1", b"0", &payload, b"IDLETIME", b"x"],
        ),
        (
            "IDLETIME without value",
            vec![b"RESTORE", b"new1", b"0", &payload, b"IDLETIME"],
        ),
        (
            "FREQ 256",
            vec![b"RESTORE", b"new1", b"0", &payload, b"FREQ", b"256"],
        ),
        (
            "FREQ negative",
            vec![b"RESTORE", b"new1", b"0", &payload, b"FREQ", b"-1"],
        ),
        (
            "FREQ not a number",
            vec![b"RESTORE", b"new1", b"0", &payload, b"FREQ", b"1.5"],
        ),
        (
            "IDLETIME and FREQ",
            vec![
                b"RESTORE",
                b"new1",
                b"0",
                &payload,
                b"IDLETIME",
                b"1",
                b"FREQ",
                b"1",
            ],
        ),
        (
            "FREQ and IDLETIME",
            vec![
                b"RESTORE",
                b"new1",
                b"0",
                &payload,
                b"FREQ",
                b"1",
                b"IDLETIME",
                b"1",
            ],
        ),
        (
            "unknown option",
            vec![b"RESTORE", b"new1", b"0", &payload, b"NOPE"],
        ),
        (
            "option syntax before BUSYKEY",
            vec![b"RESTORE", b"busy", b"0", &payload, b"NOPE"],
        ),
        ("too few arguments", vec![b"RESTORE", b"new1", b"0"]),
        (
            "IDLETIME ok",
            vec![b"RESTORE", b"idle", b"0", &payload, b"IDLETIME", b"1000"],
        ),
        ("idle time read back", vec![b"OBJECT", b"IDLETIME", b"idle"]),
        (
            "FREQ 255 ok",
            vec![b"RESTORE", b"freq", b"0", &payload, b"FREQ", b"255"],
        ),
        (
            "ABSTTL in the past",
            vec![b"RESTORE", b"past", b"1000", &payload, b"ABSTTL"],
        ),
        ("ABSTTL in the past: no key", vec![b"EXISTS", b"past"]),
        (
            "ABSTTL in the past with REPLACE",
            vec![
                b"RESTORE", b"busy", b"1000", &payload, b"ABSTTL", b"REPLACE",
            ],
        ),
        ("the replaced key is gone", vec![b"EXISTS", b"busy"]),
        (
            "ABSTTL in the future",
            vec![b"RESTORE", b"fut", b"4000000000000", &payload, b"ABSTTL"],
        ),
        ("ABSTTL read back", vec![b"PEXPIRETIME", b"fut"]),
        (
            "REPLACE",
            vec![b"RESTORE", b"fut", b"0", &payload, b"REPLACE"],
        ),
        ("REPLACE drops the TTL", vec![b"PTTL", b"fut"]),
        (
            "REPLACE twice, any case",
            vec![b"RESTORE", b"fut", b"0", &payload, b"replace", b"REPLACE"],
        ),
        ("value restored", vec![b"GET", b"fut"]),
    ];
    let mut failures = Vec::new();
    for (name, args) in &cases {
        let (expected, got) = both(&mut fr, &mut rr, args);
        if expected != got {
            failures.push(format!(
                "{name}: {}\n    redis-server: {:?}\n    ferrocache:   {:?}",
                show_args(args),
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} RESTORE cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A string object whose length runs past the body into the 10-byte footer:
/// redis-server 7.0.15 reads the object from the whole payload, footer
/// included, so it restores "a" plus four footer bytes and replies OK
/// (trailing bytes are never checked either).
#[test]
fn restore_body_running_into_the_footer_matches_redis() {
    let (fdir, rdir) = (TempDir::new("persist-rf-f"), TempDir::new("persist-rf-r"));
    let (f, r) = (ferro(&fdir.0, &[]), redis_in(&rdir.0, &[]));
    let (mut fr, mut rr) = (f.raw(), r.raw());
    let mut short = vec![0u8, 0x05, b'a'];
    rdb::dump::seal(&mut short);
    for args in [
        vec![&b"RESTORE"[..], b"k", b"0", &short],
        vec![b"STRLEN", b"k"],
    ] {
        rr.cmd(&args);
        fr.cmd(&args);
        let (expected, got) = (rr.read_reply(), fr.read_reply());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{} (left ferrocache, right redis-server)",
            show_args(&args)
        );
    }
}

/// The body of a bulk string reply.
fn bulk_body(reply: &[u8]) -> Vec<u8> {
    assert_eq!(reply[0], b'$', "{}", common::show(reply));
    let nl = reply.iter().position(|&b| b == b'\n').expect("bulk header");
    reply[nl + 1..reply.len() - 2].to_vec()
}

// ---------------------------------------------------------------------------
// 4: restarts

#[test]
fn shutdown_and_sigterm_save_and_restart() {
    let dir = TempDir::new("persist-restart");
    // SHUTDOWN with a save point configured saves.
    let mut node = ferro(&dir.0, &["--save", "3600 1"]);
    let mut c = connect(&node);
    fill(&mut c);
    let expected = state(&mut c);
    let functions = function_list(&mut c);
    drop(c);
    assert_eq!(shutdown(&mut node, &[]), b"", "SHUTDOWN replies nothing");
    assert!(
        dir.path("dump.rdb").exists(),
        "SHUTDOWN with save points wrote no file"
    );

    let mut node = ferro(&dir.0, &["--save", "3600 1"]);
    let mut c = connect(&node);
    compare(
        "after SHUTDOWN and restart",
        &expected,
        &state(&mut c),
        true,
    );
    assert_eq!(function_list(&mut c), functions);

    // SHUTDOWN NOSAVE loses later writes.
    qs(&mut c, &["SET", "later", "lost"]);
    qs(&mut c, &["SELECT", "3"]);
    qs(&mut c, &["SET", "later3", "lost"]);
    drop(c);
    shutdown(&mut node, &["NOSAVE"]);
    let mut node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    compare(
        "after SHUTDOWN NOSAVE and restart",
        &expected,
        &state(&mut c),
        false,
    );

    // Without save points, SHUTDOWN does not save but SHUTDOWN SAVE does.
    qs(&mut c, &["SET", "unsaved", "1"]);
    drop(c);
    shutdown(&mut node, &[]);
    let mut node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    assert_eq!(
        qs(&mut c, &["EXISTS", "unsaved"]),
        Value::Int(0),
        "SHUTDOWN without save points saved"
    );
    qs(&mut c, &["SELECT", "7"]);
    qs(&mut c, &["SET", "saved7", "yes", "EX", "900"]);
    drop(c);
    shutdown(&mut node, &["SAVE"]);
    let mut node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    qs(&mut c, &["SELECT", "7"]);
    assert_eq!(
        qs(&mut c, &["GET", "saved7"]),
        Value::BulkString(b"yes".to_vec())
    );
    let ttl = int(&qs(&mut c, &["TTL", "saved7"]));
    assert!((898..=900).contains(&ttl), "TTL after SHUTDOWN SAVE: {ttl}");
    qs(&mut c, &["SELECT", "0"]);
    assert_eq!(state(&mut c).len(), expected.len() + 1);

    // SIGTERM without save points: no save.
    qs(&mut c, &["SET", "term-unsaved", "1"]);
    drop(c);
    sigterm(&mut node);
    let mut node = ferro(&dir.0, &["--save", "3600 1"]);
    let mut c = connect(&node);
    assert_eq!(
        qs(&mut c, &["EXISTS", "term-unsaved"]),
        Value::Int(0),
        "SIGTERM without save points saved"
    );

    // SIGTERM with save points saves.
    qs(&mut c, &["SET", "term-saved", "1", "PX", "600000"]);
    drop(c);
    sigterm(&mut node);
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    assert_eq!(
        qs(&mut c, &["GET", "term-saved"]),
        Value::BulkString(b"1".to_vec()),
        "SIGTERM with save points did not save"
    );
    let pttl = int(&qs(&mut c, &["PTTL", "term-saved"]));
    assert!(
        (590_000..=600_000).contains(&pttl),
        "PTTL after SIGTERM save: {pttl}"
    );
}

/// Sends SIGTERM and waits for a clean exit.
fn sigterm(node: &mut Proc) {
    let pid = node.child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = node
        .wait_exit(Duration::from_secs(30))
        .expect("the server exits on SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

// ---------------------------------------------------------------------------
// 5: BGSAVE under concurrent writers

/// Pipelines MSETs of `n` keys `<prefix>:<i>` with `value_len`-byte values.
fn preload(node: &Proc, prefix: &str, n: usize, value_len: usize) {
    let mut raw = node.raw();
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let value = "v".repeat(value_len);
    const PER_MSET: usize = 500;
    const PER_BATCH: usize = 40;
    let mut i = 0;
    while i < n {
        let mut batch = Vec::new();
        let mut sent = 0;
        while sent < PER_BATCH && i < n {
            let keys: Vec<String> = (i..(i + PER_MSET).min(n))
                .map(|k| format!("{prefix}:{k}"))
                .collect();
            let mut args: Vec<&[u8]> = vec![b"MSET"];
            for k in &keys {
                args.push(k.as_bytes());
                args.push(value.as_bytes());
            }
            batch.extend(encode(&args));
            i += keys.len();
            sent += 1;
        }
        raw.send(&batch);
        for _ in 0..sent {
            assert_eq!(raw.read_reply(), b"+OK\r\n");
        }
    }
}

/// Ten keys for writer `t`, each in a different lock shard.
fn group_keys(t: usize) -> Vec<String> {
    keys_in_distinct_shards(&format!("grp:{t}"), 10)
}

/// `n` keys `<prefix>:<i>`, each in a different lock shard.
fn keys_in_distinct_shards(prefix: &str, n: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut shards = std::collections::BTreeSet::new();
    let mut i = 0;
    while keys.len() < n {
        let k = format!("{prefix}:{i}");
        if shards.insert(common::shard(&k)) {
            keys.push(k);
        }
        i += 1;
    }
    keys
}

#[test]
fn bgsave_is_a_point_in_time_cut_under_concurrent_writes() {
    const WRITERS: usize = 20;
    let dir = TempDir::new("persist-bgsave");
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    // Ballast, so that the background save takes a while.
    preload(&node, "ballast", 100_000, 40);
    assert_ne!(
        field(&mut c, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    let lastsave_before = lastsave(&mut c);

    // Writer t: INCR cnt:t (getting v), then MSET of its ten keys to v.
    // `issued[t]` is set before the INCR, `acked[t]` after the MSET's reply.
    let issued: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (issued, acked, stop) = (issued.clone(), acked.clone(), stop.clone());
            let url = node.url();
            std::thread::spawn(move || {
                let mut w = common::connect_with_timeouts(&url);
                let keys = group_keys(t);
                let counter = format!("cnt:{t}");
                let mut v = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    v += 1;
                    issued[t].store(v, Ordering::SeqCst);
                    let got: u64 = redis::cmd("INCR")
                        .arg(&counter)
                        .query(&mut w)
                        .expect("INCR");
                    assert_eq!(got, v, "{counter}");
                    let mut mset = redis::cmd("MSET");
                    for k in &keys {
                        mset.arg(k).arg(v);
                    }
                    let () = mset.query(&mut w).expect("MSET");
                    acked[t].store(v, Ordering::SeqCst);
                }
                v
            })
        })
        .collect();
    wait_until(
        Duration::from_secs(20),
        "every writer to be running",
        || acked.iter().all(|a| a.load(Ordering::SeqCst) >= 3),
    );
    // LASTSAVE has a one-second resolution.
    while lastsave(&mut c) >= server_time(&mut c) {
        std::thread::sleep(Duration::from_millis(50));
    }

    let lower: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let started = qs(&mut c, &["BGSAVE"]);
    let upper: Vec<u64> = issued.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(
        started,
        Value::SimpleString("Background saving started".into())
    );
    let during = info(&mut c, "persistence");
    let again = redis::cmd("BGSAVE").query::<Value>(&mut c);
    let save = redis::cmd("SAVE").query::<Value>(&mut c);
    let during_field = |name: &str| info_field(&during, name).unwrap_or_default();
    assert_eq!(
        during_field("rdb_bgsave_in_progress"),
        "1",
        "rdb_bgsave_in_progress right after BGSAVE"
    );
    assert_ne!(
        during_field("rdb_current_bgsave_time_sec"),
        "-1",
        "{during}"
    );
    let total: u64 = during_field("current_save_keys_total").parse().unwrap_or(0);
    let processed: u64 = during_field("current_save_keys_processed")
        .parse()
        .unwrap_or(u64::MAX);
    assert!(
        total >= 100_000 && processed <= total,
        "current_save_keys_total / _processed during the save: {total} / {processed}"
    );
    let err = again.expect_err("BGSAVE during a BGSAVE");
    assert_eq!(
        err.detail(),
        Some("Background save already in progress"),
        "{err}"
    );
    let err = save.expect_err("SAVE during a BGSAVE");
    assert_eq!(
        err.detail(),
        Some("Background save already in progress"),
        "{err}"
    );
    wait_bgsave_done(&mut c);
    let snapshot = copy_dump(&dir.0, "persist-bgsave-copy");
    check_rdb(&snapshot.path("dump.rdb"));
    let writes_after = acked.iter().map(|a| a.load(Ordering::SeqCst)).sum::<u64>();
    stop.store(true, Ordering::Relaxed);
    let last: Vec<u64> = join_all(writers);
    let persistence = info(&mut c, "persistence");
    assert_eq!(
        info_field(&persistence, "rdb_last_bgsave_status").as_deref(),
        Some("ok"),
        "{persistence}"
    );
    assert_eq!(
        info_field(&persistence, "rdb_current_bgsave_time_sec").as_deref(),
        Some("-1"),
        "{persistence}"
    );
    assert_ne!(
        info_field(&persistence, "rdb_last_bgsave_time_sec").as_deref(),
        Some("-1"),
        "{persistence}"
    );
    assert!(
        lastsave(&mut c) > lastsave_before,
        "LASTSAVE did not advance"
    );
    let writes_before = lower.iter().sum::<u64>();
    assert!(
        writes_after > writes_before + WRITERS as u64,
        "the writers made no progress during the save ({writes_before} -> {writes_after}): nothing was tested"
    );

    // The file holds one moment between BGSAVE's sending and its reply.
    let loaded = ferro(&snapshot.0, &[]);
    let mut l = connect(&loaded);
    assert_eq!(
        int(&qs(&mut l, &["EXISTS", "ballast:0", "ballast:99999"])),
        2
    );
    let mut problems = Vec::new();
    for t in 0..WRITERS {
        let cnt: u64 = redis::cmd("GET")
            .arg(format!("cnt:{t}"))
            .query::<Option<u64>>(&mut l)
            .expect("GET")
            .unwrap_or(0);
        let values: Vec<Option<u64>> = redis::cmd("MGET")
            .arg(group_keys(t))
            .query(&mut l)
            .expect("MGET");
        let g = values[0].unwrap_or(0);
        if values.iter().any(|v| v.unwrap_or(0) != g) {
            problems.push(format!("writer {t}: torn MSET {values:?}"));
        }
        if cnt != g && cnt != g + 1 {
            problems.push(format!("writer {t}: counter {cnt} with group value {g}"));
        }
        if g < lower[t] || cnt > upper[t] {
            problems.push(format!(
                "writer {t}: counter {cnt} / group {g} outside [{}, {}] (acked before BGSAVE, issued before its reply; the writer reached {})",
                lower[t], upper[t], last[t]
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the snapshot is not a point-in-time cut:\n{}",
        problems.join("\n")
    );

    // Quiet now: a save resets the change count; SCHEDULE during a save runs one more.
    let saves = |c: &mut redis::Connection| -> u64 {
        field(c, "persistence", "rdb_saves")
            .parse()
            .expect("rdb_saves")
    };
    let saves_before = saves(&mut c);
    assert_eq!(
        qs(&mut c, &["BGSAVE"]),
        Value::SimpleString("Background saving started".into())
    );
    assert_eq!(
        qs(&mut c, &["BGSAVE", "SCHEDULE"]),
        Value::SimpleString("Background saving scheduled".into())
    );
    wait_until(Duration::from_secs(60), "the scheduled save to run", || {
        saves(&mut c) >= saves_before + 2
    });
    wait_bgsave_done(&mut c);
    assert_eq!(
        field(&mut c, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    assert_eq!(field(&mut c, "persistence", "rdb_last_bgsave_status"), "ok");
    // BGSAVE SCHEDULE with nothing running starts at once.
    assert_eq!(
        qs(&mut c, &["BGSAVE", "SCHEDULE"]),
        Value::SimpleString("Background saving started".into())
    );
    wait_bgsave_done(&mut c);
    assert_eq!(saves(&mut c), saves_before + 3);
}

/// BGSAVE's file holds the data set as it was when BGSAVE replied (Redis
/// forks before replying): writes right behind it in the same pipeline
/// are not in the file. Both servers get the same pipeline.
#[test]
fn bgsave_file_holds_the_data_at_the_reply() {
    let (fdir, rdir) = (
        TempDir::new("persist-bgflush-f"),
        TempDir::new("persist-bgflush-r"),
    );
    let (f, r) = (ferro(&fdir.0, &[]), redis_in(&rdir.0, &[]));
    let mut problems = Vec::new();
    for (name, node, dir) in [("redis-server", &r, &rdir), ("ferrocache", &f, &fdir)] {
        preload(node, "k", 50_000, 16);
        let mut raw = node.raw();
        let mut pipeline = encode(&[b"BGSAVE"]);
        pipeline.extend(encode(&[b"SET", b"after", b"1"]));
        pipeline.extend(encode(&[b"DEL", b"k:0"]));
        pipeline.extend(encode(&[b"SET", b"k:1", b"changed"]));
        for i in 0..200 {
            pipeline.extend(encode(&[b"SET", format!("after:{i}").as_bytes(), b"1"]));
        }
        raw.send(&pipeline);
        assert_eq!(
            raw.read_reply(),
            b"+Background saving started\r\n",
            "{name}"
        );
        assert_eq!(raw.read_reply(), b"+OK\r\n", "{name}");
        assert_eq!(raw.read_reply(), b":1\r\n", "{name}");
        assert_eq!(raw.read_reply(), b"+OK\r\n", "{name}");
        for _ in 0..200 {
            assert_eq!(raw.read_reply(), b"+OK\r\n", "{name}");
        }
        let mut c = connect(node);
        wait_bgsave_done(&mut c);
        let copy = copy_dump(&dir.0, "persist-bgflush-copy");
        let loaded = ferro(&copy.0, &[]);
        let mut l = connect(&loaded);
        let keys = int(&qs(&mut l, &["DBSIZE"]));
        let after = int(&qs(&mut l, &["EXISTS", "after"]))
            + (0..200)
                .map(|i| int(&qs(&mut l, &["EXISTS", &format!("after:{i}")])))
                .sum::<i64>();
        let k0 = int(&qs(&mut l, &["EXISTS", "k:0"]));
        let k1 = text(&qs(&mut l, &["GET", "k:1"]));
        if keys != 50_000 || after != 0 || k0 != 1 || k1 != format!("{:?}", "v".repeat(16)) {
            problems.push(format!(
                "{name}: the file has {keys} keys (50000 before BGSAVE), {after} of the `after` keys, `k:0` {k0}, `k:1` {k1}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "BGSAVE; SET after 1; DEL k:0; SET k:1 changed; SET after:0..199 1:\n{}",
        problems.join("\n")
    );
}

/// Transactions over six collections (hash, list, sorted set, stream, set,
/// counter; each in its own shard) run while BGSAVE writes: the file holds
/// each writer's transactions whole (all six sizes equal), and loads in
/// redis-server too.
#[test]
fn bgsave_keeps_transactions_over_collections_whole() {
    const WRITERS: usize = 8;
    let dir = TempDir::new("persist-bgtx");
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    preload(&node, "ballast", 50_000, 40);
    let stop = Arc::new(AtomicBool::new(false));
    let committed: Arc<Vec<AtomicU64>> =
        Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (stop, committed) = (stop.clone(), committed.clone());
            let url = node.url();
            std::thread::spawn(move || {
                let mut w = common::connect_with_timeouts(&url);
                let k = keys_in_distinct_shards(&format!("tx:{t}"), 6);
                let mut v = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    v += 1;
                    let member = format!("m{v}");
                    let () = redis::pipe()
                        .atomic()
                        .cmd("HSET")
                        .arg(&k[0])
                        .arg(&member)
                        .arg(v)
                        .ignore()
                        .cmd("RPUSH")
                        .arg(&k[1])
                        .arg(v)
                        .ignore()
                        .cmd("ZADD")
                        .arg(&k[2])
                        .arg(v as f64 / 3.0)
                        .arg(&member)
                        .ignore()
                        .cmd("XADD")
                        .arg(&k[3])
                        .arg(format!("{v}-1"))
                        .arg("f")
                        .arg(v)
                        .ignore()
                        .cmd("SADD")
                        .arg(&k[4])
                        .arg(&member)
                        .ignore()
                        .cmd("INCR")
                        .arg(&k[5])
                        .ignore()
                        .query(&mut w)
                        .expect("MULTI/EXEC");
                    committed[t].store(v, Ordering::SeqCst);
                }
            })
        })
        .collect();
    wait_until(
        Duration::from_secs(20),
        "every writer to be running",
        || committed.iter().all(|a| a.load(Ordering::SeqCst) >= 3),
    );
    let before: u64 = committed.iter().map(|a| a.load(Ordering::SeqCst)).sum();
    assert_eq!(
        qs(&mut c, &["BGSAVE"]),
        Value::SimpleString("Background saving started".into())
    );
    wait_bgsave_done(&mut c);
    let after: u64 = committed.iter().map(|a| a.load(Ordering::SeqCst)).sum();
    let snapshot = copy_dump(&dir.0, "persist-bgtx-copy");
    stop.store(true, Ordering::Relaxed);
    join_all(writers);
    assert_eq!(field(&mut c, "persistence", "rdb_last_bgsave_status"), "ok");
    assert!(
        after > before + WRITERS as u64,
        "no transactions during the save ({before} -> {after})"
    );
    check_rdb(&snapshot.path("dump.rdb"));

    let ferro_copy = copy_dump(&snapshot.0, "persist-bgtx-ferro");
    let loaded_f = ferro(&ferro_copy.0, &[]);
    let loaded_r = redis_in(&snapshot.0, &["--sanitize-dump-payload", "yes"]);
    let mut problems = Vec::new();
    for (name, node) in [("ferrocache", &loaded_f), ("redis-server", &loaded_r)] {
        let mut l = connect(node);
        for t in 0..WRITERS {
            let k = keys_in_distinct_shards(&format!("tx:{t}"), 6);
            let sizes = [
                int(&qs(&mut l, &["HLEN", &k[0]])),
                int(&qs(&mut l, &["LLEN", &k[1]])),
                int(&qs(&mut l, &["ZCARD", &k[2]])),
                int(&qs(&mut l, &["XLEN", &k[3]])),
                int(&qs(&mut l, &["SCARD", &k[4]])),
                redis::cmd("GET")
                    .arg(&k[5])
                    .query::<Option<i64>>(&mut l)
                    .expect("GET")
                    .unwrap_or(0),
            ];
            if sizes.iter().any(|&n| n != sizes[0]) {
                problems.push(format!(
                    "{name}: writer {t}: hash, list, zset, stream, set, counter sizes {sizes:?}"
                ));
            }
            // The last element of each is the last transaction's.
            let n = sizes[5].to_string();
            let last = text(&qs(&mut l, &["LINDEX", &k[1], "-1"]));
            if sizes[5] > 0 && last != format!("{n:?}") {
                problems.push(format!(
                    "{name}: writer {t}: last list element {last}, counter {n}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// 6: kill -9 during BGSAVE

#[test]
fn kill_during_bgsave_leaves_the_previous_file() {
    const KEYS: usize = 300_000;
    const ROUNDS: u32 = 3;
    let dir = TempDir::new("persist-kill");
    let mut node = ferro(&dir.0, &[]);
    let t0 = Instant::now();
    preload(&node, "k", KEYS, 24);
    let preload_time = t0.elapsed();
    let mut c = connect(&node);
    qs(&mut c, &["SET", "marker", "0"]);
    let t0 = Instant::now();
    assert_eq!(qs(&mut c, &["SAVE"]), Value::Okay);
    let save_time = t0.elapsed();
    let mut good = 0; // the generation the file on disk holds
    let mut killed_mid_save = 0;
    let mut load_times = Vec::new();
    let mut rng_state = std::process::id() as u64 ^ save_time.as_nanos() as u64;
    for generation in 1..=ROUNDS {
        qs(&mut c, &["SET", "marker", &generation.to_string()]);
        assert_eq!(
            qs(&mut c, &["BGSAVE"]),
            Value::SimpleString("Background saving started".into())
        );
        // Kill once a random share (10-90%) of the keys is written.
        rng_state = rng_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let share = 0.1 + 0.8 * ((rng_state >> 33) as f64 / (1u64 << 31) as f64);
        let target = (KEYS as f64 * share) as u64;
        let running = loop {
            let text = info(&mut c, "persistence");
            let processed: u64 = info_field(&text, "current_save_keys_processed")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let running = info_field(&text, "rdb_bgsave_in_progress").as_deref() == Some("1");
            if !running || processed >= target {
                break running;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        node.child.kill().expect("kill -9");
        node.child.wait().expect("wait");
        drop(c);
        check_rdb(&dir.path("dump.rdb"));
        // A stray temp file is never loaded.
        std::fs::write(dir.path("temp-1-1.rdb"), b"garbage").expect("write");
        let t0 = Instant::now();
        node = ferro(&dir.0, &[]);
        load_times.push(t0.elapsed());
        c = connect(&node);
        let marker: String = redis::cmd("GET")
            .arg("marker")
            .query(&mut c)
            .expect("GET marker");
        assert_eq!(int(&qs(&mut c, &["DBSIZE"])), KEYS as i64 + 1);
        let marker: u32 = marker.parse().expect("marker");
        if marker == generation {
            good = generation; // the save had finished before the kill
        } else {
            assert_eq!(marker, good, "after kill -9 in generation {generation}");
            if running {
                killed_mid_save += 1;
            }
        }
    }
    eprintln!(
        "{KEYS} keys: preload {preload_time:?}, SAVE {save_time:?}, restarts {load_times:?}; \
         {killed_mid_save} of {ROUNDS} kills landed during the save"
    );
    assert!(
        killed_mid_save > 0,
        "no kill landed during a save (SAVE took {save_time:?})"
    );
}

// ---------------------------------------------------------------------------
// 7: corrupt files

#[test]
fn corrupt_files_are_refused_at_startup() {
    let dir = TempDir::new("persist-corrupt");
    let mut node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    for i in 0..200 {
        qs(&mut c, &["SET", &format!("key:{i}"), &format!("value {i}")]);
    }
    qs(&mut c, &["SET", "needle", "abcdefghijklmnop"]);
    qs(&mut c, &["RPUSH", "list", "a", "b", "c"]);
    drop(c);
    shutdown(&mut node, &["SAVE"]);
    let good = std::fs::read(dir.path("dump.rdb")).expect("dump.rdb");
    let needle = good
        .windows(16)
        .position(|w| w == b"abcdefghijklmnop")
        .expect("the needle in the file");
    let mut flipped = good.clone();
    flipped[needle + 3] ^= 0x01;
    let mut wrong_version = good.clone();
    wrong_version[5..9].copy_from_slice(b"0099");
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "truncated in the middle",
            good[..good.len() / 2].to_vec(),
            &["end of file", "eof", "truncated"],
        ),
        (
            "truncated in the checksum",
            good[..good.len() - 4].to_vec(),
            &["end of file", "eof", "truncated"],
        ),
        ("flipped byte", flipped, &["checksum"]),
        (
            "garbage",
            noise(4096, 99),
            &["not an rdb file", "signature"],
        ),
        ("wrong version", wrong_version, &["version"]),
        (
            "empty",
            Vec::new(),
            &["end of file", "eof", "empty", "truncated"],
        ),
    ];
    let mut problems = Vec::new();
    for (name, bytes, words) in &cases {
        let case_dir = TempDir::new("persist-corrupt-case");
        std::fs::write(case_dir.path("dump.rdb"), bytes).expect("write");
        let path = case_dir.path("dump.rdb");
        let d = case_dir.0.to_str().expect("utf-8");
        let (status, log) = ferrocache_startup_failure(&["--port", "0", "--dir", d]);
        let lower = log.to_lowercase();
        let path_shown = log.contains(&path.display().to_string());
        let offset_shown = lower.contains("offset");
        let problem_shown = words.iter().any(|w| lower.contains(w));
        if status.success()
            || log.contains("panicked")
            || !path_shown
            || !offset_shown
            || !problem_shown
        {
            problems.push(format!(
                "{name}: exit {status}, path named: {path_shown}, offset named: {offset_shown}, problem ({words:?}) named: {problem_shown}; log:\n{log}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The untouched file still loads.
    std::fs::write(dir.path("dump.rdb"), &good).expect("write");
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    assert_eq!(int(&qs(&mut c, &["DBSIZE"])), 202);
}

// ---------------------------------------------------------------------------
// 8: save points

#[test]
fn save_point_triggers_a_background_save() {
    let dir = TempDir::new("persist-savepoint");
    let node = ferro(&dir.0, &["--save", "1 1"]);
    let mut c = connect(&node);
    let before = lastsave(&mut c);
    qs(&mut c, &["SET", "k", "v"]);
    let wrote = Instant::now();
    wait_until(
        Duration::from_secs(4),
        "a save point's background save",
        || dir.path("dump.rdb").exists() && lastsave(&mut c) > before,
    );
    assert!(
        wrote.elapsed() < Duration::from_millis(3500),
        "took {:?}",
        wrote.elapsed()
    );
    wait_bgsave_done(&mut c);
    assert_eq!(
        field(&mut c, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    assert_eq!(field(&mut c, "persistence", "rdb_last_bgsave_status"), "ok");
    // No change, no save.
    let saved_at = lastsave(&mut c);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(lastsave(&mut c), saved_at, "a save without any change");
    // The file holds the write.
    let copy = copy_dump(&dir.0, "persist-savepoint-copy");
    let loaded = ferro(&copy.0, &[]);
    let mut l = connect(&loaded);
    assert_eq!(qs(&mut l, &["GET", "k"]), Value::BulkString(b"v".to_vec()));
}

// ---------------------------------------------------------------------------
// 9: DEBUG RELOAD

#[test]
fn debug_reload_keeps_every_key() {
    let dir = TempDir::new("persist-reload");
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    fill(&mut c);
    let expected = state(&mut c);
    let functions = function_list(&mut c);
    assert_eq!(qs(&mut c, &["DEBUG", "RELOAD"]), Value::Okay);
    compare("after DEBUG RELOAD", &expected, &state(&mut c), true);
    assert_eq!(function_list(&mut c), functions);
    assert!(dir.path("dump.rdb").exists());
}

// ---------------------------------------------------------------------------
// 10: MISCONF

/// Sends the same command to both servers; returns (redis-server, ferrocache).
fn both(r: &mut Raw, f: &mut Raw, args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    (r.call(args), f.call(args))
}

fn bgsave_status(c: &mut Raw) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = String::from_utf8_lossy(&c.call(&["INFO", "persistence"])).into_owned();
        if info_field(&text, "rdb_bgsave_in_progress").as_deref() == Some("0") {
            return info_field(&text, "rdb_last_bgsave_status").expect("rdb_last_bgsave_status");
        }
        assert!(Instant::now() < deadline, "the background save did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Compares replies collected by a differential scenario.
struct Differences(Vec<String>);

impl Differences {
    /// Records a difference; returns redis-server's reply.
    fn same(&mut self, what: &str, (expected, got): (Vec<u8>, Vec<u8>)) -> Vec<u8> {
        if expected != got {
            self.0.push(format!(
                "{what}:\n    redis-server: {:?}\n    ferrocache:   {:?}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&got)
            ));
        }
        expected
    }

    fn assert_none(&self) {
        assert!(
            self.0.is_empty(),
            "{} differences:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// Ferrocache and redis-server (with `--enable-protected-configs yes`, as
/// Ferrocache has no protected configs), both with `--save 3600 1` and a
/// `dir` of their own, `gone`, which the caller may remove (root can write
/// anywhere, so a read-only directory would not make saves fail).
struct SavePair {
    f: Proc,
    r: Proc,
    fdir: TempDir,
    rdir: TempDir,
}

impl SavePair {
    fn start(tag: &str) -> SavePair {
        let (fdir, rdir) = (
            TempDir::new(&format!("{tag}-f")),
            TempDir::new(&format!("{tag}-r")),
        );
        for d in [&fdir, &rdir] {
            std::fs::create_dir(d.path("gone")).expect("mkdir");
        }
        let fgone = fdir.path("gone");
        let rgone = rdir.path("gone");
        let f = ferro(
            &fgone,
            &["--save", "3600 1", "--enable-protected-configs", "yes"],
        );
        let r = redis_in(
            &rgone,
            &["--save", "3600 1", "--enable-protected-configs", "yes"],
        );
        SavePair { f, r, fdir, rdir }
    }

    fn gone(&self) -> [PathBuf; 2] {
        [self.rdir.path("gone"), self.fdir.path("gone")]
    }

    fn remove_dirs(&self) {
        for d in self.gone() {
            std::fs::remove_dir_all(d).expect("rmdir");
        }
    }

    /// Recreates the directories and points both servers at them again
    /// (redis-server's working directory is the removed one until then).
    fn restore_dirs(&self, rr: &mut Raw, fr: &mut Raw) -> (Vec<u8>, Vec<u8>) {
        let [rg, fg] = self.gone();
        for d in [&rg, &fg] {
            std::fs::create_dir(d).expect("mkdir");
        }
        (
            rr.call(&["CONFIG", "SET", "dir", rg.to_str().expect("utf-8")]),
            fr.call(&["CONFIG", "SET", "dir", fg.to_str().expect("utf-8")]),
        )
    }
}

#[test]
fn misconf_after_a_failed_background_save() {
    let pair = SavePair::start("persist-misconf");
    let (mut fr, mut rr) = (pair.f.raw(), pair.r.raw());
    let mut d = Differences(Vec::new());
    d.same(
        "SET before any failure",
        both(&mut rr, &mut fr, &["SET", "k", "1"]),
    );
    let lastsave_of = |c: &mut Raw| -> Vec<u8> { c.call(&["LASTSAVE"]) };
    let (r_saved, f_saved) = (lastsave_of(&mut rr), lastsave_of(&mut fr));
    // LASTSAVE has a one-second resolution: let a second pass.
    std::thread::sleep(Duration::from_millis(1100));
    pair.remove_dirs();
    d.same(
        "BGSAVE into a removed directory",
        both(&mut rr, &mut fr, &["BGSAVE"]),
    );
    let statuses = (
        bgsave_status(&mut rr).into_bytes(),
        bgsave_status(&mut fr).into_bytes(),
    );
    let status = d.same("rdb_last_bgsave_status after a failed BGSAVE", statuses);
    assert_eq!(status, b"err", "redis-server's status");
    d.same(
        "LASTSAVE unchanged by the failed BGSAVE",
        (
            format!("{}", lastsave_of(&mut rr) == r_saved).into_bytes(),
            format!("{}", lastsave_of(&mut fr) == f_saved).into_bytes(),
        ),
    );
    let misconf = d.same(
        "SET after a failed BGSAVE",
        both(&mut rr, &mut fr, &["SET", "k", "3"]),
    );
    assert!(
        misconf.starts_with(b"-MISCONF "),
        "{}",
        String::from_utf8_lossy(&misconf)
    );
    d.same(
        "INCR after a failed BGSAVE",
        both(&mut rr, &mut fr, &["INCR", "n"]),
    );
    d.same(
        "FLUSHALL after a failed BGSAVE",
        both(&mut rr, &mut fr, &["FLUSHALL"]),
    );
    d.same(
        "a read after a failed BGSAVE",
        both(&mut rr, &mut fr, &["GET", "k"]),
    );
    d.same(
        "PING after a failed BGSAVE",
        both(&mut rr, &mut fr, &["PING"]),
    );
    // Without save points writes go through; with them again they do not.
    d.same(
        "CONFIG SET save ''",
        both(&mut rr, &mut fr, &["CONFIG", "SET", "save", ""]),
    );
    d.same(
        "SET without save points",
        both(&mut rr, &mut fr, &["SET", "k", "4"]),
    );
    d.same(
        "CONFIG SET save back",
        both(&mut rr, &mut fr, &["CONFIG", "SET", "save", "3600 1"]),
    );
    d.same(
        "SET with save points again",
        both(&mut rr, &mut fr, &["SET", "k", "5"]),
    );
    d.same(
        "CONFIG SET stop-writes-on-bgsave-error no",
        both(
            &mut rr,
            &mut fr,
            &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
        ),
    );
    d.same(
        "SET with stop-writes-on-bgsave-error no",
        both(&mut rr, &mut fr, &["SET", "k", "6"]),
    );
    d.same(
        "CONFIG SET stop-writes-on-bgsave-error yes",
        both(
            &mut rr,
            &mut fr,
            &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
        ),
    );
    d.same(
        "SET with stop-writes-on-bgsave-error yes",
        both(&mut rr, &mut fr, &["SET", "k", "7"]),
    );
    // A successful save lifts the refusal.
    d.same("CONFIG SET dir again", pair.restore_dirs(&mut rr, &mut fr));
    d.same(
        "BGSAVE into the directory",
        both(&mut rr, &mut fr, &["BGSAVE"]),
    );
    let statuses = (
        bgsave_status(&mut rr).into_bytes(),
        bgsave_status(&mut fr).into_bytes(),
    );
    let status = d.same("rdb_last_bgsave_status after a good BGSAVE", statuses);
    d.same(
        "LASTSAVE moved after the good BGSAVE only",
        (
            format!("{}", lastsave_of(&mut rr) != r_saved).into_bytes(),
            format!("{}", lastsave_of(&mut fr) != f_saved).into_bytes(),
        ),
    );
    assert_eq!(status, b"ok", "redis-server's status");
    let ok = d.same(
        "SET after a good BGSAVE",
        both(&mut rr, &mut fr, &["SET", "k", "8"]),
    );
    assert_eq!(ok, b"+OK\r\n");
    d.same("GET at the end", both(&mut rr, &mut fr, &["GET", "k"]));
    if !pair.fdir.path("gone").join("dump.rdb").exists() {
        d.0.push("ferrocache saved no gone/dump.rdb".into());
    }
    d.assert_none();
}

/// Only background saves set rdb_last_bgsave_status: after a failed SAVE
/// (a foreground one) redis-server keeps accepting writes.
#[test]
fn failed_foreground_save_does_not_stop_writes() {
    let pair = SavePair::start("persist-savefail");
    let (mut fr, mut rr) = (pair.f.raw(), pair.r.raw());
    let mut d = Differences(Vec::new());
    pair.remove_dirs();
    d.same(
        "SAVE into a removed directory",
        both(&mut rr, &mut fr, &["SAVE"]),
    );
    let statuses = (
        bgsave_status(&mut rr).into_bytes(),
        bgsave_status(&mut fr).into_bytes(),
    );
    d.same("rdb_last_bgsave_status after a failed SAVE", statuses);
    d.same(
        "SET after a failed SAVE",
        both(&mut rr, &mut fr, &["SET", "k", "2"]),
    );
    d.same("GET", both(&mut rr, &mut fr, &["GET", "k"]));
    d.assert_none();
}

/// `dir` and `dbfilename` are protected configs in Redis 7.0: with the
/// default enable-protected-configs no, CONFIG SET refuses them.
#[test]
fn config_set_dir_and_dbfilename_are_protected() {
    let mut d = Differences(Vec::new());
    let (fdir, rdir) = (
        TempDir::new("persist-prot-f"),
        TempDir::new("persist-prot-r"),
    );
    let (f, r) = (ferro(&fdir.0, &[]), redis_in(&rdir.0, &[]));
    let (mut fr, mut rr) = (f.raw(), r.raw());
    let other = TempDir::new("persist-prot-other");
    let o = other.0.to_str().expect("utf-8");
    d.same(
        "CONFIG SET dir",
        both(&mut rr, &mut fr, &["CONFIG", "SET", "dir", o]),
    );
    d.same(
        "CONFIG SET dbfilename",
        both(
            &mut rr,
            &mut fr,
            &["CONFIG", "SET", "dbfilename", "other.rdb"],
        ),
    );
    d.same(
        "CONFIG GET dbfilename",
        both(&mut rr, &mut fr, &["CONFIG", "GET", "dbfilename"]),
    );
    d.assert_none();
}

/// With protected configs allowed, CONFIG SET refuses a missing directory
/// and a file name with a path, as redis-server does.
#[test]
fn config_set_dir_and_dbfilename_checks_match_redis() {
    let mut d = Differences(Vec::new());
    let pair = SavePair::start("persist-cfgchecks");
    let (mut fr, mut rr) = (pair.f.raw(), pair.r.raw());
    let [rg, fg] = pair.gone();
    d.same(
        "CONFIG SET dir to a missing directory",
        (
            rr.call(&[
                "CONFIG",
                "SET",
                "dir",
                rg.join("missing").to_str().expect("utf-8"),
            ]),
            fr.call(&[
                "CONFIG",
                "SET",
                "dir",
                fg.join("missing").to_str().expect("utf-8"),
            ]),
        ),
    );
    d.same(
        "CONFIG SET dbfilename with a path",
        both(
            &mut rr,
            &mut fr,
            &["CONFIG", "SET", "dbfilename", "sub/dump.rdb"],
        ),
    );
    d.same(
        "CONFIG GET dbfilename",
        both(&mut rr, &mut fr, &["CONFIG", "GET", "dbfilename"]),
    );
    d.same("SAVE", both(&mut rr, &mut fr, &["SAVE"]));
    d.assert_none();
}

// ---------------------------------------------------------------------------
// INFO persistence, LRU / LFU data in files

/// INFO persistence: the same fields as redis-server, and the same load
/// and save figures for the same file (keys loaded, expired keys skipped).
#[test]
fn info_persistence_matches_redis() {
    let (fdir, rdir) = (
        TempDir::new("persist-info-f"),
        TempDir::new("persist-info-r"),
    );
    let source = redis_in(&rdir.0, &[]);
    let mut s = connect(&source);
    for i in 0..100 {
        qs(&mut s, &["SET", &format!("k{i}"), "v"]);
    }
    for i in 0..3 {
        qs(&mut s, &["SET", &format!("short{i}"), "v", "PX", "300"]);
    }
    assert_eq!(qs(&mut s, &["SAVE"]), Value::Okay);
    drop(s);
    drop(source);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::copy(rdir.path("dump.rdb"), fdir.path("dump.rdb")).expect("copy");
    let (f, r) = (ferro(&fdir.0, &[]), redis_in(&rdir.0, &[]));
    let (mut fc, mut rc) = (connect(&f), connect(&r));
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_string()))
            .collect()
    };
    let (ri, fi) = (info(&mut rc, "persistence"), info(&mut fc, "persistence"));
    let mut problems = Vec::new();
    let (rn, fn_) = (names(&ri), names(&fi));
    if rn != fn_ {
        let missing: Vec<&String> = rn.iter().filter(|n| !fn_.contains(n)).collect();
        let extra: Vec<&String> = fn_.iter().filter(|n| !rn.contains(n)).collect();
        problems.push(format!(
            "INFO persistence fields differ: missing in ferrocache {missing:?}, extra {extra:?} (or another order)"
        ));
    }
    let mut compare_fields = |when: &str, ri: &str, fi: &str| {
        for name in [
            "loading",
            "rdb_changes_since_last_save",
            "rdb_bgsave_in_progress",
            "rdb_last_bgsave_status",
            "rdb_saves",
            "rdb_last_load_keys_expired",
            "rdb_last_load_keys_loaded",
        ] {
            let (a, b) = (info_field(ri, name), info_field(fi, name));
            if a != b {
                problems.push(format!(
                    "{when}: {name}: redis-server {a:?}, ferrocache {b:?}"
                ));
            }
        }
    };
    compare_fields("after loading", &ri, &fi);
    assert_eq!(
        int(&qs(&mut fc, &["DBSIZE"])),
        100,
        "expired keys were loaded"
    );
    for c in [&mut rc, &mut fc] {
        qs(c, &["SET", "new", "1"]);
        qs(c, &["DEL", "k0", "k1"]);
    }
    let (ri, fi) = (info(&mut rc, "persistence"), info(&mut fc, "persistence"));
    compare_fields("after three changes", &ri, &fi);
    for c in [&mut rc, &mut fc] {
        assert_eq!(
            qs(c, &["BGSAVE"]),
            Value::SimpleString("Background saving started".into())
        );
        wait_bgsave_done(c);
    }
    let (ri, fi) = (info(&mut rc, "persistence"), info(&mut fc, "persistence"));
    compare_fields("after BGSAVE", &ri, &fi);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Idle times (LRU policies) and access frequencies (LFU policies) travel
/// in files both ways: set with RESTORE IDLETIME / FREQ, saved, loaded by
/// the other server under the same policy.
#[test]
fn lru_and_lfu_data_cross_over_in_files() {
    let mut problems = Vec::new();
    for (policy, option, read) in [
        ("allkeys-lru", "IDLETIME", "IDLETIME"),
        ("allkeys-lfu", "FREQ", "FREQ"),
    ] {
        let opts = ["--maxmemory-policy", policy];
        for direction in ["ferrocache -> redis-server", "redis-server -> ferrocache"] {
            let (src_dir, dst_dir) = (
                TempDir::new("persist-lru-src"),
                TempDir::new("persist-lru-dst"),
            );
            let to_redis = direction.starts_with("ferrocache");
            let src = if to_redis {
                ferro(&src_dir.0, &opts)
            } else {
                redis_in(&src_dir.0, &opts)
            };
            let mut s = connect(&src);
            qs(&mut s, &["SET", "template", "v"]);
            let Value::BulkString(payload) = qs(&mut s, &["DUMP", "template"]) else {
                panic!("DUMP")
            };
            for (key, n) in [("a", "77"), ("b", "200"), ("c", "3")] {
                let reply = q(
                    &mut s,
                    &[
                        b"RESTORE",
                        key.as_bytes(),
                        b"0",
                        &payload,
                        option.as_bytes(),
                        n.as_bytes(),
                    ],
                );
                assert_eq!(reply, Value::Okay);
            }
            assert_eq!(qs(&mut s, &["SAVE"]), Value::Okay);
            std::fs::copy(src_dir.path("dump.rdb"), dst_dir.path("dump.rdb")).expect("copy");
            let dst = if to_redis {
                redis_in(&dst_dir.0, &opts)
            } else {
                ferro(&dst_dir.0, &opts)
            };
            let mut d = connect(&dst);
            for (key, n) in [("a", 77), ("b", 200), ("c", 3)] {
                let got = int(&qs(&mut d, &["OBJECT", read, key]));
                // Idle times keep growing (one-second clock); frequencies do not decay within a minute.
                let ok = if option == "IDLETIME" {
                    (n..=n + 3).contains(&got)
                } else {
                    got == n
                };
                if !ok {
                    problems.push(format!(
                        "{policy}, {direction}: OBJECT {read} {key} is {got}, {n} was saved"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// SHUTDOWN whose save fails: refused with redis-server's error, the
/// server keeps serving (writes too: the failed save was not a background
/// one), and SHUTDOWN FORCE then exits anyway.
#[test]
fn shutdown_with_a_failing_save_matches_redis() {
    let mut pair = SavePair::start("persist-shutfail");
    let (mut fr, mut rr) = (pair.f.raw(), pair.r.raw());
    let mut d = Differences(Vec::new());
    d.same("SET", both(&mut rr, &mut fr, &["SET", "a", "b"]));
    pair.remove_dirs();
    let refused = d.same("SHUTDOWN", both(&mut rr, &mut fr, &["SHUTDOWN"]));
    assert!(
        refused.starts_with(b"-ERR"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    d.same(
        "PING after the refused SHUTDOWN",
        both(&mut rr, &mut fr, &["PING"]),
    );
    d.same(
        "SET after the refused SHUTDOWN",
        both(&mut rr, &mut fr, &["SET", "c", "d"]),
    );
    d.same("SHUTDOWN FORCE", {
        rr.call_no_wait(&["SHUTDOWN", "FORCE"]);
        fr.call_no_wait(&["SHUTDOWN", "FORCE"]);
        (rr.read_until_eof(), fr.read_until_eof())
    });
    for (name, node) in [("redis-server", &mut pair.r), ("ferrocache", &mut pair.f)] {
        let status = node.wait_exit(Duration::from_secs(20));
        if !status.is_some_and(|s| s.success()) {
            d.0.push(format!(
                "{name}: exit status after SHUTDOWN FORCE: {status:?}"
            ));
        }
    }
    d.assert_none();
}

/// Files of an empty data set, and files written with `rdbchecksum no`
/// (a zero checksum), load both ways.
#[test]
fn empty_and_unchecksummed_files_cross_over() {
    for options in [&[][..], &["--rdbchecksum", "no"][..]] {
        for to_redis in [true, false] {
            let (src_dir, dst_dir) = (TempDir::new("persist-x-src"), TempDir::new("persist-x-dst"));
            let src = if to_redis {
                ferro(&src_dir.0, options)
            } else {
                redis_in(&src_dir.0, options)
            };
            let mut s = connect(&src);
            let empty = options.is_empty();
            if !empty {
                qs(&mut s, &["SET", "k", "v"]);
                qs(&mut s, &["SELECT", "9"]);
                qs(&mut s, &["RPUSH", "l", "1", "2"]);
            }
            assert_eq!(qs(&mut s, &["SAVE"]), Value::Okay);
            let expected = state(&mut s);
            let file = std::fs::read(src_dir.path("dump.rdb")).expect("dump.rdb");
            let stored_crc = &file[file.len() - 8..];
            assert_eq!(
                stored_crc == [0u8; 8],
                !empty,
                "checksum field with options {options:?}"
            );
            if to_redis {
                check_rdb(&src_dir.path("dump.rdb"));
            }
            std::fs::copy(src_dir.path("dump.rdb"), dst_dir.path("dump.rdb")).expect("copy");
            let dst = if to_redis {
                redis_in(&dst_dir.0, options)
            } else {
                ferro(&dst_dir.0, options)
            };
            let what = format!(
                "{} -> {}, options {options:?}",
                if to_redis {
                    "ferrocache"
                } else {
                    "redis-server"
                },
                if to_redis {
                    "redis-server"
                } else {
                    "ferrocache"
                }
            );
            compare(&what, &expected, &state(&mut connect(&dst)), false);
        }
    }
}

/// A file with keys in a database this server does not have is refused
/// at startup, naming the file and the problem.
#[test]
fn file_with_more_databases_than_configured_is_refused() {
    let dir = TempDir::new("persist-dbs");
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    qs(&mut c, &["SELECT", "12"]);
    qs(&mut c, &["SET", "k", "v"]);
    assert_eq!(qs(&mut c, &["SAVE"]), Value::Okay);
    drop(c);
    drop(node);
    let d = dir.0.to_str().expect("utf-8");
    let (status, log) =
        ferrocache_startup_failure(&["--port", "0", "--dir", d, "--databases", "4"]);
    assert!(
        !status.success(),
        "started with a key in db 12 and 4 databases:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains(&dir.path("dump.rdb").display().to_string()),
        "{log}"
    );
    assert!(log.contains("database"), "{log}");
    // With enough databases it loads.
    let node = ferro(&dir.0, &["--databases", "13"]);
    let mut c = connect(&node);
    qs(&mut c, &["SELECT", "12"]);
    assert_eq!(qs(&mut c, &["GET", "k"]), Value::BulkString(b"v".to_vec()));
}

// ---------------------------------------------------------------------------
// Damaged DUMP payloads

/// Every payload of the data set, damaged in many ways (a flipped byte, a
/// cut, an inserted byte) and resealed with a valid footer, is RESTOREd in
/// both servers with sanitize-dump-payload yes: Ferrocache never dies, a
/// payload both accept reads back the same in both, and Ferrocache never
/// accepts what redis-server refuses.
#[test]
fn damaged_payloads_restore_as_in_redis() {
    let (fdir, rdir) = (TempDir::new("persist-dmg-f"), TempDir::new("persist-dmg-r"));
    let opts = ["--sanitize-dump-payload", "yes"];
    let (f, r) = (ferro(&fdir.0, &opts), redis_in(&rdir.0, &opts));
    let (mut fc, mut rc) = (connect(&f), connect(&r));
    fill(&mut rc);
    let keys = state(&mut rc);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n.max(1) as u64) as usize
    };
    let (mut tried, mut both_ok, mut both_refused) = (0, 0, 0);
    let mut problems = Vec::new();
    let mut redis_only = Vec::new();
    for (_, key) in keys.keys().filter(|(db, _)| *db == 0) {
        let Value::BulkString(payload) = q(&mut rc, &[b"DUMP", key]) else {
            panic!("DUMP")
        };
        let body = &payload[..payload.len() - 10];
        for round in 0..30 {
            let mut damaged = body.to_vec();
            match round % 3 {
                0 => {
                    let at = next(damaged.len());
                    damaged[at] ^= 1 << next(8);
                }
                1 => damaged.truncate(1 + next(damaged.len() - 1)),
                _ => {
                    let at = 1 + next(damaged.len() - 1);
                    damaged.insert(at, next(256) as u8);
                }
            }
            if damaged == body {
                continue;
            }
            rdb::dump::seal(&mut damaged);
            tried += 1;
            let target = b"damaged";
            let args: [&[u8]; 5] = [b"RESTORE", target, b"0", &damaged, b"REPLACE"];
            let rr = redis::cmd("RESTORE")
                .arg(&args[1..])
                .query::<Value>(&mut rc);
            let fr = redis::cmd("RESTORE")
                .arg(&args[1..])
                .query::<Value>(&mut fc);
            let alive = redis::cmd("PING").query::<String>(&mut fc);
            if alive.is_err() {
                panic!(
                    "ferrocache died on a damaged {} payload (round {round}): {}",
                    String::from_utf8_lossy(key),
                    show_args(&args)
                );
            }
            match (&rr, &fr) {
                (Ok(_), Ok(_)) => {
                    both_ok += 1;
                    let (a, b) = (key_state(&mut rc, target), key_state(&mut fc, target));
                    if a.kind != b.kind || a.value != b.value {
                        problems.push(format!(
                            "{} round {round}: both accept, values differ: {}",
                            String::from_utf8_lossy(key),
                            first_difference(&a.value, &b.value)
                        ));
                    }
                }
                (Err(_), Err(_)) => both_refused += 1,
                (Err(e), Ok(_)) => problems.push(format!(
                    "{} round {round}: redis-server refuses ({e}), ferrocache accepts",
                    String::from_utf8_lossy(key)
                )),
                (Ok(_), Err(e)) => redis_only.push(format!(
                    "{} round {round}: redis-server accepts, ferrocache refuses ({e})",
                    String::from_utf8_lossy(key)
                )),
            }
            for c in [&mut rc, &mut fc] {
                qs(c, &["DEL", "damaged"]);
            }
        }
    }
    eprintln!(
        "{tried} damaged payloads: {both_ok} accepted by both, {both_refused} refused by both, \
         {} accepted by redis-server only:\n{}",
        redis_only.len(),
        redis_only[..redis_only.len().min(10)].join("\n")
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Edge cases of saving, against redis-server

/// Starts the server named `kind` ("redis-server" or "ferrocache") in `dir`.
fn start_kind(kind: &str, dir: &Path, extra: &[&str]) -> Proc {
    if kind == "redis-server" {
        redis_in(dir, extra)
    } else {
        ferro(dir, extra)
    }
}

/// A key whose TTL passed but which nothing removed yet (active expiry
/// off) is saved with its expire time and not loaded back.
#[test]
fn logically_expired_keys_do_not_come_back() {
    let mut outcomes = Vec::new();
    for kind in ["redis-server", "ferrocache"] {
        let dir = TempDir::new("persist-expired");
        let node = start_kind(kind, &dir.0, &[]);
        let mut c = connect(&node);
        qs(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        qs(&mut c, &["SET", "gone", "v", "PX", "100"]);
        qs(&mut c, &["HSET", "gone-hash", "f", "v"]);
        qs(&mut c, &["PEXPIRE", "gone-hash", "100"]);
        qs(&mut c, &["SET", "stays", "v"]);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(qs(&mut c, &["SAVE"]), Value::Okay);
        let copy = copy_dump(&dir.0, "persist-expired-copy");
        let loaded = ferro(&copy.0, &[]);
        let mut l = connect(&loaded);
        let keys = sorted_items(&qs(&mut l, &["KEYS", "*"]));
        let redis_loaded = redis_in(&copy.0, &[]);
        let mut rl = connect(&redis_loaded);
        let redis_keys = sorted_items(&qs(&mut rl, &["KEYS", "*"]));
        outcomes.push(format!(
            "{kind} file: ferrocache loads {keys:?}, redis-server loads {redis_keys:?}"
        ));
    }
    let expected = "[\"\\\"stays\\\"\"]";
    assert!(
        outcomes.iter().all(|o| o.matches(expected).count() == 2),
        "expected only \"stays\":\n{}",
        outcomes.join("\n")
    );
}

/// SHUTDOWN while a BGSAVE runs waits for it or stops it, then saves the
/// data as it is at the SHUTDOWN: a write made after BGSAVE began is in
/// the file.
#[test]
fn shutdown_during_bgsave_saves_the_latest_data() {
    let dir = TempDir::new("persist-shutbg");
    let mut node = ferro(&dir.0, &["--save", "3600 1"]);
    preload(&node, "k", 100_000, 24);
    let mut c = connect(&node);
    assert_eq!(
        qs(&mut c, &["BGSAVE"]),
        Value::SimpleString("Background saving started".into())
    );
    qs(&mut c, &["SET", "late", "1"]);
    drop(c);
    shutdown(&mut node, &[]);
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    assert_eq!(int(&qs(&mut c, &["DBSIZE"])), 100_001);
    assert_eq!(
        qs(&mut c, &["GET", "late"]),
        Value::BulkString(b"1".to_vec())
    );
}

/// With save points configured, redis-server's FLUSHALL saves the now
/// empty data set at once (so a crash right after it does not bring the
/// keys back), and counts one change after that save.
#[test]
fn flushall_with_save_points_saves_as_in_redis() {
    let mut outcomes = Vec::new();
    for kind in ["redis-server", "ferrocache"] {
        let dir = TempDir::new("persist-flushall");
        let mut node = start_kind(kind, &dir.0, &["--save", "3600 1"]);
        let mut c = connect(&node);
        qs(&mut c, &["SET", "a", "1"]);
        qs(&mut c, &["SET", "b", "1"]);
        assert_eq!(qs(&mut c, &["SAVE"]), Value::Okay);
        assert_eq!(qs(&mut c, &["FLUSHALL"]), Value::Okay);
        let changes = field(&mut c, "persistence", "rdb_changes_since_last_save");
        node.child.kill().expect("kill -9");
        node.child.wait().expect("wait");
        let restarted = start_kind(kind, &dir.0, &[]);
        let mut r = connect(&restarted);
        let keys = int(&qs(&mut r, &["DBSIZE"]));
        outcomes.push((kind, changes, keys));
    }
    assert_eq!(
        (&outcomes[1].1, outcomes[1].2),
        (&outcomes[0].1, outcomes[0].2),
        "(rdb_changes_since_last_save after FLUSHALL, keys after kill -9 and restart): {outcomes:?}"
    );
}

/// FLUSHALL and FLUSHDB count the keys they remove as changes
/// (rdb_changes_since_last_save, which drives the save points).
#[test]
fn flush_commands_count_as_changes() {
    let mut outcomes = Vec::new();
    for kind in ["redis-server", "ferrocache"] {
        let dir = TempDir::new("persist-flushdirty");
        let node = start_kind(kind, &dir.0, &[]);
        let mut c = connect(&node);
        let mut counts = Vec::new();
        for step in [
            &["SET", "a", "1"][..],
            &["SET", "b", "1"],
            &["SAVE"],
            &["FLUSHALL"],
            &["SET", "c", "1"],
            &["SELECT", "2"],
            &["SET", "d", "1"],
            &["FLUSHDB"],
            &["FLUSHALL"],
        ] {
            qs(&mut c, step);
            counts.push(format!(
                "{} -> {}",
                step.join(" "),
                field(&mut c, "persistence", "rdb_changes_since_last_save")
            ));
        }
        outcomes.push(counts);
    }
    assert_eq!(
        outcomes[1], outcomes[0],
        "rdb_changes_since_last_save after each step (left ferrocache, right redis-server)"
    );
}

/// DEBUG RELOAD's options (NOSAVE, NOFLUSH, MERGE), replies and effects
/// on keys and function libraries, against redis-server.
#[test]
fn debug_reload_options_match_redis() {
    let (fdir, rdir) = (
        TempDir::new("persist-dbgrl-f"),
        TempDir::new("persist-dbgrl-r"),
    );
    let (f, r) = (ferro(&fdir.0, &[]), redis_in(&rdir.0, &[]));
    let (mut fr, mut rr) = (f.raw(), r.raw());
    let mut d = Differences(Vec::new());
    let lib = "#!lua name=rl\nredis.register_function('rlf', function(keys, args) return 1 end)";
    let steps: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["SET", "b", "1", "EX", "1000"],
        &["FUNCTION", "LOAD", lib],
        &["SAVE"],
        &["SET", "c", "1"],
        &["DEBUG", "RELOAD", "NOSAVE"],
        &["KEYS", "*"],
        &["TTL", "b"],
        &["FUNCTION", "LIST"],
        &["SET", "a", "2"],
        &["SET", "d", "1"],
        &["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"],
        &["GET", "a"],
        &["EXISTS", "d"],
        &["FUNCTION", "LIST"],
        &["DEBUG", "RELOAD", "BOGUS"],
        &["FUNCTION", "FLUSH"],
        &["DEBUG", "RELOAD", "nosave"],
        &["FUNCTION", "LIST"],
        &["DEL", "d"],
        &["DEBUG", "RELOAD"],
        &["KEYS", "*"],
        &["FUNCTION", "LIST"],
    ];
    for step in steps {
        let (mut a, mut b) = both(&mut rr, &mut fr, step);
        if step[0] == "KEYS" {
            a = normalize_keys(&a);
            b = normalize_keys(&b);
        }
        d.same(&step.join(" "), (a, b));
    }
    d.assert_none();
}

/// A KEYS reply with its lines sorted (servers list keys in their own order).
fn normalize_keys(reply: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(reply);
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    let header = lines.remove(0);
    let mut pairs: Vec<String> = lines.chunks(2).map(|p| p.join("\r\n")).collect();
    pairs.sort();
    format!("{header}\r\n{}", pairs.join("\r\n")).into_bytes()
}

/// Big collections (a hash, a sorted set, a list and a set of 40k
/// elements each) changed during five BGSAVEs by transactions that keep
/// every size constant (add one, remove one): each file has each
/// collection at its size, and as many added elements in all four (no
/// transaction cut in two); the first file loads in redis-server too.
#[test]
fn bgsave_of_big_collections_under_writes() {
    const SIZE: usize = 40_000;
    const WRITERS: usize = 4;
    const ROUNDS: usize = 5;
    let dir = TempDir::new("persist-bigcoll");
    let node = ferro(&dir.0, &[]);
    {
        let mut raw = node.raw();
        raw.stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut sent = 0;
        let mut batch = Vec::new();
        for start in (0..SIZE).step_by(1000) {
            let names: Vec<String> = (start..start + 1000).map(|i| format!("old{i}")).collect();
            let scores: Vec<String> = (start..start + 1000)
                .map(|i| format!("{}", i as f64 / 4.0))
                .collect();
            let mut h: Vec<&[u8]> = vec![b"HSET", b"big:h"];
            let mut z: Vec<&[u8]> = vec![b"ZADD", b"big:z"];
            let mut l: Vec<&[u8]> = vec![b"RPUSH", b"big:l"];
            let mut s: Vec<&[u8]> = vec![b"SADD", b"big:s"];
            for (n, sc) in names.iter().zip(&scores) {
                h.extend([n.as_bytes(), sc.as_bytes()]);
                z.extend([sc.as_bytes(), n.as_bytes()]);
                l.push(n.as_bytes());
                s.push(n.as_bytes());
            }
            for cmd in [h, z, l, s] {
                batch.extend(encode(&cmd));
                sent += 1;
            }
        }
        raw.send(&batch);
        for _ in 0..sent {
            let reply = raw.read_reply();
            assert!(reply.starts_with(b":"), "{}", common::show(&reply));
        }
    }
    let mut c = connect(&node);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (stop, done) = (stop.clone(), done.clone());
            let url = node.url();
            std::thread::spawn(move || {
                let mut w = common::connect_with_timeouts(&url);
                let mut i = t;
                while !stop.load(Ordering::Relaxed) && i < SIZE {
                    let (old, new) = (format!("old{i}"), format!("new{i}"));
                    let () = redis::pipe()
                        .atomic()
                        .cmd("HSET")
                        .arg("big:h")
                        .arg(&new)
                        .arg(i)
                        .ignore()
                        .cmd("HDEL")
                        .arg("big:h")
                        .arg(&old)
                        .ignore()
                        .cmd("ZADD")
                        .arg("big:z")
                        .arg(-(i as f64))
                        .arg(&new)
                        .ignore()
                        .cmd("ZREM")
                        .arg("big:z")
                        .arg(&old)
                        .ignore()
                        .cmd("LPUSH")
                        .arg("big:l")
                        .arg(&new)
                        .ignore()
                        .cmd("RPOP")
                        .arg("big:l")
                        .ignore()
                        .cmd("SADD")
                        .arg("big:s")
                        .arg(&new)
                        .ignore()
                        .cmd("SREM")
                        .arg("big:s")
                        .arg(&old)
                        .ignore()
                        .query(&mut w)
                        .expect("MULTI/EXEC");
                    done.fetch_add(1, Ordering::SeqCst);
                    i += WRITERS;
                }
            })
        })
        .collect();
    wait_until(Duration::from_secs(20), "the writers to start", || {
        done.load(Ordering::SeqCst) >= 20
    });
    // Several saves, each file kept: a save starting in the middle of a
    // transaction is a rare event.
    let mut snapshots = Vec::new();
    for _ in 0..ROUNDS {
        let before = done.load(Ordering::SeqCst);
        assert_eq!(
            qs(&mut c, &["BGSAVE"]),
            Value::SimpleString("Background saving started".into())
        );
        wait_bgsave_done(&mut c);
        let after = done.load(Ordering::SeqCst);
        assert_eq!(field(&mut c, "persistence", "rdb_last_bgsave_status"), "ok");
        snapshots.push((copy_dump(&dir.0, "persist-bigcoll-copy"), after - before));
    }
    stop.store(true, Ordering::Relaxed);
    join_all(writers);
    let during: u64 = snapshots.iter().map(|s| s.1).sum();
    assert!(during > 0, "no transaction ran during the saves");
    check_rdb(&snapshots[0].0.path("dump.rdb"));
    let mut problems = Vec::new();
    for (round, (snapshot, _)) in snapshots.iter().enumerate() {
        let ferro_copy = copy_dump(&snapshot.0, "persist-bigcoll-ferro");
        let mut loaded = vec![("ferrocache", ferro(&ferro_copy.0, &[]))];
        if round == 0 {
            loaded.push((
                "redis-server",
                redis_in(&snapshot.0, &["--sanitize-dump-payload", "yes"]),
            ));
        }
        for (name, node) in &loaded {
            let mut l = connect(node);
            let size = SIZE as i64;
            let sizes = [
                int(&qs(&mut l, &["HLEN", "big:h"])),
                int(&qs(&mut l, &["ZCARD", "big:z"])),
                int(&qs(&mut l, &["LLEN", "big:l"])),
                int(&qs(&mut l, &["SCARD", "big:s"])),
            ];
            if sizes != [size; 4] {
                problems.push(format!(
                    "save {round}, loaded in {name}: hash, zset, list, set sizes {sizes:?}, {SIZE} expected"
                ));
            }
            // As many `new` elements as transactions: the same count in all four.
            let news = [
                sorted_items(&qs(&mut l, &["HKEYS", "big:h"]))
                    .iter()
                    .filter(|f| f.contains("new"))
                    .count(),
                int(&qs(&mut l, &["ZCOUNT", "big:z", "-inf", "(0"])) as usize
                    + usize::from(text(&qs(&mut l, &["ZSCORE", "big:z", "new0"])) != "nil"),
                sorted_items(&qs(&mut l, &["LRANGE", "big:l", "0", "-1"]))
                    .iter()
                    .filter(|f| f.contains("new"))
                    .count(),
                sorted_items(&qs(&mut l, &["SMEMBERS", "big:s"]))
                    .iter()
                    .filter(|f| f.contains("new"))
                    .count(),
            ];
            if news.iter().any(|&n| n != news[0]) {
                problems.push(format!(
                    "save {round}, loaded in {name}: a torn transaction: added elements in hash, zset, list, set: {news:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// FLUSHALL inside MULTI saves (save points are set) while EXEC holds
/// every shard, so the save must run on the EXEC's own thread (a helper
/// thread would wait for those shards forever). SAVE itself is refused in
/// MULTI, as in Redis.
#[test]
fn saves_inside_multi_complete() {
    let dir = TempDir::new("persist-multi-save");
    let node = ferro(&dir.0, &["--save", "3600 1"]);
    let mut c = connect(&node);
    qs(&mut c, &["SET", "before", "1"]);
    qs(&mut c, &["MULTI"]);
    qs(&mut c, &["SET", "k", "v"]);
    qs(&mut c, &["FLUSHALL"]);
    qs(&mut c, &["SET", "after", "2"]);
    assert_eq!(
        qs(&mut c, &["EXEC"]),
        Value::Array(vec![Value::Okay, Value::Okay, Value::Okay])
    );
    // FLUSHALL's save holds the empty dataset, taken before "after" was set.
    drop(c);
    drop(node);
    let again = ferro(&dir.0, &[]);
    let mut c = connect(&again);
    assert_eq!(qs(&mut c, &["DBSIZE"]), Value::Int(0));
}

/// DEBUG RELOAD inside MULTI saves and loads on the EXEC's own thread (its
/// held shards are out of reach of helper threads).
#[test]
fn debug_reload_inside_multi_completes() {
    let dir = TempDir::new("persist-multi-reload");
    let node = ferro(&dir.0, &[]);
    let mut c = connect(&node);
    qs(&mut c, &["MULTI"]);
    qs(&mut c, &["SET", "k", "v"]);
    qs(&mut c, &["DEBUG", "RELOAD"]);
    qs(&mut c, &["GET", "k"]);
    assert_eq!(
        qs(&mut c, &["EXEC"]),
        Value::Array(vec![
            Value::Okay,
            Value::Okay,
            Value::BulkString(b"v".to_vec())
        ])
    );
}
