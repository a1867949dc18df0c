//! The AOF rewrite as commands against the real redis-server 7.0.15:
//! values of every type, in several databases, are serialized with
//! `persist::aof_rewrite` into a multi-part AOF directory (BASE file, empty
//! INCR file, manifest); `redis-check-aof` must accept it, and a
//! redis-server started on it must hold every key back: type, value, TTL
//! (PEXPIRETIME), functions, and XINFO STREAM FULL details (counters,
//! groups, consumers, PEL ids, delivery times and counts).
//!
//! Then that server rewrites its AOF itself (BGREWRITEAOF with
//! `aof-use-rdb-preamble no`) and its commands must equal ours: byte for
//! byte per key where Redis's iteration order is defined (listpack, intset,
//! quicklist, streams), as the same elements in the same batch sizes where
//! it is a dict's order (hashtable sets and hashes, skiplist sorted sets).
//!
//! The test starts its own redis-server on a free port of 7350-7359 and
//! kills it (by its handle's PID) when done, on failure too. A missing
//! redis-server or redis-check-aof fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyspace::{StrValue, Value};
use persist::aof_rewrite::{write_entry_commands, write_function_commands, write_select};
use types::list::End;
use types::stream::{Group, NodeLimits, Stream, StreamId, INVALID_ENTRIES_READ};
use types::{hll, Hash, Limits, List, Set, ZSet};

// ---------------------------------------------------------------------------
// A minimal RESP client and the redis-server under test
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    fn bytes(&self) -> &[u8] {
        match self {
            Resp::Bulk(Some(b)) => b,
            Resp::Simple(s) => s.as_bytes(),
            other => panic!("not a string: {other:?}"),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    fn int(&self) -> i64 {
        match self {
            Resp::Int(v) => *v,
            other => panic!("not an integer: {other:?}"),
        }
    }

    fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(Some(a)) => a,
            other => panic!("not an array: {other:?}"),
        }
    }

    /// The value after key `name` in a flat key/value array.
    fn field(&self, name: &str) -> &Resp {
        self.items()
            .chunks(2)
            .find(|kv| kv[0].bytes() == name.as_bytes())
            .map(|kv| &kv[1])
            .unwrap_or_else(|| panic!("no field {name} in {self:?}"))
    }
}

fn bulk(b: &[u8]) -> Resp {
    Resp::Bulk(Some(b.to_vec()))
}

/// A directory of our own under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "ferrocache-aof-rewrite-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Our redis-server; dropping it kills that process (by its PID) and
/// reaps it.
struct Redis {
    child: Child,
    conn: BufReader<TcpStream>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 7350-7359 nobody listens on.
fn free_port() -> u16 {
    (7350..=7359)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 7350-7359")
}

impl Redis {
    /// redis-server with AOF on, loading `dir`'s appendonlydir.
    fn start(dir: &Path, port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])
            .args(["--save", "", "--daemonize", "no", "--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start redis-server (must be installed): {e}"));
        let pid = child.id();
        let mut child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
                    panic!("redis-server exited with {status}; its log:\n{log}");
                }
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                let mut r = Redis {
                    child: child.take().expect("child"),
                    conn: BufReader::new(s),
                };
                // Wait out the AOF loading (-LOADING replies).
                while r.cmd(&["PING"]) != Resp::Simple("PONG".into()) {
                    assert!(Instant::now() < deadline, "redis-server did not load");
                    std::thread::sleep(Duration::from_millis(20));
                }
                let info = r.ok(&["INFO", "server"]).text();
                assert!(
                    info.contains(&format!("process_id:{pid}\r\n")),
                    "port {port} is served by another redis-server"
                );
                return r;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn cmd_bytes(&mut self, args: &[&[u8]]) -> Resp {
        let mut out = Vec::new();
        resp::write_command(&mut out, args);
        self.conn.get_mut().write_all(&out).expect("write");
        self.read_reply()
    }

    fn cmd(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&args)
    }

    /// A command that must not fail.
    fn ok_bytes(&mut self, args: &[&[u8]]) -> Resp {
        let r = self.cmd_bytes(args);
        if let Resp::Error(e) = &r {
            panic!(
                "{:?}: {e}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
        r
    }

    fn ok(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.ok_bytes(&args)
    }

    fn read_reply(&mut self) -> Resp {
        let mut line = String::new();
        self.conn.read_line(&mut line).expect("read");
        let line = line.trim_end_matches("\r\n");
        assert!(!line.is_empty(), "connection closed");
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Resp::Simple(rest.to_string()),
            "-" => Resp::Error(rest.to_string()),
            ":" => Resp::Int(rest.parse().expect("integer")),
            "$" => {
                let n: i64 = rest.parse().expect("length");
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.conn.read_exact(&mut b).expect("bulk");
                b.truncate(n as usize);
                Resp::Bulk(Some(b))
            }
            "*" => {
                let n: i64 = rest.parse().expect("count");
                if n < 0 {
                    return Resp::Array(None);
                }
                Resp::Array(Some((0..n).map(|_| self.read_reply()).collect()))
            }
            _ => panic!("unexpected reply line {line:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The data set
// ---------------------------------------------------------------------------

/// 2100-01-01 plus a little: far in the future, exact to the ms.
const FAR_EXPIRY_MS: u64 = 4_102_444_800_123;
/// Delivery times must be in the past: XCLAIM TIME clamps future ones to
/// the present.
const PAST_MS: u64 = 1_700_000_000_000;

const LIBRARY: &[u8] = b"#!lua name=aoflib\n\
    redis.register_function('aof_echo', function(keys, args) return args[1] end)";

struct Key {
    name: Vec<u8>,
    value: Value,
    expire_at_ms: u64,
}

fn key(name: &str, value: Value, expire_at_ms: u64) -> Key {
    Key {
        name: name.as_bytes().to_vec(),
        value,
        expire_at_ms,
    }
}

fn list(items: &[Vec<u8>]) -> Value {
    let mut l = List::new();
    l.push_all(End::Tail, items.iter().map(|i| i.as_slice()), -2);
    Value::List(Box::new(l))
}

fn set(members: &[Vec<u8>]) -> Value {
    let limits = Limits::default();
    let mut s = Set::new();
    for m in members {
        s.insert(m, &limits);
    }
    Value::Set(Box::new(s))
}

fn zset(items: &[(&[u8], f64)]) -> Value {
    let limits = Limits::default();
    let mut z = ZSet::new();
    for (m, score) in items {
        z.insert(m, *score, &limits);
    }
    Value::ZSet(z)
}

fn hash(pairs: &[(Vec<u8>, Vec<u8>)]) -> Value {
    let limits = Limits::default();
    let mut h = Hash::new();
    for (f, v) in pairs {
        h.insert(f, v, &limits);
    }
    Value::Hash(h)
}

/// 250 entries over several nodes, some deleted (the first one too), two
/// groups; consumers with pending entries, without, with only deleted
/// ones pending (Redis's XCLAIM FORCE cannot bring those back), and with
/// a mix.
fn big_stream() -> Stream {
    let mut s = Stream::new();
    let limits = NodeLimits::default();
    for i in 1..=250u64 {
        let id = StreamId::new(1_000 + i / 3, i % 3);
        let v = i.to_string();
        let big = vec![b'x'; (i as usize % 7) * 40];
        if i % 5 == 0 {
            s.append(id, &[(b"other", v.as_bytes()), (b"blob", &big)], limits);
        } else {
            s.append(
                id,
                &[
                    (b"n", v.as_bytes()),
                    (b"sq", &(i * i).to_string().into_bytes()),
                ],
                limits,
            );
        }
    }
    let ids: Vec<StreamId> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .map(|e| e.id)
        .collect();
    for i in [0usize, 10, 11, 12, 100, 170] {
        assert!(s.delete(ids[i]));
    }
    let live = |n: usize| {
        assert!(![0usize, 10, 11, 12, 100, 170].contains(&n));
        ids[n]
    };

    let mut g1 = Group::new(ids[199], 200);
    for c in [&b"alice"[..], b"bob", b"carol", b"ghost", b"mixed"] {
        g1.consumer(c, PAST_MS);
    }
    g1.deliver(live(1), b"alice", PAST_MS + 1, 1);
    g1.deliver(live(2), b"alice", PAST_MS + 2, 7);
    g1.deliver(live(150), b"alice", PAST_MS + 3, 2);
    g1.deliver(live(3), b"carol", PAST_MS + 4, 1);
    // Pending entries whose stream entries are gone.
    g1.deliver(ids[10], b"ghost", PAST_MS + 5, 3);
    g1.deliver(ids[11], b"ghost", PAST_MS + 6, 1);
    g1.deliver(ids[12], b"mixed", PAST_MS + 7, 4);
    g1.deliver(live(13), b"mixed", PAST_MS + 8, 5);
    s.groups.insert(b"g1"[..].into(), g1);

    let mut g2 = Group::new(StreamId::MIN, INVALID_ENTRIES_READ);
    g2.consumer(b"idle", PAST_MS);
    s.groups.insert(b"g2-\xffbin"[..].into(), g2);
    s
}

/// A stream whose entries were all deleted: no entries, counters kept.
fn emptied_stream() -> Stream {
    let mut s = Stream::new();
    for i in 1..=3 {
        s.append(StreamId::new(5, i), &[(b"f", b"v")], NodeLimits::default());
    }
    for i in 1..=3 {
        assert!(s.delete(StreamId::new(5, i)));
    }
    let mut g = Group::new(StreamId::new(5, 2), 2);
    g.consumer(b"c", PAST_MS);
    s.groups.insert(b"g"[..].into(), g);
    s
}

/// What XGROUP CREATE ... MKSTREAM leaves: no entry ever added.
fn fresh_stream() -> Stream {
    let mut s = Stream::new();
    s.groups
        .insert(b"g"[..].into(), Group::new(StreamId::MIN, 0));
    s
}

fn dataset() -> Vec<(usize, Vec<Key>)> {
    let mut hll_value = hll::new_sparse();
    for i in 0..300 {
        hll::add(&mut hll_value, format!("visitor-{i}").as_bytes(), 3000).expect("hll add");
    }
    // With its cardinality cached, PFCOUNT leaves the value as it is (it
    // would store the count otherwise, and Redis's rewrite would differ).
    let card = hll::count(&hll_value).expect("valid HLL");
    hll::set_cached_card(&mut hll_value, card);
    let binary: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let big_list: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            if i % 9 == 0 {
                vec![b'L'; 100 + i]
            } else {
                i.to_string().into_bytes()
            }
        })
        .collect();
    let mut plain_list = vec![b"a".to_vec(), vec![b'P'; 10_000], b"".to_vec()];
    plain_list.push(b"-17".to_vec());
    let intset: Vec<Vec<u8>> = (-150..150)
        .map(|i: i64| (i * 1_000_003).to_string().into_bytes())
        .collect();
    let string_set: Vec<Vec<u8>> = (0..150)
        .map(|i| format!("member:{i}").into_bytes())
        .collect();
    let big_zset: Vec<(Vec<u8>, f64)> = (0..200)
        .map(|i| (format!("z{i}").into_bytes(), f64::from(i) / 7.0 - 10.0))
        .collect();
    let big_zset: Vec<(&[u8], f64)> = big_zset.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
    let small_hash: Vec<(Vec<u8>, Vec<u8>)> = (0..10)
        .map(|i| {
            (
                format!("field{i}").into_bytes(),
                if i % 2 == 0 {
                    i.to_string()
                } else {
                    format!("value {i}")
                }
                .into_bytes(),
            )
        })
        .collect();
    let big_hash: Vec<(Vec<u8>, Vec<u8>)> = (0..600)
        .map(|i| {
            (
                format!("f{i}").into_bytes(),
                format!("v{}", i * 3).into_bytes(),
            )
        })
        .collect();

    vec![
        (
            0,
            vec![
                key(
                    "str:plain",
                    Value::Str(StrValue::from_bytes(b"hello world")),
                    0,
                ),
                key("str:int", Value::Str(StrValue::Int(i64::MIN)), 0),
                key(
                    "str:binary",
                    Value::Str(StrValue::from_vec(binary)),
                    FAR_EXPIRY_MS,
                ),
                key("str:empty", Value::Str(StrValue::from_bytes(b"")), 0),
                key(
                    "str:big",
                    Value::Str(StrValue::from_vec(vec![b'S'; 100_000])),
                    0,
                ),
                key("hll", Value::Str(StrValue::from_vec(hll_value)), 0),
                key(
                    "list:small",
                    list(&[b"1".to_vec(), b"12345".to_vec(), b"\x00\r\n".to_vec()]),
                    0,
                ),
                key("list:big", list(&big_list), FAR_EXPIRY_MS + 1),
                key("list:plain", list(&plain_list), 0),
                key("set:intset", set(&intset), 0),
                key("set:hashtable", set(&string_set), FAR_EXPIRY_MS),
                key(
                    "zset:small",
                    zset(&[
                        (b"neg-inf", f64::NEG_INFINITY),
                        (b"pos-inf", f64::INFINITY),
                        (b"tenth", 0.1),
                        (b"neg", -2.5),
                        (b"tiny", 1e-300),
                        (b"three", 3.0),
                        (b"big", 1e17),
                        (b"third", 1.0 / 3.0),
                        (b"tie-a", 3.0),
                    ]),
                    0,
                ),
                key("zset:big", zset(&big_zset), 0),
                key("hash:small", hash(&small_hash), 0),
                key("hash:big", hash(&big_hash), 0),
                key(
                    "stream:big",
                    Value::Stream(Box::new(big_stream())),
                    FAR_EXPIRY_MS,
                ),
                key(
                    "stream:emptied",
                    Value::Stream(Box::new(emptied_stream())),
                    0,
                ),
                key("stream:fresh", Value::Stream(Box::new(fresh_stream())), 0),
            ],
        ),
        (
            3,
            vec![
                key(
                    "str:plain",
                    Value::Str(StrValue::from_bytes(b"in db 3")),
                    FAR_EXPIRY_MS + 3,
                ),
                key("list:small", list(&[b"x".to_vec()]), 0),
                key("bin\x00key\r\n", zset(&[(b"m", -0.5)]), 0),
            ],
        ),
        (
            15,
            vec![key("last", set(&[b"only".to_vec()]), FAR_EXPIRY_MS + 15)],
        ),
    ]
}

// ---------------------------------------------------------------------------
// AOF files
// ---------------------------------------------------------------------------

const BASE: &str = "appendonly.aof.1.base.aof";
const INCR: &str = "appendonly.aof.1.incr.aof";
const MANIFEST: &str = "appendonly.aof.manifest";

fn write_aof_dir(dir: &Path, base: &[u8]) {
    let aof_dir = dir.join("appendonlydir");
    std::fs::create_dir_all(&aof_dir).expect("appendonlydir");
    std::fs::write(aof_dir.join(BASE), base).expect("base file");
    std::fs::write(aof_dir.join(INCR), b"").expect("incr file");
    std::fs::write(
        aof_dir.join(MANIFEST),
        format!("file {BASE} seq 1 type b\nfile {INCR} seq 1 type i\n"),
    )
    .expect("manifest");
}

/// Splits an AOF of commands into argument lists.
fn parse_commands(mut buf: &[u8]) -> Vec<Vec<Vec<u8>>> {
    fn number(buf: &mut &[u8], prefix: u8) -> usize {
        assert_eq!(buf[0], prefix, "expected {:?}", prefix as char);
        let end = buf.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let n = std::str::from_utf8(&buf[1..end])
            .expect("ascii")
            .parse()
            .expect("number");
        *buf = &buf[end + 2..];
        n
    }
    let mut commands = Vec::new();
    while !buf.is_empty() {
        let argc = number(&mut buf, b'*');
        let mut args = Vec::with_capacity(argc);
        for _ in 0..argc {
            let len = number(&mut buf, b'$');
            args.push(buf[..len].to_vec());
            assert_eq!(&buf[len..len + 2], b"\r\n", "bulk string end");
            buf = &buf[len + 2..];
        }
        commands.push(args);
    }
    commands
}

type Commands = Vec<Vec<Vec<u8>>>;

/// The commands of an AOF grouped by (database, key), and the FUNCTION
/// LOADs (which come before any SELECT).
fn by_key(aof: &[u8]) -> (Commands, BTreeMap<(usize, Vec<u8>), Commands>) {
    let mut functions = Vec::new();
    let mut keys: BTreeMap<(usize, Vec<u8>), Commands> = BTreeMap::new();
    let mut db = None;
    for c in parse_commands(aof) {
        let name = c[0].to_ascii_uppercase();
        match name.as_slice() {
            b"FUNCTION" => {
                assert!(db.is_none(), "FUNCTION LOAD after a SELECT");
                functions.push(c);
            }
            b"SELECT" => {
                db = Some(
                    String::from_utf8_lossy(&c[1])
                        .parse::<usize>()
                        .expect("db number"),
                );
            }
            _ => {
                let key = if name == b"XGROUP" {
                    c[2].clone()
                } else {
                    c[1].clone()
                };
                let db = db.expect("a SELECT before the first key");
                keys.entry((db, key)).or_default().push(c);
            }
        }
    }
    (functions, keys)
}

/// A dict-ordered collection's commands reduced to what Redis fixes: the
/// variadic commands' names and sizes (other commands whole), and the
/// elements (groups of arguments: member, score and member, field and
/// value) as a set.
fn unordered(cmds: &Commands) -> (Commands, BTreeSet<Vec<Vec<u8>>>) {
    let mut shape = Vec::new();
    let mut items = BTreeSet::new();
    for c in cmds {
        let per_item = match c[0].as_slice() {
            b"SADD" => 1,
            b"ZADD" | b"HMSET" => 2,
            _ => {
                shape.push(c.clone());
                continue;
            }
        };
        shape.push(vec![c[0].clone(), c.len().to_string().into_bytes()]);
        for item in c[2..].chunks(per_item) {
            assert!(items.insert(item.to_vec()), "duplicate element {item:?}");
        }
    }
    (shape, items)
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// An id as `ms-seq` text (what the rewrite writes).
fn parse_id(text: &[u8]) -> StreamId {
    let text = std::str::from_utf8(text).expect("ascii id");
    let (ms, seq) = text.split_once('-').expect("ms-seq");
    StreamId::new(ms.parse().expect("ms"), seq.parse().expect("seq"))
}

fn id_text(id: StreamId) -> Vec<u8> {
    id.to_string().into_bytes()
}

/// Pending entries Redis keeps after replaying our XCLAIMs: those whose
/// stream entry exists (`XCLAIM ... FORCE` skips the others).
fn surviving_pel(s: &Stream, g: &Group) -> BTreeMap<StreamId, (Vec<u8>, u64, u64)> {
    g.pel
        .iter()
        .filter(|(id, _)| s.get(**id).is_some())
        .map(|(id, p)| {
            (
                *id,
                (p.consumer.to_vec(), p.delivery_time, p.delivery_count),
            )
        })
        .collect()
}

fn check_stream(r: &mut Redis, key: &[u8], s: &Stream, what: &str) {
    let entries: Vec<Resp> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .map(|e| {
            let pairs = e.pairs().flat_map(|(f, v)| [bulk(f), bulk(v)]).collect();
            Resp::Array(Some(vec![bulk(&id_text(e.id)), Resp::Array(Some(pairs))]))
        })
        .collect();
    let xrange = r.ok_bytes(&[b"XRANGE", key, b"-", b"+"]);
    assert_eq!(xrange.items(), &entries[..], "{what}: entries");

    let info = r.ok_bytes(&[b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"]);
    assert_eq!(info.field("length").int() as u64, s.len(), "{what}: length");
    assert_eq!(
        info.field("entries").items(),
        &entries[..],
        "{what}: XINFO entries"
    );
    let first_live = s.edge(false).map_or(StreamId::MIN, |e| e.id);
    for (name, id) in [
        ("last-generated-id", s.last_id),
        ("max-deleted-entry-id", s.max_deleted_id),
        ("recorded-first-entry-id", first_live),
    ] {
        assert_eq!(info.field(name).bytes(), id_text(id), "{what}: {name}");
    }
    assert_eq!(
        info.field("entries-added").int() as u64,
        s.entries_added,
        "{what}: entries-added"
    );

    let groups = info.field("groups").items();
    assert_eq!(groups.len(), s.groups.len(), "{what}: group count");
    for (g, (name, ours)) in groups.iter().zip(&s.groups) {
        let gwhat = format!("{what} group {}", String::from_utf8_lossy(name));
        assert_eq!(g.field("name").bytes(), &name[..], "{gwhat}: name");
        assert_eq!(
            g.field("last-delivered-id").bytes(),
            id_text(ours.last_id),
            "{gwhat}: last id"
        );
        let read = g.field("entries-read");
        if ours.entries_read == INVALID_ENTRIES_READ {
            assert_eq!(read, &Resp::Bulk(None), "{gwhat}: entries-read");
        } else {
            assert_eq!(read.int(), ours.entries_read, "{gwhat}: entries-read");
        }

        let pel = surviving_pel(s, ours);
        assert_eq!(
            g.field("pel-count").int() as usize,
            pel.len(),
            "{gwhat}: pel-count"
        );
        let expected_pel: Vec<Resp> = pel
            .iter()
            .map(|(id, (consumer, time, count))| {
                Resp::Array(Some(vec![
                    bulk(&id_text(*id)),
                    bulk(consumer),
                    Resp::Int(*time as i64),
                    Resp::Int(*count as i64),
                ]))
            })
            .collect();
        assert_eq!(
            g.field("pending").items(),
            &expected_pel[..],
            "{gwhat}: PEL"
        );

        // A consumer all of whose pending entries were deleted is never
        // created: its XCLAIMs claim nothing.
        let mut consumers: Vec<(&[u8], Vec<StreamId>)> = Vec::new();
        for (name, c) in &ours.consumers {
            let kept: Vec<StreamId> = c
                .pel
                .iter()
                .copied()
                .filter(|id| pel.contains_key(id))
                .collect();
            if c.pel.is_empty() || !kept.is_empty() {
                consumers.push((name, kept));
            }
        }
        let theirs = g.field("consumers").items();
        assert_eq!(
            theirs
                .iter()
                .map(|c| c.field("name").bytes().to_vec())
                .collect::<Vec<_>>(),
            consumers
                .iter()
                .map(|(n, _)| n.to_vec())
                .collect::<Vec<_>>(),
            "{gwhat}: consumers"
        );
        for (c, (cname, kept)) in theirs.iter().zip(&consumers) {
            let cwhat = format!("{gwhat} consumer {}", String::from_utf8_lossy(cname));
            assert_eq!(
                c.field("pel-count").int() as usize,
                kept.len(),
                "{cwhat}: pel-count"
            );
            let expected: Vec<Resp> = kept
                .iter()
                .map(|id| {
                    let (_, time, count) = &pel[id];
                    Resp::Array(Some(vec![
                        bulk(&id_text(*id)),
                        Resp::Int(*time as i64),
                        Resp::Int(*count as i64),
                    ]))
                })
                .collect();
            assert_eq!(c.field("pending").items(), &expected[..], "{cwhat}: PEL");
        }
    }
}

fn check_key(r: &mut Redis, k: &Key) {
    let what = format!("key {:?}", String::from_utf8_lossy(&k.name));
    let key = k.name.as_slice();
    let expected_ttl = if k.expire_at_ms == 0 {
        -1
    } else {
        k.expire_at_ms as i64
    };
    assert_eq!(
        r.ok_bytes(&[b"PEXPIRETIME", key]).int(),
        expected_ttl,
        "{what}: PEXPIRETIME"
    );
    let type_name = r.ok_bytes(&[b"TYPE", key]).text();
    assert_eq!(type_name, k.value.type_name(), "{what}: TYPE");
    let encoding = r.ok_bytes(&[b"OBJECT", b"ENCODING", key]).text();
    match &k.value {
        Value::Str(s) => {
            let mut buf = keyspace::itoa_buf::Buf::default();
            let bytes = s.bytes(&mut buf).to_vec();
            assert_eq!(
                r.ok_bytes(&[b"GET", key]).bytes(),
                &bytes[..],
                "{what}: GET"
            );
            if matches!(s, StrValue::Int(_)) {
                assert_eq!(encoding, "int", "{what}: encoding");
            }
            if bytes.starts_with(b"HYLL") {
                let count = hll::count(&bytes).expect("valid HLL");
                assert_eq!(
                    r.ok_bytes(&[b"PFCOUNT", key]).int() as u64,
                    count,
                    "{what}: PFCOUNT"
                );
            }
        }
        Value::List(l) => {
            let expected: Vec<Resp> = l.iter().map(bulk).collect();
            let got = r.ok_bytes(&[b"LRANGE", key, b"0", b"-1"]);
            assert_eq!(got.items(), &expected[..], "{what}: LRANGE");
        }
        Value::Set(s) => {
            let mut expected: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            expected.sort();
            let mut got: Vec<Vec<u8>> = r
                .ok_bytes(&[b"SMEMBERS", key])
                .items()
                .iter()
                .map(|m| m.bytes().to_vec())
                .collect();
            got.sort();
            assert_eq!(got, expected, "{what}: SMEMBERS");
            // Redis 7.0 has no listpack sets: intset or hashtable.
            let want = if s.encoding() == "intset" {
                "intset"
            } else {
                "hashtable"
            };
            assert_eq!(encoding, want, "{what}: encoding");
        }
        Value::ZSet(z) => {
            let expected: Vec<Resp> = z
                .iter()
                .flat_map(|(m, score)| [bulk(m), bulk(resp::format_double(score).as_bytes())])
                .collect();
            let got = r.ok_bytes(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]);
            assert_eq!(got.items(), &expected[..], "{what}: ZRANGE WITHSCORES");
            assert_eq!(encoding, z.encoding(), "{what}: encoding");
        }
        Value::Hash(h) => {
            let expected: BTreeMap<Vec<u8>, Vec<u8>> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            let got: BTreeMap<Vec<u8>, Vec<u8>> = r
                .ok_bytes(&[b"HGETALL", key])
                .items()
                .chunks(2)
                .map(|kv| (kv[0].bytes().to_vec(), kv[1].bytes().to_vec()))
                .collect();
            assert_eq!(got, expected, "{what}: HGETALL");
            assert_eq!(encoding, h.encoding(), "{what}: encoding");
        }
        Value::Stream(s) => check_stream(r, key, s, &what),
    }
}

/// Waits for a BGREWRITEAOF to finish and returns its new BASE file.
fn rewritten_base(r: &mut Redis, aof_dir: &Path) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = r.ok(&["INFO", "persistence"]).text();
        let idle = info.contains("aof_rewrite_in_progress:0\r\n")
            && info.contains("aof_rewrite_scheduled:0\r\n");
        let manifest = std::fs::read_to_string(aof_dir.join(MANIFEST)).unwrap_or_default();
        let base = manifest
            .lines()
            .find(|l| l.ends_with(" type b"))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string);
        if idle {
            assert!(
                info.contains("aof_last_bgrewrite_status:ok\r\n"),
                "rewrite failed: {info}"
            );
            if let Some(base) = base.filter(|b| b != BASE) {
                assert!(
                    base.ends_with(".aof"),
                    "rewrite wrote an RDB preamble: {base}"
                );
                return std::fs::read(aof_dir.join(base)).expect("read rewritten base");
            }
        }
        assert!(Instant::now() < deadline, "BGREWRITEAOF did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redis_loads_our_command_rewrite_and_rewrites_it_the_same() {
    let data = dataset();
    let mut base = Vec::new();
    write_function_commands(&mut base, LIBRARY);
    for (db, keys) in &data {
        write_select(&mut base, *db);
        for k in keys {
            write_entry_commands(&mut base, &k.name, &k.value, k.expire_at_ms);
        }
    }

    let dir = TempDir::new();
    write_aof_dir(&dir.0, &base);
    let aof_dir = dir.0.join("appendonlydir");

    let check = Command::new("redis-check-aof")
        .arg(aof_dir.join(MANIFEST))
        .output()
        .unwrap_or_else(|e| panic!("run redis-check-aof (must be installed): {e}"));
    let report = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "redis-check-aof failed: {report}");
    assert!(report.contains("is valid"), "redis-check-aof: {report}");

    let mut r = Redis::start(&dir.0, free_port());

    // Functions.
    let fcall = r.ok(&["FCALL", "aof_echo", "0", "hi"]);
    assert_eq!(fcall.bytes(), b"hi");
    let libs = r.ok(&["FUNCTION", "LIST", "WITHCODE"]);
    assert_eq!(libs.items().len(), 1);
    assert_eq!(libs.items()[0].field("library_code").bytes(), LIBRARY);

    // Every key of every database, and nothing else.
    for db in 0..16 {
        r.ok(&["SELECT", &db.to_string()]);
        let keys = data
            .iter()
            .find(|(d, _)| *d == db)
            .map_or(&[][..], |(_, k)| k);
        assert_eq!(
            r.ok(&["DBSIZE"]).int() as usize,
            keys.len(),
            "db {db}: DBSIZE"
        );
        for k in keys {
            check_key(&mut r, k);
        }
    }

    // Redis's own rewrite of what it loaded equals ours, except for what
    // the format cannot carry (see `surviving_pel`).
    r.ok(&["BGREWRITEAOF"]);
    let theirs = rewritten_base(&mut r, &aof_dir);
    let (their_functions, their_keys) = by_key(&theirs);
    let (our_functions, mut our_keys) = by_key(&base);
    assert_eq!(their_functions, our_functions, "FUNCTION LOAD");
    for (db, keys) in &data {
        for k in keys {
            if let Value::Stream(s) = &k.value {
                let cmds = our_keys
                    .get_mut(&(*db, k.name.clone()))
                    .expect("our stream");
                cmds.retain(|c| c[0] != b"XCLAIM" || s.get(parse_id(&c[5])).is_some());
            }
        }
    }
    assert_eq!(
        their_keys.keys().collect::<Vec<_>>(),
        our_keys.keys().collect::<Vec<_>>(),
        "keys in the rewrites"
    );
    for ((db, key), ours) in &our_keys {
        let what = format!("db {db} key {:?}", String::from_utf8_lossy(key));
        let theirs = &their_keys[&(*db, key.clone())];
        r.ok(&["SELECT", &db.to_string()]);
        let encoding = r.ok_bytes(&[b"OBJECT", b"ENCODING", key]).text();
        if encoding == "hashtable" || encoding == "skiplist" {
            assert_eq!(
                unordered(theirs),
                unordered(ours),
                "{what}: elements and batches"
            );
        } else {
            assert_eq!(theirs, ours, "{what}: commands");
        }
    }
}
