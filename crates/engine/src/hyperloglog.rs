//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFSELFTEST and PFDEBUG.
//! The values are plain strings in Redis's exact HLL format (see
//! `types::hll`), so GET/SET/DUMP/RESTORE carry them between Ferrocache and
//! Redis; this module validates them as Redis's isHLLObjectOrReply does and
//! updates them in place (a dense PFADD touches two bytes of the string).

use keyspace::{itoa_buf, Entry, Locked, StrValue, Value};
use types::hll;

use crate::error::{CmdError, CmdResult};
use crate::notify;
use crate::string::{as_str, as_str_mut};
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("pfadd", pfadd),
    ("pfcount", pfcount),
    ("pfmerge", pfmerge),
    ("pfselftest", pfselftest),
    ("pfdebug", pfdebug),
];

/// A string that is not a HyperLogLog (bad magic, encoding or length).
const NOT_HLL: CmdError = CmdError::fixed("WRONGTYPE Key is not a valid HyperLogLog string value.");
/// An HLL header over registers that do not decode.
const CORRUPTED: CmdError = CmdError::fixed("INVALIDOBJ Corrupted HLL object detected");

/// `hll-sparse-max-bytes`: read only when a sparse value may grow.
fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.server
        .config
        .get_i64("hll-sparse-max-bytes")
        .max(0)
        .try_into()
        .unwrap_or(usize::MAX)
}

/// Checks that `e` holds a HyperLogLog (Redis's isHLLObjectOrReply): another
/// type is the usual WRONGTYPE, a string that is no HLL (integer-encoded
/// ones included) the HLL variant. Returns the encoding byte.
fn check_hll(e: &Entry) -> Result<u8, CmdError> {
    let s = as_str(e)?;
    if matches!(s, StrValue::Int(_)) {
        return Err(NOT_HLL);
    }
    let mut buf = itoa_buf::Buf::default();
    hll::check(s.bytes(&mut buf)).ok_or(NOT_HLL)
}

/// The HLL bytes of an entry already checked with [`check_hll`], made raw
/// for in-place updates (Redis's dbUnshareStringValue).
fn hll_mut(e: &mut Entry) -> Result<&mut Vec<u8>, CmdError> {
    Ok(as_str_mut(e)?.make_raw())
}

/// A fresh empty HLL value: sparse, raw-encoded as Redis creates it.
fn new_hll_value() -> Value {
    Value::Str(StrValue::Raw(Box::new(hll::new_sparse())))
}

/// Tells watchers and blocked clients that `key` changed.
fn note_modified(l: &mut Locked, db: usize, key: &[u8]) {
    let _ = l.get_mut(db, key);
}

/// PFADD key [element ...]: 1 if the key was created or a register changed.
fn pfadd(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let key = a[1];
    let mut l = ctx.lock([key]);
    let mut updated = match l.peek(db, key) {
        Some(e) => {
            check_hll(e)?;
            false
        }
        None => {
            l.set(db, key, new_hll_value(), 0);
            true
        }
    };
    let e = l.peek(db, key).ok_or(CORRUPTED)?;
    let s = hll_mut(e)?;
    let mut max_bytes = None;
    for element in &a[2..] {
        let (index, count) = hll::pattern_len(element);
        let limit = if s[4] == hll::SPARSE {
            *max_bytes.get_or_insert_with(|| sparse_max_bytes(ctx))
        } else {
            0
        };
        // A corrupted value stops the command where it is, as in Redis.
        if hll::set_register(s, index, count, limit).map_err(|_| CORRUPTED)? {
            updated = true;
        }
    }
    if updated {
        hll::invalidate_cache(s);
        note_modified(&mut l, db, key);
    }
    drop(l);
    if updated {
        ctx.notify(notify::STRING, "pfadd", key);
    }
    ctx.out.int(updated as i64);
    Ok(())
}

/// PFCOUNT key [key ...]: one key uses (and refreshes) the cached
/// cardinality; several are counted as their union, leaving them untouched.
fn pfcount(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    if a.len() > 2 {
        let keys = &a[1..];
        let mut l = ctx.lock(keys.iter().copied());
        let mut max = Box::new([0u8; hll::REGISTERS]);
        for key in keys {
            let Some(e) = l.get(db, key) else { continue };
            check_hll(e)?;
            let mut buf = itoa_buf::Buf::default();
            let bytes = as_str(e)?.bytes(&mut buf);
            hll::merge_into(&mut max, bytes).map_err(|_| CORRUPTED)?;
        }
        drop(l);
        ctx.out.int(hll::count_raw(&max) as i64);
        return Ok(());
    }
    let key = a[1];
    let mut l = ctx.lock([key]);
    let mut refreshed = false;
    let card = match l.get(db, key) {
        None => 0,
        Some(e) => {
            check_hll(e)?;
            let s = hll_mut(e)?;
            match hll::cached_card(s) {
                Some(card) => card,
                None => {
                    let card = hll::count(s).map_err(|_| CORRUPTED)?;
                    hll::set_cached_card(s, card);
                    refreshed = true;
                    card
                }
            }
        }
    };
    // Refreshing the cache changes the string: watchers must see it.
    if refreshed {
        note_modified(&mut l, db, key);
    }
    drop(l);
    ctx.out.int(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the register-wise maximum of all the
/// keys (the destination included) stored in the destination, dense if any
/// input was dense.
fn pfmerge(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let dest = a[1];
    let keys = &a[1..];
    let mut l = ctx.lock(keys.iter().copied());
    let mut max = Box::new([0u8; hll::REGISTERS]);
    let mut use_dense = false;
    for key in keys {
        let Some(e) = l.get(db, key) else { continue };
        if check_hll(e)? == hll::DENSE {
            use_dense = true;
        }
        let mut buf = itoa_buf::Buf::default();
        let bytes = as_str(e)?.bytes(&mut buf);
        hll::merge_into(&mut max, bytes).map_err(|_| CORRUPTED)?;
    }
    if l.peek(db, dest).is_none() {
        l.set(db, dest, new_hll_value(), 0);
    }
    let max_bytes = sparse_max_bytes(ctx);
    let e = l.peek(db, dest).ok_or(CORRUPTED)?;
    let s = hll_mut(e)?;
    if use_dense {
        hll::to_dense(s).map_err(|_| CORRUPTED)?;
    }
    for (index, &count) in max.iter().enumerate() {
        if count != 0 {
            // The destination was validated as a source: this cannot fail,
            // and Redis ignores the result here too.
            let _ = hll::set_register(s, index, count, max_bytes);
        }
    }
    hll::invalidate_cache(s);
    note_modified(&mut l, db, dest);
    drop(l);
    // Redis reports a merge as a "pfadd" (a mass add of elements).
    ctx.notify(notify::STRING, "pfadd", dest);
    ctx.out.ok();
    Ok(())
}

/// PFSELFTEST: checks register packing and the estimator's error bounds.
fn pfselftest(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    match hll::selftest(rand::random(), max_bytes) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(msg) => Err(CmdError::new(msg)),
    }
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
fn pfdebug(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let (sub, key) = (a[1], a[2]);
    let mut l = ctx.lock([key]);
    let e = l
        .peek(db, key)
        .ok_or_else(|| CmdError::new("ERR The specified key does not exist"))?;
    check_hll(e)?;
    let s = hll_mut(e)?;
    let sub_lower = sub.to_ascii_lowercase();
    match sub_lower.as_slice() {
        b"getreg" => {
            hll::to_dense(s).map_err(|_| CORRUPTED)?;
            let regs = hll::dense_registers(s);
            drop(l);
            ctx.out.array(regs.len());
            for r in regs {
                ctx.out.int(r as i64);
            }
        }
        b"decode" => {
            if s[4] != hll::SPARSE {
                return Err(CmdError::new("ERR HLL encoding is not sparse"));
            }
            let text = hll::decode_sparse(s);
            drop(l);
            ctx.out.bulk(text.as_bytes());
        }
        b"encoding" => {
            let name = if s[4] == hll::DENSE {
                "dense"
            } else {
                "sparse"
            };
            drop(l);
            ctx.out.simple(name);
        }
        b"todense" => {
            let converted = hll::to_dense(s).map_err(|_| CORRUPTED)?;
            drop(l);
            ctx.out.int(converted as i64);
        }
        _ => {
            return Err(CmdError::quoting(
                "ERR Unknown PFDEBUG subcommand '{}'",
                &[sub],
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, server};

    #[test]
    fn pfadd_pfcount_and_the_cache() {
        let s = server();
        assert_eq!(run(&s, &["PFADD", "h"]), ":1\r\n");
        assert_eq!(run(&s, &["PFADD", "h"]), ":0\r\n");
        assert_eq!(run(&s, &["OBJECT", "ENCODING", "h"]), "$3\r\nraw\r\n");
        assert_eq!(run(&s, &["PFADD", "h", "a", "b", "c"]), ":1\r\n");
        assert_eq!(run(&s, &["PFADD", "h", "a", "b", "c"]), ":0\r\n");
        // The cache byte: invalid after a change (0x80, shown lossily by
        // `run`), valid after a count.
        assert_eq!(
            run(&s, &["GETRANGE", "h", "15", "15"]),
            "$1\r\n\u{fffd}\r\n"
        );
        assert_eq!(run(&s, &["PFCOUNT", "h"]), ":3\r\n");
        assert_eq!(run(&s, &["GETRANGE", "h", "8", "8"]), "$1\r\n\x03\r\n");
        assert_eq!(run(&s, &["PFCOUNT", "nokey"]), ":0\r\n");
        assert_eq!(
            run(&s, &["PFDEBUG", "DECODE", "h"]),
            "$44\r\nZ:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603\r\n"
        );
        assert_eq!(run(&s, &["PFDEBUG", "TODENSE", "h"]), ":1\r\n");
        assert_eq!(run(&s, &["STRLEN", "h"]), ":12304\r\n");
        assert_eq!(run(&s, &["PFCOUNT", "h"]), ":3\r\n");
    }

    #[test]
    fn merge_and_union() {
        let s = server();
        run(&s, &["PFADD", "a", "x", "y"]);
        run(&s, &["PFADD", "b", "y", "z"]);
        assert_eq!(run(&s, &["PFCOUNT", "a", "b", "none"]), ":3\r\n");
        assert_eq!(run(&s, &["PFMERGE", "d", "a", "b"]), "+OK\r\n");
        assert_eq!(run(&s, &["PFCOUNT", "d"]), ":3\r\n");
        assert_eq!(run(&s, &["PFDEBUG", "ENCODING", "d"]), "+sparse\r\n");
        run(&s, &["PFDEBUG", "TODENSE", "b"]);
        assert_eq!(run(&s, &["PFMERGE", "a", "b"]), "+OK\r\n");
        assert_eq!(run(&s, &["PFDEBUG", "ENCODING", "a"]), "+dense\r\n");
        assert_eq!(run(&s, &["PFCOUNT", "a"]), ":3\r\n");
    }

    #[test]
    fn errors() {
        let s = server();
        let not_hll = "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n";
        run(&s, &["SET", "str", "hello"]);
        run(&s, &["SET", "int", "42"]);
        run(&s, &["RPUSH", "list", "a"]);
        assert_eq!(run(&s, &["PFADD", "str", "a"]), not_hll);
        assert_eq!(run(&s, &["PFCOUNT", "int"]), not_hll);
        assert_eq!(run(&s, &["PFMERGE", "d", "str"]), not_hll);
        assert!(run(&s, &["PFADD", "list", "a"]).starts_with("-WRONGTYPE Operation"));
        run(&s, &["PFADD", "h", "a"]);
        run(&s, &["APPEND", "h", "\u{7f}"]);
        let corrupted = "-INVALIDOBJ Corrupted HLL object detected\r\n";
        assert_eq!(run(&s, &["PFCOUNT", "h"]), corrupted);
        assert_eq!(run(&s, &["PFCOUNT", "h", "h"]), corrupted);
        assert_eq!(run(&s, &["PFDEBUG", "GETREG", "h"]), corrupted);
        assert_eq!(
            run(&s, &["PFDEBUG", "GETREG", "none"]),
            "-ERR The specified key does not exist\r\n"
        );
        assert_eq!(run(&s, &["PFDEBUG", "what", "str"]), not_hll);
        run(&s, &["PFADD", "ok"]);
        assert_eq!(
            run(&s, &["PFDEBUG", "what", "ok"]),
            "-ERR Unknown PFDEBUG subcommand 'what'\r\n"
        );
    }
}
