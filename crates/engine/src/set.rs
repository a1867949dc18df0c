//! Set commands: SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS,
//! SRANDMEMBER, SPOP, SMOVE, SINTER, SINTERCARD, SINTERSTORE, SUNION,
//! SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN.
//!
//! The value type ([`types::Set`]) owns Redis 7.2's encodings and their
//! conversions, random member selection, the set algebra and the SSCAN
//! cursor; this module adds what Redis's `t_set.c` does around them:
//! argument checks and error texts, lookups in Redis's order (so the first
//! wrong-typed key is the one reported), creating and deleting keys (an
//! empty set never stays in the keyspace; a *STORE with an empty result
//! deletes its destination) and the reply shapes (sets are RESP3 sets,
//! SRANDMEMBER with a count an array).

use keyspace::glob::glob_match;
use keyspace::{Locked, Value};
use rand::Rng;
use resp::ReplyWriter;
use types::set::{self as algebra, Member};
use types::{Limits, Set};

use crate::args::{eq, parse_i64};
use crate::collections::{self, read, remove_if_empty, write};
use crate::error::{CmdError, CmdResult, NOT_INTEGER, SYNTAX, WRONGTYPE};
use crate::notify;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("scard", scard),
    ("sismember", sismember),
    ("smismember", smismember),
    ("smembers", smembers),
    ("srandmember", srandmember),
    ("spop", spop),
    ("smove", smove),
    ("sinter", sinter),
    ("sintercard", sintercard),
    ("sinterstore", sinterstore),
    ("sunion", sunion),
    ("sunionstore", sunionstore),
    ("sdiff", sdiff),
    ("sdiffstore", sdiffstore),
    ("sscan", sscan),
];

/// The live encoding thresholds (CONFIG SET applies to the next command).
fn limits(ctx: &Ctx) -> Limits {
    ctx.server.config.hot.limits()
}

fn reply_member(out: &mut ReplyWriter, m: Member<'_>) {
    match m {
        Member::Int(v) => out.bulk_int(v),
        Member::Str(s) => out.bulk(s),
    }
}

/// `rng(n)`: a uniform index below `n`, what [`types::Set`] draws with.
fn rng() -> impl FnMut(usize) -> usize {
    let mut r = rand::thread_rng();
    move |n| r.gen_range(0..n.max(1))
}

fn new_value(s: Set) -> Value {
    Value::Set(Box::new(s))
}

/// Stores a *STORE result: overwrites `dst` (dropping its TTL, as Redis's
/// setKey does) or deletes it when the result is empty. Returns the size.
fn store(l: &mut Locked, db: usize, dst: &[u8], s: Set, event: &'static str) -> usize {
    let n = s.len();
    if n > 0 {
        l.set(db, dst, new_value(s), 0);
        notify::emit(notify::SET, event, db, dst);
    } else if l.remove(db, dst).is_some() {
        notify::emit(notify::GENERIC, "del", db, dst);
    }
    n
}

/// Deletes `key` if its set is now empty, reporting the deletion.
fn remove_emptied(l: &mut Locked, db: usize, key: &[u8]) {
    if remove_if_empty(l, db, key) {
        notify::emit(notify::GENERIC, "del", db, key);
    }
}

/// Runs `f` on the sets at `keys` (None for a missing key). Every key is
/// first looked up in order, as Redis does, so the first wrong-typed one
/// fails the command. The sets are then moved out of their entries for the
/// duration of `f` (an O(1) swap under the shard locks, so nobody can see
/// the stand-in), which lets `f` read all of them at once without copies;
/// a key given twice is the very same set (`std::ptr::eq`), as in Redis.
fn with_sets<R>(
    l: &mut Locked,
    db: usize,
    keys: &[&[u8]],
    f: impl FnOnce(&[Option<&Set>]) -> R,
) -> Result<R, CmdError> {
    let mut exists = Vec::with_capacity(keys.len());
    for k in keys {
        exists.push(read(l, db, k, collections::set)?.is_some());
    }
    let mut index: hashbrown::HashMap<&[u8], usize> = hashbrown::HashMap::new();
    let mut taken: Vec<(&[u8], Set)> = Vec::new();
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(keys.len());
    for (&k, &e) in keys.iter().zip(&exists) {
        if !e {
            slots.push(None);
            continue;
        }
        let i = match index.get(k) {
            Some(&i) => i,
            None => {
                let s = collections::peek(l, db, k, collections::set)?
                    .map(std::mem::take)
                    .unwrap_or_default();
                taken.push((k, s));
                index.insert(k, taken.len() - 1);
                taken.len() - 1
            }
        };
        slots.push(Some(i));
    }
    let refs: Vec<Option<&Set>> = slots.iter().map(|i| i.map(|i| &taken[i].1)).collect();
    let result = f(&refs);
    drop(refs);
    for (k, s) in taken {
        if let Ok(Some(slot)) = collections::peek(l, db, k, collections::set) {
            *slot = s;
        }
    }
    Ok(result)
}

fn sadd(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let lim = limits(ctx);
    let (key, members) = (a[1], &a[2..]);
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let add_all = |s: &mut Set| members.iter().filter(|m| s.insert(m, &lim)).count();
    let added = match write(&mut l, db, key, collections::set)? {
        Some(s) => {
            // SADD's argument count decides up front, like setTypeMaybeConvert.
            s.maybe_convert(members.len(), &lim);
            add_all(s)
        }
        None => {
            let mut s = Set::for_first(members[0], members.len(), &lim);
            let n = add_all(&mut s);
            l.set(db, key, new_value(s), 0);
            n
        }
    };
    drop(l);
    if added > 0 {
        ctx.notify(notify::SET, "sadd", key);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, members) = (a[1], &a[2..]);
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let mut removed = 0;
    if let Some(s) = write(&mut l, db, key, collections::set)? {
        for m in members {
            if s.remove(m) {
                removed += 1;
                if s.is_empty() {
                    break;
                }
            }
        }
    }
    if removed > 0 {
        notify::emit(notify::SET, "srem", db, key);
    }
    remove_emptied(&mut l, db, key);
    drop(l);
    ctx.out.int(removed);
    Ok(())
}

fn scard(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let n = read(&mut l, db, a[1], collections::set)?.map_or(0, |s| s.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn sismember(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let found = read(&mut l, db, a[1], collections::set)?.is_some_and(|s| s.contains(a[2]));
    drop(l);
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    // A missing key is an empty set: all zeros.
    let s = read(&mut l, db, a[1], collections::set)?;
    let found: Vec<bool> = a[2..]
        .iter()
        .map(|m| s.as_ref().is_some_and(|s| s.contains(m)))
        .collect();
    drop(l);
    ctx.out.array(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    match read(&mut l, db, a[1], collections::set)? {
        None => ctx.out.set(0),
        Some(s) => {
            // Written under the lock: no copy of a big set.
            ctx.out.set(s.len());
            for m in s.iter() {
                reply_member(&mut ctx.out, m);
            }
        }
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len() > 3 {
        return Err(SYNTAX);
    }
    let db = ctx.db();
    let mut r = rng();
    if a.len() == 2 {
        let mut l = ctx.lock([a[1]]);
        match read(&mut l, db, a[1], collections::set)?.and_then(|s| s.random_member(&mut r)) {
            Some(m) => reply_member(&mut ctx.out, m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    // Redis reads the count as a long in [-LONG_MAX, LONG_MAX].
    let c = parse_i64(a[2]).ok_or(NOT_INTEGER)?;
    if c == i64::MIN {
        return Err(CmdError::new(
            "ERR value is out of range, value must between -9223372036854775807 and \
             9223372036854775807",
        ));
    }
    // A negative count allows repeats.
    let (count, unique) = (c.unsigned_abs() as usize, c >= 0);
    let mut l = ctx.lock([a[1]]);
    let Some(s) = read(&mut l, db, a[1], collections::set)? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    let out = &mut ctx.out;
    if count == 0 {
        out.array(0);
    } else if !unique || count == 1 {
        out.array(count);
        s.random_members_with_repeats(count, &mut r, |m| reply_member(out, m));
    } else if count >= s.len() {
        // More than there is: the whole set.
        out.array(s.len());
        for m in s.iter() {
            reply_member(out, m);
        }
    } else {
        let picked = s.random_distinct(count, &mut r);
        out.array(picked.len());
        for m in picked {
            reply_member(out, m);
        }
    }
    Ok(())
}

fn spop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if a.len() > 3 {
        return Err(SYNTAX);
    }
    let lim = limits(ctx);
    let db = ctx.db();
    let key = a[1];
    let mut r = rng();
    if a.len() == 2 {
        let mut l = ctx.lock([key]);
        let popped = write(&mut l, db, key, collections::set)?.and_then(|s| s.pop_random(&mut r));
        if popped.is_some() {
            notify::emit(notify::SET, "spop", db, key);
        }
        remove_emptied(&mut l, db, key);
        drop(l);
        // The member chosen at random goes out by name.
        match &popped {
            Some(m) => ctx.propagate(&[b"SREM", key, m]),
            None => ctx.propagate_nothing(),
        }
        match popped {
            Some(m) => ctx.out.bulk(&m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let count = parse_i64(a[2])
        .filter(|c| *c >= 0)
        .ok_or_else(|| CmdError::new("ERR value is out of range, must be positive"))?;
    let mut l = ctx.lock([key]);
    let popped = match write(&mut l, db, key, collections::set)? {
        None => Vec::new(),
        // count >= size pops everything (in SUNION's order) and empties it.
        Some(s) => s.pop_random_many(count as usize, &lim, &mut r),
    };
    if !popped.is_empty() {
        notify::emit(notify::SET, "spop", db, key);
    }
    remove_emptied(&mut l, db, key);
    drop(l);
    if ctx.propagating() {
        // The members chosen at random go out by name.
        for batch in popped.chunks(1024) {
            let mut args: Vec<&[u8]> = vec![b"SREM", key];
            args.extend(batch.iter().map(|m| m.as_slice()));
            ctx.propagate(&args);
        }
        ctx.propagate_nothing();
    }
    ctx.out.set(popped.len());
    for m in &popped {
        ctx.out.bulk(m);
    }
    Ok(())
}

fn smove(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (src, dst, m) = (a[1], a[2], a[3]);
    let lim = limits(ctx);
    let db = ctx.db();
    let mut l = ctx.lock([src, dst]);
    // A missing source answers 0 before any type check, as in Redis.
    let is_set = |e: &keyspace::Entry| matches!(e.value, Value::Set(_));
    match l.peek(db, src) {
        None => {
            drop(l);
            ctx.out.int(0);
            return Ok(());
        }
        Some(e) if !is_set(e) => return Err(WRONGTYPE),
        Some(_) => {}
    }
    if l.peek(db, dst).is_some_and(|e| !is_set(e)) {
        return Err(WRONGTYPE);
    }
    // Only real changes are writes (WATCH, tracking): the source loses the
    // member; the destination changes only if it did not have it.
    let moved = if src == dst {
        collections::peek(&mut l, db, src, collections::set)?.is_some_and(|s| s.contains(m))
    } else if write(&mut l, db, src, collections::set)?.is_some_and(|s| s.remove(m)) {
        notify::emit(notify::SET, "srem", db, src);
        remove_emptied(&mut l, db, src);
        let has = collections::peek(&mut l, db, dst, collections::set)?.map(|d| d.contains(m));
        match has {
            Some(true) => {}
            Some(false) => {
                if let Some(d) = write(&mut l, db, dst, collections::set)? {
                    d.insert(m, &lim);
                }
                notify::emit(notify::SET, "sadd", db, dst);
            }
            None => {
                let mut d = Set::for_first(m, 1, &lim);
                d.insert(m, &lim);
                l.set(db, dst, new_value(d), 0);
                notify::emit(notify::SET, "sadd", db, dst);
            }
        }
        true
    } else {
        false
    };
    drop(l);
    ctx.out.int(moved as i64);
    Ok(())
}

fn sinter(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let keys = &a[1..];
    let mut l = ctx.lock(keys.iter().copied());
    let out = &mut ctx.out;
    with_sets(&mut l, db, keys, |sets| {
        // Any missing key makes the intersection empty.
        let all: Option<Vec<&Set>> = sets.iter().copied().collect();
        let members = all
            .map(|all| algebra::intersection(&all))
            .unwrap_or_default();
        out.set(members.len());
        for m in members {
            reply_member(out, m);
        }
    })
}

fn sinterstore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let lim = limits(ctx);
    let db = ctx.db();
    let (dst, keys) = (a[1], &a[2..]);
    let mut l = ctx.lock(a[1..].iter().copied());
    let result = with_sets(&mut l, db, keys, |sets| {
        let all: Option<Vec<&Set>> = sets.iter().copied().collect();
        all.map(|all| algebra::intersection_store(&all, &lim))
            .unwrap_or_default()
    })?;
    let n = store(&mut l, db, dst, result, "sinterstore");
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn sintercard(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let numkeys = parse_i64(a[1])
        .filter(|n| *n >= 1)
        .ok_or_else(|| CmdError::new("ERR numkeys should be greater than 0"))?;
    if numkeys > (a.len() - 2) as i64 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let n = numkeys as usize;
    let keys = &a[2..2 + n];
    let mut limit = 0;
    let mut j = 2 + n;
    while j < a.len() {
        if eq(a[j], "limit") && j + 1 < a.len() {
            j += 1;
            limit = parse_i64(a[j])
                .filter(|v| *v >= 0)
                .ok_or_else(|| CmdError::new("ERR LIMIT can't be negative"))?;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let db = ctx.db();
    let mut l = ctx.lock(keys.iter().copied());
    let card = with_sets(&mut l, db, keys, |sets| {
        let all: Option<Vec<&Set>> = sets.iter().copied().collect();
        all.map_or(0, |all| algebra::intersection_card(&all, limit as usize))
    })?;
    drop(l);
    ctx.out.int(card as i64);
    Ok(())
}

/// SUNION, SDIFF and their STORE variants (`dst`).
fn union_diff(ctx: &mut Ctx, keys: &[&[u8]], dst: Option<&[u8]>, diff: bool) -> CmdResult {
    let lim = limits(ctx);
    let db = ctx.db();
    let mut l = ctx.lock(dst.into_iter().chain(keys.iter().copied()));
    let result = with_sets(&mut l, db, keys, |sets| {
        if diff {
            algebra::difference(sets, &lim)
        } else {
            algebra::union(sets, &lim)
        }
    })?;
    match dst {
        Some(dst) => {
            let event = if diff { "sdiffstore" } else { "sunionstore" };
            let n = store(&mut l, db, dst, result, event);
            drop(l);
            ctx.out.int(n as i64);
        }
        None => {
            drop(l);
            ctx.out.set(result.len());
            for m in result.iter() {
                reply_member(&mut ctx.out, m);
            }
        }
    }
    Ok(())
}

fn sunion(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    union_diff(ctx, &a[1..], None, false)
}

fn sunionstore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    union_diff(ctx, &a[2..], Some(a[1]), false)
}

fn sdiff(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    union_diff(ctx, &a[1..], None, true)
}

fn sdiffstore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    union_diff(ctx, &a[2..], Some(a[1]), true)
}

fn sscan(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let cursor = crate::args::scan_cursor(a[2])?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let Some(s) = read(&mut l, db, a[1], collections::set)? else {
        drop(l);
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    // Redis parses the options only once the key is found.
    let (count, pattern) = crate::args::scan_options(&a[3..])?;
    let mut found: Vec<Vec<u8>> = Vec::new();
    // COUNT bounds the members visited; MATCH filters them afterwards.
    let next = s.scan(cursor, count, |m| {
        m.with_bytes(|b| {
            if pattern.is_none_or(|p| glob_match(p, b, false)) {
                found.push(b.to_vec());
            }
        })
    });
    drop(l);
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len());
    for m in &found {
        ctx.out.bulk(m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, server, Session};

    /// A RESP2 reply of bulk strings, sorted (for hash-ordered replies).
    fn sorted_bulks(reply: &str) -> Vec<String> {
        let mut v: Vec<String> = reply
            .split("\r\n")
            .skip(1)
            .collect::<Vec<_>>()
            .chunks(2)
            .filter_map(|c| c.get(1).map(|s| s.to_string()))
            .collect();
        v.sort();
        v
    }

    fn enc(s: &std::sync::Arc<crate::Server>, key: &str) -> String {
        run(s, &["OBJECT", "ENCODING", key])
    }

    #[test]
    fn sadd_srem_basics() {
        let s = server();
        assert_eq!(run(&s, &["SADD", "k", "a", "b", "a"]), ":2\r\n");
        assert_eq!(run(&s, &["SADD", "k", "b", "c"]), ":1\r\n");
        assert_eq!(run(&s, &["SCARD", "k"]), ":3\r\n");
        assert_eq!(run(&s, &["SISMEMBER", "k", "a"]), ":1\r\n");
        assert_eq!(run(&s, &["SISMEMBER", "k", "z"]), ":0\r\n");
        assert_eq!(run(&s, &["SISMEMBER", "nokey", "z"]), ":0\r\n");
        assert_eq!(
            run(&s, &["SMISMEMBER", "k", "a", "z", "c"]),
            "*3\r\n:1\r\n:0\r\n:1\r\n"
        );
        assert_eq!(run(&s, &["SMISMEMBER", "nokey", "a"]), "*1\r\n:0\r\n");
        // A listpack answers in insertion order.
        assert_eq!(
            run(&s, &["SMEMBERS", "k"]),
            "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(run(&s, &["SREM", "k", "a", "x", "b"]), ":2\r\n");
        assert_eq!(run(&s, &["SREM", "k", "c", "c"]), ":1\r\n");
        assert_eq!(
            run(&s, &["EXISTS", "k"]),
            ":0\r\n",
            "empty sets are deleted"
        );
        assert_eq!(run(&s, &["SREM", "k", "c"]), ":0\r\n");
        assert_eq!(run(&s, &["SMEMBERS", "k"]), "*0\r\n");
        assert_eq!(run(&s, &["SCARD", "k"]), ":0\r\n");
    }

    #[test]
    fn wrongtype_everywhere() {
        let s = server();
        run(&s, &["SET", "str", "x"]);
        run(&s, &["SADD", "set", "a"]);
        let wt = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        for cmd in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SCARD", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SMEMBERS", "str"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "0"],
            &["SPOP", "str"],
            &["SPOP", "str", "0"],
            &["SMOVE", "str", "set", "a"],
            &["SMOVE", "set", "str", "a"],
            &["SINTER", "set", "str"],
            &["SINTER", "nokey", "str"],
            &["SINTERCARD", "2", "set", "str"],
            &["SINTERSTORE", "d", "set", "str"],
            &["SUNION", "str", "set"],
            &["SUNIONSTORE", "d", "set", "str"],
            &["SDIFF", "set", "str"],
            &["SDIFFSTORE", "d", "str"],
            &["SSCAN", "str", "0"],
        ] {
            assert_eq!(run(&s, cmd), wt, "{cmd:?}");
        }
        // A missing source answers 0 even when the destination is wrong.
        assert_eq!(run(&s, &["SMOVE", "nokey", "str", "a"]), ":0\r\n");
        assert_eq!(run(&s, &["EXISTS", "d"]), ":0\r\n");
    }

    #[test]
    fn encodings_follow_redis_72() {
        let s = server();
        run(&s, &["CONFIG", "SET", "set-max-intset-entries", "4"]);
        run(&s, &["CONFIG", "SET", "set-max-listpack-entries", "6"]);
        run(&s, &["CONFIG", "SET", "set-max-listpack-value", "8"]);
        run(&s, &["SADD", "i", "1", "2", "3", "4"]);
        assert_eq!(enc(&s, "i"), "$6\r\nintset\r\n");
        run(&s, &["SADD", "i", "5"]);
        assert_eq!(enc(&s, "i"), "$9\r\nhashtable\r\n");
        // Five arguments: too many for an intset, a listpack from the start.
        run(&s, &["SADD", "j", "1", "2", "3", "4", "5"]);
        assert_eq!(enc(&s, "j"), "$8\r\nlistpack\r\n");
        run(&s, &["SADD", "k", "3", "1"]);
        run(&s, &["SADD", "k", "x"]);
        assert_eq!(enc(&s, "k"), "$8\r\nlistpack\r\n");
        assert_eq!(
            run(&s, &["SMEMBERS", "k"]),
            "*3\r\n$1\r\n1\r\n$1\r\n3\r\n$1\r\nx\r\n"
        );
        run(&s, &["SADD", "k", "abcdefghi"]);
        assert_eq!(enc(&s, "k"), "$9\r\nhashtable\r\n");
        // Existing intset + SADD with more arguments than it may hold.
        run(&s, &["SADD", "m", "1"]);
        run(&s, &["SADD", "m", "2", "3", "4", "5", "6"]);
        assert_eq!(enc(&s, "m"), "$9\r\nhashtable\r\n");
    }

    #[test]
    fn algebra_and_store() {
        let s = server();
        run(&s, &["SADD", "a", "1", "2", "3", "x"]);
        run(&s, &["SADD", "b", "2", "3", "4"]);
        run(&s, &["SADD", "c", "3", "x", "y"]);
        assert_eq!(
            run(&s, &["SINTER", "a", "b"]),
            "*2\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(run(&s, &["SINTER", "a", "nokey"]), "*0\r\n");
        assert_eq!(run(&s, &["SINTERCARD", "2", "a", "b"]), ":2\r\n");
        assert_eq!(
            run(&s, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]),
            ":1\r\n"
        );
        assert_eq!(run(&s, &["SINTERSTORE", "d", "a", "b"]), ":2\r\n");
        assert_eq!(enc(&s, "d"), "$6\r\nintset\r\n");
        assert_eq!(run(&s, &["SINTERSTORE", "d", "a", "nokey"]), ":0\r\n");
        assert_eq!(run(&s, &["EXISTS", "d"]), ":0\r\n");
        // Union: an intset turning into a listpack at "x".
        assert_eq!(
            run(&s, &["SUNION", "b", "c"]),
            "*5\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\nx\r\n$1\r\ny\r\n"
        );
        assert_eq!(run(&s, &["SUNIONSTORE", "u", "a", "b", "c"]), ":6\r\n");
        assert_eq!(
            sorted_bulks(&run(&s, &["SMEMBERS", "u"])),
            ["1", "2", "3", "4", "x", "y"]
        );
        assert_eq!(
            run(&s, &["SDIFF", "a", "b", "nokey"]),
            "*2\r\n$1\r\n1\r\n$1\r\nx\r\n"
        );
        assert_eq!(run(&s, &["SDIFF", "a", "a"]), "*0\r\n");
        assert_eq!(run(&s, &["SDIFF", "nokey", "a"]), "*0\r\n");
        run(&s, &["SET", "str", "v"]);
        run(&s, &["EXPIRE", "str", "100"]);
        assert_eq!(run(&s, &["SDIFFSTORE", "str", "a", "b"]), ":2\r\n");
        assert_eq!(run(&s, &["TTL", "str"]), ":-1\r\n", "store drops the TTL");
        assert_eq!(run(&s, &["SDIFFSTORE", "str", "a", "a"]), ":0\r\n");
        assert_eq!(run(&s, &["EXISTS", "str"]), ":0\r\n");
        // The destination may be a source.
        assert_eq!(run(&s, &["SUNIONSTORE", "a", "a", "b"]), ":5\r\n");
        assert_eq!(run(&s, &["SCARD", "a"]), ":5\r\n");
        assert_eq!(run(&s, &["SCARD", "b"]), ":3\r\n");
    }

    #[test]
    fn sintercard_errors() {
        let s = server();
        let cases = [
            (
                &["SINTERCARD", "0", "k"][..],
                "-ERR numkeys should be greater than 0\r\n",
            ),
            (
                &["SINTERCARD", "a", "k"],
                "-ERR numkeys should be greater than 0\r\n",
            ),
            (
                &["SINTERCARD", "2", "k"],
                "-ERR Number of keys can't be greater than number of args\r\n",
            ),
            (&["SINTERCARD", "1", "k", "x"], "-ERR syntax error\r\n"),
            (&["SINTERCARD", "1", "k", "LIMIT"], "-ERR syntax error\r\n"),
            (
                &["SINTERCARD", "1", "k", "LIMIT", "-1"],
                "-ERR LIMIT can't be negative\r\n",
            ),
            (
                &["SINTERCARD", "1", "k", "LIMIT", "a"],
                "-ERR LIMIT can't be negative\r\n",
            ),
            (&["SINTERCARD", "1", "k", "LIMIT", "0"], ":0\r\n"),
        ];
        for (cmd, want) in cases {
            assert_eq!(run(&s, cmd), want, "{cmd:?}");
        }
    }

    #[test]
    fn spop_and_srandmember() {
        let s = server();
        assert_eq!(run(&s, &["SPOP", "nokey"]), "$-1\r\n");
        assert_eq!(run(&s, &["SPOP", "nokey", "3"]), "*0\r\n");
        assert_eq!(run(&s, &["SRANDMEMBER", "nokey"]), "$-1\r\n");
        assert_eq!(run(&s, &["SRANDMEMBER", "nokey", "3"]), "*0\r\n");
        assert_eq!(
            run(&s, &["SPOP", "k", "-1"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(
            run(&s, &["SPOP", "k", "x"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(run(&s, &["SPOP", "k", "1", "2"]), "-ERR syntax error\r\n");
        assert_eq!(
            run(&s, &["SRANDMEMBER", "k", "1", "2"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["SRANDMEMBER", "k", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        run(&s, &["SADD", "k", "a"]);
        assert_eq!(
            run(&s, &["SRANDMEMBER", "k", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and \
             9223372036854775807\r\n"
        );
        assert_eq!(run(&s, &["SRANDMEMBER", "k", "0"]), "*0\r\n");
        assert_eq!(
            run(&s, &["SRANDMEMBER", "k", "-3"]),
            "*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
        );
        assert_eq!(run(&s, &["SRANDMEMBER", "k", "5"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(run(&s, &["SPOP", "k", "0"]), "*0\r\n");
        assert_eq!(run(&s, &["SPOP", "k"]), "$1\r\na\r\n");
        assert_eq!(run(&s, &["EXISTS", "k"]), ":0\r\n");
        run(&s, &["SADD", "k", "3", "1", "2"]);
        // count >= size: everything, in the order SUNION would give.
        assert_eq!(
            run(&s, &["SPOP", "k", "10"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(run(&s, &["EXISTS", "k"]), ":0\r\n");
        for i in 0..300 {
            run(&s, &["SADD", "big", &format!("m{i}")]);
        }
        assert_eq!(enc(&s, "big"), "$9\r\nhashtable\r\n");
        let r = run(&s, &["SPOP", "big", "295"]);
        assert!(r.starts_with("*295\r\n"), "{r}");
        // Few survivors: rebuilt as a listpack, as Redis 7.2 does.
        assert_eq!(enc(&s, "big"), "$8\r\nlistpack\r\n");
        assert_eq!(run(&s, &["SCARD", "big"]), ":5\r\n");
    }

    #[test]
    fn smove_cases() {
        let s = server();
        run(&s, &["SADD", "src", "1", "a", "b"]);
        run(&s, &["SADD", "dst", "2", "3"]);
        assert_eq!(run(&s, &["SMOVE", "src", "dst", "a"]), ":1\r\n");
        assert_eq!(enc(&s, "dst"), "$8\r\nlistpack\r\n");
        assert_eq!(run(&s, &["SMOVE", "src", "dst", "zz"]), ":0\r\n");
        assert_eq!(run(&s, &["SMOVE", "src", "src", "b"]), ":1\r\n");
        assert_eq!(run(&s, &["SMOVE", "src", "src", "zz"]), ":0\r\n");
        assert_eq!(run(&s, &["SMOVE", "src", "new", "1"]), ":1\r\n");
        assert_eq!(enc(&s, "new"), "$6\r\nintset\r\n");
        assert_eq!(run(&s, &["SMOVE", "src", "new", "b"]), ":1\r\n");
        assert_eq!(run(&s, &["EXISTS", "src"]), ":0\r\n");
        assert_eq!(run(&s, &["SCARD", "new"]), ":2\r\n");
    }

    #[test]
    fn sscan_small_and_large() {
        let s = server();
        assert_eq!(
            run(&s, &["SSCAN", "nokey", "0", "COUNT", "0"]),
            "*2\r\n$1\r\n0\r\n*0\r\n"
        );
        assert_eq!(run(&s, &["SSCAN", "k", "x"]), "-ERR invalid cursor\r\n");
        run(&s, &["SADD", "k", "1", "2", "10"]);
        assert_eq!(
            run(&s, &["SSCAN", "k", "0", "MATCH", "1*"]),
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\n1\r\n$2\r\n10\r\n"
        );
        assert_eq!(
            run(&s, &["SSCAN", "k", "0", "COUNT", "0"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["SSCAN", "k", "0", "COUNT"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["SSCAN", "k", "0", "COUNT", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        for i in 0..1000 {
            run(&s, &["SADD", "big", &format!("m{i}")]);
        }
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        loop {
            let r = run(&s, &["SSCAN", "big", &cursor, "COUNT", "20"]);
            let lines: Vec<&str> = r.split("\r\n").collect();
            cursor = lines[2].to_string();
            for m in lines[4..].iter().skip(1).step_by(2) {
                if !m.is_empty() {
                    seen.insert(m.to_string());
                }
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn resp3_replies() {
        let s = server();
        let mut c = Session::new(&s);
        c.run(&["HELLO", "3"]);
        c.run(&["SADD", "k", "a", "b"]);
        assert_eq!(c.run(&["SMEMBERS", "k"]), "~2\r\n$1\r\na\r\n$1\r\nb\r\n");
        assert_eq!(c.run(&["SMEMBERS", "nokey"]), "~0\r\n");
        assert_eq!(c.run(&["SINTER", "k", "nokey"]), "~0\r\n");
        assert_eq!(c.run(&["SUNION", "k"]), "~2\r\n$1\r\na\r\n$1\r\nb\r\n");
        assert_eq!(c.run(&["SPOP", "nokey"]), "_\r\n");
        assert_eq!(c.run(&["SPOP", "nokey", "1"]), "~0\r\n");
        assert_eq!(c.run(&["SRANDMEMBER", "nokey", "1"]), "*0\r\n");
        assert!(c
            .run(&["SRANDMEMBER", "k", "-1"])
            .starts_with("*1\r\n$1\r\n"));
        assert_eq!(c.run(&["SMISMEMBER", "k", "a", "z"]), "*2\r\n:1\r\n:0\r\n");
        assert!(c.run(&["SPOP", "k", "1"]).starts_with("~1\r\n"));
    }
}
