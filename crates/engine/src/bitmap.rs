//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITOP, BITFIELD and BITFIELD_RO. Argument parsing, key handling and
//! replies live here; the bit arithmetic is in `bitfield.rs`.
//!
//! Integer-encoded strings are read as their decimal text, as Redis does.

use keyspace::{itoa_buf, Locked, StrValue, Value};

use crate::args::{self, eq};
use crate::bitfield::{self, BitOp, Overflow};
use crate::error::{CmdError, CmdResult, SYNTAX, WRONGTYPE};
use crate::notify;
use crate::string::{as_str, as_str_mut};
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("setbit", setbit),
    ("getbit", getbit),
    ("bitcount", bitcount),
    ("bitpos", bitpos),
    ("bitop", bitop),
    ("bitfield", bitfield),
    ("bitfield_ro", bitfield_ro),
];

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset argument, bounded like Redis: the byte it lands in must be
/// below `proto-max-bulk-len`. With `field_bits` (BITFIELD) a `#N` offset
/// means the N-th field of that width.
fn bit_offset(ctx: &Ctx, arg: &[u8], field_bits: Option<u32>) -> Result<u64, CmdError> {
    let err = || CmdError::new(BAD_OFFSET);
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let v = args::parse_i64(digits)
        .and_then(|v| v.checked_mul(scale))
        .ok_or_else(err)?;
    let max = ctx
        .server
        .config
        .hot
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed) as u64;
    if v < 0 || (v as u64 >> 3) >= max {
        return Err(err());
    }
    Ok(v as u64)
}

fn setbit(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, a[2], None)?;
    let on = match a[3] {
        b"1" => true,
        b"0" => false,
        _ => return Err(CmdError::new("ERR bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let (raw, grown) = writable_string(&mut l, db, a[1], byte + 1)?;
    let old = raw[byte] & mask != 0;
    let changed = grown || old != on;
    if on {
        raw[byte] |= mask;
    } else {
        raw[byte] &= !mask;
    }
    if changed {
        note_modified(&mut l, db, a[1]);
    }
    drop(l);
    if changed {
        ctx.notify(notify::STRING, "setbit", a[1]);
    }
    ctx.out.int(old as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, a[2], None)?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let bit = match l.get(db, a[1]) {
        None => false,
        Some(e) => {
            let s = as_str(e)?;
            let mut buf = itoa_buf::Buf::default();
            let bytes = s.bytes(&mut buf);
            let byte = (offset >> 3) as usize;
            bytes
                .get(byte)
                .is_some_and(|b| b & (1u8 << (7 - (offset & 7))) != 0)
        }
    };
    drop(l);
    ctx.out.int(bit as i64);
    Ok(())
}

/// The string at `key` made raw and at least `len` bytes long (zero
/// padded), created if missing, as Redis's lookupStringForBitCommand; also
/// whether it was created or grown. The lookup notes no write: callers
/// that change the value call [`note_modified`], as Redis signals a
/// modified key only when a bit actually changed.
fn writable_string<'l>(
    l: &'l mut Locked,
    db: usize,
    key: &[u8],
    len: usize,
) -> Result<(&'l mut Vec<u8>, bool), CmdError> {
    let exists = match l.peek(db, key) {
        Some(e) => {
            as_str(e)?;
            true
        }
        None => false,
    };
    if !exists {
        l.set(
            db,
            key,
            Value::Str(StrValue::Raw(Box::new(vec![0; len]))),
            0,
        );
    }
    let e = l.peek(db, key).ok_or(WRONGTYPE)?;
    let raw = as_str_mut(e)?.make_raw();
    let grown = raw.len() < len;
    if grown {
        raw.resize(len, 0);
    }
    Ok((raw, grown || !exists))
}

/// Tells watchers and blocked clients that `key` changed.
fn note_modified(l: &mut Locked, db: usize, key: &[u8]) {
    let _ = l.get_mut(db, key);
}

/// A BIT|BYTE unit argument: true for BIT.
fn bit_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if eq(arg, "bit") {
        Ok(true)
    } else if eq(arg, "byte") {
        Ok(false)
    } else {
        Err(SYNTAX)
    }
}

/// The first and last bit of a BITCOUNT/BITPOS range over a string of
/// `len` bytes, or None when the range is empty.
fn bit_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let (s, e) = bitfield::resolve_range(start, end, total)?;
    Some(if in_bits { (s, e) } else { (s * 8, e * 8 + 7) })
}

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Redis 7.2 checks the arguments before looking at the key.
    let range = match a.len() {
        2 => None,
        4 | 5 => {
            let start = args::int(a[2])?;
            let end = args::int(a[3])?;
            let in_bits = match a.get(4) {
                Some(unit) => bit_unit(unit)?,
                None => false,
            };
            Some((start, end, in_bits))
        }
        _ => return Err(SYNTAX),
    };
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let count = match l.get(db, a[1]) {
        None => 0,
        Some(e) => {
            let mut buf = itoa_buf::Buf::default();
            let bytes = as_str(e)?.bytes(&mut buf);
            match range {
                None => bitfield::popcount(bytes),
                // Both ends negative and crossed: empty, even where both
                // would clamp to the first byte.
                Some((start, end, _)) if start < 0 && end < 0 && start > end => 0,
                Some((start, end, in_bits)) => match bit_range(bytes.len(), start, end, in_bits) {
                    Some((first, last)) => bitfield::count_bits(bytes, first, last),
                    None => 0,
                },
            }
        }
    };
    drop(l);
    ctx.out.int(count as i64);
    Ok(())
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let bit = match args::int(a[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::new("ERR The bit argument must be 1 or 0.")),
    };
    if a.len() > 6 {
        return Err(SYNTAX);
    }
    let start = a.get(3).map(|s| args::int(s)).transpose()?.unwrap_or(0);
    let in_bits = match a.get(5) {
        Some(unit) => bit_unit(unit)?,
        None => false,
    };
    let end = a.get(4).map(|s| args::int(s)).transpose()?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let pos = match l.get(db, a[1]) {
        // A missing key is an endless run of zeros.
        None => {
            if bit {
                -1
            } else {
                0
            }
        }
        Some(e) => {
            let mut buf = itoa_buf::Buf::default();
            let bytes = as_str(e)?.bytes(&mut buf);
            match bit_range(bytes.len(), start, end.unwrap_or(-1), in_bits) {
                None => -1,
                Some((first, last)) => match bitfield::find_bit(bytes, bit, first, last) {
                    Some(p) => p as i64,
                    // Without an explicit end the string counts as padded
                    // with zeros on the right.
                    None if !bit && end.is_none() => last as i64 + 1,
                    None => -1,
                },
            }
        }
    };
    drop(l);
    ctx.out.int(pos);
    Ok(())
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
fn bitop(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let op = if eq(a[1], "and") {
        BitOp::And
    } else if eq(a[1], "or") {
        BitOp::Or
    } else if eq(a[1], "xor") {
        BitOp::Xor
    } else if eq(a[1], "not") {
        BitOp::Not
    } else {
        return Err(SYNTAX);
    };
    if op == BitOp::Not && a.len() != 4 {
        return Err(CmdError::new(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let (dst, keys) = (a[2], &a[3..]);
    let db = ctx.db();
    let mut l = ctx.lock(a[2..].iter().copied());
    // Every source is looked up (and type checked) in order first, so the
    // first wrong-typed one fails the command before anything moves.
    for k in keys {
        if let Some(e) = l.get(db, k) {
            as_str(e)?;
        }
    }
    let result = with_strings(&mut l, db, keys, |srcs| bitfield::bitop(op, srcs));
    let len = result.len();
    if len > 0 {
        l.set(db, dst, Value::Str(StrValue::Raw(Box::new(result))), 0);
        notify::emit(notify::STRING, "set", db, dst);
    } else if l.remove(db, dst).is_some() {
        notify::emit(notify::GENERIC, "del", db, dst);
    }
    drop(l);
    ctx.out.int(len as i64);
    Ok(())
}

/// Runs `f` on the bytes of the string values at `keys` (empty for a
/// missing key), all already checked to be strings. The values are moved
/// out of their entries for the duration (an O(1) swap under the shard
/// locks, so nobody sees the stand-in) and put back afterwards, so large
/// bitmaps are read in place; a key given twice is taken once.
fn with_strings<R>(l: &mut Locked, db: usize, keys: &[&[u8]], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    let mut taken: Vec<(&[u8], StrValue)> = Vec::new();
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(keys.len());
    for &k in keys {
        if let Some(i) = taken.iter().position(|(t, _)| *t == k) {
            slots.push(Some(i));
            continue;
        }
        match l.peek(db, k).map(|e| &mut e.value) {
            Some(Value::Str(s)) => {
                taken.push((k, std::mem::replace(s, StrValue::Int(0))));
                slots.push(Some(taken.len() - 1));
            }
            _ => slots.push(None),
        }
    }
    let mut bufs: Vec<itoa_buf::Buf> = taken.iter().map(|_| itoa_buf::Buf::default()).collect();
    let texts: Vec<&[u8]> = taken
        .iter()
        .zip(bufs.iter_mut())
        .map(|((_, v), buf)| v.bytes(buf))
        .collect();
    let srcs: Vec<&[u8]> = slots
        .iter()
        .map(|s| s.map_or(&[][..], |i| texts[i]))
        .collect();
    let result = f(&srcs);
    drop(srcs);
    drop(texts);
    for (k, v) in taken {
        if let Some(Value::Str(s)) = l.peek(db, k).map(|e| &mut e.value) {
            *s = v;
        }
    }
    result
}

/// One BITFIELD subcommand, parsed.
#[derive(Clone, Copy, Debug)]
struct FieldOp {
    kind: FieldOpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    /// The SET value or INCRBY increment.
    value: i64,
    overflow: Overflow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOpKind {
    Get,
    Set,
    IncrBy,
}

/// A BITFIELD type: i1..i64 or u1..u63, as (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || {
        CmdError::new(
            "ERR Invalid bitfield type. Use something like i16 u8. \
             Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = args::parse_i64(&arg[1..]).ok_or_else(err)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

/// Parses the subcommands of BITFIELD; also returns the last bit a write
/// reaches, if any subcommand writes.
fn parse_field_ops(ctx: &Ctx, a: &[&[u8]]) -> Result<(Vec<FieldOp>, Option<u64>), CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < a.len() {
        let remaining = a.len() - j - 1;
        let sub = a[j];
        let kind = if eq(sub, "get") && remaining >= 2 {
            FieldOpKind::Get
        } else if eq(sub, "set") && remaining >= 3 {
            FieldOpKind::Set
        } else if eq(sub, "incrby") && remaining >= 3 {
            FieldOpKind::IncrBy
        } else if eq(sub, "overflow") && remaining >= 1 {
            let kind = a[j + 1];
            overflow = if eq(kind, "wrap") {
                Overflow::Wrap
            } else if eq(kind, "sat") {
                Overflow::Sat
            } else if eq(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::new("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(SYNTAX);
        };
        let (signed, bits) = field_type(a[j + 1])?;
        let offset = bit_offset(ctx, a[j + 2], Some(bits))?;
        let mut value = 0;
        if kind != FieldOpKind::Get {
            let last = offset + bits as u64 - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
            value = args::int(a[j + 3])?;
        }
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }
    Ok((ops, highest_write))
}

/// Runs one write subcommand on `bytes` (long enough for it): the reply
/// (None after an OVERFLOW FAIL, which writes nothing) and whether the
/// field's value changed.
fn run_field_write(bytes: &mut [u8], op: &FieldOp) -> (Option<i64>, bool) {
    let FieldOp {
        offset,
        bits,
        value,
        overflow,
        ..
    } = *op;
    let incr = op.kind == FieldOpKind::IncrBy;
    let (reply, new, overflowed, old) = if op.signed {
        let old = bitfield::get_signed(bytes, offset, bits);
        let (new, overflowed) = if incr {
            bitfield::add_signed(old, value, bits, overflow)
        } else {
            bitfield::add_signed(value, 0, bits, overflow)
        };
        (
            if incr { new } else { old },
            new as u64,
            overflowed,
            old as u64,
        )
    } else {
        let old = bitfield::get_unsigned(bytes, offset, bits);
        let (new, overflowed) = if incr {
            bitfield::add_unsigned(old, value, bits, overflow)
        } else {
            bitfield::add_unsigned(value as u64, 0, bits, overflow)
        };
        (if incr { new } else { old } as i64, new, overflowed, old)
    };
    if overflowed && overflow == Overflow::Fail {
        return (None, false);
    }
    bitfield::set_bits(bytes, offset, bits, new);
    (Some(reply), new != old)
}

fn read_field(bytes: &[u8], op: &FieldOp) -> i64 {
    if op.signed {
        bitfield::get_signed(bytes, op.offset, op.bits)
    } else {
        bitfield::get_unsigned(bytes, op.offset, op.bits) as i64
    }
}

/// BITFIELD key [GET type offset | SET type offset value |
/// INCRBY type offset increment | OVERFLOW WRAP|SAT|FAIL ...]
fn bitfield(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, a, false)
}

/// BITFIELD_RO key [GET type offset ...]
fn bitfield_ro(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, a, true)
}

fn bitfield_generic(ctx: &mut Ctx, a: &[&[u8]], read_only: bool) -> CmdResult {
    let (ops, highest_write) = parse_field_ops(ctx, a)?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    let mut changed = false;
    match highest_write {
        None => {
            let mut buf = itoa_buf::Buf::default();
            let bytes = match l.get(db, a[1]) {
                Some(e) => as_str(e)?.bytes(&mut buf),
                None => &[],
            };
            replies.extend(ops.iter().map(|op| Some(read_field(bytes, op))));
        }
        Some(_) if read_only => {
            return Err(CmdError::new(
                "ERR BITFIELD_RO only supports the GET subcommand",
            ))
        }
        Some(last_bit) => {
            // Like Redis, the key is created (or padded) up to the farthest
            // write even if every write then fails on OVERFLOW FAIL.
            let (bytes, grown) = writable_string(&mut l, db, a[1], (last_bit >> 3) as usize + 1)?;
            for op in &ops {
                let reply = if op.kind == FieldOpKind::Get {
                    Some(read_field(bytes, op))
                } else {
                    let (reply, wrote_new) = run_field_write(bytes, op);
                    changed |= wrote_new || (grown && reply.is_some());
                    reply
                };
                replies.push(reply);
            }
            if changed {
                note_modified(&mut l, db, a[1]);
            }
        }
    }
    drop(l);
    if changed {
        ctx.notify(notify::STRING, "setbit", a[1]);
    }
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, server};

    #[test]
    fn setbit_getbit() {
        let s = server();
        assert_eq!(run(&s, &["SETBIT", "k", "7", "1"]), ":0\r\n");
        assert_eq!(run(&s, &["GET", "k"]), "$1\r\n\x01\r\n");
        assert_eq!(run(&s, &["SETBIT", "k", "7", "0"]), ":1\r\n");
        assert_eq!(run(&s, &["GETBIT", "k", "100"]), ":0\r\n");
        assert_eq!(
            run(&s, &["SETBIT", "k", "-1", "1"]),
            "-ERR bit offset is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&s, &["SETBIT", "k", "4294967296", "1"]),
            "-ERR bit offset is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&s, &["SETBIT", "k", "0", "2"]),
            "-ERR bit is not an integer or out of range\r\n"
        );
        run(&s, &["SET", "n", "1"]);
        assert_eq!(run(&s, &["SETBIT", "n", "6", "1"]), ":0\r\n");
        assert_eq!(run(&s, &["GET", "n"]), "$1\r\n3\r\n");
    }
}
