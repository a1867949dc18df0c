//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP. Each first tries its non-blocking core (in `list.rs` /
//! `zset.rs`) under the keys' shard locks; if nothing can be served it parks
//! the client on the keys before releasing the locks (`Ctx::block`), and the
//! connection runs the command again when one of the keys is written.
//! A served pop propagates as its non-blocking form on the key it served
//! (a replay must never wait).

use types::list::End;

use crate::error::{CmdError, CmdResult, WRONGTYPE};
use crate::zset::PopStyle;
use crate::{list, parse_timeout, zset, Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("blpop", blpop),
    ("brpop", brpop),
    ("blmove", blmove),
    ("brpoplpush", brpoplpush),
    ("blmpop", blmpop),
    ("bzpopmin", bzpopmin),
    ("bzpopmax", bzpopmax),
    ("bzmpop", bzmpop),
];

/// A woken client whose key now holds another type keeps waiting: Redis
/// serves blocked clients only from keys of the type they wait for.
fn keep_waiting_on_wrong_type<T: Default>(
    ctx: &Ctx,
    r: Result<T, CmdError>,
) -> Result<T, CmdError> {
    match r {
        Err(e) if ctx.client.block_retry && e == WRONGTYPE => Ok(T::default()),
        r => r,
    }
}

fn bpop(ctx: &mut Ctx, a: &[&[u8]], end: End) -> CmdResult {
    let timeout = parse_timeout(a[a.len() - 1])?;
    let keys = &a[1..a.len() - 1];
    let (db, fill) = (ctx.db(), list::fill(ctx));
    let mut l = ctx.lock(keys.iter().copied());
    let served = list::try_pop(&mut ctx.out, &mut l, db, keys, end, fill);
    match keep_waiting_on_wrong_type(ctx, served)? {
        Some(key) => ctx.propagate(&[end_pop(end), key]),
        None => ctx.block(&l, keys, timeout, true),
    }
    Ok(())
}

fn end_pop(end: End) -> &'static [u8] {
    match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    }
}

fn end_name(end: End) -> &'static [u8] {
    match end {
        End::Head => b"LEFT",
        End::Tail => b"RIGHT",
    }
}

fn blpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    bpop(ctx, a, End::Head)
}

fn brpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    bpop(ctx, a, End::Tail)
}

fn bmove(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    timeout_arg: &[u8],
) -> CmdResult {
    let timeout = parse_timeout(timeout_arg)?;
    let (db, fill) = (ctx.db(), list::fill(ctx));
    let mut l = ctx.lock([src, dst]);
    // Only a source of the wrong type keeps a woken client waiting; a
    // destination of the wrong type is the client's error.
    let src_wrong_type = ctx.client.block_retry
        && l.get(db, src)
            .is_some_and(|e| crate::collections::list(&mut e.value).is_none());
    if src_wrong_type || !list::try_move(&mut ctx.out, &mut l, db, src, dst, from, to, fill)? {
        ctx.block(&l, &[src], timeout, false);
    } else {
        ctx.propagate(&[b"LMOVE", src, dst, end_name(from), end_name(to)]);
    }
    Ok(())
}

fn blmove(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let from = list::parse_end(a[3])?;
    let to = list::parse_end(a[4])?;
    bmove(ctx, a[1], a[2], from, to, a[5])
}

fn brpoplpush(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    bmove(ctx, a[1], a[2], End::Tail, End::Head, a[3])
}

fn blmpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(a[1])?;
    let m = list::parse_mpop(a, 2)?;
    let (db, fill) = (ctx.db(), list::fill(ctx));
    let mut l = ctx.lock(m.keys.iter().copied());
    let served = list::try_mpop(&mut ctx.out, &mut l, db, m.keys, m.end, m.count, fill);
    match keep_waiting_on_wrong_type(ctx, served)? {
        Some(key) => ctx.propagate(&[end_pop(m.end), key, m.count.to_string().as_bytes()]),
        None => ctx.block(&l, m.keys, timeout, true),
    }
    Ok(())
}

fn bzpop(ctx: &mut Ctx, a: &[&[u8]], max: bool) -> CmdResult {
    let timeout = parse_timeout(a[a.len() - 1])?;
    let keys = &a[1..a.len() - 1];
    let style = PopStyle {
        emit_key: true,
        nested: false,
    };
    let db = ctx.db();
    let mut l = ctx.lock(keys.iter().copied());
    let served = zset::try_pop(&mut ctx.out, &mut l, db, keys, max, None, style);
    match keep_waiting_on_wrong_type(ctx, served)? {
        Some((key, _)) => ctx.propagate(&[zpop_name(max), &key]),
        None => ctx.block(&l, keys, timeout, true),
    }
    Ok(())
}

fn zpop_name(max: bool) -> &'static [u8] {
    if max {
        b"ZPOPMAX"
    } else {
        b"ZPOPMIN"
    }
}

fn bzpopmin(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    bzpop(ctx, a, false)
}

fn bzpopmax(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    bzpop(ctx, a, true)
}

fn bzmpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(a[1])?;
    let (keys, max, count) = zset::parse_mpop(a, 2)?;
    let style = PopStyle {
        emit_key: true,
        nested: true,
    };
    let db = ctx.db();
    let mut l = ctx.lock(keys.iter().copied());
    let served = zset::try_pop(&mut ctx.out, &mut l, db, keys, max, Some(count), style);
    match keep_waiting_on_wrong_type(ctx, served)? {
        Some((key, _)) => {
            ctx.propagate(&[zpop_name(max), &key, count.to_string().as_bytes()]);
        }
        None => ctx.block(&l, keys, timeout, true),
    }
    Ok(())
}
