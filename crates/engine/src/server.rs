//! Server commands: databases (DBSIZE, FLUSHDB, FLUSHALL, SWAPDB), CONFIG,
//! SLOWLOG, TIME, LASTSAVE, SHUTDOWN, DEBUG, LOLWUT. INFO is in `info.rs`.

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
    ("memory|help", memory_help),
];

fn memory_usage(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // SAMPLES only bounds Redis's estimate of nested values; ours is exact.
    match a.len() {
        3 => {}
        5 if eq(a[3], "samples") => {
            crate::args::int(a[4])?;
        }
        _ => return Err(SYNTAX),
    }
    let db = ctx.db();
    let mut l = ctx.server.keyspace.lock([a[2]], ctx.now_ms);
    l.touch = false;
    let usage = l.peek(db, a[2]).map(|e| e.mem_usage());
    drop(l);
    match usage {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn memory_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
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
    let freed = ctx.server.keyspace.flush(db);
    crate::tracking::on_flush();
    if lazy {
        // Freeing millions of values takes time: do it off the command path.
        let n: usize = freed.iter().flatten().map(|t| t.len()).sum();
        crate::lazyfree::queue(Box::new(freed), n as u64);
    } else {
        drop(freed);
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
    // Nothing is persisted yet, so every flavour shuts down at once. Like
    // Redis, a successful SHUTDOWN closes the connection without a reply.
    ctx.server.request_shutdown();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// DEBUG is refused unless `enable-debug-command` allows it for this client.
fn debug_allowed(ctx: &Ctx) -> bool {
    match ctx.server.config.get("enable-debug-command").as_str() {
        "yes" => true,
        "local" => {
            let a = &ctx.client.shared.addr;
            a.starts_with("127.") || a.starts_with("[::1]") || a.starts_with("::1") || a.is_empty()
        }
        _ => false,
    }
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
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
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
        _ => Err(CmdError::new(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            text(a[1])
        ))),
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
        return Err(CmdError::new(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            text(a[1])
        )));
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
        ctx.out.bulk_str(&v);
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Redis: an odd number of arguments (a name without a value) is a syntax error.
    if !a.len().is_multiple_of(2) {
        return Err(SYNTAX);
    }
    let owned: Vec<(String, String)> = a[2..]
        .chunks(2)
        .map(|kv| (text(kv[0]), text(kv[1])))
        .collect();
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ctx.server.config.set_many(&pairs).map_err(CmdError::new)?;
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.server.reset_stats();
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.server.config.rewrite().map_err(CmdError::new)?;
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
