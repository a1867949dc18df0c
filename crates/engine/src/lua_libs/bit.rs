//! `bit`: LuaBitOp's 32-bit operations on Lua 5.1 numbers (doubles), as
//! Redis bundles it: arguments wrap modulo 2^32 (rounded as the library's
//! 2^52+2^51 trick rounds them) and results are signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::{one, set_fn, Args, LibResult};

/// Argument `i` as 32 bits. A non-number fails only when it reads as 0, as
/// in LuaBitOp (`lua_tonumber`, then a type check on a zero result).
fn barg(lua: &Lua, a: &Args, i: usize) -> LibResult<u32> {
    let n = a.to_number(lua, i)?;
    // Adding 2^52 + 2^51 puts the integer part, rounded to nearest even,
    // in the low bits of the double's mantissa.
    let b = (n.unwrap_or(0.0) + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && n.is_none() {
        return Err(a.type_error(i, "number"));
    }
    Ok(b)
}

fn ret(b: u32) -> LibResult<MultiValue> {
    one(Value::Number(b as i32 as f64))
}

/// A two-operand shift or rotation.
fn shift(lua: &Lua, t: &Table, name: &str, f: fn(u32, u32) -> u32) -> mlua::Result<()> {
    set_fn(lua, t, name, move |lua, a| {
        let b = barg(lua, a, 1)?;
        let n = barg(lua, a, 2)? & 31;
        ret(f(b, n))
    })
}

/// An operation folding all its arguments.
fn fold(lua: &Lua, t: &Table, name: &str, f: fn(u32, u32) -> u32) -> mlua::Result<()> {
    set_fn(lua, t, name, move |lua, a| {
        let mut b = barg(lua, a, 1)?;
        // The C code reads the arguments from the last one down.
        for i in (2..=a.len()).rev() {
            b = f(b, barg(lua, a, i)?);
        }
        ret(b)
    })
}

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    set_fn(lua, &t, "tobit", |lua, a| ret(barg(lua, a, 1)?))?;
    set_fn(lua, &t, "bnot", |lua, a| ret(!barg(lua, a, 1)?))?;
    fold(lua, &t, "band", |x, y| x & y)?;
    fold(lua, &t, "bor", |x, y| x | y)?;
    fold(lua, &t, "bxor", |x, y| x ^ y)?;
    shift(lua, &t, "lshift", |b, n| b << n)?;
    shift(lua, &t, "rshift", |b, n| b >> n)?;
    shift(lua, &t, "arshift", |b, n| ((b as i32) >> n) as u32)?;
    shift(lua, &t, "rol", |b, n| b.rotate_left(n))?;
    shift(lua, &t, "ror", |b, n| b.rotate_right(n))?;
    set_fn(
        lua,
        &t,
        "bswap",
        |lua, a| ret(barg(lua, a, 1)?.swap_bytes()),
    )?;
    set_fn(lua, &t, "tohex", |lua, a| {
        let mut b = barg(lua, a, 1)?;
        let mut n = if a.is_none(2) {
            8
        } else {
            barg(lua, a, 2)? as i32
        };
        if n == i32::MIN {
            n = i32::MIN + 1;
        }
        let digits: &[u8; 16] = if n < 0 {
            n = -n;
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let n = n.min(8) as usize;
        let mut buf = [0u8; 8];
        for k in (0..n).rev() {
            buf[k] = digits[(b & 15) as usize];
            b >>= 4;
        }
        one(Value::String(lua.create_string(&buf[..n])?))
    })?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{lua, run};

    #[test]
    fn operations() {
        let lua = lua();
        let cases = [
            ("return bit.tobit(0xffffffff)", "-1"),
            ("return bit.tobit(2^32 + 5)", "5"),
            ("return bit.tobit(1.5)", "2"),
            ("return bit.tobit(2.5)", "2"),
            ("return bit.tobit(-1.5)", "-2"),
            ("return bit.tobit('0x10')", "16"),
            ("return bit.bnot(0)", "-1"),
            ("return bit.bor(1,2,4,8,16,32,64,128)", "255"),
            ("return bit.band(0xff, 0x0f, 0x3)", "3"),
            ("return bit.bxor(1, 3)", "2"),
            ("return bit.lshift(1, 31)", "-2147483648"),
            ("return bit.lshift(1, 33)", "2"),
            ("return bit.rshift(-1, 28)", "15"),
            ("return bit.arshift(-256, 4)", "-16"),
            ("return bit.rol(0x12345678, 8)", "878082066"),
            ("return bit.ror(0x12345678, 8)", "2014458966"),
            ("return bit.bswap(0x12345678)", "2018915346"),
            ("return bit.tohex(255)", "000000ff"),
            ("return bit.tohex(255, -4)", "00FF"),
            ("return bit.tohex(-1, 2)", "ff"),
            ("return bit.tohex(65535, -2147483648)", "0000FFFF"),
            ("return bit.tohex(1, 0)", ""),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn errors() {
        let lua = lua();
        let cases = [
            (
                "return bit.band()",
                "error: user_script:1: bad argument #1 to 'band' (number expected, got no value)",
            ),
            (
                "return bit.tohex(1, 'x')",
                "error: user_script:1: bad argument #2 to 'tohex' (number expected, got string)",
            ),
            (
                "return bit.bor(1, {})",
                "error: user_script:1: bad argument #2 to 'bor' (number expected, got table)",
            ),
            (
                "return bit.tohex(1, nil)",
                "error: user_script:1: bad argument #2 to 'tohex' (number expected, got nil)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }
}
