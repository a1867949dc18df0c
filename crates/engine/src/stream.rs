//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD,
//! XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO, XSETID.
//!
//! The value type ([`types::stream::Stream`]) owns the packed storage, ids,
//! trimming and the consumer-group bookkeeping; this module adds what
//! Redis's `t_stream.c` does around them: argument parsing in Redis's order
//! (so the same error wins), reply shapes, notifications, and blocking reads
//! (XREAD / XREADGROUP `BLOCK`), which park the client on the keys and run
//! again when one is written — with `$` resolved to a concrete id first, so
//! the re-run waits for entries after the id current at the first call.

use keyspace::{Locked, Value};
use resp::ReplyWriter;
use types::stream::{
    EntryRef, Group, NodeLimits, Seq, Stream, StreamId, Trim, INVALID_ENTRIES_READ,
};

use crate::args::{eq, int};
use crate::error::{CmdError, CmdResult, SYNTAX, WRONGTYPE};
use crate::notify;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("xadd", xadd),
    ("xlen", xlen),
    ("xrange", xrange),
    ("xrevrange", xrevrange),
    ("xdel", xdel),
    ("xtrim", xtrim),
    ("xread", xread),
    ("xreadgroup", xread),
    ("xgroup|create", xgroup_create),
    ("xgroup|setid", xgroup_setid),
    ("xgroup|destroy", xgroup_destroy),
    ("xgroup|createconsumer", xgroup_createconsumer),
    ("xgroup|delconsumer", xgroup_delconsumer),
    ("xgroup|help", xgroup_help),
    ("xack", xack),
    ("xpending", xpending),
    ("xclaim", xclaim),
    ("xautoclaim", xautoclaim),
    ("xinfo|stream", xinfo_stream),
    ("xinfo|groups", xinfo_groups),
    ("xinfo|consumers", xinfo_consumers),
    ("xinfo|help", xinfo_help),
    ("xsetid", xsetid),
];

const INVALID_ID: CmdError =
    CmdError::fixed("ERR Invalid stream ID specified as stream command argument");

const STREAM_GONE: CmdError = CmdError::fixed("UNBLOCKED the stream key no longer exists");

/// XREAD's default COUNT once it has blocked (Redis's XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: i64 = 1000;

fn stream_of(v: &mut Value) -> Option<&mut Stream> {
    match v {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

/// The stream at `key` for reading (None if missing; WRONGTYPE otherwise).
fn read<'l>(l: &'l mut Locked, db: usize, key: &[u8]) -> Result<Option<&'l mut Stream>, CmdError> {
    crate::collections::read(l, db, key, stream_of)
}

/// The stream at `key` for writing: the change is noted (WATCH, client
/// tracking, blocked readers), as Redis's signalModifiedKey does.
fn write<'l>(l: &'l mut Locked, db: usize, key: &[u8]) -> Result<Option<&'l mut Stream>, CmdError> {
    crate::collections::write(l, db, key, stream_of)
}

/// The stream at `key` for a change Redis does not signal: consumer-group
/// bookkeeping (XREADGROUP, XACK, XCLAIM, XAUTOCLAIM, most of XGROUP,
/// XSETID) leaves WATCH and client tracking alone, and a change that turns
/// out to remove nothing (XDEL, XTRIM) is no change. Callers that do change
/// the entries call [`note_modified`] afterwards.
fn modify<'l>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
) -> Result<Option<&'l mut Stream>, CmdError> {
    // Still a change to the data (saved, propagated).
    l.count_change();
    crate::collections::peek(l, db, key, stream_of)
}

/// Notes a change made through [`modify`].
fn note_modified(l: &mut Locked, db: usize, key: &[u8]) -> Result<(), CmdError> {
    write(l, db, key).map(|_| ())
}

fn node_limits(ctx: &Ctx) -> NodeLimits {
    use std::sync::atomic::Ordering::Relaxed;
    let hot = &ctx.server.config.hot;
    NodeLimits {
        max_bytes: hot.stream_node_max_bytes.load(Relaxed) as usize,
        max_entries: hot.stream_node_max_entries.load(Relaxed) as usize,
    }
}

// ---------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------

/// Parses an id; `-`/`+` allowed unless `strict`; a missing sequence is
/// `missing_seq`. With `allow_auto_seq`, `ms-*` parses and the returned flag
/// says the sequence was given (false for `ms-*`).
fn parse_id(arg: &[u8], strict: bool, missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_auto(arg, strict, missing_seq, false).map(|(id, _)| id)
}

fn parse_id_auto(
    arg: &[u8],
    strict: bool,
    missing_seq: u64,
    allow_auto_seq: bool,
) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 127 {
        return Err(INVALID_ID);
    }
    // Redis parses the id as a C string: it ends at the first NUL byte.
    let arg = &arg[..arg.iter().position(|&c| c == 0).unwrap_or(arg.len())];
    match arg {
        b"-" | b"+" if strict => return Err(INVALID_ID),
        b"-" => return Ok((StreamId::MIN, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    match StreamId::parse_parts(arg) {
        Some((ms, Seq::Missing)) => Ok((StreamId::new(ms, missing_seq), true)),
        Some((ms, Seq::Given(seq))) => Ok((StreamId::new(ms, seq), true)),
        Some((ms, Seq::Auto)) if allow_auto_seq => Ok((StreamId::new(ms, 0), false)),
        _ => Err(INVALID_ID),
    }
}

/// A range bound: `(` makes it exclusive.
fn parse_interval(arg: &[u8], missing_seq: u64, is_start: bool) -> Result<StreamId, CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id(&arg[1..], true, missing_seq)?;
        let moved = if is_start { id.incr() } else { id.decr() };
        return moved.ok_or_else(|| {
            CmdError::new(if is_start {
                "ERR invalid start ID for the interval"
            } else {
                "ERR invalid end ID for the interval"
            })
        });
    }
    parse_id(arg, false, missing_seq)
}

fn bulk_id(out: &mut ReplyWriter, id: StreamId) {
    let mut buf = itoa::Buffer::new();
    let mut text = [0u8; 41];
    let ms = buf.format(id.ms).as_bytes();
    let n = ms.len();
    text[..n].copy_from_slice(ms);
    text[n] = b'-';
    let seq = buf.format(id.seq).as_bytes();
    text[n + 1..n + 1 + seq.len()].copy_from_slice(seq);
    out.bulk(&text[..n + 1 + seq.len()]);
}

/// `[id, [field, value, ...]]`.
fn reply_entry(out: &mut ReplyWriter, e: &EntryRef) {
    out.array(2);
    bulk_id(out, e.id);
    out.array(e.field_count() * 2);
    for (f, v) in e.pairs() {
        out.bulk(f);
        out.bulk(v);
    }
}

fn no_group_error(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::quoting(
        "NOGROUP No such key '{}' or consumer group '{}'",
        &[key, group],
    )
}

fn no_such_group_error(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::quoting(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        &[group, key],
    )
}

fn non_negative(arg: &[u8], err: &str) -> Result<i64, CmdError> {
    crate::args::parse_i64(arg).ok_or_else(|| CmdError::new(format!("ERR {err}")))
}

// ---------------------------------------------------------------------------
// XADD / XTRIM
// ---------------------------------------------------------------------------

#[derive(Default)]
struct AddTrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD: the explicit id and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// XADD: index of the first field.
    fields_at: usize,
}

/// Redis's streamParseAddOrTrimArgsOrReply.
fn parse_add_trim(ctx: &Ctx, a: &[&[u8]], xadd: bool) -> Result<AddTrimArgs, CmdError> {
    let mut p = AddTrimArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = a[i];
        if xadd && opt == b"*" {
            break;
        } else if (eq(opt, "maxlen") || eq(opt, "minid")) && more > 0 {
            if p.trim.is_some() {
                return Err(CmdError::new(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            p.approx = false;
            let next = a[i + 1];
            if more >= 2 && (next == b"~" || next == b"=") {
                p.approx = next == b"~";
                i += 1;
            }
            let arg = a[i + 1];
            p.trim = Some(if eq(opt, "maxlen") {
                let n = int(arg)?;
                if n < 0 {
                    return Err(CmdError::new("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_id(arg, true, 0)?)
            });
            i += 2;
            continue;
        } else if eq(opt, "limit") && more > 0 {
            let n = int(a[i + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR The LIMIT argument must be >= 0."));
            }
            p.limit = n as u64;
            limit_given = true;
            i += 2;
            continue;
        } else if xadd && eq(opt, "nomkstream") {
            p.nomkstream = true;
        } else if xadd {
            p.id = Some(parse_id_auto(opt, true, 0, true)?);
            break;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    p.fields_at = i + 1;
    if p.limit > 0 && p.trim.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && p.trim.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !p.approx {
            return Err(CmdError::new(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if p.approx {
        // At most about 100 nodes' worth of work, as Redis bounds it.
        let per_node = node_limits(ctx).max_entries as u64;
        p.limit = match per_node.saturating_mul(100) {
            0 => 10_000,
            n => n.min(1_000_000),
        };
    } else {
        p.limit = 0;
    }
    Ok(p)
}

fn xadd(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let p = parse_add_trim(ctx, a, true)?;
    let fields = a.get(p.fields_at..).unwrap_or(&[]);
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(CmdError::new(
            "ERR wrong number of arguments for 'xadd' command",
        ));
    }
    if let Some((id, true)) = p.id {
        if id.is_zero() {
            return Err(CmdError::new(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let total: usize = fields.iter().map(|f| f.len()).sum();
    let limits = node_limits(ctx);
    let (db, key, now) = (ctx.db(), a[1], ctx.now_ms);
    let mut l = ctx.lock([key]);
    let s = match write(&mut l, db, key)? {
        Some(s) => s,
        None if p.nomkstream => {
            drop(l);
            ctx.out.null();
            return Ok(());
        }
        None => {
            l.set(db, key, Value::Stream(Box::default()), 0);
            write(&mut l, db, key)?.ok_or(WRONGTYPE)?
        }
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::new(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    if total > types::stream::MAX_NODE_BYTES {
        return Err(CmdError::new("ERR Elements are too large to be stored"));
    }
    let too_small = || {
        CmdError::new(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let id = match p.id {
        None => s.next_auto_id(now).ok_or_else(too_small)?,
        // `ms-*`: the next sequence within the last id's millisecond.
        Some((id, false)) if id.ms == s.last_id.ms => s
            .last_id
            .incr()
            .filter(|n| n.ms == id.ms)
            .ok_or_else(too_small)?,
        Some((id, _)) => id,
    };
    if id <= s.last_id {
        return Err(too_small());
    }
    let pairs: Vec<(&[u8], &[u8])> = fields.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    s.append(id, &pairs, limits);
    let trimmed = match p.trim {
        Some(t) => s.trim(t, p.approx, p.limit),
        None => 0,
    };
    let len = s.len();
    drop(l);
    if ctx.propagating() {
        // The id chosen and the length trimming left (approximate trimming
        // depends on node layout) make the replay exact.
        let (id_text, len_text) = (id.to_string(), len.to_string());
        let mut args: Vec<&[u8]> = vec![b"XADD", key];
        if p.trim.is_some() {
            args.extend([&b"MAXLEN"[..], b"=", len_text.as_bytes()]);
        }
        args.push(id_text.as_bytes());
        args.extend_from_slice(fields);
        ctx.propagate(&args);
    }
    bulk_id(&mut ctx.out, id);
    ctx.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    Ok(())
}

fn xtrim(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let p = parse_add_trim(ctx, a, false)?;
    let (db, key) = (ctx.db(), a[1]);
    let mut l = ctx.lock([key]);
    let (removed, len) = match modify(&mut l, db, key)? {
        Some(s) => (s.trim(p.trim.ok_or(SYNTAX)?, p.approx, p.limit), s.len()),
        None => (0, 0),
    };
    if removed > 0 {
        note_modified(&mut l, db, key)?;
    }
    drop(l);
    // What approximate trimming removed depends on node layout: the
    // replay trims to the length it left.
    if removed > 0 {
        ctx.propagate(&[b"XTRIM", key, b"MAXLEN", b"=", len.to_string().as_bytes()]);
    } else {
        ctx.propagate_nothing();
    }
    if removed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// XLEN / XRANGE / XDEL
// ---------------------------------------------------------------------------

fn xlen(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let n = read(&mut l, db, a[1])?.map_or(0, |s| s.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn range(ctx: &mut Ctx, a: &[&[u8]], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev { (a[3], a[2]) } else { (a[2], a[3]) };
    let start = parse_interval(start_arg, 0, true)?;
    let end = parse_interval(end_arg, u64::MAX, false)?;
    let mut count: Option<usize> = None;
    let mut j = 4;
    while j < a.len() {
        if eq(a[j], "count") && j + 1 < a.len() {
            count = Some(int(a[j + 1])?.max(0) as usize);
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let Some(s) = read(&mut l, db, a[1])? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        drop(l);
        ctx.out.null_array();
        return Ok(());
    }
    let entries: Vec<EntryRef> = s
        .range(start, end, rev)
        .take(count.unwrap_or(usize::MAX))
        .collect();
    ctx.out.array(entries.len());
    for e in &entries {
        reply_entry(&mut ctx.out, e);
    }
    Ok(())
}

fn xrange(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    range(ctx, a, false)
}

fn xrevrange(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    range(ctx, a, true)
}

fn xdel(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (db, key) = (ctx.db(), a[1]);
    let mut l = ctx.lock([key]);
    let Some(s) = modify(&mut l, db, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let ids = a[2..]
        .iter()
        .map(|arg| parse_id(arg, true, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = ids.into_iter().filter(|id| s.delete(*id)).count();
    if deleted > 0 {
        note_modified(&mut l, db, key)?;
    }
    drop(l);
    if deleted > 0 {
        ctx.notify(notify::STREAM, "xdel", key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn xsetid(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let id = parse_id(a[2], true, 0)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if eq(a[i], "entriesadded") && more > 0 {
            let n = int(a[i + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if eq(a[i], "maxdeletedid") && more > 0 {
            max_deleted = parse_id(a[i + 1], true, 0)?;
            if id < max_deleted {
                return Err(CmdError::new(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let (db, key) = (ctx.db(), a[1]);
    let mut l = ctx.lock([key]);
    let s = modify(&mut l, db, key)?.ok_or(crate::error::NO_SUCH_KEY)?;
    if id < s.max_deleted_id {
        return Err(CmdError::new(
            "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
        ));
    }
    if let Some(last) = s.edge(true) {
        if id < last.id {
            return Err(CmdError::new(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err(CmdError::new(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.max_deleted_id = max_deleted;
    }
    drop(l);
    ctx.out.ok();
    ctx.notify(notify::STREAM, "xsetid", key);
    Ok(())
}

// ---------------------------------------------------------------------------
// XREAD / XREADGROUP
// ---------------------------------------------------------------------------

/// What a stream is read from: entries after an id (XREAD), new entries
/// for a group (`>`), or a consumer's pending history from an id.
#[derive(Clone, Copy)]
enum ReadFrom {
    After(StreamId),
    New,
    History(StreamId),
}

fn xread(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let group_cmd = eq(a[0], "xreadgroup");
    let mut block: Option<u64> = None;
    let mut count: i64 = 0;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut streams_at = 0;
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let o = a[i];
        if eq(o, "block") && more > 0 {
            if ctx.client.in_script {
                return Err(CmdError::quoting(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    &[a[0]],
                ));
            }
            let t = crate::args::parse_i64(a[i + 1])
                .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(CmdError::new("ERR timeout is negative"));
            }
            if t > i64::MAX - ctx.now_ms as i64 {
                return Err(CmdError::new("ERR timeout is out of range"));
            }
            block = Some(t as u64);
            i += 2;
        } else if eq(o, "count") && more > 0 {
            count = int(a[i + 1])?.max(0);
            i += 2;
        } else if eq(o, "streams") && more > 0 {
            streams_at = i + 1;
            if !(a.len() - streams_at).is_multiple_of(2) {
                let (name, symbol) = if group_cmd {
                    ("xreadgroup", '>')
                } else {
                    ("xread", '$')
                };
                return Err(CmdError::new(format!(
                    "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{symbol}' must be specified."
                )));
            }
            break;
        } else if eq(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(CmdError::new(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((a[i + 1], a[i + 2]));
            i += 3;
        } else if eq(o, "noack") {
            if !group_cmd {
                return Err(CmdError::new(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
            i += 1;
        } else {
            return Err(SYNTAX);
        }
    }
    if streams_at == 0 {
        return Err(SYNTAX);
    }
    if group_cmd && group.is_none() {
        return Err(CmdError::new("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (a.len() - streams_at) / 2;
    let keys = &a[streams_at..streams_at + n];
    let id_args = &a[streams_at + n..];
    let db = ctx.db();
    let now = ctx.now_ms;
    let mut l = ctx.lock(keys.iter().copied());

    // Resolve ids (and check keys / groups) in order, as Redis does.
    let retry = ctx.client.block_retry;
    let mut from = Vec::with_capacity(n);
    for (key, arg) in keys.iter().zip(id_args) {
        let s = match read(&mut l, db, key) {
            // A woken XREAD whose key now holds another type keeps waiting;
            // a woken XREADGROUP learns its stream is gone.
            Err(_) if retry && group.is_none() => None,
            Err(_) if retry => return Err(STREAM_GONE),
            r => r?,
        };
        if retry && group.is_some() {
            match &s {
                None => return Err(STREAM_GONE),
                Some(s) if !s.groups.contains_key(group.map_or(&b""[..], |g| g.0)) => {
                    return Err(CmdError::new(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    ))
                }
                _ => {}
            }
        }
        if let Some((g, _)) = group {
            if !s.as_ref().is_some_and(|s| s.groups.contains_key(g)) {
                return Err(CmdError::quoting("NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option", &[key, g]));
            }
        }
        from.push(match *arg {
            b"$" if group_cmd => {
                return Err(CmdError::new(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ))
            }
            b"$" => ReadFrom::After(s.map_or(StreamId::MIN, |s| s.last_id)),
            b">" if !group_cmd => {
                return Err(CmdError::new(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ))
            }
            b">" => ReadFrom::New,
            _ => {
                let id = parse_id(arg, true, 0)?;
                if group_cmd && id == StreamId::MAX {
                    // Redis marks `>` with the largest id: given explicitly,
                    // it reads new entries too.
                    ReadFrom::New
                } else if group_cmd {
                    ReadFrom::History(id)
                } else {
                    ReadFrom::After(id)
                }
            }
        });
    }

    // A group read propagates as its effects (see group_read_effects).
    let propagating = ctx.propagating();
    let mut effects: Vec<Vec<Vec<u8>>> = Vec::new();
    // Serve what can be served now.
    let mut replies: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut created_consumers = Vec::new();
    let mut body = Vec::new();
    for (idx, key) in keys.iter().enumerate() {
        // Group reads change only group state, which Redis does not signal
        // (and a blocked reader re-run here must not wake the readers queued
        // behind it, or itself).
        let s = match group {
            Some(_) => modify(&mut l, db, key)?,
            None => read(&mut l, db, key).unwrap_or(None),
        };
        let Some(s) = s else { continue };
        body.clear();
        let mut w = ReplyWriter::new(&mut body, ctx.client.proto);
        let served = match (group, from[idx]) {
            (None, ReadFrom::After(id)) => {
                // Entries after `id`, if any (the last id is a cheap bound).
                let start = id.incr().filter(|_| s.last_id > id);
                let entries: Vec<EntryRef> = match start {
                    Some(start) => s
                        .range(start, StreamId::MAX, false)
                        .take(if count > 0 {
                            count as usize
                        } else {
                            usize::MAX
                        })
                        .collect(),
                    None => Vec::new(),
                };
                w.array(entries.len());
                for e in &entries {
                    reply_entry(&mut w, e);
                }
                !entries.is_empty()
            }
            (Some((g, consumer)), from) => {
                let created = touch_consumer(s, g, consumer, now);
                if created {
                    created_consumers.push(*key);
                }
                let (served, delivered, moved) = match from {
                    ReadFrom::History(id) => {
                        let delivered = reply_history(&mut w, s, g, consumer, id, count, now);
                        (true, delivered, false)
                    }
                    _ => {
                        let last_delivered = s.groups.get(g).map_or(StreamId::MAX, |g| g.last_id);
                        let has_new = has_undelivered(s, g);
                        let ids = if has_new {
                            deliver_new(&mut w, s, g, consumer, last_delivered, count, noack, now)
                        } else {
                            Vec::new()
                        };
                        let moved = !ids.is_empty();
                        let delivered = if noack {
                            Vec::new()
                        } else {
                            ids.into_iter().map(|id| (id, 1)).collect()
                        };
                        (has_new, delivered, moved)
                    }
                };
                if propagating {
                    let (last_id, read) = s
                        .groups
                        .get(g)
                        .map_or((StreamId::MIN, 0), |g| (g.last_id, g.entries_read));
                    let position = (last_id, moved.then_some(read));
                    effects.extend(group_read_effects(
                        key, g, consumer, created, &delivered, position, now,
                    ));
                }
                served
            }
            (None, _) => false,
        };
        if served {
            replies.push((idx, std::mem::take(&mut body)));
        }
    }

    if propagating && group.is_some() {
        for op in &effects {
            let args: Vec<&[u8]> = op.iter().map(|x| x.as_slice()).collect();
            ctx.propagate(&args);
        }
        ctx.propagate_nothing();
    }
    if replies.is_empty() {
        if let Some(timeout) = block {
            // Park the client; the re-run reads after the ids resolved now.
            let mut rerun: Vec<Vec<u8>> = vec![a[0].to_vec()];
            if let Some((g, c)) = group {
                rerun.extend([b"GROUP".to_vec(), g.to_vec(), c.to_vec()]);
            }
            let count = if count > 0 {
                count
            } else {
                BLOCKED_DEFAULT_COUNT
            };
            rerun.extend([b"COUNT".to_vec(), count.to_string().into_bytes()]);
            if noack {
                rerun.push(b"NOACK".to_vec());
            }
            rerun.extend([
                b"BLOCK".to_vec(),
                timeout.to_string().into_bytes(),
                b"STREAMS".to_vec(),
            ]);
            rerun.extend(keys.iter().map(|k| k.to_vec()));
            rerun.extend(from.iter().map(|f| match f {
                ReadFrom::After(id) => id.to_bytes(),
                ReadFrom::New => b">".to_vec(),
                ReadFrom::History(id) => id.to_bytes(),
            }));
            ctx.block(&l, keys, timeout, true);
            if let Some(b) = ctx.client.blocked.as_mut() {
                b.rerun_args = Some(rerun);
            }
        } else {
            ctx.out.null_array();
        }
        drop(l);
        emit_created_consumers(ctx, &created_consumers);
        return Ok(());
    }
    drop(l);
    if ctx.client.proto == resp::Protocol::Resp2 {
        ctx.out.array(replies.len());
    } else {
        ctx.out.map(replies.len());
    }
    for (idx, body) in &replies {
        if ctx.client.proto == resp::Protocol::Resp2 {
            ctx.out.array(2);
        }
        ctx.out.bulk(keys[*idx]);
        ctx.out.out.extend_from_slice(body);
    }
    emit_created_consumers(ctx, &created_consumers);
    Ok(())
}

fn emit_created_consumers(ctx: &mut Ctx, keys: &[&[u8]]) {
    for key in keys {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
}

/// Whether group `g` has entries after its last delivered id.
fn has_undelivered(s: &Stream, g: &[u8]) -> bool {
    let last_delivered = s.groups.get(g).map_or(StreamId::MAX, |g| g.last_id);
    last_delivered.incr().is_some_and(|first| {
        s.last_id >= first && s.range(first, StreamId::MAX, false).next().is_some()
    })
}

/// Looks up (creating if needed) `consumer` in group `g` and stamps its
/// seen-time; true if it was created.
fn touch_consumer(s: &mut Stream, g: &[u8], consumer: &[u8], now: u64) -> bool {
    let Some(group) = s.groups.get_mut(g) else {
        return false;
    };
    let (c, created) = group.consumer(consumer, now);
    c.seen_time = now;
    created
}

/// XREADGROUP `>`: entries after the group's last id, each added to the PEL
/// (unless NOACK) and advancing the group.
#[allow(clippy::too_many_arguments)]
fn deliver_new(
    w: &mut ReplyWriter,
    s: &mut Stream,
    g: &[u8],
    consumer: &[u8],
    after: StreamId,
    count: i64,
    noack: bool,
    now: u64,
) -> Vec<StreamId> {
    let start = after.incr().unwrap_or(StreamId::MAX);
    let ids: Vec<StreamId> = s
        .range(start, StreamId::MAX, false)
        .take(if count > 0 {
            count as usize
        } else {
            usize::MAX
        })
        .map(|e| e.id)
        .collect();
    w.array(ids.len());
    for id in &ids {
        s.advance_group(g, *id);
        if let Some(e) = s.get(*id) {
            reply_entry(w, &e);
        }
        if !noack {
            if let Some(group) = s.groups.get_mut(g) {
                group.deliver(*id, consumer, now, 1);
            }
        }
    }
    if !ids.is_empty() {
        if let Some(c) = s
            .groups
            .get_mut(g)
            .and_then(|g| g.consumers.get_mut(consumer))
        {
            c.active_time = now as i64;
        }
    }
    ids
}

/// XREADGROUP with an id: the consumer's pending entries after `start`; an
/// entry deleted meanwhile is `[id, nil]`. Each one served counts a delivery.
fn reply_history(
    w: &mut ReplyWriter,
    s: &mut Stream,
    g: &[u8],
    consumer: &[u8],
    start: StreamId,
    count: i64,
    now: u64,
) -> Vec<(StreamId, u64)> {
    // Like XREAD, the history starts after the given id.
    let Some(after) = start.incr() else {
        w.array(0);
        return Vec::new();
    };
    let ids: Vec<StreamId> = s
        .groups
        .get(g)
        .and_then(|g| g.consumers.get(consumer))
        .map(|c| {
            c.pel
                .range(after..)
                .take(if count > 0 {
                    count as usize
                } else {
                    usize::MAX
                })
                .copied()
                .collect()
        })
        .unwrap_or_default();
    w.array(ids.len());
    let mut delivered = Vec::new();
    for id in ids {
        match s.get(id) {
            Some(e) => {
                reply_entry(w, &e);
                if let Some(p) = s.groups.get_mut(g).and_then(|g| g.pel.get_mut(&id)) {
                    p.delivery_time = now;
                    p.delivery_count += 1;
                    delivered.push((id, p.delivery_count));
                }
            }
            None => {
                w.array(2);
                bulk_id(w, id);
                w.null_array();
            }
        }
    }
    delivered
}

/// Group bookkeeping of XREADGROUP as Redis propagates it: each delivery
/// as an XCLAIM with its time and count, the group's position (with its
/// read counter), a consumer it created.
fn group_read_effects(
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    created: bool,
    delivered: &[(StreamId, u64)],
    // The group's last delivered id, and its read counter when the read
    // moved it.
    (last, moved_read): (StreamId, Option<i64>),
    now: u64,
) -> Vec<Vec<Vec<u8>>> {
    let mut ops = Vec::new();
    let v = |b: &[u8]| b.to_vec();
    if created {
        ops.push(vec![
            v(b"XGROUP"),
            v(b"CREATECONSUMER"),
            v(key),
            v(group),
            v(consumer),
        ]);
    }
    // LASTID is the group's own (unchanged by a history read).
    let last_id = last.to_string().into_bytes();
    for (id, count) in delivered {
        let id = id.to_string().into_bytes();
        ops.push(vec![
            v(b"XCLAIM"),
            v(key),
            v(group),
            v(consumer),
            v(b"0"),
            id.clone(),
            v(b"TIME"),
            now.to_string().into_bytes(),
            v(b"RETRYCOUNT"),
            count.to_string().into_bytes(),
            v(b"FORCE"),
            v(b"JUSTID"),
            v(b"LASTID"),
            last_id.clone(),
        ]);
    }
    if let Some(read) = moved_read {
        ops.push(vec![
            v(b"XGROUP"),
            v(b"SETID"),
            v(key),
            v(group),
            last_id,
            v(b"ENTRIESREAD"),
            read.to_string().into_bytes(),
        ]);
    }
    ops
}

// ---------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------

/// XGROUP's options after `<id>` (from argument 5), parsed before anything
/// else as Redis does for every subcommand: `MKSTREAM` (CREATE only) and
/// `ENTRIESREAD n` (CREATE and SETID). Returns (mkstream, entries_read).
fn xgroup_options(ctx: &Ctx, a: &[&[u8]]) -> Result<(bool, i64), CmdError> {
    let sub = a[1];
    let (create, setid) = (eq(sub, "create"), eq(sub, "setid"));
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < a.len() {
        if create && eq(a[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && eq(a[i], "entriesread") && i + 1 < a.len() {
            entries_read = entries_read_arg(a[i + 1])?;
            i += 2;
        } else {
            return Err(subcommand_syntax(ctx, a));
        }
    }
    Ok((mkstream, entries_read))
}

/// The stream an XGROUP subcommand works on: it must exist (unless
/// `mkstream`), and SETID / CREATECONSUMER / DELCONSUMER need the group.
fn xgroup_stream<'l>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
    group: &[u8],
    mkstream: bool,
    needs_group: bool,
) -> Result<Option<&'l mut Stream>, CmdError> {
    let s = modify(l, db, key)?;
    if mkstream {
        return Ok(s);
    }
    let Some(s) = s else {
        return Err(CmdError::new(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
        ));
    };
    if needs_group && !s.groups.contains_key(group) {
        return Err(no_such_group_error(key, group));
    }
    Ok(Some(s))
}

fn entries_read_arg(arg: &[u8]) -> Result<i64, CmdError> {
    let n = int(arg)?;
    if n < 0 && n != INVALID_ENTRIES_READ {
        return Err(CmdError::new(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

fn subcommand_syntax(ctx: &Ctx, a: &[&[u8]]) -> CmdError {
    let cmd = ctx
        .spec
        .name
        .split('|')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    CmdError::quoting(
        &format!("ERR unknown subcommand or wrong number of arguments for '{{}}'. Try {cmd} HELP."),
        &[a[1]],
    )
}

fn xgroup_create(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name) = (a[2], a[3]);
    let (mkstream, entries_read) = xgroup_options(ctx, a)?;
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let exists = xgroup_stream(&mut l, db, key, name, mkstream, false)?.map(|s| s.last_id);
    if a.len() > 8 {
        return Err(subcommand_syntax(ctx, a));
    }
    let id = if a[4] == b"$" {
        exists.unwrap_or_default()
    } else {
        parse_id(a[4], true, 0)?
    };
    if exists.is_none() {
        l.set(db, key, Value::Stream(Box::default()), 0);
    }
    let s = modify(&mut l, db, key)?.ok_or(WRONGTYPE)?;
    if s.groups.contains_key(name) {
        return Err(CmdError::new(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    s.groups.insert(name.into(), Group::new(id, entries_read));
    drop(l);
    ctx.out.ok();
    ctx.notify(notify::STREAM, "xgroup-create", key);
    Ok(())
}

fn xgroup_setid(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name) = (a[2], a[3]);
    let (_, entries_read) = xgroup_options(ctx, a)?;
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let s = xgroup_stream(&mut l, db, key, name, false, true)?.ok_or(WRONGTYPE)?;
    if a.len() != 5 && a.len() != 7 {
        return Err(subcommand_syntax(ctx, a));
    }
    let last = s.last_id;
    let id = if a[4] == b"$" {
        last
    } else {
        parse_id(a[4], false, 0)?
    };
    let g = s
        .groups
        .get_mut(name)
        .ok_or_else(|| no_such_group_error(key, name))?;
    g.last_id = id;
    g.entries_read = entries_read;
    drop(l);
    ctx.out.ok();
    ctx.notify(notify::STREAM, "xgroup-setid", key);
    Ok(())
}

fn xgroup_destroy(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name) = (a[2], a[3]);
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let s = xgroup_stream(&mut l, db, key, name, false, false)?.ok_or(WRONGTYPE)?;
    let removed = s.groups.remove(name).is_some();
    if removed {
        // Readers blocked on the group learn it is gone (Redis signals the
        // key ready, not modified). Signalled under the lock, like writes.
        ctx.server.keyspace.ready.signal(db, key);
    }
    drop(l);
    ctx.out.int(removed as i64);
    if removed {
        ctx.notify(notify::STREAM, "xgroup-destroy", key);
    }
    Ok(())
}

fn xgroup_createconsumer(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name) = (a[2], a[3]);
    xgroup_options(ctx, a)?;
    let (db, now) = (ctx.db(), ctx.now_ms);
    let mut l = ctx.lock([key]);
    let s = xgroup_stream(&mut l, db, key, name, false, true)?.ok_or(WRONGTYPE)?;
    let g = s
        .groups
        .get_mut(name)
        .ok_or_else(|| no_such_group_error(key, name))?;
    let created = g.consumer(a[4], now).1;
    drop(l);
    ctx.out.int(created as i64);
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

fn xgroup_delconsumer(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name) = (a[2], a[3]);
    xgroup_options(ctx, a)?;
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let s = xgroup_stream(&mut l, db, key, name, false, true)?.ok_or(WRONGTYPE)?;
    let g = s
        .groups
        .get_mut(name)
        .ok_or_else(|| no_such_group_error(key, name))?;
    let pending = g.delete_consumer(a[4]);
    drop(l);
    ctx.out.int(pending.unwrap_or(0) as i64);
    if pending.is_some() {
        ctx.notify(notify::STREAM, "xgroup-delconsumer", key);
    }
    Ok(())
}

fn xgroup_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    crate::generic::help(
        ctx,
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

// ---------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM
// ---------------------------------------------------------------------------

fn xack(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (db, key, name) = (ctx.db(), a[1], a[2]);
    let mut l = ctx.lock([key]);
    // No key or no group: nothing to acknowledge, and the ids are not even
    // parsed (Redis answers 0 before looking at them).
    let has_group = read(&mut l, db, key)?.is_some_and(|s| s.groups.contains_key(name));
    let acked = if has_group {
        let ids = a[3..]
            .iter()
            .map(|arg| parse_id(arg, true, 0))
            .collect::<Result<Vec<_>, _>>()?;
        match modify(&mut l, db, key)?.and_then(|s| s.groups.get_mut(name)) {
            Some(g) => ids.into_iter().filter(|id| g.ack(*id)).count(),
            None => 0,
        }
    } else {
        0
    };
    drop(l);
    ctx.out.int(acked as i64);
    Ok(())
}

fn xpending(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name) = (a[1], a[2]);
    let summary = a.len() == 3;
    if !summary && !(6..=9).contains(&a.len()) {
        return Err(SYNTAX);
    }
    let mut min_idle = 0i64;
    let (mut start, mut end, mut count) = (StreamId::MIN, StreamId::MAX, 0i64);
    let mut consumer: Option<&[u8]> = None;
    if !summary {
        let mut at = 3;
        if eq(a[3], "idle") {
            min_idle = int(a[4])?;
            if a.len() < 8 {
                return Err(SYNTAX);
            }
            at += 2;
        }
        count = int(a[at + 2])?.max(0);
        start = parse_interval(a[at], 0, true)?;
        end = parse_interval(a[at + 1], u64::MAX, false)?;
        consumer = a.get(at + 3).copied();
    }
    let (db, now) = (ctx.db(), ctx.now_ms);
    let mut l = ctx.lock([key]);
    let g = read(&mut l, db, key)?
        .and_then(|s| s.groups.get(name))
        .ok_or_else(|| no_group_error(key, name))?;
    let out = &mut ctx.out;
    if summary {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                bulk_id(out, *first);
                bulk_id(out, *last);
                let with: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(with.len());
                for (n, c) in with {
                    out.array(2);
                    out.bulk(n);
                    out.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => c
                .pel
                .range(start..)
                .take_while(|id| **id <= end)
                .copied()
                .collect(),
            None => Vec::new(),
        },
        None => g
            .pel
            .range(start..)
            .take_while(|(id, _)| **id <= end)
            .map(|(id, _)| *id)
            .collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() as i64 >= count {
            break;
        }
        let Some(p) = g.pel.get(&id) else { continue };
        let idle = now.saturating_sub(p.delivery_time) as i64;
        if min_idle > 0 && idle < min_idle {
            continue;
        }
        rows.push((id, p));
    }
    out.array(rows.len());
    for (id, p) in rows {
        out.array(4);
        bulk_id(out, id);
        out.bulk(&p.consumer);
        out.int(now.saturating_sub(p.delivery_time) as i64);
        out.int(p.delivery_count as i64);
    }
    Ok(())
}

fn xclaim(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name, consumer) = (a[1], a[2], a[3]);
    let (db, now) = (ctx.db(), ctx.now_ms);
    let mut l = ctx.lock([key]);
    if read(&mut l, db, key)?
        .and_then(|s| s.groups.get(name))
        .is_none()
    {
        return Err(no_group_error(key, name));
    }
    let min_idle = non_negative(a[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match parse_id(a[j], true, 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut retry: Option<i64> = None;
    let mut delivery: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = a[j];
        if eq(opt, "force") {
            force = true;
        } else if eq(opt, "justid") {
            justid = true;
        } else if eq(opt, "idle") && more > 0 {
            j += 1;
            let idle = non_negative(a[j], "Invalid IDLE option argument for XCLAIM")?;
            delivery = Some(now as i64 - idle);
        } else if eq(opt, "time") && more > 0 {
            j += 1;
            delivery = Some(non_negative(
                a[j],
                "Invalid TIME option argument for XCLAIM",
            )?);
        } else if eq(opt, "retrycount") && more > 0 {
            j += 1;
            retry = Some(non_negative(
                a[j],
                "Invalid RETRYCOUNT option argument for XCLAIM",
            )?);
        } else if eq(opt, "lastid") && more > 0 {
            j += 1;
            last_id = parse_id(a[j], true, 0)?;
        } else {
            return Err(CmdError::quoting(
                "ERR Unrecognized XCLAIM option '{}'",
                &[opt],
            ));
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(t) if t >= 0 && t <= now as i64 => t as u64,
        _ => now,
    };
    let s = modify(&mut l, db, key)?.ok_or(WRONGTYPE)?;
    let exists: Vec<bool> = ids.iter().map(|id| s.get(*id).is_some()).collect();
    let g = s
        .groups
        .get_mut(name)
        .ok_or_else(|| no_group_error(key, name))?;
    if last_id > g.last_id {
        g.last_id = last_id;
    }
    let created = {
        let (c, created) = g.consumer(consumer, now);
        c.seen_time = now;
        created
    };
    let mut claimed = Vec::new();
    let mut dropped = Vec::new();
    for (id, exists) in ids.iter().zip(exists) {
        if !exists {
            // The entry is gone: drop it from the PEL.
            g.ack(*id);
            dropped.push(*id);
            continue;
        }
        let forced_new = !g.pel.contains_key(id);
        if forced_new && !force {
            continue;
        }
        let count = match g.pel.get(id) {
            Some(p) => {
                if min_idle > 0 && (now.saturating_sub(p.delivery_time) as i64) < min_idle {
                    continue;
                }
                p.delivery_count
            }
            None => 1,
        };
        let count = match retry {
            Some(r) => r as u64,
            None if justid => count,
            None => count + 1,
        };
        g.deliver(*id, consumer, delivery, count);
        claimed.push(*id);
    }
    if !claimed.is_empty() {
        if let Some(c) = g.consumers.get_mut(consumer) {
            c.active_time = now as i64;
        }
    }
    let out = &mut ctx.out;
    out.array(claimed.len());
    for id in &claimed {
        if justid {
            bulk_id(out, *id);
        } else if let Some(e) = s.get(*id) {
            reply_entry(out, &e);
        }
    }
    drop(l);
    let claim = Claim {
        key,
        group: name,
        consumer,
        ids: claimed.iter().chain(&dropped).copied().collect(),
        delivery,
        retry,
        justid,
        force,
        last_id: (last_id != StreamId::MIN).then_some(last_id),
        created,
    };
    propagate_claim(ctx, claim);
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

/// What an XCLAIM or XAUTOCLAIM changed.
struct Claim<'a> {
    key: &'a [u8],
    group: &'a [u8],
    consumer: &'a [u8],
    /// Entries claimed, and entries dropped from the PEL as deleted.
    ids: Vec<StreamId>,
    delivery: u64,
    retry: Option<i64>,
    justid: bool,
    force: bool,
    last_id: Option<StreamId>,
    created: bool,
}

/// Claims propagate as an XCLAIM of exactly the entries claimed (or
/// dropped), with no idle-time condition and an absolute delivery time:
/// replayed later, the condition would pick other entries.
fn propagate_claim(ctx: &mut Ctx, c: Claim) {
    if !ctx.propagating() {
        return;
    }
    // The consumer is created even when nothing is claimed (Redis's
    // XCLAIM would not create it on replay then).
    if c.created {
        ctx.propagate(&[b"XGROUP", b"CREATECONSUMER", c.key, c.group, c.consumer]);
    }
    if c.ids.is_empty() {
        ctx.propagate_nothing();
        return;
    }
    let ids: Vec<String> = c.ids.iter().map(|id| id.to_string()).collect();
    let (time, retry) = (c.delivery.to_string(), c.retry.map(|r| r.to_string()));
    let last_id = c.last_id.map(|id| id.to_string());
    let mut args: Vec<&[u8]> = vec![b"XCLAIM", c.key, c.group, c.consumer, b"0"];
    args.extend(ids.iter().map(|id| id.as_bytes()));
    args.extend([&b"TIME"[..], time.as_bytes()]);
    if let Some(r) = &retry {
        args.extend([&b"RETRYCOUNT"[..], r.as_bytes()]);
    }
    if c.justid {
        args.push(b"JUSTID");
    }
    if c.force {
        args.push(b"FORCE");
    }
    if let Some(id) = &last_id {
        args.extend([&b"LASTID"[..], id.as_bytes()]);
    }
    ctx.propagate(&args);
}

fn xautoclaim(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name, consumer) = (a[1], a[2], a[3]);
    let min_idle = non_negative(a[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = parse_interval(a[5], 0, true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if eq(a[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            count = crate::args::parse_i64(a[j + 1])
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::new("ERR COUNT must be > 0"))?;
            j += 1;
        } else if eq(a[j], "justid") {
            justid = true;
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let (db, now) = (ctx.db(), ctx.now_ms);
    let mut l = ctx.lock([key]);
    let s = modify(&mut l, db, key)?
        .filter(|s| s.groups.contains_key(name))
        .ok_or_else(|| no_group_error(key, name))?;
    let candidates: Vec<StreamId> = s.groups[name]
        .pel
        .range(start..)
        .map(|(id, _)| *id)
        .collect();
    let exists: Vec<bool> = candidates.iter().map(|id| s.get(*id).is_some()).collect();
    let g = s
        .groups
        .get_mut(name)
        .ok_or_else(|| no_group_error(key, name))?;
    let created = {
        let (c, created) = g.consumer(consumer, now);
        c.seen_time = now;
        created
    };
    let mut attempts = count * 10;
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut next = StreamId::MIN;
    for (id, exists) in candidates.iter().zip(&exists) {
        if attempts == 0 || count == 0 {
            next = *id;
            break;
        }
        attempts -= 1;
        if !exists {
            g.ack(*id);
            deleted.push(*id);
            count -= 1;
            continue;
        }
        let Some(p) = g.pel.get(id) else { continue };
        if min_idle > 0 && (now.saturating_sub(p.delivery_time) as i64) < min_idle {
            continue;
        }
        let deliveries = if justid {
            p.delivery_count
        } else {
            p.delivery_count + 1
        };
        g.deliver(*id, consumer, now, deliveries);
        claimed.push(*id);
        count -= 1;
    }
    if !claimed.is_empty() {
        if let Some(c) = g.consumers.get_mut(consumer) {
            c.active_time = now as i64;
        }
    }
    let out = &mut ctx.out;
    out.array(3);
    bulk_id(out, next);
    out.array(claimed.len());
    for id in &claimed {
        if justid {
            bulk_id(out, *id);
        } else if let Some(e) = s.get(*id) {
            reply_entry(out, &e);
        }
    }
    out.array(deleted.len());
    for id in &deleted {
        bulk_id(out, *id);
    }
    drop(l);
    let claim = Claim {
        key,
        group: name,
        consumer,
        ids: claimed.iter().chain(&deleted).copied().collect(),
        delivery: now,
        retry: None,
        justid,
        force: false,
        last_id: None,
        created,
    };
    propagate_claim(ctx, claim);
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------

fn xinfo_lookup<'l>(l: &'l mut Locked, db: usize, key: &[u8]) -> Result<&'l mut Stream, CmdError> {
    read(l, db, key)?.ok_or(crate::error::NO_SUCH_KEY)
}

fn reply_lag_fields(out: &mut ReplyWriter, s: &Stream, g: &Group) {
    out.bulk(b"entries-read");
    if g.entries_read != INVALID_ENTRIES_READ {
        out.int(g.entries_read);
    } else {
        out.null();
    }
    out.bulk(b"lag");
    match s.lag(g) {
        Some(lag) => out.int(lag),
        None => out.null(),
    }
}

fn xinfo_stream(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let key = a[2];
    let opts = &a[3..];
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    // The key is looked up before the options are parsed, as Redis does.
    xinfo_lookup(&mut l, db, key)?;
    let mut count: i64 = 10;
    let full = !opts.is_empty();
    if full {
        if (opts.len() != 1 && opts.len() != 3)
            || !eq(opts[0], "full")
            || (opts.len() == 3 && !eq(opts[1], "count"))
        {
            return Err(subcommand_syntax(ctx, a));
        }
        if opts.len() == 3 {
            count = int(opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let s = xinfo_lookup(&mut l, db, key)?;
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let out = &mut ctx.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(radix_nodes_estimate(s.node_count()) as i64);
    out.bulk(b"last-generated-id");
    bulk_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    bulk_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    bulk_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (label, last) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(label);
            match s.edge(last) {
                Some(e) => reply_entry(out, &e),
                None => out.null(),
            }
        }
        return Ok(());
    }
    out.bulk(b"entries");
    let entries: Vec<EntryRef> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(limit)
        .collect();
    out.array(entries.len());
    for e in &entries {
        reply_entry(out, e);
    }
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        bulk_id(out, g.last_id);
        reply_lag_fields(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pending: Vec<_> = g.pel.iter().take(limit).collect();
        out.array(pending.len());
        for (id, p) in pending {
            out.array(4);
            bulk_id(out, *id);
            out.bulk(&p.consumer);
            out.int(p.delivery_time as i64);
            out.int(p.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(5);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            out.bulk(b"active-time");
            out.int(c.active_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let pending: Vec<_> = c.pel.iter().take(limit).collect();
            out.array(pending.len());
            for id in pending {
                let p = g.pel.get(id);
                out.array(3);
                bulk_id(out, *id);
                out.int(p.map_or(0, |p| p.delivery_time) as i64);
                out.int(p.map_or(0, |p| p.delivery_count) as i64);
            }
        }
    }
    Ok(())
}

/// Redis reports its radix tree's internal node count, which depends on
/// the rax layout; nodes of 16-byte big-endian ids share prefixes, so the
/// tree has roughly one inner node per key plus the root.
fn radix_nodes_estimate(keys: usize) -> usize {
    if keys == 0 {
        1
    } else {
        keys * 2
    }
}

fn xinfo_groups(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[2]]);
    let s = xinfo_lookup(&mut l, db, a[2])?;
    let out = &mut ctx.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        bulk_id(out, g.last_id);
        reply_lag_fields(out, s, g);
    }
    Ok(())
}

fn xinfo_consumers(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, name) = (a[2], a[3]);
    let (db, now) = (ctx.db(), ctx.now_ms);
    let mut l = ctx.lock([key]);
    let s = xinfo_lookup(&mut l, db, key)?;
    let g = s
        .groups
        .get(name)
        .ok_or_else(|| no_such_group_error(key, name))?;
    let out = &mut ctx.out;
    out.array(g.consumers.len());
    for (cname, c) in &g.consumers {
        out.map(4);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int(now.saturating_sub(c.seen_time) as i64);
        out.bulk(b"inactive");
        out.int(if c.active_time < 0 {
            -1
        } else {
            (now as i64 - c.active_time).max(0)
        });
    }
    Ok(())
}

fn xinfo_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    crate::generic::help(
        ctx,
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{check, server, Session};

    #[test]
    fn ids_parse_like_redis() {
        let srv = server();
        let mut s = Session::new(&srv);
        check(
            &mut s,
            &[
                (&["XADD", "s", " 2", "a", "1"], "$3\r\n2-0\r\n"),
                (&["XADD", "s", "+3-01", "a", "1"], "$3\r\n3-1\r\n"),
                (&["XADD", "s", "4\0junk", "a", "1"], "$3\r\n4-0\r\n"),
                (
                    &["XADD", "s", "4-x", "a", "1"],
                    "-ERR Invalid stream ID specified as stream command argument\r\n",
                ),
                (
                    &["XRANGE", "s", "(3-1", "+", "COUNT", "1"],
                    "*1\r\n*2\r\n$3\r\n4-0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
                ),
            ],
        );
    }

    #[test]
    fn group_argument_errors_in_redis_order() {
        let srv = server();
        let mut s = Session::new(&srv);
        check(
            &mut s,
            &[
                // Options are checked before the key.
                (
                    &["XGROUP", "SETID", "nokey", "g", "0", "FOO", "1"],
                    "-ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP.\r\n",
                ),
                (&["XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"], "+OK\r\n"),
                (
                    &["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "1", "MKSTREAM", "MKSTREAM"],
                    "-ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.\r\n",
                ),
                (
                    &["XGROUP", "CREATECONSUMER", "s", "g", "c", "MKSTREAM"],
                    "-ERR wrong number of arguments for 'xgroup|createconsumer' command\r\n",
                ),
                // No group: XACK answers 0 without parsing its ids.
                (&["XACK", "s", "nog", "x"], ":0\r\n"),
                (
                    &["XACK", "s", "g", "x"],
                    "-ERR Invalid stream ID specified as stream command argument\r\n",
                ),
                // The key is looked up before XINFO STREAM's options.
                (&["XINFO", "STREAM", "nokey", "x"], "-ERR no such key\r\n"),
                (
                    &["XINFO", "STREAM", "s", "x"],
                    "-ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.\r\n",
                ),
            ],
        );
    }

    #[test]
    fn largest_id_reads_new_entries() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["XADD", "s", "1-0", "f", "v"]);
        s.run(&["XGROUP", "CREATE", "s", "g", "0"]);
        check(
            &mut s,
            &[
                (
                    &[
                        "XREADGROUP",
                        "GROUP",
                        "g",
                        "c",
                        "STREAMS",
                        "s",
                        "18446744073709551615-18446744073709551615",
                    ],
                    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
                ),
                (
                    &["XPENDING", "s", "g"],
                    "*4\r\n:1\r\n$3\r\n1-0\r\n$3\r\n1-0\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\n1\r\n",
                ),
            ],
        );
    }

    #[test]
    fn group_bookkeeping_leaves_watch_alone() {
        let srv = server();
        let mut s = Session::new(&srv);
        s.run(&["XADD", "s", "1-0", "f", "v"]);
        s.run(&["XGROUP", "CREATE", "s", "g", "0"]);
        for (cmd, dirty) in [
            (
                &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"][..],
                false,
            ),
            (&["XACK", "s", "g", "1-0"], false),
            (&["XDEL", "s", "9-9"], false),
            (&["XSETID", "s", "5-0"], false),
            (&["XDEL", "s", "1-0"], true),
        ] {
            let mut other = Session::new(&srv);
            s.run(&["WATCH", "s"]);
            other.run(cmd);
            s.run(&["MULTI"]);
            s.run(&["PING"]);
            let want = if dirty { "*-1\r\n" } else { "*1\r\n+PONG\r\n" };
            assert_eq!(s.run(&["EXEC"]), want, "{cmd:?}");
        }
    }
}
