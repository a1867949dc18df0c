//! DEBUG DIGEST and DEBUG DIGEST-VALUE against the real redis-server
//! 7.0.15: both servers get the same commands, building datasets of every
//! type in its small and large encodings (strings raw, embedded and
//! integer-encoded; lists, sets, sorted sets and hashes past their listpack
//! / intset limits; HyperLogLogs sparse and dense; streams over several
//! nodes with deletions, consumer groups and pending entries), keys with
//! TTLs set by PEXPIREAT to the same absolute time, and several databases;
//! after every step the dataset digest and the digest of every key of
//! every database must be byte-identical. Then how the digest moves: it
//! changes with a value, a TTL's presence or the database a key lives in,
//! not with the TTL's time or the order of insertion, comes back when a
//! deleted key is added again, and is 40 zeros for an empty dataset.
//!
//! redis-server instances use ports 7380-7389. A missing redis-server is a
//! failure, not a skip. Servers are killed when their guards drop.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{show, spawn_ferrocache, Proc, Raw, TempDir};

const ZEROS: &str = "0000000000000000000000000000000000000000";
/// Databases compared (both servers have 16).
const DATABASES: usize = 16;

// ---------------------------------------------------------------------------
// Servers

/// The next port of this file's range (7380-7389) to try for redis-server.
fn next_redis_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    7380 + NEXT.fetch_add(1, Ordering::Relaxed) % 10
}

/// Starts redis-server in `dir` on a port of this file's range, DEBUG
/// allowed, no persistence; its log goes to `dir/redis.log`.
fn start_redis(dir: &Path) -> Proc {
    common::redis_in_dir(dir, &[], next_redis_port).0
}

fn start_ferro(dir: &Path) -> Proc {
    let dir = dir.to_str().expect("utf-8 temp dir");
    let args = [
        "--port",
        "0",
        "--dir",
        dir,
        "--save",
        "",
        "--enable-debug-command",
        "yes",
    ];
    spawn_ferrocache(&args, &[]).0
}

/// A `redis` crate connection with 30 s timeouts (a hang fails the test).
fn connect(node: &Proc) -> redis::Connection {
    let c = node.client();
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    c.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    c
}

/// redis-server and Ferrocache side by side: one raw connection each for
/// the commands under test (replies compared byte for byte) and one
/// `redis` crate connection each for reading digests.
struct Pair {
    // Connections first: they close before the servers are killed.
    redis_raw: Raw,
    ferro_raw: Raw,
    redis_check: redis::Connection,
    ferro_check: redis::Connection,
    redis: Proc,
    ferro: Proc,
    _redis_dir: TempDir,
    _ferro_dir: TempDir,
}

impl Pair {
    fn start() -> Pair {
        let redis_dir = TempDir::new("digest-redis");
        let ferro_dir = TempDir::new("digest-ferro");
        let redis = start_redis(&redis_dir.0);
        let ferro = start_ferro(&ferro_dir.0);
        let mut redis_raw = redis.raw();
        let mut ferro_raw = ferro.raw();
        for raw in [&mut redis_raw, &mut ferro_raw] {
            raw.stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
        }
        Pair {
            redis_check: connect(&redis),
            ferro_check: connect(&ferro),
            redis_raw,
            ferro_raw,
            redis,
            ferro,
            _redis_dir: redis_dir,
            _ferro_dir: ferro_dir,
        }
    }

    /// Runs one command on both servers; their raw replies must be equal.
    fn both_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.redis_raw.cmd(args);
        let from_redis = self.redis_raw.read_reply();
        self.ferro_raw.cmd(args);
        let from_ferro = self.ferro_raw.read_reply();
        assert_eq!(
            show(&from_ferro),
            show(&from_redis),
            "reply to {} (ferrocache left, redis-server right; redis on port {}, ferrocache on port {})",
            describe(args),
            self.redis.port,
            self.ferro.port
        );
        from_redis
    }

    fn both(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.both_bytes(&args)
    }

    fn both_owned(&mut self, args: &[String]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.both_bytes(&args)
    }

    /// DEBUG DIGEST of both servers, which must be equal.
    fn digest(&mut self, step: &str) -> String {
        let from_redis = debug_digest(&mut self.redis_check);
        let from_ferro = debug_digest(&mut self.ferro_check);
        assert_eq!(
            from_ferro, from_redis,
            "DEBUG DIGEST after {step} (ferrocache left, redis-server right)"
        );
        from_redis
    }

    /// The dataset digest and, for every key of every database, its
    /// DIGEST-VALUE must be the same on both servers (and the keys too).
    /// Returns the dataset digest.
    fn assert_same_digests(&mut self, step: &str) -> String {
        let digest = self.digest(step);
        for db in 0..DATABASES {
            let mut keys = keys_of(&mut self.redis_check, db);
            let mut ferro_keys = keys_of(&mut self.ferro_check, db);
            keys.sort();
            ferro_keys.sort();
            assert_eq!(ferro_keys, keys, "keys of db {db} after {step}");
            if keys.is_empty() {
                continue;
            }
            let from_redis = digest_values(&mut self.redis_check, db, &keys);
            let from_ferro = digest_values(&mut self.ferro_check, db, &keys);
            for ((key, r), f) in keys.iter().zip(&from_redis).zip(&from_ferro) {
                assert_eq!(
                    f,
                    r,
                    "DEBUG DIGEST-VALUE {} in db {db} after {step} (ferrocache left, redis-server right)",
                    String::from_utf8_lossy(key)
                );
            }
            assert_eq!(from_ferro.len(), from_redis.len());
        }
        digest
    }

    /// DEBUG DIGEST-VALUE of `keys` in the raw connections' database, which
    /// must be equal on both; returns redis-server's.
    fn digest_value(&mut self, keys: &[&str]) -> Vec<String> {
        let mut args = vec!["DEBUG", "DIGEST-VALUE"];
        args.extend_from_slice(keys);
        statuses(&self.both(&args))
    }
}

fn describe(args: &[&[u8]]) -> String {
    let mut text: Vec<String> = args
        .iter()
        .take(8)
        .map(|a| String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned())
        .collect();
    if args.len() > 8 {
        text.push(format!("... ({} arguments)", args.len()));
    }
    text.join(" ")
}

fn debug_digest(c: &mut redis::Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query::<String>(c)
        .expect("DEBUG DIGEST")
}

fn keys_of(c: &mut redis::Connection, db: usize) -> Vec<Vec<u8>> {
    redis::cmd("SELECT").arg(db).query::<()>(c).expect("SELECT");
    redis::cmd("KEYS")
        .arg("*")
        .query::<Vec<Vec<u8>>>(c)
        .expect("KEYS")
}

fn digest_values(c: &mut redis::Connection, db: usize, keys: &[Vec<u8>]) -> Vec<String> {
    redis::cmd("SELECT").arg(db).query::<()>(c).expect("SELECT");
    let mut cmd = redis::cmd("DEBUG");
    cmd.arg("DIGEST-VALUE");
    for k in keys {
        cmd.arg(k.as_slice());
    }
    cmd.query::<Vec<String>>(c).expect("DEBUG DIGEST-VALUE")
}

/// The texts of a raw array of status replies.
fn statuses(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let header = lines.next().unwrap_or_default();
    let n: usize = header
        .strip_prefix('*')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an array: {text}"));
    let items: Vec<String> = lines
        .take(n)
        .map(|l| {
            l.strip_prefix('+')
                .unwrap_or_else(|| panic!("not a status: {l}"))
                .to_string()
        })
        .collect();
    assert_eq!(items.len(), n, "{text}");
    items
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `command key` followed by `items` (a variadic write).
fn variadic(command: &str, key: &str, items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut args = vec![command.to_string(), key.to_string()];
    args.extend(items);
    args
}

// ---------------------------------------------------------------------------
// Datasets

/// A named part of the dataset and the commands that add it.
type Step = (&'static str, fn(&mut Pair));

/// Strings: raw, embedded, integer-encoded (and look-alikes that are not),
/// binary, and ones changed in place.
fn add_strings(p: &mut Pair) {
    p.both(&["SET", "str:small", "hello"]);
    p.both(&["SET", "str:int", "12345"]);
    p.both(&["SET", "str:negint", "-7"]);
    p.both(&["SET", "str:maxint", "9223372036854775807"]);
    p.both(&["SET", "str:past-maxint", "9223372036854775808"]);
    p.both(&["SET", "str:leading-zero", "007"]);
    p.both(&["SET", "str:float", "3.14"]);
    p.both(&["SET", "str:empty", ""]);
    p.both_owned(&["SET".into(), "str:raw".into(), "r".repeat(300)]);
    p.both_bytes(&[b"SET", b"str:binary", b"\x00\xff\r\n\x01"]);
    p.both(&["INCR", "str:counter"]);
    p.both(&["INCRBY", "str:counter", "41"]);
    p.both(&["SET", "str:appended", "10"]);
    p.both(&["APPEND", "str:appended", "20"]);
    p.both(&["SETRANGE", "str:ranged", "5", "x"]);
    p.both(&["INCRBYFLOAT", "str:incrfloat", "0.1"]);
    p.both(&["INCRBYFLOAT", "str:incrfloat", "0.2"]);
    p.both(&["SETBIT", "str:bits", "100", "1"]);
}

/// Lists: a small listpack with integers, a quicklist of many nodes,
/// elements past the listpack's size limit, and edits in the middle.
fn add_lists(p: &mut Pair) {
    p.both(&["RPUSH", "list:small", "a", "b", "1", "-5", "1", ""]);
    p.both(&["LPUSH", "list:small", "head"]);
    p.both_owned(&variadic(
        "RPUSH",
        "list:big",
        (0..1500).map(|i| format!("element-{i}-{}", "x".repeat(i % 70))),
    ));
    p.both_owned(&variadic(
        "RPUSH",
        "list:long-items",
        (0..5).map(|i| format!("{i}{}", "L".repeat(9000))),
    ));
    p.both(&["LINSERT", "list:big", "BEFORE", "element-700-", "inserted"]);
    p.both(&["LSET", "list:big", "3", "replaced"]);
    p.both(&["LREM", "list:big", "1", "element-10-xxxxxxxxxx"]);
    p.both_owned(&variadic(
        "RPUSH",
        "list:ints",
        (0..300).map(|i| (i * 7 - 1000).to_string()),
    ));
}

/// Sets: intset, listpack, hash table of strings and of integers.
fn add_sets(p: &mut Pair) {
    p.both(&[
        "SADD",
        "set:intset",
        "1",
        "2",
        "3",
        "-100",
        "9223372036854775807",
    ]);
    p.both(&["SADD", "set:small", "x", "y", "3", "zebra"]);
    p.both_owned(&variadic(
        "SADD",
        "set:big-strings",
        (0..700).map(|i| format!("member:{i}")),
    ));
    p.both_owned(&variadic(
        "SADD",
        "set:big-ints",
        (0..700).map(|i| (i * 13 - 4000).to_string()),
    ));
    p.both_owned(&variadic(
        "SADD",
        "set:intset-400",
        (0..400).map(|i| i.to_string()),
    ));
    p.both_owned(&[
        "SADD".into(),
        "set:long-member".into(),
        "a".into(),
        "M".repeat(100),
    ]);
    p.both(&["SREM", "set:big-strings", "member:5", "member:500"]);
}

/// Sorted sets: listpack and skiplist, integer members, and scores whose
/// `%.17g` text is long, infinite or exponent-shaped.
fn add_zsets(p: &mut Pair) {
    p.both(&[
        "ZADD",
        "zset:small",
        "1.5",
        "a",
        "0.1",
        "b",
        "-inf",
        "c",
        "inf",
        "d",
        "1e300",
        "e",
        "3",
        "f",
        "2.5e-5",
        "g",
        "123456789.123",
        "h",
        "-17",
        "12",
        "0",
        "zero",
    ]);
    p.both(&["ZINCRBY", "zset:small", "0.2", "b"]);
    p.both_owned(&variadic(
        "ZADD",
        "zset:big",
        (0..300).flat_map(|i| [format!("{}", i as f64 / 7.0), format!("m{i}")]),
    ));
    p.both_owned(&[
        "ZADD".into(),
        "zset:long-member".into(),
        "1".into(),
        "Z".repeat(100),
        "2".into(),
        "short".into(),
    ]);
    p.both_owned(&variadic(
        "ZADD",
        "zset:int-members",
        (0..50).flat_map(|i| [format!("{}", i * 3), format!("{}", 1000 - i)]),
    ));
    p.both(&["ZREM", "zset:big", "m7", "m200"]);
}

/// Hashes: listpack with integer fields and values, hash tables by count
/// and by value length, and fields changed in place.
fn add_hashes(p: &mut Pair) {
    p.both(&[
        "HSET",
        "hash:small",
        "f",
        "v",
        "g",
        "1",
        "10",
        "-20",
        "empty",
        "",
    ]);
    p.both_owned(&variadic(
        "HSET",
        "hash:big",
        (0..600).flat_map(|i| [format!("field:{i}"), format!("value:{}", i * i)]),
    ));
    p.both_owned(&[
        "HSET".into(),
        "hash:long-value".into(),
        "f".into(),
        "H".repeat(100),
    ]);
    p.both(&["HINCRBY", "hash:small", "counter", "5"]);
    p.both(&["HINCRBYFLOAT", "hash:small", "float", "1.25"]);
    p.both(&["HDEL", "hash:big", "field:3"]);
}

/// HyperLogLogs: sparse, dense (after many adds), merged, and one whose
/// cached cardinality PFCOUNT wrote.
fn add_hyperloglogs(p: &mut Pair) {
    p.both(&["PFADD", "hll:sparse", "a", "b", "c"]);
    p.both_owned(&variadic(
        "PFADD",
        "hll:dense",
        (0..5000).map(|i| format!("element:{i}")),
    ));
    p.both(&["PFADD", "hll:counted", "x", "y", "z"]);
    p.both(&["PFCOUNT", "hll:counted"]);
    p.both(&["PFMERGE", "hll:merged", "hll:sparse", "hll:counted"]);
}

/// Streams: many entries over several nodes with varying fields, deleted
/// and trimmed entries, an emptied stream, consumer groups with pending
/// entries, claims, acks and a consumer created without reads.
fn add_streams(p: &mut Pair) {
    for i in 1..=250u64 {
        let id = format!("{}-{}", 1000 + i / 3, i % 3);
        let mut args = vec!["XADD".to_string(), "stream:big".into(), id];
        args.extend(["name".into(), format!("n{i}"), "n".into(), i.to_string()]);
        if i % 4 == 0 {
            args.extend(["extra".into(), "x".repeat((i % 90) as usize)]);
        }
        p.both_owned(&args);
    }
    p.both(&["XDEL", "stream:big", "1010-0", "1050-2", "1080-1"]);
    p.both(&["XTRIM", "stream:big", "MINID", "1005-0"]);
    p.both(&["XGROUP", "CREATE", "stream:big", "readers", "0"]);
    p.both(&["XGROUP", "CREATE", "stream:big", "late", "$"]);
    p.both(&[
        "XREADGROUP",
        "GROUP",
        "readers",
        "alice",
        "COUNT",
        "5",
        "STREAMS",
        "stream:big",
        ">",
    ]);
    p.both(&[
        "XREADGROUP",
        "GROUP",
        "readers",
        "bob",
        "COUNT",
        "3",
        "STREAMS",
        "stream:big",
        ">",
    ]);
    p.both(&["XACK", "stream:big", "readers", "1005-0", "1005-2"]);
    p.both(&["XGROUP", "CREATECONSUMER", "stream:big", "late", "carol"]);
    p.both(&["XADD", "stream:small", "1-1", "f", "v", "n", "5"]);
    p.both(&["XADD", "stream:small", "1-2", "f", "w"]);
    p.both(&["XADD", "stream:emptied", "5-5", "f", "v"]);
    p.both(&["XDEL", "stream:emptied", "5-5"]);
}

/// Keys with TTLs of every type, all to the same absolute time on both.
fn add_ttls(p: &mut Pair, at_ms: u64) {
    let at = at_ms.to_string();
    for key in [
        "str:small",
        "str:int",
        "list:small",
        "set:intset",
        "zset:big",
        "hash:big",
        "hll:sparse",
        "stream:small",
    ] {
        p.both(&["PEXPIREAT", key, &at]);
    }
    p.both(&["SET", "str:with-px", "v", "PXAT", &at]);
}

/// Keys in other databases, some with the names db 0 uses.
fn add_other_databases(p: &mut Pair, at_ms: u64) {
    let at = at_ms.to_string();
    p.both(&["SELECT", "1"]);
    p.both(&["SET", "str:small", "hello"]);
    p.both(&["RPUSH", "list:small", "a", "b"]);
    p.both(&["SELECT", "5"]);
    p.both(&["HSET", "hash:small", "f", "v"]);
    p.both(&["ZADD", "zset:small", "1", "one"]);
    p.both(&["PEXPIREAT", "zset:small", &at]);
    p.both(&["SELECT", "15"]);
    p.both(&["SADD", "set:small", "x", "y"]);
    p.both(&["SELECT", "0"]);
}

/// The `(type, encoding)` pairs OBJECT ENCODING reports for db 0's keys.
fn encodings(c: &mut redis::Connection) -> std::collections::BTreeSet<(String, String)> {
    let mut out = std::collections::BTreeSet::new();
    for key in keys_of(c, 0) {
        let kind: String = redis::cmd("TYPE").arg(&key).query(c).expect("TYPE");
        let encoding: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(&key)
            .query(c)
            .expect("OBJECT ENCODING");
        out.insert((kind, encoding));
    }
    out
}

/// The datasets reach every encoding on both servers (Ferrocache keeps
/// small lists and sets in a listpack, as Redis 7.2 does; redis-server 7.0
/// does not), and HyperLogLogs both sparse and dense.
fn assert_encodings_covered(p: &mut Pair) {
    let both: &[(&str, &str)] = &[
        ("string", "int"),
        ("string", "embstr"),
        ("string", "raw"),
        ("list", "quicklist"),
        ("set", "intset"),
        ("set", "hashtable"),
        ("zset", "listpack"),
        ("zset", "skiplist"),
        ("hash", "listpack"),
        ("hash", "hashtable"),
        ("stream", "stream"),
    ];
    let ferro_only: &[(&str, &str)] = &[("list", "listpack"), ("set", "listpack")];
    let from_redis = encodings(&mut p.redis_check);
    let from_ferro = encodings(&mut p.ferro_check);
    for (kind, encoding) in both {
        let want = (kind.to_string(), encoding.to_string());
        assert!(from_redis.contains(&want), "redis-server has no {want:?}");
        assert!(from_ferro.contains(&want), "ferrocache has no {want:?}");
    }
    for (kind, encoding) in ferro_only {
        let want = (kind.to_string(), encoding.to_string());
        assert!(from_ferro.contains(&want), "ferrocache has no {want:?}");
    }
    // The HyperLogLog header's fifth byte: 0 dense, 1 sparse.
    for (key, want) in [("hll:sparse", 1u8), ("hll:dense", 0)] {
        for c in [&mut p.redis_check, &mut p.ferro_check] {
            let _: () = redis::cmd("SELECT").arg(0).query(c).expect("SELECT");
            let header: Vec<u8> = redis::cmd("GETRANGE")
                .arg(key)
                .arg(4)
                .arg(4)
                .query(c)
                .expect("GETRANGE");
            assert_eq!(header, [want], "encoding byte of {key}");
        }
    }
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn digests_match_redis_for_every_type_and_encoding() {
    let mut p = Pair::start();
    let at_ms = now_ms() + 3_600_000;
    assert_eq!(p.assert_same_digests("start"), ZEROS);
    let steps: [Step; 7] = [
        ("strings", add_strings),
        ("lists", add_lists),
        ("sets", add_sets),
        ("sorted sets", add_zsets),
        ("hashes", add_hashes),
        ("hyperloglogs", add_hyperloglogs),
        ("streams", add_streams),
    ];
    let mut seen = vec![ZEROS.to_string()];
    for (step, add) in steps {
        add(&mut p);
        let digest = p.assert_same_digests(step);
        assert!(!seen.contains(&digest), "{step} did not change the digest");
        seen.push(digest);
    }
    assert_encodings_covered(&mut p);
    add_ttls(&mut p, at_ms);
    let with_ttls = p.assert_same_digests("TTLs");
    assert!(!seen.contains(&with_ttls), "TTLs did not change the digest");
    add_other_databases(&mut p, at_ms);
    let everything = p.assert_same_digests("other databases");
    assert_ne!(everything, with_ttls);
    // Reading does not change anything; a transaction sees the same.
    p.both(&["MULTI"]);
    p.both(&["DEBUG", "DIGEST"]);
    p.both(&["DEBUG", "DIGEST-VALUE", "str:small", "stream:big"]);
    p.both(&["EXEC"]);
    assert_eq!(p.assert_same_digests("MULTI / EXEC"), everything);
}

#[test]
fn digest_follows_values_ttls_and_databases() {
    let mut p = Pair::start();
    p.both(&["SET", "k", "v1"]);
    p.both(&["RPUSH", "l", "a", "b", "c"]);
    p.both(&["SADD", "s", "1", "2", "3"]);
    p.both(&["HSET", "h", "f1", "v1", "f2", "v2"]);
    let base = p.assert_same_digests("base");

    // A changed value changes the digest; putting it back restores it.
    p.both(&["SET", "k", "v2"]);
    let changed = p.assert_same_digests("SET k v2");
    assert_ne!(changed, base);
    p.both(&["SET", "k", "v1"]);
    assert_eq!(p.assert_same_digests("SET k v1"), base);

    // Deleted and added again (in another order): the same digest.
    p.both(&["DEL", "l", "s", "h"]);
    let without = p.assert_same_digests("DEL");
    assert_ne!(without, base);
    p.both(&["HSET", "h", "f2", "v2", "f1", "v1"]);
    p.both(&["SADD", "s", "3", "1", "2"]);
    p.both(&["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(p.assert_same_digests("added again"), base);

    // List order matters.
    p.both(&["DEL", "l"]);
    p.both(&["RPUSH", "l", "c", "b", "a"]);
    assert_ne!(p.assert_same_digests("reversed list"), base);
    p.both(&["DEL", "l"]);
    p.both(&["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(p.digest("list restored"), base);

    // A TTL's presence counts, its time does not.
    let at = now_ms() + 3_600_000;
    let before_ttl = p.digest_value(&["k"]);
    p.both(&["PEXPIREAT", "k", &at.to_string()]);
    let with_ttl = p.assert_same_digests("PEXPIREAT");
    assert_ne!(with_ttl, base);
    let ttl_value = p.digest_value(&["k"]);
    assert_ne!(ttl_value, before_ttl);
    p.both(&["PEXPIREAT", "k", &(at + 12_345).to_string()]);
    assert_eq!(p.assert_same_digests("PEXPIREAT later"), with_ttl);
    assert_eq!(p.digest_value(&["k"]), ttl_value);
    p.both(&["PERSIST", "k"]);
    assert_eq!(p.assert_same_digests("PERSIST"), base);

    // The same key in another database is another dataset.
    p.both(&["MOVE", "k", "3"]);
    let moved = p.assert_same_digests("MOVE k 3");
    assert_ne!(moved, base);
    p.both(&["SWAPDB", "0", "3"]);
    let swapped = p.assert_same_digests("SWAPDB 0 3");
    assert_ne!(swapped, moved);
    p.both(&["SWAPDB", "0", "3"]);
    assert_eq!(p.assert_same_digests("SWAPDB back"), moved);
    p.both(&["SELECT", "3"]);
    p.both(&["MOVE", "k", "0"]);
    p.both(&["SELECT", "0"]);
    assert_eq!(p.assert_same_digests("MOVE back"), base);

    // A stream's entries count; its groups, consumers, pending entries and
    // last id do not (Redis digests the entries only).
    p.both(&["XADD", "x", "1-1", "f", "v"]);
    p.both(&["XADD", "x", "2-1", "f", "w"]);
    let entries = p.assert_same_digests("stream");
    p.both(&["XGROUP", "CREATE", "x", "g", "0"]);
    p.both(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "1",
        "STREAMS",
        "x",
        ">",
    ]);
    p.both(&["XSETID", "x", "9-9"]);
    assert_eq!(p.assert_same_digests("stream groups"), entries);
    p.both(&["XDEL", "x", "1-1"]);
    assert_ne!(p.assert_same_digests("XDEL"), entries);
    p.both(&["DEL", "x"]);
    assert_eq!(p.assert_same_digests("stream deleted"), base);

    // DIGEST-VALUE leaves the key name out: equal values, equal digests.
    p.both(&["SET", "other-name", "v1"]);
    let values = p.digest_value(&["k", "other-name"]);
    assert_eq!(values[0], values[1]);
    // ...but the type is in: a one-element list of "v1" differs.
    p.both(&["RPUSH", "list-v1", "v1"]);
    assert_ne!(p.digest_value(&["list-v1"])[0], values[0]);
}

#[test]
fn empty_datasets_and_argument_errors_match_redis() {
    let mut p = Pair::start();
    assert_eq!(p.digest("start"), ZEROS);
    assert_eq!(p.digest_value(&["missing"]), vec![ZEROS.to_string()]);
    // No keys: an empty array.
    assert_eq!(p.both(&["DEBUG", "DIGEST-VALUE"]), b"*0\r\n");
    p.both(&["DEBUG", "digest"]);
    p.both(&["DEBUG", "DIGEST", "extra"]);

    p.both(&["SELECT", "7"]);
    p.both(&["SET", "k", "v"]);
    let one = p.assert_same_digests("db 7 only");
    assert_ne!(one, ZEROS);
    let k = p.digest_value(&["k"]).remove(0);
    assert_ne!(k, ZEROS);
    assert_eq!(
        p.digest_value(&["k", "missing", "k"]),
        vec![k.clone(), ZEROS.to_string(), k]
    );
    // An emptied database no longer counts.
    p.both(&["DEL", "k"]);
    assert_eq!(p.assert_same_digests("DEL"), ZEROS);
    p.both(&["SET", "k", "v"]);
    assert_eq!(p.assert_same_digests("SET again"), one);
    p.both(&["FLUSHDB"]);
    assert_eq!(p.assert_same_digests("FLUSHDB"), ZEROS);
    p.both(&["SET", "k", "v"]);
    p.both(&["SELECT", "0"]);
    p.both(&["SET", "k", "v"]);
    assert_ne!(p.assert_same_digests("two databases"), one);
    p.both(&["FLUSHALL"]);
    assert_eq!(p.assert_same_digests("FLUSHALL"), ZEROS);
}

#[test]
fn digest_survives_debug_reload() {
    let mut p = Pair::start();
    add_strings(&mut p);
    add_lists(&mut p);
    add_sets(&mut p);
    add_zsets(&mut p);
    add_hashes(&mut p);
    add_hyperloglogs(&mut p);
    add_streams(&mut p);
    let at_ms = now_ms() + 3_600_000;
    add_ttls(&mut p, at_ms);
    add_other_databases(&mut p, at_ms);
    let before = p.assert_same_digests("dataset");
    p.both(&["DEBUG", "RELOAD"]);
    assert_eq!(p.assert_same_digests("DEBUG RELOAD"), before);
}

#[test]
fn expired_keys_not_yet_reclaimed_still_count_like_redis() {
    let mut p = Pair::start();
    p.both(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    p.both(&["SET", "stays", "v"]);
    let without = p.assert_same_digests("one key");
    p.both(&["SET", "lapses", "v", "PX", "50"]);
    p.both(&["RPUSH", "lapsed-list", "a", "b"]);
    p.both(&["PEXPIRE", "lapsed-list", "50"]);
    // DIGEST counts a key whether its TTL has passed or not, so this reads
    // the same however long the two calls take.
    let with = p.digest("keys with a 50 ms TTL");
    assert_ne!(with, without);
    std::thread::sleep(Duration::from_millis(200));
    // Nothing touched them: both servers still store them and digest them,
    // DIGEST-VALUE included (it reads the key without expiring it).
    assert_eq!(p.digest("TTL passed"), with);
    let values = p.digest_value(&["lapses", "lapsed-list"]);
    assert!(values.iter().all(|v| v != ZEROS), "{values:?}");
    assert_eq!(p.digest("DIGEST-VALUE of lapsed keys"), with);
    // A read reclaims them.
    p.both(&["GET", "lapses"]);
    p.both(&["LLEN", "lapsed-list"]);
    assert_eq!(p.assert_same_digests("reclaimed"), without);
}
