//! Bitmap commands on string values: SETBIT, GETBIT (the rest of the bitmap
//! family — BITCOUNT, BITPOS, BITOP, BITFIELD — arrives with its issue).

use keyspace::{StrValue, Value};

use crate::error::{CmdError, CmdResult};
use crate::string::{as_str, as_str_mut};
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[("setbit", setbit), ("getbit", getbit)];

/// A bit offset argument, bounded like Redis: the byte it lands in must be
/// below `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx, arg: &[u8]) -> Result<u64, CmdError> {
    let err = || CmdError::new("ERR bit offset is not an integer or out of range");
    let v = crate::args::parse_i64(arg).ok_or_else(err)?;
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
    let offset = bit_offset(ctx, a[2])?;
    let on = match a[3] {
        b"1" => true,
        b"0" => false,
        _ => return Err(CmdError::new("ERR bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let old = match l.get_mut(db, a[1]) {
        Some(e) => {
            let raw = as_str_mut(e)?.make_raw();
            if raw.len() <= byte {
                raw.resize(byte + 1, 0);
            }
            let old = raw[byte] & mask != 0;
            if on {
                raw[byte] |= mask;
            } else {
                raw[byte] &= !mask;
            }
            old
        }
        None => {
            let mut raw = vec![0u8; byte + 1];
            if on {
                raw[byte] |= mask;
            }
            l.set(db, a[1], Value::Str(StrValue::Raw(Box::new(raw))), 0);
            false
        }
    };
    drop(l);
    ctx.notify(crate::notify::STRING, "setbit", a[1]);
    ctx.out.int(old as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, a[2])?;
    let db = ctx.db();
    let mut l = ctx.lock([a[1]]);
    let bit = match l.get(db, a[1]) {
        None => false,
        Some(e) => {
            let s = as_str(e)?;
            let mut buf = keyspace::itoa_buf::Buf::default();
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
