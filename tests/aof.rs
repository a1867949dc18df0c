//! The append-only file end to end: every scenario runs against the real
//! redis-server 7.0.15 (the reference, so the test logic is known good)
//! and against Ferrocache with the same options. Covered: recovery after
//! SHUTDOWN NOSAVE and after `kill -9` with writes whose propagation must
//! be deterministic (absolute expire times, SPOP, blocking pops, streams
//! and consumer groups, transactions, scripts, functions, databases,
//! RESTORE, keys expiring while the server runs); Redis 7's multi-part
//! layout (manifest, base and incr files) checked by `redis-check-aof`;
//! AOF directories crossing between the two servers; BGREWRITEAOF and
//! `CONFIG SET appendonly yes` under concurrent writers; crash safety with
//! `appendfsync always` and `everysec`; truncated and corrupt files at
//! startup; INFO persistence; `aof-use-rdb-preamble`; an existing
//! dump.rdb ignored when the AOF is turned on at startup; and 8 random
//! writers colliding on a small keyspace, whose data must survive
//! `kill -9` and a restart and load identically in redis-server
//! ([`concurrent_random_writes`]: writes to one key from different
//! connections must reach the file in the order they ran).
//!
//! Each scenario is one function taking the server [`Kind`]; the
//! `variants!` macro makes a `redis_server::<name>` and a
//! `ferrocache::<name>` test of it. Run the reference alone with
//! `cargo test --test aof redis_server::`, Ferrocache with
//! `cargo test --test aof ferrocache::`.
//!
//! Where redis-server 7.0.15 falls short of what Ferrocache promises, its
//! variant is relaxed and the reason named at the check: it loses the
//! consumer groups' `entries-read` when replaying an AOF
//! ([`without_entries_read`]), and with `appendfsync everysec` a `kill -9`
//! can lose acknowledged writes ([`crash_safety_fsync_everysec`]). In the
//! random writers' scenario its replays also lose consumers without
//! pending entries ([`without_idle_consumers`]) and it does not propagate
//! a consumer's re-read of its own pending entries (left out of its mix,
//! see `FuzzWriter::history_reads`); a rewrite in the command format
//! loses the pending entries of deleted entries in both servers
//! ([`without_pending_of_deleted`]). The redis-server variant of
//! [`cross_loading`] is the control experiment (its own directory,
//! copied, reloads identically), as is that of the random writers.
//!
//! Every server runs in a fresh temporary directory (`--dir`, no save
//! points); the redis-server instances use ports 7360-7379 (7390-7399 in
//! the random writers' scenario). A missing redis-server or
//! redis-check-aof is a failure, not a skip. Every process is a [`Proc`],
//! killed when dropped, also when a test fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    connect_with_timeouts, ferrocache_startup_failure, info_field, int_value as int, join_all, q,
    qs, show_args, spawn_ferrocache, wait_until, Proc, TempDir,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;

// ---------------------------------------------------------------------------
// Servers

/// Which server a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Redis,
    Ferrocache,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Redis => "redis-server",
            Kind::Ferrocache => "ferrocache",
        }
    }
}

/// The options that turn the AOF on (the default fsync policy, everysec).
const AOF: &[&str] = &["--appendonly", "yes"];

/// Starts a server of `kind` with `--dir dir`, no save points and `extra`
/// options (Redis's config names, for both), and waits until it has
/// loaded its data and accepts connections.
fn server(kind: Kind, dir: &Path, extra: &[&str]) -> Proc {
    server_with_log(kind, dir, extra).0
}

/// Like [`server`], also returning what the server logged while starting.
fn server_with_log(kind: Kind, dir: &Path, extra: &[&str]) -> (Proc, String) {
    match kind {
        Kind::Redis => redis_in(dir, extra),
        Kind::Ferrocache => {
            let d = dir.to_str().expect("utf-8 temp dir");
            let mut args = vec!["--port", "0", "--dir", d, "--save", ""];
            args.extend_from_slice(extra);
            let (node, log) = spawn_ferrocache(&args, &[]);
            (node, log.concat())
        }
    }
}

/// Starts a server of `kind` expecting it to refuse to start: its exit
/// status and its log. Fails the test if it starts.
fn startup_failure(kind: Kind, dir: &Path, extra: &[&str]) -> (ExitStatus, String) {
    match kind {
        Kind::Redis => redis_startup_failure(dir, extra),
        Kind::Ferrocache => {
            let d = dir.to_str().expect("utf-8 temp dir");
            let mut args = vec!["--port", "0", "--dir", d, "--save", ""];
            args.extend_from_slice(extra);
            ferrocache_startup_failure(&args)
        }
    }
}

/// The next port of this file's range (7360-7379) to try for redis-server.
fn next_redis_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    7360 + NEXT.fetch_add(1, Ordering::Relaxed) % 20
}

/// Starts redis-server in `dir` on a port of this file's range and waits
/// until it has loaded its data; returns it with its log so far.
fn redis_in(dir: &Path, extra: &[&str]) -> (Proc, String) {
    redis_in_ports(dir, extra, next_redis_port)
}

/// [`redis_in`] on the ports `next_port` hands out (tried 20 times).
fn redis_in_ports(dir: &Path, extra: &[&str], next_port: fn() -> u16) -> (Proc, String) {
    common::redis_in_dir(dir, extra, next_port)
}

/// Runs redis-server in `dir` expecting a startup failure: its exit status
/// and log. Fails the test (after killing it) if it starts serving.
fn redis_startup_failure(dir: &Path, extra: &[&str]) -> (ExitStatus, String) {
    let log = dir.join("redis.log");
    for _ in 0..20 {
        let port = next_redis_port();
        let _ = std::fs::remove_file(&log);
        let child = common::redis_command(dir, port, extra)
            .spawn()
            .expect("start redis-server (is it installed?)");
        let mut node = Proc { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = node.child.try_wait().expect("try_wait") {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("Address already in use") {
                    break;
                }
                return (status, text);
            }
            if common::redis_ready(port, node.child.id()) {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("redis-server {extra:?} started; expected a refusal. Log:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server {extra:?} kept running; expected a refusal"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("redis-server could not bind any port of 7360-7379");
}

/// Sends SHUTDOWN `args` and waits for a clean exit. With the AOF on,
/// `SHUTDOWN NOSAVE` still flushes and fsyncs the AOF (only the RDB save
/// is skipped), so the data survives in the AOF alone.
fn shutdown(node: &mut Proc, args: &[&str]) {
    let mut raw = node.raw();
    let mut line: Vec<&[u8]> = vec![b"SHUTDOWN"];
    line.extend(args.iter().map(|a| a.as_bytes()));
    raw.cmd(&line);
    let _ = raw.read_until_eof();
    let status = node
        .wait_exit(Duration::from_secs(30))
        .expect("the server exits after SHUTDOWN");
    assert!(status.success(), "exit status after SHUTDOWN: {status}");
}

/// `kill -9`: the process dies with whatever it has not written yet.
fn kill_9(node: &mut Proc) {
    node.child.kill().expect("SIGKILL");
    node.child.wait().expect("wait for the killed server");
}

// ---------------------------------------------------------------------------
// Connections and commands

/// A `redis` crate connection with 30 s timeouts (a hang fails the test).
fn connect(node: &Proc) -> redis::Connection {
    connect_url(&node.url())
}

fn connect_url(url: &str) -> redis::Connection {
    common::connect_with_timeout(url, Duration::from_secs(30))
}

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

/// The items of an array reply.
fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        other => panic!("expected an array, got {other:?}"),
    }
}

/// A bulk string reply's bytes.
fn bulk(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// The `field:value` pairs of a flat RESP2 array (XINFO replies), with a
/// name as plain text.
fn pairs(v: &Value) -> Vec<(String, &Value)> {
    items(v)
        .chunks(2)
        .map(|p| {
            let name = match &p[0] {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::SimpleString(s) => s.clone(),
                other => text(other),
            };
            (name, &p[1])
        })
        .collect()
}

fn info(c: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query::<String>(c)
        .expect("INFO")
}

/// The INFO field `name` of `section`; a missing field fails the test.
fn field(c: &mut redis::Connection, section: &str, name: &str) -> String {
    let text = info(c, section);
    info_field(&text, name).unwrap_or_else(|| panic!("no {name} in INFO {section}:\n{text}"))
}

fn field_num(c: &mut redis::Connection, section: &str, name: &str) -> i64 {
    let v = field(c, section, name);
    v.parse()
        .unwrap_or_else(|_| panic!("INFO {name} is not a number: {v:?}"))
}

/// Waits until no AOF rewrite runs or is scheduled, then requires that
/// the last one succeeded.
fn wait_rewrite_done(c: &mut redis::Connection) {
    wait_until(Duration::from_secs(30), "the AOF rewrite to end", || {
        let text = info(c, "persistence");
        info_field(&text, "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(&text, "aof_rewrite_scheduled").as_deref() == Some("0")
    });
    assert_eq!(
        field(c, "persistence", "aof_last_bgrewrite_status"),
        "ok",
        "status of the AOF rewrite"
    );
}

/// BGREWRITEAOF and wait for it to finish.
fn rewrite(c: &mut redis::Connection) {
    qs(c, &["BGREWRITEAOF"]);
    wait_rewrite_done(c);
}

// ---------------------------------------------------------------------------
// The AOF directory

/// One `file <name> seq <n> type <b|h|i>` line of a manifest.
#[derive(Debug, Clone, PartialEq)]
struct ManifestEntry {
    name: String,
    seq: u64,
    kind: String,
}

/// The default AOF directory of a data directory.
fn aof_dir(dir: &Path) -> PathBuf {
    dir.join("appendonlydir")
}

/// The default manifest path of a data directory.
fn manifest_path(dir: &Path) -> PathBuf {
    aof_dir(dir).join("appendonly.aof.manifest")
}

/// Parses a manifest (Redis 7's format: key/value pairs per line).
fn read_manifest(path: &Path) -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read manifest {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let value = |key: &str| {
                words
                    .chunks(2)
                    .find(|p| p[0] == key && p.len() == 2)
                    .map(|p| p[1].to_string())
                    .unwrap_or_else(|| panic!("manifest line without {key}: {line:?}"))
            };
            ManifestEntry {
                name: value("file"),
                seq: value("seq")
                    .parse()
                    .unwrap_or_else(|_| panic!("manifest seq: {line:?}")),
                kind: value("type"),
            }
        })
        .collect()
}

/// The names of the files in a directory.
fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The path of the last incr file the manifest of `dir` lists.
fn last_incr_file(dir: &Path) -> PathBuf {
    let entries = read_manifest(&manifest_path(dir));
    let incr = entries
        .iter()
        .rev()
        .find(|e| e.kind == "i")
        .unwrap_or_else(|| panic!("no incr file in the manifest: {entries:?}"));
    aof_dir(dir).join(&incr.name)
}

/// The AOF directory `aof_dir` holds exactly its manifest
/// `<prefix>.manifest` and the files it lists: one base `<prefix>.<seq>.base.<base_ext>` and
/// one incr `<prefix>.<seq>.incr.aof`, with no history left.
fn assert_layout(
    server: &str,
    aof_dir: &Path,
    prefix: &str,
    seq: u64,
    base_ext: &str,
) -> Vec<ManifestEntry> {
    let manifest_name = format!("{prefix}.manifest");
    let entries = read_manifest(&aof_dir.join(&manifest_name));
    let want = vec![
        ManifestEntry {
            name: format!("{prefix}.{seq}.base.{base_ext}"),
            seq,
            kind: "b".into(),
        },
        ManifestEntry {
            name: format!("{prefix}.{seq}.incr.aof"),
            seq,
            kind: "i".into(),
        },
    ];
    assert_eq!(entries, want, "{server}: the manifest's files");
    let mut expected_files: BTreeSet<String> = entries.iter().map(|e| e.name.clone()).collect();
    expected_files.insert(manifest_name);
    assert_eq!(
        file_names(aof_dir),
        expected_files,
        "{server}: the files in {}",
        aof_dir.display()
    );
    entries
}

/// `redis-check-aof <manifest>` must accept the files.
fn check_aof(server: &str, manifest: &Path) {
    let out = Command::new("redis-check-aof")
        .arg(manifest)
        .output()
        .expect("run redis-check-aof (is it installed?)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("All AOF files and manifest are valid"),
        "{server}: redis-check-aof {}: {}\n{text}",
        manifest.display(),
        out.status
    );
}

/// Copies the AOF directory `from/appendonlydir` into a fresh data dir.
fn copy_aof_dir(from: &Path, tag: &str) -> TempDir {
    let to = TempDir::new(tag);
    std::fs::create_dir_all(aof_dir(&to.0)).expect("create appendonlydir");
    for name in file_names(&aof_dir(from)) {
        std::fs::copy(aof_dir(from).join(&name), aof_dir(&to.0).join(&name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    to
}

// ---------------------------------------------------------------------------
// Reading a server's whole state

/// One key as read back: its type, its value rendered as text and its
/// absolute expire time (PEXPIRETIME: -1 without one).
#[derive(Debug, Clone, PartialEq)]
struct KeyState {
    kind: String,
    value: String,
    pexpiretime: i64,
}

/// Every key of databases 0-15 and the function libraries.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    keys: BTreeMap<(u8, Vec<u8>), KeyState>,
    functions: String,
}

fn sorted_texts(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = items(v).iter().map(text).collect();
    out.sort();
    out
}

/// A stream: entries, XINFO STREAM without the radix tree's node counts
/// (how a server splits a stream into nodes is its own business), per
/// group its XINFO GROUPS fields, its consumers' names and pending counts
/// (idle times depend on when the server started) and XPENDING without
/// idle times, and the pending entries' delivery times.
fn stream_state(c: &mut redis::Connection, key: &[u8]) -> String {
    let entries = text(&q(c, &[b"XRANGE", key, b"-", b"+"]));
    let stream_info: Vec<String> = pairs(&q(c, &[b"XINFO", b"STREAM", key]))
        .into_iter()
        .filter(|(name, _)| name != "radix-tree-keys" && name != "radix-tree-nodes")
        .map(|(name, v)| format!("{name}={}", text(v)))
        .collect();
    let mut groups = Vec::new();
    for group in items(&q(c, &[b"XINFO", b"GROUPS", key])).to_vec() {
        let fields = pairs(&group);
        let name = fields
            .iter()
            .find(|(n, _)| n == "name")
            .map(|(_, v)| bulk(v))
            .expect("group name");
        let rendered: Vec<String> = fields
            .iter()
            .map(|(n, v)| format!("{n}={}", text(v)))
            .collect();
        let consumers: Vec<String> = items(&q(c, &[b"XINFO", b"CONSUMERS", key, &name]))
            .iter()
            .map(|consumer| {
                let f = pairs(consumer);
                let get = |want: &str| {
                    f.iter()
                        .find(|(n, _)| n == want)
                        .map(|(_, v)| text(v))
                        .unwrap_or_default()
                };
                format!("{}:{}", get("name"), get("pending"))
            })
            .collect();
        let pending: Vec<String> = items(&q(c, &[b"XPENDING", key, &name, b"-", b"+", b"1000"]))
            .iter()
            .map(|p| {
                let p = items(p);
                format!("{} {} x{}", text(&p[0]), text(&p[1]), text(&p[3]))
            })
            .collect();
        groups.push(format!(
            "{{{} consumers [{}] pending [{}]}}",
            rendered.join(" "),
            consumers.join(", "),
            pending.join(", ")
        ));
    }
    format!(
        "{entries} / {} / groups {} / delivery times {}",
        stream_info.join(" "),
        groups.join(" "),
        delivery_times(c, key)
    )
}

/// Each group's pending entries with their delivery times (XINFO STREAM
/// FULL): absolute times, which the AOF must carry (XCLAIM ... TIME).
fn delivery_times(c: &mut redis::Connection, key: &[u8]) -> String {
    let full = q(c, &[b"XINFO", b"STREAM", key, b"FULL"]);
    let Some((_, groups)) = pairs(&full).into_iter().find(|(n, _)| n == "groups") else {
        return "no groups field".into();
    };
    let mut out = Vec::new();
    for group in items(groups) {
        let fields = pairs(group);
        let get = |want: &str| fields.iter().find(|(n, _)| n == want).map(|(_, v)| *v);
        let name = get("name").map(text).unwrap_or_default();
        let pel: Vec<String> = get("pending")
            .map(items)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let p = items(p);
                format!("{} {} @{}", text(&p[0]), text(&p[1]), text(&p[2]))
            })
            .collect();
        out.push(format!("{name}: [{}]", pel.join(", ")));
    }
    out.join(" ")
}

fn key_state(c: &mut redis::Connection, key: &[u8]) -> KeyState {
    let kind = match q(c, &[b"TYPE", key]) {
        Value::SimpleString(s) => s,
        Value::Okay => "OK".into(),
        other => panic!("TYPE: {other:?}"),
    };
    let value = match kind.as_str() {
        "string" => text(&q(c, &[b"GET", key])),
        "list" => text(&q(c, &[b"LRANGE", key, b"0", b"-1"])),
        "set" => sorted_texts(&q(c, &[b"SMEMBERS", key])).join(", "),
        "zset" => text(&q(c, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])),
        "hash" => {
            let mut fields: Vec<String> = items(&q(c, &[b"HGETALL", key]))
                .chunks(2)
                .map(|p| format!("{}={}", text(&p[0]), text(&p[1])))
                .collect();
            fields.sort();
            fields.join(", ")
        }
        "stream" => stream_state(c, key),
        // Listed by KEYS but gone: shown as a difference, not a panic.
        "none" => String::new(),
        other => panic!("unexpected type {other}"),
    };
    let pexpiretime = int(&q(c, &[b"PEXPIRETIME", key]));
    KeyState {
        kind,
        value,
        pexpiretime,
    }
}

/// FUNCTION LIST WITHCODE with each library's functions sorted (servers
/// list them in hash-table order).
fn function_list(c: &mut redis::Connection) -> String {
    let rendered: Vec<String> = items(&qs(c, &["FUNCTION", "LIST", "WITHCODE"]))
        .iter()
        .map(|lib| {
            let parts: Vec<String> = items(lib)
                .chunks(2)
                .map(|p| match (&p[0], &p[1]) {
                    (Value::BulkString(name), functions) if name == b"functions" => {
                        format!("functions: [{}]", sorted_texts(functions).join(", "))
                    }
                    (k, v) => format!("{}: {}", text(k), text(v)),
                })
                .collect();
            parts.join(", ")
        })
        .collect();
    rendered.join("\n")
}

/// Reads every key of every database, and the function libraries.
fn snapshot(c: &mut redis::Connection) -> Snapshot {
    let mut keys = BTreeMap::new();
    for db in 0..16u8 {
        qs(c, &["SELECT", &db.to_string()]);
        for k in items(&qs(c, &["KEYS", "*"])).to_vec() {
            let key = bulk(&k);
            let st = key_state(c, &key);
            keys.insert((db, key), st);
        }
    }
    qs(c, &["SELECT", "0"]);
    Snapshot {
        keys,
        functions: function_list(c),
    }
}

/// A snapshot without the consumer groups' `entries-read` and `lag`.
/// redis-server 7.0.15 loses `entries-read` when it replays an AOF:
/// XREADGROUP propagates as `XCLAIM ... LASTID`, which moves the group's
/// last id but not its read counter (fixed later by redis/redis#12898,
/// which also propagates `XGROUP SETID ... ENTRIESREAD`). Checks of a
/// redis-server load use this; Ferrocache must keep both fields.
fn without_entries_read(st: &Snapshot) -> Snapshot {
    let mut out = st.clone();
    for k in out.keys.values_mut() {
        if k.kind == "stream" {
            k.value = strip_field(&strip_field(&k.value, "entries-read="), "lag=");
        }
    }
    out
}

/// `text` without each ` <name><value>` word.
fn strip_field(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&format!(" {name}")) {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1 + name.len()..];
        rest = &after[after.find(' ').unwrap_or(after.len())..];
    }
    out.push_str(rest);
    out
}

/// [`compare`] for data written and loaded by `servers`, allowing for
/// redis-server's known loss of `entries-read` when one of them is
/// redis-server (see [`without_entries_read`]): its AOF does not hold the
/// counter, and its loader does not restore it.
fn compare_loaded(what: &str, servers: &[Kind], expected: &Snapshot, actual: &Snapshot) {
    if servers.contains(&Kind::Redis) {
        compare(
            what,
            &without_entries_read(expected),
            &without_entries_read(actual),
        );
    } else {
        compare(what, expected, actual);
    }
}

/// The two snapshots are identical (expire times to the millisecond);
/// panics listing every difference.
fn compare(what: &str, expected: &Snapshot, actual: &Snapshot) {
    let mut problems = Vec::new();
    for ((db, key), e) in &expected.keys {
        let name = format!("db{db} {:?}", String::from_utf8_lossy(key));
        match actual.keys.get(&(*db, key.clone())) {
            None => problems.push(format!("{name}: missing")),
            Some(a) if a != e => {
                problems.push(format!("{name}:\n    expected {e:?}\n    actual   {a:?}"))
            }
            Some(_) => {}
        }
    }
    for ((db, key), a) in &actual.keys {
        if !expected.keys.contains_key(&(*db, key.clone())) {
            problems.push(format!(
                "db{db} {:?}: unexpected key {a:?}",
                String::from_utf8_lossy(key)
            ));
        }
    }
    if expected.functions != actual.functions {
        problems.push(format!(
            "functions:\n    expected {}\n    actual   {}",
            expected.functions, actual.functions
        ));
    }
    assert!(
        problems.is_empty(),
        "{what}: {} of {} keys differ:\n{}",
        problems.len(),
        expected.keys.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The data set: writes whose propagation must be deterministic

const LIBRARY: &str = "#!lua name=aoflib\n\
    redis.register_function('aofset', function(keys, args) return redis.call('SET', keys[1], args[1]) end)\n\
    redis.register_function('aofincr', function(keys, args) return redis.call('INCR', keys[1]) end)";

/// Writes the data set of the recovery scenarios, checking the replies
/// where they show the command did what the scenario means. Every TTL
/// left is long (the snapshot must not change while the server restarts).
fn fill_dataset(node: &Proc) {
    let mut c = connect(node);
    let c = &mut c;
    // Strings and every way of setting a TTL: the AOF must hold absolute
    // times, so PEXPIRETIME is the same after a restart.
    qs(c, &["SET", "str", "hello"]);
    qs(c, &["SET", "str:ex", "v", "EX", "100000"]);
    qs(c, &["SET", "str:px", "v", "PX", "200000000"]);
    qs(c, &["SETEX", "str:setex", "300000", "v"]);
    qs(c, &["PSETEX", "str:psetex", "400000000", "v"]);
    qs(c, &["SET", "str:expire", "v"]);
    assert_eq!(int(&qs(c, &["EXPIRE", "str:expire", "500000"])), 1);
    qs(c, &["SET", "str:pexpire", "v"]);
    assert_eq!(int(&qs(c, &["PEXPIRE", "str:pexpire", "600000000"])), 1);
    qs(c, &["SET", "str:past", "v"]);
    assert_eq!(int(&qs(c, &["EXPIRE", "str:past", "-10"])), 1);
    assert_eq!(
        int(&qs(c, &["EXISTS", "str:past"])),
        0,
        "EXPIRE in the past"
    );
    qs(c, &["SET", "str:getex", "v"]);
    qs(c, &["GETEX", "str:getex", "EX", "700000"]);
    qs(c, &["SET", "str:persist", "v", "EX", "800000"]);
    qs(c, &["GETEX", "str:persist", "PERSIST"]);
    assert_eq!(int(&qs(c, &["PTTL", "str:persist"])), -1, "GETEX PERSIST");
    qs(c, &["SET", "float", "10.5"]);
    qs(c, &["INCRBYFLOAT", "float", "0.1"]);
    qs(c, &["INCRBYFLOAT", "float", "-2.25"]);
    qs(c, &["SET", "float:ttl", "1", "EX", "900000"]);
    qs(c, &["INCRBYFLOAT", "float:ttl", "1.5"]);
    qs(c, &["SET", "counter", "41"]);
    qs(c, &["INCR", "counter"]);

    // Hashes.
    qs(c, &["HSET", "hash", "f1", "v1", "f2", "v2"]);
    qs(c, &["HINCRBYFLOAT", "hash", "fl", "1.5"]);
    qs(c, &["HINCRBYFLOAT", "hash", "fl", "0.1"]);
    qs(c, &["HINCRBY", "hash", "n", "5"]);

    // SPOP picks at random: what the AOF replays must be what was popped.
    let members: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "spop"];
    sadd.extend(members.iter().map(String::as_str));
    qs(c, &sadd);
    qs(c, &["SPOP", "spop"]);
    assert_eq!(items(&qs(c, &["SPOP", "spop", "5"])).len(), 5);
    assert_eq!(int(&qs(c, &["SCARD", "spop"])), 14);
    qs(c, &["SADD", "spop:all", "a", "b"]);
    assert_eq!(items(&qs(c, &["SPOP", "spop:all", "5"])).len(), 2);
    qs(c, &["SADD", "intset", "1", "2", "3", "4", "5", "6"]);
    qs(c, &["SPOP", "intset", "2"]);

    // Lists and blocking pops.
    qs(c, &["LPUSH", "list", "a", "b", "c", "d", "e"]);
    qs(c, &["RPOP", "list"]);
    qs(c, &["RPOP", "list", "2"]);
    qs(c, &["RPUSH", "bl:now", "x", "y"]);
    assert_eq!(
        text(&qs(c, &["BLPOP", "bl:now", "1"])),
        r#"["bl:now", "x"]"#,
        "BLPOP served at once"
    );
    let url = node.url();
    let waiter = std::thread::spawn(move || {
        let mut w = connect_url(&url);
        text(&qs(&mut w, &["BLPOP", "bl:later", "10"]))
    });
    wait_until(Duration::from_secs(10), "the BLPOP to block", || {
        field(c, "clients", "blocked_clients") == "1"
    });
    qs(c, &["RPUSH", "bl:later", "first", "second"]);
    let served = join_all(vec![waiter]).remove(0);
    assert_eq!(served, r#"["bl:later", "first"]"#, "BLPOP served by a push");
    qs(c, &["RPUSH", "blmove:src", "a", "b", "c"]);
    qs(
        c,
        &["BLMOVE", "blmove:src", "blmove:dst", "LEFT", "RIGHT", "1"],
    );
    qs(c, &["ZADD", "bz", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        text(&qs(c, &["BZPOPMIN", "bz", "1"])),
        r#"["bz", "a", "1"]"#
    );

    // Sorted sets.
    qs(c, &["ZADD", "zset", "1", "a", "2", "b", "3.5", "c"]);
    qs(c, &["ZINCRBY", "zset", "1.1", "a"]);
    qs(c, &["ZINCRBY", "zset", "-0.3", "c"]);

    // Streams: `*` ids, approximate trimming, consumer groups.
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(bulk(&qs(c, &["XADD", "stream", "*", "f", &i.to_string()])));
    }
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("XADD")
            .arg("trimmed")
            .arg("MAXLEN")
            .arg("~")
            .arg("10")
            .arg("*")
            .arg("i")
            .arg(i);
    }
    pipe.query::<Value>(c).expect("1000 XADD MAXLEN ~ 10");
    let trimmed = int(&qs(c, &["XLEN", "trimmed"]));
    assert!(
        (10..1000).contains(&trimmed),
        "XADD MAXLEN ~ 10 left {trimmed} entries"
    );
    qs(c, &["XGROUP", "CREATE", "stream", "g", "0"]);
    assert_eq!(
        items(&qs(
            c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "3",
                "STREAMS",
                "stream",
                ">"
            ]
        ))
        .len(),
        1
    );
    let id = |i: usize| String::from_utf8_lossy(&ids[i]).into_owned();
    assert_eq!(int(&qs(c, &["XACK", "stream", "g", &id(0)])), 1);
    assert_eq!(
        items(&qs(c, &["XCLAIM", "stream", "g", "bob", "0", &id(1)])).len(),
        1
    );
    qs(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "COUNT",
            "1",
            "STREAMS",
            "stream",
            ">",
        ],
    );
    qs(c, &["XGROUP", "CREATE", "stream", "g2", "$"]);
    qs(c, &["XDEL", "stream", &id(5)]);

    // A transaction.
    let reply: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("tx:a")
        .arg("1")
        .cmd("INCR")
        .arg("tx:a")
        .cmd("RPUSH")
        .arg("tx:l")
        .arg("x")
        .arg("y")
        .cmd("EXPIRE")
        .arg("tx:l")
        .arg("900000")
        .cmd("SADD")
        .arg("tx:s")
        .arg("p")
        .query(c)
        .expect("MULTI/EXEC");
    assert_eq!(items(&reply).len(), 5, "EXEC: {}", text(&reply));

    // Scripts: deterministic writes; writes of TIME's result and of an
    // SPOP, which only effects replication (the default since 7.0)
    // reproduces.
    qs(
        c,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]) \
             redis.call('RPUSH', KEYS[2], ARGV[1], ARGV[2]) \
             return redis.call('INCRBY', KEYS[3], 7)",
            "3",
            "lua:s",
            "lua:l",
            "lua:n",
            "a",
            "b",
        ],
    );
    qs(
        c,
        &[
            "EVAL",
            "local t = redis.call('TIME') redis.call('SET', KEYS[1], t[1] .. '.' .. t[2]) return 1",
            "1",
            "lua:time",
        ],
    );
    qs(c, &["SADD", "lua:set", "a", "b", "c", "d", "e", "f"]);
    qs(
        c,
        &[
            "EVAL",
            "return redis.call('SPOP', KEYS[1], 3)",
            "1",
            "lua:set",
        ],
    );

    // A function library and calls of its functions.
    qs(c, &["FUNCTION", "LOAD", LIBRARY]);
    qs(c, &["FCALL", "aofset", "1", "fn:key", "fv"]);
    qs(c, &["FCALL", "aofincr", "1", "fn:n"]);
    qs(c, &["FCALL", "aofincr", "1", "fn:n"]);

    // Databases: SELECT, SWAPDB, FLUSHDB.
    qs(c, &["SELECT", "3"]);
    qs(c, &["SET", "db3:a", "x"]);
    qs(c, &["HSET", "db3:h", "f", "v"]);
    qs(c, &["SELECT", "4"]);
    qs(c, &["SET", "db4:was-here", "x"]);
    qs(c, &["SWAPDB", "3", "4"]);
    qs(c, &["SELECT", "3"]);
    qs(c, &["SET", "db3:after-swap", "y"]);
    qs(c, &["SELECT", "5"]);
    qs(c, &["SET", "db5:a", "x"]);
    qs(c, &["RPUSH", "db5:l", "x"]);
    qs(c, &["FLUSHDB"]);
    qs(c, &["SET", "db5:after-flush", "z"]);
    qs(c, &["SELECT", "0"]);

    // RESTORE with a relative TTL, without one, and with ABSTTL.
    let payload = bulk(&qs(c, &["DUMP", "hash"]));
    q(c, &[b"RESTORE", b"restored:ttl", b"100000000", &payload]);
    q(c, &[b"RESTORE", b"restored:plain", b"0", &payload]);
    let (now, _micros): (i64, i64) = redis::cmd("TIME").query(c).expect("TIME");
    let at = ((now + 123_456) * 1000).to_string();
    q(
        c,
        &[
            b"RESTORE",
            b"restored:abs",
            at.as_bytes(),
            &payload,
            b"ABSTTL",
        ],
    );

    // Keys that expire while the server runs: one read after it expired
    // (deleted on access), one never touched again.
    qs(c, &["SET", "short:read", "v", "PX", "30"]);
    qs(c, &["SET", "short:untouched", "v", "PX", "30"]);
    qs(c, &["HSET", "short:hash", "f", "v"]);
    qs(c, &["PEXPIRE", "short:hash", "30"]);
    wait_until(Duration::from_secs(5), "short:read to expire", || {
        int(&qs(c, &["EXISTS", "short:read"])) == 0
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(int(&qs(c, &["EXISTS", "short:hash"])), 0);
}

/// More writes for scenarios that rewrite between two batches.
fn fill_more(node: &Proc) {
    let mut c = connect(node);
    let c = &mut c;
    qs(c, &["SET", "more:str", "after the rewrite", "EX", "700000"]);
    qs(c, &["INCR", "counter"]);
    qs(c, &["RPUSH", "list", "tail"]);
    qs(c, &["SPOP", "spop", "2"]);
    qs(c, &["XADD", "stream", "*", "after", "rewrite"]);
    qs(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "COUNT",
            "5",
            "STREAMS",
            "stream",
            ">",
        ],
    );
    qs(c, &["ZINCRBY", "zset", "2.5", "b"]);
    qs(c, &["HDEL", "hash", "f1"]);
    qs(c, &["SELECT", "7"]);
    qs(c, &["SET", "db7:k", "v"]);
    qs(c, &["SELECT", "0"]);
    qs(c, &["FCALL", "aofincr", "1", "fn:n"]);
    qs(c, &["DEL", "str"]);
}

/// The data set really holds what the scenarios mean to check.
fn assert_dataset_shape(server: &str, st: &Snapshot) {
    let has = |db: u8, key: &str| st.keys.contains_key(&(db, key.as_bytes().to_vec()));
    for (db, key) in [
        (0, "str:ex"),
        (0, "str:setex"),
        (0, "restored:ttl"),
        (0, "restored:abs"),
        (0, "stream"),
        (0, "trimmed"),
        (0, "lua:time"),
        (0, "fn:n"),
        (3, "db4:was-here"),
        (3, "db3:after-swap"),
        (4, "db3:a"),
        (5, "db5:after-flush"),
    ] {
        assert!(
            has(db, key),
            "{server}: db{db} {key} missing from the data set"
        );
    }
    for (db, key) in [
        (0, "str:past"),
        (0, "spop:all"),
        (0, "short:read"),
        (0, "short:untouched"),
        (0, "short:hash"),
        (5, "db5:a"),
        (3, "db3:a"),
    ] {
        assert!(!has(db, key), "{server}: db{db} {key} should be gone");
    }
    let stream = &st.keys[&(0, b"stream".to_vec())].value;
    assert!(
        stream.contains("delivery times \"g\": [\"") && stream.contains(" @"),
        "{server}: no delivery times read from the stream: {stream}"
    );
    let with_ttl = st.keys.values().filter(|k| k.pexpiretime > 0).count();
    assert!(with_ttl >= 10, "{server}: only {with_ttl} keys with a TTL");
    assert!(
        st.functions.contains("aoflib"),
        "{server}: library missing: {}",
        st.functions
    );
}

// ---------------------------------------------------------------------------
// Concurrent writers

/// What one writer thread was acknowledged.
#[derive(Debug)]
struct Tally {
    counter: String,
    incrs: i64,
    list: String,
    pushes: i64,
}

/// Threads writing until stopped: INCR on a counter of their own and, with
/// `lists`, RPUSH of a running number on a list of their own. Each reply
/// must count exactly what this thread was acknowledged before.
struct Writers {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<Tally>>,
}

impl Writers {
    fn start(node: &Proc, prefix: &str, threads: usize, lists: bool) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|t| {
                let stop = stop.clone();
                let url = node.url();
                let counter = format!("{prefix}:counter:{t}");
                let list = format!("{prefix}:list:{t}");
                std::thread::spawn(move || {
                    let mut c = connect_with_timeouts(&url);
                    let mut tally = Tally {
                        counter,
                        incrs: 0,
                        list,
                        pushes: 0,
                    };
                    while !stop.load(Ordering::Relaxed) {
                        let v: i64 = redis::cmd("INCR")
                            .arg(&tally.counter)
                            .query(&mut c)
                            .unwrap_or_else(|e| panic!("INCR {}: {e}", tally.counter));
                        tally.incrs += 1;
                        assert_eq!(v, tally.incrs, "INCR {}", tally.counter);
                        if lists {
                            let len: i64 = redis::cmd("RPUSH")
                                .arg(&tally.list)
                                .arg(tally.pushes)
                                .query(&mut c)
                                .unwrap_or_else(|e| panic!("RPUSH {}: {e}", tally.list));
                            tally.pushes += 1;
                            assert_eq!(len, tally.pushes, "RPUSH {}", tally.list);
                        }
                    }
                    tally
                })
            })
            .collect();
        Writers { stop, handles }
    }

    fn stop(self) -> Vec<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        join_all(self.handles)
    }
}

/// Every acknowledged INCR and RPUSH is there, and nothing more.
fn assert_tallies(server: &str, c: &mut redis::Connection, tallies: &[Tally]) {
    for t in tallies {
        let v: Option<i64> = redis::cmd("GET").arg(&t.counter).query(c).expect("GET");
        assert_eq!(
            v.unwrap_or(0),
            t.incrs,
            "{server}: {} after {} acknowledged INCRs",
            t.counter,
            t.incrs
        );
        let list: Vec<i64> = redis::cmd("LRANGE")
            .arg(&t.list)
            .arg(0)
            .arg(-1)
            .query(c)
            .expect("LRANGE");
        let want: Vec<i64> = (0..t.pushes).collect();
        assert!(
            list == want,
            "{server}: {} holds {} items, {} RPUSHes were acknowledged",
            t.list,
            list.len(),
            t.pushes
        );
    }
}

/// MSETs of `n` keys `<prefix>:<i>`, in batches.
fn preload(c: &mut redis::Connection, prefix: &str, n: usize) {
    let value = "v".repeat(100);
    for start in (0..n).step_by(500) {
        let mut cmd = redis::cmd("MSET");
        for i in start..(start + 500).min(n) {
            cmd.arg(format!("{prefix}:{i}")).arg(&value);
        }
        cmd.query::<()>(c).expect("MSET");
    }
}

// ---------------------------------------------------------------------------
// 1. Recovery after a restart

fn recovery_after_shutdown_nosave(kind: Kind) {
    recovery(kind, false);
}

fn recovery_after_kill_9(kind: Kind) {
    recovery(kind, true);
}

/// The data set survives SHUTDOWN NOSAVE or `kill -9` through the AOF
/// alone. With everysec a reply goes out only after the write reached
/// the file, so a process crash loses nothing acknowledged (redis-server
/// needs a moment for that: see crash_safety_fsync_everysec).
fn recovery(kind: Kind, kill: bool) {
    let server_name = kind.name();
    let dir = TempDir::new("aof-recovery");
    let mut node = server(kind, &dir.0, AOF);
    fill_dataset(&node);
    let before = snapshot(&mut connect(&node));
    assert_dataset_shape(server_name, &before);
    // A restart at least this long after the writes shows an expire time
    // replayed as relative (it would move by that much).
    std::thread::sleep(Duration::from_millis(50));
    if kill {
        if kind == Kind::Redis {
            // redis-server may hold acknowledged writes in its buffer while
            // a background fsync runs (see crash_safety_fsync_everysec):
            // let it write them first.
            let mut c = connect(&node);
            wait_until(Duration::from_secs(10), "the AOF buffer to drain", || {
                field(&mut c, "persistence", "aof_buffer_length") == "0"
            });
        }
        kill_9(&mut node);
    } else {
        shutdown(&mut node, &["NOSAVE"]);
    }
    assert!(
        !dir.path("dump.rdb").exists(),
        "{server_name}: a dump.rdb was written; the test means the AOF alone"
    );
    let node = server(kind, &dir.0, AOF);
    let after = snapshot(&mut connect(&node));
    let how = if kill { "kill -9" } else { "SHUTDOWN NOSAVE" };
    compare_loaded(
        &format!("{server_name}: after {how} and a restart"),
        &[kind],
        &before,
        &after,
    );
    // The library works after the restart, and the AOF keeps appending.
    let mut c = connect(&node);
    assert_eq!(int(&qs(&mut c, &["FCALL", "aofincr", "1", "fn:n"])), 3);
}

// ---------------------------------------------------------------------------
// 2. The multi-part layout, checked by redis-check-aof

fn layout_and_redis_check_aof(kind: Kind) {
    let server_name = kind.name();
    // Default names.
    let dir = TempDir::new("aof-layout");
    let mut node = server(kind, &dir.0, AOF);
    fill_dataset(&node);
    assert_layout(server_name, &aof_dir(&dir.0), "appendonly.aof", 1, "rdb");
    check_aof(server_name, &manifest_path(&dir.0));
    let base = aof_dir(&dir.0).join("appendonly.aof.1.base.rdb");
    let head = std::fs::read(&base).expect("read the base file");
    assert!(
        head.starts_with(b"REDIS"),
        "{server_name}: the base file is not an RDB file"
    );
    let incr = std::fs::read(aof_dir(&dir.0).join("appendonly.aof.1.incr.aof")).expect("incr");
    assert!(
        incr.starts_with(b"*"),
        "{server_name}: the incr file does not start with a command"
    );
    // After a rewrite: the next sequence number, the old files gone.
    rewrite(&mut connect(&node));
    fill_more(&node);
    wait_until(Duration::from_secs(10), "the old files to go", || {
        !file_names(&aof_dir(&dir.0)).contains("appendonly.aof.1.incr.aof")
    });
    assert_layout(server_name, &aof_dir(&dir.0), "appendonly.aof", 2, "rdb");
    shutdown(&mut node, &["NOSAVE"]);
    check_aof(server_name, &manifest_path(&dir.0));

    // Custom directory and file names.
    let dir = TempDir::new("aof-layout-names");
    let mut args = AOF.to_vec();
    args.extend_from_slice(&["--appenddirname", "journal", "--appendfilename", "data.aof"]);
    let mut node = server(kind, &dir.0, &args);
    fill_dataset(&node);
    let before = snapshot(&mut connect(&node));
    shutdown(&mut node, &["NOSAVE"]);
    assert!(
        !aof_dir(&dir.0).exists(),
        "{server_name}: appendonlydir made"
    );
    let journal = dir.path("journal");
    assert_layout(server_name, &journal, "data.aof", 1, "rdb");
    check_aof(server_name, &journal.join("data.aof.manifest"));
    let node = server(kind, &dir.0, &args);
    compare_loaded(
        &format!("{server_name}: custom AOF names, after a restart"),
        &[kind],
        &before,
        &snapshot(&mut connect(&node)),
    );
}

// ---------------------------------------------------------------------------
// 3. AOF directories crossing between the servers

/// Writes the data set (a base with data from a rewrite, then more in the
/// incr file) with `writer`, shuts it down, and loads a copy of its AOF
/// directory in `loader`: the data must be identical.
fn cross_load(writer: Kind, loader: Kind) {
    let what = format!("written by {}, loaded by {}", writer.name(), loader.name());
    let dir = TempDir::new("aof-cross-write");
    let mut node = server(writer, &dir.0, AOF);
    fill_dataset(&node);
    rewrite(&mut connect(&node));
    fill_more(&node);
    let before = snapshot(&mut connect(&node));
    assert_dataset_shape(writer.name(), &before);
    shutdown(&mut node, &["NOSAVE"]);
    check_aof(writer.name(), &manifest_path(&dir.0));
    let copy = copy_aof_dir(&dir.0, "aof-cross-load");
    let node = server(loader, &copy.0, AOF);
    compare_loaded(
        &what,
        &[writer, loader],
        &before,
        &snapshot(&mut connect(&node)),
    );
}

/// The redis-server variant is the control (redis-server's own directory,
/// copied, loads with identical data: the data set and the comparison are
/// sound); the Ferrocache variant crosses both ways.
fn cross_loading(kind: Kind) {
    match kind {
        Kind::Redis => cross_load(Kind::Redis, Kind::Redis),
        Kind::Ferrocache => {
            cross_load(Kind::Redis, Kind::Ferrocache);
            cross_load(Kind::Ferrocache, Kind::Redis);
        }
    }
}

// ---------------------------------------------------------------------------
// 4. BGREWRITEAOF under concurrent writers

fn bgrewriteaof_under_writes(kind: Kind) {
    let server_name = kind.name();
    let dir = TempDir::new("aof-rewrite");
    let mut node = server(kind, &dir.0, AOF);
    let mut c = connect(&node);
    preload(&mut c, "pre", 20_000);
    let writers = Writers::start(&node, "w", 4, true);
    std::thread::sleep(Duration::from_millis(150));
    qs(&mut c, &["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    // Writes after the rewrite go to the new incr file.
    std::thread::sleep(Duration::from_millis(150));
    let tallies = writers.stop();
    assert!(
        tallies.iter().all(|t| t.incrs > 10),
        "{server_name}: the writers hardly ran: {tallies:?}"
    );
    assert_tallies(server_name, &mut c, &tallies);
    assert_eq!(
        field_num(&mut c, "persistence", "aof_rewrites"),
        1,
        "{server_name}: aof_rewrites after one BGREWRITEAOF (creating the \
         first base at startup does not count)"
    );
    drop(c);
    shutdown(&mut node, &["NOSAVE"]);
    // History gone: one base and one incr, both of the rewrite.
    assert_layout(server_name, &aof_dir(&dir.0), "appendonly.aof", 2, "rdb");
    check_aof(server_name, &manifest_path(&dir.0));
    let node = server(kind, &dir.0, AOF);
    let mut c = connect(&node);
    assert_tallies(&format!("{server_name} after a restart"), &mut c, &tallies);
    assert_eq!(
        int(&qs(&mut c, &["DBSIZE"])),
        20_000 + 2 * tallies.len() as i64,
        "{server_name}: keys after a restart"
    );
    assert_eq!(
        bulk(&qs(&mut c, &["GET", "pre:19999"])),
        "v".repeat(100).into_bytes()
    );
}

// ---------------------------------------------------------------------------
// 5. CONFIG SET appendonly yes at runtime, under load

fn config_set_appendonly_under_writes(kind: Kind) {
    let server_name = kind.name();
    let dir = TempDir::new("aof-config-set");
    let mut node = server(kind, &dir.0, &["--appendonly", "no"]);
    let mut c = connect(&node);
    assert_eq!(field(&mut c, "persistence", "aof_enabled"), "0");
    preload(&mut c, "pre", 10_000);
    qs(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    qs(&mut c, &["SET", "ttl", "v", "EX", "100000"]);
    qs(&mut c, &["FUNCTION", "LOAD", LIBRARY]);
    let writers = Writers::start(&node, "w", 4, false);
    std::thread::sleep(Duration::from_millis(100));
    qs(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    wait_until(
        Duration::from_secs(30),
        "the AOF to be on and its first rewrite done",
        || {
            let text = info(&mut c, "persistence");
            info_field(&text, "aof_enabled").as_deref() == Some("1")
                && info_field(&text, "aof_rewrite_in_progress").as_deref() == Some("0")
                && info_field(&text, "aof_rewrite_scheduled").as_deref() == Some("0")
        },
    );
    std::thread::sleep(Duration::from_millis(150));
    let tallies = writers.stop();
    assert!(
        tallies.iter().all(|t| t.incrs > 10),
        "{server_name}: the writers hardly ran: {tallies:?}"
    );
    assert_tallies(server_name, &mut c, &tallies);
    let before = snapshot(&mut c);
    drop(c);
    shutdown(&mut node, &["NOSAVE"]);
    assert!(
        !dir.path("dump.rdb").exists(),
        "{server_name}: a dump.rdb was written; the test means the AOF alone"
    );
    let node = server(kind, &dir.0, AOF);
    let mut c = connect(&node);
    assert_tallies(&format!("{server_name} after a restart"), &mut c, &tallies);
    compare_loaded(
        &format!("{server_name}: AOF turned on at runtime, after a restart"),
        &[kind],
        &before,
        &snapshot(&mut c),
    );
}

// ---------------------------------------------------------------------------
// 6. Crash safety

fn crash_safety_fsync_always(kind: Kind) {
    crash_safety(kind, "always");
}

/// With `everysec` Ferrocache calls write(2) before the reply goes out,
/// so a killed process loses nothing acknowledged (the page cache has
/// it). Only an OS crash or power loss may lose up to about a second of
/// writes, which a test on a live machine cannot show.
///
/// redis-server 7.0.15 does not give that guarantee: while its background
/// fsync is still running, flushAppendOnlyFile postpones the write(2)
/// (up to 2 s) but the replies go out anyway, so `kill -9` loses
/// acknowledged writes (seen here: ~1100 of ~3400 INCRs per counter, and
/// INFO showing `aof_buffer_length:172774` with `aof_pending_bio_fsync:1`).
/// Its variant checks only the upper bound.
fn crash_safety_fsync_everysec(kind: Kind) {
    crash_safety(kind, "everysec");
}

/// 8 threads INCR counters of their own; the server is killed (`kill -9`)
/// at 3 random points while they run. After each restart every counter
/// holds at least its acknowledged INCRs and at most one more (the one in
/// flight when the server died); counters of earlier rounds are unchanged.
fn crash_safety(kind: Kind, fsync: &str) {
    let server_name = kind.name();
    let dir = TempDir::new("aof-crash");
    let args = ["--appendonly", "yes", "--appendfsync", fsync];
    let mut rng = rand::thread_rng();
    let mut node = server(kind, &dir.0, &args);
    let mut settled: BTreeMap<String, i64> = BTreeMap::new();
    // See crash_safety_fsync_everysec.
    let may_lose_acknowledged = kind == Kind::Redis && fsync == "everysec";
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<JoinHandle<(String, i64)>> = (0..8)
            .map(|t| {
                let url = node.url();
                let stop = stop.clone();
                let counter = format!("r{round}:c{t}");
                std::thread::spawn(move || {
                    let mut c = connect_with_timeouts(&url);
                    let mut acked = 0;
                    // Until the server dies under us (or a safety stop).
                    while !stop.load(Ordering::Relaxed) {
                        match redis::cmd("INCR").arg(&counter).query::<i64>(&mut c) {
                            Ok(v) => {
                                acked += 1;
                                assert_eq!(v, acked, "INCR {counter}");
                            }
                            Err(_) => break,
                        }
                    }
                    (counter, acked)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..900)));
        kill_9(&mut node);
        stop.store(true, Ordering::Relaxed);
        let acked = join_all(handles);
        node = server(kind, &dir.0, &args);
        let mut c = connect(&node);
        let mut problems = Vec::new();
        for (counter, n) in &acked {
            let v: Option<i64> = redis::cmd("GET").arg(counter).query(&mut c).expect("GET");
            let v = v.unwrap_or(0);
            if (v < *n && !may_lose_acknowledged) || v > n + 1 {
                problems.push(format!("{counter}: {v} after {n} acknowledged INCRs"));
            }
            settled.insert(counter.clone(), v);
        }
        assert!(
            acked.iter().all(|(_, n)| *n > 0),
            "{server_name}: round {round}: a writer got no reply: {acked:?}"
        );
        for (counter, v) in &settled {
            let now: Option<i64> = redis::cmd("GET").arg(counter).query(&mut c).expect("GET");
            let now = now.unwrap_or(0);
            if now != *v {
                problems.push(format!("{counter}: {now}, was {v} after its round"));
            }
        }
        assert!(
            problems.is_empty(),
            "{server_name} appendfsync {fsync}, kill {round}:\n{}",
            problems.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// 7. Truncated AOF

/// Numbers right after the word "offset" in a log ("offset 12",
/// "offset: 12", "offset=12").
fn offsets_named(log: &str) -> Vec<u64> {
    let lower = log.to_lowercase();
    let mut out = Vec::new();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("offset") {
        rest = &rest[at + "offset".len()..];
        let digits: String = rest
            .trim_start_matches([' ', '\t', ':', '='])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse() {
            out.push(n);
        }
    }
    out
}

/// Writes `count` keys and a last command, shuts down, and returns the
/// incr file, its length, and where its last command starts (the file
/// ends with that command: its encoding's length is known).
fn write_then_stop(kind: Kind, dir: &Path, count: usize) -> (PathBuf, u64, u64) {
    let mut node = server(kind, dir, AOF);
    let mut c = connect(&node);
    for i in 0..count {
        qs(&mut c, &["SET", &format!("key:{i}"), &format!("value {i}")]);
    }
    let last_value = "L".repeat(200);
    qs(&mut c, &["SET", "last", &last_value]);
    drop(c);
    shutdown(&mut node, &["NOSAVE"]);
    let incr = last_incr_file(dir);
    let bytes = std::fs::read(&incr).expect("read the incr file");
    let last = common::encode(&[b"SET", b"last", last_value.as_bytes()]);
    let start = bytes.len().saturating_sub(last.len());
    assert!(
        bytes.len() >= last.len() && bytes[start..].eq_ignore_ascii_case(&last),
        "{}: the incr file does not end with the last SET",
        kind.name()
    );
    (incr, bytes.len() as u64, start as u64)
}

fn truncated_aof(kind: Kind) {
    let server_name = kind.name();
    let dir = TempDir::new("aof-truncated");
    let (incr, len, start) = write_then_stop(kind, &dir.0, 50);
    let file_name = incr
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    // Cut in the middle of the last command.
    let cut = start + (len - start) / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&incr)
        .and_then(|f| f.set_len(cut))
        .expect("truncate the incr file");

    // aof-load-truncated no: refused, the file named, the file untouched.
    let (status, log) = startup_failure(
        kind,
        &dir.0,
        &["--appendonly", "yes", "--aof-load-truncated", "no"],
    );
    assert!(!status.success(), "{server_name}: exit {status}");
    assert!(
        log.contains(&file_name),
        "{server_name}: the refusal does not name {file_name}:\n{log}"
    );
    if kind == Kind::Ferrocache {
        assert!(
            !offsets_named(&log).is_empty(),
            "{server_name}: the refusal names no offset:\n{log}"
        );
    }
    assert_eq!(
        std::fs::metadata(&incr).expect("incr").len(),
        cut,
        "{server_name}: the refused file was changed"
    );

    // aof-load-truncated yes: starts with everything before the cut
    // command, warns naming the file and the offset it truncated at, and
    // truncates the file there.
    let yes = ["--appendonly", "yes", "--aof-load-truncated", "yes"];
    let (node, log) = server_with_log(kind, &dir.0, &yes);
    let mut c = connect(&node);
    assert_eq!(int(&qs(&mut c, &["DBSIZE"])), 50, "{server_name}: keys");
    assert_eq!(text(&qs(&mut c, &["GET", "key:49"])), "\"value 49\"");
    assert_eq!(qs(&mut c, &["GET", "last"]), Value::Nil);
    assert!(
        log.to_lowercase().contains("truncat") && log.contains(&file_name),
        "{server_name}: no warning naming {file_name}:\n{log}"
    );
    assert!(
        offsets_named(&log).contains(&start),
        "{server_name}: the warning does not name offset {start}:\n{log}"
    );
    assert_eq!(
        std::fs::metadata(&incr).expect("incr").len(),
        start,
        "{server_name}: the incr file was not truncated to its last complete command"
    );
    // What is appended after the truncation point loads again.
    qs(&mut c, &["SET", "after", "the cut"]);
    drop(c);
    let mut node = node;
    shutdown(&mut node, &["NOSAVE"]);
    let node = server(
        kind,
        &dir.0,
        &["--appendonly", "yes", "--aof-load-truncated", "no"],
    );
    let mut c = connect(&node);
    assert_eq!(int(&qs(&mut c, &["DBSIZE"])), 51, "{server_name}: keys");
    assert_eq!(text(&qs(&mut c, &["GET", "after"])), "\"the cut\"");
}

// ---------------------------------------------------------------------------
// 8. Corrupt AOF

fn corrupt_aof(kind: Kind) {
    let server_name = kind.name();
    let dir = TempDir::new("aof-corrupt");
    let (incr, _len, _start) = write_then_stop(kind, &dir.0, 20);
    let file_name = incr
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let mut bytes = std::fs::read(&incr).expect("read the incr file");
    let marker = b"key:10\r\n";
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("key:10 in the incr file");
    let command_start = bytes[..at]
        .windows(4)
        .rposition(|w| w == b"*3\r\n")
        .expect("the start of SET key:10");
    // A command whose second argument has a bad length.
    let garbage = b"*3\r\n$3\r\nSET\r\n$x\r\nzz\r\n$1\r\nv\r\n";
    bytes.splice(command_start..command_start, garbage.iter().copied());
    std::fs::write(&incr, &bytes).expect("write the corrupt file");
    for load_truncated in ["yes", "no"] {
        let (status, log) = startup_failure(
            kind,
            &dir.0,
            &[
                "--appendonly",
                "yes",
                "--aof-load-truncated",
                load_truncated,
            ],
        );
        let what = format!("{server_name}, aof-load-truncated {load_truncated}");
        assert!(!status.success(), "{what}: exit {status}");
        assert!(
            log.contains(&file_name),
            "{what}: the refusal does not name {file_name}:\n{log}"
        );
        if kind == Kind::Ferrocache {
            let lower = log.to_lowercase();
            assert!(
                !offsets_named(&log).is_empty(),
                "{what}: the refusal names no offset:\n{log}"
            );
            assert!(
                ["format", "invalid", "corrupt", "expected", "bad"]
                    .iter()
                    .any(|w| lower.contains(w)),
                "{what}: the refusal names no problem:\n{log}"
            );
        }
    }
    assert_eq!(
        std::fs::read(&incr).expect("incr"),
        bytes,
        "{server_name}: the refused file was changed"
    );
}

// ---------------------------------------------------------------------------
// 9. INFO persistence

fn info_persistence(kind: Kind) {
    let server_name = kind.name();
    let fields = [
        "aof_enabled",
        "aof_rewrite_in_progress",
        "aof_rewrite_scheduled",
        "aof_last_rewrite_time_sec",
        "aof_last_bgrewrite_status",
        "aof_rewrites",
        "aof_last_write_status",
    ];
    // AOF off: the fields are there, aof_enabled is 0.
    let dir = TempDir::new("aof-info-off");
    let node = server(kind, &dir.0, &[]);
    let mut c = connect(&node);
    let text_off = info(&mut c, "persistence");
    for f in fields {
        assert!(
            info_field(&text_off, f).is_some(),
            "{server_name}: no {f} with the AOF off:\n{text_off}"
        );
    }
    assert_eq!(info_field(&text_off, "aof_enabled").as_deref(), Some("0"));
    drop(c);
    drop(node);

    let dir = TempDir::new("aof-info");
    let node = server(kind, &dir.0, AOF);
    let mut c = connect(&node);
    let all = info(&mut c, "persistence");
    for f in fields.iter().chain(&["aof_current_size", "aof_base_size"]) {
        assert!(
            info_field(&all, f).is_some(),
            "{server_name}: no {f}:\n{all}"
        );
    }
    let get = |text: &str, f: &str| info_field(text, f).unwrap_or_default();
    assert_eq!(get(&all, "aof_enabled"), "1", "{server_name}");
    assert_eq!(get(&all, "aof_rewrite_in_progress"), "0", "{server_name}");
    assert_eq!(get(&all, "aof_rewrite_scheduled"), "0", "{server_name}");
    assert_eq!(
        get(&all, "aof_last_rewrite_time_sec"),
        "-1",
        "{server_name}: aof_last_rewrite_time_sec (the last rewrite's duration) before any"
    );
    assert_eq!(
        get(&all, "aof_last_bgrewrite_status"),
        "ok",
        "{server_name}"
    );
    assert_eq!(get(&all, "aof_rewrites"), "0", "{server_name}");
    assert_eq!(get(&all, "aof_last_write_status"), "ok", "{server_name}");

    let size = |c: &mut redis::Connection| field_num(c, "persistence", "aof_current_size");
    let base = |c: &mut redis::Connection| field_num(c, "persistence", "aof_base_size");
    // The size follows the file, which may lag the replies by up to 2 s
    // (redis-server postpones its write(2) while a background fsync runs):
    // wait for it to grow.
    let empty_size = size(&mut c);
    preload(&mut c, "k", 1000);
    wait_until(
        Duration::from_secs(10),
        &format!("{server_name}: aof_current_size to grow from {empty_size} by 100 kB of writes"),
        || size(&mut c) > empty_size + 100_000,
    );
    rewrite(&mut c);
    let base_after = base(&mut c);
    let size_after = size(&mut c);
    assert!(
        base_after > 1000 && size_after >= base_after,
        "{server_name}: after a rewrite aof_base_size {base_after}, aof_current_size {size_after}"
    );
    assert_eq!(
        field_num(&mut c, "persistence", "aof_rewrites"),
        1,
        "{server_name}: aof_rewrites after one BGREWRITEAOF"
    );
    // A duration in seconds (0 for a quick rewrite), not a timestamp.
    let took = field_num(&mut c, "persistence", "aof_last_rewrite_time_sec");
    assert!(
        (0..60).contains(&took),
        "{server_name}: aof_last_rewrite_time_sec {took} after a rewrite"
    );
    qs(&mut c, &["SET", "one-more", &"x".repeat(1000)]);
    wait_until(
        Duration::from_secs(10),
        &format!("{server_name}: aof_current_size to grow from {size_after} by a 1 kB write"),
        || size(&mut c) > size_after + 1000,
    );
    assert_eq!(
        base(&mut c),
        base_after,
        "{server_name}: aof_base_size moved"
    );
    assert_eq!(field(&mut c, "persistence", "aof_last_write_status"), "ok");
}

// ---------------------------------------------------------------------------
// 10. aof-use-rdb-preamble

fn rdb_preamble(kind: Kind) {
    let server_name = kind.name();
    for (preamble, ext, magic) in [("no", "aof", &b"*"[..]), ("yes", "rdb", &b"REDIS"[..])] {
        let what = format!("{server_name}, aof-use-rdb-preamble {preamble}");
        let dir = TempDir::new("aof-preamble");
        let args = ["--appendonly", "yes", "--aof-use-rdb-preamble", preamble];
        let mut node = server(kind, &dir.0, &args);
        fill_dataset(&node);
        rewrite(&mut connect(&node));
        let entries = assert_layout(&what, &aof_dir(&dir.0), "appendonly.aof", 2, ext);
        let base = std::fs::read(aof_dir(&dir.0).join(&entries[0].name)).expect("base file");
        assert!(
            base.starts_with(magic),
            "{what}: the base file starts with {:?}",
            String::from_utf8_lossy(&base[..base.len().min(16)])
        );
        fill_more(&node);
        let before = snapshot(&mut connect(&node));
        assert_dataset_shape(&what, &before);
        shutdown(&mut node, &["NOSAVE"]);
        check_aof(&what, &manifest_path(&dir.0));
        let node = server(kind, &dir.0, &args);
        compare_loaded(
            &format!("{what}: after a restart"),
            &[kind],
            &before,
            &snapshot(&mut connect(&node)),
        );
    }
}

// ---------------------------------------------------------------------------
// 11. appendonly yes at startup with a dump.rdb and no AOF

/// Redis documents that turning the AOF on by restarting with
/// `appendonly yes` starts from the (missing) AOF, not from dump.rdb: the
/// server starts empty (the way to keep the data is CONFIG SET appendonly
/// yes at runtime). The dump.rdb is left alone.
fn appendonly_at_startup_ignores_dump_rdb(kind: Kind) {
    let server_name = kind.name();
    let dir = TempDir::new("aof-ignores-rdb");
    let mut node = server(kind, &dir.0, &["--appendonly", "no"]);
    let mut c = connect(&node);
    preload(&mut c, "k", 100);
    qs(&mut c, &["SAVE"]);
    drop(c);
    shutdown(&mut node, &["NOSAVE"]);
    let rdb = std::fs::read(dir.path("dump.rdb")).expect("dump.rdb written by SAVE");
    assert!(!aof_dir(&dir.0).exists());
    let node = server(kind, &dir.0, AOF);
    let mut c = connect(&node);
    assert_eq!(
        int(&qs(&mut c, &["DBSIZE"])),
        0,
        "{server_name}: keys loaded with appendonly yes and only a dump.rdb"
    );
    assert_eq!(field(&mut c, "persistence", "aof_enabled"), "1");
    assert_layout(server_name, &aof_dir(&dir.0), "appendonly.aof", 1, "rdb");
    assert_eq!(
        std::fs::read(dir.path("dump.rdb")).expect("dump.rdb"),
        rdb,
        "{server_name}: dump.rdb changed"
    );
}

// ---------------------------------------------------------------------------
// 12. Random concurrent writers on a small shared keyspace

/// Keys per type and database: few, so that the writers keep colliding.
const FUZZ_KEYS: usize = 12;

/// Writer threads, each with its own connection and random generator.
const FUZZ_THREADS: u64 = 8;

/// How long the writers run.
const FUZZ_RUN: Duration = Duration::from_secs(3);

/// A key with an expire time before this many milliseconds after the last
/// snapshot may expire while a server restarts: it is not compared.
const FUZZ_TTL_MARGIN_MS: i64 = 3000;

/// The short TTLs (milliseconds) the writers set: keys that expire while
/// they run.
const FUZZ_SHORT_TTL_MS: std::ops::Range<i64> = 20..1500;

/// Error replies that mean the test sent something malformed (or a
/// command the server lacks), not a write refused by the data it met.
const FUZZ_MISTAKES: &[&str] = &[
    "unknown command",
    "unknown subcommand",
    "syntax error",
    "wrong number of arguments",
    "unsupported",
    "not supported",
    "execabort",
];

/// Scripts that write several keys, some from what they read: their
/// effects must reach the AOF as one MULTI/EXEC, in the order they ran
/// relative to other clients' writes to the same keys. Each is run with
/// keys of the families named.
const FUZZ_SCRIPTS: &[(&str, [&str; 3])] = &[
    (
        "local v = redis.call('GET', KEYS[1]) \
         if v then redis.call('SET', KEYS[2], v .. ARGV[1]) else redis.call('DEL', KEYS[2]) end \
         return redis.call('INCR', KEYS[3])",
        ["str", "str", "str"],
    ),
    (
        "local x = redis.call('RPOP', KEYS[1]) \
         if x then redis.call('SADD', KEYS[2], x) redis.call('ZINCRBY', KEYS[3], 1, x) end \
         return x",
        ["list", "set", "zset"],
    ),
    (
        "local n = redis.call('SCARD', KEYS[1]) \
         redis.call('HSET', KEYS[2], 'card', n) redis.call('RPUSH', KEYS[3], 'n' .. n) \
         if n > 3 then redis.call('SPOP', KEYS[1]) end \
         return n",
        ["set", "hash", "list"],
    ),
    (
        "local m = redis.call('SRANDMEMBER', KEYS[1]) \
         if m then redis.call('SREM', KEYS[1], m) redis.call('LPUSH', KEYS[2], m) end \
         local t = redis.call('TIME') redis.call('HSET', KEYS[3], 'time', t[1] .. '.' .. t[2]) \
         return m",
        ["set", "list", "hash"],
    ),
    (
        "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
         if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end \
         return redis.call('PTTL', KEYS[1])",
        ["str", "hash", "str"],
    ),
    (
        "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', '20', '*', 'f', ARGV[1]) \
         redis.call('SET', KEYS[2], id) \
         local z = redis.call('ZSCORE', KEYS[3], ARGV[1]) \
         redis.call('ZADD', KEYS[3], (tonumber(z) or 0) + 1, ARGV[1]) \
         return id",
        ["stream", "str", "zset"],
    ),
];

const FUZZ_FAMILIES: &[&str] = &["str", "list", "set", "zset", "hash", "stream"];
const FUZZ_WORDS: &[&str] = &["a", "bb", "ccc", "hello", "7", "-3", "0.5", "x y"];
const FUZZ_FLOATS: &[&str] = &["1.5", "-0.25", "3", "0.1", "-2.75", "100.125"];
const FUZZ_GROUPS: &[&str] = &["g0", "g1"];
const FUZZ_CONSUMERS: &[&str] = &["c0", "c1", "c2", "c3"];

/// The next port of this scenario's range (7390-7399) for redis-server.
fn next_fuzz_redis_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    7390 + NEXT.fetch_add(1, Ordering::Relaxed) % 10
}

/// [`server`], with redis-server on this scenario's ports.
fn fuzz_server(kind: Kind, dir: &Path, extra: &[&str]) -> Proc {
    match kind {
        Kind::Redis => redis_in_ports(dir, extra, next_fuzz_redis_port).0,
        Kind::Ferrocache => server(kind, dir, extra),
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// `text` cut to `max` characters.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// Does a reply carry something (a served blocking pop, a claim, an ack)?
fn carries_something(v: &Value) -> bool {
    match v {
        Value::Nil => false,
        Value::Int(n) => *n > 0,
        Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

/// Every `<ms>-<seq>` stream id in a reply (XREADGROUP, XCLAIM, XAUTOCLAIM).
fn stream_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => {
            let s = String::from_utf8_lossy(b);
            if let Some((ms, seq)) = s.split_once('-') {
                let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
                if digits(ms) && digits(seq) {
                    out.push(s.into_owned());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| stream_ids(i, out)),
        _ => {}
    }
}

/// How often a command name was answered, with an error, or with
/// something (see [`carries_something`]).
#[derive(Debug, Default, Clone, Copy)]
struct Outcomes {
    ok: u64,
    errors: u64,
    carried: u64,
}

/// What a writer thread did: its outcomes per command name and every
/// command it sent, with its reply.
struct FuzzReport {
    outcomes: BTreeMap<String, Outcomes>,
    history: Vec<String>,
}

/// One writer thread: random writes over the shared keyspace
/// (`<family>:<0..FUZZ_KEYS>` in databases 0 and 1).
struct FuzzWriter {
    thread: u64,
    seed: u64,
    rng: StdRng,
    c: redis::Connection,
    db: u8,
    /// Is FLUSHDB still allowed (only early, so the data set is not empty
    /// at the end)?
    may_flush: bool,
    /// Does the mix hold `XREADGROUP ... STREAMS <key> 0`, a consumer
    /// reading its own pending entries again? redis-server 7.0.15 does
    /// not propagate what that changes (seen: `XREADGROUP GROUP g c1
    /// STREAMS s 0` raises the entry's delivery count to 2 and its
    /// delivery time, the AOF gets nothing; a consumer it creates is not
    /// propagated either), so its control run leaves it out.
    history_reads: bool,
    started: Instant,
    /// Stream entries this thread saw delivered or claimed, for XACK,
    /// XCLAIM and XDEL: (key, group, id), the newest last.
    seen_ids: Vec<(String, String, String)>,
    outcomes: BTreeMap<String, Outcomes>,
    history: Vec<String>,
}

impl FuzzWriter {
    fn new(kind: Kind, url: &str, seed: u64, thread: u64, started: Instant) -> FuzzWriter {
        FuzzWriter {
            thread,
            seed,
            rng: StdRng::seed_from_u64(seed.wrapping_add(thread)),
            c: connect_with_timeouts(url),
            db: 0,
            may_flush: true,
            history_reads: kind == Kind::Ferrocache,
            started,
            seen_ids: Vec::new(),
            outcomes: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    fn run(mut self, stop: &AtomicBool) -> FuzzReport {
        // At the rate the random mix sends it SWAPDB may not come at all
        // in a slow run: thread 0 sends one a third of the way in.
        let mut swap_due = self.thread == 0;
        while !stop.load(Ordering::Relaxed) {
            self.may_flush = self.started.elapsed() < FUZZ_RUN * 2 / 3;
            if swap_due && self.started.elapsed() >= FUZZ_RUN / 3 {
                swap_due = false;
                self.exec(&strings(&["SWAPDB", "0", "1"]), true);
            }
            self.step();
        }
        FuzzReport {
            outcomes: self.outcomes,
            history: self.history,
        }
    }

    /// Sends one command and records it in the history and, with
    /// `tally`, in the outcomes. An error reply is returned as None; a
    /// broken connection, a timeout or a malformed command fails the test.
    fn exec(&mut self, args: &[String], tally: bool) -> Option<Value> {
        let sent_at = self.started.elapsed().as_micros();
        let mut cmd = redis::cmd(&args[0]);
        for a in &args[1..] {
            cmd.arg(a.as_str());
        }
        let result = cmd.query::<Value>(&mut self.c);
        let answered_at = self.started.elapsed().as_micros();
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let shown = match &result {
            Ok(v) => clip(&text(v), 160),
            Err(e) => format!("error: {e}"),
        };
        self.history.push(format!(
            "{sent_at:010} {answered_at:010} t{} db{} {} -> {shown}",
            self.thread,
            self.db,
            show_args(&bytes)
        ));
        let name = args[0].to_ascii_uppercase();
        match result {
            Ok(v) => {
                if tally {
                    let o = self.outcomes.entry(name).or_default();
                    o.ok += 1;
                    o.carried += u64::from(carries_something(&v));
                }
                Some(v)
            }
            Err(e) => {
                let message = e.to_string();
                let lower = message.to_lowercase();
                if e.code().is_none() || FUZZ_MISTAKES.iter().any(|m| lower.contains(m)) {
                    panic!(
                        "seed {}, thread {}: {}: {message}",
                        self.seed,
                        self.thread,
                        show_args(&bytes)
                    );
                }
                if tally {
                    self.outcomes.entry(name).or_default().errors += 1;
                }
                None
            }
        }
    }

    /// One random operation: mostly a single write, sometimes a blocking
    /// pop, a transaction, a script or a database switch, rarely SWAPDB
    /// and (early only) very rarely FLUSHDB.
    fn step(&mut self) {
        let roll = self.rng.gen_range(0..100_000);
        if roll < 3 && self.may_flush {
            self.exec(&strings(&["FLUSHDB"]), true);
        } else if roll < 60 {
            self.exec(&strings(&["SWAPDB", "0", "1"]), true);
        } else if roll < 3_000 {
            let other = 1 - self.db;
            if self
                .exec(&strings(&["SELECT", &other.to_string()]), true)
                .is_some()
            {
                self.db = other;
            }
        } else if roll < 4_500 {
            let args = self.blocking_command();
            self.exec(&args, true);
        } else if roll < 13_000 {
            self.transaction();
        } else if roll < 18_000 {
            let args = self.script();
            self.exec(&args, true);
        } else {
            let args = self.write_command();
            let reply = self.exec(&args, true);
            self.remember_ids(&args, reply.as_ref());
        }
    }

    /// MULTI, 2-5 random writes (rarely a SELECT among them), EXEC.
    fn transaction(&mut self) {
        self.exec(&strings(&["MULTI"]), true);
        let mut db_after = self.db;
        for _ in 0..self.rng.gen_range(2..=5) {
            let args = if self.rng.gen_ratio(1, 20) {
                db_after = 1 - db_after;
                strings(&["SELECT", &db_after.to_string()])
            } else {
                self.write_command()
            };
            self.exec(&args, false);
        }
        // EXEC runs every queued command (a SELECT too) even when one of
        // them fails: its error is then the reply's.
        self.exec(&strings(&["EXEC"]), true);
        self.db = db_after;
    }

    /// Keeps the stream ids an XREADGROUP, XCLAIM or XAUTOCLAIM returned.
    fn remember_ids(&mut self, args: &[String], reply: Option<&Value>) {
        let (Some(reply), Some(key)) = (reply, args.iter().find(|a| a.starts_with("stream:")))
        else {
            return;
        };
        if !matches!(args[0].as_str(), "XREADGROUP" | "XCLAIM" | "XAUTOCLAIM") {
            return;
        }
        // The group is the third word of all three: XREADGROUP GROUP
        // <group> ..., XCLAIM <key> <group> ..., XAUTOCLAIM <key> <group> ...
        let group = &args[2];
        let mut ids = Vec::new();
        stream_ids(reply, &mut ids);
        self.seen_ids
            .extend(ids.into_iter().map(|id| (key.clone(), group.clone(), id)));
        let excess = self.seen_ids.len().saturating_sub(64);
        self.seen_ids.drain(..excess);
    }

    fn key(&mut self, family: &str) -> String {
        format!("{family}:{}", self.rng.gen_range(0..FUZZ_KEYS))
    }

    fn list_value(&mut self) -> String {
        format!("v{}", self.rng.gen_range(0..16))
    }

    fn set_member(&mut self) -> String {
        if self.rng.gen_bool(0.5) {
            format!("m{}", self.rng.gen_range(0..20))
        } else {
            self.rng.gen_range(0..30).to_string()
        }
    }

    fn zset_member(&mut self) -> String {
        format!("z{}", self.rng.gen_range(0..16))
    }

    fn score(&mut self) -> String {
        if self.rng.gen_bool(0.5) {
            self.rng.gen_range(-10..10).to_string()
        } else {
            pick(&mut self.rng, FUZZ_FLOATS).to_string()
        }
    }

    /// A short time to live in milliseconds (the key expires during the
    /// run) or a long one in seconds (it survives the restarts).
    fn ttl(&mut self) -> (&'static str, String) {
        if self.rng.gen_bool(0.6) {
            ("PX", self.rng.gen_range(FUZZ_SHORT_TTL_MS).to_string())
        } else {
            ("EX", self.rng.gen_range(100_000..900_000).to_string())
        }
    }

    /// A recently seen entry of a stream (its key, the group it was seen
    /// in, or another group now and then) and up to 2 more ids of it, or
    /// a random stream and an id that may not exist.
    fn seen_entries(&mut self) -> (String, &'static str, Vec<String>) {
        let random_group = pick(&mut self.rng, FUZZ_GROUPS);
        if self.seen_ids.is_empty() {
            return (self.key("stream"), random_group, vec!["1-1".into()]);
        }
        // Mostly one of the newest, likelier to be still pending.
        let back = self.rng.gen_range(0..self.seen_ids.len().min(6));
        let (key, group, first) = self.seen_ids[self.seen_ids.len() - 1 - back].clone();
        let group = match FUZZ_GROUPS.iter().find(|g| **g == group) {
            Some(g) if self.rng.gen_ratio(4, 5) => *g,
            _ => random_group,
        };
        let mut ids = vec![first];
        for (k, _, id) in self.seen_ids.iter().rev() {
            if ids.len() < 3 && *k == key && !ids.contains(id) && self.rng.gen_bool(0.3) {
                ids.push(id.clone());
            }
        }
        (key, group, ids)
    }

    fn write_command(&mut self) -> Vec<String> {
        // Streams twice as often: their commands need a group to exist
        // and entries delivered first, and many fail on a missing group.
        match self.rng.gen_range(0..8) {
            0 => self.string_write(),
            1 => self.list_write(),
            2 => self.set_write(),
            3 => self.zset_write(),
            4 => self.hash_write(),
            5 | 6 => self.stream_write(),
            _ => self.keyspace_write(),
        }
    }

    fn string_write(&mut self) -> Vec<String> {
        let k = self.key("str");
        let word = pick(&mut self.rng, FUZZ_WORDS);
        match self.rng.gen_range(0..10) {
            0 | 1 => strings(&["SET", &k, &self.rng.gen_range(-5..100).to_string()]),
            2 => strings(&["SET", &k, word]),
            3 => strings(&["INCR", &k]),
            4 => strings(&["INCRBYFLOAT", &k, pick(&mut self.rng, FUZZ_FLOATS)]),
            5 => strings(&["APPEND", &k, word]),
            6 => strings(&["SETRANGE", &k, &self.rng.gen_range(0..6).to_string(), word]),
            7 => strings(&["GETDEL", &k]),
            8 => {
                let (unit, ttl) = self.ttl();
                let value = self.rng.gen_range(0..100).to_string();
                strings(&["SET", &k, &value, unit, &ttl])
            }
            _ => {
                let (unit, ttl) = self.ttl();
                if self.rng.gen_bool(0.3) {
                    strings(&["GETEX", &k, "PERSIST"])
                } else {
                    strings(&["GETEX", &k, unit, &ttl])
                }
            }
        }
    }

    fn list_write(&mut self) -> Vec<String> {
        let k = self.key("list");
        match self.rng.gen_range(0..9) {
            0..=2 => {
                let push = if self.rng.gen_bool(0.5) {
                    "LPUSH"
                } else {
                    "RPUSH"
                };
                let mut args = strings(&[push, &k]);
                for _ in 0..self.rng.gen_range(1..=3) {
                    args.push(self.list_value());
                }
                args
            }
            3 | 4 => {
                let pop = if self.rng.gen_bool(0.5) {
                    "LPOP"
                } else {
                    "RPOP"
                };
                let mut args = strings(&[pop, &k]);
                if self.rng.gen_bool(0.3) {
                    args.push(self.rng.gen_range(1..=3).to_string());
                }
                args
            }
            5 => {
                let to = self.key("list");
                let from_end = pick(&mut self.rng, &["LEFT", "RIGHT"]);
                let to_end = pick(&mut self.rng, &["LEFT", "RIGHT"]);
                strings(&["LMOVE", &k, &to, from_end, to_end])
            }
            6 => strings(&["LTRIM", &k, "0", &self.rng.gen_range(2..12).to_string()]),
            7 => {
                let (pivot, value) = (self.list_value(), self.list_value());
                let side = if self.rng.gen_bool(0.5) {
                    "BEFORE"
                } else {
                    "AFTER"
                };
                strings(&["LINSERT", &k, side, &pivot, &value])
            }
            _ => {
                let value = self.list_value();
                strings(&["LREM", &k, &self.rng.gen_range(0..3).to_string(), &value])
            }
        }
    }

    fn set_write(&mut self) -> Vec<String> {
        let k = self.key("set");
        match self.rng.gen_range(0..8) {
            0 | 1 => {
                let mut args = strings(&["SADD", &k]);
                for _ in 0..self.rng.gen_range(1..=4) {
                    args.push(self.set_member());
                }
                args
            }
            2 => {
                let mut args = strings(&["SREM", &k]);
                for _ in 0..self.rng.gen_range(1..=3) {
                    args.push(self.set_member());
                }
                args
            }
            3 | 4 => {
                let mut args = strings(&["SPOP", &k]);
                if self.rng.gen_bool(0.5) {
                    args.push(self.rng.gen_range(1..=3).to_string());
                }
                args
            }
            5 => {
                let (to, member) = (self.key("set"), self.set_member());
                strings(&["SMOVE", &k, &to, &member])
            }
            6 => {
                let (a, b) = (self.key("set"), self.key("set"));
                strings(&["SINTERSTORE", &k, &a, &b])
            }
            _ => {
                let (a, b) = (self.key("set"), self.key("set"));
                strings(&["SUNIONSTORE", &k, &a, &b])
            }
        }
    }

    fn zset_write(&mut self) -> Vec<String> {
        let k = self.key("zset");
        match self.rng.gen_range(0..8) {
            0 | 1 => {
                let mut args = strings(&["ZADD", &k]);
                for _ in 0..self.rng.gen_range(1..=3) {
                    args.push(self.score());
                    args.push(self.zset_member());
                }
                args
            }
            2 | 3 => {
                let (by, member) = (self.score(), self.zset_member());
                strings(&["ZINCRBY", &k, &by, &member])
            }
            4 => {
                let mut args = strings(&["ZPOPMIN", &k]);
                if self.rng.gen_bool(0.3) {
                    args.push(self.rng.gen_range(1..=3).to_string());
                }
                args
            }
            5 => {
                let (a, b) = (self.key("zset"), self.key("zset"));
                let mut args = strings(&["ZUNIONSTORE", &k, "2", &a, &b]);
                if self.rng.gen_bool(0.5) {
                    args.extend(strings(&["WEIGHTS", "1", "0.5"]));
                }
                if self.rng.gen_bool(0.3) {
                    args.extend(strings(&["AGGREGATE", "MAX"]));
                }
                args
            }
            _ => {
                let member = self.zset_member();
                strings(&["ZREM", &k, &member])
            }
        }
    }

    fn hash_write(&mut self) -> Vec<String> {
        let k = self.key("hash");
        match self.rng.gen_range(0..6) {
            0 | 1 => {
                let mut args = strings(&["HSET", &k]);
                for _ in 0..self.rng.gen_range(1..=3) {
                    args.push(format!("f{}", self.rng.gen_range(0..6)));
                    args.push(pick(&mut self.rng, FUZZ_WORDS).to_string());
                }
                if self.rng.gen_bool(0.5) {
                    args.push(format!("n{}", self.rng.gen_range(0..4)));
                    args.push(self.rng.gen_range(-50..50).to_string());
                }
                args
            }
            2 => {
                let field = format!("n{}", self.rng.gen_range(0..4));
                strings(&[
                    "HINCRBY",
                    &k,
                    &field,
                    &self.rng.gen_range(-5..6).to_string(),
                ])
            }
            3 => {
                let field = format!("x{}", self.rng.gen_range(0..3));
                strings(&["HINCRBYFLOAT", &k, &field, pick(&mut self.rng, FUZZ_FLOATS)])
            }
            _ => {
                let mut args = strings(&["HDEL", &k]);
                for _ in 0..self.rng.gen_range(1..=2) {
                    let kind = pick(&mut self.rng, &["f", "n", "x"]);
                    args.push(format!("{kind}{}", self.rng.gen_range(0..4)));
                }
                args
            }
        }
    }

    fn stream_write(&mut self) -> Vec<String> {
        let k = self.key("stream");
        let group = pick(&mut self.rng, FUZZ_GROUPS);
        let consumer = pick(&mut self.rng, FUZZ_CONSUMERS);
        match self.rng.gen_range(0..22) {
            0..=4 => {
                let mut args = strings(&["XADD", &k]);
                match self.rng.gen_range(0..10) {
                    0..=6 => args.extend(strings(&["MAXLEN", "~", "12"])),
                    7 => args.extend(strings(&["MAXLEN", &self.rng.gen_range(5..20).to_string()])),
                    _ => {}
                }
                let value = format!("v{}", self.rng.gen_range(0..1000));
                args.extend(strings(&["*", "f", &value]));
                args
            }
            5..=7 => {
                let start = if self.rng.gen_bool(0.5) { "$" } else { "0" };
                strings(&["XGROUP", "CREATE", &k, group, start, "MKSTREAM"])
            }
            8..=11 => {
                let count = self.rng.gen_range(1..=4).to_string();
                let mut args = strings(&["XREADGROUP", "GROUP", group, consumer, "COUNT", &count]);
                if self.rng.gen_ratio(1, 10) {
                    args.push("NOACK".into());
                }
                // `0` re-reads this consumer's pending entries: their
                // delivery counts and times change.
                let from = if self.rng.gen_ratio(1, 4) && self.history_reads {
                    "0"
                } else {
                    ">"
                };
                args.extend(strings(&["STREAMS", &k, from]));
                args
            }
            12 | 13 => {
                let (k, group, ids) = self.seen_entries();
                let mut args = strings(&["XACK", &k, group]);
                args.extend(ids);
                args
            }
            14 | 15 => {
                let (k, group, ids) = self.seen_entries();
                let min_idle = pick(&mut self.rng, &["0", "0", "0", "50"]);
                let mut args = strings(&["XCLAIM", &k, group, consumer, min_idle]);
                args.extend(ids);
                if self.rng.gen_ratio(1, 4) {
                    args.extend(strings(&["IDLE", &self.rng.gen_range(0..5000).to_string()]));
                }
                if self.rng.gen_ratio(1, 4) {
                    args.extend(strings(&[
                        "RETRYCOUNT",
                        &self.rng.gen_range(0..9).to_string(),
                    ]));
                }
                if self.rng.gen_ratio(1, 8) {
                    args.push("FORCE".into());
                }
                if self.rng.gen_ratio(1, 4) {
                    args.push("JUSTID".into());
                }
                args
            }
            16 | 17 => {
                let count = self.rng.gen_range(1..=5).to_string();
                let min_idle = pick(&mut self.rng, &["0", "10"]);
                let mut args = strings(&[
                    "XAUTOCLAIM",
                    &k,
                    group,
                    consumer,
                    min_idle,
                    "0-0",
                    "COUNT",
                    &count,
                ]);
                if self.rng.gen_ratio(1, 4) {
                    args.push("JUSTID".into());
                }
                args
            }
            18 => {
                let how = pick(&mut self.rng, &["~", "="]);
                strings(&[
                    "XTRIM",
                    &k,
                    "MAXLEN",
                    how,
                    &self.rng.gen_range(3..15).to_string(),
                ])
            }
            19 => {
                let (k, _, ids) = self.seen_entries();
                strings(&["XDEL", &k, &ids[0]])
            }
            20 => {
                let to = pick(&mut self.rng, &["0", "$"]);
                strings(&["XGROUP", "SETID", &k, group, to])
            }
            _ => {
                let sub = pick(&mut self.rng, &["CREATECONSUMER", "DELCONSUMER"]);
                strings(&["XGROUP", sub, &k, group, consumer])
            }
        }
    }

    /// TTLs and keys moving between names and databases (within a
    /// family, so the families keep their types).
    fn keyspace_write(&mut self) -> Vec<String> {
        let family = pick(&mut self.rng, FUZZ_FAMILIES);
        let (k, other) = (self.key(family), self.key(family));
        let other_db = (1 - self.db).to_string();
        match self.rng.gen_range(0..10) {
            0 => {
                let mut args = strings(&[
                    "EXPIRE",
                    &k,
                    &self.rng.gen_range(100_000..900_000).to_string(),
                ]);
                if self.rng.gen_ratio(1, 3) {
                    args.push(pick(&mut self.rng, &["NX", "XX", "GT", "LT"]).into());
                }
                args
            }
            1 | 2 => strings(&[
                "PEXPIRE",
                &k,
                &self.rng.gen_range(FUZZ_SHORT_TTL_MS).to_string(),
            ]),
            3 => strings(&["PERSIST", &k]),
            4 => strings(&["RENAME", &k, &other]),
            5 => strings(&["RENAMENX", &k, &other]),
            6 => strings(&["COPY", &k, &other, "REPLACE"]),
            7 => strings(&["COPY", &k, &other, "DB", &other_db]),
            8 => strings(&["MOVE", &k, &other_db]),
            _ => strings(&["DEL", &k]),
        }
    }

    /// A blocking pop with a short timeout, meant to be served by another
    /// writer's push.
    fn blocking_command(&mut self) -> Vec<String> {
        let timeout = format!("0.0{}", self.rng.gen_range(1..4));
        match self.rng.gen_range(0..4) {
            0 => {
                let (a, b) = (self.key("list"), self.key("list"));
                strings(&["BLPOP", &a, &b, &timeout])
            }
            1 => {
                let (a, b) = (self.key("list"), self.key("list"));
                strings(&["BLMOVE", &a, &b, "LEFT", "RIGHT", &timeout])
            }
            2 => {
                let (a, b) = (self.key("zset"), self.key("zset"));
                strings(&["BZPOPMIN", &a, &b, &timeout])
            }
            _ => {
                let k = self.key("stream");
                let group = pick(&mut self.rng, FUZZ_GROUPS);
                let consumer = pick(&mut self.rng, FUZZ_CONSUMERS);
                let block = self.rng.gen_range(5..30).to_string();
                strings(&[
                    "XREADGROUP",
                    "GROUP",
                    group,
                    consumer,
                    "COUNT",
                    "2",
                    "BLOCK",
                    &block,
                    "STREAMS",
                    &k,
                    ">",
                ])
            }
        }
    }

    fn script(&mut self) -> Vec<String> {
        let (body, families) = pick(&mut self.rng, FUZZ_SCRIPTS);
        let mut args = strings(&["EVAL", body, "3"]);
        for family in families {
            args.push(self.key(family));
        }
        args.push(self.list_value());
        let ttl = if self.rng.gen_bool(0.5) {
            self.rng.gen_range(FUZZ_SHORT_TTL_MS)
        } else {
            self.rng.gen_range(100_000_000..900_000_000)
        };
        args.push(ttl.to_string());
        args
    }
}

/// The server's clock in milliseconds.
fn server_time_ms(c: &mut redis::Connection) -> i64 {
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query(c).expect("TIME");
    secs * 1000 + micros / 1000
}

/// The snapshot without the keys that expire before `cutoff_ms` (they may
/// expire while a server restarts) and without keys gone while the
/// snapshot read them (expired then too).
fn settled(st: &Snapshot, cutoff_ms: i64) -> Snapshot {
    let mut out = st.clone();
    out.keys
        .retain(|_, k| k.pexpiretime == -1 || k.pexpiretime >= cutoff_ms);
    out
}

/// A snapshot without the consumers that have no pending entries (and
/// without the groups' consumer counts), for comparisons where
/// redis-server 7.0.15 wrote or replayed the AOF. After replaying its own
/// AOF it sometimes lacks a consumer that had no pending entries left
/// (seen in its control run of this scenario, with `XREADGROUP ... 0`
/// already out of the mix; the exact sequence was not isolated). And an
/// XCLAIM that claims nothing creates its consumer in Ferrocache but not
/// in redis-server 7.0.15, so replaying Ferrocache's `XCLAIM s g c 0
/// <id> TIME <ms>` for it creates nothing there. Ferrocache's own restart
/// is compared with every consumer.
fn without_idle_consumers(st: &Snapshot) -> Snapshot {
    let mut out = st.clone();
    for k in out.keys.values_mut() {
        if k.kind != "stream" {
            continue;
        }
        let stripped = strip_field(&k.value, "consumers=");
        let mut value = String::new();
        let mut rest = stripped.as_str();
        while let Some(at) = rest.find("consumers [") {
            let list_start = at + "consumers [".len();
            let list_end = list_start + rest[list_start..].find(']').unwrap_or(0);
            let busy: Vec<&str> = rest[list_start..list_end]
                .split(", ")
                .filter(|c| !c.is_empty() && !c.ends_with(":0"))
                .collect();
            value.push_str(&rest[..list_start]);
            value.push_str(&busy.join(", "));
            rest = &rest[list_end..];
        }
        value.push_str(rest);
        k.value = value;
    }
    out
}

/// A snapshot without the pending entries whose stream entry is gone
/// (deleted or trimmed while pending), with the pending counts of their
/// groups and consumers lowered to match. A rewrite in the command format
/// (`aof-use-rdb-preamble no`) writes each pending entry as `XCLAIM ...
/// FORCE`, which creates nothing for an entry the stream no longer holds:
/// redis-server 7.0.15 loses them too (seen: XADD two entries, XREADGROUP
/// both, XDEL the first, BGREWRITEAOF, restart: XPENDING shows 1 of 2).
/// Only runs with such a rewrite use this.
fn without_pending_of_deleted(st: &Snapshot) -> Snapshot {
    let mut out = st.clone();
    for k in out.keys.values_mut() {
        if k.kind == "stream" {
            k.value = stream_without_pending_of_deleted(&k.value);
        }
    }
    out
}

/// [`without_pending_of_deleted`] for one stream as [`stream_state`]
/// renders it: `<entries> / <XINFO STREAM> / groups {name=.. pending=N ..
/// consumers ["c":N, ..] pending ["id" "c" xN, ..]} .. / delivery times
/// "g": ["id" "c" @ms, ..] ..`.
fn stream_without_pending_of_deleted(value: &str) -> String {
    let entries = value.split(" / ").next().unwrap_or_default();
    // Each entry is `["<id>", [fields]]`: the ids are the quoted words
    // after a `[` (field names are too, but no pending id looks like one).
    let present: BTreeSet<&str> = entries
        .split("[\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"'))
        .map(|(id, _)| id)
        .collect();
    let pending_id = |item: &str| {
        item.trim_start_matches('"')
            .split('"')
            .next()
            .unwrap_or("")
            .to_string()
    };
    // Each group: its PEL list filtered, its counts lowered.
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("{name=") {
        out.push_str(&rest[..at]);
        let end = at + rest[at..].find('}').unwrap_or(rest.len() - at);
        let group = &rest[at..end];
        rest = &rest[end..];
        let Some(list_at) = group.rfind(" pending [") else {
            out.push_str(group);
            continue;
        };
        let items_text = group[list_at + " pending [".len()..].trim_end_matches(']');
        let (kept, dropped): (Vec<&str>, Vec<&str>) = items_text
            .split(", ")
            .filter(|i| !i.is_empty())
            .partition(|i| present.contains(pending_id(i).as_str()));
        let mut head = group[..list_at].to_string();
        if !dropped.is_empty() {
            // pending=N of the group.
            if let Some(p) = head.find(" pending=") {
                let from = p + " pending=".len();
                let to = from + head[from..].find(' ').unwrap_or(head.len() - from);
                head.replace_range(from..to, &kept.len().to_string());
            }
            // "consumer":N of each consumer.
            for item in &dropped {
                let consumer = item.split('"').nth(3).unwrap_or_default();
                let label = format!("\"{consumer}\":");
                if let Some(p) = head.find(&label) {
                    let from = p + label.len();
                    let to = from
                        + head[from..]
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(head.len() - from);
                    let n: u64 = head[from..to].parse().unwrap_or(0);
                    head.replace_range(from..to, &n.saturating_sub(1).to_string());
                }
            }
        }
        out.push_str(&head);
        out.push_str(" pending [");
        out.push_str(&kept.join(", "));
        out.push(']');
    }
    // The delivery times: `"group": [items]` after " / delivery times ".
    match rest.split_once(" / delivery times ") {
        Some((before, times)) => {
            out.push_str(before);
            out.push_str(" / delivery times ");
            let mut times_rest = times;
            while let Some(open) = times_rest.find('[') {
                let close = open
                    + times_rest[open..]
                        .find(']')
                        .unwrap_or(times_rest.len() - open);
                out.push_str(&times_rest[..=open]);
                let kept: Vec<&str> = times_rest[open + 1..close]
                    .split(", ")
                    .filter(|i| !i.is_empty() && present.contains(pending_id(i).as_str()))
                    .collect();
                out.push_str(&kept.join(", "));
                times_rest = &times_rest[close..];
            }
            out.push_str(times_rest);
        }
        None => out.push_str(rest),
    }
    out
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The evidence of a failed run, kept after the test's temporary
/// directories go: the AOF files as the server left them when killed and
/// every writer's commands and replies, merged in the order they were sent
/// (`history.txt`: send and reply times in microseconds, thread, database).
fn keep_evidence(seed: u64, aof_copy: &Path, reports: &[FuzzReport]) -> PathBuf {
    let kept =
        std::env::temp_dir().join(format!("ferrocache-aof-fuzz-{seed}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&kept);
    std::fs::create_dir_all(kept.join("appendonlydir")).expect("create the evidence directory");
    for name in file_names(&aof_dir(aof_copy)) {
        let _ = std::fs::copy(
            aof_dir(aof_copy).join(&name),
            kept.join("appendonlydir").join(&name),
        );
    }
    let mut lines: Vec<&String> = reports.iter().flat_map(|r| &r.history).collect();
    lines.sort();
    let mut history = String::new();
    for line in lines {
        history.push_str(line);
        history.push('\n');
    }
    std::fs::write(kept.join("history.txt"), history).expect("write history.txt");
    kept
}

/// Every command of the mix ran and did something somewhere, so that a
/// pass means the mix was exercised: each name was answered without an
/// error at least once, and the blocking pops, claims and acks carried
/// something (a blocking pop served, an entry claimed).
fn assert_coverage(what: &str, reports: &[FuzzReport]) {
    let mut total: BTreeMap<&str, Outcomes> = BTreeMap::new();
    for r in reports {
        for (name, o) in &r.outcomes {
            let t = total.entry(name.as_str()).or_default();
            t.ok += o.ok;
            t.errors += o.errors;
            t.carried += o.carried;
        }
    }
    let ops: u64 = total.values().map(|o| o.ok + o.errors).sum();
    eprintln!("{what}: {ops} commands: {total:?}");
    let mut missing = Vec::new();
    for name in [
        "SET",
        "INCR",
        "INCRBYFLOAT",
        "APPEND",
        "SETRANGE",
        "GETDEL",
        "GETEX",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "LMOVE",
        "LTRIM",
        "LINSERT",
        "LREM",
        "BLPOP",
        "BLMOVE",
        "SADD",
        "SREM",
        "SPOP",
        "SMOVE",
        "SINTERSTORE",
        "SUNIONSTORE",
        "ZADD",
        "ZINCRBY",
        "ZPOPMIN",
        "ZUNIONSTORE",
        "ZREM",
        "BZPOPMIN",
        "HSET",
        "HINCRBY",
        "HINCRBYFLOAT",
        "HDEL",
        "XADD",
        "XGROUP",
        "XREADGROUP",
        "XACK",
        "XCLAIM",
        "XAUTOCLAIM",
        "XTRIM",
        "XDEL",
        "EXPIRE",
        "PEXPIRE",
        "PERSIST",
        "RENAME",
        "RENAMENX",
        "COPY",
        "MOVE",
        "DEL",
        "MULTI",
        "EXEC",
        "EVAL",
        "SELECT",
        "SWAPDB",
    ] {
        if total.get(name).map_or(0, |o| o.ok) == 0 {
            missing.push(format!("{name}: never answered without an error"));
        }
    }
    for name in [
        "BLPOP",
        "BLMOVE",
        "BZPOPMIN",
        "XREADGROUP",
        "XACK",
        "XCLAIM",
        "XAUTOCLAIM",
    ] {
        if total.get(name).map_or(0, |o| o.carried) == 0 {
            missing.push(format!(
                "{name}: never served, claimed or acknowledged anything"
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "{what}: the mix was not exercised:\n{}",
        missing.join("\n")
    );
}

/// The data set at the end of the run holds what the comparison means to
/// check: keys in both databases, streams with pending entries, keys
/// with a TTL that survives the restart.
fn assert_fuzz_shape(what: &str, st: &Snapshot) {
    let in_db = |db: u8| st.keys.keys().filter(|(d, _)| *d == db).count();
    assert!(
        in_db(0) >= 20 && in_db(1) >= 20,
        "{what}: {} keys in db0 and {} in db1 at the end",
        in_db(0),
        in_db(1)
    );
    assert!(
        st.keys
            .values()
            .any(|k| k.kind == "stream" && k.value.contains(" @")),
        "{what}: no stream with pending entries at the end"
    );
    assert!(
        st.keys.values().any(|k| k.pexpiretime > 0),
        "{what}: no key with a TTL at the end"
    );
}

fn random_concurrent_writes(kind: Kind) {
    concurrent_random_writes(kind, false);
}

fn random_concurrent_writes_with_rewrite(kind: Kind) {
    concurrent_random_writes(kind, true);
}

/// 8 writers run a random mix of writes, transactions, scripts, blocking
/// pops, TTLs and database moves for 3 s over a small shared keyspace,
/// so that they keep writing the same keys at the same time (with
/// `rewrite_midway`: `aof-use-rdb-preamble no` and a BGREWRITEAOF in the
/// middle). Then, with the writers stopped and the data read, the server
/// is killed (`kill -9`: the AOF must already hold everything) and
/// restarted on its directory: every key must be as it was (type, value,
/// expire time; for streams the entries, groups and pending entries with
/// consumers, delivery counts and delivery times). Writes to one key from
/// two connections that reached the file in another order than they ran
/// show up as a difference. Ferrocache's AOF is also loaded by
/// redis-server, which must read the same data (an AOF that only
/// Ferrocache replays to the same result is not Redis's format).
///
/// The seed is printed and named in every failure; `AOF_FUZZ_SEED=<n>`
/// reruns with it (the interleaving differs, the commands per thread are
/// the same until the replies differ). A difference keeps the AOF files
/// and every writer's history in a directory the failure names.
fn concurrent_random_writes(kind: Kind, rewrite_midway: bool) {
    let seed: u64 = std::env::var("AOF_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    let what = format!(
        "{}{}, seed {seed} (AOF_FUZZ_SEED={seed} to rerun)",
        kind.name(),
        if rewrite_midway {
            ", aof-use-rdb-preamble no, BGREWRITEAOF midway"
        } else {
            ""
        }
    );
    eprintln!("{what}");
    let dir = TempDir::new("aof-fuzz");
    let mut args = vec!["--appendonly", "yes", "--appendfsync", "everysec"];
    if rewrite_midway {
        args.extend_from_slice(&["--aof-use-rdb-preamble", "no"]);
    }
    let mut node = fuzz_server(kind, &dir.0, &args);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<JoinHandle<FuzzReport>> = (0..FUZZ_THREADS)
        .map(|t| {
            let url = node.url();
            let stop = stop.clone();
            std::thread::spawn(move || FuzzWriter::new(kind, &url, seed, t, started).run(&stop))
        })
        .collect();
    let mut c = connect(&node);
    if rewrite_midway {
        std::thread::sleep(FUZZ_RUN / 2);
        qs(&mut c, &["BGREWRITEAOF"]);
        std::thread::sleep(FUZZ_RUN / 2);
    } else {
        std::thread::sleep(FUZZ_RUN);
    }
    stop.store(true, Ordering::Relaxed);
    let reports = join_all(handles);
    if rewrite_midway {
        wait_rewrite_done(&mut c);
        assert!(
            field_num(&mut c, "persistence", "aof_rewrites") >= 1,
            "{what}: no rewrite done"
        );
    }
    assert_coverage(&what, &reports);
    assert!(
        field_num(&mut c, "stats", "expired_keys") > 0,
        "{what}: no key expired during the run"
    );
    // The writes are in the file already (see crash_safety_fsync_everysec);
    // the wait is for a server that writes them only at its next fsync
    // round (everysec), and outlasts every short TTL: no key expires while
    // the snapshot reads it (a stream vanishing between two of its reads
    // would fail the read).
    std::thread::sleep(Duration::from_millis(
        1200.max(FUZZ_SHORT_TTL_MS.end as u64 + 100),
    ));
    let before = snapshot(&mut c);
    let read_at = server_time_ms(&mut c);
    assert_fuzz_shape(&what, &settled(&before, read_at + FUZZ_TTL_MARGIN_MS));
    if kind == Kind::Redis {
        // See crash_safety_fsync_everysec: redis-server may still hold
        // acknowledged writes (and the DELs of keys the snapshot found
        // expired) in its buffer.
        wait_until(Duration::from_secs(10), "the AOF buffer to drain", || {
            field(&mut c, "persistence", "aof_buffer_length") == "0"
        });
    }
    drop(c);
    kill_9(&mut node);
    check_aof(&what, &manifest_path(&dir.0));
    // The files exactly as the killed server left them (the evidence on a
    // failure, and what redis-server loads).
    let killed_files = copy_aof_dir(&dir.0, "aof-fuzz-killed");

    let node = fuzz_server(kind, &dir.0, &args);
    let mut c = connect(&node);
    let after = snapshot(&mut c);
    let mut cutoff = (read_at + FUZZ_TTL_MARGIN_MS).max(server_time_ms(&mut c) + 1000);
    // Both comparisons run, and a failure names every difference of
    // both: a difference only after Ferrocache's own restart points at
    // its loading, one in redis-server's load too at the file.
    let compare_settled = |label: &str, servers: &[Kind], actual: &Snapshot, cutoff: i64| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (mut expected, mut actual) = (settled(&before, cutoff), settled(actual, cutoff));
            // In this order: a consumer whose pending entries were all of
            // deleted entries is idle once they are gone.
            if rewrite_midway {
                expected = without_pending_of_deleted(&expected);
                actual = without_pending_of_deleted(&actual);
            }
            if servers.contains(&Kind::Redis) {
                expected = without_idle_consumers(&expected);
                actual = without_idle_consumers(&actual);
            }
            compare_loaded(&format!("{what}: {label}"), servers, &expected, &actual)
        }))
        .err()
        .map(|payload| panic_text(&*payload))
    };
    let mut failures: Vec<String> = Vec::new();
    failures.extend(compare_settled(
        "after kill -9 and a restart",
        &[kind],
        &after,
        cutoff,
    ));
    if kind == Kind::Ferrocache {
        let loaded_copy = copy_aof_dir(&killed_files.0, "aof-fuzz-redis");
        let reference = fuzz_server(Kind::Redis, &loaded_copy.0, AOF);
        let mut r = connect(&reference);
        let loaded = snapshot(&mut r);
        cutoff = cutoff.max(server_time_ms(&mut r) + 1000);
        failures.extend(compare_settled(
            "loaded by redis-server",
            &[Kind::Ferrocache, Kind::Redis],
            &loaded,
            cutoff,
        ));
    }
    if !failures.is_empty() {
        let kept = keep_evidence(seed, &killed_files.0, &reports);
        panic!(
            "{}\nThe AOF files and every writer's history are kept in {}",
            failures.join("\n\n"),
            kept.display()
        );
    }
}

/// The relaxations of the comparison remove what they mean to and
/// nothing else.
#[test]
fn snapshot_relaxations() {
    let stream = r#"[["1-1", ["f", "a"]], ["3-0", ["f", "b"]]] / length=2 groups=1 / groups {name="g" consumers=3 pending=3 last-delivered-id="3-0" consumers ["c1":2, "c2":1, "c3":0] pending ["1-1" "c1" x1, "2-0" "c1" x2, "3-0" "c2" x1]} / delivery times "g": ["1-1" "c1" @5, "2-0" "c1" @6, "3-0" "c2" @7]"#;
    assert_eq!(
        stream_without_pending_of_deleted(stream),
        r#"[["1-1", ["f", "a"]], ["3-0", ["f", "b"]]] / length=2 groups=1 / groups {name="g" consumers=3 pending=2 last-delivered-id="3-0" consumers ["c1":1, "c2":1, "c3":0] pending ["1-1" "c1" x1, "3-0" "c2" x1]} / delivery times "g": ["1-1" "c1" @5, "3-0" "c2" @7]"#
    );
    let key = |value: &str| KeyState {
        kind: "stream".into(),
        value: value.into(),
        pexpiretime: -1,
    };
    let st = Snapshot {
        keys: BTreeMap::from([((0, b"s".to_vec()), key(stream))]),
        functions: String::new(),
    };
    assert_eq!(
        without_idle_consumers(&st).keys[&(0, b"s".to_vec())].value,
        r#"[["1-1", ["f", "a"]], ["3-0", ["f", "b"]]] / length=2 groups=1 / groups {name="g" pending=3 last-delivered-id="3-0" consumers ["c1":2, "c2":1] pending ["1-1" "c1" x1, "2-0" "c1" x2, "3-0" "c2" x1]} / delivery times "g": ["1-1" "c1" @5, "2-0" "c1" @6, "3-0" "c2" @7]"#
    );
    // A stream without pending entries of deleted entries is unchanged.
    let clean = r#"[["1-1", ["f", "a"]]] / length=1 / groups {name="g" consumers=1 pending=1 consumers ["c1":1] pending ["1-1" "c1" x1]} / delivery times "g": ["1-1" "c1" @5]"#;
    assert_eq!(stream_without_pending_of_deleted(clean), clean);
}

// ---------------------------------------------------------------------------
// The tests: each scenario against redis-server and against Ferrocache

macro_rules! variants {
    ($($name:ident),* $(,)?) => {
        /// The scenarios against redis-server 7.0.15, the reference.
        mod redis_server {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Kind::Redis)
                }
            )*
        }

        /// The same scenarios against Ferrocache.
        mod ferrocache {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Kind::Ferrocache)
                }
            )*
        }
    };
}

variants!(
    recovery_after_shutdown_nosave,
    recovery_after_kill_9,
    layout_and_redis_check_aof,
    cross_loading,
    bgrewriteaof_under_writes,
    config_set_appendonly_under_writes,
    crash_safety_fsync_always,
    crash_safety_fsync_everysec,
    truncated_aof,
    corrupt_aof,
    info_persistence,
    rdb_preamble,
    appendonly_at_startup_ignores_dump_rdb,
    random_concurrent_writes,
    random_concurrent_writes_with_rewrite,
);
