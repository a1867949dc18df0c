//! Functions: FUNCTION LOAD / LIST / DELETE / FLUSH / STATS / KILL / HELP,
//! FCALL and FCALL_RO.
//!
//! A library is Lua code that starts with `#!lua name=<library>` and calls
//! `redis.register_function` for each of its functions. The node keeps the
//! libraries' code; each thread's interpreter (see `scripting.rs`) loads
//! them when they change and runs a function like a script.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    ("function|flush", function_flush),
    ("function|list", function_list),
    ("function|stats", function_stats),
    ("function|kill", function_kill),
    ("function|help", function_help),
];

/// One registered function as FUNCTION LIST shows it.
#[derive(Clone)]
struct Meta {
    name: String,
    flags: Vec<String>,
    description: Option<String>,
}

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

/// Builds a library's loading environment: `redis.register_function`
/// collects into the returned list; everything else is the normal sandbox.
const LOADER: &str = r#"
local real = ...
local reg = {}
local fredis = {}
fredis.register_function = function(a, b)
  local name, cb, flags, description
  if type(a) == 'table' then
    name, cb, flags, description = a.function_name, a.callback, a.flags, a.description
  else
    name, cb = a, b
  end
  if type(name) ~= 'string' then error('function_name argument given to redis.register_function must be a string', 2) end
  if type(cb) ~= 'function' then error('callback argument given to redis.register_function must be a function', 2) end
  if flags ~= nil and type(flags) ~= 'table' then error('flags argument to redis.register_function must be a table representing function flags', 2) end
  table.insert(reg, {name = name, callback = cb, flags = flags or {}, description = description})
end
setmetatable(fredis, {
  __index = redis,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})
-- No raw fields: every global, `redis` included, stays read-only.
local env = setmetatable({}, {
  __index = function(_, k)
    if k == 'redis' then return fredis end
    local v = rawget(real, k)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = getmetatable(_G),
})
return env, reg
"#;

const FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `#!lua name=<lib>` and returns (library name, code after it).
fn metadata(code: &[u8]) -> Result<(String, &[u8]), CmdError> {
    let text = code;
    if !text.starts_with(b"#!") {
        return Err(CmdError::new("ERR Missing library metadata"));
    }
    let nl = text.iter().position(|&c| c == b'\n').unwrap_or(text.len());
    let line = String::from_utf8_lossy(&text[2..nl]).into_owned();
    let mut parts = line.split_whitespace();
    let engine = parts.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(CmdError::new(format!("ERR Engine '{engine}' not found")));
    }
    let mut name = None;
    for p in parts {
        match p.split_once('=') {
            Some(("name", v)) => name = Some(v.to_string()),
            _ => {
                return Err(CmdError::new(format!(
                    "ERR Invalid metadata value given: {p}"
                )))
            }
        }
    }
    let name = name.ok_or_else(|| CmdError::new("ERR Library name was not given"))?;
    if !valid_name(&name) {
        return Err(CmdError::new(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    // The shebang line is blanked, not removed, so line numbers stay right.
    Ok((name, &code[nl..]))
}

/// Runs a library's code in `lua`; returns its name and functions.
fn load(lua: &Lua, code: &[u8]) -> Result<(String, Vec<(Meta, mlua::Function)>), CmdError> {
    let (name, body) = metadata(code)?;
    let err = |e: mlua::Error| {
        let msg = match &e {
            mlua::Error::SyntaxError { message, .. } => message.clone(),
            mlua::Error::RuntimeError(m) => m.clone(),
            mlua::Error::CallbackError { cause, .. } => cause.to_string(),
            other => other.to_string(),
        };
        CmdError::new(format!("ERR Error registering functions: {msg}"))
    };
    let real: Table = lua
        .named_registry_value(crate::scripting::REAL_GLOBALS)
        .map_err(err)?;
    let (env, reg): (Table, Table) = lua
        .load(LOADER)
        .set_name("=loader")
        .call(real)
        .map_err(err)?;
    let chunk = lua
        .load(body)
        .set_name("@user_function")
        .set_environment(env)
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            CmdError::new(format!("ERR Error compiling function: {msg}"))
        })?;
    chunk.call::<()>(()).map_err(err)?;
    let mut out: Vec<(Meta, mlua::Function)> = Vec::new();
    for item in reg.sequence_values::<Table>() {
        let item = item.map_err(err)?;
        let fname: String = item.get("name").map_err(err)?;
        if !valid_name(&fname) {
            return Err(CmdError::new(
                "ERR Function names can only contain letters, numbers, or underscores(_) and must be at least one character long",
            ));
        }
        if out.iter().any(|(m, _)| m.name.eq_ignore_ascii_case(&fname)) {
            return Err(CmdError::new(format!(
                "ERR Function {fname} already exists"
            )));
        }
        let mut flags = Vec::new();
        let ftable: Table = item.get("flags").map_err(err)?;
        for f in ftable.sequence_values::<String>() {
            let f = f.map_err(err)?;
            if !FLAGS.contains(&f.as_str()) {
                return Err(CmdError::new(format!("ERR Unknown flag given: {f}")));
            }
            flags.push(f);
        }
        let description = match item.get::<Value>("description").map_err(err)? {
            Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            _ => None,
        };
        let callback: mlua::Function = item.get("callback").map_err(err)?;
        out.push((
            Meta {
                name: fname,
                flags,
                description,
            },
            callback,
        ));
    }
    if out.is_empty() {
        return Err(CmdError::new("ERR No functions registered"));
    }
    Ok((name, out))
}

/// Reloads every library into `loaded` if the node's libraries changed.
pub(crate) fn sync(lua: &Lua, loaded: &mut Loaded, libs: &Libraries) -> Result<(), CmdError> {
    let generation = libs.generation.load(Ordering::Acquire);
    if loaded.generation == generation {
        return Ok(());
    }
    loaded.functions.clear();
    for lib in libs.libs.read().values() {
        let (_, functions) = load(lua, &lib.code)?;
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
fn flags_of(ctx: &Ctx, name: &str) -> Option<Vec<String>> {
    ctx.server
        .functions
        .libs
        .read()
        .values()
        .flat_map(|l| l.functions.iter())
        .find(|m| m.name.eq_ignore_ascii_case(name))
        .map(|m| m.flags.clone())
}

fn fcall_generic(ctx: &mut Ctx, a: &[&[u8]], ro_command: bool) -> CmdResult {
    if crate::args::parse_i64(a[2]).is_none() {
        return Err(CmdError::new("ERR Bad number of keys provided"));
    }
    let (keys, argv) = keys_and_args(a)?;
    let name = String::from_utf8_lossy(a[1]).into_owned();
    let flags = flags_of(ctx, &name).ok_or_else(|| CmdError::new("ERR Function not found"))?;
    let no_writes = flags.iter().any(|f| f == "no-writes");
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

fn function_load(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let code = a[a.len() - 1];
    let mut replace = false;
    for opt in &a[2..a.len() - 1] {
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else {
            return Err(CmdError::new(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    let (name, functions) = with_vm(ctx.server, |vm| load(&vm.lua, code))??;
    let libs = &ctx.server.functions;
    let mut map = libs.libs.write();
    if map.contains_key(&name) && !replace {
        return Err(CmdError::new(format!(
            "ERR Library '{name}' already exists"
        )));
    }
    for (meta, _) in &functions {
        let taken = map.iter().any(|(lib, l)| {
            *lib != name
                && l.functions
                    .iter()
                    .any(|m| m.name.eq_ignore_ascii_case(&meta.name))
        });
        if taken {
            return Err(CmdError::new(format!(
                "ERR Function {} already exists",
                meta.name
            )));
        }
    }
    map.insert(
        name.clone(),
        Library {
            code: code.into(),
            functions: functions.into_iter().map(|(m, _)| m).collect(),
        },
    );
    libs.generation.fetch_add(1, Ordering::AcqRel);
    drop(map);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(a[2]).into_owned();
    let libs = &ctx.server.functions;
    if libs.libs.write().remove(&name).is_none() {
        return Err(CmdError::new("ERR Library not found"));
    }
    libs.generation.fetch_add(1, Ordering::AcqRel);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
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
        if a[i].eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if a[i].eq_ignore_ascii_case(b"libraryname") {
            if i + 1 >= a.len() {
                return Err(CmdError::new("ERR library name argument was not given"));
            }
            pattern = Some(a[i + 1]);
            i += 1;
        } else {
            return Err(CmdError::new(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a[i])
            )));
        }
        i += 1;
    }
    let libs = ctx.server.functions.libs.read();
    let selected: Vec<(&String, &Library)> = libs
        .iter()
        .filter(|(n, _)| pattern.is_none_or(|p| keyspace::glob::glob_match(p, n.as_bytes(), false)))
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
                Some(d) => out.bulk_str(d),
                None => out.null(),
            }
            out.bulk_str("flags");
            out.set(f.flags.len());
            for fl in &f.flags {
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
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "STATS",
            "    Return information about the current function running.",
            "KILL",
            "    Kill the current running function.",
        ],
    )
}
