//! Server configuration: every parameter with its type, default and bounds,
//! redis.conf-style file parsing (units, quotes, `include`), CONFIG GET (globs),
//! atomic multi-parameter CONFIG SET and CONFIG REWRITE.
//!
//! Values are kept as their canonical form (what CONFIG GET prints): text,
//! except that a string parameter keeps the bytes it was set to, invalid
//! UTF-8 included, as Redis does. A few that the hot path reads are
//! mirrored into atomics ([`Hot`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use keyspace::glob::glob_match;

use crate::error::fill;
use parking_lot::RwLock;

/// How a parameter's value is checked and printed.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count with units (`1gb`, `100mb`, `1k`); printed as a plain number.
    Memory {
        min: i64,
        max: i64,
    },
    Enum(&'static [&'static str]),
    Str,
    /// A string checked by a custom function.
    Special(fn(&str) -> Result<String, String>),
}

/// One configuration parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub mutable: bool,
    /// Left out of CONFIG GET with a pattern (named exactly, it answers).
    pub hidden: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        mutable: true,
        hidden: false,
    }
}

const fn fixed(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        mutable: false,
        hidden: false,
    }
}

const fn aka(mut param: Param, alias: &'static str) -> Param {
    param.alias = Some(alias);
    param
}

const fn hidden(mut param: Param) -> Param {
    param.hidden = true;
    param
}

const BOOL: Kind = Kind::Bool;
const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}
const fn mem(min: i64, max: i64) -> Kind {
    Kind::Memory { min, max }
}
const INT_MAX: i64 = i32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;

/// `maxmemory-policy` values; [`Hot::maxmemory_policy`] holds an index.
pub const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Every parameter Ferrocache knows. Parameters whose feature has not landed
/// yet are listed in docs/compatibility.md: they are validated and stored so
/// configurations and clients that set them keep working.
pub static PARAMS: &[Param] = &[
    p("port", int(0, 65535), "6379"),
    p("bind", Kind::Str, "127.0.0.1"),
    fixed("io-threads", int(1, 128), "0"),
    fixed("databases", int(1, INT_MAX), "16"),
    // How connections are placed on the worker threads (server crate's
    // `balance`): round robin over all, or on as few as their load needs.
    p(
        "worker-placement",
        Kind::Enum(&["spread", "elastic"]),
        "elastic",
    ),
    // How long (µs) a worker that just served connections polls for more
    // before it sleeps (server crate's `worker`); 0 (the default) never
    // spins.
    p("worker-spin-us", int(0, 1000), "0"),
    fixed("daemonize", BOOL, "no"),
    fixed("unixsocket", Kind::Str, ""),
    fixed("pidfile", Kind::Str, ""),
    fixed("logfile", Kind::Str, ""),
    fixed(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
    ),
    fixed("cluster-enabled", BOOL, "no"),
    fixed("tcp-backlog", int(0, INT_MAX), "511"),
    p("requirepass", Kind::Str, ""),
    fixed("aclfile", Kind::Str, ""),
    p("maxclients", int(1, u32::MAX as i64), "10000"),
    p("timeout", int(0, INT_MAX), "0"),
    p("tcp-keepalive", int(0, INT_MAX), "300"),
    p("protected-mode", BOOL, "yes"),
    // TLS (see the server crate's `tls` module): any change rebuilds the
    // TLS settings new connections get, or is refused.
    p("tls-port", int(0, 65535), "0"),
    p("tls-cert-file", Kind::Str, ""),
    p("tls-key-file", Kind::Str, ""),
    p("tls-key-file-pass", Kind::Str, ""),
    p("tls-client-cert-file", Kind::Str, ""),
    p("tls-client-key-file", Kind::Str, ""),
    p("tls-client-key-file-pass", Kind::Str, ""),
    p("tls-dh-params-file", Kind::Str, ""),
    p("tls-ca-cert-file", Kind::Str, ""),
    p("tls-ca-cert-dir", Kind::Str, ""),
    p(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
    ),
    p("tls-protocols", Kind::Str, ""),
    p("tls-ciphers", Kind::Str, ""),
    p("tls-ciphersuites", Kind::Str, ""),
    p("tls-prefer-server-ciphers", BOOL, "no"),
    p("tls-session-caching", BOOL, "yes"),
    p("tls-session-cache-size", int(0, INT_MAX), "20480"),
    p("tls-session-cache-timeout", int(0, INT_MAX), "300"),
    p("tls-replication", BOOL, "no"),
    p("tls-cluster", BOOL, "no"),
    p(
        "proto-max-bulk-len",
        mem(1024 * 1024, LONG_MAX),
        "536870912",
    ),
    p(
        "client-query-buffer-limit",
        mem(1024 * 1024, LONG_MAX),
        "1073741824",
    ),
    p("hz", Kind::Special(check_hz), "10"),
    p("dynamic-hz", BOOL, "yes"),
    p("active-expire-effort", int(1, 10), "1"),
    p("slowlog-log-slower-than", int(-1, LONG_MAX), "10000"),
    p("slowlog-max-len", int(0, LONG_MAX), "128"),
    p("latency-monitor-threshold", int(0, LONG_MAX), "0"),
    p(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        "notice",
    ),
    p(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "local",
    ),
    p("lazyfree-lazy-user-flush", BOOL, "no"),
    p("lazyfree-lazy-user-del", BOOL, "no"),
    p("lazyfree-lazy-server-del", BOOL, "no"),
    p("lazyfree-lazy-expire", BOOL, "no"),
    p("lazyfree-lazy-eviction", BOOL, "no"),
    p("maxmemory", mem(0, LONG_MAX), "0"),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction"),
    p("maxmemory-samples", int(1, 64), "5"),
    p("maxmemory-eviction-tenacity", int(0, 100), "10"),
    p("lfu-log-factor", int(0, INT_MAX), "10"),
    p("lfu-decay-time", int(0, INT_MAX), "1"),
    p("dir", Kind::Special(check_dir), "."),
    p("dbfilename", Kind::Special(check_dbfilename), "dump.rdb"),
    fixed(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    p("save", Kind::Special(check_save), "3600 1 300 100 60 10000"),
    p("appendonly", BOOL, "no"),
    p("aof-load-truncated", BOOL, "yes"),
    p("aof-timestamp-enabled", BOOL, "no"),
    p("no-appendfsync-on-rewrite", BOOL, "no"),
    p(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
    ),
    fixed("appendfilename", Kind::Str, "appendonly.aof"),
    fixed("appenddirname", Kind::Str, "appendonlydir"),
    p("rdbcompression", BOOL, "yes"),
    p("rdbchecksum", BOOL, "yes"),
    p("stop-writes-on-bgsave-error", BOOL, "yes"),
    p("notify-keyspace-events", Kind::Special(check_notify), ""),
    aka(
        p("hash-max-listpack-entries", int(0, LONG_MAX), "512"),
        "hash-max-ziplist-entries",
    ),
    aka(
        p("hash-max-listpack-value", int(0, LONG_MAX), "64"),
        "hash-max-ziplist-value",
    ),
    aka(
        p(
            "list-max-listpack-size",
            int(i32::MIN as i64, INT_MAX),
            "-2",
        ),
        "list-max-ziplist-size",
    ),
    p("list-compress-depth", int(0, INT_MAX), "0"),
    p("set-max-intset-entries", int(0, LONG_MAX), "512"),
    p("set-max-listpack-entries", int(0, LONG_MAX), "128"),
    p("set-max-listpack-value", int(0, LONG_MAX), "64"),
    aka(
        p("zset-max-listpack-entries", int(0, LONG_MAX), "128"),
        "zset-max-ziplist-entries",
    ),
    aka(
        p("zset-max-listpack-value", int(0, LONG_MAX), "64"),
        "zset-max-ziplist-value",
    ),
    p("hll-sparse-max-bytes", mem(0, LONG_MAX), "3000"),
    p("stream-node-max-bytes", mem(0, LONG_MAX), "4096"),
    p("stream-node-max-entries", int(0, LONG_MAX), "100"),
    aka(
        p("busy-reply-threshold", int(0, LONG_MAX), "5000"),
        "lua-time-limit",
    ),
    // `newproxy`, `setfenv` and `getfenv` in scripts (Redis removed them
    // from the sandbox: they reach past the read-only globals).
    hidden(fixed("lua-enable-deprecated-api", BOOL, "no")),
    p(
        "client-output-buffer-limit",
        Kind::Special(check_obuf),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    p("tracking-table-max-keys", int(0, LONG_MAX), "1000000"),
    p("acllog-max-len", int(0, LONG_MAX), "128"),
    p("activerehashing", BOOL, "yes"),
    p("activedefrag", BOOL, "no"),
    p("latency-tracking", BOOL, "yes"),
    p(
        "latency-tracking-info-percentiles",
        Kind::Special(crate::latency::check_percentiles),
        "50 99 99.9",
    ),
    p("replica-read-only", BOOL, "yes"),
    p("repl-backlog-size", mem(1, LONG_MAX), "1048576"),
    p("min-replicas-to-write", int(0, INT_MAX), "0"),
    p("min-replicas-max-lag", int(0, INT_MAX), "10"),
    p("replica-serve-stale-data", BOOL, "yes"),
    p("repl-diskless-sync", BOOL, "yes"),
    p("repl-diskless-sync-delay", int(0, INT_MAX), "5"),
    p("repl-diskless-sync-max-replicas", int(0, INT_MAX), "0"),
    p(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    p("repl-timeout", int(1, INT_MAX), "60"),
    aka(
        p("repl-ping-replica-period", int(1, INT_MAX), "10"),
        "repl-ping-slave-period",
    ),
    p("repl-backlog-ttl", int(0, INT_MAX), "3600"),
    p("repl-disable-tcp-nodelay", BOOL, "no"),
    aka(
        p("replica-priority", int(0, INT_MAX), "100"),
        "slave-priority",
    ),
    aka(p("replica-announce-ip", Kind::Str, ""), "slave-announce-ip"),
    aka(
        p("replica-announce-port", int(0, 65535), "0"),
        "slave-announce-port",
    ),
    p("replica-announced", BOOL, "yes"),
    aka(
        p("replica-ignore-maxmemory", BOOL, "yes"),
        "slave-ignore-maxmemory",
    ),
    p("masterauth", Kind::Str, ""),
    p("masteruser", Kind::Str, ""),
    aka(p("replicaof", Kind::Str, ""), "slaveof"),
    p("aof-use-rdb-preamble", BOOL, "yes"),
    p("auto-aof-rewrite-percentage", int(0, INT_MAX), "100"),
    p("auto-aof-rewrite-min-size", mem(0, LONG_MAX), "67108864"),
    p("shutdown-timeout", int(0, INT_MAX), "10"),
    p(
        "maxmemory-clients",
        Kind::Special(check_memory_or_percent),
        "0",
    ),
    p(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
    ),
];

/// Looks a parameter up by name or alias (case-insensitive).
pub fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// A memory value or a percentage of maxmemory (`maxmemory-clients`).
fn check_memory_or_percent(v: &str) -> Result<String, String> {
    if let Some(pct) = v.strip_suffix('%') {
        let n = crate::args::parse_i64(pct.as_bytes())
            .filter(|n| *n >= 0)
            .ok_or("argument must be a memory or percent value")?;
        if n > 100 {
            return Err("percentage argument must be less or equal to 100".into());
        }
        return Ok(format!("{n}%"));
    }
    parse_memory(v)
        .filter(|n| *n >= 0)
        .map(|n| n.to_string())
        .ok_or_else(|| "argument must be a memory or percent value".into())
}

fn check_save(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    if !parts.len().is_multiple_of(2) || parts.iter().any(|x| x.parse::<u64>().is_err()) {
        return Err("Invalid save parameters".into());
    }
    Ok(parts.join(" "))
}

/// A directory that exists, kept as its absolute path (Redis changes into
/// it, and CONFIG GET shows where it is).
fn check_dir(v: &str) -> Result<String, String> {
    let path = std::fs::canonicalize(v).map_err(|e| io_reason(&e))?;
    if !path.is_dir() {
        return Err("Not a directory".into());
    }
    Ok(path.to_string_lossy().into_owned())
}

/// What C's strerror says for an I/O error (Redis's wording).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// A file name without a directory part (the file lives in `dir`).
fn check_dbfilename(v: &str) -> Result<String, String> {
    if v.contains('/') {
        return Err("dbfilename can't be a path, just a filename".into());
    }
    Ok(v.to_string())
}

/// An integer 0..=INT_MAX, kept within 1..=500 as Redis's `updateHZ` does
/// (CONFIG GET then shows the clamped value).
fn check_hz(v: &str) -> Result<String, String> {
    let n: i64 = validate(&p("hz", int(0, INT_MAX), "10"), v)?
        .parse()
        .unwrap_or(10);
    Ok(n.clamp(1, 500).to_string())
}

fn check_notify(v: &str) -> Result<String, String> {
    // Canonical order as Redis prints it (keyspaceEventsFlagsToString).
    let mut flags = std::collections::BTreeSet::new();
    for c in v.chars() {
        if !"Ag$lshzxeKEtmdn".contains(c) {
            return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into());
        }
        flags.insert(c);
    }
    // 'A' stands for all classes but 'n' (new keys); 'n' is printed only
    // when not all of them are set (Redis 7.0 loses it after 'A').
    let all = ['g', '$', 'l', 's', 'h', 'z', 'x', 'e', 't', 'd'];
    if flags.contains(&'A') {
        flags.extend(all);
    }
    let has = |c| flags.contains(&c);
    let mut out = String::new();
    if all.iter().all(|c| has(*c)) {
        out.push('A');
    } else {
        for c in all.into_iter().chain(['n']) {
            if has(c) {
                out.push(c);
            }
        }
    }
    for c in ['K', 'E', 'm'] {
        if has(c) {
            out.push(c);
        }
    }
    Ok(out)
}

fn check_obuf(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    if !parts.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut classes: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    let current = [
        ("normal", [0, 0, 0]),
        ("slave", [268435456, 67108864, 60]),
        ("pubsub", [33554432, 8388608, 60]),
    ];
    for (c, l) in current {
        classes.insert(c, l);
    }
    for chunk in parts.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(chunk[1])
            .ok_or("Error in hard, soft or soft_seconds setting in buffer limit configuration.")?;
        let soft = parse_memory(chunk[2])
            .ok_or("Error in hard, soft or soft_seconds setting in buffer limit configuration.")?;
        let secs: i64 = chunk[3].parse().map_err(|_| {
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        })?;
        if hard < 0 || soft < 0 || secs < 0 {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        }
        classes.insert(class, [hard as u64, soft as u64, secs as u64]);
    }
    let order = ["normal", "slave", "pubsub"];
    Ok(order
        .iter()
        .map(|c| {
            let l = classes[c];
            format!("{c} {} {} {}", l[0], l[1], l[2])
        })
        .collect::<Vec<_>>()
        .join(" "))
}

/// Parses a memory value like Redis's `memtoull`: digits and an optional unit,
/// `b`=1, `k`=1000, `kb`=1024, `m`, `mb`, `g`, `gb` (case-insensitive). No sign.
pub fn parse_memory(s: &str) -> Option<i64> {
    // No digits at all reads as 0 ("" or "gb"), as strtoull does in memtoull.
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let mul: i64 = match s[digits..].to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits == 0 {
        return Some(0);
    }
    s[..digits].parse::<i64>().ok()?.checked_mul(mul)
}

/// Checks a value for a parameter; returns its canonical text or the reason.
pub fn validate(param: &Param, value: &str) -> Result<String, String> {
    match param.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => {
            let v = crate::args::parse_i64(value.as_bytes())
                .ok_or("argument couldn't be parsed into an integer")?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(v.to_string())
        }
        Kind::Memory { min, max } => {
            let v = parse_memory(value).ok_or("argument must be a memory value")?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(v.to_string())
        }
        Kind::Enum(options) => options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(value))
            .map(|o| o.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                )
            }),
        Kind::Str => Ok(value.to_string()),
        Kind::Special(check) => check(value),
    }
}

/// Checks a value given as bytes: a string parameter takes any bytes,
/// the others must read as text.
fn validate_bytes(param: &Param, value: &[u8]) -> Result<Vec<u8>, String> {
    match param.kind {
        Kind::Str => Ok(value.to_vec()),
        _ => validate(param, &String::from_utf8_lossy(value)).map(String::into_bytes),
    }
}

/// Values the command path reads on every request, mirrored from the text values.
#[derive(Default)]
pub struct Hot {
    pub maxclients: AtomicU64,
    pub proto_max_bulk_len: AtomicI64,
    pub client_query_buffer_limit: AtomicU64,
    pub slowlog_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// `latency-monitor-threshold` (ms, 0 = off) and `latency-tracking`.
    pub latency_monitor_threshold: AtomicU64,
    pub latency_tracking: AtomicBool,
    pub timeout_secs: AtomicU64,
    /// `client-output-buffer-limit normal`: hard and soft bytes (0 = none)
    /// and the soft limit's seconds.
    pub obuf_normal_hard: AtomicU64,
    pub obuf_normal_soft: AtomicU64,
    pub obuf_normal_soft_secs: AtomicU64,
    pub hz: AtomicU64,
    pub active_expire_effort: AtomicU64,
    pub lazy_user_del: AtomicBool,
    pub lazy_user_flush: AtomicBool,
    pub lazy_eviction: AtomicBool,
    /// Encoding conversion thresholds (the `*-max-listpack-*` family).
    pub list_max_listpack_size: AtomicI64,
    pub hash_max_listpack_entries: AtomicU64,
    pub hash_max_listpack_value: AtomicU64,
    pub set_max_intset_entries: AtomicU64,
    pub set_max_listpack_entries: AtomicU64,
    pub set_max_listpack_value: AtomicU64,
    pub zset_max_listpack_entries: AtomicU64,
    pub zset_max_listpack_value: AtomicU64,
    pub tracking_table_max_keys: AtomicU64,
    pub stream_node_max_bytes: AtomicU64,
    pub stream_node_max_entries: AtomicU64,
    /// Eviction: `maxmemory` (0 = none), the index of `maxmemory-policy` in
    /// [`POLICIES`], `maxmemory-samples`, `maxmemory-eviction-tenacity`.
    pub maxmemory: AtomicU64,
    pub maxmemory_policy: AtomicU64,
    pub maxmemory_samples: AtomicU64,
    pub eviction_tenacity: AtomicU64,
    /// `appendfsync always`: the AOF is synced before each reply.
    pub appendfsync_always: AtomicBool,
    /// `worker-spin-us`.
    pub worker_spin_us: AtomicU64,
}

impl Hot {
    /// The current encoding thresholds, for collection writes.
    pub fn limits(&self) -> types::Limits {
        let u = |a: &AtomicU64| a.load(Ordering::Relaxed) as usize;
        types::Limits {
            list_max_listpack_size: self.list_max_listpack_size.load(Ordering::Relaxed),
            hash_max_listpack_entries: u(&self.hash_max_listpack_entries),
            hash_max_listpack_value: u(&self.hash_max_listpack_value),
            set_max_intset_entries: u(&self.set_max_intset_entries),
            set_max_listpack_entries: u(&self.set_max_listpack_entries),
            set_max_listpack_value: u(&self.set_max_listpack_value),
            zset_max_listpack_entries: u(&self.zset_max_listpack_entries),
            zset_max_listpack_value: u(&self.zset_max_listpack_value),
        }
    }
}

/// The live configuration.
pub struct Config {
    values: RwLock<BTreeMap<&'static str, Vec<u8>>>,
    /// The file the server was started with (CONFIG REWRITE writes it back).
    pub file: Option<PathBuf>,
    pub hot: Hot,
    /// Applies changes that reach outside the configuration (listening on a
    /// new port): installed by the server, called by CONFIG SET.
    apply_hook: RwLock<Option<ApplyHook>>,
    /// A `save` directive was read: later ones add to it, while the first
    /// replaces the default save points (as Redis's loader does).
    save_loaded: std::sync::atomic::AtomicBool,
    /// `user` directives of the file, each one's words (name, rules...):
    /// applied to the node's ACL at startup.
    pub users: parking_lot::Mutex<Vec<Vec<String>>>,
    /// `rename-command` directives of the file (old name, new name; an
    /// empty new name removes the command), applied to the node's command
    /// table at startup.
    pub renames: parking_lot::Mutex<Vec<(String, String)>>,
}

/// Applies one changed parameter (name, new value) outside the configuration;
/// an error makes CONFIG SET roll every parameter of the call back.
pub type ApplyHook = Box<dyn Fn(&Config, &str, &str) -> Result<(), String> + Send + Sync>;

/// A configuration file error, located.
#[derive(Debug)]
pub struct FileError {
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            // Not about a line (the file itself cannot be read): the reason names it.
            return f.write_str(&self.reason);
        }
        write!(
            f,
            "*** FATAL CONFIG FILE ERROR ***\nReading the configuration file {}, at line {}\n>>> '{}'\n{}",
            self.file.display(),
            self.line,
            self.text,
            self.reason
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    pub fn new() -> Self {
        let values = PARAMS
            .iter()
            .map(|p| (p.name, p.default.as_bytes().to_vec()))
            .collect();
        let c = Config {
            values: RwLock::new(values),
            file: None,
            hot: Hot::default(),
            apply_hook: RwLock::new(None),
            save_loaded: std::sync::atomic::AtomicBool::new(false),
            users: Default::default(),
            renames: Default::default(),
        };
        c.refresh_hot();
        c
    }

    /// A value as text (a string parameter's invalid UTF-8 shows as U+FFFD).
    pub fn get(&self, name: &str) -> String {
        String::from_utf8(self.get_bytes(name))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// A value as it was set (passwords, names: any bytes).
    pub fn get_bytes(&self, name: &str) -> Vec<u8> {
        let key = find_param(name).map(|p| p.name).unwrap_or(name);
        self.values.read().get(key).cloned().unwrap_or_default()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// `client-output-buffer-limit` for one class (`normal`, `slave`,
    /// `pubsub`: the names the stored value uses): (hard, soft, soft
    /// seconds), in bytes and seconds; 0 means no limit.
    pub fn output_buffer_limits(&self, class: &str) -> (u64, u64, u64) {
        let v = self.get("client-output-buffer-limit");
        let parts: Vec<&str> = v.split_whitespace().collect();
        parts
            .chunks(4)
            .find(|c| c.len() == 4 && c[0] == class)
            .map(|c| {
                let n = |s: &str| s.parse::<u64>().unwrap_or(0);
                (n(c[1]), n(c[2]), n(c[3]))
            })
            .unwrap_or((0, 0, 0))
    }

    /// The `save` value after one more `save` directive (file or command
    /// line): the first replaces the default save points, later ones add
    /// theirs, `""` clears them (as Redis's loader does).
    pub fn save_directive(&self, value: &str) -> String {
        let first = !self
            .save_loaded
            .swap(true, std::sync::atomic::Ordering::Relaxed);
        let prev = self.get("save");
        if first || value.is_empty() || prev.is_empty() {
            value.to_string()
        } else {
            format!("{prev} {value}")
        }
    }

    /// Sets a value at startup (file or command line), also immutable ones.
    pub fn set_startup(&self, name: &str, value: &[u8]) -> Result<(), String> {
        let param = find_param(name).ok_or("Bad directive or wrong number of arguments")?;
        let v = validate_bytes(param, value)?;
        self.values.write().insert(param.name, v);
        self.refresh_hot();
        Ok(())
    }

    /// CONFIG SET of several (name, value) pairs: all are validated first
    /// and applied together, or none is. The error quotes the name as sent.
    pub fn set_many(&self, pairs: &[(&[u8], &[u8])]) -> Result<(), Vec<u8>> {
        let mut staged: Vec<(&'static str, Vec<u8>)> = Vec::with_capacity(pairs.len());
        for &(name, value) in pairs {
            let Some(param) = std::str::from_utf8(name).ok().and_then(find_param) else {
                return Err(fill(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    &[name],
                ));
            };
            let fail = |why: &str| {
                fill(
                    &format!("ERR CONFIG SET failed (possibly related to argument '{{}}') - {why}"),
                    &[name],
                )
            };
            if staged.iter().any(|(n, _)| *n == param.name) {
                return Err(fail("duplicate parameter"));
            }
            if !param.mutable {
                return Err(fail("can't set immutable config"));
            }
            let v = validate_bytes(param, value).map_err(|e| fail(&e))?;
            staged.push((param.name, v));
        }
        let old: Vec<Vec<u8>> = {
            let mut values = self.values.write();
            staged
                .iter()
                .map(|(n, v)| values.insert(n, v.clone()).unwrap_or_default())
                .collect()
        };
        let hook = self.apply_hook.read();
        if let Some(hook) = hook.as_ref() {
            for (i, (name, value)) in staged.iter().enumerate() {
                if *value == old[i] {
                    continue;
                }
                if let Err(why) = hook(self, name, &String::from_utf8_lossy(value)) {
                    // Roll back: restore every value, undo what was applied.
                    let mut values = self.values.write();
                    for (j, (n, _)) in staged.iter().enumerate() {
                        values.insert(n, old[j].clone());
                    }
                    drop(values);
                    for (j, (n, _)) in staged.iter().enumerate().take(i) {
                        let _ = hook(self, n, &String::from_utf8_lossy(&old[j]));
                    }
                    return Err(fill(
                        &format!(
                            "ERR CONFIG SET failed (possibly related to argument '{{}}') - {why}"
                        ),
                        &[pairs[i].0],
                    ));
                }
            }
        }
        drop(hook);
        self.refresh_hot();
        Ok(())
    }

    pub fn set_apply_hook(&self, hook: ApplyHook) {
        *self.apply_hook.write() = Some(hook);
    }

    /// (name, value) of every parameter (aliases included) matching `pattern`.
    /// Like Redis, an exact (non-glob) name is reported as the client spelled
    /// it, and names already in `out` are not repeated (case-insensitively).
    pub fn get_matching(&self, pattern: &[u8], out: &mut Vec<(String, Vec<u8>)>) {
        let values = self.values.read();
        let seen = |out: &[(String, Vec<u8>)], name: &str| {
            out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let has_glob = pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        if !has_glob {
            let name = String::from_utf8_lossy(pattern).into_owned();
            if let Some(param) = find_param(&name) {
                if !seen(out, &name) {
                    out.push((name, values[param.name].clone()));
                }
            }
            return;
        }
        for param in PARAMS.iter().filter(|p| !p.hidden) {
            let names = std::iter::once(param.name).chain(param.alias);
            for name in names {
                if glob_match(pattern, name.as_bytes(), true) && !seen(out, name) {
                    out.push((name.to_string(), values[param.name].clone()));
                }
            }
        }
    }

    fn refresh_hot(&self) {
        let h = &self.hot;
        let v = |n: &str| self.get_i64(n);
        h.maxclients
            .store(v("maxclients") as u64, Ordering::Relaxed);
        let (hard, soft, soft_secs) = self.output_buffer_limits("normal");
        h.obuf_normal_hard.store(hard, Ordering::Relaxed);
        h.obuf_normal_soft.store(soft, Ordering::Relaxed);
        h.obuf_normal_soft_secs.store(soft_secs, Ordering::Relaxed);
        h.proto_max_bulk_len
            .store(v("proto-max-bulk-len"), Ordering::Relaxed);
        h.client_query_buffer_limit
            .store(v("client-query-buffer-limit") as u64, Ordering::Relaxed);
        h.slowlog_slower_than
            .store(v("slowlog-log-slower-than"), Ordering::Relaxed);
        h.slowlog_max_len
            .store(v("slowlog-max-len") as u64, Ordering::Relaxed);
        h.latency_monitor_threshold.store(
            v("latency-monitor-threshold").max(0) as u64,
            Ordering::Relaxed,
        );
        h.latency_tracking
            .store(self.get_bool("latency-tracking"), Ordering::Relaxed);
        h.timeout_secs.store(v("timeout") as u64, Ordering::Relaxed);
        h.hz.store(v("hz").clamp(1, 500) as u64, Ordering::Relaxed);
        h.appendfsync_always
            .store(self.get("appendfsync") == "always", Ordering::Relaxed);
        h.active_expire_effort
            .store(v("active-expire-effort") as u64, Ordering::Relaxed);
        h.lazy_user_del
            .store(self.get_bool("lazyfree-lazy-user-del"), Ordering::Relaxed);
        h.lazy_user_flush
            .store(self.get_bool("lazyfree-lazy-user-flush"), Ordering::Relaxed);
        h.lazy_eviction
            .store(self.get_bool("lazyfree-lazy-eviction"), Ordering::Relaxed);
        // Read where the keyspace lets values go, which has no config at hand.
        crate::lazyfree::set_flags(
            self.get_bool("lazyfree-lazy-expire"),
            self.get_bool("lazyfree-lazy-server-del"),
        );
        h.list_max_listpack_size
            .store(v("list-max-listpack-size"), Ordering::Relaxed);
        for (atomic, name) in [
            (&h.hash_max_listpack_entries, "hash-max-listpack-entries"),
            (&h.hash_max_listpack_value, "hash-max-listpack-value"),
            (&h.set_max_intset_entries, "set-max-intset-entries"),
            (&h.set_max_listpack_entries, "set-max-listpack-entries"),
            (&h.set_max_listpack_value, "set-max-listpack-value"),
            (&h.zset_max_listpack_entries, "zset-max-listpack-entries"),
            (&h.zset_max_listpack_value, "zset-max-listpack-value"),
            (&h.tracking_table_max_keys, "tracking-table-max-keys"),
            (&h.stream_node_max_bytes, "stream-node-max-bytes"),
            (&h.stream_node_max_entries, "stream-node-max-entries"),
            (&h.maxmemory, "maxmemory"),
            (&h.maxmemory_samples, "maxmemory-samples"),
            (&h.eviction_tenacity, "maxmemory-eviction-tenacity"),
            (&h.worker_spin_us, "worker-spin-us"),
        ] {
            atomic.store(v(name).max(0) as u64, Ordering::Relaxed);
        }
        crate::notify::set_flags(crate::notify::parse_flags(
            &self.get("notify-keyspace-events"),
        ));
        let policy = self.get("maxmemory-policy");
        h.maxmemory_policy.store(
            POLICIES
                .iter()
                .position(|p| *p == policy)
                .unwrap_or(POLICIES.len() - 1) as u64,
            Ordering::Relaxed,
        );
        keyspace::set_lfu(
            policy.contains("lfu"),
            v("lfu-log-factor") as u32,
            v("lfu-decay-time") as u32,
        );
    }

    /// Reads a redis.conf-style file (and the files it includes) into this config.
    pub fn load_file(&mut self, path: &Path) -> Result<(), FileError> {
        self.file = Some(path.to_path_buf());
        self.load_file_inner(path, 0)
    }

    fn load_file_inner(&self, path: &Path, depth: usize) -> Result<(), FileError> {
        let err = |line: usize, text: &str, reason: String| FileError {
            file: path.to_path_buf(),
            line,
            text: text.to_string(),
            reason,
        };
        if depth > 16 {
            return Err(err(
                0,
                "",
                format!(
                    "Fatal error, too many nested includes at config file '{}'",
                    path.display()
                ),
            ));
        }
        let content = std::fs::read_to_string(path).map_err(|e| {
            // Like Redis: "Fatal error, can't open config file '<file>': <strerror>".
            let why = e.to_string();
            let why = why.split(" (os error").next().unwrap_or_default();
            err(
                0,
                "",
                format!(
                    "Fatal error, can't open config file '{}': {why}",
                    path.display()
                ),
            )
        })?;
        for (i, raw) in content.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some(words) = resp::split_inline_args(line.as_bytes()) else {
                return Err(err(
                    i + 1,
                    line,
                    "Unbalanced quotes in configuration line".into(),
                ));
            };
            let text: Vec<String> = words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            let Some((name, rest)) = text.split_first() else {
                continue;
            };
            if name.eq_ignore_ascii_case("user") {
                // Checked now, so a bad rule stops the start with its line.
                crate::acl::check_declaration(rest).map_err(|e| err(i + 1, line, e))?;
                self.users.lock().push(rest.to_vec());
                continue;
            }
            if name.eq_ignore_ascii_case("rename-command") {
                let [from, to] = rest else {
                    return Err(err(i + 1, line, "wrong number of arguments".into()));
                };
                let from = from.to_ascii_lowercase();
                if from.contains('|') || commands::find(&from).is_none() {
                    return Err(err(i + 1, line, "No such command in rename-command".into()));
                }
                self.renames.lock().push((from, to.to_ascii_lowercase()));
                continue;
            }
            if name.eq_ignore_ascii_case("include") {
                let [inc] = rest else {
                    return Err(err(
                        i + 1,
                        line,
                        "Bad directive or wrong number of arguments".into(),
                    ));
                };
                self.load_file_inner(Path::new(inc), depth + 1)?;
                continue;
            }
            let Some(param) = find_param(name) else {
                return Err(err(
                    i + 1,
                    line,
                    "Bad directive or wrong number of arguments".into(),
                ));
            };
            // Multi-word values (save, client-output-buffer-limit, bind) join with spaces;
            // repeated `save` lines accumulate (see `save_directive`). A
            // string keeps its bytes (a `CONFIG REWRITE` of one writes
            // them as `\xHH` escapes).
            let mut value = words[1..].join(&b' ');
            if param.name == "save" {
                value = self.save_directive(&rest.join(" ")).into_bytes();
            }
            // Like Redis, a single-value parameter takes exactly one argument
            // (`""` for an empty value); only multi-argument ones take more.
            let multi_arg = matches!(
                param.name,
                "save"
                    | "client-output-buffer-limit"
                    | "bind"
                    | "replicaof"
                    | "latency-tracking-info-percentiles"
            );
            if !multi_arg && rest.len() != 1 {
                return Err(err(i + 1, line, "wrong number of arguments".into()));
            }
            self.set_startup(param.name, &value).map_err(|e| {
                err(
                    i + 1,
                    line,
                    format!("Invalid argument for '{}': {e}", param.name),
                )
            })?;
        }
        Ok(())
    }

    /// CONFIG REWRITE: rewrites the config file, keeping its comments and
    /// order, replacing changed parameters in place and appending new ones.
    /// CONFIG REWRITE. `users`: the `user` lines to write (ACL LIST's, as
    /// Redis writes them when there is no `aclfile`); the file's own `user`
    /// lines give way to them (and are dropped when `users` is None).
    pub fn rewrite(&self, users: Option<&[String]>) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("ERR The server is running without a config file".into());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let values = self.values.read();
        let mut written = std::collections::HashSet::new();
        let mut new_users = users.unwrap_or_default().iter();
        let mut out = Vec::new();
        let format_line = |name: &str, value: &[u8]| -> String {
            if value.is_empty() {
                format!("{name} \"\"")
            } else if matches!(name, "save" | "client-output-buffer-limit" | "bind") {
                format!("{name} {}", String::from_utf8_lossy(value))
            } else {
                format!("{name} {}", quote_if_needed(value))
            }
        };
        for raw in old.lines() {
            let line = raw.trim();
            let first = line.split_whitespace().next().unwrap_or("");
            if line.starts_with('#') || first.is_empty() || first.eq_ignore_ascii_case("include") {
                out.push(raw.to_string());
                continue;
            }
            if first.eq_ignore_ascii_case("user") {
                // The users as they are now, one per line the file had (as
                // Redis rewrites them); the rest go at the end.
                if let Some(user) = new_users.next() {
                    out.push(user.clone());
                }
                continue;
            }
            match find_param(first) {
                Some(param) => {
                    if written.insert(param.name) {
                        out.push(format_line(param.name, &values[param.name]));
                    }
                }
                None => out.push(raw.to_string()),
            }
        }
        let mut appended = false;
        for param in PARAMS {
            if written.contains(param.name) || values[param.name] == param.default.as_bytes() {
                continue;
            }
            if !appended {
                out.push("# Generated by CONFIG REWRITE".into());
                appended = true;
            }
            out.push(format_line(param.name, &values[param.name]));
        }
        let rest: Vec<String> = new_users.cloned().collect();
        if !rest.is_empty() && !appended {
            out.push("# Generated by CONFIG REWRITE".into());
        }
        out.extend(rest);
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out.join("\n") + "\n")
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("ERR Rewriting config file: {e}"))
    }
}

/// A value as one word of a config line: quoted, with C escapes, when it
/// holds a space, a quote or a byte that is not printable ASCII (as Redis's
/// `sdscatrepr`), so any bytes read back the same.
fn quote_if_needed(v: &[u8]) -> String {
    let plain = |c: &u8| c.is_ascii_graphic() && !matches!(c, b'"' | b'\'');
    if v.iter().all(plain) {
        return String::from_utf8_lossy(v).into_owned();
    }
    let mut s = String::from("\"");
    for &c in v {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c == b' ' || c.is_ascii_graphic() => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(parse_memory("7b"), Some(7));
        assert_eq!(parse_memory("010mb"), Some(10 << 20));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1 gb"), None);
        assert_eq!(parse_memory("gb"), Some(0));
        assert_eq!(parse_memory(""), Some(0));
        assert_eq!(parse_memory("99999999999gb"), None);
    }

    #[test]
    fn set_many_is_atomic() {
        let c = Config::new();
        let err = c
            .set_many(&[(b"maxmemory", b"1gb"), (b"hz", b"x")])
            .unwrap_err();
        assert_eq!(
            err,
            b"ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
        );
        assert_eq!(c.get("maxmemory"), "0");
        c.set_many(&[(b"maxmemory", b"1gb"), (b"hz", b"20")])
            .unwrap();
        assert_eq!(c.get("maxmemory"), "1073741824");
        assert_eq!(
            c.set_many(&[(b"hz", b"1"), (b"hz", b"2")]).unwrap_err(),
            b"ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
        );
    }

    #[test]
    fn hidden_parameters_answer_only_by_name() {
        let c = Config::new();
        let mut all = Vec::new();
        c.get_matching(b"*", &mut all);
        assert!(!all.iter().any(|(n, _)| n == "lua-enable-deprecated-api"));
        let mut one = Vec::new();
        c.get_matching(b"lua-enable-deprecated-api", &mut one);
        assert_eq!(
            one,
            [("lua-enable-deprecated-api".to_string(), b"no".to_vec())]
        );
    }

    #[test]
    fn notify_canonical() {
        assert_eq!(check_notify("KEA").unwrap(), "AKE");
        assert_eq!(check_notify("Kx").unwrap(), "xK");
        assert!(check_notify("Z").is_err());
    }

    #[test]
    fn file_with_include_and_rewrite() {
        let dir = std::env::temp_dir().join(format!("fc-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inc = dir.join("inc.conf");
        std::fs::write(&inc, "maxmemory 2mb\n").unwrap();
        let main = dir.join("main.conf");
        std::fs::write(
            &main,
            format!(
                "# comment\nhz 15\ninclude {}\nrequirepass \"a b\"\n",
                inc.display()
            ),
        )
        .unwrap();
        let mut c = Config::new();
        c.load_file(&main).unwrap();
        assert_eq!(c.get("maxmemory"), "2097152");
        assert_eq!(c.get("requirepass"), "a b");
        c.set_many(&[
            (b"hz", b"33"),
            (b"slowlog-max-len", b"5"),
            (b"masterauth", b"p \xff\"\\"),
        ])
        .unwrap();
        c.rewrite(None).unwrap();
        let text = std::fs::read_to_string(&main).unwrap();
        assert!(text.contains("# comment\nhz 33\n"), "{text}");
        assert!(text.contains("slowlog-max-len 5"), "{text}");
        let mut again = Config::new();
        again.load_file(&main).unwrap();
        assert_eq!(again.get("hz"), "33");
        assert_eq!(again.get("requirepass"), "a b");
        assert_eq!(again.get_bytes("masterauth"), b"p \xff\"\\");

        std::fs::write(&main, "hz 10\nfoo bar\n").unwrap();
        let e = Config::new().load_file(&main).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("foo bar"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
