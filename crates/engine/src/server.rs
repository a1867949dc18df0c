//! Server commands: databases (DBSIZE, FLUSHDB, FLUSHALL, SWAPDB), CONFIG,
//! SLOWLOG, MEMORY, TIME, LASTSAVE, SHUTDOWN, DEBUG, LOLWUT. INFO is in
//! `info.rs`, LATENCY in `latency.rs`.

use std::sync::atomic::Ordering;

use crate::args::{eq, text};
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::generic::help;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("dbsize", dbsize),
    ("flushdb", flushdb),
    ("flushall", flushall),
    ("swapdb", swapdb),
    ("info", crate::info::info),
    ("time", time),
    ("lastsave", lastsave),
    ("shutdown", shutdown),
    ("debug", debug),
    ("lolwut", lolwut),
    ("slowlog|get", slowlog_get),
    ("slowlog|len", slowlog_len),
    ("slowlog|reset", slowlog_reset),
    ("slowlog|help", slowlog_help),
    ("config|get", config_get),
    ("config|set", config_set),
    ("config|resetstat", config_resetstat),
    ("config|rewrite", config_rewrite),
    ("config|help", config_help),
    ("memory|usage", memory_usage),
    ("memory|stats", memory_stats),
    ("memory|doctor", memory_doctor),
    ("memory|malloc-stats", memory_malloc_stats),
    ("memory|purge", memory_purge),
    ("memory|help", memory_help),
];

fn memory_usage(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // SAMPLES as Redis takes it (any number of times, the last counts,
    // never negative; default 5, 0 = all): the elements of a big hash or
    // set are measured on that many and scaled, so a big key is not walked.
    let mut samples = 5;
    let mut i = 3;
    while i < a.len() {
        if eq(a[i], "samples") && i + 1 < a.len() {
            let n = crate::args::int(a[i + 1])?;
            if n < 0 {
                return Err(SYNTAX);
            }
            samples = n as usize;
            i += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let db = ctx.db();
    let mut l = ctx.server.keyspace.lock([a[2]], ctx.now_ms);
    l.touch = false;
    let usage = l.peek(db, a[2]).map(|e| e.mem_usage(samples));
    drop(l);
    match usage {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// What MEMORY STATS, MEMORY DOCTOR and INFO memory report (Redis's
/// `redisMemOverhead`).
pub(crate) struct Overhead {
    pub(crate) peak: u64,
    pub(crate) total: u64,
    pub(crate) startup: u64,
    pub(crate) clients_normal: u64,
    pub(crate) clients: u64,
    pub(crate) lua_caches: u64,
    pub(crate) functions_caches: u64,
    pub(crate) cached_scripts: u64,
    /// (db, main table overhead, expires overhead) of each database with keys.
    pub(crate) dbs: Vec<(usize, u64, u64)>,
    pub(crate) overhead_total: u64,
    pub(crate) keys: u64,
    pub(crate) bytes_per_key: u64,
    pub(crate) dataset: u64,
    pub(crate) dataset_perc: f32,
    pub(crate) peak_perc: f32,
    pub(crate) allocated: u64,
    pub(crate) active: u64,
    pub(crate) resident: u64,
    pub(crate) rss: u64,
}

impl Overhead {
    pub(crate) fn measure(server: &crate::Server) -> Overhead {
        let (allocated, active, resident) = crate::info::allocator_stats();
        let rss = crate::info::rss_bytes();
        let total = crate::used_memory() as u64;
        let peak = server.note_memory_peak(total);
        let startup = server.startup_memory.load(Ordering::Relaxed);
        let clients = server.clients.all();
        let clients_normal: u64 = clients
            .iter()
            .map(|c| c.tot_mem.load(Ordering::Relaxed) as u64)
            .sum();
        let (cached_scripts, scripts_bytes, _) = server.scripts.counts();
        let (_, _, functions_bytes) = server.functions.counts();
        // A key is one boxed entry (key, value header, TTL and access data:
        // what Redis splits between its dictEntry and robj) plus its table
        // slot: an 8-byte pointer and a control byte, at most 7/8 full. The
        // TTL lives in the entry, so there is no separate expires table.
        let entry = crate::memory::size_class(std::mem::size_of::<keyspace::Entry>()) as u64;
        let counts = server.keyspace.db_counts();
        let keys: u64 = counts.iter().map(|c| c.0 as u64).sum();
        let dbs: Vec<(usize, u64, u64)> = counts
            .into_iter()
            .enumerate()
            .filter(|(_, (keys, _))| *keys > 0)
            .map(|(db, (keys, _))| {
                let keys = keys as u64;
                (db, keys * entry + keys * 8 / 7 * 9, 0)
            })
            .collect();
        let overhead_total = startup
            + clients_normal
            + scripts_bytes as u64
            + functions_bytes as u64
            + dbs.iter().map(|d| d.1 + d.2).sum::<u64>();
        let net = if total > startup { total - startup } else { 1 };
        let dataset = total.saturating_sub(overhead_total);
        Overhead {
            peak,
            total,
            startup,
            clients_normal,
            clients: clients.len() as u64,
            lua_caches: scripts_bytes as u64,
            functions_caches: functions_bytes as u64,
            cached_scripts: cached_scripts as u64,
            dbs,
            overhead_total,
            keys,
            bytes_per_key: net.checked_div(keys).unwrap_or(0),
            dataset,
            dataset_perc: dataset as f32 * 100.0 / net as f32,
            peak_perc: total as f32 * 100.0 / peak.max(1) as f32,
            allocated,
            active,
            resident,
            rss,
        }
    }

    /// (ratio, bytes) of `a` over `b`, as Redis computes them (in float).
    pub(crate) fn ratio(a: u64, b: u64) -> (f32, i64) {
        let r = if b > 0 { a as f32 / b as f32 } else { 0.0 };
        (r, a as i64 - b as i64)
    }
}

fn memory_stats(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let m = Overhead::measure(ctx.server);
    let out = &mut ctx.out;
    let int = |out: &mut resp::ReplyWriter, k: &str, v: i64| {
        out.bulk_str(k);
        out.int(v);
    };
    let dbl = |out: &mut resp::ReplyWriter, k: &str, v: f32| {
        out.bulk_str(k);
        out.double(v as f64);
    };
    out.map(27 + m.dbs.len());
    int(out, "peak.allocated", m.peak as i64);
    int(out, "total.allocated", m.total as i64);
    int(out, "startup.allocated", m.startup as i64);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", m.clients_normal as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", m.lua_caches as i64);
    int(out, "functions.caches", m.functions_caches as i64);
    for (db, main, expires) in &m.dbs {
        out.bulk_str(&format!("db.{db}"));
        out.map(3);
        int(out, "overhead.hashtable.main", *main as i64);
        int(out, "overhead.hashtable.expires", *expires as i64);
        // Only in cluster mode (which this node does not run) in Redis.
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", m.overhead_total as i64);
    int(out, "keys.count", m.keys as i64);
    int(out, "keys.bytes-per-key", m.bytes_per_key as i64);
    int(out, "dataset.bytes", m.dataset as i64);
    dbl(out, "dataset.percentage", m.dataset_perc);
    dbl(out, "peak.percentage", m.peak_perc);
    int(out, "allocator.allocated", m.allocated as i64);
    int(out, "allocator.active", m.active as i64);
    int(out, "allocator.resident", m.resident as i64);
    let (r, b) = Overhead::ratio(m.active, m.allocated);
    dbl(out, "allocator-fragmentation.ratio", r);
    int(out, "allocator-fragmentation.bytes", b);
    let (r, b) = Overhead::ratio(m.resident, m.active);
    dbl(out, "allocator-rss.ratio", r);
    int(out, "allocator-rss.bytes", b);
    let (r, b) = Overhead::ratio(m.rss, m.resident);
    dbl(out, "rss-overhead.ratio", r);
    int(out, "rss-overhead.bytes", b);
    let (r, b) = Overhead::ratio(m.rss, m.total);
    dbl(out, "fragmentation", r);
    int(out, "fragmentation.bytes", b);
    Ok(())
}

/// Redis's `getMemoryDoctorReport`, from the same measures as MEMORY STATS.
fn memory_doctor_report(m: &Overhead) -> String {
    const MB10: i64 = 10 << 20;
    let mut issues: Vec<&str> = Vec::new();
    if m.total < 5 * 1024 * 1024 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    if m.peak as f32 / m.total as f32 > 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    let (r, b) = Overhead::ratio(m.rss, m.total);
    if r > 1.4 && b > MB10 {
        issues.push(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc-5.3.0\".\n\n");
    }
    let (r, b) = Overhead::ratio(m.active, m.allocated);
    if r > 1.1 && b > MB10 {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n");
    }
    let (r, b) = Overhead::ratio(m.resident, m.active);
    if r > 1.1 && b > MB10 {
        issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n");
    }
    let (r, b) = Overhead::ratio(m.rss, m.resident);
    if r > 1.1 && b > MB10 {
        issues.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n");
    }
    if m.clients_normal / m.clients.max(1) > 1024 * 200 {
        issues.push(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n");
    }
    if m.cached_scripts > 1000 {
        issues.push(" * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.\n\n");
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for issue in issues {
        s.push_str(issue);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

fn memory_doctor(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let report = memory_doctor_report(&Overhead::measure(ctx.server));
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(())
}

/// jemalloc's `malloc_stats_print` output callback: appends to a Vec<u8>.
unsafe extern "C" fn append_stats(out: *mut libc::c_void, text: *const libc::c_char) {
    // SAFETY: `out` is the `Vec<u8>` that `malloc_stats` lent to jemalloc
    // for this call only, and `text` is a NUL-terminated string jemalloc owns.
    unsafe {
        let out = &mut *(out as *mut Vec<u8>);
        out.extend_from_slice(std::ffi::CStr::from_ptr(text).to_bytes());
    }
}

/// jemalloc's full statistics report (what Redis's MEMORY MALLOC-STATS prints).
fn malloc_stats() -> Vec<u8> {
    let mut text: Vec<u8> = Vec::new();
    // SAFETY: the callback only casts the opaque pointer back to `text`,
    // which outlives the call; null options select the default report.
    // Like Redis (whose callback grows an sds), the callback may allocate:
    // jemalloc holds no lock while it calls it.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append_stats),
            &mut text as *mut Vec<u8> as *mut libc::c_void,
            std::ptr::null(),
        );
    }
    text
}

fn memory_malloc_stats(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let text = malloc_stats();
    ctx.out.verbatim("txt", &text);
    Ok(())
}

fn memory_purge(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    // jemalloc's MALLCTL_ARENAS_ALL: every arena gives its dirty pages back.
    let name = c"arena.4096.purge";
    // SAFETY: `name` is a NUL-terminated mallctl name; "arena.<i>.purge"
    // neither reads nor writes a value, and jemalloc requires exactly that:
    // every pointer null and a zero length.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(CmdError::new("ERR Error purging dirty pages"));
    }
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

fn dbsize(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let n = ctx.server.keyspace.dbsize(ctx.db());
    ctx.out.int(n as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL option: Some(true) = ASYNC.
fn flush_mode(ctx: &Ctx, a: &[&[u8]]) -> Result<bool, CmdError> {
    match a.len() {
        1 => Ok(ctx
            .server
            .config
            .hot
            .lazy_user_flush
            .load(Ordering::Relaxed)),
        2 if eq(a[1], "async") => Ok(true),
        2 if eq(a[1], "sync") => Ok(false),
        _ => Err(SYNTAX),
    }
}

fn flush(ctx: &mut Ctx, a: &[&[u8]], db: Option<usize>) -> CmdResult {
    let lazy = flush_mode(ctx, a)?;
    // Propagated even when there was nothing to remove, as Redis does.
    ctx.force_propagation();
    let freed = ctx.server.keyspace.flush(db);
    crate::tracking::on_flush();
    // Every key removed counts as a change (as Redis's `dirty`).
    let n: usize = freed.iter().flatten().map(|t| t.len()).sum();
    ctx.server.keyspace.add_dirty(n as u64);
    if lazy {
        // Freeing millions of values takes time: do it off the command path.
        crate::lazyfree::queue(Box::new(freed), n as u64);
    } else {
        drop(freed);
    }
    // Like Redis: with save points configured, FLUSHALL saves the empty
    // dataset at once (a failure is logged, as there).
    if db.is_none() && !ctx.server.config.get("save").is_empty() {
        crate::release_worker();
        let _ = crate::persistence::save_now(ctx.server);
    }
    ctx.out.ok();
    Ok(())
}

fn flushdb(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    flush(ctx, a, Some(db))
}

fn flushall(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    flush(ctx, a, None)
}

fn swapdb(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let parse = |v: &[u8], which: &str| -> Result<usize, CmdError> {
        let n = crate::args::parse_i64(v)
            .filter(|n| *n >= i32::MIN as i64 && *n <= i32::MAX as i64)
            .ok_or_else(|| CmdError::new(format!("ERR invalid {which} DB index")))?;
        if n < 0 || n as usize >= ctx.server.keyspace.databases() {
            return Err(crate::error::DB_INDEX);
        }
        Ok(n as usize)
    };
    let x = parse(a[1], "first")?;
    let y = parse(a[2], "second")?;
    if x != y {
        ctx.server.keyspace.swap_db(x, y);
    }
    ctx.server.keyspace.add_dirty(1);
    ctx.out.ok();
    Ok(())
}

fn time(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let us = crate::now_us();
    ctx.out.array(2);
    ctx.out.bulk_int((us / 1_000_000) as i64);
    ctx.out.bulk_int((us % 1_000_000) as i64);
    Ok(())
}

fn lastsave(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.out
        .int(ctx.server.lastsave.load(Ordering::Relaxed) as i64);
    Ok(())
}

fn shutdown(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (mut abort, mut other, mut save, mut nosave) = (false, false, false, false);
    for opt in &a[1..] {
        if eq(opt, "abort") {
            abort = true;
        } else if eq(opt, "nosave") {
            nosave = true;
        } else if eq(opt, "save") {
            save = true;
        } else if eq(opt, "now") || eq(opt, "force") {
            other = true;
        } else {
            return Err(SYNTAX);
        }
    }
    // Illegal combinations, as in Redis: ABORT with anything, SAVE with NOSAVE.
    if (abort && (other || save || nosave)) || (save && nosave) {
        return Err(SYNTAX);
    }
    if abort {
        return Err(CmdError::new("ERR No shutdown in progress."));
    }
    // SAVE, or save points without NOSAVE: the dataset is saved first; a
    // failed save stops the shutdown unless FORCE.
    if !nosave
        && crate::persistence::save_for_shutdown(ctx.server, save).is_err()
        && !a[1..].iter().any(|o| eq(o, "force"))
    {
        return Err(CmdError::new("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    // Like Redis, a successful SHUTDOWN closes the connection without a reply.
    ctx.server.request_shutdown();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// DEBUG is refused unless `enable-debug-command` allows it for this client.
fn debug_allowed(ctx: &Ctx) -> bool {
    allowed_by(ctx, "enable-debug-command")
}

/// A yes / no / local setting (`enable-debug-command`,
/// `enable-protected-configs`) for this client.
fn allowed_by(ctx: &Ctx, setting: &str) -> bool {
    match ctx.server.config.get(setting).as_str() {
        "yes" => true,
        "local" => {
            let a = &ctx.client.shared.addr;
            a.starts_with("127.") || a.starts_with("[::1]") || a.starts_with("::1") || a.is_empty()
        }
        _ => false,
    }
}

/// DEBUG PROTOCOL: one reply of each RESP type, as Redis's test suite and
/// client libraries use them.
fn debug_protocol(ctx: &mut Ctx, kind: &[u8]) -> CmdResult {
    let out = &mut ctx.out;
    let kind = text(kind).to_ascii_lowercase();
    match kind.as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        // Redis's test value, not π.
        #[allow(clippy::approx_constant)]
        "double" => out.double(3.141),
        "bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        "null" => out.null(),
        "array" | "set" | "map" => {
            match kind.as_str() {
                "array" => out.array(3),
                "set" => out.set(3),
                _ => out.map(3),
            }
            for i in 0..3 {
                out.int(i);
                if kind == "map" {
                    out.bool(i == 1);
                }
            }
        }
        "attrib" => {
            if out.attribute(1) {
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !out.is_resp3() {
                return Err(CmdError::new("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        "verbatim" => out.verbatim("txt", b"This is a verbatim\nstring"),
        "true" => out.bool(true),
        "false" => out.bool(false),
        _ => return Err(CmdError::new(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        )),
    }
    Ok(())
}

fn debug(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if !debug_allowed(ctx) {
        return Err(CmdError::new("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    let sub = text(a[1]).to_ascii_lowercase();
    match (sub.as_str(), a.len()) {
        ("help", 2) => help(
            ctx,
            &[
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "LOADAOF",
                "    Flush the AOF buffers on disk and reload the AOF in memory.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Options:",
                "    * MERGE: Merge data from RDB with existing data rather than failing on dup key.",
                "    * NOFLUSH: Do not empty the dataset before loading the RDB.",
                "    * NOSAVE: Do not save the RDB before loading it.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type. <type> can be: string,",
                "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
                "    true, false.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
        ("protocol", 3) => debug_protocol(ctx, a[2]),
        ("reload", _) => crate::persistence::debug_reload(ctx, &a[2..]),
        ("digest", 2) => crate::digest::debug_digest(ctx),
        ("digest-value", _) => crate::digest::debug_digest_value(ctx, &a[2..]),
        ("loadaof", 2) => {
            crate::aof::debug_loadaof(ctx.server).map_err(|e| CmdError::new(format!("ERR {e}")))?;
            ctx.out.ok();
            Ok(())
        }
        ("sleep", 3) => {
            let secs = crate::args::float(a[2])?;
            if secs > 0.0 {
                // Like Redis, this stalls the executing thread (and its connections).
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            }
            ctx.out.ok();
            Ok(())
        }
        ("set-active-expire", 3) => {
            let on = crate::args::int(a[2])? != 0;
            ctx.server
                .active_expire_enabled
                .store(on, Ordering::Relaxed);
            ctx.out.ok();
            Ok(())
        }
        ("object", 3) => {
            let db = ctx.db();
            let mut l = ctx.server.keyspace.lock([a[2]], ctx.now_ms);
            l.touch = false;
            let info = l.peek(db, a[2]).map(|e| {
                let len = match &e.value {
                    keyspace::Value::Str(s) => s.len(),
                    _ => 0,
                };
                format!(
                    "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                    e as *const _,
                    e.value.encoding(),
                    len,
                    keyspace::lru_clock() & 0xff_ffff,
                    e.idle_seconds()
                )
            });
            drop(l);
            match info {
                Some(s) => ctx.out.simple(&s),
                None => return Err(CmdError::new("ERR no such key")),
            }
            Ok(())
        }
        _ => Err(CmdError::quoting("ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.", &[a[1]])),
    }
}

fn lolwut(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut i = 1;
    while i < a.len() {
        if eq(a[i], "version") && i + 1 < a.len() {
            crate::args::int(a[i + 1])?;
            i += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let text = format!(
        "Ferrocache ver. {}, compatible with Redis ver. {}\n",
        crate::FERROCACHE_VERSION,
        crate::REDIS_VERSION
    );
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn slowlog_get(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::quoting(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            &[a[1]],
        ));
    }
    let count = match a.get(2) {
        None => 10,
        Some(v) => {
            let n = crate::args::parse_i64(v)
                .filter(|n| *n >= -1)
                .ok_or_else(|| CmdError::new("ERR count should be greater than or equal to -1"))?;
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
    };
    let entries: Vec<crate::SlowEntry> = ctx
        .server
        .slowlog
        .lock()
        .entries
        .iter()
        .take(count)
        .cloned()
        .collect();
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.duration_us as i64);
        ctx.out.array(e.args.len());
        for arg in &e.args {
            ctx.out.bulk(arg);
        }
        ctx.out.bulk_str(&e.addr);
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let n = ctx.server.slowlog.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.server.slowlog.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

fn config_get(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut found = Vec::new();
    for pattern in &a[2..] {
        ctx.server.config.get_matching(pattern, &mut found);
    }
    ctx.out.map(found.len());
    for (k, v) in found {
        ctx.out.bulk_str(&k);
        ctx.out.bulk(&v);
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Redis: an odd number of arguments (a name without a value) is a syntax error.
    if !a.len().is_multiple_of(2) {
        return Err(SYNTAX);
    }
    let pairs: Vec<(&[u8], &[u8])> = a[2..].chunks(2).map(|kv| (kv[0], kv[1])).collect();
    // `dir` and `dbfilename` decide where the server writes files: as in
    // Redis, they are protected unless `enable-protected-configs` allows.
    if let Some((name, _)) = pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(b"dir") || k.eq_ignore_ascii_case(b"dbfilename"))
    {
        if !allowed_by(ctx, "enable-protected-configs") {
            return Err(CmdError::quoting(
                "ERR CONFIG SET failed (possibly related to argument '{}') - can't set protected config",
                &[name],
            ));
        }
    }
    let was_on = ctx.server.config.get_bool("appendonly");
    ctx.server
        .config
        .set_many(&pairs)
        .map_err(CmdError::from_bytes)?;
    ctx.server.propagation.timestamps.store(
        ctx.server.config.get_bool("aof-timestamp-enabled"),
        std::sync::atomic::Ordering::Relaxed,
    );
    if pairs
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(b"requirepass"))
    {
        let pass = ctx.server.config.get_bytes("requirepass");
        ctx.server.acl.set_requirepass(&pass, &ctx.server.commands);
    }
    if pairs.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case(b"min-replicas-to-write")
            || k.eq_ignore_ascii_case(b"min-replicas-max-lag")
    }) {
        crate::replication::count_good_replicas(ctx.server, crate::now_ms());
    }
    if ctx.server.config.get_bool("appendonly") != was_on {
        crate::aof::appendonly_changed(ctx.server).map_err(|e| {
            CmdError::new(format!(
                "ERR CONFIG SET failed (possibly related to argument 'appendonly') - {e}"
            ))
        })?;
    }
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.server.reset_stats();
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    // Without an ACL file the users live in the configuration file.
    let users = match ctx.server.config.get("aclfile").is_empty() {
        true => Some(
            ctx.server
                .acl
                .list()
                .into_iter()
                .map(String::from_utf8)
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| {
                    // The configuration file is text; the ACL file keeps bytes.
                    CmdError::new("ERR Rewriting config file: a user's name or rules are not UTF-8 and cannot be written to the configuration file; set an aclfile and use ACL SAVE")
                })?,
        ),
        false => None,
    };
    ctx.server
        .config
        .rewrite(users.as_deref())
        .map_err(CmdError::new)?;
    ctx.out.ok();
    Ok(())
}

fn config_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}
