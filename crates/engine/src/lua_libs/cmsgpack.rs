//! `cmsgpack`: MessagePack with the behaviour of lua-cmsgpack 0.4.0 as
//! Redis bundles it: smallest integer encodings, floats as float32 when
//! that is lossless, strings always as str (never bin), tables nested
//! deeper than 16 encoded as nil, and `unpack`, `unpack_one`,
//! `unpack_limit` with their offsets and error texts.

use mlua::{Lua, MultiValue, Table, Value};

use super::{exact_raw, number_of, set_fn, Args, LibError, LibResult, MAX_C_STACK, TWO63};

/// Tables nested deeper than this are encoded as nil (cycles end there).
const MAX_NESTING: usize = 16;

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    set_fn(lua, &t, "pack", pack)?;
    set_fn(lua, &t, "unpack", |lua, a| {
        let s = a.check_string(lua, 1)?;
        unpack(lua, &s.as_bytes(), 0, 0, a.len())
    })?;
    set_fn(lua, &t, "unpack_one", |lua, a| {
        let offset = a.opt_integer(lua, 2, 0)?;
        let s = a.check_string(lua, 1)?;
        unpack(lua, &s.as_bytes(), 1, offset, 1)
    })?;
    set_fn(lua, &t, "unpack_limit", |lua, a| {
        let limit = a.check_integer(lua, 2)?;
        let offset = a.opt_integer(lua, 3, 0)?;
        let s = a.check_string(lua, 1)?;
        unpack(lua, &s.as_bytes(), limit, offset, 1)
    })?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ---------------------------------------------------------------------------
// Packing
// ---------------------------------------------------------------------------

fn pack(lua: &Lua, a: &Args) -> LibResult<MultiValue> {
    if a.len() == 0 {
        return Err(LibError::Arg(0, "MessagePack pack needs input.".into()));
    }
    let mut out = Vec::new();
    for i in 1..=a.len() {
        encode(&mut out, &a.value(i), 0)?;
    }
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(&out)?,
    )]))
}

fn encode(out: &mut Vec<u8>, v: &Value, level: usize) -> LibResult<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => encode_number(out, number_of(v).unwrap_or(0.0)),
        Value::Table(t) if level < MAX_NESTING => encode_table(out, t, level)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    // An integer when the value survives a round trip through int64.
    let is_int = n.is_finite() && (-TWO63..TWO63).contains(&n) && n.trunc() == n;
    if is_int {
        encode_int(out, n as i64);
    } else if (n as f32) as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A container header: fix form up to 15, then 16- and 32-bit counts.
fn encode_header(out: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_table(out: &mut Vec<u8>, t: &Table, level: usize) -> LibResult<()> {
    // An array when every key is a positive int and they are exactly 1..n.
    let mut max: i64 = 0;
    let mut count: i64 = 0;
    let mut is_array = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        match number_of(&k) {
            Some(n) if n > 0.0 && n <= i32::MAX as f64 && n.trunc() == n => {
                max = max.max(n as i64);
            }
            _ => is_array = false,
        }
    }
    if is_array && max == count {
        // Elements are read with metamethods, as lua_gettable does.
        let len = t.raw_len();
        encode_header(out, len, 0x90, 0xdc, 0xdd);
        for j in 1..=len {
            let v = match t.get::<Value>(j)? {
                Value::Integer(i) if (-1..=1).contains(&i) => {
                    Value::Number(t.get::<f64>(j).unwrap_or(i as f64))
                }
                v => v,
            };
            encode(out, &v, level + 1)?;
        }
    } else {
        encode_header(out, count as usize, 0x80, 0xde, 0xdf);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let v = exact_raw(t, &k, v);
            encode(out, &k, level + 1)?;
            encode(out, &v, level + 1)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Unpacking
// ---------------------------------------------------------------------------

/// Why decoding stopped.
enum Stop {
    /// Not enough bytes.
    Eof,
    /// A byte that starts no supported value.
    BadFormat,
    /// Any other error.
    Err(LibError),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Self {
        Stop::Err(LibError::Lua(e))
    }
}

/// Decodes up to `limit` values from `s[offset..]` (`limit` and `offset`
/// both 0: all of them, with no offset returned). `base` is the number of
/// stack slots the C function starts with (its arguments).
fn unpack(lua: &Lua, s: &[u8], limit: i64, offset: i64, base: usize) -> LibResult<MultiValue> {
    let len = s.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(LibError::Msg(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(LibError::Msg(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut cur = Cursor {
        s,
        pos: offset as usize,
    };
    let mut values = Vec::new();
    while cur.pos < len && (values.len() as i64) < limit {
        match decode(lua, &mut cur, base + values.len()) {
            Ok(v) => values.push(v),
            Err(Stop::Eof) => return Err(LibError::Msg("Missing bytes in input.".into())),
            Err(Stop::BadFormat) => return Err(LibError::Msg("Bad data format in input.".into())),
            Err(Stop::Err(e)) => return Err(e),
        }
    }
    if !decode_all {
        check_stack(base + values.len(), "in function mp_unpack_full").map_err(|e| match e {
            Stop::Err(e) => e,
            _ => LibError::Msg("Bad data format in input.".into()),
        })?;
        let next = if cur.pos == len { -1 } else { cur.pos as i64 };
        values.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_vec(values))
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        if self.s.len() - self.pos < n {
            return Err(Stop::Eof);
        }
        let b = &self.s[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | b as u64))
    }
}

/// `luaL_checkstack(L, 1, what)` with `slots` in use.
fn check_stack(slots: usize, what: &str) -> Result<(), Stop> {
    if slots + 1 > MAX_C_STACK {
        return Err(Stop::Err(LibError::Msg(format!("stack overflow ({what})"))));
    }
    Ok(())
}

/// An open container while decoding. Its table (at `2d-1` for depth d)
/// and a map's pending key (at `2d`) live in a Lua holder table, so deep
/// input holds a few mlua references, not a few per level.
enum Open {
    /// An array: its next index, elements left.
    Array(i64, u64),
    /// A map: whether its key is read, entries left.
    Map(bool, u64),
}

impl Open {
    /// Stack slots the C decoder holds while decoding this one's next item.
    fn slots(&self) -> usize {
        match self {
            Open::Array(..) => 2,
            Open::Map(has_key, _) => 1 + *has_key as usize,
        }
    }
}

/// Decodes one value; `base` stack slots are in use before it.
fn decode(lua: &Lua, cur: &mut Cursor, base: usize) -> Result<Value, Stop> {
    let mut stack: Vec<Open> = Vec::new();
    let mut holder: Option<Table> = None;
    let mut slots = base;
    loop {
        // Read one item (a scalar, or the header of a container).
        if cur.pos >= cur.s.len() {
            return Err(Stop::Eof);
        }
        check_stack(
            slots,
            "too many return values at once; use unpack_one or unpack_limit instead.",
        )?;
        let b = cur.take(1)?[0];
        let container = match b {
            0x90..=0x9f | 0xdc | 0xdd | 0x80..=0x8f | 0xde | 0xdf => {
                let array = matches!(b, 0x90..=0x9f | 0xdc | 0xdd);
                let n = match b {
                    0xdc | 0xde => cur.be(2)?,
                    0xdd | 0xdf => cur.be(4)?,
                    _ => (b & 0xf) as u64,
                };
                if array {
                    check_stack(slots + 1, "in function mp_decode_to_lua_array")?;
                }
                Some((array, n))
            }
            _ => None,
        };
        let mut value = match container {
            Some((_, 0)) => Value::Table(lua.create_table()?),
            Some((array, n)) => {
                let h = match &holder {
                    Some(h) => h,
                    None => holder.insert(lua.create_table()?),
                };
                let depth = stack.len() as i64 + 1;
                h.raw_set(2 * depth - 1, lua.create_table()?)?;
                let open = if array {
                    Open::Array(1, n)
                } else {
                    Open::Map(false, n)
                };
                slots += open.slots();
                stack.push(open);
                continue;
            }
            None => scalar(lua, cur, b)?,
        };
        // Store the item in its container; close the containers it fills.
        loop {
            let depth = stack.len() as i64;
            let (Some(open), Some(h)) = (stack.last_mut(), &holder) else {
                return Ok(value);
            };
            slots -= open.slots();
            let t: Table = h.raw_get(2 * depth - 1)?;
            let done = match open {
                Open::Array(i, left) => {
                    t.raw_set(*i, value)?;
                    *i += 1;
                    *left -= 1;
                    *left == 0
                }
                Open::Map(has_key, left) => {
                    if *has_key {
                        let slot = Value::Integer(2 * depth);
                        let k = exact_raw(h, &slot, h.raw_get(2 * depth)?);
                        h.raw_set(2 * depth, Value::Nil)?;
                        set_entry(&t, k, value)?;
                        *has_key = false;
                        *left -= 1;
                        *left == 0
                    } else {
                        // Kept in Lua: a number key must not be rounded.
                        h.raw_set(2 * depth, value)?;
                        *has_key = true;
                        false
                    }
                }
            };
            if !done {
                slots += open.slots();
                break;
            }
            h.raw_set(2 * depth - 1, Value::Nil)?;
            stack.pop();
            value = Value::Table(t);
        }
    }
}

/// A value that is not a container, after its first byte `b`.
fn scalar(lua: &Lua, cur: &mut Cursor, b: u8) -> Result<Value, Stop> {
    Ok(match b {
        0xcc => Value::Number(cur.be(1)? as f64),
        0xcd => Value::Number(cur.be(2)? as f64),
        0xce => Value::Number(cur.be(4)? as f64),
        // uint64 goes through a signed lua_Integer.
        0xcf => Value::Number(cur.be(8)? as i64 as f64),
        0xd0 => Value::Number(cur.be(1)? as u8 as i8 as f64),
        0xd1 => Value::Number(cur.be(2)? as u16 as i16 as f64),
        0xd2 => Value::Number(cur.be(4)? as u32 as i32 as f64),
        0xd3 => Value::Number(cur.be(8)? as i64 as f64),
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xca => Value::Number(f32::from_bits(cur.be(4)? as u32) as f64),
        0xcb => Value::Number(f64::from_bits(cur.be(8)?)),
        0xd9..=0xdb => {
            let n = match b {
                0xd9 => 1,
                0xda => 2,
                _ => 4,
            };
            let l = cur.be(n)? as usize;
            Value::String(lua.create_string(cur.take(l)?)?)
        }
        0xa0..=0xbf => Value::String(lua.create_string(cur.take((b & 0x1f) as usize)?)?),
        0x00..=0x7f => Value::Number(b as f64),
        0xe0..=0xff => Value::Number(b as i8 as f64),
        _ => return Err(Stop::BadFormat),
    })
}

/// `t[k] = v` as `lua_settable` does it for a fresh table.
fn set_entry(t: &Table, k: Value, v: Value) -> Result<(), Stop> {
    match &k {
        Value::Nil => return Err(Stop::Err(LibError::Raw("table index is nil".into()))),
        Value::Number(n) if n.is_nan() => {
            return Err(Stop::Err(LibError::Raw("table index is NaN".into())))
        }
        _ => {}
    }
    t.raw_set(k, v)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{lua, run};

    /// Hex of a packed value.
    const HEX: &str = "local function hex(s) local h = '' for i = 1, #s do h = h .. string.format('%02x', s:byte(i)) end return h end ";

    #[test]
    fn pack_chooses_the_smallest_encoding() {
        let lua = lua();
        let cases = [
            ("0.1", "cb3fb999999999999a"),
            ("-1099511627776", "d3ffffff0000000000"),
            (
                "1, 127, 128, 255, 256, 65536",
                "017fcc80ccffcd0100ce00010000",
            ),
            (
                "-1, -32, -33, -128, -129, -32769",
                "ffe0d0dfd080d1ff7fd2ffff7fff",
            ),
            (
                "2^32, 2^63, 2^64 + 2^40",
                "cf0000000100000000ca5f000000cb43f0000010000000",
            ),
            ("0.5, 1/0", "ca3f000000ca7f800000"),
            ("'abc', true, false, nil", "a3616263c3c2c0"),
            ("{1, 2}, {a = 1}, {}", "920102 81a16101 90"),
            ("{[1] = 1, [3] = 3}", "820101 0303"),
            ("string.rep('x', 32)", &format!("d920{}", "78".repeat(32))),
        ];
        for (args, want) in cases {
            let code = format!("{HEX} return hex(cmsgpack.pack({args}))");
            assert_eq!(run(&lua, &code), want.replace(' ', ""), "{args}");
        }
    }

    #[test]
    fn unpack_variants() {
        let lua = lua();
        let cases = [
            ("local a, b = cmsgpack.unpack(cmsgpack.pack(1, 'x')) return a .. b", "1x"),
            (
                "local o, v = cmsgpack.unpack_one(cmsgpack.pack(7, 8)) return o .. ':' .. v",
                "1:7",
            ),
            (
                "local o, v = cmsgpack.unpack_one(cmsgpack.pack(7, 8), 1) return o .. ':' .. v",
                "-1:8",
            ),
            (
                "local o, a, b = cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2) return o .. a .. b",
                "212",
            ),
            ("return select('#', cmsgpack.unpack(''))", "0"),
            ("return cmsgpack.unpack(cmsgpack.pack({a = {b = 'c'}})).a.b", "c"),
            ("return cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')", "-1"),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn unpack_errors() {
        let lua = lua();
        let e = |m: &str| format!("error: user_script:1: {m}");
        let cases = [
            (
                "return cmsgpack.unpack('\\193')",
                e("Bad data format in input."),
            ),
            (
                "return cmsgpack.unpack('\\146\\1')",
                e("Missing bytes in input."),
            ),
            (
                "return cmsgpack.unpack_one('abc', 5)",
                e("Start offset 5 greater than input length 3."),
            ),
            (
                "return cmsgpack.unpack_one('abc', -1)",
                e("Invalid request to unpack with offset of -1 and limit of 3."),
            ),
            (
                "return cmsgpack.unpack_limit('abc')",
                e("bad argument #2 to 'unpack_limit' (number expected, got no value)"),
            ),
            (
                "return cmsgpack.pack()",
                e("bad argument #0 to 'pack' (MessagePack pack needs input.)"),
            ),
            (
                "return cmsgpack.unpack('\\129\\192\\1')",
                "error: table index is nil".into(),
            ),
            (
                "return cmsgpack.unpack(string.rep('\\145', 5000) .. '\\1')",
                e("stack overflow (in function mp_decode_to_lua_array)"),
            ),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn cycles_stop_at_sixteen_levels() {
        let lua = lua();
        let code = format!(
            "{HEX} local a = {{x = nil, y = 5}} local b = {{x = a}} a.x = b return hex(cmsgpack.pack(a))"
        );
        let want = "82a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a178c0";
        // Key order is the table's: either order of x/y is a valid outcome here.
        let got = run(&lua, &code);
        assert_eq!(got.len(), want.len(), "{got}");
        assert!(got.ends_with("c0"), "{got}");
    }
}
