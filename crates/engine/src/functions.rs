//! Functions: FUNCTION LOAD / LIST / DELETE / FLUSH / STATS / KILL / DUMP /
//! RESTORE / HELP, FCALL and FCALL_RO.
//!
//! A library is Lua code that starts with `#!lua name=<library>` and calls
//! `redis.register_function` for each of its functions. The node keeps the
//! libraries' code; each thread's interpreter (see `scripting.rs`) loads
//! them when they change and runs a function like a script.
//!
//! Loading runs the library's code in an environment of its own, as Redis
//! does: while it loads, the only global is a small `redis` table
//! (`register_function`, `log`, the log levels and the version); once it
//! has loaded, its functions see the normal script globals. FUNCTION LOAD
//! gives up after 500 ms of Lua (`FUNCTION LOAD timeout`).
//!
//! FUNCTION DUMP writes Redis's payload: for each library the RDB opcode
//! `FUNCTION2` and its code as an RDB string, then the RDB version and a
//! CRC64 (see the `rdb` crate), so payloads move between Ferrocache and
//! Redis both ways.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use mlua::{Lua, Table, Value};

use crate::error::{CmdError, CmdResult};
use crate::scripting::{keys_and_args, run, with_vm, Target};
use crate::{Ctx, Handler};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("fcall", fcall),
    ("fcall_ro", fcall_ro),
    ("function|load", function_load),
    ("function|delete", function_delete),
    ("function|dump", function_dump),
    ("function|restore", function_restore),
    ("function|flush", function_flush),
    ("function|list", function_list),
    ("function|stats", function_stats),
    ("function|kill", function_kill),
    ("function|help", function_help),
];

/// The function flags, in the order FUNCTION LIST shows them (Redis's
/// `scripts_flags_def`); a function's flags are a bit mask over this list.
const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

const NO_WRITES: u32 = 1;
const ALLOW_OOM: u32 = 2;

/// How long FUNCTION LOAD lets a library's code run.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// One registered function as FUNCTION LIST shows it.
#[derive(Clone)]
struct Meta {
    name: String,
    flags: u32,
    description: Option<Vec<u8>>,
}

#[derive(Clone)]
struct Library {
    code: Arc<[u8]>,
    functions: Vec<Meta>,
}

/// The node's libraries.
#[derive(Default)]
pub struct Libraries {
    libs: parking_lot::RwLock<BTreeMap<String, Library>>,
    /// Bumped on every change: interpreters then reload.
    generation: AtomicU64,
}

/// The functions one interpreter has loaded.
#[derive(Default)]
pub(crate) struct Loaded {
    generation: u64,
    functions: HashMap<String, mlua::Function>,
}

/// Builds a library's environment and its `redis.register_function`.
/// Returns the environment, a runner that loads the compiled library in it
/// (`ok, err, registered`), and nothing else leaks out: the load-time
/// `redis` table exists only here.
const LOADER: &str = r#"
local real, log, version, version_num, error_table = ...
local error, type, next, tostring, rawget, setmetatable, pcall, select =
  error, type, next, tostring, rawget, setmetatable, pcall, select
local lower, find = string.lower, string.find
local FLAGS = {['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4,
  ['no-cluster'] = 8, ['allow-cross-slot-keys'] = 16}
local loading = true
local reg, names = {}, {}
local function fail(msg) error(error_table('ERR ' .. msg), 0) end
local function readonly() error('Attempt to modify a readonly table', 2) end
local function missing(k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end
local function isstring(v)
  local t = type(v)
  return t == 'string' or t == 'number'
end
local function register(...)
  if not loading then fail('redis.register_function can only be called on FUNCTION LOAD command') end
  local n = select('#', ...)
  if n < 1 or n > 2 then fail('wrong number of arguments to redis.register_function') end
  local a, b = ...
  local name, cb, flags, desc
  if n == 1 then
    if type(a) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in next, a do
      if not isstring(k) then fail('named argument key given to redis.register_function is not a string') end
      local key = lower(tostring(k))
      if key == 'function_name' then
        if not isstring(v) then fail('function_name argument given to redis.register_function must be a string') end
        name = tostring(v)
      elseif key == 'description' then
        if not isstring(v) then fail('description argument given to redis.register_function must be a string') end
        desc = tostring(v)
      elseif key == 'callback' then
        if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
        cb = v
      elseif key == 'flags' then
        if type(v) ~= 'table' then
          fail('flags argument to redis.register_function must be a table representing function flags')
        end
        local seen = {}
        flags = 0
        local j = 1
        while true do
          local f = v[j]
          if f == nil then break end
          local bit = isstring(f) and FLAGS[lower(tostring(f))]
          if not bit then fail('unknown flag given') end
          if not seen[bit] then seen[bit] = true; flags = flags + bit end
          j = j + 1
        end
      else
        fail('unknown argument given to redis.register_function')
      end
    end
    if name == nil then fail('redis.register_function must get a function name argument') end
    if cb == nil then fail('redis.register_function must get a callback argument') end
  else
    if not isstring(a) then fail('first argument to redis.register_function must be a string') end
    if type(b) ~= 'function' then fail('second argument to redis.register_function must be a function') end
    name, cb = tostring(a), b
  end
  if name == '' or find(name, '[^%w_]') then
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  if names[name] then fail('Function already exists in the library') end
  names[name] = true
  reg[#reg + 1] = {name = name, callback = cb, flags = flags or 0, description = desc}
end
-- The `redis` of the loading code: nothing but these.
local api = {register_function = register, log = log, LOG_DEBUG = 0, LOG_VERBOSE = 1,
  LOG_NOTICE = 2, LOG_WARNING = 3, REDIS_VERSION = version, REDIS_VERSION_NUM = version_num}
local lib_redis = setmetatable({}, {
  __index = function(_, k)
    local v = rawget(api, k)
    if v == nil then missing(k) end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})
-- The library's globals: the load-time API while it loads, the normal
-- (read-only) script globals afterwards.
local env = setmetatable({}, {
  __index = function(_, k)
    if loading then
      if k == 'redis' then return lib_redis end
      missing(k)
    end
    local v = rawget(real, k)
    if v == nil then missing(k) end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})
return env, function(chunk)
  local ok, err = pcall(chunk)
  loading = false
  return ok, err, reg
end
"#;

fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// A library's code split as Redis's `functionExtractLibMetaData` does:
/// the name from the `#!<engine> name=<name>` line, and the code after
/// that line (its newline kept, so line numbers stay right).
struct Metadata<'a> {
    name: String,
    body: &'a [u8],
}

fn metadata(code: &[u8]) -> Result<Metadata<'_>, CmdError> {
    if !code.starts_with(b"#!") {
        return Err(CmdError::new("ERR Missing library metadata"));
    }
    let Some(nl) = memchr::memchr(b'\n', code) else {
        return Err(CmdError::new("ERR Invalid library metadata"));
    };
    let parts = resp::split_inline_args(&code[..nl])
        .filter(|p| !p.is_empty())
        .ok_or_else(|| CmdError::new("ERR Invalid library metadata"))?;
    let engine = parts[0].get(2..).unwrap_or_default();
    let mut name: Option<&[u8]> = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(CmdError::new(
                    "ERR Invalid metadata value, name argument was given multiple times",
                ));
            }
            name = Some(&part[5..]);
            continue;
        }
        return Err(CmdError::quoting(
            "ERR Invalid metadata value given: {}",
            &[part],
        ));
    }
    let name = name.ok_or_else(|| CmdError::new("ERR Library name was not given"))?;
    if !valid_name(name) {
        return Err(CmdError::new(format!("ERR {BAD_NAME}")));
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(CmdError::quoting("ERR Engine '{}' not found", &[engine]));
    }
    Ok(Metadata {
        name: String::from_utf8_lossy(name).into_owned(),
        body: &code[nl..],
    })
}

thread_local! {
    /// When the library loading on this thread must stop.
    static LOAD_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The hook while a library loads with a time limit: past it, every line
/// of the library fails (as Redis, so the error cannot be swallowed); the
/// loader's own lines, after the library's `pcall`, go on.
fn load_hook(lua: &Lua, dbg: mlua::Debug) -> mlua::Result<mlua::VmState> {
    if dbg.source().source.as_deref() == Some("=loader") {
        return Ok(mlua::VmState::Continue);
    }
    if LOAD_DEADLINE.get().is_some_and(|d| Instant::now() >= d) {
        lua.set_hook(mlua::HookTriggers::new().every_line(), load_hook);
        return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
    }
    Ok(mlua::VmState::Continue)
}

/// The text of a Lua error value as Redis reports it (`ERR ...`).
fn lua_error_text(v: &Value) -> String {
    match v {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "ERR unknown error".to_string(),
        },
        Value::String(s) => format!("ERR {}", String::from_utf8_lossy(&s.as_bytes())),
        Value::Error(e) => {
            let text = match e.as_ref() {
                mlua::Error::CallbackError { cause, .. } => cause.to_string(),
                other => other.to_string(),
            };
            let text = text.strip_prefix("runtime error: ").unwrap_or(&text);
            format!("ERR {text}")
        }
        other => format!("ERR {}", other.to_string().unwrap_or_default()),
    }
}

/// `{err = msg, line = N}`: a register_function error, with the line of
/// the library that made the call (for errors raised while a function
/// runs, as Redis reports them).
fn error_table(lua: &Lua, msg: mlua::String) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("err", msg)?;
    let line = (1..8).find_map(|level| {
        let d = lua.inspect_stack(level)?;
        let ours = d.source().source.as_deref() == Some("@user_function");
        (ours && d.curr_line() > 0).then(|| d.curr_line())
    });
    if let Some(line) = line {
        t.set("line", line)?;
    }
    Ok(t)
}

/// Runs a library's code in `lua` (for at most `timeout`); returns its
/// name and functions.
fn load(
    lua: &Lua,
    code: &[u8],
    timeout: Option<Duration>,
) -> Result<(String, Vec<(Meta, mlua::Function)>), CmdError> {
    let md = metadata(code)?;
    let internal = |e: mlua::Error| CmdError::new(format!("ERR Error registering functions: {e}"));
    let real: Table = lua
        .named_registry_value(crate::scripting::REAL_GLOBALS)
        .map_err(internal)?;
    let redis: Table = real.get("redis").map_err(internal)?;
    let (env, runner): (Table, mlua::Function) = lua
        .load(LOADER)
        .set_name("=loader")
        .call((
            real,
            redis.get::<Value>("log").map_err(internal)?,
            redis.get::<Value>("REDIS_VERSION").map_err(internal)?,
            redis.get::<Value>("REDIS_VERSION_NUM").map_err(internal)?,
            lua.create_function(error_table).map_err(internal)?,
        ))
        .map_err(internal)?;
    let chunk = crate::scripting::compile_chunk(
        lua,
        md.body,
        c"@user_function",
        &env,
        "ERR Error compiling function: ",
    )?;
    if let Some(t) = timeout {
        LOAD_DEADLINE.set(Some(Instant::now() + t));
        lua.set_hook(crate::scripting::WATCH_EVERY, load_hook);
    }
    let outcome = runner.call::<(bool, Value, Table)>(chunk);
    if timeout.is_some() {
        LOAD_DEADLINE.set(None);
        lua.set_hook(crate::scripting::WATCH_EVERY, crate::scripting::watchdog);
    }
    let (ok, err, reg) = outcome.map_err(internal)?;
    if !ok {
        return Err(CmdError::new(format!(
            "ERR Error registering functions: {}",
            lua_error_text(&err)
        )));
    }
    let mut out: Vec<(Meta, mlua::Function)> = Vec::new();
    for item in reg.sequence_values::<Table>() {
        let item = item.map_err(internal)?;
        let description = match item.get::<Value>("description").map_err(internal)? {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        };
        out.push((
            Meta {
                name: item.get("name").map_err(internal)?,
                flags: item.get("flags").map_err(internal)?,
                description,
            },
            item.get("callback").map_err(internal)?,
        ));
    }
    if out.is_empty() {
        return Err(CmdError::new("ERR No functions registered"));
    }
    Ok((md.name, out))
}

/// Reloads every library into `loaded` if the node's libraries changed.
pub(crate) fn sync(lua: &Lua, loaded: &mut Loaded, libs: &Libraries) -> Result<(), CmdError> {
    let generation = libs.generation.load(Ordering::Acquire);
    if loaded.generation == generation {
        return Ok(());
    }
    loaded.functions.clear();
    let codes: Vec<Arc<[u8]>> = libs.libs.read().values().map(|l| l.code.clone()).collect();
    for code in codes {
        // Already accepted once: no time limit (as Redis loading an RDB).
        let (_, functions) = load(lua, &code, None)?;
        for (meta, f) in functions {
            loaded.functions.insert(meta.name.to_ascii_lowercase(), f);
        }
    }
    loaded.generation = generation;
    Ok(())
}

/// The loaded function `name`.
pub(crate) fn function(loaded: &Loaded, name: &str) -> Result<mlua::Function, CmdError> {
    loaded
        .functions
        .get(&name.to_ascii_lowercase())
        .cloned()
        .ok_or_else(|| CmdError::new("ERR Function not found"))
}

/// A function's flags (None if it does not exist).
fn flags_of(ctx: &Ctx, name: &str) -> Option<u32> {
    server_flags_of(ctx.server, name)
}

fn server_flags_of(server: &crate::Server, name: &str) -> Option<u32> {
    server
        .functions
        .libs
        .read()
        .values()
        .flat_map(|l| l.functions.iter())
        .find(|m| m.name.eq_ignore_ascii_case(name))
        .map(|m| m.flags)
}

/// Whether FCALL of `name` may write (CLIENT PAUSE WRITE holds it): not
/// when the function declares `no-writes`; an unknown function may.
pub(crate) fn may_write(server: &crate::Server, name: &[u8]) -> bool {
    server_flags_of(server, &String::from_utf8_lossy(name)).is_none_or(|f| f & NO_WRITES == 0)
}

/// Whether FCALL of `name` counts as a write before it runs (for
/// `min-replicas-to-write` and read-only replicas): a known function
/// without `no-writes`.
pub(crate) fn declares_writes(server: &crate::Server, name: &[u8]) -> bool {
    server_flags_of(server, &String::from_utf8_lossy(name)).is_some_and(|f| f & NO_WRITES == 0)
}

/// Whether FCALL of `name` is refused above maxmemory: a function that may
/// write and does not declare `allow-oom`.
pub(crate) fn refused_when_oom(server: &crate::Server, name: &[u8]) -> bool {
    server_flags_of(server, &String::from_utf8_lossy(name))
        .is_some_and(|f| f & (NO_WRITES | ALLOW_OOM) == 0)
}

fn fcall_generic(ctx: &mut Ctx, a: &[&[u8]], ro_command: bool) -> CmdResult {
    let name = String::from_utf8_lossy(a[1]).into_owned();
    let flags = flags_of(ctx, &name).ok_or_else(|| CmdError::new("ERR Function not found"))?;
    if crate::args::parse_i64(a[2]).is_none() {
        return Err(CmdError::new("ERR Bad number of keys provided"));
    }
    if flags & ALLOW_OOM != 0 {
        crate::evict::refuse_writes(false);
    }
    let (keys, argv) = keys_and_args(a)?;
    let no_writes = flags & NO_WRITES != 0;
    if ro_command && !no_writes {
        return Err(CmdError::new(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    run(
        ctx,
        a,
        Target::Function { name: &name },
        keys,
        argv,
        no_writes,
    )
}

fn fcall(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, a, false)
}

fn fcall_ro(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, a, true)
}

/// Redis's `addReplySubcommandSyntaxError` for FUNCTION.
fn subcommand_syntax(a: &[&[u8]]) -> CmdError {
    CmdError::quoting(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        &[&a[1][..a[1].len().min(128)]],
    )
}

/// The functions of `libs` other than those of the libraries in `except`
/// that clash (case-insensitively) with `new`: the first clash's name.
fn clash<'a>(
    libs: &BTreeMap<String, Library>,
    except: &[&str],
    new: impl IntoIterator<Item = &'a Meta>,
) -> Option<String> {
    new.into_iter()
        .find(|meta| {
            libs.iter()
                .filter(|(lib, _)| !except.contains(&lib.as_str()))
                .flat_map(|(_, l)| l.functions.iter())
                .any(|m| m.name.eq_ignore_ascii_case(&meta.name))
        })
        .map(|m| m.name.clone())
}

/// Compiles and runs a library's code on this thread's interpreter (with
/// the FUNCTION LOAD time limit) and returns its name and functions.
fn compile_library(ctx: &Ctx, code: &[u8]) -> Result<(String, Vec<Meta>), CmdError> {
    compile_on(ctx.server, code)
}

fn compile_on(server: &crate::Server, code: &[u8]) -> Result<(String, Vec<Meta>), CmdError> {
    let (name, functions) = with_vm(server, |vm| load(&vm.lua, code, Some(LOAD_TIMEOUT)))??;
    Ok((name, functions.into_iter().map(|(m, _)| m).collect()))
}

/// Every library's code (an RDB file's function section).
pub(crate) fn library_codes(server: &crate::Server) -> Vec<Vec<u8>> {
    server
        .functions
        .libs
        .read()
        .values()
        .map(|l| l.code.to_vec())
        .collect()
}

/// Adds a library read from an RDB file: an existing one of that name is
/// an error unless `replace`, a function clashing with another library's
/// always (as when Redis loads a file).
pub(crate) fn load_library_code(
    server: &crate::Server,
    code: &[u8],
    replace: bool,
) -> Result<(), String> {
    let (name, functions) = compile_on(server, code).map_err(|e| e.text().into_owned())?;
    let libs = &server.functions;
    let mut map = libs.libs.write();
    if map.contains_key(&name) && !replace {
        return Err(format!("library '{name}' already exists"));
    }
    if let Some(taken) = clash(&map, &[name.as_str()], &functions) {
        return Err(format!("function {taken} already exists"));
    }
    map.insert(
        name,
        Library {
            code: code.into(),
            functions,
        },
    );
    libs.generation.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// Removes every library (DEBUG RELOAD before loading the file back).
pub(crate) fn flush_all(server: &crate::Server) {
    server.functions.libs.write().clear();
    server.functions.generation.fetch_add(1, Ordering::AcqRel);
}

fn function_load(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Libraries are data the AOF must carry: propagated when they succeed.
    ctx.force_propagation();
    let code = a[a.len() - 1];
    let mut replace = false;
    for opt in &a[2..a.len() - 1] {
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else {
            return Err(CmdError::quoting("ERR Unknown option given: {}", &[opt]));
        }
    }
    // Checked before running the code, as Redis; again when storing it.
    let md = metadata(code)?;
    let exists = |libs: &BTreeMap<String, Library>| {
        if libs.contains_key(&md.name) && !replace {
            Err(CmdError::new(format!(
                "ERR Library '{}' already exists",
                md.name
            )))
        } else {
            Ok(())
        }
    };
    exists(&ctx.server.functions.libs.read())?;
    let (name, functions) = compile_library(ctx, code)?;
    let libs = &ctx.server.functions;
    let mut map = libs.libs.write();
    exists(&map)?;
    if let Some(taken) = clash(&map, &[&name], &functions) {
        return Err(CmdError::new(format!(
            "ERR Function {taken} already exists"
        )));
    }
    map.insert(
        name.clone(),
        Library {
            code: code.into(),
            functions,
        },
    );
    libs.generation.fetch_add(1, Ordering::AcqRel);
    drop(map);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Libraries are data the AOF must carry: propagated when they succeed.
    ctx.force_propagation();
    let name = String::from_utf8_lossy(a[2]).into_owned();
    let libs = &ctx.server.functions;
    if libs.libs.write().remove(&name).is_none() {
        return Err(CmdError::new("ERR Library not found"));
    }
    libs.generation.fetch_add(1, Ordering::AcqRel);
    ctx.out.ok();
    Ok(())
}

fn function_dump(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let compression = ctx.server.config.get_bool("rdbcompression");
    let mut payload = Vec::new();
    for lib in ctx.server.functions.libs.read().values() {
        payload.push(rdb::OPCODE_FUNCTION2);
        rdb::encoding::write_string(&mut payload, &lib.code, compression);
    }
    rdb::dump::seal(&mut payload);
    ctx.out.bulk(&payload);
    Ok(())
}

/// The library codes in a FUNCTION DUMP payload's body (`rdbFunctionLoad`;
/// the old 7.0-rc format is turned into a `#!engine name=` header).
fn payload_codes(body: &[u8]) -> Result<Vec<Vec<u8>>, CmdError> {
    let fail = |m: &str| CmdError::new(format!("ERR {m}"));
    let mut codes = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let opcode = body[pos];
        pos += 1;
        let read = |pos: &mut usize, what: &str| {
            rdb::encoding::read_string(body, pos).map_err(|_| fail(what))
        };
        match opcode {
            rdb::OPCODE_FUNCTION2 => codes.push(read(&mut pos, "Failed loading library payload")?),
            rdb::OPCODE_FUNCTION => {
                let name = read(&mut pos, "Failed loading library name")?;
                let engine = read(&mut pos, "Failed loading engine name")?;
                let (has_desc, _) = rdb::encoding::read_len(body, &mut pos)
                    .map_err(|_| fail("Failed loading library description indicator"))?;
                if has_desc != 0 {
                    read(&mut pos, "Failed loading library description")?;
                }
                let blob = read(&mut pos, "Failed loading library blob")?;
                let mut code = b"#!".to_vec();
                code.extend_from_slice(&engine);
                code.extend_from_slice(b" name=");
                code.extend_from_slice(&name);
                code.push(b'\n');
                code.extend_from_slice(&blob);
                codes.push(code);
            }
            _ => return Err(fail("given type is not a function")),
        }
    }
    Ok(codes)
}

#[derive(PartialEq)]
enum Policy {
    Flush,
    Append,
    Replace,
}

fn function_restore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Libraries are data the AOF must carry: propagated when they succeed.
    ctx.force_propagation();
    if a.len() > 4 {
        return Err(subcommand_syntax(a));
    }
    let policy =
        match a.get(3) {
            None => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
            Some(_) => return Err(CmdError::new(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let Some((body, _version)) = rdb::dump::open(a[2]) else {
        return Err(CmdError::new(
            "ERR DUMP payload version or checksum are wrong",
        ));
    };
    // Load every library first, on its own, as Redis does in a new context.
    let mut restored: BTreeMap<String, Library> = BTreeMap::new();
    for code in payload_codes(body)? {
        let md = metadata(&code)?;
        if restored.contains_key(&md.name) {
            return Err(CmdError::new(format!(
                "ERR Library '{}' already exists",
                md.name
            )));
        }
        let (name, functions) = compile_library(ctx, &code)?;
        if let Some(taken) = clash(&restored, &[], &functions) {
            return Err(CmdError::new(format!(
                "ERR Function {taken} already exists"
            )));
        }
        restored.insert(
            name,
            Library {
                code: code.into(),
                functions,
            },
        );
    }
    let libs = &ctx.server.functions;
    let mut map = libs.libs.write();
    if policy == Policy::Flush {
        *map = restored;
    } else {
        let mut replaced: Vec<&str> = Vec::new();
        for name in restored.keys() {
            if map.contains_key(name) {
                if policy == Policy::Append {
                    return Err(CmdError::new(format!("ERR Library {name} already exists")));
                }
                replaced.push(name);
            }
        }
        let new = restored.values().flat_map(|l| l.functions.iter());
        if let Some(taken) = clash(&map, &replaced, new) {
            return Err(CmdError::new(format!(
                "ERR Function {taken} already exists"
            )));
        }
        map.extend(restored);
    }
    libs.generation.fetch_add(1, Ordering::AcqRel);
    drop(map);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    // Libraries are data the AOF must carry: propagated when they succeed.
    ctx.force_propagation();
    if a.len() > 3 {
        return Err(subcommand_syntax(a));
    }
    if !crate::scripting::flush_mode_ok(a) {
        return Err(CmdError::new(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    let libs = &ctx.server.functions;
    libs.libs.write().clear();
    libs.generation.fetch_add(1, Ordering::AcqRel);
    ctx.out.ok();
    Ok(())
}

fn function_list(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < a.len() {
        if !with_code && a[i].eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a[i].eq_ignore_ascii_case(b"libraryname") {
            if i + 1 >= a.len() {
                return Err(CmdError::new("ERR library name argument was not given"));
            }
            pattern = Some(a[i + 1]);
            i += 1;
        } else {
            return Err(CmdError::quoting("ERR Unknown argument {}", &[a[i]]));
        }
        i += 1;
    }
    let libs = ctx.server.functions.libs.read();
    let selected: Vec<(&String, &Library)> = libs
        .iter()
        .filter(|(n, _)| pattern.is_none_or(|p| keyspace::glob::glob_match(p, n.as_bytes(), true)))
        .collect();
    let out = &mut ctx.out;
    out.array(selected.len());
    for (name, lib) in selected {
        out.map(3 + with_code as usize);
        out.bulk_str("library_name");
        out.bulk_str(name);
        out.bulk_str("engine");
        out.bulk_str("LUA");
        out.bulk_str("functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk_str("name");
            out.bulk_str(&f.name);
            out.bulk_str("description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk_str("flags");
            let names: Vec<&str> = FLAGS
                .iter()
                .enumerate()
                .filter(|(bit, _)| f.flags & (1 << bit) != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for fl in names {
                out.simple(fl);
            }
        }
        if with_code {
            out.bulk_str("library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

impl Libraries {
    /// (libraries, functions, bytes of library code), for INFO and
    /// FUNCTION STATS.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let libs = self.libs.read();
        (
            libs.len(),
            libs.values().map(|l| l.functions.len()).sum(),
            libs.values().map(|l| l.code.len()).sum(),
        )
    }
}

fn function_stats(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let (nlibs, nfuncs, _) = ctx.server.functions.counts();
    let out = &mut ctx.out;
    out.map(2);
    out.bulk_str("running_script");
    match ctx.server.script_state.oldest() {
        None => out.null(),
        Some((name, command, ms)) => {
            out.map(3);
            out.bulk_str("name");
            out.bulk_str(&name);
            out.bulk_str("command");
            out.array(command.len());
            for arg in &command {
                out.bulk(arg);
            }
            out.bulk_str("duration_ms");
            out.int(ms as i64);
        }
    }
    out.bulk_str("engines");
    out.map(1);
    out.bulk_str("LUA");
    out.map(2);
    out.bulk_str("libraries_count");
    out.int(nlibs as i64);
    out.bulk_str("functions_count");
    out.int(nfuncs as i64);
    Ok(())
}

fn function_kill(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    crate::scripting::function_kill(ctx)
}

fn function_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    crate::generic::help(
        ctx,
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_parsing() {
        let md = metadata(b"#!lua name=lib\nreturn 1").expect("valid");
        assert_eq!(md.name, "lib");
        assert_eq!(md.body, b"\nreturn 1");
        assert_eq!(
            metadata(b"#!LUA NAME=\"x\"\n").map(|m| m.name).ok(),
            Some("x".into())
        );
        let err = |c: &[u8]| metadata(c).err().map(|e| e.text().into_owned());
        assert_eq!(
            err(b"return 1").as_deref(),
            Some("ERR Missing library metadata")
        );
        assert_eq!(
            err(b"#!lua name=x").as_deref(),
            Some("ERR Invalid library metadata")
        );
        assert_eq!(
            err(b"#!lua name=\"x\n").as_deref(),
            Some("ERR Invalid library metadata")
        );
        assert_eq!(
            err(b"#! name=test\n").as_deref(),
            Some("ERR Engine '' not found")
        );
        assert_eq!(
            err(b"#!lua\n").as_deref(),
            Some("ERR Library name was not given")
        );
        assert_eq!(
            err(b"#!lua name=a name=b\n").as_deref(),
            Some("ERR Invalid metadata value, name argument was given multiple times")
        );
        assert_eq!(
            err(b"#!lua name=a foo=bar\n").as_deref(),
            Some("ERR Invalid metadata value given: foo=bar")
        );
        assert_eq!(
            err(b"#!x name=a-b\n").as_deref(),
            Some(&*format!("ERR {BAD_NAME}"))
        );
    }

    #[test]
    fn payload_bodies() {
        let mut body = vec![rdb::OPCODE_FUNCTION2];
        rdb::encoding::write_string(&mut body, b"#!lua name=a\nx", true);
        body.push(rdb::OPCODE_FUNCTION);
        for s in [&b"old"[..], b"LUA"] {
            rdb::encoding::write_string(&mut body, s, true);
        }
        body.push(0); // no description
        rdb::encoding::write_string(&mut body, b"return 1", true);
        let codes = payload_codes(&body).expect("valid");
        assert_eq!(
            codes,
            vec![
                b"#!lua name=a\nx".to_vec(),
                b"#!LUA name=old\nreturn 1".to_vec()
            ]
        );
        assert_eq!(
            payload_codes(&[0])
                .err()
                .map(|e| e.text().into_owned())
                .as_deref(),
            Some("ERR given type is not a function")
        );
        assert_eq!(
            payload_codes(&[rdb::OPCODE_FUNCTION2, 5, b'a'])
                .err()
                .map(|e| e.text().into_owned())
                .as_deref(),
            Some("ERR Failed loading library payload")
        );
    }
}
