//! Hash commands (HSET ... HSCAN), following Redis 7.0's `t_hash.c`: the
//! same order of checks (so the same error wins), the same replies, and the
//! same encoding conversions (done by [`types::Hash::insert`]). A hash left
//! without fields is deleted, as Redis never keeps empty collections.

use keyspace::glob::glob_match;
use keyspace::{Locked, Value};
use rand::Rng;

use crate::args::{eq, int};
use crate::collections::{self, read, remove_if_empty, write, write_or_create};
use crate::error::{wrong_args, CmdError, CmdResult, OVERFLOW, SYNTAX};
use crate::notify;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("hset", hset),
    ("hmset", hset),
    ("hsetnx", hsetnx),
    ("hget", hget),
    ("hmget", hmget),
    ("hgetall", hgetall),
    ("hkeys", hkeys),
    ("hvals", hvals),
    ("hdel", hdel),
    ("hexists", hexists),
    ("hlen", hlen),
    ("hstrlen", hstrlen),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hrandfield", hrandfield),
    ("hscan", hscan),
];

fn new_hash() -> Value {
    Value::Hash(Default::default())
}

/// The hash at `key` for a write, created empty if absent (the caller must
/// add a field, or remove the key again).
fn hash_for_write<'l>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
) -> Result<&'l mut types::Hash, CmdError> {
    write_or_create(l, db, key, collections::hash, new_hash)
}

fn limits(ctx: &Ctx) -> types::Limits {
    ctx.server.config.hot.limits()
}

/// HSET and HMSET (same code in Redis; only the reply differs).
fn hset(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len() % 2 == 1 {
        return Err(wrong_args(ctx.spec.name));
    }
    let limits = limits(ctx);
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let h = hash_for_write(&mut l, db, a[1])?;
    let created = a[2..]
        .chunks(2)
        .filter(|fv| h.insert(fv[0], fv[1], &limits))
        .count();
    drop(l);
    ctx.notify(notify::HASH, "hset", a[1]);
    if ctx.spec.name == "hset" {
        ctx.out.int(created as i64);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let limits = limits(ctx);
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let h = hash_for_write(&mut l, db, a[1])?;
    let set = !h.contains(a[2]);
    if set {
        h.insert(a[2], a[3], &limits);
    }
    drop(l);
    if set {
        ctx.notify(notify::HASH, "hset", a[1]);
    }
    ctx.out.int(set as i64);
    Ok(())
}

fn hget(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    match read(&mut l, db, a[1], collections::hash)?.and_then(|h| h.get(a[2])) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    // A missing key is an empty hash: one null per field.
    let h = read(&mut l, db, a[1], collections::hash)?;
    ctx.out.array(a.len() - 2);
    for f in &a[2..] {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// HGETALL, HKEYS and HVALS (Redis's genericHgetallCommand).
fn getall_generic(ctx: &mut Ctx, key: &[u8], keys: bool, vals: bool) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let h = read(&mut l, db, key, collections::hash)?;
    let n = h.as_ref().map_or(0, |h| h.len());
    if keys && vals {
        ctx.out.map(n);
    } else {
        ctx.out.array(n);
    }
    if let Some(h) = h {
        for (k, v) in h.iter() {
            if keys {
                ctx.out.bulk(&k);
            }
            if vals {
                ctx.out.bulk(&v);
            }
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    getall_generic(ctx, a[1], true, true)
}

fn hkeys(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    getall_generic(ctx, a[1], true, false)
}

fn hvals(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    getall_generic(ctx, a[1], false, true)
}

fn hdel(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let deleted = match write(&mut l, db, a[1], collections::hash)? {
        // Like Redis, stop as soon as the hash is empty (the key is gone).
        Some(h) => {
            let mut n = 0;
            for f in &a[2..] {
                if h.is_empty() {
                    break;
                }
                n += h.remove(f) as usize;
            }
            n
        }
        None => 0,
    };
    if deleted > 0 {
        notify::emit(notify::HASH, "hdel", db, a[1]);
    }
    if remove_if_empty(&mut l, db, a[1]) {
        notify::emit(notify::GENERIC, "del", db, a[1]);
    }
    drop(l);
    ctx.out.int(deleted as i64);
    Ok(())
}

/// Runs `f` on the hash at `key` for a read-only integer reply; 0 if absent.
fn int_query(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&types::Hash) -> usize) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let n = read(&mut l, db, key, collections::hash)?.map_or(0, |h| f(h));
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    int_query(ctx, a[1], |h| h.contains(a[2]) as usize)
}

fn hlen(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    int_query(ctx, a[1], types::Hash::len)
}

fn hstrlen(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    int_query(ctx, a[1], |h| h.get(a[2]).map_or(0, |v| v.len()))
}

fn hincrby(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let by = int(a[3])?;
    let limits = limits(ctx);
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let h = hash_for_write(&mut l, db, a[1])?;
    let cur = match h.get(a[2]) {
        Some(v) => crate::args::parse_i64(&v)
            .ok_or_else(|| CmdError::new("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = cur.checked_add(by).ok_or(OVERFLOW);
    // The key may have just been created: never leave it empty on an error.
    let new = match new {
        Ok(n) => n,
        Err(e) => {
            remove_if_empty(&mut l, db, a[1]);
            return Err(e);
        }
    };
    let mut buf = itoa::Buffer::new();
    h.insert(a[2], buf.format(new).as_bytes(), &limits);
    drop(l);
    ctx.notify(notify::HASH, "hincrby", a[1]);
    ctx.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    use crate::longdouble::{format_human, parse, LongDouble};
    // Redis reads the increment as a long double (strtold), so "inf" parses
    // and is then refused with its own message.
    let by = parse(a[3]).ok_or(crate::error::NOT_FLOAT)?;
    if !by.is_finite() {
        return Err(CmdError::new("ERR value is NaN or Infinity"));
    }
    let limits = limits(ctx);
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let h = hash_for_write(&mut l, db, a[1])?;
    let result = (|| {
        let cur = match h.get(a[2]) {
            Some(v) => parse(&v).ok_or_else(|| CmdError::new("ERR hash value is not a float"))?,
            None => LongDouble::Zero { neg: false },
        };
        cur.add(by)
            .filter(LongDouble::is_finite)
            .ok_or_else(|| CmdError::new("ERR increment would produce NaN or Infinity"))
    })();
    let new = match result {
        Ok(n) => n,
        Err(e) => {
            remove_if_empty(&mut l, db, a[1]);
            return Err(e);
        }
    };
    let text = format_human(new);
    h.insert(a[2], text.as_bytes(), &limits);
    drop(l);
    ctx.notify(notify::HASH, "hincrbyfloat", a[1]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// Stop producing an HRANDFIELD reply past this many bytes (a negative count
/// may ask for up to 2^63 elements): the client is then disconnected, as
/// Redis does when a reply overflows the client's output buffer limit.
const RANDFIELD_MAX_REPLY: usize = 1 << 30;

fn hrandfield(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut count: Option<(i64, bool)> = None;
    if a.len() >= 3 {
        let n = int(a[2])?;
        if n == i64::MIN {
            return Err(CmdError::new(format!(
                "ERR value is out of range, value must between {} and {}",
                -i64::MAX,
                i64::MAX
            )));
        }
        if a.len() > 4 || (a.len() == 4 && !eq(a[3], "withvalues")) {
            return Err(SYNTAX);
        }
        let withvalues = a.len() == 4;
        if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
            return Err(CmdError::new("ERR value is out of range"));
        }
        count = Some((n, withvalues));
    }
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let h = read(&mut l, db, a[1], collections::hash)?;
    let mut rng = rand::thread_rng();
    let mut rand = |n: usize| rng.gen_range(0..n);
    let Some((n, withvalues)) = count else {
        match h.and_then(|h| h.random_pair(&mut rand)) {
            Some((k, _)) => ctx.out.bulk(&k),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(h) = h.filter(|_| n != 0) else {
        ctx.out.array(0);
        return Ok(());
    };
    let resp3 = ctx.out.is_resp3();
    let size = h.len();
    let count = n.unsigned_abs() as usize;
    let reply_len = if n < 0 || count == 1 {
        count
    } else {
        count.min(size)
    };
    ctx.out.array(if withvalues && !resp3 {
        reply_len * 2
    } else {
        reply_len
    });
    let emit = |out: &mut resp::ReplyWriter<'_>, (k, v): types::hash::PairRef<'_>| {
        if withvalues && resp3 {
            out.array(2);
        }
        out.bulk(&k);
        if withvalues {
            out.bulk(&v);
        }
    };
    if n < 0 || count == 1 {
        // Repetitions allowed: produced in batches, like Redis.
        let mut left = count;
        while left > 0 {
            let batch = left.min(1000);
            left -= batch;
            for kv in h.random_pairs(batch, &mut rand) {
                emit(&mut ctx.out, kv);
            }
            if ctx.out.out.len() > RANDFIELD_MAX_REPLY {
                ctx.client.close_after_reply = true;
                break;
            }
        }
    } else {
        for kv in h.random_distinct_pairs(count, &mut rand) {
            emit(&mut ctx.out, kv);
        }
    }
    Ok(())
}

fn hscan(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let cursor = crate::args::scan_cursor(a[2])?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let Some(h) = read(&mut l, db, a[1], collections::hash)? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    // Like Redis, options are only parsed once the key is known to exist.
    let (count, pattern) = crate::args::scan_options(&a[3..])?;
    let mut found = Vec::new();
    let next = h.scan(cursor, count, |(k, v)| {
        if pattern.is_none_or(|p| glob_match(p, &k, false)) {
            found.push((k, v));
        }
    });
    ctx.out.array(2);
    let mut buf = itoa::Buffer::new();
    ctx.out.bulk(buf.format(next).as_bytes());
    ctx.out.array(found.len() * 2);
    for (k, v) in found {
        ctx.out.bulk(&k);
        ctx.out.bulk(&v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, server, Session};

    const WRONGTYPE: &str =
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

    #[test]
    fn set_get_and_friends() {
        let s = server();
        assert_eq!(run(&s, &["HSET", "h", "a", "1", "b", "2"]), ":2\r\n");
        assert_eq!(run(&s, &["HSET", "h", "a", "x", "c", "3"]), ":1\r\n");
        assert_eq!(run(&s, &["HMSET", "h", "d", "4"]), "+OK\r\n");
        assert_eq!(
            run(&s, &["HSET", "h", "a"]),
            "-ERR wrong number of arguments for 'hset' command\r\n"
        );
        assert_eq!(
            run(&s, &["HMSET", "h", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'hmset' command\r\n"
        );
        assert_eq!(run(&s, &["HGET", "h", "a"]), "$1\r\nx\r\n");
        assert_eq!(run(&s, &["HGET", "h", "zz"]), "$-1\r\n");
        assert_eq!(run(&s, &["HGET", "nokey", "a"]), "$-1\r\n");
        assert_eq!(
            run(&s, &["HMGET", "h", "a", "zz", "d"]),
            "*3\r\n$1\r\nx\r\n$-1\r\n$1\r\n4\r\n"
        );
        assert_eq!(run(&s, &["HMGET", "nokey", "a"]), "*1\r\n$-1\r\n");
        assert_eq!(run(&s, &["HSETNX", "h", "a", "y"]), ":0\r\n");
        assert_eq!(run(&s, &["HSETNX", "h", "e", "5"]), ":1\r\n");
        assert_eq!(run(&s, &["HLEN", "h"]), ":5\r\n");
        assert_eq!(run(&s, &["HLEN", "nokey"]), ":0\r\n");
        assert_eq!(run(&s, &["HEXISTS", "h", "e"]), ":1\r\n");
        assert_eq!(run(&s, &["HEXISTS", "h", "f"]), ":0\r\n");
        assert_eq!(run(&s, &["HSTRLEN", "h", "a"]), ":1\r\n");
        assert_eq!(run(&s, &["HSTRLEN", "h", "nope"]), ":0\r\n");
        assert_eq!(
            run(&s, &["HKEYS", "h"]),
            "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
        );
        assert_eq!(
            run(&s, &["HVALS", "h"]),
            "*5\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n"
        );
        assert_eq!(run(&s, &["HGETALL", "nokey"]), "*0\r\n");
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "h"]), "$8\r\nlistpack\r\n");
    }

    #[test]
    fn resp3_map_and_empty_map() {
        let s = server();
        let mut c = Session::new(&s);
        c.run(&["HELLO", "3"]);
        c.run(&["HSET", "h", "f", "v"]);
        assert_eq!(c.run(&["HGETALL", "h"]), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
        assert_eq!(c.run(&["HGETALL", "nokey"]), "%0\r\n");
        assert_eq!(c.run(&["HKEYS", "nokey"]), "*0\r\n");
        assert_eq!(c.run(&["HGET", "h", "x"]), "_\r\n");
    }

    #[test]
    fn hdel_removes_empty_hash() {
        let s = server();
        run(&s, &["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(run(&s, &["HDEL", "h", "a", "zz"]), ":1\r\n");
        assert_eq!(run(&s, &["HDEL", "h", "b", "a", "b"]), ":1\r\n");
        assert_eq!(run(&s, &["EXISTS", "h"]), ":0\r\n");
        assert_eq!(run(&s, &["HDEL", "h", "b"]), ":0\r\n");
    }

    #[test]
    fn wrong_type() {
        let s = server();
        run(&s, &["SET", "str", "x"]);
        for cmd in [
            &["HSET", "str", "a", "b"][..],
            &["HSETNX", "str", "a", "b"],
            &["HGET", "str", "a"],
            &["HMGET", "str", "a"],
            &["HGETALL", "str"],
            &["HDEL", "str", "a"],
            &["HLEN", "str"],
            &["HINCRBY", "str", "a", "1"],
            &["HINCRBYFLOAT", "str", "a", "1"],
            &["HRANDFIELD", "str"],
            &["HSCAN", "str", "0"],
        ] {
            assert_eq!(run(&s, cmd), WRONGTYPE, "{cmd:?}");
        }
    }

    #[test]
    fn counters() {
        let s = server();
        assert_eq!(run(&s, &["HINCRBY", "h", "n", "5"]), ":5\r\n");
        assert_eq!(run(&s, &["HINCRBY", "h", "n", "-7"]), ":-2\r\n");
        assert_eq!(
            run(&s, &["HINCRBY", "h", "n", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        run(&s, &["HSET", "h", "s", " 1", "big", "9223372036854775807"]);
        assert_eq!(
            run(&s, &["HINCRBY", "h", "s", "1"]),
            "-ERR hash value is not an integer\r\n"
        );
        assert_eq!(
            run(&s, &["HINCRBY", "h", "big", "1"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(
            run(&s, &["HINCRBYFLOAT", "h", "f", "10.5"]),
            "$4\r\n10.5\r\n"
        );
        assert_eq!(
            run(&s, &["HINCRBYFLOAT", "h", "f", "0.1"]),
            "$4\r\n10.6\r\n"
        );
        assert_eq!(
            run(&s, &["HINCRBYFLOAT", "h", "f", "5.0e3"]),
            "$22\r\n5010.60000000000000009\r\n"
        );
        assert_eq!(
            run(&s, &["HINCRBYFLOAT", "h", "s", "1"]),
            "-ERR hash value is not a float\r\n"
        );
        assert_eq!(
            run(&s, &["HINCRBYFLOAT", "h", "f", "inf"]),
            "-ERR value is NaN or Infinity\r\n"
        );
        assert_eq!(
            run(&s, &["HINCRBYFLOAT", "h", "f", "abc"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(run(&s, &["HINCRBYFLOAT", "h", "n", "1"]), "$2\r\n-1\r\n");
        // An error on a fresh key leaves nothing behind.
        assert_eq!(
            run(&s, &["HINCRBYFLOAT", "fresh", "f", "nan"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(run(&s, &["EXISTS", "fresh"]), ":0\r\n");
    }

    #[test]
    fn encoding_conversions() {
        let s = server();
        run(&s, &["CONFIG", "SET", "hash-max-listpack-entries", "2"]);
        run(&s, &["CONFIG", "SET", "hash-max-listpack-value", "4"]);
        run(&s, &["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "h"]), "$8\r\nlistpack\r\n");
        run(&s, &["HSET", "h", "c", "3"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "h"]), "$9\r\nhashtable\r\n");
        run(&s, &["HSET", "v", "a", "12345"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "v"]), "$9\r\nhashtable\r\n");
        run(&s, &["HINCRBY", "i", "a", "12345"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "i"]), "$9\r\nhashtable\r\n");
        run(&s, &["HSET", "k", "a", "1"]);
        run(&s, &["HINCRBY", "k", "a", "1"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "k"]), "$8\r\nlistpack\r\n");
    }

    #[test]
    fn hrandfield_shapes() {
        let s = server();
        let mut c = Session::new(&s);
        assert_eq!(c.run(&["HRANDFIELD", "nokey"]), "$-1\r\n");
        assert_eq!(c.run(&["HRANDFIELD", "nokey", "5"]), "*0\r\n");
        c.run(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(c.run(&["HRANDFIELD", "h", "0"]), "*0\r\n");
        assert!(c.run(&["HRANDFIELD", "h", "-5"]).starts_with("*5\r\n"));
        assert!(c.run(&["HRANDFIELD", "h", "5"]).starts_with("*3\r\n"));
        assert!(c
            .run(&["HRANDFIELD", "h", "-5", "WITHVALUES"])
            .starts_with("*10\r\n"));
        assert_eq!(
            c.run(&["HRANDFIELD", "h", "1", "withvalues", "x"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            c.run(&["HRANDFIELD", "h", "1", "foo"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            c.run(&["HRANDFIELD", "h", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
        );
        assert_eq!(
            c.run(&["HRANDFIELD", "h", "-9223372036854770000", "withvalues"]),
            "-ERR value is out of range\r\n"
        );
        c.run(&["HELLO", "3"]);
        let r = c.run(&["HRANDFIELD", "h", "2", "WITHVALUES"]);
        assert!(r.starts_with("*2\r\n*2\r\n"), "{r}");
        let r = c.run(&["HRANDFIELD", "h", "-2", "WITHVALUES"]);
        assert!(r.starts_with("*2\r\n*2\r\n"), "{r}");
        let r = c.run(&["HRANDFIELD", "h", "2"]);
        assert!(r.starts_with("*2\r\n$1\r\n"), "{r}");
    }

    #[test]
    fn hscan_listpack_and_table() {
        let s = server();
        assert_eq!(
            run(&s, &["HSCAN", "nokey", "0", "COUNT", "0"]),
            "*2\r\n$1\r\n0\r\n*0\r\n"
        );
        run(&s, &["HSET", "h", "a1", "1", "b1", "2", "a2", "3"]);
        assert_eq!(
            run(&s, &["HSCAN", "h", "0", "MATCH", "a*"]),
            "*2\r\n$1\r\n0\r\n*4\r\n$2\r\na1\r\n$1\r\n1\r\n$2\r\na2\r\n$1\r\n3\r\n"
        );
        assert_eq!(run(&s, &["HSCAN", "h", "x"]), "-ERR invalid cursor\r\n");
        assert_eq!(
            run(&s, &["HSCAN", "h", "0", "COUNT", "0"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["HSCAN", "h", "0", "COUNT", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&s, &["HSCAN", "h", "0", "MATCH"]),
            "-ERR syntax error\r\n"
        );
        for i in 0..1000 {
            run(&s, &["HSET", "big", &format!("f{i}"), &i.to_string()]);
        }
        let mut c = Session::new(&s);
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        loop {
            let r = c.run(&["HSCAN", "big", &cursor, "COUNT", "50"]);
            let lines: Vec<&str> = r.split("\r\n").collect();
            cursor = lines[2].to_string();
            // Fields are every other bulk after the inner array header.
            for (i, l) in lines[5..].iter().step_by(2).enumerate() {
                if i % 2 == 0 && !l.is_empty() {
                    seen.insert(l.to_string());
                }
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
    }
}
