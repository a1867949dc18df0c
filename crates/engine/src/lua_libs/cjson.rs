//! `cjson`: JSON encoding and decoding with the behaviour of lua-cjson
//! 2.1.0 as Redis bundles it (settings, number formats, error texts).
//!
//! Encoding and decoding keep their own stack of open tables instead of
//! recursing, so a deep document cannot overflow the thread's stack; they
//! count the Lua stack slots the C code would use, to stop where it stops.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Function, LightUserData, Lua, MultiValue, Table, Value};

use super::{
    c_trunc_i32, exact_raw, number_of, one, set_fn, type_name, Args, LibError, LibResult,
    MAX_C_STACK,
};
use crate::strtod::strtod;

/// The settings of one `cjson` module instance (`cjson.new()` makes another).
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0: error, 1: encode inf/nan, 2: encode them as null.
    encode_invalid_numbers: i32,
    decode_invalid_numbers: bool,
    keep_buffer: bool,
    precision: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            keep_buffer: true,
            precision: 14,
        }
    }
}

type Shared = Rc<RefCell<Config>>;

/// A new `cjson` module table with default settings.
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Rc::default();
    let t = lua.create_table()?;
    let c = cfg.clone();
    let step = step_function(lua)?;
    set_fn(lua, &t, "encode", move |lua, a| {
        encode(lua, &step, a, *c.borrow())
    })?;
    let c = cfg.clone();
    set_fn(lua, &t, "decode", move |lua, a| decode(lua, a, *c.borrow()))?;
    let c = cfg.clone();
    set_fn(lua, &t, "encode_sparse_array", move |lua, a| {
        arg_init(a, 3)?;
        let mut cfg = c.borrow_mut();
        let mut convert = cfg.sparse_convert as i32;
        let r1 = enum_option(lua, a, 1, &mut convert, None)?;
        cfg.sparse_convert = convert != 0;
        let r2 = int_option(lua, a, 2, &mut cfg.sparse_ratio, 0, i32::MAX)?;
        let r3 = int_option(lua, a, 3, &mut cfg.sparse_safe, 0, i32::MAX)?;
        Ok(MultiValue::from_vec(vec![r1, r2, r3]))
    })?;
    let c = cfg.clone();
    set_fn(lua, &t, "encode_max_depth", move |lua, a| {
        arg_init(a, 1)?;
        one(int_option(
            lua,
            a,
            1,
            &mut c.borrow_mut().encode_max_depth,
            1,
            i32::MAX,
        )?)
    })?;
    let c = cfg.clone();
    set_fn(lua, &t, "decode_max_depth", move |lua, a| {
        arg_init(a, 1)?;
        one(int_option(
            lua,
            a,
            1,
            &mut c.borrow_mut().decode_max_depth,
            1,
            i32::MAX,
        )?)
    })?;
    let c = cfg.clone();
    set_fn(lua, &t, "encode_number_precision", move |lua, a| {
        arg_init(a, 1)?;
        one(int_option(lua, a, 1, &mut c.borrow_mut().precision, 1, 14)?)
    })?;
    let c = cfg.clone();
    set_fn(lua, &t, "encode_keep_buffer", move |lua, a| {
        arg_init(a, 1)?;
        let mut cfg = c.borrow_mut();
        let mut keep = cfg.keep_buffer as i32;
        let r = enum_option(lua, a, 1, &mut keep, None)?;
        // Only the setting is kept: the buffer it controls is internal.
        cfg.keep_buffer = keep != 0;
        one(r)
    })?;
    let c = cfg.clone();
    set_fn(lua, &t, "encode_invalid_numbers", move |lua, a| {
        arg_init(a, 1)?;
        let mut cfg = c.borrow_mut();
        one(enum_option(
            lua,
            a,
            1,
            &mut cfg.encode_invalid_numbers,
            Some(&["off", "on", "null"]),
        )?)
    })?;
    let c = cfg;
    set_fn(lua, &t, "decode_invalid_numbers", move |lua, a| {
        arg_init(a, 1)?;
        let mut cfg = c.borrow_mut();
        let mut v = cfg.decode_invalid_numbers as i32;
        let r = enum_option(lua, a, 1, &mut v, None)?;
        cfg.decode_invalid_numbers = v != 0;
        one(r)
    })?;
    set_fn(lua, &t, "new", |lua, _| one(Value::Table(module(lua)?)))?;
    t.raw_set("null", LightUserData(std::ptr::null_mut()))?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/// At most `n` arguments ("found too many arguments").
fn arg_init(a: &Args, n: usize) -> LibResult<()> {
    if a.len() > n {
        return Err(LibError::Arg(
            n as i32 + 1,
            "found too many arguments".into(),
        ));
    }
    Ok(())
}

/// An integer setting: argument `i` (unless nil) must be in min..=max.
/// Returns the (new) value.
fn int_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> LibResult<Value> {
    if !matches!(a.value(i), Value::Nil) {
        // lua_Integer stored in an int, as the C code does.
        let v = a.check_integer(lua, i)? as i32;
        if !(min <= v && v <= max) {
            return Err(LibError::Arg(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = v;
    }
    Ok(Value::Integer(*setting as i64))
}

/// An enumerated setting: a boolean, or one of `options` ("off"/"on" when
/// None). Returns the value as a boolean when it is off/on, else its name.
fn enum_option(
    lua: &Lua,
    a: &Args,
    i: usize,
    setting: &mut i32,
    options: Option<&[&str]>,
) -> LibResult<Value> {
    let options = options.unwrap_or(&["off", "on"]);
    match a.value(i) {
        Value::Nil => {}
        Value::Boolean(b) => *setting = b as i32,
        _ => {
            let name = a.check_string(lua, i)?;
            let name = name.as_bytes();
            match options.iter().position(|o| o.as_bytes() == &name[..]) {
                Some(p) => *setting = p as i32,
                None => {
                    return Err(LibError::Arg(
                        i as i32,
                        format!("invalid option '{}'", String::from_utf8_lossy(&name)),
                    ))
                }
            }
        }
    }
    Ok(if *setting == 0 || *setting == 1 {
        Value::Boolean(*setting == 1)
    } else {
        Value::String(lua.create_string(options[*setting as usize])?)
    })
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

fn encode(lua: &Lua, step: &Function, a: &Args, cfg: Config) -> LibResult<MultiValue> {
    if a.len() != 1 {
        return Err(LibError::Arg(1, "expected 1 argument".into()));
    }
    let mut out = Vec::new();
    encode_value(lua, step, &mut out, a.value(1), &cfg)?;
    one(Value::String(lua.create_string(&out)?))
}

/// "Cannot serialise <type>: <reason>".
fn cannot(v: &Value, reason: &str) -> LibError {
    LibError::Msg(format!("Cannot serialise {}: {reason}", type_name(v)))
}

/// An open table while encoding. The table itself (and an object's
/// iteration key) live in the holder, a Lua table, so a deep document
/// holds a few mlua references, not a few per level.
enum Open {
    /// An array: the next index and the length.
    Array(i64, i64),
    /// An object: whether no pair was written yet.
    Object(bool),
}

/// Lua stack slots the C encoder holds for a child of `open`.
fn child_slots(open: &Open) -> usize {
    match open {
        Open::Array(..) => 1,
        Open::Object(..) => 2,
    }
}

/// `step(h, i)`: the pair after key `h[i+1]` in table `h[i]` (the key is
/// stored back), done in Lua so the key never passes through Rust.
const STEP: &str = "local next = next\nreturn function(h, i) local k, v = next(h[i], h[i + 1]) h[i + 1] = k return k, v end";

pub(super) fn step_function(lua: &Lua) -> mlua::Result<Function> {
    lua.load(STEP).set_name("=cjson").eval()
}

fn encode_value(
    lua: &Lua,
    step: &Function,
    out: &mut Vec<u8>,
    top: Value,
    cfg: &Config,
) -> LibResult<()> {
    let mut stack: Vec<Open> = Vec::new();
    let mut holder: Option<Table> = None;
    // Stack slots in use (the argument, then each open table's child).
    let mut slots = 1usize;
    let mut next = Some(top);
    loop {
        if let Some(v) = next.take() {
            match v {
                Value::Table(t) => {
                    let depth = stack.len() as i64 + 1;
                    if depth > cfg.encode_max_depth as i64 || slots + 3 > MAX_C_STACK {
                        return Err(LibError::Msg(format!(
                            "Cannot serialise, excessive nesting ({depth})"
                        )));
                    }
                    let len = array_length(&t, cfg)?;
                    let h = match &holder {
                        Some(h) => h,
                        None => holder.insert(lua.create_table()?),
                    };
                    h.raw_set(2 * depth - 1, t)?;
                    let open = if len > 0 {
                        out.push(b'[');
                        Open::Array(1, len as i64)
                    } else {
                        out.push(b'{');
                        h.raw_set(2 * depth, Value::Nil)?;
                        Open::Object(true)
                    };
                    slots += child_slots(&open);
                    stack.push(open);
                }
                other => encode_scalar(out, &other, cfg)?,
            }
        }
        // The next child of the innermost open table, closing finished ones.
        let depth = stack.len() as i64;
        let (Some(open), Some(h)) = (stack.last_mut(), &holder) else {
            return Ok(());
        };
        let t: Table = h.raw_get(2 * depth - 1)?;
        match open {
            Open::Array(i, n) => {
                if *i <= *n {
                    if *i > 1 {
                        out.push(b',');
                    }
                    let k = Value::Integer(*i);
                    let v = t.raw_get::<Value>(*i)?;
                    next = Some(exact_raw(&t, &k, v));
                    *i += 1;
                    continue;
                }
                out.push(b']');
            }
            Open::Object(first) => {
                let (k, v) = step.call::<(Value, Value)>((h, 2 * depth - 1))?;
                if !matches!(k, Value::Nil) {
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    match &k {
                        Value::Integer(_) | Value::Number(_) => {
                            out.push(b'"');
                            encode_number(out, &k, cfg)?;
                            out.extend_from_slice(b"\":");
                        }
                        Value::String(s) => {
                            encode_string(out, &s.as_bytes());
                            out.push(b':');
                        }
                        other => return Err(cannot(other, "table key must be a number or string")),
                    }
                    next = Some(exact_raw(&t, &k, v));
                    continue;
                }
                out.push(b'}');
            }
        }
        h.raw_set(2 * depth - 1, Value::Nil)?;
        if let Some(done) = stack.pop() {
            slots -= child_slots(&done);
        }
    }
}

/// The array length of a table about to be encoded (0: an object), as
/// lua-cjson decides it: all keys positive integers, and not too sparse.
fn array_length(t: &Table, cfg: &Config) -> LibResult<i32> {
    let mut max: i32 = 0;
    let mut items: i32 = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(k) if k != 0.0 && k.floor() == k && k >= 1.0 => {
                // The C code keeps the maximum in an int.
                if k > max as f64 {
                    max = c_trunc_i32(k);
                }
                items += 1;
            }
            _ => return Ok(-1),
        }
    }
    if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
        if !cfg.sparse_convert {
            return Err(LibError::Msg(
                "Cannot serialise table: excessively sparse array".into(),
            ));
        }
        return Ok(-1);
    }
    Ok(max)
}

fn encode_scalar(out: &mut Vec<u8>, v: &Value, cfg: &Config) -> LibResult<()> {
    match v {
        Value::String(s) => encode_string(out, &s.as_bytes()),
        Value::Integer(_) | Value::Number(_) => encode_number(out, v, cfg)?,
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        other => return Err(cannot(other, "type not supported")),
    }
    Ok(())
}

fn encode_number(out: &mut Vec<u8>, v: &Value, cfg: &Config) -> LibResult<()> {
    let n = number_of(v).unwrap_or(0.0);
    let invalid = n.is_nan() || n.is_infinite();
    match cfg.encode_invalid_numbers {
        0 if invalid => return Err(cannot(v, "must not be NaN or Inf")),
        1 if n.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if invalid => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    out.extend_from_slice(resp::format_g(n, cfg.precision).as_bytes());
    Ok(())
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    /// A bad token; the text says why ("invalid token", ...).
    Error(&'static str),
}

impl Kind {
    /// The name lua-cjson shows for a token found where another was expected.
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error(why) => why,
        }
    }
}

struct Token {
    kind: Kind,
    /// 0-based position (shown 1-based in errors).
    index: usize,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    cfg: Config,
}

impl Parser<'_> {
    /// The byte at `i`; past the end reads as NUL, as in the C string.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn token(&self, kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            string: Vec::new(),
            number: 0.0,
            boolean: false,
        }
    }

    /// A token error at the current position.
    fn error_here(&self, why: &'static str) -> Token {
        self.token(Kind::Error(why), self.pos)
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let c = self.at(start);
        let single = match c {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return self.token(Kind::End, start),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return self.token(kind, start);
        }
        let rest = &self.data[start.min(self.data.len())..];
        match c {
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && is_invalid_number(rest) {
                    return self.error_here("invalid number");
                }
                self.number_token()
            }
            b't' | b'f' | b'n' | b'i' | b'I' | b'N' | b'+' => {
                if rest.starts_with(b"true") {
                    self.pos += 4;
                    Token {
                        boolean: true,
                        ..self.token(Kind::Boolean, start)
                    }
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                    self.token(Kind::Boolean, start)
                } else if rest.starts_with(b"null") {
                    self.pos += 4;
                    self.token(Kind::Null, start)
                } else if self.cfg.decode_invalid_numbers && is_invalid_number(rest) {
                    self.number_token()
                } else {
                    self.error_here("invalid token")
                }
            }
            _ => self.error_here("invalid token"),
        }
    }

    fn number_token(&mut self) -> Token {
        let start = self.pos;
        // strtod stops at a NUL by itself, as the C string ends there.
        let (n, used, _) = strtod(&self.data[start..]);
        if used == 0 {
            return self.error_here("invalid number");
        }
        self.pos += used;
        Token {
            number: n,
            ..self.token(Kind::Number, start)
        }
    }

    fn string_token(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return self.error_here("unexpected end of string"),
                b'\\' => {
                    let esc = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => b'\x08',
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => b'\x0c',
                        b'r' => b'\r',
                        b'u' => {
                            if !self.unicode_escape(&mut s) {
                                return self.error_here("invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return self.error_here("invalid escape code"),
                    };
                    s.push(esc);
                    self.pos += 2;
                }
                _ => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token {
            string: s,
            ..self.token(Kind::Str, start)
        }
    }

    /// Four hex digits at `i`.
    fn hex4(&self, i: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, k| {
            let d = (self.at(i + k) as char).to_digit(16)?;
            Some(acc << 4 | d)
        })
    }

    /// `\uXXXX` (or a surrogate pair of them) at the current position,
    /// appended as UTF-8. False when invalid.
    fn unicode_escape(&mut self, s: &mut Vec<u8>) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            // A surrogate: must be a high one followed by \u and a low one.
            if cp & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut buf = [0u8; 4];
        match char::from_u32(cp) {
            Some(ch) => s.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes()),
            // Unreachable for valid surrogate pairs; kept for safety.
            None => return false,
        }
        self.pos += len;
        true
    }
}

/// Numbers strict JSON forbids but strtod reads: a leading '+', hex,
/// leading zeros, inf and nan.
fn is_invalid_number(p: &[u8]) -> bool {
    let mut i = 0;
    match p.first() {
        Some(b'+') => return true,
        Some(b'-') => i = 1,
        _ => {}
    }
    let c = p.get(i).copied().unwrap_or(0);
    if c == b'0' {
        let c2 = p.get(i + 1).copied().unwrap_or(0);
        return c2 | 0x20 == b'x' || c2.is_ascii_digit();
    }
    if c <= b'9' {
        return false;
    }
    let rest = &p[i.min(p.len())..];
    let ci = |w: &[u8]| rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(w);
    ci(b"inf") || ci(b"nan")
}

/// "Expected <what> but found <token> at character <n>".
fn expected(what: &str, tok: &Token) -> LibError {
    LibError::Msg(format!(
        "Expected {what} but found {} at character {}",
        tok.kind.name(),
        tok.index + 1
    ))
}

/// An open container while decoding (its table, and an object's pending
/// key, live in the holder: see [`Open`]).
enum Frame {
    /// An array and its next index.
    Array(i64),
    Object,
}

fn decode(lua: &Lua, a: &Args, cfg: Config) -> LibResult<MultiValue> {
    if a.len() != 1 {
        return Err(LibError::Arg(1, "expected 1 argument".into()));
    }
    let s = a.check_string(lua, 1)?;
    let data = s.as_bytes();
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(LibError::Msg(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        ));
    }
    let mut p = Parser {
        data: &data,
        pos: 0,
        cfg,
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut holder: Option<Table> = None;
    // Lua stack slots in use: the argument, then per open container its
    // table (and an object's pending key).
    let mut slots = 1usize;
    let mut tok = p.next_token();
    loop {
        // A value starts at `tok`.
        let mut value = match tok.kind {
            Kind::Str => Value::String(lua.create_string(&tok.string)?),
            Kind::Number => Value::Number(tok.number),
            Kind::Boolean => Value::Boolean(tok.boolean),
            Kind::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
            Kind::ObjBegin | Kind::ArrBegin => {
                let object = tok.kind == Kind::ObjBegin;
                let depth = stack.len() + 1;
                let need = if object { 3 } else { 2 };
                if depth > cfg.decode_max_depth as usize || slots + need > MAX_C_STACK {
                    return Err(LibError::Msg(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        p.pos
                    )));
                }
                let t = lua.create_table()?;
                tok = p.next_token();
                let empty_end = if object { Kind::ObjEnd } else { Kind::ArrEnd };
                if tok.kind == empty_end {
                    Value::Table(t)
                } else {
                    let h = match &holder {
                        Some(h) => h,
                        None => holder.insert(lua.create_table()?),
                    };
                    h.raw_set(2 * depth - 1, t)?;
                    if object {
                        h.raw_set(2 * depth, object_key(lua, &mut p, &tok)?)?;
                        tok = p.next_token();
                        slots += 2;
                        stack.push(Frame::Object);
                    } else {
                        slots += 1;
                        stack.push(Frame::Array(1));
                    }
                    continue;
                }
            }
            _ => return Err(expected("value", &tok)),
        };
        // Store the value in its container; close the containers it ends.
        loop {
            let depth = stack.len();
            let (Some(frame), Some(h)) = (stack.last_mut(), &holder) else {
                let end = p.next_token();
                if end.kind != Kind::End {
                    return Err(expected("the end", &end));
                }
                return one(value);
            };
            let t: Table = h.raw_get(2 * depth - 1)?;
            tok = p.next_token();
            match frame {
                Frame::Array(i) => {
                    t.raw_set(*i, value)?;
                    *i += 1;
                    match tok.kind {
                        Kind::Comma => {
                            tok = p.next_token();
                            break;
                        }
                        Kind::ArrEnd => {}
                        _ => return Err(expected("comma or array end", &tok)),
                    }
                }
                Frame::Object => {
                    t.raw_set(h.raw_get::<Value>(2 * depth)?, value)?;
                    match tok.kind {
                        Kind::Comma => {
                            let next = p.next_token();
                            h.raw_set(2 * depth, object_key(lua, &mut p, &next)?)?;
                            tok = p.next_token();
                            break;
                        }
                        Kind::ObjEnd => {}
                        _ => return Err(expected("comma or object end", &tok)),
                    }
                }
            }
            // The container ended: it is now the value to store.
            h.raw_set(2 * depth - 1, Value::Nil)?;
            h.raw_set(2 * depth, Value::Nil)?;
            slots -= match stack.pop() {
                Some(Frame::Object) => 2,
                _ => 1,
            };
            value = Value::Table(t);
        }
    }
}

/// An object key at `tok`, and the colon after it.
fn object_key(lua: &Lua, p: &mut Parser, tok: &Token) -> LibResult<Value> {
    if tok.kind != Kind::Str {
        return Err(expected("object key string", tok));
    }
    let key = Value::String(lua.create_string(&tok.string)?);
    let colon = p.next_token();
    if colon.kind != Kind::Colon {
        return Err(expected("colon", &colon));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{lua, run};

    #[test]
    fn encode_shapes_and_escapes() {
        let lua = lua();
        let cases = [
            ("return cjson.encode({1,2,3,{a=1}})", "[1,2,3,{\"a\":1}]"),
            ("return cjson.encode({})", "{}"),
            (
                "return cjson.encode('a/b\"c\\\\\\n\\1\\127')",
                "\"a\\/b\\\"c\\\\\\n\\u0001\\u007f\"",
            ),
            ("return cjson.encode(0.1)", "0.1"),
            ("return cjson.encode(1/3)", "0.33333333333333"),
            ("return cjson.encode(1e100)", "1e+100"),
            ("return cjson.encode({[1]=1,[3]=3})", "[1,null,3]"),
            ("return cjson.encode({[2]='x'})", "[null,\"x\"]"),
            ("return cjson.encode({[1.5]=1})", "{\"1.5\":1}"),
            ("return cjson.encode(cjson.null)", "null"),
            ("return cjson.encode({true,false})", "[true,false]"),
            (
                "cjson.encode_number_precision(3) return cjson.encode(1/3)",
                "0.333",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn encode_errors() {
        let lua = lua();
        let cases = [
            (
                "return cjson.encode(function() end)",
                "error: user_script:1: Cannot serialise function: type not supported",
            ),
            (
                "return cjson.encode({[20]=1})",
                "error: user_script:1: Cannot serialise table: excessively sparse array",
            ),
            (
                "return cjson.encode(0/0)",
                "error: user_script:1: Cannot serialise number: must not be NaN or Inf",
            ),
            (
                "return cjson.encode({[true]=1})",
                "error: user_script:1: Cannot serialise boolean: table key must be a number or string",
            ),
            (
                "local t = {} t[1] = t return cjson.encode(t)",
                "error: user_script:1: Cannot serialise, excessive nesting (1001)",
            ),
            (
                "return cjson.encode(1, 2)",
                "error: user_script:1: bad argument #1 to 'encode' (expected 1 argument)",
            ),
            (
                "return cjson.encode_max_depth(0)",
                "error: user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)",
            ),
            (
                "return cjson.encode_keep_buffer('maybe')",
                "error: user_script:1: bad argument #1 to 'encode_keep_buffer' (invalid option 'maybe')",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn settings_return_their_values() {
        let lua = lua();
        assert_eq!(
            run(
                &lua,
                "return tostring(cjson.encode_invalid_numbers('null'))"
            ),
            "null"
        );
        assert_eq!(run(&lua, "return cjson.encode({1/0, 0/0})"), "[null,null]");
        assert_eq!(
            run(&lua, "return tostring(cjson.encode_invalid_numbers(true))"),
            "true"
        );
        assert_eq!(run(&lua, "return cjson.encode({1/0, -1/0})"), "[inf,-inf]");
        assert_eq!(
            run(
                &lua,
                "local a, b, c = cjson.encode_sparse_array(true) return tostring(a)..b..c"
            ),
            "true210"
        );
        assert_eq!(run(&lua, "return cjson.encode({[20]=1})"), "{\"20\":1}");
        // new() has its own settings.
        assert_eq!(
            run(&lua, "return tostring(cjson.new().encode_sparse_array())"),
            "false"
        );
    }

    #[test]
    fn decode_values() {
        let lua = lua();
        let cases = [
            (
                "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
                "0 -5000 -1 0.0003 1023.2 0",
            ),
            (
                "return cjson.decode('{\"a\": {\"b\": [1, \"x\"]}}').a.b[2]",
                "x",
            ),
            (
                "return tostring(cjson.decode('null') == cjson.null)",
                "true",
            ),
            (
                "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')",
                "é😀",
            ),
            ("return cjson.decode('0x10')", "16"),
            ("return cjson.decode(' [1] \\0 junk')[1]", "1"),
            ("return cjson.decode(123)", "123"),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn decode_errors() {
        let lua = lua();
        let e = |m: &str| format!("error: user_script:1: {m}");
        let cases = [
            (
                "return cjson.decode('x')",
                e("Expected value but found invalid token at character 1"),
            ),
            (
                "return cjson.decode('[')",
                e("Expected value but found T_END at character 2"),
            ),
            (
                "return cjson.decode('[1 2]')",
                e("Expected comma or array end but found T_NUMBER at character 4"),
            ),
            (
                "return cjson.decode('{1:2}')",
                e("Expected object key string but found T_NUMBER at character 2"),
            ),
            (
                "return cjson.decode('{\"a\" 2}')",
                e("Expected colon but found T_NUMBER at character 6"),
            ),
            (
                "return cjson.decode('{\"a\":2]')",
                e("Expected comma or object end but found T_ARR_END at character 7"),
            ),
            (
                "return cjson.decode('[1] x')",
                e("Expected the end but found invalid token at character 5"),
            ),
            (
                "return cjson.decode('\"abc')",
                e("Expected value but found unexpected end of string at character 5"),
            ),
            (
                "return cjson.decode('\"\\\\q\"')",
                e("Expected value but found invalid escape code at character 2"),
            ),
            (
                "return cjson.decode('\"\\\\udc00\"')",
                e("Expected value but found invalid unicode escape code at character 2"),
            ),
            (
                "return cjson.decode(string.rep('[', 1001))",
                e("Found too many nested data structures (1001) at character 1001"),
            ),
            (
                "return cjson.decode('a\\0')",
                e("JSON parser does not support UTF-16 or UTF-32"),
            ),
            (
                "return cjson.decode()",
                e("bad argument #1 to 'decode' (expected 1 argument)"),
            ),
            (
                "return cjson.decode({})",
                e("bad argument #1 to 'decode' (string expected, got table)"),
            ),
        ];
        for (code, want) in cases {
            assert_eq!(run(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn deep_documents_fail_cleanly_at_the_lua_stack_limit() {
        let lua = lua();
        assert_eq!(
            run(
                &lua,
                "cjson.decode_max_depth(100000) return cjson.decode(string.rep('[', 9000))"
            ),
            "error: user_script:1: Found too many nested data structures (7999) at character 7999"
        );
        assert_eq!(
            run(
                &lua,
                "cjson.encode_max_depth(100000) local t = {} t[1] = t return cjson.encode(t)"
            ),
            "error: user_script:1: Cannot serialise, excessive nesting (7998)"
        );
    }
}
