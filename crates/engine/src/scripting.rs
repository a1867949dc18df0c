//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! Each worker thread owns a Lua 5.1 interpreter (mlua), sandboxed as in
//! Redis: no `os`, `io`, `loadfile` or `dofile`, and globals that can be
//! neither created nor read when undefined. Script bodies live in the
//! node-wide cache by SHA1; each thread compiles a body the first time it
//! runs it.
//!
//! A script runs atomically under a [`keyspace::Hold`], and its
//! `redis.call`s run through the normal command path on this thread, with a
//! client of its own. Replies are converted between RESP and Lua with
//! Redis's rules.
//!
//! Which shards a script holds: Redis lets a script touch keys it did not
//! declare in KEYS, so a script's first run on a thread holds every shard.
//! A script seen to stay within its declared keys' shards is trusted from
//! then on and holds only those, which lets scripts on different keys run
//! in parallel. If a trusted script reaches for an undeclared shard anyway,
//! it starts over holding every shard when it has done nothing observable
//! yet; after a write it widens its hold out of lock order with a bounded
//! wait, and the call fails if that times out (a deadlock is never risked).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use mlua::{Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use resp::{Protocol, ReplyWriter};

use crate::client::ClientShared;
use crate::error::{CmdError, CmdResult};
use crate::{Client, Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("eval", eval),
    ("evalsha", evalsha),
    ("eval_ro", eval_ro),
    ("evalsha_ro", evalsha_ro),
    ("script|load", script_load),
    ("script|exists", script_exists),
    ("script|flush", script_flush),
    ("script|kill", script_kill),
    ("script|help", script_help),
];

/// The node's script cache: SHA1 (lower-case hex) → body.
#[derive(Default)]
pub struct Scripts {
    bodies: parking_lot::RwLock<HashMap<String, Arc<[u8]>>>,
    /// Bumped by SCRIPT FLUSH: threads then drop their compiled functions.
    generation: AtomicU64,
    /// Memory of every thread's interpreter (INFO used_memory_lua).
    vm_bytes: std::sync::atomic::AtomicI64,
}

impl Scripts {
    /// (cached scripts, bytes of their bodies, bytes of the interpreters).
    pub(crate) fn counts(&self) -> (usize, usize, u64) {
        let bodies = self.bodies.read();
        (
            bodies.len(),
            bodies.values().map(|b| b.len()).sum(),
            self.vm_bytes.load(Ordering::Relaxed).max(0) as u64,
        )
    }
}

/// One running script or function.
#[derive(Default)]
pub(crate) struct ScriptRun {
    /// Its start time (ms).
    started_ms: u64,
    /// The function's name (`f_<sha>` for EVAL scripts, as Redis names
    /// them) and the command that runs it (FUNCTION STATS).
    name: String,
    command: Vec<Vec<u8>>,
    /// It is a function (FCALL), not an EVAL script.
    is_function: bool,
    /// It has run past `busy-reply-threshold`.
    busy: AtomicBool,
    /// SCRIPT KILL / FUNCTION KILL asked it to stop.
    kill: AtomicBool,
    /// It has written (it can then no longer be killed).
    wrote: AtomicBool,
}

/// The scripts running on the node (scripts on different shards run in
/// parallel, see the module doc): one slot per thread that runs scripts,
/// so starting and ending a script touch only the thread's own slot.
#[derive(Default)]
pub struct ScriptState {
    slots: parking_lot::Mutex<Vec<Arc<Slot>>>,
    /// Some script has run past `busy-reply-threshold`: other clients get
    /// BUSY.
    pub busy: AtomicBool,
}

/// The script a thread is running.
#[derive(Default)]
struct Slot {
    run: parking_lot::Mutex<Option<Arc<ScriptRun>>>,
}

thread_local! {
    /// This thread's slot in each node's [`ScriptState`] (by its address;
    /// in-process tests run several nodes).
    static SLOTS: RefCell<Vec<(usize, Arc<Slot>)>> = const { RefCell::new(Vec::new()) };
    /// The record of this thread's last script run, for the next one.
    static SPARE_RUN: RefCell<Option<Arc<ScriptRun>>> = const { RefCell::new(None) };
}

impl ScriptState {
    fn my_slot(&self) -> Arc<Slot> {
        let me = self as *const ScriptState as usize;
        SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            if let Some((_, slot)) = slots.iter().find(|(owner, _)| *owner == me) {
                return slot.clone();
            }
            let slot = Arc::new(Slot::default());
            self.slots.lock().push(slot.clone());
            slots.push((me, slot.clone()));
            slot
        })
    }

    /// Registers this thread's run of a script (`name`: its parts) and
    /// returns it. The previous run's record is reused when no other
    /// thread still looks at it.
    fn start(&self, is_function: bool, name: &[&str], command: &[&[u8]]) -> Arc<ScriptRun> {
        let mut run = SPARE_RUN
            .with(|spare| spare.borrow_mut().take())
            .unwrap_or_default();
        if Arc::get_mut(&mut run).is_none() {
            run = Arc::default();
        }
        if let Some(r) = Arc::get_mut(&mut run) {
            r.started_ms = crate::now_ms();
            r.is_function = is_function;
            r.name.clear();
            name.iter().for_each(|part| r.name.push_str(part));
            r.command.truncate(command.len());
            for (i, arg) in command.iter().enumerate() {
                match r.command.get_mut(i) {
                    Some(kept) => {
                        kept.clear();
                        kept.extend_from_slice(arg);
                    }
                    None => r.command.push(arg.to_vec()),
                }
            }
            *r.busy.get_mut() = false;
            *r.kill.get_mut() = false;
            *r.wrote.get_mut() = false;
        }
        *self.my_slot().run.lock() = Some(run.clone());
        run
    }

    /// Unregisters this thread's run (see [`ScriptState::start`]).
    fn finish(&self, run: Arc<ScriptRun>) {
        *self.my_slot().run.lock() = None;
        if run.busy.load(Ordering::Relaxed) {
            let still = self
                .running()
                .iter()
                .any(|r| r.busy.load(Ordering::Relaxed));
            self.busy.store(still, Ordering::Release);
        }
        SPARE_RUN.with(|spare| *spare.borrow_mut() = Some(run));
    }

    /// Every running script.
    fn running(&self) -> Vec<Arc<ScriptRun>> {
        let slots = self.slots.lock();
        slots.iter().filter_map(|s| s.run.lock().clone()).collect()
    }

    /// Marks `run` busy (past the threshold).
    fn mark_busy(&self, run: &ScriptRun) {
        run.busy.store(true, Ordering::Relaxed);
        self.busy.store(true, Ordering::Release);
    }

    /// The oldest running script: (name, command, ms running), for
    /// FUNCTION STATS.
    pub(crate) fn oldest(&self) -> Option<(String, Vec<Vec<u8>>, u64)> {
        let running = self.running();
        let run = running.iter().min_by_key(|r| r.started_ms)?;
        Some((
            run.name.clone(),
            run.command.clone(),
            crate::now_ms().saturating_sub(run.started_ms),
        ))
    }

    /// The busy script BUSY errors are about (the oldest).
    fn busiest(&self) -> Option<Arc<ScriptRun>> {
        self.running()
            .into_iter()
            .filter(|r| r.busy.load(Ordering::Relaxed))
            .min_by_key(|r| r.started_ms)
    }

    /// The error for commands refused while a script is busy.
    pub fn busy_error(&self) -> &'static str {
        if self.busiest().is_some_and(|r| r.is_function) {
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        } else {
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
        }
    }

    /// SCRIPT KILL (`function`: false) or FUNCTION KILL.
    fn kill(&self, function: bool) -> CmdResult {
        let Some(run) = self.busiest() else {
            return Err(CmdError::new("NOTBUSY No scripts in execution right now."));
        };
        if run.is_function != function {
            // FUNCTION KILL against a script (or the reverse) is refused busy.
            return Err(CmdError::new(self.busy_error()));
        }
        if run.wrote.load(Ordering::Acquire) {
            return Err(CmdError::new(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            ));
        }
        run.kill.store(true, Ordering::Release);
        Ok(())
    }
}

/// Lower-case hex SHA1 of a script body.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Lua code run once per interpreter: the `redis` library's Lua side and
/// the sandbox (`redis.call`, `redis.pcall` and `redis.sha1hex` are C
/// functions, see [`redis_fn`]).
const PRELUDE: &str = r#"
local error, pcall, select = error, pcall, select
-- Bad arguments give an error reply, not a raised error (as in Redis).
local bad_arguments = {err = 'ERR wrong number or type of arguments'}
redis.error_reply = function(msg)
  if type(msg) ~= 'string' then return bad_arguments end
  -- As Redis: a leading '-' is dropped, and a message without an error
  -- code (no space) gets "ERR ".
  if msg:sub(1, 1) == '-' then msg = msg:sub(2) end
  if not msg:find(' ', 1, true) then msg = 'ERR ' .. msg end
  return {err = msg}
end
redis.status_reply = function(msg)
  if type(msg) ~= 'string' then return bad_arguments end
  return {ok = msg}
end
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
loadfile = nil
dofile = nil
print = nil
-- Lua 5.1 does not verify bytecode: loading a binary chunk could corrupt
-- memory, so only source text may be loaded (as in Redis).
local loadstring_source = loadstring
loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then return nil, 'binary code loading is not allowed' end
  return loadstring_source(s, name)
end
load = function(f, name)
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == '' then break end
    parts[#parts + 1] = piece
  end
  return loadstring(table.concat(parts), name)
end
-- Lua 5.1's unpack overflows on huge ranges (Redis patches it the same way).
-- The arguments are passed on as given: each one takes a stack slot of the
-- 8000 the results may use.
local unpack_raw = unpack
unpack = function(t, ...)
  local i, j = ...
  if (j or #t) - (i or 1) >= 8000 then error('too many results to unpack', 2) end
  return unpack_raw(t, ...)
end
-- Read-only tables: the libraries and the globals cannot be changed.
local readonly = {}
local function protect(t)
  local proxy = setmetatable({}, {
    __index = t,
    __newindex = function() error('Attempt to modify a readonly table', 2) end,
    __metatable = false,
  })
  readonly[proxy] = true
  return proxy
end
redis = protect(redis)
string = protect(string)
table = protect(table)
math = protect(math)
cjson = protect(cjson)
cmsgpack = protect(cmsgpack)
bit = protect(bit)
struct = protect(struct)
local setmetatable_raw, rawset_raw = setmetatable, rawset
-- Raised as Redis's C functions raise it: no position in the message, the
-- script's line beside it.
local err_table = __err_table
__err_table = nil
local function readonly_error()
  error(err_table('ERR Attempt to modify a readonly table'), 0)
end
setmetatable = function(t, mt)
  if t == _G or readonly[t] then readonly_error() end
  return setmetatable_raw(t, mt)
end
rawset = function(t, k, v)
  if t == _G or readonly[t] then readonly_error() end
  return rawset_raw(t, k, v)
end
-- Strings share one metatable: scripts may read it, not change it.
local string_mt = getmetatable('')
string_mt.__metatable = protect(string_mt)
-- Scripts and functions see the globals through a read-only proxy (their
-- environment, and their _G): no global can be added, replaced or read
-- when undefined, and its metatable is read-only too.
local real = _G
local env_mt = {
  __index = function(_, k)
    local v = rawget(real, k)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
}
local env = setmetatable_raw({}, env_mt)
env_mt.__metatable = protect(env_mt)
readonly[env] = true
rawset_raw(real, '_G', env)
-- getfenv must not hand out the real globals, nor setfenv replace the
-- thread's (levels shift by one through these wrappers).
local getfenv_raw, setfenv_raw = getfenv, setfenv
local function level(f)
  if f == nil then return 2 end
  if type(f) == 'number' and f > 0 then return f + 1 end
  return f
end
getfenv = function(f)
  local e = getfenv_raw(level(f))
  if e == real then return env end
  return e
end
setfenv = function(f, t)
  if f == 0 then error('Attempt to modify a readonly table', 2) end
  return setfenv_raw(level(f), t)
end
-- Runs a script, handing its error value back as it is (a table from
-- redis.call, a string from the script itself); the environment for
-- scripts; the real globals (KEYS and ARGV go there).
local xpcall, on_error = xpcall, __on_error
__on_error = nil
-- Lua 5.1's xpcall passes no arguments: the call is staged in upvalues
-- (one script runs at a time per interpreter) instead of a new closure.
local run_f, run_keys, run_argv
local function body() return run_f(run_keys, run_argv) end
return function(f, keys, argv)
  run_f, run_keys, run_argv = f, keys, argv
  return xpcall(body, on_error)
end, env, real
"#;

/// Registry name of the real globals table (scripts see a proxy).
pub(crate) const REAL_GLOBALS: &str = "ferrocache.globals";

/// One thread's interpreter and its compiled scripts.
pub(crate) struct Vm {
    pub(crate) lua: Lua,
    /// Runs a script or function ([`run_script`]).
    runner: mlua::Function,
    /// The read-only view of the globals scripts run in (see the prelude).
    pub(crate) env: Table,
    compiled: HashMap<String, (mlua::Function, Shebang)>,
    generation: u64,
    /// Registered functions loaded into this interpreter (FCALL).
    functions: crate::functions::Loaded,
    /// Its memory as last added to `Scripts::vm_bytes`.
    reported_bytes: usize,
    /// Calls made through it (a GC step every 50).
    runs: u64,
    /// Scripts (by SHA) and functions (by `fn:name`) that have run, and
    /// whether they stayed within their declared keys' shards (see the
    /// module doc).
    trusted: HashMap<String, bool>,
    /// [`REPLY_FIELDS`] as a Lua sequence (see [`write_script_reply`]).
    reply_fields: Table,
}

/// What `redis.call` needs while a script runs on this thread.
struct Running {
    server: Arc<Server>,
    /// This run in the node's list of running scripts.
    run: Arc<ScriptRun>,
    /// The script's own client (handed back to [`SCRIPT_CLIENT`] after).
    client: Option<Client>,
    read_only: bool,
    reach: Reach,
    /// The caller's ACL user when its permissions are restricted, and the
    /// caller (ACL LOG names it).
    user: Option<(Arc<crate::acl::User>, Arc<ClientShared>)>,
    /// A read-only command ran.
    read: bool,
    /// The script's line when the watchdog stopped it (for the error).
    stop_line: Option<i64>,
    /// The caller's CLIENT TRACKING mode and the declared keys, which it
    /// tracks once the script runs a read-only command (Redis 7.0).
    tracking: Option<(crate::tracking::Mode, Vec<Box<[u8]>>)>,
}

/// The shards a running script reaches (see the module doc).
struct Reach {
    /// The shards of the declared keys (KEYS).
    declared: smallvec::SmallVec<[usize; 8]>,
    /// A command has touched a shard not in `declared`.
    undeclared: bool,
    /// A command that may have changed something has run: the script can
    /// no longer start over.
    effects: bool,
    /// The script must start over holding every shard: every further call
    /// fails, and the result is discarded.
    restart: bool,
}

impl Reach {
    /// Makes sure this thread holds what the command is about to touch.
    fn cover(
        &mut self,
        keyspace: &keyspace::Keyspace,
        spec: &commands::CommandSpec,
        args: &[&[u8]],
    ) -> Result<(), &'static [u8]> {
        let everything = crate::multi::needs_every_shard(spec) && !keyless_harmless(spec);
        let mut missing = everything && !keyspace.holds_every_shard();
        if everything {
            self.undeclared = true;
        } else if let Ok(positions) = commands::keys::key_positions(spec, args) {
            for key in positions.iter().map(|(i, _)| args[*i]) {
                if !self.declared.contains(&keyspace::key_shard(key)) {
                    self.undeclared = true;
                    missing |= !keyspace.holds_key(key);
                }
            }
        }
        if !missing {
            return Ok(());
        }
        if !self.effects {
            self.restart = true;
            return Err(RESTART);
        }
        let deadline = std::time::Instant::now() + ESCALATION_WAIT;
        if keyspace.escalate(deadline) {
            Ok(())
        } else {
            Err(b"ERR the script accessed a key it did not declare in KEYS after writing, while another client held that key's shard; declare every key the script uses")
        }
    }
}

/// How long a script that already wrote waits for the shards of an
/// undeclared key.
const ESCALATION_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The error of every call of a script that will start over.
const RESTART: &[u8] = b"ERR script restarting to lock every shard";

/// Keyless commands that touch no key (no shard needed).
fn keyless_harmless(spec: &commands::CommandSpec) -> bool {
    spec.name == "publish" || traceless(spec)
}

/// Keyless commands that neither read nor leave anything behind.
fn traceless(spec: &commands::CommandSpec) -> bool {
    matches!(spec.name, "ping" | "echo" | "time" | "select")
}

/// Does this command leave a trace (a write, a message, a setting) that
/// running the script again would repeat?
fn has_effects(spec: &commands::CommandSpec) -> bool {
    !spec.has_flag(commands::flag::READONLY) && !traceless(spec)
}

/// A client for a script run: this thread's reused one (scripts cannot
/// change its other state: CLIENT, MULTI, SUBSCRIBE... are not allowed
/// from scripts), set to the caller's database and RESP2.
fn script_client(db: usize) -> Client {
    let mut client = SCRIPT_CLIENT
        .with(|c| c.borrow_mut().take())
        .unwrap_or_else(|| {
            // "lua" is how monitors see the commands of scripts and
            // functions, as in Redis.
            let shared = Arc::new(ClientShared::new(
                0,
                "lua".to_string(),
                String::new(),
                -1,
                crate::now_ms(),
            ));
            let mut client = Client::new(shared, true);
            client.in_exec = true;
            client.in_script = true;
            client
        });
    client.set_db(db);
    client.proto = Protocol::Resp2;
    client
}

thread_local! {
    /// The client scripts on this thread run their commands with.
    static SCRIPT_CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// A new interpreter; `deprecated_api`: keep `newproxy`, `setfenv` and
/// `getfenv` (`lua-enable-deprecated-api`), which Redis takes out of the
/// sandbox by default.
fn new_vm(deprecated_api: bool) -> mlua::Result<Vm> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    let redis = lua.create_table()?;
    redis.set("REDIS_VERSION", crate::REDIS_VERSION)?;
    let num = crate::REDIS_VERSION
        .split('.')
        .filter_map(|p| p.parse::<i64>().ok())
        .fold(0, |acc, p| acc * 256 + p);
    redis.set("REDIS_VERSION_NUM", num)?;
    // As Redis: exactly one argument; a non-string hashes as empty.
    let sha1hex = lua.create_function(|lua, args: MultiValue| {
        if args.len() != 1 {
            return Ok((
                false,
                Value::Table(error_table(lua, b"ERR wrong number of arguments")?),
            ));
        }
        let text = match &args[0] {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(i) => i.to_string().into_bytes(),
            Value::Number(n) => resp::format_g(*n, 14).into_bytes(),
            _ => Vec::new(),
        };
        Ok((true, Value::String(lua.create_string(sha1_hex(&text))?)))
    })?;
    redis.set(
        "log",
        lua.create_function(|_, args: MultiValue| {
            if args.len() < 2 {
                return Err(mlua::Error::RuntimeError(
                    "redis.log() requires two arguments or more.".into(),
                ));
            }
            let text: Vec<String> = args
                .iter()
                .skip(1)
                .map(|v| v.to_string().unwrap_or_default())
                .collect();
            tracing::info!(target: "script", "{}", text.join(" "));
            Ok(())
        })?,
    )?;
    redis.set(
        "setresp",
        lua.create_function(|_, v: i64| {
            if v != 2 && v != 3 {
                return Err(mlua::Error::RuntimeError(
                    "RESP version must be 2 or 3.".into(),
                ));
            }
            RUNNING.with(|r| {
                if let Some(client) = r.borrow_mut().as_mut().and_then(|run| run.client.as_mut()) {
                    client.proto = if v == 3 {
                        Protocol::Resp3
                    } else {
                        Protocol::Resp2
                    };
                }
            });
            Ok(())
        })?,
    )?;
    let globals = lua.globals();
    globals.set("redis", redis)?;
    // The message handler of the script's xpcall: notes the script's line
    // where an error escapes it (Redis names it even for `error(msg, 0)`).
    globals.set(
        "__on_error",
        lua.create_function(|lua, e: Value| {
            let line = script_line(lua);
            RUNNING.with(|r| {
                if let Some(run) = r.borrow_mut().as_mut() {
                    run.stop_line = run.stop_line.or(line);
                }
            });
            Ok(e)
        })?,
    )?;
    let redis: Table = globals.get("redis")?;
    // SAFETY: `push_reply` follows the Lua C API contract (see it).
    let push = unsafe { lua.create_c_function(push_reply)? };
    for (name, raise) in [("call", true), ("pcall", false)] {
        // SAFETY: `redis_call` follows the Lua C API contract: it reads
        // its arguments and two upvalues (pushed here), converts in
        // protected mode, and raises only from a frame holding nothing
        // to drop.
        let f: mlua::Function = unsafe {
            lua.exec_raw((&push, raise), |state| {
                mlua::ffi::lua_pushcclosure(state, redis_call, 2);
            })?
        };
        redis.set(name, f)?;
    }
    redis.set("sha1hex", redis_fn(&lua, &sha1hex, &sha1hex, true)?)?;
    globals.set(
        "__err_table",
        lua.create_function(|lua, msg: mlua::String| error_table(lua, &msg.as_bytes()))?,
    )?;
    crate::lua_libs::register(&lua)?;
    let (prelude_runner, env, real): (mlua::Function, Table, Table) =
        lua.load(PRELUDE).set_name("=prelude").eval()?;
    // SAFETY: `run_script` follows the Lua C API contract (see it); its
    // two upvalues are pushed here.
    let runner: mlua::Function = unsafe {
        lua.exec_raw((&prelude_runner, &real), |state| {
            mlua::ffi::lua_pushcclosure(state, run_script, 2);
        })?
    };
    lua.set_named_registry_value(REAL_GLOBALS, real.clone())?;
    lua.set_hook(WATCH_EVERY, watchdog);
    if !deprecated_api {
        for name in ["newproxy", "setfenv", "getfenv"] {
            real.raw_set(name, Value::Nil)?;
        }
    }
    let reply_fields = lua.create_sequence_from(REPLY_FIELDS)?;
    // Setting up leaves garbage behind: start from the live set.
    lua.gc_collect()?;
    Ok(Vm {
        lua,
        runner,
        env,
        compiled: HashMap::new(),
        generation: 0,
        functions: Default::default(),
        reported_bytes: 0,
        runs: 0,
        trusted: HashMap::new(),
        reply_fields,
    })
}

/// Wraps `f` (a Rust function answering `(ok, value)`) into a C function
/// that returns the value, or raises it when `ok` is false and `raise` is
/// set (redis.call; redis.pcall returns the error table instead). Being C,
/// it keeps the script's frame when the script tail-calls it (`return
/// redis.call(...)`: Lua 5.1 tail-calls only Lua functions), so errors name
/// the script's line as in Redis. Past 1000 arguments they travel to
/// `f_table` as `(table, n)`: that many do not fit a callback's C stack.
fn redis_fn(
    lua: &Lua,
    f: &mlua::Function,
    f_table: &mlua::Function,
    raise: bool,
) -> mlua::Result<mlua::Function> {
    // SAFETY: `redis_trampoline` follows the Lua C API contract: it works
    // on its own frame only (its arguments and its three upvalues, pushed
    // here), calls the Rust function in protected mode so no Lua error
    // unwinds through Rust code, and raises with `lua_error` from its own
    // frame, which holds no value needing a destructor.
    unsafe {
        lua.exec_raw::<mlua::Function>((f, f_table, raise), |state| {
            mlua::ffi::lua_pushcclosure(state, redis_trampoline, 3);
        })
    }
}

/// The C side of [`redis_fn`]. Upvalues: the Rust function, its table
/// form, and whether to raise.
unsafe extern "C-unwind" fn redis_trampoline(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // At most three slots are pushed beyond the arguments: Lua guarantees a
    // C function LUA_MINSTACK (20) free slots on entry (lua_checkstack
    // would refuse them once the arguments alone reach LUAI_MAXCSTACK).
    let nargs = ffi::lua_gettop(state);
    let status = if nargs > 1000 {
        ffi::lua_createtable(state, nargs, 0);
        ffi::lua_insert(state, 1);
        for i in (1..=nargs).rev() {
            ffi::lua_rawseti(state, 1, i as ffi::lua_Integer);
        }
        ffi::lua_pushinteger(state, nargs as ffi::lua_Integer);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        ffi::lua_insert(state, 1);
        ffi::lua_pcall(state, 2, 2, 0)
    } else {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_pcall(state, nargs, 2, 0)
    };
    if status != 0 {
        // An interpreter error (its value is on top): passed on.
        ffi::lua_error(state)
    }
    // The stack is now (ok, value).
    if ffi::lua_toboolean(state, -2) == 0
        && ffi::lua_toboolean(state, ffi::lua_upvalueindex(3)) != 0
    {
        ffi::lua_error(state)
    }
    1
}

/// How often the watchdog runs: about every millisecond of Lua.
pub(crate) const WATCH_EVERY: mlua::HookTriggers =
    mlua::HookTriggers::new().every_nth_instruction(100_000);

/// A script that must stop (killed, or starting over) hears it on every
/// line, so a `pcall` cannot swallow the error for long (as in Redis).
const WATCH_STOPPING: mlua::HookTriggers = mlua::HookTriggers::new()
    .every_line()
    .every_nth_instruction(1000);

const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The instruction-count hook: marks the script busy past the threshold
/// (and lets its worker's other connections go elsewhere), and stops it
/// when SCRIPT KILL asked or it must start over.
pub(crate) fn watchdog(lua: &Lua, _: mlua::Debug) -> mlua::Result<mlua::VmState> {
    let running = RUNNING.with(|r| {
        r.borrow()
            .as_ref()
            .map(|run| (run.server.clone(), run.run.clone(), run.reach.restart))
    });
    let Some((server, run, restart)) = running else {
        return Ok(mlua::VmState::Continue);
    };
    let stop = if restart {
        Some(String::from_utf8_lossy(RESTART).into_owned())
    } else {
        let threshold = server.config.get_i64("busy-reply-threshold").max(0) as u64;
        if !run.busy.load(Ordering::Relaxed)
            && crate::now_ms().saturating_sub(run.started_ms) >= threshold
        {
            server.script_state.mark_busy(&run);
            // Other connections of this worker must not wait for the
            // script: hand them to another thread.
            crate::release_worker();
        } else if run.busy.load(Ordering::Relaxed) {
            // Another busy script ending may have cleared the node's flag.
            server.script_state.busy.store(true, Ordering::Release);
        }
        run.kill.load(Ordering::Acquire).then(|| KILLED.to_string())
    };
    match stop {
        Some(msg) => {
            let line = script_line(lua);
            RUNNING.with(|r| {
                if let Some(run) = r.borrow_mut().as_mut() {
                    run.stop_line = run.stop_line.or(line);
                }
            });
            lua.set_hook(WATCH_STOPPING, watchdog);
            Err(mlua::Error::RuntimeError(msg))
        }
        None => Ok(mlua::VmState::Continue),
    }
}

/// The line the script (or function) is at: its innermost frame (a
/// `return redis.call(...)` tail call leaves none: the line is then
/// unknown).
fn script_line(lua: &Lua) -> Option<i64> {
    (0..SCRIPT_FRAMES).find_map(|level| {
        let d = lua.inspect_stack(level)?;
        let source = d.source().source.unwrap_or_default();
        script_frame_line(source.as_bytes(), d.curr_line())
    })
}

/// How many frames up a script's line is looked for.
const SCRIPT_FRAMES: usize = 8;

/// The line of a frame when it is the script's (or function's) own.
fn script_frame_line(source: &[u8], line: i32) -> Option<i64> {
    let is_script = matches!(source, b"@user_script" | b"@user_function");
    (is_script && line > 0).then_some(line as i64)
}

/// [`script_line`] from the C side (`state` is the calling thread).
unsafe fn script_line_at(state: *mut mlua::ffi::lua_State) -> Option<i64> {
    use mlua::ffi;
    (0..SCRIPT_FRAMES as i32).find_map(|level| {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        if ffi::lua_getstack(state, level, &mut ar) == 0
            || ffi::lua_getinfo(state, c"Sl".as_ptr(), &mut ar) == 0
            || ar.source.is_null()
        {
            return None;
        }
        let source = std::ffi::CStr::from_ptr(ar.source).to_bytes();
        script_frame_line(source, ar.currentline)
    })
}

/// A Lua error with Redis's `{err = ...}` shape, plus the line of the
/// script that made the call.
fn error_table(lua: &Lua, msg: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("err", lua.create_string(msg)?)?;
    if let Some(line) = script_line(lua) {
        t.set("line", line)?;
    }
    Ok(t)
}

/// `redis.call` (upvalue 2 true) and `redis.pcall`: a C function that
/// reads its arguments straight off the Lua stack, runs the command and
/// pushes its reply converted with Redis's rules (by the C function in
/// upvalue 1, [`push_reply`], in protected mode). An error is returned as
/// Redis's `{err = ...}` table by `redis.pcall` and raised by `redis.call`.
/// Being C, it keeps the script's frame when the script tail-calls it
/// (`return redis.call(...)`), so errors name the script's line.
unsafe extern "C-unwind" fn redis_call(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    let raise = ffi::lua_toboolean(state, ffi::lua_upvalueindex(2)) != 0;
    let mut reply = REPLY_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    reply.clear();
    let failure = run_from_stack(state, &mut reply);
    let fails = failure.is_some() || reply.first() == Some(&b'-');
    let mut conversion = Conversion {
        reply: &reply,
        failure: failure.as_deref(),
        line: if fails { script_line_at(state) } else { None },
        is_error: false,
    };
    // Three slots at most beyond the arguments: a C function is
    // guaranteed LUA_MINSTACK (20) free on entry.
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_pushlightuserdata(state, (&raw mut conversion).cast());
    let status = ffi::lua_pcall(state, 1, 1, 0);
    let is_error = conversion.is_error;
    drop(failure);
    REPLY_BUFFER.with(|b| *b.borrow_mut() = reply);
    // Nothing with a destructor is left in this frame: raising (a long
    // jump) skips nothing that needs dropping.
    if status != 0 || (is_error && raise) {
        ffi::lua_error(state)
    }
    1
}

thread_local! {
    /// The reply buffer of `redis.call`, reused from call to call.
    static REPLY_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs the command whose arguments are on the Lua stack; its reply goes
/// to `out`, or its error is returned. Raises no Lua error.
unsafe fn run_from_stack(
    state: *mut mlua::ffi::lua_State,
    out: &mut Vec<u8>,
) -> Option<std::borrow::Cow<'static, [u8]>> {
    use mlua::ffi;
    use std::borrow::Cow;
    let nargs = ffi::lua_gettop(state);
    let mut argv: smallvec::SmallVec<[Cow<[u8]>; 8]> = smallvec::SmallVec::new();
    for i in 1..=nargs {
        match ffi::lua_type(state, i) {
            // A string on the stack stays alive (and unmoved) until this
            // function returns: no Lua code runs meanwhile.
            ffi::LUA_TSTRING => argv.push(Cow::Borrowed(lua_bytes(state, i))),
            ffi::LUA_TNUMBER => argv.push(Cow::Owned(
                number_arg(ffi::lua_tonumber(state, i)).into_bytes(),
            )),
            _ => {
                return Some(Cow::Borrowed(
                    b"ERR Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
    }
    if argv.is_empty() {
        return Some(Cow::Borrowed(
            b"ERR Please specify at least one argument for this redis lib call",
        ));
    }
    let args: smallvec::SmallVec<[&[u8]; 8]> = argv.iter().map(|a| &**a).collect();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call_command(&args, out))) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(Cow::Borrowed(b"ERR the command failed unexpectedly")),
    }
}

/// A number passed to redis.call: an integer as one, any other as Redis
/// formats it (`%.17g`).
fn number_arg(n: f64) -> String {
    if n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        (n as i64).to_string()
    } else {
        resp::format_g(n, 17)
    }
}

/// Runs one command line for the script running on this thread.
fn call_command(args: &[&[u8]], out: &mut Vec<u8>) -> Result<(), std::borrow::Cow<'static, [u8]>> {
    RUNNING.with(|r| {
        let mut guard = r.borrow_mut();
        let Some(run) = guard.as_mut() else {
            return Err(OUTSIDE_SCRIPT.into());
        };
        let Running {
            server,
            run: script,
            client,
            read_only,
            reach,
            user,
            read,
            tracking,
            ..
        } = run;
        let entry = match crate::dispatch::lookup(server, args) {
            Ok(e) => e,
            Err(crate::dispatch::LookupError::Arity(_)) => {
                return Err(b"ERR Wrong number of args calling Redis command from script".into())
            }
            Err(_) => return Err(b"ERR Unknown Redis command called from script".into()),
        };
        let spec = entry.spec;
        if spec.has_flag(commands::flag::NOSCRIPT) {
            return Err(b"ERR This Redis command is not allowed from script".into());
        }
        if let Some((user, caller)) = user {
            if let Err((denied, _)) =
                crate::acl::check_command(server, Some(&*user), caller, entry, args, "lua")
            {
                let why: &'static [u8] = match denied {
                    crate::acl::Denied::Command => b"ERR The user executing the script can't run this command or subcommand",
                    crate::acl::Denied::Key => b"ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
                    crate::acl::Denied::Channel => b"ERR The user executing the script can't publish to the channel mentioned in the command",
                };
                return Err(why.into());
            }
        }
        if reach.restart {
            return Err(RESTART.into());
        }
        if script.kill.load(Ordering::Acquire) {
            return Err(KILLED.as_bytes().into());
        }
        if *read_only && crate::may_replicate(spec) {
            return Err(b"ERR Write commands are not allowed from read-only scripts.".into());
        }
        // Above maxmemory a script may not start using memory (once it has
        // written, it must finish).
        if spec.has_flag(commands::flag::DENYOOM)
            && crate::evict::writes_refused()
            && !script.wrote.load(Ordering::Acquire)
        {
            return Err(crate::evict::OOM_ERROR.into());
        }
        // A script that declared no flags learns at its first write that
        // the primary lacks good replicas (one that declared writes was
        // refused before it ran).
        if spec.has_flag(commands::flag::WRITE) && crate::replication::too_few_replicas(server) {
            return Err(crate::replication::NOREPLICAS_ERROR.into());
        }
        reach.cover(&server.keyspace, spec, args)?;
        if spec.has_flag(commands::flag::WRITE) {
            script.wrote.store(true, Ordering::Release);
        }
        reach.effects |= has_effects(spec);
        if spec.has_flag(commands::flag::READONLY) && !*read {
            *read = true;
            if let Some((mode, keys)) = tracking {
                // Under the script's hold, which covers the declared keys.
                let keys: Vec<&[u8]> = keys.iter().map(|k| &**k).collect();
                crate::tracking::remember(server, mode, &keys, crate::now_ms());
            }
        }
        let Some(client) = client.as_mut() else {
            return Err(OUTSIDE_SCRIPT.into());
        };
        crate::dispatch::call(server, client, entry, args, out, crate::now_us());
        Ok(())
    })
}

const OUTSIDE_SCRIPT: &[u8] = b"ERR redis.call outside a script";

/// What [`push_reply`] converts: a command's reply, or the error that
/// kept it from running, with the script's line for an error.
struct Conversion<'a> {
    reply: &'a [u8],
    failure: Option<&'a [u8]>,
    line: Option<i64>,
    /// Set by the conversion: the result is an error.
    is_error: bool,
}

/// The C function that pushes a [`Conversion`] (a light userdata, its
/// argument) as one Lua value. It runs under `lua_pcall`: a memory error
/// while building tables ends it, and it holds nothing to drop.
unsafe extern "C-unwind" fn push_reply(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    let conversion = &mut *mlua::ffi::lua_touserdata(state, 1).cast::<Conversion>();
    mlua::ffi::lua_settop(state, 0);
    let error = match conversion.failure {
        Some(msg) => Some(msg),
        None => {
            let mut pos = 0;
            push_resp(state, conversion.reply, &mut pos)
        }
    };
    if let Some(msg) = error {
        conversion.is_error = true;
        push_error_table(state, msg, conversion.line);
    }
    1
}

/// Pushes Redis's `{err = msg}` table (with the script's line if known).
unsafe fn push_error_table(state: *mut mlua::ffi::lua_State, msg: &[u8], line: Option<i64>) {
    use mlua::ffi;
    ffi::lua_createtable(state, 0, 2);
    ffi::lua_pushlstring(state, msg.as_ptr().cast(), msg.len());
    ffi::lua_setfield(state, -2, c"err".as_ptr());
    if let Some(line) = line {
        ffi::lua_pushinteger(state, line);
        ffi::lua_setfield(state, -2, c"line".as_ptr());
    }
}

/// The line at `pos` (up to its CRLF); `pos` moves past it.
fn resp_line<'b>(buf: &'b [u8], pos: &mut usize) -> Option<&'b [u8]> {
    let rest = buf.get(*pos..)?;
    let end = memchr::memmem::find(rest, b"\r\n")?;
    *pos += end + 2;
    Some(&rest[..end])
}

/// Pushes the RESP reply at `pos` as one Lua value (Redis's rules: status
/// → {ok=...}, nil → false, integer → number, RESP3 types as in Redis 7).
/// An error reply is not pushed but returned (its caller decides its
/// shape). A malformed reply pushes nil.
unsafe fn push_resp<'b>(
    state: *mut mlua::ffi::lua_State,
    buf: &'b [u8],
    pos: &mut usize,
) -> Option<&'b [u8]> {
    use mlua::ffi;
    let Some(&kind) = buf.get(*pos) else {
        ffi::lua_pushnil(state);
        return None;
    };
    *pos += 1;
    let Some(line) = resp_line(buf, pos) else {
        ffi::lua_pushnil(state);
        return None;
    };
    let num = || crate::args::parse_i64(line).unwrap_or(0);
    // Each level pushes at most three values (wrapper, table, key/value).
    if ffi::lua_checkstack(state, 4) == 0 {
        ffi::lua_pushstring(state, c"reply nested too deeply".as_ptr());
        ffi::lua_error(state)
    }
    match kind {
        b'+' => {
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_pushlstring(state, line.as_ptr().cast(), line.len());
            ffi::lua_setfield(state, -2, c"ok".as_ptr());
        }
        b'-' => return Some(line),
        b':' => ffi::lua_pushnumber(state, num() as f64),
        b'$' | b'=' => match usize::try_from(num()) {
            Err(_) => ffi::lua_pushboolean(state, 0),
            Ok(n) => match buf.get(*pos..*pos + n) {
                Some(data) => {
                    *pos += n + 2;
                    match data.split_at_checked(4) {
                        // RESP3 verbatim string: {verbatim_string =
                        // {format = "txt", string = ...}}.
                        Some((tag, text)) if kind == b'=' => {
                            ffi::lua_createtable(state, 0, 1);
                            ffi::lua_createtable(state, 0, 2);
                            ffi::lua_pushlstring(state, text.as_ptr().cast(), text.len());
                            ffi::lua_setfield(state, -2, c"string".as_ptr());
                            ffi::lua_pushlstring(state, tag.as_ptr().cast(), 3);
                            ffi::lua_setfield(state, -2, c"format".as_ptr());
                            ffi::lua_setfield(state, -2, c"verbatim_string".as_ptr());
                        }
                        _ => {
                            ffi::lua_pushlstring(state, data.as_ptr().cast(), data.len());
                        }
                    }
                }
                None => ffi::lua_pushnil(state),
            },
        },
        b'*' | b'~' | b'>' => {
            let Ok(n) = usize::try_from(num()) else {
                ffi::lua_pushboolean(state, 0);
                return None;
            };
            if kind == b'~' {
                // RESP3 set: {set = {member = true, ...}}.
                ffi::lua_createtable(state, 0, 1);
                ffi::lua_createtable(state, 0, n.min(1 << 16) as i32);
                for _ in 0..n {
                    if let Some(e) = push_resp(state, buf, pos) {
                        ffi::lua_pushlstring(state, e.as_ptr().cast(), e.len());
                    }
                    ffi::lua_pushboolean(state, 1);
                    ffi::lua_rawset(state, -3);
                }
                ffi::lua_setfield(state, -2, c"set".as_ptr());
            } else {
                ffi::lua_createtable(state, n.min(1 << 16) as i32, 0);
                for i in 1..=n {
                    if let Some(e) = push_resp(state, buf, pos) {
                        push_error_table(state, e, None);
                    }
                    ffi::lua_rawseti(state, -2, i as ffi::lua_Integer);
                }
            }
        }
        b'%' => {
            let n = usize::try_from(num()).unwrap_or(0);
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_createtable(state, 0, n.min(1 << 16) as i32);
            for _ in 0..n {
                // Keys and values: an error becomes its message.
                for _ in 0..2 {
                    if let Some(e) = push_resp(state, buf, pos) {
                        ffi::lua_pushlstring(state, e.as_ptr().cast(), e.len());
                    }
                }
                ffi::lua_rawset(state, -3);
            }
            ffi::lua_setfield(state, -2, c"map".as_ptr());
        }
        b'_' => ffi::lua_pushnil(state),
        b'#' => ffi::lua_pushboolean(state, (line.first() == Some(&b't')) as i32),
        b',' => {
            let d = std::str::from_utf8(line)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(0.0);
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_pushnumber(state, d);
            ffi::lua_setfield(state, -2, c"double".as_ptr());
        }
        b'(' => {
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_pushlstring(state, line.as_ptr().cast(), line.len());
            ffi::lua_setfield(state, -2, c"big_number".as_ptr());
        }
        _ => ffi::lua_pushnil(state),
    }
    None
}

/// The fields a script's reply table is looked up by, in this order in
/// [`Vm::reply_fields`].
const REPLY_FIELDS: [&str; 9] = [
    "err",
    "ok",
    "double",
    "big_number",
    "verbatim_string",
    "map",
    "set",
    "format",
    "string",
];
const FIELD_ERR: i64 = 1;
const FIELD_OK: i64 = 2;
const FIELD_DOUBLE: i64 = 3;
const FIELD_BIG_NUMBER: i64 = 4;
const FIELD_VERBATIM: i64 = 5;
const FIELD_MAP: i64 = 6;
const FIELD_SET: i64 = 7;
const FIELD_FORMAT: i64 = 8;
const FIELD_STRING: i64 = 9;

/// Writes a script's return value as a reply, as Redis's
/// `luaReplyToRedisReply` does: on the Lua stack, without a reference per
/// element (a reply may have any number of them), and nested as deep as
/// the stack allows (`lua_checkstack(4)` before each value; past it the
/// value becomes "ERR reached lua stack limit"). The stack starts as
/// Redis's does (two slots: here the field names and the value), so the
/// same replies reach the same limit.
fn write_script_reply(vm: &Vm, value: Value, out: &mut ReplyWriter) -> mlua::Result<()> {
    // SAFETY: runs in protected mode with the field table and the value as
    // its two arguments. `reply_from_stack` only reads tables raw (no
    // metamethod runs, no string is created, so no garbage collection
    // step), and keeps the stack balanced; it pushes only after
    // `lua_checkstack` made room.
    unsafe {
        vm.lua.exec_raw::<()>((&vm.reply_fields, value), |state| {
            reply_from_stack(state, out)
        })
    }
}

/// An aggregate of a script's reply being written (its table is on the
/// Lua stack, as in Redis's recursion).
enum Open {
    /// Stack: table. Elements `next..=len` are still to write.
    Array { next: i64, len: i64 },
    /// Stack: table, map table, last key (or nil before the first);
    /// `value_next`: the key is written, its value (above it) is next.
    Map { value_next: bool },
    /// Stack: table, set table, last key (or nil before the first).
    Set,
}

/// The C-stack side of [`write_script_reply`]: field names at index 1,
/// the value at the top.
unsafe fn reply_from_stack(state: *mut mlua::ffi::lua_State, out: &mut ReplyWriter) {
    use mlua::ffi;
    let mut open: Vec<Open> = Vec::new();
    loop {
        write_top(state, out, &mut open);
        // Push the next value to write, closing what is complete.
        loop {
            match open.last_mut() {
                None => return,
                Some(Open::Array { next, len }) => {
                    if *next <= *len {
                        ffi::lua_rawgeti(state, -1, *next);
                        *next += 1;
                        break;
                    }
                    ffi::lua_pop(state, 1);
                }
                Some(Open::Map { value_next }) => {
                    if *value_next {
                        *value_next = false;
                        break;
                    }
                    if ffi::lua_next(state, -2) != 0 {
                        // Key and value: the key's copy is written first.
                        ffi::lua_pushvalue(state, -2);
                        *value_next = true;
                        break;
                    }
                    ffi::lua_pop(state, 2);
                }
                Some(Open::Set) => {
                    if ffi::lua_next(state, -2) != 0 {
                        ffi::lua_pop(state, 1);
                        ffi::lua_pushvalue(state, -1);
                        break;
                    }
                    ffi::lua_pop(state, 2);
                }
            }
            open.pop();
        }
    }
}

/// Writes the value on top of the stack and pops it; a table that is an
/// aggregate stays, opened in `open`.
unsafe fn write_top(state: *mut mlua::ffi::lua_State, out: &mut ReplyWriter, open: &mut Vec<Open>) {
    use mlua::ffi;
    if ffi::lua_checkstack(state, 4) == 0 {
        out.error("ERR reached lua stack limit");
        ffi::lua_pop(state, 1);
        return;
    }
    match ffi::lua_type(state, -1) {
        ffi::LUA_TSTRING => out.bulk(lua_bytes(state, -1)),
        ffi::LUA_TBOOLEAN => match ffi::lua_toboolean(state, -1) {
            0 => out.null(),
            _ => out.int(1),
        },
        ffi::LUA_TNUMBER => out.int(ffi::lua_tonumber(state, -1) as i64),
        ffi::LUA_TTABLE => {
            // Pushes field `name` of the table at `at` (counted before the
            // name is pushed); returns its type. The reply table stays at
            // -1 while its fields are looked at.
            let field_of = |at: i32, name: i64| {
                ffi::lua_rawgeti(state, 1, name);
                ffi::lua_rawget(state, at - 1)
            };
            let field = |name: i64| field_of(-1, name);
            // One-field tables that stand for a reply type, in Redis's order.
            for (name, kind) in [
                (FIELD_ERR, ffi::LUA_TSTRING),
                (FIELD_OK, ffi::LUA_TSTRING),
                (FIELD_DOUBLE, ffi::LUA_TNUMBER),
                (FIELD_BIG_NUMBER, ffi::LUA_TSTRING),
            ] {
                if field(name) == kind {
                    match name {
                        FIELD_ERR => out.error_bytes(lua_bytes(state, -1)),
                        FIELD_OK => out.simple_bytes(lua_bytes(state, -1)),
                        FIELD_DOUBLE => out.double(ffi::lua_tonumber(state, -1)),
                        _ => out.big_number(lua_bytes(state, -1)),
                    }
                    ffi::lua_pop(state, 2);
                    return;
                }
                ffi::lua_pop(state, 1);
            }
            if field(FIELD_VERBATIM) == ffi::LUA_TTABLE {
                // Stack: value, verbatim table, format, string.
                if field_of(-1, FIELD_FORMAT) == ffi::LUA_TSTRING {
                    if field_of(-2, FIELD_STRING) == ffi::LUA_TSTRING {
                        out.verbatim_bytes(lua_bytes(state, -2), lua_bytes(state, -1));
                        ffi::lua_pop(state, 4);
                        return;
                    }
                    ffi::lua_pop(state, 1);
                }
                ffi::lua_pop(state, 1);
            }
            ffi::lua_pop(state, 1);
            for (name, is_map) in [(FIELD_MAP, true), (FIELD_SET, false)] {
                if field(name) == ffi::LUA_TTABLE {
                    let mut n = 0;
                    ffi::lua_pushnil(state);
                    while ffi::lua_next(state, -2) != 0 {
                        ffi::lua_pop(state, 1);
                        n += 1;
                    }
                    if is_map {
                        out.map(n);
                        open.push(Open::Map { value_next: false });
                    } else {
                        out.set(n);
                        open.push(Open::Set);
                    }
                    ffi::lua_pushnil(state);
                    return;
                }
                ffi::lua_pop(state, 1);
            }
            // An array: the elements up to the first nil.
            let mut len = 0;
            loop {
                let nil = ffi::lua_rawgeti(state, -1, len + 1) == ffi::LUA_TNIL;
                ffi::lua_pop(state, 1);
                if nil {
                    break;
                }
                len += 1;
            }
            out.array(len as usize);
            open.push(Open::Array { next: 1, len });
            return;
        }
        _ => out.null(),
    }
    ffi::lua_pop(state, 1);
}

/// The bytes of the string at `index`. The caller keeps the string on the
/// stack, and runs no Lua code, while it uses them.
unsafe fn lua_bytes<'s>(state: *mut mlua::ffi::lua_State, index: i32) -> &'s [u8] {
    let mut len = 0;
    let ptr = mlua::ffi::lua_tolstring(state, index, &mut len);
    // SAFETY: Lua strings are immutable; the one at `index` outlives the
    // use (see above).
    std::slice::from_raw_parts(ptr.cast(), len)
}

/// Compiles `code` as a function running in `env`. A syntax error comes
/// back after `prefix` as Lua wrote it: bytes, since it quotes the source
/// (`near '\xff'`), which Redis passes through as is.
pub(crate) fn compile_chunk(
    lua: &Lua,
    code: &[u8],
    name: &std::ffi::CStr,
    env: &Table,
    prefix: &str,
) -> Result<mlua::Function, CmdError> {
    use mlua::ffi;
    // SAFETY: runs in protected mode with `env` as its one argument (stack
    // index 1); `luaL_loadbuffer` pushes one value (the function or its
    // error message) and does not raise; `lua_setfenv` pops the table it
    // is given. The one value left is the result.
    let loaded: Value = unsafe {
        lua.exec_raw(env, |state| {
            let status =
                ffi::luaL_loadbuffer(state, code.as_ptr().cast(), code.len(), name.as_ptr());
            if status == 0 {
                ffi::lua_pushvalue(state, 1);
                ffi::lua_setfenv(state, -2);
            }
            ffi::lua_remove(state, 1);
        })
    }
    .map_err(|e| CmdError::new(format!("{prefix}{e}")))?;
    match loaded {
        Value::Function(f) => Ok(f),
        Value::String(msg) => Err(CmdError::from_bytes(
            [prefix.as_bytes(), &msg.as_bytes()].concat(),
        )),
        other => Err(CmdError::new(format!("{prefix}{other:?}"))),
    }
}

/// This interpreter's functions, reloaded if the libraries changed.
fn vm_functions<'v>(
    vm: &'v mut Vm,
    server: &Server,
) -> Result<&'v crate::functions::Loaded, CmdError> {
    crate::functions::sync(&vm.lua, &mut vm.functions, &server.functions)?;
    Ok(&vm.functions)
}

/// Runs `f` with this thread's interpreter: created on first use, and
/// created anew after SCRIPT FLUSH (as Redis resets its interpreter: the
/// memory of old scripts is freed).
pub(crate) fn with_vm<R>(server: &Server, f: impl FnOnce(&mut Vm) -> R) -> Result<R, CmdError> {
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = server.scripts.generation.load(Ordering::Acquire);
        if slot.as_ref().is_none_or(|vm| vm.generation != generation) {
            if let Some(old) = slot.take() {
                server
                    .scripts
                    .vm_bytes
                    .fetch_sub(old.reported_bytes as i64, Ordering::Relaxed);
            }
            let deprecated_api = server.config.get_bool("lua-enable-deprecated-api");
            let mut vm =
                new_vm(deprecated_api).map_err(|e| CmdError::new(format!("ERR Lua: {e}")))?;
            vm.generation = generation;
            *slot = Some(vm);
        }
        let Some(vm) = slot.as_mut() else {
            return Err(CmdError::new("ERR Lua interpreter unavailable"));
        };
        let r = f(vm);
        // Like Redis: a step of garbage collection every 50 runs keeps
        // the garbage of many small scripts from piling up.
        vm.runs += 1;
        if vm.runs % 50 == 0 {
            let _ = vm.lua.gc_step_kbytes(50);
        }
        let bytes = vm.lua.used_memory();
        server
            .scripts
            .vm_bytes
            .fetch_add(bytes as i64 - vm.reported_bytes as i64, Ordering::Relaxed);
        vm.reported_bytes = bytes;
        Ok(r)
    })
}

/// The script `sha` compiled in `vm`, with its flags: compiled from
/// `body`, or when that is not given (EVALSHA) from the node's cache, the
/// first time this interpreter runs it.
fn compile(
    vm: &mut Vm,
    scripts: &Scripts,
    sha: &str,
    body: Option<&[u8]>,
) -> Result<(mlua::Function, Shebang), CmdError> {
    if let Some((f, flags)) = vm.compiled.get(sha) {
        return Ok((f.clone(), *flags));
    }
    let cached;
    let body = match body {
        Some(body) => body,
        None => {
            cached =
                scripts.bodies.read().get(sha).cloned().ok_or_else(|| {
                    CmdError::new("NOSCRIPT No matching script. Please use EVAL.")
                })?;
            &cached
        }
    };
    let (flags, skip) = shebang(body)?;
    let f = compile_chunk(
        &vm.lua,
        &body[skip..],
        c"@user_script",
        &vm.env,
        "ERR Error compiling script (new function): ",
    )?;
    vm.compiled.insert(sha.to_string(), (f.clone(), flags));
    Ok((f, flags))
}

/// What a `#!lua` line says about an EVAL script (Redis 7 script flags;
/// a script without one runs in compatibility mode).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Shebang {
    present: bool,
    no_writes: bool,
    allow_oom: bool,
}

/// Parses a script's shebang line; also returns how many bytes to skip
/// before compiling (the line, not its newline: line numbers stay right).
fn shebang(body: &[u8]) -> Result<(Shebang, usize), CmdError> {
    if !body.starts_with(b"#!") {
        return Ok((Shebang::default(), 0));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err(CmdError::new("ERR Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_whitespace();
    let engine = parts
        .next()
        .ok_or_else(|| CmdError::new("ERR Invalid engine in script shebang"))?;
    if engine != "#!lua" {
        return Err(CmdError::new(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut flags = Shebang {
        present: true,
        ..Shebang::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(CmdError::new(format!(
                "ERR Unknown lua shebang option: {part}"
            )));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(CmdError::new(format!(
                        "ERR Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    Ok((flags, end))
}

/// The flags EVAL / EVALSHA `a` declares: Some(None) for a script in
/// compatibility mode (no shebang, or one that does not parse) or one not
/// in the cache; None for other commands.
fn declared_flags(server: &Server, name: &str, a: &[&[u8]]) -> Option<Option<Shebang>> {
    let declared = |body: &[u8]| shebang(body).ok().map(|(f, _)| f).filter(|f| f.present);
    match (name, a.get(1)) {
        ("eval", Some(body)) => Some(declared(body)),
        ("evalsha", Some(sha)) => {
            let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
            Some(
                server
                    .scripts
                    .bodies
                    .read()
                    .get(&sha)
                    .and_then(|b| declared(b)),
            )
        }
        _ => None,
    }
}

/// Whether EVAL / EVALSHA / FCALL may write, as CLIENT PAUSE WRITE judges
/// it (Redis's evalGetCommandFlags): a script that declares its flags may
/// write unless they include `no-writes`; one without a shebang
/// (compatibility mode) or not in the cache may.
pub(crate) fn may_write(server: &Server, name: &str, a: &[&[u8]]) -> bool {
    match (name, a.get(1)) {
        ("fcall", Some(function)) => crate::functions::may_write(server, function),
        _ => declared_flags(server, name, a).is_some_and(|f| f.is_none_or(|f| !f.no_writes)),
    }
}

/// Whether EVAL / EVALSHA / FCALL counts as a write command before it runs
/// (Redis's scriptFlagsToCmdFlags), so that `min-replicas-to-write` and a
/// read-only replica refuse it up front: a script that declares its flags
/// without `no-writes`. One in compatibility mode is judged by its writes.
pub(crate) fn declares_writes(server: &Server, name: &str, a: &[&[u8]]) -> bool {
    match (name, a.get(1)) {
        ("fcall", Some(function)) => crate::functions::declares_writes(server, function),
        _ => declared_flags(server, name, a)
            .flatten()
            .is_some_and(|f| !f.no_writes),
    }
}

/// Whether EVAL / EVALSHA / FCALL is refused above maxmemory (Redis's
/// evalGetCommandFlags adds `denyoom`): a script that declares its flags
/// without `no-writes` or `allow-oom`. One in compatibility mode runs, and
/// only its first write fails (see [`crate::evict::writes_refused`]).
pub(crate) fn refused_when_oom(server: &Server, name: &str, a: &[&[u8]]) -> bool {
    match (name, a.get(1)) {
        ("fcall", Some(function)) => crate::functions::refused_when_oom(server, function),
        _ => declared_flags(server, name, a)
            .flatten()
            .is_some_and(|f| !f.no_writes && !f.allow_oom),
    }
}

/// Stores a body in the node's cache; returns its SHA1.
fn cache(server: &Server, body: &[u8]) -> String {
    let sha = sha1_hex(body);
    // Most EVALs run a cached script: the shared lock suffices then.
    if !server.scripts.bodies.read().contains_key(&sha) {
        server
            .scripts
            .bodies
            .write()
            .entry(sha.clone())
            .or_insert_with(|| body.into());
    }
    sha
}

/// Arguments of a command line.
type Args<'a> = &'a [&'a [u8]];

/// Splits `numkeys key... arg...` (at `a[2]`) into keys and arguments.
pub(crate) fn keys_and_args<'a>(a: Args<'a>) -> Result<(Args<'a>, Args<'a>), CmdError> {
    let numkeys = crate::args::parse_i64(a[2])
        .ok_or_else(|| CmdError::new("ERR value is not an integer or out of range"))?;
    if numkeys < 0 {
        return Err(CmdError::new("ERR Number of keys can't be negative"));
    }
    if numkeys as usize > a.len() - 3 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let n = 3 + numkeys as usize;
    Ok((&a[3..n], &a[n..]))
}

/// What to run: a script (EVAL, EVALSHA) or a registered function (FCALL).
pub(crate) enum Target<'a> {
    /// A script by SHA, with its body for EVAL (EVALSHA finds it in the
    /// node's cache when this thread has not compiled it yet).
    Script {
        sha: &'a str,
        body: Option<&'a [u8]>,
    },
    Function {
        name: &'a str,
    },
}

/// The arguments of a run, as [`run_script`] reads them.
struct RunArgs<'a> {
    keys: &'a [&'a [u8]],
    argv: &'a [&'a [u8]],
    /// Also set KEYS and ARGV as globals (EVAL scripts; not functions).
    globals: bool,
}

/// The runner of a script or function: a C function called with the
/// function and a light userdata pointing to its [`RunArgs`]. It builds
/// the KEYS and ARGV tables and calls the prelude's runner (upvalue 1)
/// with them; upvalue 2 is the real globals table. It holds nothing to
/// drop: a memory error raised in it is caught by the caller's `pcall`.
unsafe extern "C-unwind" fn run_script(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    let args = &*ffi::lua_touserdata(state, 2).cast::<RunArgs>();
    ffi::lua_settop(state, 1);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    // The stack is now (runner, f); then KEYS, ARGV.
    for (name, items) in [(c"KEYS", args.keys), (c"ARGV", args.argv)] {
        ffi::lua_createtable(state, items.len().min(1 << 16) as i32, 0);
        for (i, item) in items.iter().enumerate() {
            ffi::lua_pushlstring(state, item.as_ptr().cast(), item.len());
            ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
        }
        if args.globals {
            ffi::lua_pushstring(state, name.as_ptr());
            ffi::lua_pushvalue(state, -2);
            ffi::lua_rawset(state, ffi::lua_upvalueindex(2));
        }
    }
    ffi::lua_call(state, 3, 2);
    2
}

/// Runs a script or function atomically and writes its reply.
pub(crate) fn run(
    ctx: &mut Ctx,
    command: &[&[u8]],
    target: Target,
    keys: &[&[u8]],
    argv: &[&[u8]],
    mut read_only: bool,
) -> CmdResult {
    let server = ctx.server;
    let proto = ctx.client.proto;
    let db = ctx.client.db;
    let tracking = ctx.client.tracking.clone();
    let user = ctx
        .client
        .user
        .as_ref()
        .filter(|u| !u.unrestricted())
        .map(|u| (u.clone(), ctx.client.shared.clone()));
    let out = with_vm(server, |vm| -> Result<Vec<u8>, CmdError> {
        // The error label is built only for an error.
        let (f, trust_key): (_, std::borrow::Cow<str>) = match target {
            Target::Script { sha, body } => {
                let (f, flags) = compile(vm, &server.scripts, sha, body)?;
                if flags.present && !flags.no_writes && read_only {
                    return Err(CmdError::new(
                        "ERR Can not execute a script with write flag using *_ro command.",
                    ));
                }
                read_only |= flags.no_writes;
                if flags.allow_oom {
                    crate::evict::refuse_writes(false);
                }
                (f, sha.into())
            }
            Target::Function { name } => {
                let f = crate::functions::function(vm_functions(vm, server)?, name)?;
                (f, format!("fn:{name}").into())
            }
        };
        let label = || match target {
            Target::Script { sha, .. } => format!("{sha}, on @user_script"),
            Target::Function { name } => format!("{name}, on @user_function"),
        };
        let lua_err = |e: mlua::Error| CmdError::new(format!("ERR {e}"));
        let run_args = RunArgs {
            keys,
            argv,
            globals: matches!(target, Target::Script { .. }),
        };
        let mut every_shard = vm.trusted.get(&*trust_key) != Some(&true);
        loop {
            // An EXEC on this thread may already hold every shard.
            let hold = (!server.keyspace.holding())
                .then(|| server.keyspace.hold(keys.iter().copied(), every_shard));
            let run = match target {
                Target::Script { sha, .. } => {
                    server.script_state.start(false, &["f_", sha], command)
                }
                Target::Function { name } => server.script_state.start(true, &[name], command),
            };
            RUNNING.with(|r| {
                *r.borrow_mut() = Some(Running {
                    server: server.clone(),
                    run: run.clone(),
                    client: Some(script_client(db)),
                    read_only,
                    reach: Reach {
                        declared: keys.iter().map(|k| keyspace::key_shard(k)).collect(),
                        undeclared: false,
                        effects: false,
                        restart: false,
                    },
                    user: user.clone(),
                    read: false,
                    stop_line: None,
                    tracking: tracking
                        .clone()
                        .map(|m| (m, keys.iter().map(|k| Box::from(*k)).collect())),
                })
            });
            let outcome = vm.runner.call::<(bool, Value)>((
                f.clone(),
                mlua::LightUserData((&raw const run_args).cast_mut().cast()),
            ));
            let killed = run.kill.load(Ordering::Relaxed);
            let Some(mut running) = RUNNING.with(|r| r.borrow_mut().take()) else {
                return Err(CmdError::new("ERR script state lost"));
            };
            drop(running.run);
            server.script_state.finish(run);
            if killed || running.reach.restart {
                vm.lua.set_hook(WATCH_EVERY, watchdog);
            }
            SCRIPT_CLIENT.with(|c| *c.borrow_mut() = running.client.take());
            if running.reach.restart && !every_shard {
                // It starts over before changing anything (a script
                // inside EXEC never starts over: EXEC holds every shard).
                if hold.is_some() {
                    crate::propagate::discard();
                }
                every_shard = true;
                vm.trusted.insert(trust_key.to_string(), false);
                continue;
            }
            if !vm.trusted.contains_key(&*trust_key) {
                vm.trusted
                    .insert(trust_key.into_owned(), !running.reach.undeclared);
            }
            if hold.is_some() {
                // The script's writes reach the log before its locks go
                // (inside EXEC, with the transaction's).
                crate::propagate::flush(&server.propagation);
            }
            drop(hold);
            let mut out = Vec::new();
            return match outcome {
                // An error reply is the command's error (counted in errorstats).
                Ok((true, Value::Table(t)))
                    if matches!(t.raw_get::<Value>("err"), Ok(Value::String(_))) =>
                {
                    let msg: mlua::String = t.raw_get("err").map_err(lua_err)?;
                    Err(CmdError::from_bytes(msg.as_bytes().to_vec()))
                }
                Ok((true, v)) => {
                    write_script_reply(vm, v, &mut ReplyWriter::new(&mut out, proto))
                        .map_err(lua_err)?;
                    Ok(out)
                }
                Ok((false, e)) => Err(script_error(&e, &label(), running.stop_line)),
                Err(e) => Err(CmdError::new(format!("ERR {e} script: {}:?.", label()))),
            };
        }
    })??;
    ctx.out.out.extend_from_slice(&out);
    Ok(())
}

fn eval_generic(ctx: &mut Ctx, a: &[&[u8]], by_sha: bool, read_only: bool) -> CmdResult {
    let (keys, argv) = keys_and_args(a)?;
    if by_sha {
        // A SHA is 40 hex digits (any case); nothing else can be cached.
        let mut sha = [0u8; 40];
        let sha = match a[1] {
            given if given.len() == 40 => {
                sha.copy_from_slice(given);
                sha.make_ascii_lowercase();
                std::str::from_utf8(&sha).ok()
            }
            _ => None,
        }
        .ok_or_else(|| CmdError::new("NOSCRIPT No matching script. Please use EVAL."))?;
        let target = Target::Script { sha, body: None };
        return run(ctx, a, target, keys, argv, read_only);
    }
    shebang(a[1])?;
    let sha = cache(ctx.server, a[1]);
    let target = Target::Script {
        sha: &sha,
        body: Some(a[1]),
    };
    run(ctx, a, target, keys, argv, read_only)
}

/// Redis's text for a script that raised an error: the message, the script
/// and the line (`... script: <sha>, on @user_script:<line>.`; `label` is
/// everything between `script: ` and the line).
fn script_error(e: &Value, label: &str, fallback_line: Option<i64>) -> CmdError {
    // Bytes: a script's messages pass through as they are (as in Redis).
    let (msg, line): (Vec<u8>, Option<i64>) = match e {
        // From redis.call: the command's own error, and the calling line.
        Value::Table(t) => {
            let err = t
                .raw_get::<mlua::String>("err")
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_else(|_| b"ERR unknown error".to_vec());
            (err, t.raw_get::<i64>("line").ok())
        }
        // The script's own error: "user_script:3: message".
        Value::String(s) => {
            let m = s.as_bytes();
            let line = m
                .strip_prefix(b"user_script:")
                .or_else(|| m.strip_prefix(b"user_function:"))
                .and_then(|r| r.split(|&b| b == b':').next())
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<i64>().ok());
            ([b"ERR ", &m[..]].concat(), line)
        }
        Value::Error(err) => {
            let text = match err.as_ref() {
                mlua::Error::CallbackError { cause, .. } => cause.to_string(),
                other => other.to_string(),
            };
            let text = text.strip_prefix("runtime error: ").unwrap_or(&text);
            if text.starts_with("ERR ") {
                (text.as_bytes().to_vec(), None)
            } else {
                (format!("ERR {text}").into_bytes(), None)
            }
        }
        other => (
            format!("ERR {}", other.to_string().unwrap_or_default()).into_bytes(),
            None,
        ),
    };
    let line = line
        .or(fallback_line)
        .map_or("?".to_string(), |l| l.to_string());
    let mut out = msg;
    out.extend_from_slice(format!(" script: {label}:{line}.").as_bytes());
    CmdError::from_bytes(out)
}

fn eval(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, false, false)
}

fn evalsha(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, true, false)
}

fn eval_ro(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, a, true, true)
}

fn script_load(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let sha = sha1_hex(a[2]);
    with_vm(ctx.server, |vm| {
        compile(vm, &ctx.server.scripts, &sha, Some(a[2]))
    })??;
    cache(ctx.server, a[2]);
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let bodies = ctx.server.scripts.bodies.read();
    let found: Vec<bool> = a[2..]
        .iter()
        .map(|s| bodies.contains_key(&String::from_utf8_lossy(s).to_ascii_lowercase()))
        .collect();
    drop(bodies);
    ctx.out.array(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
    Ok(())
}

/// Is the optional ASYNC|SYNC argument of SCRIPT/FUNCTION FLUSH valid?
pub(crate) fn flush_mode_ok(a: &[&[u8]]) -> bool {
    a.len() <= 3
        && a.get(2)
            .is_none_or(|m| m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync"))
}

fn script_flush(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if !flush_mode_ok(a) {
        return Err(CmdError::new(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    ctx.server.scripts.bodies.write().clear();
    ctx.server.scripts.generation.fetch_add(1, Ordering::AcqRel);
    // This thread's interpreter goes at once (others at their next script).
    let old = VM.with(|cell| cell.try_borrow_mut().ok().and_then(|mut vm| vm.take()));
    if let Some(old) = old {
        ctx.server
            .scripts
            .vm_bytes
            .fetch_sub(old.reported_bytes as i64, Ordering::Relaxed);
    }
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    ctx.server.script_state.kill(false)?;
    ctx.out.ok();
    Ok(())
}

/// FUNCTION KILL.
pub(crate) fn function_kill(ctx: &mut Ctx) -> CmdResult {
    ctx.server.script_state.kill(true)?;
    ctx.out.ok();
    Ok(())
}

fn script_help(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    crate::generic::help(
        ctx,
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}
