//! The Lua libraries Redis gives scripts besides the standard ones:
//! `cjson`, `cmsgpack`, `bit` and `struct`, written in Rust with the
//! behaviour (results and error texts) of the C modules Redis 7 bundles.
//!
//! Each library function is an mlua function wrapped in a small C closure
//! (the "trampoline"). The wrapper raises the library's errors as plain Lua
//! strings through `luaL_error` / `luaL_argerror`, so they carry the
//! caller's position (`user_script:1: ...`) and the name the function was
//! called by (`bad argument #1 to 'pack' ...`) exactly as the C modules do,
//! and `pcall` in a script sees a string, not an mlua error object. It also
//! hands the library the exact values of number arguments, which mlua's
//! `Value` rounds when they are within `f64::EPSILON` of an integer.

mod bit;
mod cjson;
mod cmsgpack;
mod struct_lib;

use std::cell::RefCell;
use std::ffi::c_int;

use mlua::{ffi, Function, LightUserData, Lua, MultiValue, Table, Value};
use smallvec::SmallVec;

/// Sets the globals `cjson`, `cmsgpack`, `bit` and `struct`.
pub(crate) fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("bit", bit::module(lua)?)?;
    globals.set("struct", struct_lib::module(lua)?)?;
    Ok(())
}

/// `LUAI_MAXCSTACK`: the stack slots a C function may use. The C modules
/// report "stack overflow" / "too many nested" errors when their work
/// would pass it; ours count the same slots to fail at the same point.
pub(crate) const MAX_C_STACK: usize = 8000;

/// A library error, raised by the trampoline the way the C code raises it.
#[derive(Debug)]
pub(crate) enum LibError {
    /// `luaL_argerror(narg, msg)`: "bad argument #n to 'name' (msg)".
    Arg(i32, String),
    /// `luaL_error(msg)`: the message after the caller's position.
    Msg(String),
    /// An error raised without a position (Lua's own runtime errors
    /// inside a C function, e.g. "table index is nil").
    Raw(String),
    /// An interpreter failure (memory, a metamethod's error): re-raised as is.
    Lua(mlua::Error),
}

impl From<mlua::Error> for LibError {
    fn from(e: mlua::Error) -> Self {
        LibError::Lua(e)
    }
}

pub(crate) type LibResult<T> = Result<T, LibError>;

/// Marks a failed call in the values an inner function returns to the
/// trampoline (its address is the mark; nothing reads the byte).
static ERROR_MARK: u8 = 0;

fn error_mark() -> *mut std::ffi::c_void {
    std::ptr::addr_of!(ERROR_MARK) as *mut std::ffi::c_void
}

thread_local! {
    /// Exact values of the number arguments of the call being made: set by
    /// the trampoline, taken by the inner function before anything else.
    static EXACT_ARGS: RefCell<SmallVec<[(c_int, f64); 4]>> = RefCell::new(SmallVec::new());
}

/// Calls the inner function (upvalue 1) with this call's arguments and
/// returns its results, or raises the error it reported.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    let mut exact = SmallVec::<[(c_int, f64); 4]>::new();
    for i in 1..=nargs {
        if ffi::lua_type(state, i) == ffi::LUA_TNUMBER {
            exact.push((i, ffi::lua_tonumber(state, i)));
        }
    }
    EXACT_ARGS.with(|e| *e.borrow_mut() = exact);
    ffi::luaL_checkstack(state, 4, std::ptr::null());
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    let status = ffi::lua_pcall(state, nargs, ffi::LUA_MULTRET, 0);
    EXACT_ARGS.with(|e| e.borrow_mut().clear());
    if status != 0 {
        // An interpreter error (its value is on top): passed on unchanged.
        ffi::lua_error(state)
    }
    let nres = ffi::lua_gettop(state);
    if nres == 4
        && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
        && ffi::lua_touserdata(state, 1) == error_mark()
    {
        let kind = ffi::lua_tointeger(state, 2);
        let narg = ffi::lua_tointeger(state, 3) as c_int;
        match kind {
            1 => return ffi::luaL_argerror(state, narg, ffi::lua_tostring(state, 4)),
            2 => {
                ffi::luaL_where(state, 1);
                ffi::lua_pushvalue(state, 4);
                ffi::lua_concat(state, 2);
            }
            _ => ffi::lua_pushvalue(state, 4),
        }
        ffi::lua_error(state)
    }
    nres
}

/// The arguments of a library call.
#[derive(Clone)]
pub(crate) struct Args {
    vals: Vec<Value>,
    exact: SmallVec<[(c_int, f64); 4]>,
}

/// A Lua type name as `lua_typename` gives it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// 2^63: the doubles from -2^63 up to (not including) this fit an i64.
pub(crate) const TWO63: f64 = (1u64 << 63) as f64;

/// C's `(long)d` on x86-64: out of range (and NaN) gives `LONG_MIN`.
pub(crate) fn c_trunc_i64(d: f64) -> i64 {
    if (-TWO63..TWO63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// C's `(int)d` on x86-64: out of range (and NaN) gives `INT_MIN`.
pub(crate) fn c_trunc_i32(d: f64) -> i32 {
    if d > -2_147_483_649.0 && d < 2_147_483_648.0 {
        d as i32
    } else {
        i32::MIN
    }
}

impl Args {
    /// The number of arguments (`lua_gettop`).
    pub(crate) fn len(&self) -> usize {
        self.vals.len()
    }

    /// These arguments and a nil after them (a C function that pushes a
    /// nil first then reads "missing" arguments as nil, not as no value).
    pub(crate) fn with_nil(&self) -> Args {
        let mut a = self.clone();
        a.vals.push(Value::Nil);
        a
    }

    /// Argument `i` (1-based) is absent (`lua_isnone`).
    pub(crate) fn is_none(&self, i: usize) -> bool {
        i == 0 || i > self.vals.len()
    }

    /// Argument `i` (1-based), nil when absent.
    pub(crate) fn value(&self, i: usize) -> Value {
        if self.is_none(i) {
            Value::Nil
        } else {
            exact_number(&self.vals[i - 1], || {
                self.exact
                    .iter()
                    .find(|(k, _)| *k as usize == i)
                    .map(|(_, n)| *n)
            })
        }
    }

    /// The type name of argument `i`, "no value" when absent.
    pub(crate) fn type_name(&self, i: usize) -> &'static str {
        if self.is_none(i) {
            "no value"
        } else {
            type_name(&self.vals[i - 1])
        }
    }

    /// `lua_tonumber`: numbers, and strings that convert; None otherwise.
    pub(crate) fn to_number(&self, lua: &Lua, i: usize) -> LibResult<Option<f64>> {
        Ok(match self.value(i) {
            Value::Number(n) => Some(n),
            Value::Integer(n) => Some(n as f64),
            v @ Value::String(_) => lua.coerce_number(v)?,
            _ => None,
        })
    }

    /// `luaL_typerror`.
    pub(crate) fn type_error(&self, i: usize, expected: &str) -> LibError {
        LibError::Arg(
            i as i32,
            format!("{expected} expected, got {}", self.type_name(i)),
        )
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, lua: &Lua, i: usize) -> LibResult<f64> {
        self.to_number(lua, i)?
            .ok_or_else(|| self.type_error(i, "number"))
    }

    /// `luaL_checkinteger` (the number truncated as C casts it).
    pub(crate) fn check_integer(&self, lua: &Lua, i: usize) -> LibResult<i64> {
        self.check_number(lua, i).map(c_trunc_i64)
    }

    /// `luaL_optinteger`.
    pub(crate) fn opt_integer(&self, lua: &Lua, i: usize, default: i64) -> LibResult<i64> {
        if matches!(self.value(i), Value::Nil) {
            Ok(default)
        } else {
            self.check_integer(lua, i)
        }
    }

    /// `luaL_checklstring`: strings, and numbers converted as Lua does.
    pub(crate) fn check_string(&self, lua: &Lua, i: usize) -> LibResult<mlua::String> {
        match self.value(i) {
            Value::String(s) => Ok(s),
            v @ (Value::Number(_) | Value::Integer(_)) => lua
                .coerce_string(v)?
                .ok_or_else(|| self.type_error(i, "string")),
            _ => Err(self.type_error(i, "string")),
        }
    }
}

/// `v` with its exact value when it is a number that mlua may have rounded
/// (it turns numbers within `f64::EPSILON` of an integer into integers):
/// `exact` reads the number again without rounding.
fn exact_number(v: &Value, exact: impl FnOnce() -> Option<f64>) -> Value {
    match v {
        Value::Integer(i) if (-1..=1).contains(i) => Value::Number(exact().unwrap_or(*i as f64)),
        other => other.clone(),
    }
}

/// `t[k]`'s value `v` (read raw) with its exact number, see [`exact_number`].
pub(crate) fn exact_raw(t: &Table, k: &Value, v: Value) -> Value {
    exact_number(&v, || t.raw_get::<f64>(k.clone()).ok())
}

/// The number in `v` (after [`exact_number`]), if it is one.
pub(crate) fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

/// A library function: an inner mlua function behind the trampoline.
pub(crate) fn lib_fn<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, &Args) -> LibResult<MultiValue> + 'static,
{
    let inner = lua.create_function(move |lua, vals: MultiValue| {
        let exact = EXACT_ARGS.with(|e| std::mem::take(&mut *e.borrow_mut()));
        let args = Args {
            vals: vals.into_vec(),
            exact,
        };
        let failed = |kind: i64, narg: i32, msg: String| -> mlua::Result<MultiValue> {
            Ok(MultiValue::from_vec(vec![
                Value::LightUserData(LightUserData(error_mark())),
                Value::Integer(kind),
                Value::Integer(narg as i64),
                Value::String(lua.create_string(msg)?),
            ]))
        };
        match f(lua, &args) {
            Ok(v) => Ok(v),
            Err(LibError::Arg(narg, msg)) => failed(1, narg, msg),
            Err(LibError::Msg(msg)) => failed(2, 0, msg),
            Err(LibError::Raw(msg)) => failed(3, 0, msg),
            Err(LibError::Lua(e)) => Err(e),
        }
    })?;
    // SAFETY: `trampoline` follows the Lua C API contract: it only touches
    // its own stack frame (its arguments and upvalue 1, the inner function
    // pushed here), calls the inner function in protected mode so no Lua
    // error unwinds through Rust code, and raises errors with `lua_error`
    // / `luaL_argerror` only from its own frame, which holds no value
    // needing a destructor (the thread-local is released before).
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// Sets `name` in `t` to the library function `f`.
pub(crate) fn set_fn<F>(lua: &Lua, t: &Table, name: &str, f: F) -> mlua::Result<()>
where
    F: Fn(&Lua, &Args) -> LibResult<MultiValue> + 'static,
{
    t.raw_set(name, lib_fn(lua, f)?)
}

/// One return value.
pub(crate) fn one(v: Value) -> LibResult<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain interpreter with the libraries.
    pub(crate) fn lua() -> Lua {
        let lua = Lua::new();
        register(&lua).expect("register");
        lua
    }

    /// Runs `code` as a chunk named like a Redis script; returns its first
    /// result as a string, or the error message.
    pub(crate) fn run(lua: &Lua, code: &str) -> String {
        let f = lua
            .load(code)
            .set_name("@user_script")
            .into_function()
            .expect("compiles");
        let pcall: Function = lua.globals().get("pcall").expect("pcall");
        match pcall.call::<MultiValue>(f) {
            Ok(mut r) => {
                let ok = matches!(r.pop_front(), Some(Value::Boolean(true)));
                let v = r.pop_front().unwrap_or(Value::Nil);
                let text = match &v {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Number(n) => resp::format_g(*n, 14),
                    other => other.to_string().unwrap_or_default(),
                };
                if ok {
                    text
                } else {
                    format!("error: {text}")
                }
            }
            Err(e) => format!("mlua error: {e}"),
        }
    }

    #[test]
    fn errors_carry_the_callers_position_and_the_functions_name() {
        let lua = lua();
        assert_eq!(
            run(&lua, "return struct.pack('q', 1)"),
            "error: user_script:1: bad argument #1 to 'pack' (invalid format option 'q')"
        );
        assert_eq!(
            run(&lua, "local f = struct.pack\nreturn f('q')"),
            "error: user_script:2: bad argument #1 to 'f' (invalid format option 'q')"
        );
        // A C caller (pcall) has no position, and no name for the callee.
        assert_eq!(
            run(
                &lua,
                "local ok, e = pcall(cjson.decode, 'x') return type(e) .. ':' .. e"
            ),
            "string:Expected value but found invalid token at character 1"
        );
        assert_eq!(
            run(&lua, "local ok, e = pcall(cjson.encode) return e"),
            "bad argument #1 to '?' (expected 1 argument)"
        );
    }

    #[test]
    fn big_tables_do_not_exhaust_mlua_references() {
        let lua = lua();
        let code = "local t = {} for i = 1, 100000 do t['k' .. i] = {i} end \
            local j = cjson.decode(cjson.encode(t)) \
            local m = cmsgpack.unpack(cmsgpack.pack(t)) \
            return j.k99999[1] + m.k100000[1]";
        assert_eq!(run(&lua, code), "199999");
    }

    #[test]
    fn tiny_numbers_reach_the_libraries_exactly() {
        let lua = lua();
        assert_eq!(run(&lua, "return cjson.encode(1e-20)"), "1e-20");
        assert_eq!(run(&lua, "return cjson.encode(-0.0)"), "-0");
        assert_eq!(
            run(&lua, "return cjson.encode({1e-20, -0.0})"),
            "[1e-20,-0]"
        );
    }
}
