//! Sorted-set commands: ZADD ... ZSCAN (the blocking BZPOPMIN / BZPOPMAX /
//! BZMPOP live elsewhere and reuse [`try_pop`]).
//!
//! Everything follows Redis 7.0's `t_zset.c` (plus 7.2's ZRANK/ZREVRANK
//! `WITHSCORE`): argument checks happen in the same order and answer with
//! the same error texts, numbers are read as C's `strtod` reads them, scores
//! are printed with `%.17g` ([`resp::ReplyWriter::double`]), and WITHSCORES
//! replies are flat in RESP2 and `[member, score]` pairs in RESP3. The data
//! structure and its two encodings are [`types::ZSet`]; collections that
//! become empty are deleted.

use keyspace::glob::glob_match;
use keyspace::{Locked, Value};
use rand::Rng;
use resp::ReplyWriter;
use types::zset::LexBound;
use types::zset_value::{AddFlags, AddOutcome, LexRange, ScoreRange};
use types::{Limits, ZSet};

use crate::args::{eq, int};
use crate::collections::{self, remove_if_empty};
use crate::error::{wrong_args, CmdError, CmdResult, NOT_FLOAT, SYNTAX, WRONGTYPE};
use crate::notify;
use crate::strtod::{is_c_space, strtod};
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("zadd", zadd),
    ("zincrby", zincrby),
    ("zcard", zcard),
    ("zcount", zcount),
    ("zlexcount", zlexcount),
    ("zscore", zscore),
    ("zmscore", zmscore),
    ("zrank", zrank),
    ("zrevrank", zrevrank),
    ("zrange", zrange),
    ("zrangestore", zrangestore),
    ("zrangebyscore", zrangebyscore),
    ("zrevrangebyscore", zrevrangebyscore),
    ("zrangebylex", zrangebylex),
    ("zrevrangebylex", zrevrangebylex),
    ("zrevrange", zrevrange),
    ("zrem", zrem),
    ("zremrangebyrank", zremrangebyrank),
    ("zremrangebyscore", zremrangebyscore),
    ("zremrangebylex", zremrangebylex),
    ("zunion", zunion),
    ("zinter", zinter),
    ("zdiff", zdiff),
    ("zunionstore", zunionstore),
    ("zinterstore", zinterstore),
    ("zdiffstore", zdiffstore),
    ("zintercard", zintercard),
    ("zpopmin", zpopmin),
    ("zpopmax", zpopmax),
    ("zmpop", zmpop),
    ("zrandmember", zrandmember),
    ("zscan", zscan),
];

const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";
const MINMAX_NOT_FLOAT: &str = "ERR min or max is not a float";
const MINMAX_NOT_LEX: &str = "ERR min or max not valid string range item";

// ---------------------------------------------------------------------------
// Numbers as Redis reads them
// ---------------------------------------------------------------------------

/// A score or increment, read like Redis's `string2d` (the whole string,
/// no leading space, no NaN, no overflow or underflow to zero).
pub(crate) fn parse_score(s: &[u8]) -> Option<f64> {
    if s.first().is_none_or(|c| is_c_space(*c)) {
        return None;
    }
    let (v, n, erange) = strtod(s);
    if n != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// A score argument or Redis's "not a valid float" error.
fn score_arg(s: &[u8]) -> Result<f64, CmdError> {
    parse_score(s).ok_or(NOT_FLOAT)
}

/// One end of a score range, read like Redis's `zslParseRange`: an
/// optional `(`, then anything `strtod` reads completely (up to a NUL),
/// including nothing at all (0), but not NaN.
fn parse_range_end(s: &[u8]) -> Option<(f64, bool)> {
    let (body, ex) = match s.first() {
        Some(b'(') => (&s[1..], true),
        _ => (s, false),
    };
    let body = match body.iter().position(|&c| c == 0) {
        Some(n) => &body[..n],
        None => body,
    };
    let (v, n, _) = strtod(body);
    if n != body.len() || v.is_nan() {
        return None;
    }
    Some((v, ex))
}

fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    match (parse_range_end(min), parse_range_end(max)) {
        (Some((min, min_exclusive)), Some((max, max_exclusive))) => Ok(ScoreRange {
            min,
            max,
            min_exclusive,
            max_exclusive,
        }),
        _ => Err(CmdError::new(MINMAX_NOT_FLOAT)),
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
fn lex_bound(s: &[u8]) -> Option<LexBound<'_>> {
    match s.first()? {
        b'+' if s.len() == 1 => Some(LexBound::PosInf),
        b'-' if s.len() == 1 => Some(LexBound::NegInf),
        b'(' => Some(LexBound::Excl(&s[1..])),
        b'[' => Some(LexBound::Incl(&s[1..])),
        _ => None,
    }
}

fn lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CmdError> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(CmdError::new(MINMAX_NOT_LEX)),
    }
}

/// Redis's `getRangeLongFromObjectOrReply`: an integer within `min..=max`;
/// `msg` (if any) replaces both the "not an integer" and the range error.
fn ranged_int(s: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64, CmdError> {
    let err = |default: CmdError| msg.map_or(default, CmdError::new);
    let v = int(s).map_err(err)?;
    if v < min || v > max {
        return Err(err(CmdError::new(format!(
            "ERR value is out of range, value must between {min} and {max}"
        ))));
    }
    Ok(v)
}

/// Redis's `getPositiveLongFromObjectOrReply` with its default message.
fn positive_int(s: &[u8]) -> Result<i64, CmdError> {
    ranged_int(
        s,
        0,
        i64::MAX,
        Some("ERR value is out of range, must be positive"),
    )
}

// ---------------------------------------------------------------------------
// Shared plumbing
// ---------------------------------------------------------------------------

fn limits(ctx: &Ctx) -> Limits {
    ctx.server.config.hot.limits()
}

fn new_zset() -> Value {
    Value::ZSet(Default::default())
}

/// Replies with members (and scores): RESP2 flat, RESP3 `[member, score]` pairs.
fn reply_members(out: &mut ReplyWriter, items: &[(&[u8], f64)], withscores: bool) {
    if withscores && !out.is_resp3() {
        out.array(items.len() * 2);
    } else {
        out.array(items.len());
    }
    for (m, s) in items {
        emit_member(out, m, *s, withscores);
    }
}

/// Stores a computed result at `dst` (replacing whatever was there, TTL
/// included) and replies with its size; an empty result deletes `dst`.
fn store_result(
    out: &mut ReplyWriter,
    l: &mut Locked,
    db: usize,
    dst: &[u8],
    entries: Vec<(Vec<u8>, f64)>,
    limits: &Limits,
    event: &'static str,
) {
    if entries.is_empty() {
        if l.remove(db, dst).is_some() {
            notify::emit(notify::GENERIC, "del", db, dst);
        }
        out.int(0);
        return;
    }
    notify::emit(notify::ZSET, event, db, dst);
    let n = entries.len();
    l.set(db, dst, Value::ZSet(ZSet::from_entries(entries, limits)), 0);
    out.int(n as i64);
}

/// Owned copies of borrowed entries.
/// Deletes `key` if its sorted set is now empty, reporting the deletion.
fn remove_emptied(l: &mut Locked, db: usize, key: &[u8]) {
    if remove_if_empty(l, db, key) {
        notify::emit(notify::GENERIC, "del", db, key);
    }
}

fn to_owned(items: &[(&[u8], f64)]) -> Vec<(Vec<u8>, f64)> {
    items.iter().map(|(m, s)| (m.to_vec(), *s)).collect()
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------

fn zadd(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, a, false)
}

fn zincrby(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, a, true)
}

/// ZADD and ZINCRBY (Redis's `zaddGenericCommand`).
fn zadd_generic(ctx: &mut Ctx, a: &[&[u8]], incr: bool) -> CmdResult {
    let key = a[1];
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut idx = 2;
    while idx < a.len() {
        let o = a[idx];
        if eq(o, "nx") {
            f.nx = true;
        } else if eq(o, "xx") {
            f.xx = true;
        } else if eq(o, "ch") {
            ch = true;
        } else if eq(o, "incr") {
            f.incr = true;
        } else if eq(o, "gt") {
            f.gt = true;
        } else if eq(o, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &a[idx..];
    if rest.is_empty() || rest.len() % 2 == 1 {
        return Err(SYNTAX);
    }
    if f.nx && f.xx {
        return Err(CmdError::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    // Every score is checked before anything changes.
    let scores = rest
        .iter()
        .step_by(2)
        .map(|s| score_arg(s))
        .collect::<Result<Vec<f64>, CmdError>>()?;
    let lim = limits(ctx);
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let exists = collections::write(&mut l, db, key, collections::zset)?.is_some();
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    let mut nan = false;
    if exists || !f.xx {
        let z = collections::write_or_create(&mut l, db, key, collections::zset, new_zset)?;
        for (pair, &score) in rest.chunks(2).zip(&scores) {
            match z.add(pair[1], score, f, &lim) {
                Err(_) => {
                    nan = true;
                    break;
                }
                Ok(AddOutcome::Nop) => {}
                Ok(o) => {
                    processed += 1;
                    match o {
                        AddOutcome::Added(s) => {
                            added += 1;
                            last_score = s;
                        }
                        AddOutcome::Updated(s) => {
                            updated += 1;
                            last_score = s;
                        }
                        AddOutcome::Unchanged(s) => last_score = s,
                        AddOutcome::Nop => {}
                    }
                }
            }
        }
        if added + updated > 0 {
            notify::emit(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, db, key);
        }
        remove_emptied(&mut l, db, key);
    }
    drop(l);
    if nan {
        return Err(CmdError::new(NAN_RESULT));
    }
    if f.incr {
        if processed > 0 {
            ctx.out.double(last_score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

fn zrem(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, db) = (a[1], ctx.db());
    let mut l = ctx.lock([key]);
    let mut deleted = 0;
    if let Some(z) = collections::write(&mut l, db, key, collections::zset)? {
        for m in &a[2..] {
            deleted += z.remove(m) as i64;
            if z.is_empty() {
                break;
            }
        }
        if deleted > 0 {
            notify::emit(notify::ZSET, "zrem", db, key);
        }
        remove_emptied(&mut l, db, key);
    }
    drop(l);
    ctx.out.int(deleted);
    Ok(())
}

// ---------------------------------------------------------------------------
// Reads of single members
// ---------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let n = collections::read(&mut l, db, a[1], collections::zset)?.map_or(0, |z| z.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let s = collections::read(&mut l, db, a[1], collections::zset)?.and_then(|z| z.score(a[2]));
    drop(l);
    match s {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let z = collections::read(&mut l, db, a[1], collections::zset)?;
    let scores: Vec<Option<f64>> = a[2..]
        .iter()
        .map(|m| z.as_ref().and_then(|z| z.score(m)))
        .collect();
    drop(l);
    ctx.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, a, false)
}

fn zrevrank(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, a, true)
}

/// ZRANK / ZREVRANK, with Redis 7.2's optional WITHSCORE.
fn zrank_generic(ctx: &mut Ctx, a: &[&[u8]], rev: bool) -> CmdResult {
    if a.len() > 4 {
        return Err(wrong_args(ctx.spec.name));
    }
    let withscore = match a.get(3) {
        Some(o) if eq(o, "withscore") => true,
        Some(_) => return Err(SYNTAX),
        None => false,
    };
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let found =
        collections::read(&mut l, db, a[1], collections::zset)?.and_then(|z| z.rank(a[2], rev));
    drop(l);
    match found {
        Some((rank, score)) => {
            if withscore {
                ctx.out.array(2);
            }
            ctx.out.int(rank as i64);
            if withscore {
                ctx.out.double(score);
            }
        }
        None if withscore => ctx.out.null_array(),
        None => ctx.out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Counting and removing ranges
// ---------------------------------------------------------------------------

fn zcount(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let range = score_range(a[2], a[3])?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let n = collections::read(&mut l, db, a[1], collections::zset)?
        .map_or(0, |z| z.count_in_score(&range));
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let range = lex_range(a[2], a[3])?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let n = collections::read(&mut l, db, a[1], collections::zset)?
        .map_or(0, |z| z.count_in_lex(&range));
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

/// The range of a ZREMRANGEBY* or ZRANGE* command.
enum Spec<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

fn zremrange(ctx: &mut Ctx, a: &[&[u8]], spec: Spec) -> CmdResult {
    let (key, db, spec_name) = (a[1], ctx.db(), ctx.spec.name);
    let mut l = ctx.lock([key]);
    let mut deleted = 0;
    if let Some(z) = collections::write(&mut l, db, key, collections::zset)? {
        deleted = match spec {
            Spec::Rank(start, end) => {
                let len = z.len() as i64;
                let mut start = if start < 0 { start + len } else { start };
                let end = if end < 0 { end + len } else { end };
                start = start.max(0);
                if start > end || start >= len {
                    0
                } else {
                    z.remove_range_by_rank(start as usize, end.min(len - 1) as usize)
                }
            }
            Spec::Score(r) => z.remove_range_by_score(&r),
            Spec::Lex(r) => z.remove_range_by_lex(&r),
        };
        if deleted > 0 {
            let event = match spec_name {
                "zremrangebyrank" => "zremrangebyrank",
                "zremrangebyscore" => "zremrangebyscore",
                _ => "zremrangebylex",
            };
            notify::emit(notify::ZSET, event, db, key);
        }
        remove_emptied(&mut l, db, key);
    }
    drop(l);
    ctx.out.int(deleted as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let spec = Spec::Rank(int(a[2])?, int(a[3])?);
    zremrange(ctx, a, spec)
}

fn zremrangebyscore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let spec = Spec::Score(score_range(a[2], a[3])?);
    zremrange(ctx, a, spec)
}

fn zremrangebylex(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let spec = Spec::Lex(lex_range(a[2], a[3])?);
    zremrange(ctx, a, spec)
}

// ---------------------------------------------------------------------------
// ZRANGE and friends
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// The members a range selects, in reply order (Redis's
/// `genericZrangeby{rank,score,lex}Command`). A negative `limit` means all;
/// a negative `offset` selects nothing (Redis skips to the end).
fn select<'z>(
    z: &'z ZSet,
    spec: &Spec,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(&'z [u8], f64)> {
    let len = z.len();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match spec {
        Spec::Rank(start, end) => {
            let llen = len as i64;
            let mut start = if *start < 0 { start + llen } else { *start };
            let mut end = if *end < 0 { end + llen } else { *end };
            start = start.max(0);
            if start > end || start >= llen {
                return Vec::new();
            }
            end = end.min(llen - 1);
            z.iter_from(start as usize, rev)
                .take((end - start + 1) as usize)
                .collect()
        }
        _ if offset < 0 || (offset > 0 && offset as usize >= len) => Vec::new(),
        Spec::Score(r) => match z.score_range(r) {
            None => Vec::new(),
            Some((lo, hi)) => {
                let from = if rev { len - 1 - hi } else { lo };
                z.iter_from(from, rev)
                    .take(hi - lo + 1)
                    .skip(offset as usize)
                    .take(limit)
                    .collect()
            }
        },
        Spec::Lex(r) => {
            let first = if rev {
                z.last_in_lex(r)
            } else {
                z.first_in_lex(r)
            };
            match first {
                None => Vec::new(),
                Some(first) => {
                    let from = if rev { len - 1 - first } else { first };
                    z.iter_from(from, rev)
                        .skip(offset as usize)
                        .take_while(|(m, _)| if rev { r.gte_min(m) } else { r.lte_max(m) })
                        .take(limit)
                        .collect()
                }
            }
        }
    }
}

/// ZRANGE, ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX] (Redis's
/// `zrangeGenericCommand`): `src` is the index of the source key; `dst` the
/// destination of ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx,
    a: &[&[u8]],
    src: usize,
    dst: Option<&[u8]>,
    mut rtype: RangeType,
    mut dir: Direction,
) -> CmdResult {
    let store = dst.is_some();
    let key = a[src];
    let (mut min_i, mut max_i) = (src + 1, src + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = src + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        if !store && eq(a[j], "withscores") {
            withscores = true;
        } else if eq(a[j], "limit") && left >= 2 {
            offset = int(a[j + 1])?;
            limit = int(a[j + 2])?;
            j += 2;
        } else if dir == Direction::Auto && eq(a[j], "rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && eq(a[j], "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && eq(a[j], "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    if dir == Direction::Auto {
        dir = Direction::Forward;
    }
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::new(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let rev = dir == Direction::Reverse;
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut min_i, &mut max_i);
    }
    let spec = match rtype {
        RangeType::Score => Spec::Score(score_range(a[min_i], a[max_i])?),
        RangeType::Lex => Spec::Lex(lex_range(a[min_i], a[max_i])?),
        _ => Spec::Rank(int(a[min_i])?, int(a[max_i])?),
    };
    let db = ctx.db();
    let lim = limits(ctx);
    let mut l = match dst {
        Some(d) => ctx.lock([d, key]),
        None => ctx.lock([key]),
    };
    let z = collections::read(&mut l, db, key, collections::zset)?;
    let items = z
        .map(|z| select(z, &spec, rev, offset, limit))
        .unwrap_or_default();
    match dst {
        Some(d) => {
            let owned = to_owned(&items);
            store_result(&mut ctx.out, &mut l, db, d, owned, &lim, "zrangestore");
        }
        None => reply_members(&mut ctx.out, &items, withscores),
    }
    Ok(())
}

fn zrange(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeType::Auto, Direction::Auto)
}

fn zrangestore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 2, Some(a[1]), RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, a, 1, None, RangeType::Lex, Direction::Reverse)
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate`: a SUM of +inf and -inf is 0, a NaN
/// value is ignored by MIN and MAX.
fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// The options after the keys of ZUNION & co.
struct SetOpOptions {
    weights: Vec<f64>,
    agg: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0 = none).
    limit: usize,
}

fn parse_setop_options(
    opts: &[&[u8]],
    numkeys: usize,
    op: SetOp,
    store: bool,
    card_only: bool,
) -> Result<SetOpOptions, CmdError> {
    let mut o = SetOpOptions {
        weights: vec![1.0; numkeys],
        agg: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = 0;
    while j < opts.len() {
        let remaining = opts.len() - j;
        let w = opts[j];
        if op != SetOp::Diff && !card_only && remaining > numkeys && eq(w, "weights") {
            for (i, arg) in opts[j + 1..=j + numkeys].iter().enumerate() {
                o.weights[i] = parse_score(arg)
                    .ok_or_else(|| CmdError::new("ERR weight value is not a float"))?;
            }
            j += numkeys + 1;
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq(w, "aggregate") {
            let v = opts[j + 1];
            o.agg = if eq(v, "sum") {
                Aggregate::Sum
            } else if eq(v, "min") {
                Aggregate::Min
            } else if eq(v, "max") {
                Aggregate::Max
            } else {
                return Err(SYNTAX);
            };
            j += 2;
        } else if !store && !card_only && eq(w, "withscores") {
            o.withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq(w, "limit") {
            let n = ranged_int(
                opts[j + 1],
                0,
                i64::MAX,
                Some("ERR LIMIT can't be negative"),
            )?;
            o.limit = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok(o)
}

/// Members of a set input (each counts with score 1).
fn set_members(s: &types::Set) -> Vec<Vec<u8>> {
    s.iter().map(|m| m.to_vec()).collect()
}

/// Is `member` in a set input? (An intset holds only canonical integers,
/// as Redis's `zuiFind` checks with `string2ll`.)
fn set_contains(s: &types::Set, member: &[u8]) -> bool {
    s.contains(member)
}

/// One input of a set operation, looked up for reading.
enum Input<'v> {
    Missing,
    Z(&'v ZSet),
    S(&'v types::Set),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Z(z) => z.len(),
            Input::S(s) => s.len(),
        }
    }

    /// Every member with its (unweighted) score.
    fn entries(&self) -> Vec<(Vec<u8>, f64)> {
        match self {
            Input::Missing => Vec::new(),
            Input::Z(z) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
            Input::S(s) => set_members(s).into_iter().map(|m| (m, 1.0)).collect(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Z(z) => z.score(member),
            Input::S(s) => set_contains(s, member).then_some(1.0),
        }
    }
}

/// The input at `key`: a sorted set, a set, or missing; WRONGTYPE else.
/// `count` chooses between a counted read (the first lookup, like Redis's
/// `lookupKeyRead`) and an uncounted one (later passes over the same key).
fn input<'l>(l: &'l mut Locked, db: usize, key: &[u8], count: bool) -> Result<Input<'l>, CmdError> {
    let e = if count {
        l.get(db, key)
    } else {
        l.peek(db, key)
    };
    match e {
        None => Ok(Input::Missing),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Input::Z(z)),
            Value::Set(s) => Ok(Input::S(s)),
            _ => Err(WRONGTYPE),
        },
    }
}

/// The members of a set operation over `keys` with their scores (in no
/// particular order), or the count for ZINTERCARD.
fn compute_setop(
    l: &mut Locked,
    db: usize,
    keys: &[&[u8]],
    op: SetOp,
    opts: &SetOpOptions,
    lens: &[usize],
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    // (key, weight) in processing order: by ascending size except for DIFF,
    // a stable sort like glibc's qsort (a merge sort) in Redis.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| lens[i]);
    }
    let first = order[0];
    match op {
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
            for &i in &order {
                if lens[i] == 0 {
                    continue;
                }
                let w = opts.weights[i];
                for (m, s) in input(l, db, keys[i], false)?.entries() {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, opts.agg),
                        None => {
                            acc.insert(m, score);
                        }
                    }
                }
            }
            Ok(acc.into_iter().collect())
        }
        SetOp::Inter => {
            if lens[first] == 0 {
                return Ok(Vec::new());
            }
            let w0 = opts.weights[first];
            let mut cand: Vec<(Vec<u8>, f64)> = input(l, db, keys[first], false)?
                .entries()
                .into_iter()
                .map(|(m, s)| {
                    let score = w0 * s;
                    (m, if score.is_nan() { 0.0 } else { score })
                })
                .collect();
            for &i in &order[1..] {
                let w = opts.weights[i];
                let src = input(l, db, keys[i], false)?;
                cand.retain_mut(|(m, t)| match src.score(m) {
                    Some(s) => {
                        aggregate(t, s * w, opts.agg);
                        true
                    }
                    None => false,
                });
                if cand.is_empty() {
                    break;
                }
            }
            Ok(cand)
        }
        SetOp::Diff => {
            if lens[first] == 0 {
                return Ok(Vec::new());
            }
            let mut cand = input(l, db, keys[first], false)?.entries();
            for &i in &order[1..] {
                if lens[i] == 0 {
                    continue;
                }
                let src = input(l, db, keys[i], false)?;
                cand.retain(|(m, _)| src.score(m).is_none());
                if cand.is_empty() {
                    break;
                }
            }
            Ok(cand)
        }
    }
}

/// ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD (Redis's
/// `zunionInterDiffGenericCommand`). `numkeys_at` is the index of numkeys.
fn setop_command(
    ctx: &mut Ctx,
    a: &[&[u8]],
    numkeys_at: usize,
    dst: Option<&[u8]>,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let numkeys = int(a[numkeys_at])?;
    if numkeys < 1 {
        return Err(CmdError::new(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.spec.name
        )));
    }
    if numkeys as u64 > (a.len() - numkeys_at - 1) as u64 {
        return Err(SYNTAX);
    }
    let n = numkeys as usize;
    let keys = &a[numkeys_at + 1..numkeys_at + 1 + n];
    // Redis reads (and type-checks) the inputs before parsing the options.
    let opts = parse_setop_options(&a[numkeys_at + 1 + n..], n, op, dst.is_some(), card_only);
    let db = ctx.db();
    let lim = limits(ctx);
    let mut l = ctx.lock(keys.iter().copied().chain(dst));
    let mut lens = Vec::with_capacity(n);
    for k in keys {
        lens.push(input(&mut l, db, k, true)?.len());
    }
    let opts = opts?;
    let mut result = compute_setop(&mut l, db, keys, op, &opts, &lens)?;
    if card_only {
        drop(l);
        let mut n = result.len();
        if opts.limit > 0 {
            n = n.min(opts.limit);
        }
        ctx.out.int(n as i64);
        return Ok(());
    }
    match dst {
        Some(d) => {
            let event = match ctx.spec.name {
                "zunionstore" => "zunionstore",
                "zinterstore" => "zinterstore",
                _ => "zdiffstore",
            };
            store_result(&mut ctx.out, &mut l, db, d, result, &lim, event)
        }
        None => {
            drop(l);
            result.sort_by(|x, y| {
                x.1.partial_cmp(&y.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| x.0.cmp(&y.0))
            });
            let items: Vec<(&[u8], f64)> = result.iter().map(|(m, s)| (&m[..], *s)).collect();
            reply_members(&mut ctx.out, &items, opts.withscores);
        }
    }
    Ok(())
}

fn zunion(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setop_command(ctx, a, 1, None, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setop_command(ctx, a, 1, None, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setop_command(ctx, a, 1, None, SetOp::Diff, false)
}

fn zunionstore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setop_command(ctx, a, 2, Some(a[1]), SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setop_command(ctx, a, 2, Some(a[1]), SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setop_command(ctx, a, 2, Some(a[1]), SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setop_command(ctx, a, 1, None, SetOp::Inter, true)
}

// ---------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------

/// The reply shape of a pop (Redis's `genericZpopCommand` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PopStyle {
    /// Reply with the key name too (BZPOPMIN/BZPOPMAX, ZMPOP/BZMPOP).
    pub emit_key: bool,
    /// `[member, score]` pairs instead of a flat list (RESP3 counted
    /// ZPOPMIN/ZPOPMAX, and always for ZMPOP/BZMPOP).
    pub nested: bool,
}

/// The non-blocking core of every pop: pops from the first of `keys` that
/// exists (WRONGTYPE if a key met before it holds another type), the lowest
/// members or, with `max`, the highest, `count` of them (None: a plain
/// single pop), writes the reply in `style` and deletes the key if emptied.
///
/// Returns the key popped from and how many members were popped; `Ok(None)`
/// (nothing written) when no key exists, where a blocking command blocks
/// and a non-blocking one writes its empty reply. A `count` of 0 on an
/// existing key replies an empty array and pops nothing (Redis's ZPOPMIN
/// behaviour).
pub(crate) fn try_pop(
    out: &mut ReplyWriter,
    l: &mut Locked,
    db: usize,
    keys: &[&[u8]],
    max: bool,
    count: Option<usize>,
    style: PopStyle,
) -> Result<Option<(Vec<u8>, usize)>, CmdError> {
    let mut found = None;
    for k in keys {
        if collections::write(l, db, k, collections::zset)?.is_some() {
            found = Some(*k);
            break;
        }
    }
    let Some(key) = found else {
        return Ok(None);
    };
    if count == Some(0) {
        out.array(0);
        return Ok(Some((key.to_vec(), 0)));
    }
    let Some(z) = collections::write(l, db, key, collections::zset)? else {
        return Ok(None);
    };
    let n = count.unwrap_or(1).min(z.len());
    match (style.nested, style.emit_key) {
        (false, false) => out.array(n * 2),
        (true, false) => out.array(n),
        (false, true) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for _ in 0..n {
        let Some((m, s)) = z.pop(max) else { break };
        if style.nested {
            out.array(2);
        }
        out.bulk(&m);
        out.double(s);
    }
    if n > 0 {
        notify::emit(
            notify::ZSET,
            if max { "zpopmax" } else { "zpopmin" },
            db,
            key,
        );
    }
    remove_emptied(l, db, key);
    Ok(Some((key.to_vec(), n)))
}

fn zpop_command(ctx: &mut Ctx, a: &[&[u8]], max: bool) -> CmdResult {
    if a.len() > 3 {
        return Err(SYNTAX);
    }
    let count = match a.get(2) {
        Some(c) => Some(usize::try_from(positive_int(c)?).unwrap_or(usize::MAX)),
        None => None,
    };
    let style = PopStyle {
        emit_key: false,
        nested: ctx.out.is_resp3() && count.is_some(),
    };
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    if try_pop(&mut ctx.out, &mut l, db, &a[1..2], max, count, style)?.is_none() {
        ctx.out.array(0);
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zpop_command(ctx, a, false)
}

fn zpopmax(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    zpop_command(ctx, a, true)
}

/// The arguments of ZMPOP / BZMPOP from `numkeys_at` on: the keys, MAX or
/// MIN (true for MAX) and the count (default 1).
pub(crate) fn parse_mpop<'x>(
    a: &'x [&'x [u8]],
    numkeys_at: usize,
) -> Result<(&'x [&'x [u8]], bool, usize), CmdError> {
    let numkeys = ranged_int(
        a[numkeys_at],
        1,
        i64::MAX,
        Some("ERR numkeys should be greater than 0"),
    )?;
    let where_at = (numkeys_at as u64)
        .saturating_add(numkeys as u64)
        .saturating_add(1);
    if where_at >= a.len() as u64 {
        return Err(SYNTAX);
    }
    let where_at = where_at as usize;
    let max = if eq(a[where_at], "min") {
        false
    } else if eq(a[where_at], "max") {
        true
    } else {
        return Err(SYNTAX);
    };
    let mut count: Option<usize> = None;
    let mut j = where_at + 1;
    while j < a.len() {
        if count.is_none() && eq(a[j], "count") && j + 1 < a.len() {
            let c = ranged_int(
                a[j + 1],
                1,
                i64::MAX,
                Some("ERR count should be greater than 0"),
            )?;
            count = Some(usize::try_from(c).unwrap_or(usize::MAX));
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok((&a[numkeys_at + 1..where_at], max, count.unwrap_or(1)))
}

fn zmpop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = parse_mpop(a, 1)?;
    let style = PopStyle {
        emit_key: true,
        nested: true,
    };
    let db = ctx.db();
    let mut l = ctx.lock(keys.iter().copied());
    if try_pop(&mut ctx.out, &mut l, db, keys, max, Some(count), style)?.is_none() {
        ctx.out.null_array();
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    if a.len() >= 3 {
        let n = ranged_int(a[2], -i64::MAX, i64::MAX, None)?;
        if a.len() > 4 || (a.len() == 4 && !eq(a[3], "withscores")) {
            return Err(SYNTAX);
        }
        let withscores = a.len() == 4;
        if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
            return Err(CmdError::new("ERR value is out of range"));
        }
        return zrandmember_count(ctx, a[1], n, withscores);
    }
    let mut l = ctx.lock([a[1]]);
    match collections::read(&mut l, db, a[1], collections::zset)? {
        Some(z) => {
            let i = rand::thread_rng().gen_range(0..z.len());
            match z.get(i) {
                Some((m, _)) => ctx.out.bulk(m),
                None => ctx.out.null(),
            }
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// ZRANDMEMBER with a count (Redis's `zrandmemberWithCountCommand`): a
/// negative count picks with repetition, a positive one distinct members.
fn zrandmember_count(ctx: &mut Ctx, key: &[u8], n: i64, withscores: bool) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let Some(z) = collections::read(&mut l, db, key, collections::zset)? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    let count = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    if count == 0 {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    }
    let out = &mut ctx.out;
    let mut rng = rand::thread_rng();
    let pick = |n: usize| rng.gen_range(0..n);
    let header = |out: &mut ReplyWriter, k: usize| {
        let resp2_pairs = withscores && !out.is_resp3();
        out.array(if resp2_pairs { k * 2 } else { k });
    };
    if n < 0 || count == 1 {
        // With repetition: streamed, as the count may be huge.
        header(out, count);
        for (m, s) in z.random_with_repeats(count, pick) {
            emit_member(out, m, s, withscores);
        }
    } else {
        let items = z.random_distinct(count, pick);
        header(out, items.len());
        for (m, s) in items {
            emit_member(out, m, s, withscores);
        }
    }
    Ok(())
}

/// One member of a WITHSCORES-capable reply: RESP3 pairs, RESP2 flat.
fn emit_member(out: &mut ReplyWriter, m: &[u8], s: f64, withscores: bool) {
    if withscores && out.is_resp3() {
        out.array(2);
    }
    out.bulk(m);
    if withscores {
        out.double(s);
    }
}

// ---------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------

/// ZSCAN key cursor [MATCH pattern] [COUNT count]. The cursor is the one of
/// [`ZSet::scan`] (see there for the guarantee).
fn zscan(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let cursor = crate::args::scan_cursor(a[2])?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let Some(z) = collections::read(&mut l, db, a[1], collections::zset)? else {
        drop(l);
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    // Like Redis, the options are read once the key is known to exist.
    let (count, pattern) = crate::args::scan_options(&a[3..])?;
    let (next, items) = z.scan(cursor, count);
    let items: Vec<(&[u8], f64)> = items
        .into_iter()
        .filter(|(m, _)| pattern.is_none_or(|p| glob_match(p, m, false)))
        .collect();
    let listpack = z.encoding() == "listpack";
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    ctx.out.array(items.len() * 2);
    for (m, s) in items {
        ctx.out.bulk(m);
        ctx.out.bulk(scan_score_text(s, listpack).as_bytes());
    }
    Ok(())
}

/// A score as ZSCAN prints it: the text Redis keeps in a listpack, or
/// `%.17g` for a skiplist.
fn scan_score_text(s: f64, listpack: bool) -> String {
    if listpack {
        resp::format_listpack_score(s)
    } else {
        resp::format_double(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{run, server, Session};

    #[test]
    fn strtod_like_c() {
        let p = |s: &str| parse_score(s.as_bytes());
        assert_eq!(p("1.5"), Some(1.5));
        assert_eq!(p("-0"), Some(-0.0));
        assert_eq!(p("+inf"), Some(f64::INFINITY));
        assert_eq!(p("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(p("0x10"), Some(16.0));
        assert_eq!(p("0x1p-2"), Some(0.25));
        assert_eq!(p(".5"), Some(0.5));
        assert_eq!(p("5."), Some(5.0));
        assert_eq!(p("1e5"), Some(1e5));
        assert_eq!(p("1e400"), None);
        assert_eq!(p("1e-400"), None);
        assert_eq!(p("4.9e-324"), Some(4.9e-324));
        assert_eq!(p("nan"), None);
        assert_eq!(p(" 1"), None);
        assert_eq!(p("1 "), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1e"), None);
        assert_eq!(p("0x"), None);
        let r = |s: &str| parse_range_end(s.as_bytes());
        assert_eq!(r(""), Some((0.0, false)));
        assert_eq!(r("("), Some((0.0, true)));
        assert_eq!(r(" 1"), Some((1.0, false)));
        assert_eq!(r("(1e400"), Some((f64::INFINITY, true)));
        assert_eq!(r(" "), None);
        assert_eq!(r("nan"), None);
        assert_eq!(r("1\0garbage"), Some((1.0, false)));
        assert_eq!(r("x"), None);
    }

    #[test]
    fn zadd_options_and_errors() {
        let s = server();
        assert_eq!(run(&s, &["ZADD", "z", "1", "a", "2", "b"]), ":2\r\n");
        assert_eq!(
            run(&s, &["ZADD", "z", "NX", "XX", "1", "a"]),
            "-ERR XX and NX options at the same time are not compatible\r\n"
        );
        assert_eq!(
            run(&s, &["ZADD", "z", "GT", "LT", "1", "a"]),
            "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
        );
        assert_eq!(
            run(&s, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
            "-ERR INCR option supports a single increment-element pair\r\n"
        );
        assert_eq!(
            run(&s, &["ZADD", "z", "1", "a", "2"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["ZADD", "z", "x", "a"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(
            run(&s, &["ZADD", "z", "CH", "5", "a", "2", "b", "3", "c"]),
            ":2\r\n"
        );
        assert_eq!(run(&s, &["ZADD", "z", "GT", "CH", "1", "a"]), ":0\r\n");
        assert_eq!(
            run(&s, &["ZADD", "z", "XX", "INCR", "1", "nosuch"]),
            "$-1\r\n"
        );
        assert_eq!(run(&s, &["ZADD", "z", "INCR", "1.5", "a"]), "$3\r\n6.5\r\n");
        assert_eq!(run(&s, &["ZADD", "i", "inf", "a"]), ":1\r\n");
        assert_eq!(
            run(&s, &["ZINCRBY", "i", "-inf", "a"]),
            "-ERR resulting score is not a number (NaN)\r\n"
        );
        assert_eq!(run(&s, &["ZADD", "none", "XX", "1", "a"]), ":0\r\n");
        assert_eq!(run(&s, &["EXISTS", "none"]), ":0\r\n");
        run(&s, &["SET", "str", "x"]);
        assert_eq!(
            run(&s, &["ZADD", "str", "1", "a"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
    }

    #[test]
    fn ranges_and_resp3_shapes() {
        let s = server();
        run(
            &s,
            &[
                "ZADD", "z", "1", "a", "2", "b", "3", "c", "-inf", "m", "+inf", "p",
            ],
        );
        assert_eq!(
            run(&s, &["ZRANGE", "z", "0", "1"]),
            "*2\r\n$1\r\nm\r\n$1\r\na\r\n"
        );
        assert_eq!(
            run(&s, &["ZRANGE", "z", "(1", "3", "BYSCORE", "WITHSCORES"]),
            "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            run(
                &s,
                &["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2"]
            ),
            "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"
        );
        assert_eq!(run(&s, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]), "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n");
        assert_eq!(
            run(&s, &["ZRANGEBYSCORE", "z", "x", "1"]),
            "-ERR min or max is not a float\r\n"
        );
        assert_eq!(
            run(&s, &["ZRANGEBYLEX", "z", "a", "b"]),
            "-ERR min or max not valid string range item\r\n"
        );
        assert_eq!(run(&s, &["ZCOUNT", "z", "-inf", "(3"]), ":3\r\n");
        let mut c = Session::new(&s);
        c.run(&["HELLO", "3"]);
        assert_eq!(
            c.run(&["ZRANGE", "z", "0", "0", "WITHSCORES"]),
            "*1\r\n*2\r\n$1\r\nm\r\n,-inf\r\n"
        );
        assert_eq!(c.run(&["ZSCORE", "z", "b"]), ",2\r\n");
        assert_eq!(c.run(&["ZSCORE", "z", "x"]), "_\r\n");
        assert_eq!(
            c.run(&["ZRANK", "z", "b", "WITHSCORE"]),
            "*2\r\n:2\r\n,2\r\n"
        );
        assert_eq!(c.run(&["ZRANK", "z", "x", "WITHSCORE"]), "_\r\n");
        assert_eq!(run(&s, &["ZRANK", "z", "x", "WITHSCORE"]), "*-1\r\n");
        assert_eq!(run(&s, &["ZREVRANK", "z", "b"]), ":2\r\n");
        assert_eq!(
            run(&s, &["ZRANK", "z", "b", "foo"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["ZRANK", "z", "b", "WITHSCORE", "x"]),
            "-ERR wrong number of arguments for 'zrank' command\r\n"
        );
        assert_eq!(
            c.run(&["ZPOPMIN", "z", "1"]),
            "*1\r\n*2\r\n$1\r\nm\r\n,-inf\r\n"
        );
        assert_eq!(c.run(&["ZPOPMAX", "z"]), "*2\r\n$1\r\np\r\n,inf\r\n");
    }

    #[test]
    fn encodings_and_stores() {
        let s = server();
        run(&s, &["CONFIG", "SET", "zset-max-listpack-entries", "2"]);
        run(&s, &["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "z"]), "$8\r\nlistpack\r\n");
        run(&s, &["ZADD", "z", "3", "c"]);
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
        assert_eq!(run(&s, &["ZRANGESTORE", "d", "z", "0", "1"]), ":2\r\n");
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "d"]), "$8\r\nlistpack\r\n");
        assert_eq!(
            run(
                &s,
                &["ZUNIONSTORE", "u", "2", "z", "d", "WEIGHTS", "1", "2"]
            ),
            ":3\r\n"
        );
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "u"]), "$8\r\nskiplist\r\n");
        assert_eq!(
            run(&s, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]),
            "*6\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n6\r\n"
        );
        assert_eq!(run(&s, &["ZINTERSTORE", "u", "2", "z", "nosuch"]), ":0\r\n");
        assert_eq!(run(&s, &["EXISTS", "u"]), ":0\r\n");
        assert_eq!(
            run(&s, &["ZINTERCARD", "2", "z", "d", "LIMIT", "1"]),
            ":1\r\n"
        );
        assert_eq!(run(&s, &["ZDIFF", "2", "z", "d"]), "*1\r\n$1\r\nc\r\n");
        assert_eq!(
            run(&s, &["ZUNION", "0", "z"]),
            "-ERR at least 1 input key is needed for 'zunion' command\r\n"
        );
        assert_eq!(run(&s, &["ZUNION", "3", "z"]), "-ERR syntax error\r\n");
        assert_eq!(
            run(&s, &["ZUNION", "1", "z", "WEIGHTS", "x"]),
            "-ERR weight value is not a float\r\n"
        );
    }

    #[test]
    fn pops_removals_and_scan() {
        let s = server();
        run(&s, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(
            run(&s, &["ZMPOP", "1", "z", "MAX", "COUNT", "2"]),
            "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert_eq!(run(&s, &["ZMPOP", "1", "nosuch", "MIN"]), "*-1\r\n");
        assert_eq!(
            run(&s, &["ZMPOP", "0", "z", "MIN"]),
            "-ERR numkeys should be greater than 0\r\n"
        );
        assert_eq!(
            run(&s, &["ZPOPMIN", "z", "-1"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(run(&s, &["ZPOPMIN", "z", "0"]), "*0\r\n");
        assert_eq!(run(&s, &["ZREM", "z", "a", "x"]), ":1\r\n");
        assert_eq!(run(&s, &["EXISTS", "z"]), ":0\r\n");
        run(&s, &["ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d"]);
        assert_eq!(run(&s, &["ZREMRANGEBYLEX", "z", "(a", "[c"]), ":2\r\n");
        assert_eq!(run(&s, &["ZLEXCOUNT", "z", "-", "+"]), ":2\r\n");
        assert_eq!(run(&s, &["ZREMRANGEBYRANK", "z", "0", "-1"]), ":2\r\n");
        assert_eq!(run(&s, &["EXISTS", "z"]), ":0\r\n");
        run(&s, &["ZADD", "z", "1", "a", "2.5", "b"]);
        assert_eq!(
            run(&s, &["ZSCAN", "z", "0"]),
            "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"
        );
        assert_eq!(
            run(&s, &["ZSCAN", "z", "0", "MATCH", "b*"]),
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n"
        );
        assert_eq!(run(&s, &["ZSCAN", "z", "x"]), "-ERR invalid cursor\r\n");
        assert_eq!(
            run(&s, &["ZSCAN", "nosuch", "0", "COUNT", "0"]),
            "*2\r\n$1\r\n0\r\n*0\r\n"
        );
        assert_eq!(
            run(&s, &["ZSCAN", "z", "0", "COUNT", "0"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["ZRANDMEMBER", "z", "5", "WITHSCORES"]),
            "*4\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(run(&s, &["ZRANDMEMBER", "z", "-9223372036854775808"]), "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n");
        assert_eq!(
            run(
                &s,
                &["ZRANDMEMBER", "z", "-9223372036854770000", "WITHSCORES"]
            ),
            "-ERR value is out of range\r\n"
        );
        assert!(run(&s, &["ZRANDMEMBER", "z", "-5"]).starts_with("*5\r\n"));
    }

    /// The core the blocking pops reuse: reply shapes and "nothing to pop".
    #[test]
    fn try_pop_core() {
        let s = server();
        run(&s, &["ZADD", "k", "1", "a", "2", "b", "3", "c"]);
        let pop = |keys: &[&[u8]], max, count, style, proto| {
            let mut out = Vec::new();
            let mut w = ReplyWriter::new(&mut out, proto);
            let mut l = s.keyspace.lock(keys.iter().copied(), crate::now_ms());
            let r = try_pop(&mut w, &mut l, 0, keys, max, count, style);
            (r, String::from_utf8_lossy(&out).into_owned())
        };
        let bz = PopStyle {
            emit_key: true,
            nested: false,
        };
        let bzm = PopStyle {
            emit_key: true,
            nested: true,
        };
        let p2 = resp::Protocol::Resp2;
        let (r, out) = pop(&[b"nosuch", b"k"], true, None, bz, p2);
        assert_eq!(r, Ok(Some((b"k".to_vec(), 1))));
        assert_eq!(out, "*3\r\n$1\r\nk\r\n$1\r\nc\r\n$1\r\n3\r\n");
        let (r, out) = pop(&[b"k"], false, Some(5), bzm, resp::Protocol::Resp3);
        assert_eq!(r, Ok(Some((b"k".to_vec(), 2))));
        assert_eq!(
            out,
            "*2\r\n$1\r\nk\r\n*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n"
        );
        assert_eq!(run(&s, &["EXISTS", "k"]), ":0\r\n");
        let (r, out) = pop(&[b"k", b"nosuch"], false, Some(1), bzm, p2);
        assert_eq!(r, Ok(None));
        assert_eq!(out, "");
        run(&s, &["SET", "str", "x"]);
        let (r, _) = pop(&[b"nosuch", b"str"], false, None, bz, p2);
        assert_eq!(r, Err(WRONGTYPE));
    }

    #[test]
    fn big_zscan_returns_everything() {
        let s = server();
        let mut args = vec!["ZADD".to_string(), "z".to_string()];
        for i in 0..500 {
            args.push(i.to_string());
            args.push(format!("m{i}"));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(run(&s, &refs), ":500\r\n");
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        loop {
            let reply = run(&s, &["ZSCAN", "z", &cursor]);
            let lines: Vec<&str> = reply.split("\r\n").collect();
            cursor = lines[2].to_string();
            // "*2", "$n", cursor, "*k", then "$n", member, "$n", score...
            for l in lines.iter().skip(5).step_by(4) {
                assert!(l.starts_with('m'), "{l}");
                assert!(seen.insert(l.to_string()), "{l} twice");
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
    }
}
