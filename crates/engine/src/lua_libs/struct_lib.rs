//! `struct`: binary packing with the format language of lua-struct (Roberto
//! Ierusalimschy's library, as Redis bundles it): `>` `<` `!n` endianness
//! and alignment, `b B h H l L T i[n] I[n]` integers (up to 32 bytes),
//! `f d` floats, `c[n] s` strings, `x` padding, spaces ignored. Sizes are
//! those of x86-64 Linux, where Redis is built: long and size_t are 8 bytes.

use mlua::{Lua, MultiValue, Table, Value};

use super::{c_trunc_i64, one, set_fn, Args, LibError, LibResult, MAX_C_STACK, TWO63};

/// Largest integer size in bytes.
const MAX_INT_SIZE: i64 = 32;
/// Default alignment for `!` (a double's).
const MAX_ALIGN: i64 = 8;

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    set_fn(lua, &t, "pack", pack)?;
    set_fn(lua, &t, "unpack", unpack)?;
    set_fn(lua, &t, "size", size)?;
    Ok(t)
}

/// Byte order and maximum alignment in force.
struct Header {
    big: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        // Native order (little endian) and no alignment.
        Header {
            big: false,
            align: 1,
        }
    }
}

/// The format (argument 1) as C sees it: up to its first NUL.
fn format(lua: &Lua, a: &Args) -> LibResult<Vec<u8>> {
    let s = a.check_string(lua, 1)?;
    let bytes = s.as_bytes();
    let end = memchr::memchr(0, &bytes).unwrap_or(bytes.len());
    Ok(bytes[..end].to_vec())
}

/// The number at `fmt[*i..]`, or `default` when there is none.
fn getnum(fmt: &[u8], i: &mut usize, default: i64) -> LibResult<i64> {
    if !fmt.get(*i).is_some_and(u8::is_ascii_digit) {
        return Ok(default);
    }
    let mut a: i64 = 0;
    while let Some(&c) = fmt.get(*i).filter(|c| c.is_ascii_digit()) {
        let d = (c - b'0') as i64;
        if a > i32::MAX as i64 / 10 || a * 10 > i32::MAX as i64 - d {
            return Err(LibError::Msg("integral size overflow".into()));
        }
        a = a * 10 + d;
        *i += 1;
    }
    Ok(a)
}

/// The size of option `opt` (reading its count from the format).
fn optsize(opt: u8, fmt: &[u8], i: &mut usize) -> LibResult<usize> {
    Ok(match opt {
        b'B' | b'b' | b'x' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'c' => getnum(fmt, i, 1)? as usize,
        b'i' | b'I' => {
            let sz = getnum(fmt, i, 4)?;
            if sz > MAX_INT_SIZE {
                return Err(LibError::Msg(format!(
                    "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            sz as usize
        }
        _ => 0,
    })
}

/// Padding before an item of `size` at offset `len`.
fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// The options that are not items: order, alignment, spaces.
fn control(opt: u8, fmt: &[u8], i: &mut usize, h: &mut Header) -> LibResult<()> {
    match opt {
        b' ' => {}
        b'>' => h.big = true,
        b'<' => h.big = false,
        b'!' => {
            let a = getnum(fmt, i, MAX_ALIGN)?;
            if !(a > 0 && a & (a - 1) == 0) {
                return Err(LibError::Msg(format!("alignment {a} is not a power of 2")));
            }
            h.align = a as usize;
        }
        _ => {
            return Err(LibError::Arg(
                1,
                format!("invalid format option '{}'", opt as char),
            ))
        }
    }
    Ok(())
}

/// C's `(unsigned long)d` as x86-64 code computes it.
fn c_cast_u64(d: f64) -> u64 {
    if d.is_nan() {
        1 << 63
    } else if d < TWO63 {
        d as i64 as u64
    } else if d - TWO63 < TWO63 {
        ((d - TWO63) as i64 as u64) ^ (1 << 63)
    } else {
        0
    }
}

fn pack(lua: &Lua, a: &Args) -> LibResult<MultiValue> {
    let fmt = format(lua, a)?;
    // lua-struct pushes a nil after the arguments before reading them.
    let a = &a.with_nil();
    let mut h = Header::default();
    let mut arg = 2;
    let mut total = 0usize;
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(opt, &fmt, &mut i)?;
        let pad = gettoalign(total, &h, opt, size);
        total += pad;
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = a.check_number(lua, arg)?;
                arg += 1;
                let mut v = if n < 0.0 {
                    c_trunc_i64(n) as u64
                } else {
                    c_cast_u64(n)
                };
                let mut bytes = vec![0u8; size];
                for b in bytes.iter_mut() {
                    *b = (v & 0xff) as u8;
                    v >>= 8;
                }
                if h.big {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = a.check_number(lua, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.big {
                    f.to_be_bytes()
                } else {
                    f.to_le_bytes()
                });
            }
            b'd' => {
                let d = a.check_number(lua, arg)?;
                arg += 1;
                out.extend_from_slice(&if h.big {
                    d.to_be_bytes()
                } else {
                    d.to_le_bytes()
                });
            }
            b'c' | b's' => {
                let s = a.check_string(lua, arg)?;
                let s = s.as_bytes();
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The C code names the argument after the string.
                    return Err(LibError::Arg(arg as i32, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => control(opt, &fmt, &mut i, &mut h)?,
        }
        total += size;
    }
    one(Value::String(lua.create_string(&out)?))
}

/// An integer of `bytes` (already in the right order handling below).
fn getinteger(bytes: &[u8], big: bool, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut add = |b: u8| l = (l << 8) | b as u64;
    if big {
        bytes.iter().for_each(|&b| add(b));
    } else {
        bytes.iter().rev().for_each(|&b| add(b));
    }
    if !signed {
        return l as f64;
    }
    // C shifts by size*8-1 (mod 64 on x86-64, as wrapping_shl does).
    let shift = (bytes.len() as i64 * 8 - 1) as u32;
    let mask = u64::MAX.wrapping_shl(shift);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, a: &Args) -> LibResult<MultiValue> {
    let fmt = format(lua, a)?;
    let data = a.check_string(lua, 2)?;
    let data = data.as_bytes();
    let ld = data.len();
    let mut pos = a.opt_integer(lua, 3, 1)? as u64 as usize;
    if pos == 0 {
        return Err(LibError::Arg(3, "offset must be 1 or greater".into()));
    }
    pos -= 1;
    let mut h = Header::default();
    let mut results: Vec<Value> = Vec::new();
    let short = || LibError::Arg(2, "data string too short".into());
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(opt, &fmt, &mut i)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(short());
        }
        if a.len() + results.len() + 2 > MAX_C_STACK {
            return Err(LibError::Msg("stack overflow (too many results)".into()));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = getinteger(&data[pos..pos + size], h.big, opt.is_ascii_lowercase());
                results.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let f = if h.big {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                };
                results.push(Value::Number(f as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let d = if h.big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                };
                results.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    // The size is the previous result.
                    let prev = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(v @ Value::String(_)) => lua.coerce_number(v.clone())?,
                        _ => None,
                    };
                    let Some(prev) = prev else {
                        return Err(LibError::Msg("format 'c0' needs a previous size".into()));
                    };
                    size = c_cast_u64(prev) as usize;
                    results.pop();
                    if !(size <= ld && pos <= ld - size) {
                        return Err(short());
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(e) = memchr::memchr(0, &data[pos..]) else {
                    return Err(LibError::Msg("unfinished string in data".into()));
                };
                size = e + 1;
                results.push(Value::String(lua.create_string(&data[pos..pos + e])?));
            }
            _ => control(opt, &fmt, &mut i, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    results.push(Value::Integer(pos.wrapping_add(1) as i64));
    Ok(MultiValue::from_vec(results))
}

fn size(lua: &Lua, a: &Args) -> LibResult<MultiValue> {
    let fmt = format(lua, a)?;
    let mut h = Header::default();
    let mut pos = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let size = optsize(opt, &fmt, &mut i)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if opt == b's' {
            return Err(LibError::Arg(1, "option 's' has no fixed size".into()));
        } else if opt == b'c' && size == 0 {
            return Err(LibError::Arg(1, "option 'c0' has no fixed size".into()));
        }
        // Letters and digits that are not items are ignored here.
        if !opt.is_ascii_alphanumeric() {
            control(opt, &fmt, &mut i, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    one(Value::Integer(pos as i64))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{lua, run};

    const HEX: &str = "local function hex(s) local h = '' for i = 1, #s do h = h .. string.format('%02x', s:byte(i)) end return h end ";

    #[test]
    fn pack_formats() {
        let lua = lua();
        let cases = [
            ("'>I2', 258", "0102"),
            ("'<I2', 258", "0201"),
            ("'b', -1", "ff"),
            ("'>i3', -2", "fffffe"),
            ("'<i16', -1", "ffffffffffffffff0000000000000000"),
            ("'!4 b i', 1, 2", "0100000002000000"),
            ("'>d', 1.5", "3ff8000000000000"),
            ("'<f', 0.5", "0000003f"),
            ("'c3', 'abcdef'", "616263"),
            ("'c0', 'ab'", "6162"),
            ("'s x', 'hi'", "68690000"),
            ("'>L', 2^64", "0000000000000000"),
        ];
        for (args, want) in cases {
            let code = format!("{HEX} return hex(struct.pack({args}))");
            assert_eq!(run(&lua, &code), want, "{args}");
        }
    }

    #[test]
    fn unpack_and_size() {
        let lua = lua();
        let cases = [
            (
                "return table.concat({struct.unpack('>I2 b', '\\1\\2\\255')}, ',')",
                "258,-1,4",
            ),
            (
                "return table.concat({struct.unpack('b c0', '\\2xyz')}, ',')",
                "xy,4",
            ),
            (
                "return table.concat({struct.unpack('<d', struct.pack('<d', 0.1))}, ',')",
                "0.1,9",
            ),
            (
                "return table.concat({struct.unpack('b', 'ab', 2)}, ',')",
                "98,3",
            ),
            ("return struct.size('!4 b i d')", "16"),
            ("return struct.size('i3 c5 q')", "8"),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn errors() {
        let lua = lua();
        let e = |m: &str| format!("error: user_script:1: {m}");
        let cases = [
            (
                "return struct.pack('q', 1)",
                e("bad argument #1 to 'pack' (invalid format option 'q')"),
            ),
            (
                "return struct.pack('i', 'x')",
                e("bad argument #2 to 'pack' (number expected, got string)"),
            ),
            (
                "return struct.pack('i')",
                e("bad argument #2 to 'pack' (number expected, got nil)"),
            ),
            (
                "return struct.pack('c5', 'ab')",
                e("bad argument #3 to 'pack' (string too short)"),
            ),
            (
                "return struct.pack('i33', 1)",
                e("integral size 33 is larger than limit of 32"),
            ),
            (
                "return struct.pack('!3')",
                e("alignment 3 is not a power of 2"),
            ),
            (
                "return struct.pack('i99999999999', 1)",
                e("integral size overflow"),
            ),
            (
                "return struct.unpack('i', 'ab')",
                e("bad argument #2 to 'unpack' (data string too short)"),
            ),
            (
                "return struct.unpack('b', 'ab', 0)",
                e("bad argument #3 to 'unpack' (offset must be 1 or greater)"),
            ),
            (
                "return struct.unpack('c0', '')",
                e("format 'c0' needs a previous size"),
            ),
            (
                "return struct.unpack('s', 'ab')",
                e("unfinished string in data"),
            ),
            (
                "return struct.size('s')",
                e("bad argument #1 to 'size' (option 's' has no fixed size)"),
            ),
            (
                "return struct.size('c0')",
                e("bad argument #1 to 'size' (option 'c0' has no fixed size)"),
            ),
            (
                "return struct.size()",
                e("bad argument #1 to 'size' (string expected, got no value)"),
            ),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }
}
