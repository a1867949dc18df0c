//! List commands (LPUSH ... LMPOP), following Redis's `t_list.c`: the same
//! order of checks (so the same error wins), the same replies (RESP2 and
//! RESP3 nulls included) and Redis 7.2's encoding conversions, made at the
//! same points (see [`types::List`]). A list left empty is deleted.
//!
//! The blocking variants (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) live
//! elsewhere but serve through the same cores: [`try_pop`], [`try_mpop`]
//! and [`try_move`] act on locked shards and write the reply only when
//! something was served, so a blocking command can call them, and block
//! when they return `Ok(false)`.

use keyspace::{Locked, Value};
use resp::ReplyWriter;
use types::list::{clamp_range, End};
use types::List;

use crate::args::{eq, int, parse_i64};
use crate::collections::{list, read, remove_if_empty, write, write_or_create};
use crate::error::{wrong_args, CmdError, CmdResult, NO_SUCH_KEY, SYNTAX};
use crate::notify;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("lpush", lpush),
    ("rpush", rpush),
    ("lpushx", lpushx),
    ("rpushx", rpushx),
    ("lpop", lpop),
    ("rpop", rpop),
    ("llen", llen),
    ("lindex", lindex),
    ("linsert", linsert),
    ("lrange", lrange),
    ("lrem", lrem),
    ("lset", lset),
    ("ltrim", ltrim),
    ("lpos", lpos),
    ("lmove", lmove),
    ("rpoplpush", rpoplpush),
    ("lmpop", lmpop),
];

/// `list-max-listpack-size`, read live (CONFIG SET applies to the next command).
pub(crate) fn fill(ctx: &Ctx) -> i64 {
    ctx.server.config.hot.limits().list_max_listpack_size
}

fn new_list() -> Value {
    Value::List(Box::default())
}

/// Parses LEFT / RIGHT (LMOVE, LMPOP and their blocking forms).
pub(crate) fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if eq(arg, "left") {
        Ok(End::Head)
    } else if eq(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(SYNTAX)
    }
}

/// An integer in `min ..= max`, any failure (not an integer included)
/// replying `msg` (Redis's `getRangeLongFromObjectOrReply` with a message).
fn ranged(arg: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, CmdError> {
    parse_i64(arg)
        .filter(|v| (min..=max).contains(v))
        .ok_or(CmdError::new(msg))
}

/// A count argument (LPOP/RPOP): a non-negative integer.
fn positive(arg: &[u8]) -> Result<i64, CmdError> {
    ranged(
        arg,
        0,
        i64::MAX,
        "ERR value is out of range, must be positive",
    )
}

/// After elements were removed from `key`: deletes the key if the list is
/// empty, else lets it convert back to a listpack (Redis's
/// `listElementsRemoved`).
fn after_removal(l: &mut Locked, db: usize, key: &[u8], fill: i64) -> Result<(), CmdError> {
    if remove_if_empty(l, db, key) {
        notify::emit(notify::GENERIC, "del", db, key);
    } else {
        if let Some(lst) = write(l, db, key, list)? {
            lst.convert_after_shrink(fill);
        }
    }
    Ok(())
}

// ----- pushes -----

fn push_generic(ctx: &mut Ctx, a: &[&[u8]], end: End, only_existing: bool) -> CmdResult {
    let (key, values) = (a[1], &a[2..]);
    let (db, fill) = (ctx.db(), fill(ctx));
    let mut l = ctx.lock([key]);
    // Type first: LPUSHX on a string is WRONGTYPE, on a missing key 0.
    let exists = write(&mut l, db, key, list)?.is_some();
    if only_existing && !exists {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    let lst = write_or_create(&mut l, db, key, list, new_list)?;
    lst.push_all(end, values.iter().copied(), fill);
    let len = lst.len();
    drop(l);
    ctx.notify(notify::LIST, push_event(end), key);
    ctx.out.int(len as i64);
    Ok(())
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

fn lpush(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Head, false)
}

fn rpush(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    push_generic(ctx, a, End::Tail, true)
}

fn linsert(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let after = if eq(a[2], "after") {
        true
    } else if eq(a[2], "before") {
        false
    } else {
        return Err(SYNTAX);
    };
    let (key, pivot, value) = (a[1], a[3], a[4]);
    let (db, fill) = (ctx.db(), fill(ctx));
    let mut l = ctx.lock([key]);
    let Some(lst) = write(&mut l, db, key, list)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    // Like Redis, convert for the new element before knowing whether the
    // pivot exists (so a failed LINSERT can still change the encoding).
    lst.convert_for_growth([value], fill);
    let reply = match lst.find(pivot) {
        Some(i) => {
            lst.insert(i, after, value);
            lst.len() as i64
        }
        None => -1,
    };
    drop(l);
    if reply > 0 {
        ctx.notify(notify::LIST, "linsert", key);
    }
    ctx.out.int(reply);
    Ok(())
}

// ----- pops -----

fn pop_generic(ctx: &mut Ctx, a: &[&[u8]], end: End) -> CmdResult {
    if a.len() > 3 {
        return Err(wrong_args(ctx.spec.name));
    }
    let count = match a.get(2) {
        Some(arg) => Some(positive(arg)? as usize),
        None => None,
    };
    let (key, db, fill) = (a[1], ctx.db(), fill(ctx));
    let mut l = ctx.lock([key]);
    let Some(lst) = write(&mut l, db, key, list)? else {
        drop(l);
        // With a count the "nothing" reply is a null array.
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    match count {
        Some(0) => ctx.out.array(0),
        Some(n) => {
            let items = lst.pop_many(end, n);
            ctx.out.array(items.len());
            for v in &items {
                ctx.out.bulk(v);
            }
            notify::emit(notify::LIST, pop_event(end), db, key);
            after_removal(&mut l, db, key, fill)?;
        }
        None => {
            if let Some(v) = lst.pop(end) {
                ctx.out.bulk(&v);
            } else {
                ctx.out.null();
            }
            notify::emit(notify::LIST, pop_event(end), db, key);
            after_removal(&mut l, db, key, fill)?;
        }
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, a, End::Head)
}

fn rpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, a, End::Tail)
}

/// Pops one element from the first non-empty list among `keys` and replies
/// `[key, element]` (BLPOP/BRPOP's reply). `Ok(false)`: all were missing,
/// nothing written. A key of another type is WRONGTYPE, as soon as it is
/// reached (keys before it are missing).
pub(crate) fn try_pop<'k>(
    out: &mut ReplyWriter,
    l: &mut Locked,
    db: usize,
    keys: &[&'k [u8]],
    end: End,
    fill: i64,
) -> Result<Option<&'k [u8]>, CmdError> {
    for &key in keys {
        let Some(lst) = write(l, db, key, list)? else {
            continue;
        };
        let Some(v) = lst.pop(end) else {
            continue;
        };
        notify::emit(notify::LIST, pop_event(end), db, key);
        after_removal(l, db, key, fill)?;
        out.array(2);
        out.bulk(key);
        out.bulk(&v);
        return Ok(Some(key));
    }
    Ok(None)
}

/// Pops up to `count` elements from the first non-empty list among `keys`
/// and replies `[key, [elements]]` (LMPOP/BLMPOP's reply). `Ok(false)`:
/// all were missing, nothing written.
pub(crate) fn try_mpop<'k>(
    out: &mut ReplyWriter,
    l: &mut Locked,
    db: usize,
    keys: &[&'k [u8]],
    end: End,
    count: usize,
    fill: i64,
) -> Result<Option<&'k [u8]>, CmdError> {
    for &key in keys {
        let Some(lst) = write(l, db, key, list)? else {
            continue;
        };
        if lst.is_empty() {
            continue;
        }
        let items = lst.pop_many(end, count);
        notify::emit(notify::LIST, pop_event(end), db, key);
        after_removal(l, db, key, fill)?;
        out.array(2);
        out.bulk(key);
        out.array(items.len());
        for v in &items {
            out.bulk(v);
        }
        return Ok(Some(key));
    }
    Ok(None)
}

/// Moves one element from `src`'s `from` end to `dst`'s `to` end (which
/// may be the same list) and replies with it (LMOVE/BLMOVE's reply).
/// `Ok(false)`: `src` is missing, nothing written. A `dst` of another type
/// is WRONGTYPE, checked before anything is popped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn try_move(
    out: &mut ReplyWriter,
    l: &mut Locked,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    fill: i64,
) -> Result<bool, CmdError> {
    if write(l, db, src, list)?.is_none() {
        return Ok(false);
    }
    write(l, db, dst, list)?;
    let Some(v) = write(l, db, src, list)?.and_then(|s| s.pop(from)) else {
        return Ok(false);
    };
    // Push before cleaning up the source: with src == dst the list must
    // not be deleted in between, and Redis shrink-checks only afterwards.
    notify::emit(notify::LIST, pop_event(from), db, src);
    let d = write_or_create(l, db, dst, list, new_list)?;
    d.convert_for_growth([v.as_slice()], fill);
    d.push(to, &v);
    notify::emit(notify::LIST, push_event(to), db, dst);
    after_removal(l, db, src, fill)?;
    out.bulk(&v);
    Ok(true)
}

fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let (db, fill) = (ctx.db(), fill(ctx));
    let mut l = ctx.lock([src, dst]);
    if !try_move(&mut ctx.out, &mut l, db, src, dst, from, to, fill)? {
        ctx.out.null();
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let from = parse_end(a[3])?;
    let to = parse_end(a[4])?;
    lmove_generic(ctx, a[1], a[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    lmove_generic(ctx, a[1], a[2], End::Tail, End::Head)
}

/// The parsed arguments of LMPOP / BLMPOP.
pub(crate) struct MpopArgs<'a> {
    pub keys: &'a [&'a [u8]],
    pub end: End,
    pub count: usize,
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT count]` with `numkeys` at
/// `a[numkeys_at]` (1 for LMPOP, 2 for BLMPOP), with Redis's errors.
pub(crate) fn parse_mpop<'a>(
    a: &'a [&'a [u8]],
    numkeys_at: usize,
) -> Result<MpopArgs<'a>, CmdError> {
    let numkeys = ranged(
        a.get(numkeys_at).ok_or(SYNTAX)?,
        1,
        i64::MAX,
        "ERR numkeys should be greater than 0",
    )?;
    let first_key = numkeys_at + 1;
    let where_at = match usize::try_from(numkeys) {
        Ok(n) if n < a.len().saturating_sub(first_key) => first_key + n,
        _ => return Err(SYNTAX),
    };
    let end = parse_end(a[where_at])?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < a.len() {
        if count.is_none() && eq(a[i], "count") && i + 1 < a.len() {
            count = Some(ranged(
                a[i + 1],
                1,
                i64::MAX,
                "ERR count should be greater than 0",
            )?);
            i += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok(MpopArgs {
        keys: &a[first_key..where_at],
        end,
        count: count.unwrap_or(1) as usize,
    })
}

fn lmpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let m = parse_mpop(a, 1)?;
    let (db, fill) = (ctx.db(), fill(ctx));
    let mut l = ctx.lock(m.keys.iter().copied());
    if try_mpop(&mut ctx.out, &mut l, db, m.keys, m.end, m.count, fill)?.is_none() {
        ctx.out.null_array();
    }
    Ok(())
}

// ----- reads -----

fn llen(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let n = read(&mut l, db, a[1], list)?.map_or(0, |lst| lst.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn lindex(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    // Redis looks the key up (and type-checks it) before parsing the index.
    let Some(lst) = read(&mut l, db, a[1], list)? else {
        drop(l);
        ctx.out.null();
        return Ok(());
    };
    let index = int(a[2])?;
    match lst.get(index) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lrange(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (start, stop) = (int(a[2])?, int(a[3])?);
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let Some(lst) = read(&mut l, db, a[1], list)? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    reply_range(&mut ctx.out, lst, start, stop);
    Ok(())
}

/// Replies with the elements `start ..= stop` (Redis indexes) as an array.
fn reply_range(out: &mut ReplyWriter, lst: &List, start: i64, stop: i64) {
    let range = clamp_range(lst.len(), start, stop).unwrap_or(0..0);
    out.array(range.len());
    for v in lst.range(range) {
        out.bulk(v);
    }
}

fn lpos(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let element = a[2];
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    let mut i = 3;
    while i < a.len() {
        let more = i + 1 < a.len();
        if eq(a[i], "rank") && more {
            // -LONG_MAX ..= LONG_MAX, as Redis 7.2+: LONG_MIN cannot be negated.
            rank = parse_i64(a[i + 1])
                .ok_or(crate::error::NOT_INTEGER)
                .and_then(|r| {
                    if r == i64::MIN {
                        Err(CmdError::new(
                            "ERR value is out of range, value must between \
                             -9223372036854775807 and 9223372036854775807",
                        ))
                    } else {
                        Ok(r)
                    }
                })?;
            if rank == 0 {
                return Err(CmdError::new(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq(a[i], "count") && more {
            count = Some(ranged(
                a[i + 1],
                0,
                i64::MAX,
                "ERR COUNT can't be negative",
            )?);
        } else if eq(a[i], "maxlen") && more {
            maxlen = ranged(a[i + 1], 0, i64::MAX, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let Some(lst) = read(&mut l, db, a[1], list)? else {
        drop(l);
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let as_usize = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
    let found = lst.positions(element, rank, count.map_or(1, as_usize), as_usize(maxlen));
    drop(l);
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for p in found {
                ctx.out.int(p as i64);
            }
        }
        None => match found.first() {
            Some(&p) => ctx.out.int(p as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

// ----- in-place changes -----

fn lset(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, value) = (a[1], a[3]);
    let (db, fill) = (ctx.db(), fill(ctx));
    let mut l = ctx.lock([key]);
    let lst = write(&mut l, db, key, list)?.ok_or(NO_SUCH_KEY)?;
    let index = int(a[2])?;
    // Converts (if needed) even when the index then turns out out of range.
    lst.convert_for_growth([value], fill);
    if !lst.set(index, value) {
        return Err(CmdError::new("ERR index out of range"));
    }
    lst.convert_after_shrink(fill);
    drop(l);
    ctx.notify(notify::LIST, "lset", key);
    ctx.out.ok();
    Ok(())
}

fn lrem(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // -LONG_MAX ..= LONG_MAX, as Redis 7.2+: LONG_MIN cannot be negated.
    let count = match int(a[2])? {
        i64::MIN => {
            return Err(CmdError::new(
                "ERR value is out of range, value must between -9223372036854775807 and \
                 9223372036854775807",
            ))
        }
        c => c,
    };
    let (key, db, fill) = (a[1], ctx.db(), fill(ctx));
    let mut l = ctx.lock([key]);
    let Some(lst) = write(&mut l, db, key, list)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let removed = lst.remove(a[3], count);
    if removed > 0 {
        notify::emit(notify::LIST, "lrem", db, key);
        after_removal(&mut l, db, key, fill)?;
    }
    drop(l);
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (start, stop) = (int(a[2])?, int(a[3])?);
    let (key, db, fill) = (a[1], ctx.db(), fill(ctx));
    let mut l = ctx.lock([key]);
    if let Some(lst) = write(&mut l, db, key, list)? {
        lst.trim(start, stop);
        notify::emit(notify::LIST, "ltrim", db, key);
        after_removal(&mut l, db, key, fill)?;
    }
    drop(l);
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::{check, run, server, Session};

    #[test]
    fn push_pop_len_range() {
        let srv = server();
        let mut s = Session::new(&srv);
        check(
            &mut s,
            &[
                (&["RPUSH", "l", "a", "b", "c"], ":3\r\n"),
                (&["LPUSH", "l", "x", "y"], ":5\r\n"),
                (
                    &["LRANGE", "l", "0", "-1"],
                    "*5\r\n$1\r\ny\r\n$1\r\nx\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
                ),
                (
                    &["LRANGE", "l", "-2", "100"],
                    "*2\r\n$1\r\nb\r\n$1\r\nc\r\n",
                ),
                (&["LRANGE", "l", "3", "1"], "*0\r\n"),
                (&["LRANGE", "nokey", "0", "-1"], "*0\r\n"),
                (&["LLEN", "l"], ":5\r\n"),
                (&["LLEN", "nokey"], ":0\r\n"),
                (&["LPOP", "l"], "$1\r\ny\r\n"),
                (&["RPOP", "l"], "$1\r\nc\r\n"),
                (&["RPOP", "l", "2"], "*2\r\n$1\r\nb\r\n$1\r\na\r\n"),
                (&["LPOP", "l", "0"], "*0\r\n"),
                (&["LPOP", "l", "5"], "*1\r\n$1\r\nx\r\n"),
                (&["EXISTS", "l"], ":0\r\n"),
                (&["LPOP", "l"], "$-1\r\n"),
                (&["LPOP", "l", "0"], "*-1\r\n"),
                (&["LPOP", "l", "3"], "*-1\r\n"),
                (
                    &["LPOP", "l", "-1"],
                    "-ERR value is out of range, must be positive\r\n",
                ),
                (
                    &["LPOP", "l", "x"],
                    "-ERR value is out of range, must be positive\r\n",
                ),
                (
                    &["LPOP", "l", "1", "2"],
                    "-ERR wrong number of arguments for 'lpop' command\r\n",
                ),
                (&["LPUSHX", "l", "a"], ":0\r\n"),
                (&["RPUSH", "l", "a"], ":1\r\n"),
                (&["RPUSHX", "l", "b", "c"], ":3\r\n"),
            ],
        );
    }

    #[test]
    fn resp3_nulls() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["HELLO", "3"]);
        check(
            &mut s,
            &[
                (&["LPOP", "none"], "_\r\n"),
                (&["LPOP", "none", "2"], "_\r\n"),
                (&["LMPOP", "1", "none", "LEFT"], "_\r\n"),
                (&["LINDEX", "none", "0"], "_\r\n"),
                (&["LPOS", "none", "a"], "_\r\n"),
                (&["LPOS", "none", "a", "COUNT", "0"], "*0\r\n"),
                (&["RPOPLPUSH", "none", "d"], "_\r\n"),
            ],
        );
    }

    #[test]
    fn wrong_type_everywhere() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["SET", "str", "v"]);
        s.run(&["RPUSH", "l", "a"]);
        let wt = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        for cmd in [
            &["LPUSH", "str", "a"][..],
            &["LPUSHX", "str", "a"],
            &["LPOP", "str"],
            &["LPOP", "str", "0"],
            &["LLEN", "str"],
            &["LINDEX", "str", "notanint"],
            &["LINSERT", "str", "BEFORE", "a", "b"],
            &["LRANGE", "str", "0", "1"],
            &["LREM", "str", "0", "a"],
            &["LSET", "str", "0", "a"],
            &["LTRIM", "str", "0", "1"],
            &["LPOS", "str", "a"],
            &["LMOVE", "str", "l", "LEFT", "LEFT"],
            &["LMOVE", "l", "str", "LEFT", "LEFT"],
            &["RPOPLPUSH", "l", "str"],
            &["LMPOP", "2", "nokey", "str", "LEFT"],
        ] {
            assert_eq!(s.run(cmd), wt, "{cmd:?}");
        }
        // The wrong-type destination was checked before popping.
        assert_eq!(s.run(&["LLEN", "l"]), ":1\r\n");
        // A non-empty list before the string is served first.
        assert_eq!(
            s.run(&["LMPOP", "2", "l", "str", "LEFT"]),
            "*2\r\n$1\r\nl\r\n*1\r\n$1\r\na\r\n"
        );
    }

    #[test]
    fn index_set_insert() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["RPUSH", "l", "a", "b", "c"]);
        check(
            &mut s,
            &[
                (&["LINDEX", "l", "0"], "$1\r\na\r\n"),
                (&["LINDEX", "l", "-1"], "$1\r\nc\r\n"),
                (&["LINDEX", "l", "3"], "$-1\r\n"),
                (&["LINDEX", "l", "-9223372036854775808"], "$-1\r\n"),
                (
                    &["LINDEX", "l", "x"],
                    "-ERR value is not an integer or out of range\r\n",
                ),
                (&["LINDEX", "nokey", "x"], "$-1\r\n"),
                (&["LSET", "l", "1", "B"], "+OK\r\n"),
                (&["LSET", "l", "-3", "A"], "+OK\r\n"),
                (&["LSET", "l", "3", "x"], "-ERR index out of range\r\n"),
                (&["LSET", "nokey", "0", "x"], "-ERR no such key\r\n"),
                (&["LINSERT", "l", "BEFORE", "B", "1"], ":4\r\n"),
                (&["LINSERT", "l", "after", "c", "2"], ":5\r\n"),
                (&["LINSERT", "l", "after", "zz", "2"], ":-1\r\n"),
                (
                    &["LINSERT", "l", "middle", "c", "2"],
                    "-ERR syntax error\r\n",
                ),
                (&["LINSERT", "nokey", "after", "c", "2"], ":0\r\n"),
                (
                    &["LRANGE", "l", "0", "-1"],
                    "*5\r\n$1\r\nA\r\n$1\r\n1\r\n$1\r\nB\r\n$1\r\nc\r\n$1\r\n2\r\n",
                ),
            ],
        );
    }

    #[test]
    fn rem_trim() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["RPUSH", "l", "a", "b", "a", "c", "a", "b"]);
        check(
            &mut s,
            &[
                (&["LREM", "l", "-2", "a"], ":2\r\n"),
                (
                    &["LRANGE", "l", "0", "-1"],
                    "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nb\r\n",
                ),
                (&["LREM", "l", "0", "b"], ":2\r\n"),
                (&["LREM", "l", "1", "zz"], ":0\r\n"),
                (&["LREM", "nokey", "1", "zz"], ":0\r\n"),
                (
                    &["LREM", "l", "x", "a"],
                    "-ERR value is not an integer or out of range\r\n",
                ),
                (&["LTRIM", "l", "0", "0"], "+OK\r\n"),
                (&["LRANGE", "l", "0", "-1"], "*1\r\n$1\r\na\r\n"),
                (&["LTRIM", "l", "1", "0"], "+OK\r\n"),
                (&["EXISTS", "l"], ":0\r\n"),
                (&["LTRIM", "nokey", "0", "1"], "+OK\r\n"),
                (&["RPUSH", "m", "x"], ":1\r\n"),
                (&["LREM", "m", "0", "x"], ":1\r\n"),
                (&["EXISTS", "m"], ":0\r\n"),
            ],
        );
    }

    #[test]
    fn lpos_options_and_errors() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
        check(
            &mut s,
            &[
                (&["LPOS", "l", "c"], ":2\r\n"),
                (&["LPOS", "l", "c", "RANK", "2"], ":6\r\n"),
                (&["LPOS", "l", "c", "RANK", "-1"], ":7\r\n"),
                (&["LPOS", "l", "c", "RANK", "4"], "$-1\r\n"),
                (&["LPOS", "l", "c", "COUNT", "0"], "*3\r\n:2\r\n:6\r\n:7\r\n"),
                (&["LPOS", "l", "c", "COUNT", "2", "RANK", "-1"], "*2\r\n:7\r\n:6\r\n"),
                (&["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"], "*2\r\n:2\r\n:6\r\n"),
                (&["LPOS", "l", "x", "COUNT", "0"], "*0\r\n"),
                (
                    &["LPOS", "l", "c", "RANK", "0"],
                    "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list\r\n",
                ),
                (&["LPOS", "l", "c", "COUNT", "-1"], "-ERR COUNT can't be negative\r\n"),
                (&["LPOS", "l", "c", "COUNT", "x"], "-ERR COUNT can't be negative\r\n"),
                (&["LPOS", "l", "c", "MAXLEN", "-1"], "-ERR MAXLEN can't be negative\r\n"),
                (
                    &["LPOS", "l", "c", "RANK", "x"],
                    "-ERR value is not an integer or out of range\r\n",
                ),
                (&["LPOS", "l", "c", "RANK"], "-ERR syntax error\r\n"),
                (&["LPOS", "l", "c", "FOO", "1"], "-ERR syntax error\r\n"),
                // Options are parsed before the key is looked up.
                (&["LPOS", "nokey", "c", "RANK", "0"], "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"),
            ],
        );
    }

    #[test]
    fn lmove_and_lmpop() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["RPUSH", "src", "a", "b", "c"]);
        check(
            &mut s,
            &[
                (&["LMOVE", "src", "dst", "LEFT", "RIGHT"], "$1\r\na\r\n"),
                (&["RPOPLPUSH", "src", "dst"], "$1\r\nc\r\n"),
                (
                    &["LRANGE", "dst", "0", "-1"],
                    "*2\r\n$1\r\nc\r\n$1\r\na\r\n",
                ),
                // Same key: rotates, and a one-element list survives.
                (&["LMOVE", "dst", "dst", "LEFT", "RIGHT"], "$1\r\nc\r\n"),
                (
                    &["LRANGE", "dst", "0", "-1"],
                    "*2\r\n$1\r\na\r\n$1\r\nc\r\n",
                ),
                (&["RPOPLPUSH", "src", "src"], "$1\r\nb\r\n"),
                (&["LRANGE", "src", "0", "-1"], "*1\r\n$1\r\nb\r\n"),
                (
                    &["LMOVE", "src", "dst", "UP", "LEFT"],
                    "-ERR syntax error\r\n",
                ),
                (&["LMOVE", "nokey", "dst", "LEFT", "LEFT"], "$-1\r\n"),
                (
                    &["LMPOP", "2", "nokey", "dst", "RIGHT", "COUNT", "5"],
                    "*2\r\n$3\r\ndst\r\n*2\r\n$1\r\nc\r\n$1\r\na\r\n",
                ),
                (&["EXISTS", "dst"], ":0\r\n"),
                (&["LMPOP", "1", "nokey", "LEFT"], "*-1\r\n"),
                (
                    &["LMPOP", "0", "src", "LEFT"],
                    "-ERR numkeys should be greater than 0\r\n",
                ),
                (
                    &["LMPOP", "x", "src", "LEFT"],
                    "-ERR numkeys should be greater than 0\r\n",
                ),
                (&["LMPOP", "2", "src", "LEFT"], "-ERR syntax error\r\n"),
                (&["LMPOP", "1", "src", "MIDDLE"], "-ERR syntax error\r\n"),
                (
                    &["LMPOP", "1", "src", "LEFT", "COUNT", "0"],
                    "-ERR count should be greater than 0\r\n",
                ),
                (
                    &["LMPOP", "1", "src", "LEFT", "COUNT", "1", "COUNT", "1"],
                    "-ERR syntax error\r\n",
                ),
                (
                    &["LMPOP", "1", "src", "LEFT", "COUNT"],
                    "-ERR syntax error\r\n",
                ),
                (
                    &["LMPOP", "1", "src", "LEFT", "COUNT", "9"],
                    "*2\r\n$3\r\nsrc\r\n*1\r\n$1\r\nb\r\n",
                ),
            ],
        );
    }

    #[test]
    fn encodings_follow_redis_7_2() {
        let srv = server();
        let mut s = Session::new(&srv);
        let enc = |s: &mut Session, k: &str| s.run(&["OBJECT", "ENCODING", k]);
        assert_eq!(
            s.run(&["CONFIG", "SET", "list-max-listpack-size", "4"]),
            "+OK\r\n"
        );
        s.run(&["RPUSH", "l", "1", "2", "3", "4"]);
        assert_eq!(enc(&mut s, "l"), "$8\r\nlistpack\r\n");
        s.run(&["RPUSH", "l", "5"]);
        assert_eq!(enc(&mut s, "l"), "$9\r\nquicklist\r\n");
        s.run(&["RPOP", "l", "2"]);
        assert_eq!(enc(&mut s, "l"), "$9\r\nquicklist\r\n", "3 > half of 4");
        s.run(&["RPOP", "l"]);
        assert_eq!(enc(&mut s, "l"), "$8\r\nlistpack\r\n");
        // A failed LINSERT still converts when the element would not fit.
        s.run(&["RPUSH", "l", "3", "4"]);
        assert_eq!(s.run(&["LINSERT", "l", "BEFORE", "zz", "x"]), ":-1\r\n");
        assert_eq!(enc(&mut s, "l"), "$9\r\nquicklist\r\n");
        // LTRIM shrinks back.
        s.run(&["LTRIM", "l", "0", "1"]);
        assert_eq!(enc(&mut s, "l"), "$8\r\nlistpack\r\n");
        // Byte limits: the default -2 (8 KB).
        s.run(&["CONFIG", "SET", "list-max-listpack-size", "-2"]);
        let big = "x".repeat(5000);
        s.run(&["RPUSH", "b", &big]);
        assert_eq!(enc(&mut s, "b"), "$8\r\nlistpack\r\n");
        s.run(&["RPUSH", "b", &big]);
        assert_eq!(enc(&mut s, "b"), "$9\r\nquicklist\r\n");
        s.run(&["LPOP", "b"]);
        assert_eq!(enc(&mut s, "b"), "$9\r\nquicklist\r\n", "5 KB > 4 KB");
        s.run(&["LSET", "b", "0", "small"]);
        assert_eq!(enc(&mut s, "b"), "$8\r\nlistpack\r\n");
        // LMOVE creates its destination as a listpack.
        s.run(&["LMOVE", "b", "c", "LEFT", "LEFT"]);
        assert_eq!(enc(&mut s, "c"), "$8\r\nlistpack\r\n");
    }

    #[test]
    fn empty_strings_and_binary() {
        let srv = server();
        assert_eq!(run(&srv, &["RPUSH", "l", "", "\r\n", "0"]), ":3\r\n");
        assert_eq!(
            run(&srv, &["LRANGE", "l", "0", "-1"]),
            "*3\r\n$0\r\n\r\n$2\r\n\r\n\r\n$1\r\n0\r\n"
        );
        assert_eq!(run(&srv, &["LPOS", "l", ""]), ":0\r\n");
        assert_eq!(run(&srv, &["LREM", "l", "0", ""]), ":1\r\n");
    }
}
