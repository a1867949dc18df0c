//! The `/metrics` page of a node: Prometheus's text exposition format (0.0.4)
//! rendered from the node's live state, for both engines. Pure rendering: the
//! HTTP side (`server::metrics`) only calls [`render_redis`] or
//! [`render_memcached`] and sends the text.
//!
//! Three vocabularies are exposed side by side, each read from the same
//! sources as INFO / `stats`, never estimated:
//! - the managed service's (ElastiCache CloudWatch) names: `CurrConnections`,
//!   `CacheHits`, `GetTypeCmds`, ... so dashboards and alarms written for it
//!   work unchanged;
//! - on a Redis-engine node, redis_exporter's `redis_*` names;
//! - on a memcached-engine node, memcached_exporter's `memcached_*` names.
//!
//! Cumulative figures are counters (Prometheus computes rates with `rate()`),
//! current levels are gauges.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use commands::{acl, flag, CommandSpec};
use parking_lot::Mutex;

use crate::dispatch::{CALLS, FAILED, REJECTED, USEC};
use crate::memcached::Memcached;
use crate::Server;

/// The `Content-Type` of the exposition format this module writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type (`# TYPE` line).
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// A sample value: integers are printed exactly (a u64 counter past 2^53
/// would lose digits as a float).
#[derive(Clone, Copy)]
enum Num {
    Int(u64),
    Float(f64),
}

impl From<u64> for Num {
    fn from(v: u64) -> Self {
        Num::Int(v)
    }
}

impl From<usize> for Num {
    fn from(v: usize) -> Self {
        Num::Int(v as u64)
    }
}

impl From<f64> for Num {
    fn from(v: f64) -> Self {
        Num::Float(v)
    }
}

/// Builds the exposition text: a family header (`# HELP`, `# TYPE`), then its samples.
struct Exposition {
    out: String,
}

impl Exposition {
    fn new() -> Self {
        Exposition {
            out: String::with_capacity(16 * 1024),
        }
    }

    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        // HELP text escapes only backslash and newline.
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = write!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Num) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value {
            Num::Int(v) => {
                let _ = write!(self.out, "{v}");
            }
            Num::Float(v) if v.is_nan() => self.out.push_str("NaN"),
            Num::Float(v) if v.is_infinite() => {
                self.out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" })
            }
            Num::Float(v) => {
                let _ = write!(self.out, "{v}");
            }
        }
        self.out.push('\n');
    }

    fn gauge(&mut self, name: &str, help: &str, value: impl Into<Num>) {
        self.family(name, Kind::Gauge, help);
        self.sample(name, &[], value.into());
    }

    fn counter(&mut self, name: &str, help: &str, value: impl Into<Num>) {
        self.family(name, Kind::Counter, help);
        self.sample(name, &[], value.into());
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    let mut s = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.into()
}

/// `part / whole × 100`, 0 when `whole` is 0 (no lookups yet, no limit).
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The process's CPU use between two scrapes (`EngineCPUUtilization`):
/// user + system CPU seconds of the whole process (every worker thread) per
/// wall-clock second, in percent of one core, like `top`. The first scrape
/// covers the time since the node started.
pub struct CpuSampler {
    /// (when, CPU seconds then) of the previous scrape.
    last: Mutex<(Instant, f64)>,
}

impl CpuSampler {
    /// A sampler whose first interval starts at `started` (the node's start),
    /// when the process had used `cpu_at_start` CPU seconds (0 for a node
    /// started with the process).
    pub fn new(started: Instant, cpu_at_start: f64) -> Self {
        CpuSampler {
            last: Mutex::new((started, cpu_at_start)),
        }
    }

    /// Percent of one core used since the previous call, and the CPU seconds
    /// (user, system) now.
    fn sample(&self) -> (f64, (f64, f64)) {
        let (user, sys) = crate::info::cpu_times();
        let now = Instant::now();
        let cpu = user + sys;
        let mut last = self.last.lock();
        let wall = now.duration_since(last.0).as_secs_f64();
        let pct = if wall > 0.0 {
            ((cpu - last.1).max(0.0) / wall * 100.0).max(0.0)
        } else {
            0.0
        };
        *last = (now, cpu);
        (pct, (user, sys))
    }
}

/// CPU seconds (user + system) this process has used so far.
pub fn process_cpu_seconds() -> f64 {
    let (user, sys) = crate::info::cpu_times();
    user + sys
}

/// One per-command-family counter: (name, help, which commands it sums).
type CommandFamily = (&'static str, &'static str, fn(&CommandSpec) -> bool);

/// The per-command-family counters of the managed service, each the sum of
/// the commandstats `calls` of the commands it selects.
const FAMILIES: &[CommandFamily] = &[
    (
        "GetTypeCmds",
        "Calls of read-only commands (command flag readonly), from commandstats.",
        |s| s.flags & flag::READONLY != 0,
    ),
    (
        "SetTypeCmds",
        "Calls of write commands (command flag write), from commandstats.",
        |s| s.flags & flag::WRITE != 0,
    ),
    (
        "KeyBasedCmds",
        "Calls of generic key commands (ACL category @keyspace: del, expire, rename...), from commandstats.",
        |s| s.acl_categories & acl::KEYSPACE != 0,
    ),
    (
        "NonKeyTypeCmds",
        "Calls of commands that take no key argument, from commandstats.",
        |s| s.key_specs.is_empty() && s.first_key == 0,
    ),
    (
        "StringBasedCmds",
        "Calls of string commands (ACL category @string), from commandstats.",
        |s| s.acl_categories & acl::STRING != 0,
    ),
    (
        "HashBasedCmds",
        "Calls of hash commands (ACL category @hash), from commandstats.",
        |s| s.acl_categories & acl::HASH != 0,
    ),
    (
        "ListBasedCmds",
        "Calls of list commands (ACL category @list), from commandstats.",
        |s| s.acl_categories & acl::LIST != 0,
    ),
    (
        "SetBasedCmds",
        "Calls of set commands (ACL category @set), from commandstats.",
        |s| s.acl_categories & acl::SET != 0,
    ),
    (
        "SortedSetBasedCmds",
        "Calls of sorted set commands (ACL category @sortedset), from commandstats.",
        |s| s.acl_categories & acl::SORTEDSET != 0,
    ),
    (
        "StreamBasedCmds",
        "Calls of stream commands (ACL category @stream), from commandstats.",
        |s| s.acl_categories & acl::STREAM != 0,
    ),
    (
        "PubSubBasedCmds",
        "Calls of pub/sub commands (ACL category @pubsub), from commandstats.",
        |s| s.acl_categories & acl::PUBSUB != 0,
    ),
    (
        "GeoSpatialBasedCmds",
        "Calls of geospatial commands (ACL category @geo), from commandstats.",
        |s| s.acl_categories & acl::GEO != 0,
    ),
    (
        "HyperLogLogBasedCmds",
        "Calls of HyperLogLog commands (ACL category @hyperloglog), from commandstats.",
        |s| s.acl_categories & acl::HYPERLOGLOG != 0,
    ),
    (
        "BitBasedCmds",
        "Calls of bitmap commands (ACL category @bitmap), from commandstats.",
        |s| s.acl_categories & acl::BITMAP != 0,
    ),
    (
        "EvalBasedCmds",
        "Calls of EVAL, EVALSHA, EVAL_RO and EVALSHA_RO, from commandstats.",
        |s| matches!(s.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro"),
    ),
];

/// The managed-service names common to both engines.
struct CommonFigures {
    curr_connections: u64,
    new_connections: u64,
    curr_items: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
    reclaimed: u64,
    bytes_used: u64,
    max_bytes: u64,
    cpu_percent: f64,
    net_in: u64,
    net_out: u64,
}

fn write_common(x: &mut Exposition, f: &CommonFigures) {
    x.gauge(
        "CurrConnections",
        "Client connections open now.",
        f.curr_connections,
    );
    x.counter(
        "NewConnections",
        "Client connections accepted since the node started.",
        f.new_connections,
    );
    x.gauge("CurrItems", "Items (keys) stored now.", f.curr_items);
    x.counter(
        "CacheHits",
        "Key lookups that found the key, since the node started.",
        f.hits,
    );
    x.counter(
        "CacheMisses",
        "Key lookups that did not find the key, since the node started.",
        f.misses,
    );
    x.gauge(
        "CacheHitRate",
        "CacheHits / (CacheHits + CacheMisses) x 100 since the node started (0 before any lookup).",
        percent(f.hits, f.hits + f.misses),
    );
    x.counter(
        "Evictions",
        "Keys evicted to stay within the memory limit, since the node started.",
        f.evictions,
    );
    x.counter(
        "Reclaimed",
        "Keys removed because their time to live expired, since the node started.",
        f.reclaimed,
    );
    x.gauge(
        "BytesUsedForCache",
        "Bytes of memory the engine holds (the figure the memory limit applies to).",
        f.bytes_used,
    );
    x.gauge(
        "DatabaseMemoryUsagePercentage",
        "BytesUsedForCache / memory limit x 100 (0 without a limit).",
        percent(f.bytes_used, f.max_bytes),
    );
    x.gauge(
        "EngineCPUUtilization",
        "CPU used by the node process (all threads) since the previous scrape (the first: since the node started), in percent of one core; above 100 when several cores are busy.",
        f.cpu_percent,
    );
    x.counter(
        "NetworkBytesIn",
        "Bytes read from client connections since the node started.",
        f.net_in,
    );
    x.counter(
        "NetworkBytesOut",
        "Bytes written to client connections since the node started.",
        f.net_out,
    );
}

/// The metrics page of a Redis-engine node.
pub fn render_redis(s: &Server, cpu: &CpuSampler) -> String {
    let mut x = Exposition::new();
    let st = &s.stats;
    let ks = &s.keyspace.stats;
    let (cpu_percent, (cpu_user, cpu_sys)) = cpu.sample();
    let clients = s.clients.all();
    let blocked = clients
        .iter()
        .filter(|c| c.blocked_since.load(Ordering::Relaxed) != 0)
        .count();
    let used_memory = crate::used_memory() as u64;
    let max_memory = s.config.get_i64("maxmemory").max(0) as u64;
    let db_counts = s.keyspace.db_counts();
    let items: usize = db_counts.iter().map(|(keys, _)| keys).sum();
    let hits = ks.keyspace_hits.get();
    let misses = ks.keyspace_misses.get();
    let evicted = st.evicted_keys.get();
    let expired = ks.expired_keys.get();
    let net_in = st.net_input_bytes.get();
    let net_out = st.net_output_bytes.get();

    write_common(
        &mut x,
        &CommonFigures {
            curr_connections: clients.len() as u64,
            new_connections: st.connections_received.get(),
            curr_items: items as u64,
            hits,
            misses,
            evictions: evicted,
            reclaimed: expired,
            bytes_used: used_memory,
            max_bytes: max_memory,
            cpu_percent,
            net_in,
            net_out,
        },
    );

    // Per-command counters, read once: (spec, calls, usec, rejected, failed).
    let per_command: Vec<(&CommandSpec, u64, u64, u64, u64)> = s
        .commands
        .entries
        .iter()
        .map(|e| {
            (
                e.spec,
                e.stats.get(CALLS),
                e.stats.get(USEC),
                e.stats.get(REJECTED),
                e.stats.get(FAILED),
            )
        })
        .collect();
    for (name, help, selects) in FAMILIES {
        let calls: u64 = per_command
            .iter()
            .filter(|c| selects(c.0))
            .map(|c| c.1)
            .sum();
        x.counter(name, help, calls);
    }

    // redis_exporter's names.
    x.gauge(
        "redis_up",
        "1: the node answered this scrape (the page is rendered by the node itself).",
        1u64,
    );
    x.family(
        "redis_instance_info",
        Kind::Gauge,
        "Information about the node, in labels; the value is always 1.",
    );
    let port = s.tcp_port.load(Ordering::Relaxed).to_string();
    x.sample(
        "redis_instance_info",
        &[
            ("redis_version", crate::REDIS_VERSION),
            ("ferrocache_version", crate::FERROCACHE_VERSION),
            ("redis_mode", "standalone"),
            ("role", "master"),
            ("run_id", &s.run_id),
            ("tcp_port", &port),
        ],
        Num::Int(1),
    );
    x.gauge(
        "redis_start_time_seconds",
        "Unix time the node started.",
        s.start_time_ms as f64 / 1000.0,
    );
    x.gauge(
        "redis_uptime_in_seconds",
        "Seconds since the node started (INFO uptime_in_seconds).",
        s.started.elapsed().as_secs(),
    );
    x.gauge(
        "redis_connected_clients",
        "Client connections open now (INFO connected_clients).",
        clients.len(),
    );
    x.gauge(
        "redis_max_clients",
        "The maxclients limit.",
        s.config.hot.maxclients.load(Ordering::Relaxed),
    );
    x.gauge(
        "redis_blocked_clients",
        "Clients blocked in a blocking command (INFO blocked_clients).",
        blocked,
    );
    x.gauge(
        "redis_memory_used_bytes",
        "Bytes allocated by the node (INFO used_memory).",
        used_memory,
    );
    x.gauge(
        "redis_memory_used_peak_bytes",
        "The largest used_memory seen (INFO used_memory_peak).",
        s.note_memory_peak(used_memory),
    );
    x.gauge(
        "redis_memory_used_startup_bytes",
        "used_memory when the node started (INFO used_memory_startup).",
        s.startup_memory.load(Ordering::Relaxed),
    );
    x.gauge(
        "redis_memory_max_bytes",
        "The maxmemory limit in bytes (0: none).",
        max_memory,
    );
    x.counter(
        "redis_commands_processed_total",
        "Commands processed (INFO total_commands_processed).",
        st.commands_processed.get(),
    );
    x.counter(
        "redis_connections_received_total",
        "Connections accepted (INFO total_connections_received).",
        st.connections_received.get(),
    );
    x.counter(
        "redis_rejected_connections_total",
        "Connections refused over maxclients (INFO rejected_connections).",
        st.rejected_connections.get(),
    );
    x.counter(
        "redis_keyspace_hits_total",
        "Key lookups that found the key (INFO keyspace_hits).",
        hits,
    );
    x.counter(
        "redis_keyspace_misses_total",
        "Key lookups that did not find the key (INFO keyspace_misses).",
        misses,
    );
    x.counter(
        "redis_expired_keys_total",
        "Keys removed by expiry (INFO expired_keys).",
        expired,
    );
    x.counter(
        "redis_evicted_keys_total",
        "Keys evicted under maxmemory (INFO evicted_keys).",
        evicted,
    );
    x.counter(
        "redis_net_input_bytes_total",
        "Bytes read from clients (INFO total_net_input_bytes).",
        net_in,
    );
    x.counter(
        "redis_net_output_bytes_total",
        "Bytes written to clients (INFO total_net_output_bytes).",
        net_out,
    );
    x.counter(
        "redis_cpu_user_seconds_total",
        "User CPU seconds of the process (INFO used_cpu_user).",
        cpu_user,
    );
    x.counter(
        "redis_cpu_sys_seconds_total",
        "System CPU seconds of the process (INFO used_cpu_sys).",
        cpu_sys,
    );
    x.gauge(
        "redis_pubsub_channels",
        "Channels with subscribers (INFO pubsub_channels).",
        s.pubsub.count(crate::pubsub::Kind::Channel),
    );
    x.gauge(
        "redis_pubsub_patterns",
        "Pattern subscriptions (INFO pubsub_patterns).",
        s.pubsub.count(crate::pubsub::Kind::Pattern),
    );

    // Databases: db0 always (a fresh node shows 0), others once they hold keys,
    // as INFO keyspace lists them.
    let dbs: Vec<(String, usize, usize)> = db_counts
        .iter()
        .enumerate()
        .filter(|(i, (keys, _))| *i == 0 || *keys > 0)
        .map(|(i, (keys, expires))| (format!("db{i}"), *keys, *expires))
        .collect();
    x.family(
        "redis_db_keys",
        Kind::Gauge,
        "Keys in the database (INFO keyspace keys).",
    );
    for (db, keys, _) in &dbs {
        x.sample("redis_db_keys", &[("db", db)], Num::from(*keys));
    }
    x.family(
        "redis_db_keys_expiring",
        Kind::Gauge,
        "Keys with a time to live in the database (INFO keyspace expires).",
    );
    for (db, _, expires) in &dbs {
        x.sample("redis_db_keys_expiring", &[("db", db)], Num::from(*expires));
    }

    // commandstats: commands called at least once (as INFO lists them).
    let used: Vec<_> = per_command
        .iter()
        .filter(|c| c.1 > 0 || c.3 > 0 || c.4 > 0)
        .collect();
    x.family(
        "redis_commands_total",
        Kind::Counter,
        "Calls of the command (INFO commandstats calls).",
    );
    for c in &used {
        x.sample("redis_commands_total", &[("cmd", c.0.name)], Num::Int(c.1));
    }
    x.family(
        "redis_commands_duration_seconds_total",
        Kind::Counter,
        "Seconds spent executing the command (INFO commandstats usec).",
    );
    for c in &used {
        x.sample(
            "redis_commands_duration_seconds_total",
            &[("cmd", c.0.name)],
            Num::Float(c.2 as f64 / 1e6),
        );
    }
    x.family(
        "redis_commands_rejected_calls_total",
        Kind::Counter,
        "Calls refused before execution (INFO commandstats rejected_calls).",
    );
    for c in &used {
        x.sample(
            "redis_commands_rejected_calls_total",
            &[("cmd", c.0.name)],
            Num::Int(c.3),
        );
    }
    x.family(
        "redis_commands_failed_calls_total",
        Kind::Counter,
        "Calls that failed during execution (INFO commandstats failed_calls).",
    );
    for c in &used {
        x.sample(
            "redis_commands_failed_calls_total",
            &[("cmd", c.0.name)],
            Num::Int(c.4),
        );
    }
    x.family(
        "redis_errors_total",
        Kind::Counter,
        "Error replies by error code (INFO errorstats).",
    );
    let errors: Vec<(String, u64)> = s
        .errorstats
        .lock()
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for (code, n) in &errors {
        x.sample("redis_errors_total", &[("err", code)], Num::Int(*n));
    }
    x.out
}

/// The metrics page of a memcached-engine node (the counters of `stats`).
pub fn render_memcached(mc: &Memcached, cpu: &CpuSampler) -> String {
    let mut x = Exposition::new();
    let s = &mc.stats;
    let server = &mc.server;
    let (cpu_percent, (cpu_user, cpu_sys)) = cpu.sample();
    let curr_connections = s.curr_connections.load(Ordering::Relaxed).max(0) as u64;
    let curr_items = server.keyspace.dbsize(0) as u64;
    let item_bytes = mc.bytes.load(Ordering::Relaxed).max(0) as u64;
    // What `-m` limits: allocator bytes above the startup baseline (the
    // figure the engine's memory watcher compares with `-m`).
    let baseline = server.startup_memory.load(Ordering::Relaxed);
    let bytes_used = crate::info::allocator_stats().0.saturating_sub(baseline);
    let hits = s.get_hits.get();
    let misses = s.get_misses.get();
    let evictions = s.evictions.get();
    let reclaimed = server.keyspace.stats.expired_keys.get();
    let bytes_read = s.bytes_read.get();
    let bytes_written = s.bytes_written.get();
    let cmd_get = s.cmd_get.get();
    let cmd_set = s.cmd_set.get();
    let cmd_touch = s.cmd_touch.get();
    let cmd_flush = s.cmd_flush.get();

    write_common(
        &mut x,
        &CommonFigures {
            curr_connections,
            new_connections: s.total_connections.get(),
            curr_items,
            hits,
            misses,
            evictions,
            reclaimed,
            bytes_used,
            max_bytes: mc.settings.max_bytes,
            cpu_percent,
            net_in: bytes_read,
            net_out: bytes_written,
        },
    );
    x.counter(
        "GetTypeCmds",
        "Keys requested by retrieval commands (stats cmd_get).",
        cmd_get,
    );
    x.counter(
        "SetTypeCmds",
        "Storage commands: set, add, replace, append, prepend, cas (stats cmd_set).",
        cmd_set,
    );
    x.counter(
        "KeyBasedCmds",
        "Commands on keys: retrievals, stores, touches, deletes, incr, decr (sum of those stats counters).",
        mc.key_commands(),
    );
    // The managed service's memcached-specific names.
    x.counter(
        "CmdGet",
        "Retrieval requests per key (stats cmd_get).",
        cmd_get,
    );
    x.counter("CmdSet", "Storage requests (stats cmd_set).", cmd_set);
    x.counter(
        "CmdFlush",
        "flush_all requests (stats cmd_flush).",
        cmd_flush,
    );
    x.counter("CmdTouch", "touch requests (stats cmd_touch).", cmd_touch);
    x.counter(
        "GetHits",
        "Retrievals that found the key (stats get_hits).",
        hits,
    );
    x.counter(
        "GetMisses",
        "Retrievals that did not find the key (stats get_misses).",
        misses,
    );
    let pairs: [(&str, &str, u64); 12] = [
        ("DeleteHits", "delete_hits", s.delete_hits.get()),
        ("DeleteMisses", "delete_misses", s.delete_misses.get()),
        ("IncrHits", "incr_hits", s.incr_hits.get()),
        ("IncrMisses", "incr_misses", s.incr_misses.get()),
        ("DecrHits", "decr_hits", s.decr_hits.get()),
        ("DecrMisses", "decr_misses", s.decr_misses.get()),
        ("CasHits", "cas_hits", s.cas_hits.get()),
        ("CasMisses", "cas_misses", s.cas_misses.get()),
        ("CasBadval", "cas_badval", s.cas_badval.get()),
        ("TouchHits", "touch_hits", s.touch_hits.get()),
        ("TouchMisses", "touch_misses", s.touch_misses.get()),
        ("NewItems", "total_items", s.total_items.get()),
    ];
    for (name, stat, value) in pairs {
        x.counter(name, &format!("stats {stat}."), value);
    }
    x.gauge(
        "BytesUsedForCacheItems",
        "Bytes of keys and data of the stored items (stats bytes).",
        item_bytes,
    );
    x.counter(
        "BytesReadIntoMemcached",
        "Bytes read from clients (stats bytes_read).",
        bytes_read,
    );
    x.counter(
        "BytesWrittenOutFromMemcached",
        "Bytes written to clients (stats bytes_written).",
        bytes_written,
    );

    // memcached_exporter's names.
    x.gauge(
        "memcached_up",
        "1: the node answered this scrape (the page is rendered by the node itself).",
        1u64,
    );
    x.family(
        "memcached_version",
        Kind::Gauge,
        "The memcached version the node answers as, in a label; the value is always 1.",
    );
    x.sample(
        "memcached_version",
        &[("version", crate::memcached::VERSION)],
        Num::Int(1),
    );
    let now_secs = crate::now_ms() / 1000;
    x.gauge(
        "memcached_uptime_seconds",
        "Seconds since the node started (stats uptime).",
        now_secs.saturating_sub(mc.started_unix),
    );
    x.gauge(
        "memcached_time_seconds",
        "The node's current Unix time (stats time).",
        now_secs,
    );
    x.gauge(
        "memcached_current_connections",
        "Client connections open now (stats curr_connections).",
        curr_connections,
    );
    x.gauge(
        "memcached_max_connections",
        "The connection limit (-c, stats max_connections).",
        mc.settings.max_conns,
    );
    x.counter(
        "memcached_connections_total",
        "Connections accepted (stats total_connections).",
        s.total_connections.get(),
    );
    x.counter(
        "memcached_connections_rejected_total",
        "Connections refused over the limit (stats rejected_connections).",
        s.rejected_connections.get(),
    );
    x.gauge(
        "memcached_current_items",
        "Items stored now (stats curr_items).",
        curr_items,
    );
    x.counter(
        "memcached_items_total",
        "Items stored since the node started (stats total_items).",
        s.total_items.get(),
    );
    x.counter(
        "memcached_items_evicted_total",
        "Items evicted to stay within -m (stats evictions).",
        evictions,
    );
    x.counter(
        "memcached_items_reclaimed_total",
        "Items removed because they expired (stats reclaimed).",
        reclaimed,
    );
    x.gauge(
        "memcached_current_bytes",
        "Bytes of keys and data of the stored items (stats bytes).",
        item_bytes,
    );
    x.gauge(
        "memcached_limit_bytes",
        "The memory limit (-m, stats limit_maxbytes).",
        mc.settings.max_bytes,
    );
    x.counter(
        "memcached_read_bytes_total",
        "Bytes read from clients (stats bytes_read).",
        bytes_read,
    );
    x.counter(
        "memcached_written_bytes_total",
        "Bytes written to clients (stats bytes_written).",
        bytes_written,
    );
    x.counter(
        "memcached_process_user_cpu_seconds_total",
        "User CPU seconds of the process (stats rusage_user).",
        cpu_user,
    );
    x.counter(
        "memcached_process_system_cpu_seconds_total",
        "System CPU seconds of the process (stats rusage_system).",
        cpu_sys,
    );
    x.family(
        "memcached_commands_total",
        Kind::Counter,
        "Commands by command and outcome (stats cmd_* and *_hits / *_misses).",
    );
    let commands: [(&str, &str, u64); 15] = [
        ("get", "hit", hits),
        ("get", "miss", misses),
        ("set", "hit", cmd_set),
        ("flush", "hit", cmd_flush),
        ("touch", "hit", s.touch_hits.get()),
        ("touch", "miss", s.touch_misses.get()),
        ("delete", "hit", s.delete_hits.get()),
        ("delete", "miss", s.delete_misses.get()),
        ("incr", "hit", s.incr_hits.get()),
        ("incr", "miss", s.incr_misses.get()),
        ("decr", "hit", s.decr_hits.get()),
        ("decr", "miss", s.decr_misses.get()),
        ("cas", "hit", s.cas_hits.get()),
        ("cas", "miss", s.cas_misses.get()),
        ("cas", "badval", s.cas_badval.get()),
    ];
    for (command, status, n) in commands {
        x.sample(
            "memcached_commands_total",
            &[("command", command), ("status", status)],
            Num::Int(n),
        );
    }
    x.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::run;

    /// (name, labels, value) of every sample; panics on a line that is not
    /// `# HELP`, `# TYPE` or a sample, or a sample whose family was not
    /// declared just before with both header lines.
    fn samples(text: &str) -> Vec<(String, String, f64)> {
        let mut declared: Vec<String> = Vec::new();
        let mut helped: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                helped.push(rest.split(' ').next().unwrap_or("").to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let name = parts.next().unwrap_or("").to_string();
                let kind = parts.next().unwrap_or("");
                assert!(kind == "counter" || kind == "gauge", "{line}");
                assert_eq!(helped.last(), Some(&name), "HELP before TYPE: {line}");
                assert!(!declared.contains(&name), "declared twice: {name}");
                declared.push(name);
            } else {
                let (series, value) = line.rsplit_once(' ').expect(line);
                let (name, labels) = match series.split_once('{') {
                    Some((n, l)) => (n, l.trim_end_matches('}')),
                    None => (series, ""),
                };
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
                let v: f64 = value.parse().expect(line);
                out.push((name.to_string(), labels.to_string(), v));
            }
        }
        out
    }

    fn value(text: &str, name: &str, labels: &str) -> f64 {
        samples(text)
            .into_iter()
            .find(|(n, l, _)| n == name && l == labels)
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{text}"))
            .2
    }

    #[test]
    fn redis_page_follows_commands() {
        let srv = crate::Server::new(crate::Config::new());
        let cpu = CpuSampler::new(srv.started, 0.0);
        let before = render_redis(&srv, &cpu);
        assert_eq!(value(&before, "CurrItems", ""), 0.0);
        assert_eq!(value(&before, "CacheHitRate", ""), 0.0);
        assert_eq!(value(&before, "redis_db_keys", "db=\"db0\""), 0.0);
        run(&srv, &["SET", "a", "1"]);
        run(&srv, &["SET", "b", "2"]);
        run(&srv, &["EXPIRE", "b", "100"]);
        run(&srv, &["GET", "a"]);
        run(&srv, &["GET", "a"]);
        run(&srv, &["GET", "nope"]);
        run(&srv, &["HSET", "h", "f", "v"]);
        let page = render_redis(&srv, &cpu);
        assert_eq!(value(&page, "CurrItems", ""), 3.0);
        assert_eq!(value(&page, "CacheHits", ""), 2.0);
        assert_eq!(value(&page, "CacheMisses", ""), 1.0);
        assert!((value(&page, "CacheHitRate", "") - 200.0 / 3.0).abs() < 1e-9);
        // set x2, expire, hset are writes; get x3 reads.
        assert_eq!(value(&page, "SetTypeCmds", ""), 4.0);
        assert_eq!(value(&page, "GetTypeCmds", ""), 3.0);
        assert_eq!(value(&page, "StringBasedCmds", ""), 5.0);
        assert_eq!(value(&page, "HashBasedCmds", ""), 1.0);
        assert_eq!(value(&page, "KeyBasedCmds", ""), 1.0);
        assert_eq!(value(&page, "redis_commands_total", "cmd=\"get\""), 3.0);
        assert_eq!(value(&page, "redis_commands_total", "cmd=\"set\""), 2.0);
        assert_eq!(value(&page, "redis_db_keys", "db=\"db0\""), 3.0);
        assert_eq!(value(&page, "redis_db_keys_expiring", "db=\"db0\""), 1.0);
        assert_eq!(value(&page, "redis_up", ""), 1.0);
        assert!(value(&page, "BytesUsedForCache", "") > 0.0);
        assert_eq!(value(&page, "DatabaseMemoryUsagePercentage", ""), 0.0);
        run(&srv, &["CONFIG", "SET", "maxmemory", "1gb"]);
        let page = render_redis(&srv, &cpu);
        let used = value(&page, "BytesUsedForCache", "");
        let pct = value(&page, "DatabaseMemoryUsagePercentage", "");
        assert!(
            (pct - used * 100.0 / (1u64 << 30) as f64).abs() < 1e-6,
            "{pct}"
        );
        assert_eq!(
            value(&page, "redis_memory_max_bytes", ""),
            (1u64 << 30) as f64
        );
    }

    #[test]
    fn memcached_page_reads_stats() {
        let srv = crate::Server::new(crate::Config::new());
        let mc = Memcached::new(srv.clone(), Default::default());
        let cpu = CpuSampler::new(srv.started, 0.0);
        let input = b"set k 0 0 1\r\nv\r\nget k\r\nget k missing\r\ndelete nope\r\n";
        let limits = memcache::Limits::default();
        let session = crate::memcached::McSession::default();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            match memcache::text::parse(&input[pos..], &limits) {
                memcache::text::Parsed::Request { req, consumed } => {
                    pos += consumed;
                    mc.execute(req, &session, &mut out);
                }
                _ => panic!("unparsable test input at {pos}"),
            }
        }
        let page = render_memcached(&mc, &cpu);
        assert_eq!(value(&page, "CurrItems", ""), 1.0);
        // Retrievals count per key, as in memcached: k, k, missing.
        assert_eq!(value(&page, "CacheHits", ""), 2.0);
        assert_eq!(value(&page, "CacheMisses", ""), 1.0);
        assert!((value(&page, "CacheHitRate", "") - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(value(&page, "SetTypeCmds", ""), 1.0);
        assert_eq!(value(&page, "GetTypeCmds", ""), 3.0);
        assert_eq!(
            value(
                &page,
                "memcached_commands_total",
                "command=\"get\",status=\"hit\""
            ),
            2.0
        );
        assert_eq!(
            value(
                &page,
                "memcached_commands_total",
                "command=\"delete\",status=\"miss\""
            ),
            1.0
        );
        assert_eq!(value(&page, "memcached_current_bytes", ""), 2.0);
        assert_eq!(
            value(&page, "memcached_limit_bytes", ""),
            mc.settings.max_bytes as f64
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn cpu_sampler_reports_a_non_negative_percentage() {
        let cpu = CpuSampler::new(Instant::now(), process_cpu_seconds());
        // Burn a little CPU so the interval has something to measure.
        let mut acc = 0u64;
        let t = Instant::now();
        while t.elapsed().as_millis() < 30 {
            acc = acc.wrapping_add(std::hint::black_box(1));
        }
        let (pct, (user, sys)) = cpu.sample();
        assert!(acc > 0 && pct > 0.0 && user + sys > 0.0, "{pct}");
    }
}
