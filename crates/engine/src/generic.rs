//! Keyspace commands: DEL, EXISTS, TYPE, RENAME, COPY, MOVE, KEYS, SCAN,
//! RANDOMKEY, TOUCH, OBJECT, and the expiry family (EXPIRE ... PERSIST).

use keyspace::glob::glob_match;

use crate::args::{eq, int, text};
use crate::error::{invalid_expire, CmdError, CmdResult, DB_INDEX, NO_SUCH_KEY, SYNTAX};
use crate::notify;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("del", del),
    ("unlink", unlink),
    ("exists", exists),
    ("type", type_),
    ("rename", rename),
    ("renamenx", renamenx),
    ("copy", copy),
    ("move", move_),
    ("keys", keys),
    ("scan", scan),
    ("randomkey", randomkey),
    ("touch", touch),
    ("object|encoding", object_encoding),
    ("object|freq", object_freq),
    ("object|idletime", object_idletime),
    ("object|refcount", object_refcount),
    ("object|help", object_help),
    ("expire", expire),
    ("pexpire", pexpire),
    ("expireat", expireat),
    ("pexpireat", pexpireat),
    ("ttl", ttl),
    ("pttl", pttl),
    ("expiretime", expiretime),
    ("pexpiretime", pexpiretime),
    ("persist", persist),
];

fn del(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let lazy = ctx
        .server
        .config
        .hot
        .lazy_user_del
        .load(std::sync::atomic::Ordering::Relaxed);
    delete(ctx, a, lazy)
}

/// UNLINK: DEL that always frees big values in the background.
fn unlink(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    delete(ctx, a, true)
}

fn delete(ctx: &mut Ctx, a: &[&[u8]], lazy: bool) -> CmdResult {
    let db = ctx.db();
    let keys = &a[1..];
    let mut l = ctx.lock(keys.iter().copied());
    let mut deleted: Vec<&[u8]> = Vec::new();
    let mut values = Vec::new();
    for k in keys {
        if let Some(e) = l.remove(db, k) {
            deleted.push(k);
            values.push((*e).into_value());
        }
    }
    drop(l);
    // Freed once the shards are unlocked: other clients of these shards
    // do not wait for it.
    for v in values {
        crate::lazyfree::free(v, lazy);
    }
    for k in &deleted {
        ctx.notify(notify::GENERIC, "del", k);
    }
    ctx.out.int(deleted.len() as i64);
    Ok(())
}

/// Counts live keys; only TOUCH updates their access time (Redis: EXISTS is NOTOUCH).
fn count_existing(ctx: &mut Ctx, a: &[&[u8]], touch: bool) -> CmdResult {
    let db = ctx.db();
    let keys = &a[1..];
    let mut l = ctx.lock(keys.iter().copied());
    l.touch &= touch;
    let n = keys.iter().filter(|k| l.get(db, k).is_some()).count();
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    count_existing(ctx, a, false)
}

fn touch(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    count_existing(ctx, a, true)
}

fn type_(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    l.touch = false;
    let t = l
        .get(db, a[1])
        .map(|e| e.value.type_name())
        .unwrap_or("none");
    drop(l);
    ctx.out.simple(t);
    Ok(())
}

/// RENAME / RENAMENX. Returns Ok(false) when NX and the destination exists.
fn rename_generic(ctx: &mut Ctx, a: &[&[u8]], nx: bool) -> Result<bool, CmdError> {
    let (src, dst) = (a[1], a[2]);
    let db = ctx.db();
    let mut l = ctx.lock([src, dst]);
    if !l.exists(db, src) {
        return Err(NO_SUCH_KEY);
    }
    if src == dst {
        return Ok(!nx);
    }
    if nx && l.exists(db, dst) {
        return Ok(false);
    }
    let Some(entry) = l.remove(db, src) else {
        return Err(NO_SUCH_KEY);
    };
    let ttl = entry.expire_at().unwrap_or(0);
    l.set(db, dst, entry.value, ttl);
    drop(l);
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    Ok(true)
}

fn rename(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, a, false)?;
    ctx.out.ok();
    Ok(())
}

fn renamenx(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let done = rename_generic(ctx, a, true)?;
    ctx.out.int(done as i64);
    Ok(())
}

/// Parses a DB index argument as Redis does for SELECT/MOVE/COPY.
pub(crate) fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let v = crate::args::int(arg)?;
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        return Err(CmdError::new(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if v < 0 || v as usize >= ctx.server.keyspace.databases() {
        return Err(DB_INDEX);
    }
    Ok(v as usize)
}

fn copy(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (src, dst) = (a[1], a[2]);
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if eq(a[i], "replace") {
            replace = true;
        } else if eq(a[i], "db") && i + 1 < a.len() {
            dst_db = db_index(ctx, a[i + 1])?;
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if src_db == dst_db && src == dst {
        return Err(CmdError::new(
            "ERR source and destination objects are the same",
        ));
    }
    let mut l = ctx.lock([src, dst]);
    let Some(entry) = l.get(src_db, src).map(|e| (e.value.clone(), e.expire_at())) else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    if l.exists(dst_db, dst) {
        if !replace {
            drop(l);
            ctx.out.int(0);
            return Ok(());
        }
        l.remove(dst_db, dst);
    }
    l.set(dst_db, dst, entry.0, entry.1.unwrap_or(0));
    drop(l);
    ctx.notify_db(notify::GENERIC, "copy_to", dst, dst_db);
    ctx.out.int(1);
    Ok(())
}

fn move_(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let src_db = ctx.db();
    let dst_db = db_index(ctx, a[2])?;
    if src_db == dst_db {
        return Err(CmdError::new(
            "ERR source and destination objects are the same",
        ));
    }
    let mut l = ctx.lock([key]);
    let moved = if !l.exists(src_db, key) || l.exists(dst_db, key) {
        false
    } else if let Some(e) = l.remove(src_db, key) {
        let ttl = e.expire_at().unwrap_or(0);
        l.set(dst_db, key, e.value, ttl);
        true
    } else {
        false
    };
    drop(l);
    if moved {
        ctx.notify_db(notify::GENERIC, "move_from", key, src_db);
        ctx.notify_db(notify::GENERIC, "move_to", key, dst_db);
    }
    ctx.out.int(moved as i64);
    Ok(())
}

fn keys(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let pattern = a[1];
    let all = pattern == b"*";
    let found = ctx.server.keyspace.collect_keys(ctx.db(), ctx.now_ms, |k| {
        all || glob_match(pattern, k, false)
    });
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn scan(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let cursor = crate::args::scan_cursor(a[1])?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while i < a.len() {
        let Some(v) = a.get(i + 1) else {
            return Err(SYNTAX);
        };
        if eq(a[i], "count") {
            let c = int(v)?;
            if c < 1 {
                return Err(SYNTAX);
            }
            count = c as usize;
        } else if eq(a[i], "match") {
            pattern = Some(v);
        } else if eq(a[i], "type") {
            type_filter = Some(text(v).to_ascii_lowercase());
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let (next, found) = ctx
        .server
        .keyspace
        .scan(ctx.db(), cursor, count, ctx.now_ms, |k, e| {
            pattern.is_none_or(|p| p == b"*" || glob_match(p, k, false))
                && type_filter
                    .as_deref()
                    .is_none_or(|t| t == e.value.type_name())
        });
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    match ctx.server.keyspace.random_key(ctx.db(), ctx.now_ms) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

fn is_lfu(ctx: &Ctx) -> bool {
    ctx.server.config.get("maxmemory-policy").contains("lfu")
}

/// Runs `f` on the entry of OBJECT's key, or replies null when absent.
fn with_object(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut Ctx, &keyspace::Entry)) -> CmdResult {
    let db = ctx.db();
    let server = ctx.server;
    let mut l = server.keyspace.lock([key], ctx.now_ms);
    // OBJECT never updates the access time (Redis: LOOKUP_NOTOUCH).
    l.touch = false;
    // Answered under the lock: no copy of the value (it may be huge).
    match l.peek(db, key) {
        Some(e) => f(ctx, e),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_encoding(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    with_object(ctx, a[2], |ctx, e| ctx.out.bulk_str(e.value.encoding()))
}

// Like Redis, a missing key replies null before the policy is checked.
fn object_freq(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let lfu = is_lfu(ctx);
    let mut refused = false;
    with_object(ctx, a[2], |ctx, e| {
        if lfu {
            ctx.out.int(e.lfu_counter() as i64)
        } else {
            refused = true
        }
    })?;
    if refused {
        return Err(CmdError::new("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let lfu = is_lfu(ctx);
    let mut refused = false;
    with_object(ctx, a[2], |ctx, e| {
        if lfu {
            refused = true
        } else {
            ctx.out.int(e.idle_seconds() as i64)
        }
    })?;
    if refused {
        return Err(CmdError::new("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Values are never shared between keys here, except that Redis reports
    // its shared small integers (0..9999, unless maxmemory with an LRU/LFU
    // policy forbids sharing) with the refcount INT_MAX.
    let sharing = ctx.server.config.get_i64("maxmemory") == 0
        || !(is_lfu(ctx) || ctx.server.config.get("maxmemory-policy").contains("lru"));
    with_object(ctx, a[2], |ctx, e| {
        let shared = matches!(&e.value, keyspace::Value::Str(keyspace::StrValue::Int(i)) if (0..10_000).contains(i));
        ctx.out.int(if shared && sharing {
            i32::MAX as i64
        } else {
            1
        })
    })
}

/// Replies with a HELP text the way Redis's addReplyHelp formats it.
pub(crate) fn help(ctx: &mut Ctx, lines: &[&str]) -> CmdResult {
    let cmd = ctx
        .spec
        .name
        .split('|')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
    Ok(())
}

fn object_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX/XX/GT/LT.
fn expire_generic(ctx: &mut Ctx, a: &[&[u8]], unit_ms: i64, absolute: bool) -> CmdResult {
    let key = a[1];
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &a[3..] {
        if eq(opt, "nx") {
            nx = true;
        } else if eq(opt, "xx") {
            xx = true;
        } else if eq(opt, "gt") {
            gt = true;
        } else if eq(opt, "lt") {
            lt = true;
        } else {
            return Err(CmdError::quoting("ERR Unsupported option {}", &[opt]));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::new(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let mut when = int(a[2])?;
    let name = ctx.spec.name;
    if unit_ms == 1000 {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid_expire(name));
        }
        when *= 1000;
    }
    if !absolute {
        let base = ctx.now_ms as i64;
        if when > i64::MAX - base {
            return Err(invalid_expire(name));
        }
        when += base;
    }
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    // Only the set_expire/remove below change the key.
    let Some(e) = l.peek(db, key) else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let current = e.expire_at().map(|v| v as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    // Propagated as an absolute time, or as the deletion it caused.
    let event = if when <= l.now_ms() as i64 {
        l.remove(db, key);
        ctx.propagate(&[b"DEL", key]);
        "del"
    } else {
        l.set_expire(db, key, when as u64);
        ctx.propagate(&[b"PEXPIREAT", key, when.to_string().as_bytes()]);
        "expire"
    };
    drop(l);
    ctx.notify(notify::GENERIC, event, key);
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, 1000, false)
}
fn pexpire(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, 1, false)
}
fn expireat(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, 1000, true)
}
fn pexpireat(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, a, 1, true)
}

/// The key's absolute expiry: Err(-2) missing, Err(-1) persistent.
fn key_expire(ctx: &mut Ctx, key: &[u8]) -> Result<u64, i64> {
    let db = ctx.db();
    let mut l = ctx.server.keyspace.lock([key], ctx.now_ms);
    l.touch = false;
    match l.get(db, key) {
        None => Err(-2),
        Some(e) => e.expire_at().ok_or(-1),
    }
}

fn ttl_generic(ctx: &mut Ctx, a: &[&[u8]], f: fn(u64, u64) -> i64) -> CmdResult {
    let v = match key_expire(ctx, a[1]) {
        Ok(at) => f(at, ctx.now_ms),
        Err(code) => code,
    };
    ctx.out.int(v);
    Ok(())
}

fn ttl(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, a, |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}
fn pttl(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, a, |at, now| at.saturating_sub(now) as i64)
}
fn expiretime(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Rounded to the nearest second, as Redis does.
    ttl_generic(ctx, a, |at, _| (at.saturating_add(500) / 1000) as i64)
}
fn pexpiretime(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, a, |at, _| at as i64)
}

fn persist(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let had = l.peek(db, a[1]).is_some_and(|e| e.expire_at().is_some());
    if had {
        l.set_expire(db, a[1], 0);
    }
    drop(l);
    if had {
        ctx.notify(notify::GENERIC, "persist", a[1]);
    }
    ctx.out.int(had as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, server, Session};

    #[test]
    fn expire_options() {
        let s = server();
        run(&s, &["SET", "k", "v"]);
        assert_eq!(run(&s, &["TTL", "k"]), ":-1\r\n");
        assert_eq!(run(&s, &["EXPIRE", "k", "100", "XX"]), ":0\r\n");
        assert_eq!(run(&s, &["EXPIRE", "k", "100", "NX"]), ":1\r\n");
        assert_eq!(run(&s, &["EXPIRE", "k", "50", "GT"]), ":0\r\n");
        assert_eq!(run(&s, &["EXPIRE", "k", "50", "LT"]), ":1\r\n");
        assert_eq!(run(&s, &["TTL", "k"]), ":50\r\n");
        assert_eq!(
            run(&s, &["EXPIRE", "k", "50", "NX", "GT"]),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
        );
        assert_eq!(
            run(&s, &["EXPIRE", "k", "50", "FOO"]),
            "-ERR Unsupported option FOO\r\n"
        );
        assert_eq!(run(&s, &["PERSIST", "k"]), ":1\r\n");
        assert_eq!(run(&s, &["TTL", "missing"]), ":-2\r\n");
        assert_eq!(run(&s, &["EXPIRE", "k", "-1"]), ":1\r\n");
        assert_eq!(run(&s, &["EXISTS", "k"]), ":0\r\n");
        run(&s, &["SET", "k", "v"]);
        assert_eq!(
            run(&s, &["EXPIRE", "k", "9223372036854775807"]),
            "-ERR invalid expire time in 'expire' command\r\n"
        );
    }

    #[test]
    fn rename_copy_move() {
        let s = server();
        let mut c = Session::new(&s);
        assert_eq!(c.run(&["RENAME", "a", "b"]), "-ERR no such key\r\n");
        c.run(&["SET", "a", "1"]);
        assert_eq!(c.run(&["RENAME", "a", "b"]), "+OK\r\n");
        assert_eq!(c.run(&["COPY", "b", "c"]), ":1\r\n");
        assert_eq!(c.run(&["COPY", "b", "c"]), ":0\r\n");
        assert_eq!(c.run(&["COPY", "b", "c", "DB", "1"]), ":1\r\n");
        assert_eq!(c.run(&["MOVE", "b", "1"]), ":1\r\n");
        assert_eq!(c.run(&["SELECT", "1"]), "+OK\r\n");
        assert_eq!(c.run(&["DBSIZE"]), ":2\r\n");
        assert_eq!(
            c.run(&["MOVE", "b", "1"]),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(c.run(&["RENAMENX", "b", "c"]), ":0\r\n");
    }

    #[test]
    fn keys_and_scan() {
        let s = server();
        for i in 0..100 {
            run(&s, &["SET", &format!("key:{i}"), "v"]);
        }
        run(&s, &["SET", "other", "v"]);
        let r = run(&s, &["KEYS", "key:1?"]);
        assert!(r.starts_with("*10\r\n"), "{r}");
        assert_eq!(run(&s, &["SCAN", "x"]), "-ERR invalid cursor\r\n");
        assert_eq!(
            run(&s, &["SCAN", "0", "COUNT", "0"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(run(&s, &["TYPE", "other"]), "+string\r\n");
        assert_eq!(
            run(&s, &["OBJECT", "ENCODING", "other"]),
            "$6\r\nembstr\r\n"
        );
        assert_eq!(
            run(&s, &["OBJECT", "FOO", "other"]),
            "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n"
        );
    }
}
