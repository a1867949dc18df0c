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
//! startup; INFO persistence; `aof-use-rdb-preamble`; and an existing
//! dump.rdb ignored when the AOF is turned on at startup.
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
//! can lose acknowledged writes ([`crash_safety_fsync_everysec`]). The
//! redis-server variant of [`cross_loading`] is the control experiment
//! (its own directory, copied, reloads identically).
//!
//! Every server runs in a fresh temporary directory (`--dir`, no save
//! points); the redis-server instances use ports 7360-7379. A missing
//! redis-server or redis-check-aof is a failure, not a skip. Every process
//! is a [`Proc`], killed when dropped, also when a test fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    connect_with_timeouts, ferrocache_startup_failure, info_field, join_all, spawn_ferrocache,
    wait_until, Proc, TempDir,
};
use rand::Rng;
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

/// The redis-server command line for `dir` on `port`, logging to
/// `dir/redis.log`.
fn redis_command(dir: &Path, port: u16, extra: &[&str]) -> Command {
    let log = dir.join("redis.log");
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", dir.to_str().expect("utf-8 temp dir")])
        .args(["--save", "", "--daemonize", "no"])
        .args(["--logfile", log.to_str().expect("utf-8 temp dir")])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Starts redis-server in `dir` on a port of this file's range and waits
/// until it has loaded its data; returns it with its log so far.
fn redis_in(dir: &Path, extra: &[&str]) -> (Proc, String) {
    let log = dir.join("redis.log");
    for _ in 0..20 {
        let port = next_redis_port();
        let _ = std::fs::remove_file(&log);
        let child = redis_command(dir, port, extra)
            .spawn()
            .expect("start redis-server (is it installed?)");
        let mut node = Proc { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = node.child.try_wait().expect("try_wait") {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("Address already in use") {
                    break; // another process has that port: try the next one
                }
                panic!("redis-server exited ({status}) on port {port}:\n{text}");
            }
            if redis_ready(port, node.child.id()) {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return (node, text);
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("redis-server did not start on any port of 7360-7379");
}

/// Runs redis-server in `dir` expecting a startup failure: its exit status
/// and log. Fails the test (after killing it) if it starts serving.
fn redis_startup_failure(dir: &Path, extra: &[&str]) -> (ExitStatus, String) {
    let log = dir.join("redis.log");
    for _ in 0..20 {
        let port = next_redis_port();
        let _ = std::fs::remove_file(&log);
        let child = redis_command(dir, port, extra)
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
            if redis_ready(port, node.child.id()) {
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

/// Is the server on `port` the process `pid`, done loading its data?
fn redis_ready(port: u16, pid: u32) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return false;
    };
    let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return false;
    };
    let Ok(info) = redis::cmd("INFO").query::<String>(&mut c) else {
        return false;
    };
    info_field(&info, "process_id") == Some(pid.to_string())
        && info_field(&info, "loading").as_deref() == Some("0")
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
    let c = redis::Client::open(url)
        .expect("client")
        .get_connection()
        .expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    c.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    c
}

/// Runs a command given as byte strings; an error reply fails the test.
fn q(c: &mut redis::Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(c) {
        Ok(v) => v,
        Err(e) => panic!("{}: {e}", show_args(args)),
    }
}

/// Runs a command given as strings; an error reply fails the test.
fn qs(c: &mut redis::Connection, args: &[&str]) -> Value {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    q(c, &a)
}

fn show_args(args: &[&[u8]]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if s.len() > 60 {
                format!("{}...({} bytes)", &s[..60], a.len())
            } else {
                s.into_owned()
            }
        })
        .collect();
    shown.join(" ")
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
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
);
