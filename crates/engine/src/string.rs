//! String commands: SET and friends, counters, ranges, LCS.

use keyspace::{itoa_buf, Entry, Locked, StrValue, Value};

use crate::args::{self, eq, int};
use crate::error::{invalid_expire, CmdError, CmdResult, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE};
use crate::notify;
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("set", set),
    ("get", get),
    ("getex", getex),
    ("getdel", getdel),
    ("getset", getset),
    ("setnx", setnx),
    ("setex", setex),
    ("psetex", psetex),
    ("mset", mset),
    ("msetnx", msetnx),
    ("mget", mget),
    ("append", append),
    ("strlen", strlen),
    ("incr", incr),
    ("decr", decr),
    ("incrby", incrby),
    ("decrby", decrby),
    ("incrbyfloat", incrbyfloat),
    ("getrange", getrange),
    ("substr", getrange),
    ("setrange", setrange),
    ("lcs", lcs),
];

/// The string value of an entry, or WRONGTYPE.
pub(crate) fn as_str(e: &Entry) -> Result<&StrValue, CmdError> {
    match &e.value {
        Value::Str(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

pub(crate) fn as_str_mut(e: &mut Entry) -> Result<&mut StrValue, CmdError> {
    match &mut e.value {
        Value::Str(s) => Ok(s),
        _ => Err(WRONGTYPE),
    }
}

/// Reads a string key: Ok(None) if missing, WRONGTYPE if another type.
fn read_str(l: &mut Locked, db: usize, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    match l.get(db, key) {
        None => Ok(None),
        Some(e) => Ok(Some(as_str(e)?.to_vec())),
    }
}

fn reply_str(ctx: &mut Ctx, s: &StrValue) {
    let mut buf = itoa_buf::Buf::default();
    let bytes = s.bytes(&mut buf);
    if bytes.len() >= BIG_REPLY {
        // Copying hundreds of megabytes into the output takes this thread
        // for a while: the worker's other connections go on meanwhile.
        crate::release_worker();
    }
    ctx.out.bulk(bytes);
}

/// A string reply this long is copied with the worker released.
const BIG_REPLY: usize = 16 << 20;

/// Rejects strings longer than `proto-max-bulk-len` (Redis's checkStringLength).
fn check_len(ctx: &Ctx, len: u64) -> CmdResult {
    let max = ctx
        .server
        .config
        .hot
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    if len > max as u64 {
        return Err(CmdError::new(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

/// Expiry options shared by SET and GETEX.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ttl {
    Unchanged,
    Keep,
    Persist,
    /// Absolute ms since the epoch.
    At(u64),
}

/// Converts an EX/PX/EXAT/PXAT argument into an absolute time, with Redis's checks.
fn expire_at(
    ctx: &Ctx,
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> Result<u64, CmdError> {
    let v = int(arg)?;
    if v <= 0 || (unit_ms == 1000 && v > i64::MAX / 1000) {
        return Err(invalid_expire(cmd));
    }
    let mut when = v * unit_ms;
    if !absolute {
        if when > i64::MAX - ctx.now_ms as i64 {
            return Err(invalid_expire(cmd));
        }
        when += ctx.now_ms as i64;
    }
    Ok(when as u64)
}

/// A string stored with an expiry time propagates with that time as an
/// absolute one (replayed later, a relative TTL would restart), or as DEL
/// when the time had passed.
fn propagate_store_at(ctx: &mut Ctx, key: &[u8], value: &[u8], at: u64) {
    if !ctx.propagating() {
        return;
    }
    if at <= ctx.now_ms {
        ctx.propagate(&[b"DEL", key]);
    } else {
        let at = at.to_string();
        ctx.propagate(&[b"SET", key, value, b"PXAT", at.as_bytes()]);
    }
}

/// Stores a string honouring a TTL choice; a TTL already in the past deletes the key.
fn store(l: &mut Locked, db: usize, key: &[u8], value: StrValue, ttl: Ttl) {
    match ttl {
        Ttl::At(at) if at <= l.now_ms() => {
            l.remove(db, key);
        }
        Ttl::At(at) => l.set(db, key, Value::Str(value), at),
        Ttl::Keep => l.set_keep_ttl(db, key, Value::Str(value)),
        Ttl::Unchanged | Ttl::Persist => l.set(db, key, Value::Str(value), 0),
    }
}

/// The options of SET (from argument 3) or GETEX (from argument 2), read
/// like Redis's `parseExtendedStringArgumentsOrReply`: an option may repeat
/// (the last expire wins), mixing expire kinds is a syntax error, and the
/// expire value is checked only later.
#[derive(Default)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (value, unit in ms, absolute) of EX, PX, EXAT or PXAT.
    expire: Option<(&'a [u8], i64, bool)>,
}

fn parse_ext_opts<'a>(a: &[&'a [u8]], is_set: bool) -> Result<ExtOpts<'a>, CmdError> {
    const KINDS: [(&str, i64, bool); 4] = [
        ("ex", 1000, false),
        ("px", 1, false),
        ("exat", 1000, true),
        ("pxat", 1, true),
    ];
    let mut o = ExtOpts::default();
    let mut kind: Option<usize> = None;
    let mut i = if is_set { 3 } else { 2 };
    while i < a.len() {
        let opt = a[i];
        let this_kind = KINDS.iter().position(|(name, ..)| eq(opt, name));
        if is_set && eq(opt, "nx") && !o.xx {
            o.nx = true;
        } else if is_set && eq(opt, "xx") && !o.nx {
            o.xx = true;
        } else if is_set && eq(opt, "get") {
            o.get = true;
        } else if is_set && eq(opt, "keepttl") && kind.is_none() {
            o.keepttl = true;
        } else if !is_set && eq(opt, "persist") && kind.is_none() {
            o.persist = true;
        } else if let (Some(k), Some(v)) = (this_kind, a.get(i + 1)) {
            if o.keepttl || o.persist || kind.is_some_and(|c| c != k) {
                return Err(SYNTAX);
            }
            kind = Some(k);
            o.expire = Some((v, KINDS[k].1, KINDS[k].2));
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

fn set(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (key, val) = (a[1], a[2]);
    let o = parse_ext_opts(a, true)?;
    let (nx, xx, get) = (o.nx, o.xx, o.get);
    let ttl = match o.expire {
        Some((v, unit, abs)) => Ttl::At(expire_at(ctx, v, unit, abs, "set")?),
        None if o.keepttl => Ttl::Keep,
        None => Ttl::Unchanged,
    };
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let old = if get {
        read_str(&mut l, db, key)?
    } else {
        None
    };
    let exists = if get {
        old.is_some()
    } else {
        l.exists(db, key)
    };
    if (nx && exists) || (xx && !exists) {
        drop(l);
        match old {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let has_ttl = matches!(ttl, Ttl::At(_));
    if let Ttl::At(at) = ttl {
        propagate_store_at(ctx, key, val, at);
    }
    store(&mut l, db, key, ctx.str_value(val), ttl);
    drop(l);
    ctx.notify(notify::STRING, "set", key);
    if has_ttl {
        ctx.notify(notify::GENERIC, "expire", key);
    }
    if get {
        match old {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn get(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    match l.get(db, a[1]) {
        None => ctx.out.null(),
        Some(e) => reply_str(ctx, as_str(e)?),
    }
    Ok(())
}

fn getex(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let o = parse_ext_opts(a, false)?;
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let Some(v) = read_str(&mut l, db, key)? else {
        drop(l);
        ctx.out.null();
        return Ok(());
    };
    // Like Redis, the expire value is checked only once the key is found.
    let ttl = match o.expire {
        Some((t, unit, abs)) => Ttl::At(expire_at(ctx, t, unit, abs, "getex")?),
        None if o.persist => Ttl::Persist,
        None => Ttl::Unchanged,
    };
    let event = match ttl {
        Ttl::At(at) if at <= l.now_ms() => {
            l.remove(db, key);
            ctx.propagate(&[b"DEL", key]);
            Some((notify::GENERIC, "del"))
        }
        Ttl::At(at) => {
            l.set_expire(db, key, at);
            ctx.propagate(&[b"PEXPIREAT", key, at.to_string().as_bytes()]);
            Some((notify::GENERIC, "expire"))
        }
        Ttl::Persist => l.set_expire(db, key, 0).then(|| {
            ctx.propagate(&[b"PERSIST", key]);
            (notify::GENERIC, "persist")
        }),
        Ttl::Unchanged | Ttl::Keep => None,
    };
    drop(l);
    if let Some((class, event)) = event {
        ctx.notify(class, event, key);
    }
    ctx.out.bulk(&v);
    Ok(())
}

fn getdel(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let v = read_str(&mut l, db, a[1])?;
    if v.is_some() {
        l.remove(db, a[1]);
    }
    drop(l);
    if v.is_some() {
        ctx.notify(notify::GENERIC, "del", a[1]);
    }
    match v {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn getset(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let old = read_str(&mut l, db, a[1])?;
    l.set(db, a[1], Value::Str(ctx.str_value(a[2])), 0);
    drop(l);
    ctx.notify(notify::STRING, "set", a[1]);
    match old {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let created = !l.exists(db, a[1]);
    if created {
        l.set(db, a[1], Value::Str(ctx.str_value(a[2])), 0);
    }
    drop(l);
    if created {
        ctx.notify(notify::STRING, "set", a[1]);
    }
    ctx.out.int(created as i64);
    Ok(())
}

fn setex_generic(ctx: &mut Ctx, a: &[&[u8]], unit: i64, name: &str) -> CmdResult {
    let at = expire_at(ctx, a[2], unit, false, name)?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    propagate_store_at(ctx, a[1], a[3], at);
    store(&mut l, db, a[1], ctx.str_value(a[3]), Ttl::At(at));
    drop(l);
    ctx.notify(notify::STRING, "set", a[1]);
    ctx.notify(notify::GENERIC, "expire", a[1]);
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, a, 1000, "setex")
}

fn psetex(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, a, 1, "psetex")
}

fn mset_pairs<'x>(
    ctx: &Ctx,
    a: &'x [&'x [u8]],
) -> Result<std::slice::Chunks<'x, &'x [u8]>, CmdError> {
    if a.len() % 2 != 1 {
        return Err(crate::error::wrong_args(ctx.spec.name));
    }
    Ok(a[1..].chunks(2))
}

fn mset(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let pairs = mset_pairs(ctx, a)?;
    let db = ctx.db();
    let mut l = ctx.lock(a[1..].iter().step_by(2).copied());
    for kv in pairs.clone() {
        l.set(db, kv[0], Value::Str(ctx.str_value(kv[1])), 0);
    }
    drop(l);
    for kv in pairs {
        ctx.notify(notify::STRING, "set", kv[0]);
    }
    ctx.out.ok();
    Ok(())
}

fn msetnx(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let pairs = mset_pairs(ctx, a)?;
    let db = ctx.db();
    let mut l = ctx.lock(a[1..].iter().step_by(2).copied());
    let any_exists = a[1..].iter().step_by(2).any(|k| l.exists(db, k));
    if !any_exists {
        for kv in pairs.clone() {
            l.set(db, kv[0], Value::Str(ctx.str_value(kv[1])), 0);
        }
    }
    drop(l);
    if !any_exists {
        for kv in pairs {
            ctx.notify(notify::STRING, "set", kv[0]);
        }
    }
    ctx.out.int(!any_exists as i64);
    Ok(())
}

fn mget(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let keys = &a[1..];
    let mut l = ctx.lock(keys.iter().copied());
    // Read everything under the locks (atomic snapshot), reply afterwards.
    let vals: Vec<Option<Vec<u8>>> = keys
        .iter()
        .map(|k| {
            l.get(db, k)
                .and_then(|e| as_str(e).ok().map(|s| s.to_vec()))
        })
        .collect();
    drop(l);
    ctx.out.array(vals.len());
    for v in vals {
        match v {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn append(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let len = match l.get_mut(db, a[1]) {
        Some(e) => {
            let s = as_str_mut(e)?;
            let cur = s.len();
            check_len(ctx, (cur + a[2].len()) as u64)?;
            let raw = s.make_raw();
            raw.extend_from_slice(a[2]);
            raw.len()
        }
        None => {
            l.set(db, a[1], Value::Str(ctx.str_value(a[2])), 0);
            a[2].len()
        }
    };
    drop(l);
    ctx.notify(notify::STRING, "append", a[1]);
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let n = match l.get(db, a[1]) {
        Some(e) => as_str(e)?.len(),
        None => 0,
    };
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn incr_generic(ctx: &mut Ctx, key: &[u8], by: i64, event: &'static str) -> CmdResult {
    let db = ctx.db();
    let mut l = ctx.lock([key]);
    let cur = match l.get_mut(db, key) {
        Some(e) => match as_str(e)? {
            StrValue::Int(i) => *i,
            other => args::parse_i64(&other.to_vec()).ok_or(NOT_INTEGER)?,
        },
        None => 0,
    };
    let new = cur.checked_add(by).ok_or(OVERFLOW)?;
    match l.get_mut(db, key) {
        Some(e) => e.value = Value::Str(StrValue::Int(new)),
        None => l.set(db, key, Value::Str(StrValue::Int(new)), 0),
    }
    drop(l);
    ctx.notify(notify::STRING, event, key);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    incr_generic(ctx, a[1], 1, "incrby")
}

fn decr(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    incr_generic(ctx, a[1], -1, "decrby")
}

fn incrby(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    incr_generic(ctx, a[1], int(a[2])?, "incrby")
}

fn decrby(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let by = int(a[2])?;
    if by == i64::MIN {
        return Err(CmdError::new("ERR decrement would overflow"));
    }
    incr_generic(ctx, a[1], -by, "decrby")
}

/// Redis's longest "embstr" string.
const EMBSTR_MAX: usize = 44;

fn incrbyfloat(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    use crate::longdouble::{format_human, parse, LongDouble};
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    // Like Redis: the type, then the stored value, then the increment; the
    // arithmetic is C long double's (see longdouble.rs).
    let cur = match l.get(db, a[1]) {
        Some(e) => parse(&as_str(e)?.to_vec()).ok_or(crate::error::NOT_FLOAT)?,
        None => LongDouble::Zero { neg: false },
    };
    let by = parse(a[2]).ok_or(crate::error::NOT_FLOAT)?;
    let new = cur
        .add(by)
        .filter(LongDouble::is_finite)
        .ok_or_else(|| CmdError::new("ERR increment would produce NaN or Infinity"))?;
    let text = format_human(new);
    // The result is stored as a string (never int-encoded), as Redis does.
    let value = Value::Str(if text.len() <= EMBSTR_MAX {
        StrValue::Emb(keyspace::CompactBytes::new(text.as_bytes()))
    } else {
        StrValue::Raw(Box::new(text.clone().into_bytes()))
    });
    match l.get_mut(db, a[1]) {
        Some(e) => e.value = value,
        None => l.set(db, a[1], value, 0),
    }
    drop(l);
    // The result, not the increment: float arithmetic need not replay alike.
    ctx.propagate(&[b"SET", a[1], text.as_bytes(), b"KEEPTTL"]);
    ctx.notify(notify::STRING, "incrbyfloat", a[1]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

fn getrange(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (start, end) = (int(a[2])?, int(a[3])?);
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let mut buf = itoa_buf::Buf::default();
    // The range is written from the stored value: a few bytes of a huge
    // string cost a few bytes, not a copy of the string.
    let v: &[u8] = match l.get(db, a[1]) {
        Some(e) => as_str(e)?.bytes(&mut buf),
        None => b"",
    };
    ctx.out.bulk(string_range(v, start, end));
    Ok(())
}

/// The bytes of `v` from `start` to `end` inclusive, negative offsets from
/// the end, clamped as Redis's GETRANGE clamps them.
fn string_range(v: &[u8], mut start: i64, mut end: i64) -> &[u8] {
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return b"";
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        b""
    } else {
        &v[start as usize..=end as usize]
    }
}

fn setrange(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let offset = int(a[2])?;
    if offset < 0 {
        return Err(CmdError::new("ERR offset is out of range"));
    }
    let val = a[3];
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let len = match l.get_mut(db, a[1]) {
        Some(e) => {
            let s = as_str_mut(e)?;
            if val.is_empty() {
                s.len()
            } else {
                check_len(ctx, offset as u64 + val.len() as u64)?;
                let raw = s.make_raw();
                let end = offset as usize + val.len();
                if raw.len() < end {
                    raw.resize(end, 0);
                }
                raw[offset as usize..end].copy_from_slice(val);
                raw.len()
            }
        }
        None => {
            if val.is_empty() {
                0
            } else {
                check_len(ctx, offset as u64 + val.len() as u64)?;
                let mut raw = vec![0u8; offset as usize + val.len()];
                raw[offset as usize..].copy_from_slice(val);
                let n = raw.len();
                l.set(db, a[1], Value::Str(StrValue::Raw(Box::new(raw))), 0);
                n
            }
        }
    };
    drop(l);
    if !val.is_empty() {
        ctx.notify(notify::STRING, "setrange", a[1]);
    }
    ctx.out.int(len as i64);
    Ok(())
}

fn lcs(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let (mut want_len, mut want_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut i = 3;
    while i < a.len() {
        if eq(a[i], "idx") {
            want_idx = true;
        } else if eq(a[i], "len") {
            want_len = true;
        } else if eq(a[i], "withmatchlen") {
            with_match_len = true;
        } else if eq(a[i], "minmatchlen") && i + 1 < a.len() {
            min_match_len = int(a[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    let db = ctx.db();
    let mut l = ctx.lock([a[1], a[2]]);
    let mut read = |k: &[u8]| -> Result<Vec<u8>, CmdError> {
        match l.get(db, k) {
            None => Ok(Vec::new()),
            Some(e) => as_str(e)
                .map(|s| s.to_vec())
                .map_err(|_| CmdError::new("ERR The specified keys must contain string values")),
        }
    };
    let x = read(a[1])?;
    let y = read(a[2])?;
    drop(l);
    if want_len && want_idx {
        return Err(CmdError::new(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let cells = (x.len() as u64 + 1) * (y.len() as u64 + 1);
    if cells.saturating_mul(4)
        > ctx
            .server
            .config
            .hot
            .proto_max_bulk_len
            .load(std::sync::atomic::Ordering::Relaxed) as u64
    {
        return Err(CmdError::new(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // Dynamic programming table as Redis builds it: dp[i][j] = LCS of x[..i], y[..j].
    let w = y.len() + 1;
    let mut dp = vec![0u32; (x.len() + 1) * w];
    for i in 1..=x.len() {
        for j in 1..=y.len() {
            dp[i * w + j] = if x[i - 1] == y[j - 1] {
                dp[(i - 1) * w + (j - 1)] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[x.len() * w + y.len()] as usize;
    // Walk back collecting the LCS string and the matching ranges, exactly as Redis does.
    let mut result = vec![0u8; total];
    let mut idx = total;
    // (range in the first string, range in the second, length) per match.
    type Match = ((usize, usize), (usize, usize), usize);
    let mut matches: Vec<Match> = Vec::new();
    let (alen, mut i, mut j) = (x.len(), x.len(), y.len());
    let (mut ar_start, mut ar_end, mut br_start, mut br_end) = (alen, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if x[i - 1] == y[j - 1] {
            result[idx - 1] = x[i - 1];
            if ar_start == alen {
                (ar_start, ar_end, br_start, br_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if ar_start == i && br_start == j {
                ar_start -= 1;
                br_start -= 1;
            } else {
                emit = true;
            }
            if ar_start == 0 || br_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if ar_start != alen {
                emit = true;
            }
        }
        let match_len = ar_end.wrapping_sub(ar_start).wrapping_add(1);
        if emit {
            if min_match_len == 0 || match_len as i64 >= min_match_len {
                matches.push(((ar_start, ar_end), (br_start, br_end), match_len));
            }
            ar_start = alen;
        }
    }
    if want_idx {
        ctx.out.map(2);
        ctx.out.bulk_str("matches");
        ctx.out.array(matches.len());
        for (ar, br, len) in &matches {
            ctx.out.array(if with_match_len { 3 } else { 2 });
            ctx.out.array(2);
            ctx.out.int(ar.0 as i64);
            ctx.out.int(ar.1 as i64);
            ctx.out.array(2);
            ctx.out.int(br.0 as i64);
            ctx.out.int(br.1 as i64);
            if with_match_len {
                ctx.out.int(*len as i64);
            }
        }
        ctx.out.bulk_str("len");
        ctx.out.int(total as i64);
    } else if want_len {
        ctx.out.int(total as i64);
    } else {
        ctx.out.bulk(&result);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::run;

    #[test]
    fn set_get_options() {
        let s = crate::test_support::server();
        assert_eq!(run(&s, &["SET", "k", "v"]), "+OK\r\n");
        assert_eq!(run(&s, &["GET", "k"]), "$1\r\nv\r\n");
        assert_eq!(run(&s, &["SET", "k", "w", "NX"]), "$-1\r\n");
        assert_eq!(run(&s, &["SET", "k", "w", "XX", "GET"]), "$1\r\nv\r\n");
        assert_eq!(
            run(&s, &["SET", "k", "w", "NX", "XX"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["SET", "k", "w", "EX", "0"]),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            run(&s, &["SET", "k", "w", "EX", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&s, &["SET", "k", "w", "EX", "10", "PX", "5"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&s, &["SET", "k", "w", "EX", "10", "KEEPTTL"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(run(&s, &["GET", "missing"]), "$-1\r\n");
    }

    #[test]
    fn counters() {
        let s = crate::test_support::server();
        assert_eq!(run(&s, &["INCR", "n"]), ":1\r\n");
        assert_eq!(run(&s, &["INCRBY", "n", "41"]), ":42\r\n");
        assert_eq!(run(&s, &["DECRBY", "n", "2"]), ":40\r\n");
        assert_eq!(run(&s, &["SET", "n", "9223372036854775807"]), "+OK\r\n");
        assert_eq!(
            run(&s, &["INCR", "n"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(run(&s, &["SET", "f", "10.5"]), "+OK\r\n");
        assert_eq!(run(&s, &["INCRBYFLOAT", "f", "0.1"]), "$4\r\n10.6\r\n");
        // Redis computes in x87 long double: 10.6 + 5000 is not exactly 5010.6.
        assert_eq!(
            run(&s, &["INCRBYFLOAT", "f", "5.0e3"]),
            "$22\r\n5010.60000000000000009\r\n"
        );
        assert_eq!(run(&s, &["SET", "s", " 1"]), "+OK\r\n");
        assert_eq!(
            run(&s, &["INCR", "s"]),
            "-ERR value is not an integer or out of range\r\n"
        );
    }

    #[test]
    fn ranges_and_append() {
        let s = crate::test_support::server();
        assert_eq!(run(&s, &["APPEND", "a", "Hello"]), ":5\r\n");
        assert_eq!(run(&s, &["APPEND", "a", " World"]), ":11\r\n");
        assert_eq!(run(&s, &["GETRANGE", "a", "0", "4"]), "$5\r\nHello\r\n");
        assert_eq!(run(&s, &["GETRANGE", "a", "-5", "-1"]), "$5\r\nWorld\r\n");
        assert_eq!(run(&s, &["GETRANGE", "a", "5", "3"]), "$0\r\n\r\n");
        assert_eq!(run(&s, &["SETRANGE", "b", "3", "x"]), ":4\r\n");
        assert_eq!(run(&s, &["GET", "b"]), "$4\r\n\0\0\0x\r\n");
        assert_eq!(run(&s, &["STRLEN", "a"]), ":11\r\n");
    }

    #[test]
    fn lcs_matches_redis() {
        let s = crate::test_support::server();
        run(&s, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
        assert_eq!(run(&s, &["LCS", "key1", "key2"]), "$6\r\nmytext\r\n");
        assert_eq!(run(&s, &["LCS", "key1", "key2", "LEN"]), ":6\r\n");
        assert_eq!(
            run(&s, &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            run(&s, &["LCS", "key1", "key2", "IDX"]),
            "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"
        );
    }
}
