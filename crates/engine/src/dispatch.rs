//! Command lookup and execution: table lookup (no allocation), arity, auth
//! and pause checks, the handler call, and what every command records
//! afterwards (INFO commandstats/errorstats, SLOWLOG, MONITOR, the latency
//! histogram and monitor).

use std::sync::atomic::Ordering;

use keyspace::counter::Counters;
use std::sync::Arc;

use commands::{flag, CommandSpec};
use hashbrown::HashMap;
use resp::ReplyWriter;

use crate::client::{Client, ReplyMode};
use crate::{Ctx, Server};

/// A command handler: parsed arguments (name included) in, reply out through `ctx`.
pub type Handler = fn(&mut Ctx, &[&[u8]]) -> crate::CmdResult;

/// Per-command counters (INFO commandstats), indexed by the `CALLS`... constants.
pub type CmdStats = Counters<4>;
pub const CALLS: usize = 0;
pub const USEC: usize = 1;
pub const REJECTED: usize = 2;
pub const FAILED: usize = 3;

/// One table entry: the spec, its handler (containers have none) and counters.
pub struct CommandEntry {
    /// Position in the table (MULTI queues it instead of the name).
    pub index: usize,
    pub spec: &'static CommandSpec,
    pub handler: Option<Handler>,
    pub stats: CmdStats,
    /// Latency histogram (INFO latencystats, LATENCY HISTOGRAM).
    pub latency: crate::latency::Histogram,
}

/// The executable command table: the `commands` crate's data joined with the
/// handlers of the family modules.
pub struct CommandTable {
    pub entries: Vec<CommandEntry>,
    /// The names commands answer to.
    by_name: HashMap<&'static str, usize>,
    /// The names before any `rename-command` (ACL rules use them, as in
    /// Redis); None while nothing is renamed.
    original: Option<HashMap<&'static str, usize>>,
}

/// Every family module's handlers, by full command name.
fn handler_lists() -> [&'static [(&'static str, Handler)]; 25] {
    [
        crate::acl::HANDLERS,
        crate::string::HANDLERS,
        crate::blocking::HANDLERS,
        crate::bitmap::HANDLERS,
        crate::list::HANDLERS,
        crate::hash::HANDLERS,
        crate::set::HANDLERS,
        crate::zset::HANDLERS,
        crate::sort::HANDLERS,
        crate::generic::HANDLERS,
        crate::connection::HANDLERS,
        crate::server::HANDLERS,
        crate::persistence::HANDLERS,
        crate::aof::HANDLERS,
        crate::latency::HANDLERS,
        crate::introspection::HANDLERS,
        crate::multi::HANDLERS,
        crate::pubsub::HANDLERS,
        crate::scripting::HANDLERS,
        crate::functions::HANDLERS,
        crate::tracking::HANDLERS,
        crate::hyperloglog::HANDLERS,
        crate::geo::HANDLERS,
        crate::stream::HANDLERS,
        crate::replication::HANDLERS,
    ]
}

impl CommandTable {
    pub fn build() -> Self {
        let mut handlers: HashMap<&'static str, Handler> = HashMap::new();
        for list in handler_lists() {
            for (name, h) in list.iter() {
                handlers.insert(name, *h);
            }
        }
        let mut entries = Vec::new();
        let mut by_name = HashMap::new();
        for spec in commands::all() {
            by_name.insert(spec.name, entries.len());
            entries.push(CommandEntry {
                index: entries.len(),
                spec,
                handler: handlers.get(spec.name).copied(),
                stats: CmdStats::default(),
                latency: Default::default(),
            });
        }
        CommandTable {
            entries,
            by_name,
            original: None,
        }
    }

    /// `rename-command from to`: the command answers to `to` only (to
    /// nothing when `to` is empty). Names are lower case.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        if self.original.is_none() {
            self.original = Some(self.by_name.clone());
        }
        let index = self
            .by_name
            .remove(from)
            .ok_or_else(|| format!("rename-command: no command named '{from}'"))?;
        if to.is_empty() {
            return Ok(());
        }
        if self.by_name.contains_key(to) {
            return Err(format!(
                "rename-command: a command named '{to}' already exists"
            ));
        }
        // Renames are a handful, read once at startup.
        self.by_name.insert(Box::leak(to.into()), index);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&CommandEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// A command by its name before `rename-command`.
    pub fn get_original(&self, name: &str) -> Option<&CommandEntry> {
        let names = self.original.as_ref().unwrap_or(&self.by_name);
        names.get(name).map(|&i| &self.entries[i])
    }
}

/// Lower-cases `name` into `buf` without allocating; None if too long.
fn lower<'b>(name: &[u8], buf: &'b mut [u8; 64]) -> Option<&'b str> {
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..name.len()]).ok()
}

/// Why a command line does not resolve to a runnable command.
pub enum LookupError {
    Unknown,
    UnknownSub(&'static CommandSpec),
    Arity(&'static CommandSpec),
}

/// Resolves a command line to its table entry (subcommands included) and checks arity.
pub fn lookup<'t>(server: &'t Server, args: &[&[u8]]) -> Result<&'t CommandEntry, LookupError> {
    lookup_in(&server.commands, args)
}

/// [`lookup`] in a given table.
pub fn lookup_in<'t>(
    commands: &'t CommandTable,
    args: &[&[u8]],
) -> Result<&'t CommandEntry, LookupError> {
    let mut buf = [0u8; 64];
    let name = lower(args[0], &mut buf).ok_or(LookupError::Unknown)?;
    // "container|sub" is how subcommands are named, never how they are typed.
    if name.contains('|') {
        return Err(LookupError::Unknown);
    }
    let entry = commands.get(name).ok_or(LookupError::Unknown)?;
    if entry.spec.subcommands.is_empty() {
        if !entry.spec.arity_ok(args.len()) {
            return Err(LookupError::Arity(entry.spec));
        }
        return Ok(entry);
    }
    if args.len() < 2 {
        // A container runs by itself only when its arity allows (COMMAND).
        if entry.handler.is_some() && entry.spec.arity_ok(1) {
            return Ok(entry);
        }
        return Err(LookupError::Arity(entry.spec));
    }
    let mut full = [0u8; 64];
    let sub = args[1];
    let clen = entry.spec.name.len();
    if clen + 1 + sub.len() > full.len() {
        return Err(LookupError::UnknownSub(entry.spec));
    }
    full[..clen].copy_from_slice(entry.spec.name.as_bytes());
    full[clen] = b'|';
    full[clen + 1..clen + 1 + sub.len()].copy_from_slice(sub);
    let mut buf2 = [0u8; 64];
    let full_name = lower(&full[..clen + 1 + sub.len()], &mut buf2)
        .ok_or(LookupError::UnknownSub(entry.spec))?;
    let sub_entry = commands
        .get(full_name)
        .ok_or(LookupError::UnknownSub(entry.spec))?;
    if !sub_entry.spec.arity_ok(args.len()) {
        return Err(LookupError::Arity(sub_entry.spec));
    }
    Ok(sub_entry)
}

/// What the connection must do after [`execute`].
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The command is held by CLIENT PAUSE: retry after waiting (ms).
    Paused(u64),
}

/// The key of a command whose only key is at a fixed position (most
/// commands): found without allocating.
pub(crate) fn single_key<'a>(spec: &CommandSpec, args: &[&'a [u8]]) -> Option<&'a [u8]> {
    use commands::{BeginSearch, FindKeys};
    if spec.key_specs.len() != 1 {
        return None;
    }
    match spec.key_specs[0] {
        commands::KeySpec {
            begin_search: BeginSearch::Index(i),
            find_keys: FindKeys::Range { lastkey: 0, .. },
            flags,
            ..
        } if flags & commands::key_flag::INCOMPLETE == 0 => args.get(i as usize).copied(),
        _ => None,
    }
}

/// May the command change the dataset (and so be propagated)?
fn may_write(spec: &CommandSpec) -> bool {
    crate::may_replicate(spec) || crate::propagate::runs_commands(spec)
}

/// Executes one command line, appending its reply to `out`.
pub fn execute(
    server: &Arc<Server>,
    client: &mut Client,
    args: &[&[u8]],
    out: &mut Vec<u8>,
) -> Outcome {
    execute_timed(server, client, args, out, &mut None)
}

/// [`execute`] for one of a batch of pipelined commands: `clock` holds
/// when the previous command of the batch ended (µs), which serves as this
/// one's start, since only its parsing lies in between; it gets this
/// command's end. One clock read per command instead of two (they were 5%
/// of the CPU of pipelined LPUSH).
pub fn execute_timed(
    server: &Arc<Server>,
    client: &mut Client,
    args: &[&[u8]],
    out: &mut Vec<u8>,
    clock: &mut Option<u64>,
) -> Outcome {
    // One clock read serves the command's time and the start of its duration.
    let start_us = clock.take().unwrap_or_else(crate::now_us);
    let now_ms = start_us / 1000;
    let entry = match lookup(server, args) {
        Ok(e) => e,
        Err(e) => {
            let msg = match e {
                LookupError::Unknown => unknown_command(args),
                LookupError::UnknownSub(spec) => {
                    let mut m = b"ERR unknown subcommand '".to_vec();
                    m.extend_from_slice(trunc(args[1], 128));
                    m.extend_from_slice(
                        format!("'. Try {} HELP.", spec.name.to_ascii_uppercase()).as_bytes(),
                    );
                    m
                }
                LookupError::Arity(spec) => {
                    if let Some(en) = server.commands.get(spec.name) {
                        en.stats.add(REJECTED, 1);
                    }
                    format!("ERR wrong number of arguments for '{}' command", spec.name)
                        .into_bytes()
                }
            };
            let name = match e {
                LookupError::Arity(spec) => spec.name,
                _ => "",
            };
            reject_command(server, client, out, name, &msg);
            return Outcome::Done;
        }
    };
    let spec = entry.spec;
    if !client.authenticated && !spec.has_flag(flag::NO_AUTH) {
        entry.stats.add(REJECTED, 1);
        reject_command(
            server,
            client,
            out,
            spec.name,
            b"NOAUTH Authentication required.",
        );
        return Outcome::Done;
    }
    let context = if client.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    if let Err((_, msg)) = crate::acl::check_command(
        server,
        client.user.as_ref(),
        &client.shared,
        entry,
        args,
        context,
    ) {
        entry.stats.add(REJECTED, 1);
        reject_command(server, client, out, spec.name, &msg);
        return Outcome::Done;
    }
    // A script past busy-reply-threshold holds the keyspace: answer BUSY
    // instead of queueing behind it.
    if server.script_state.busy.load(Ordering::Acquire) && !spec.has_flag(flag::ALLOW_BUSY) {
        let msg = server.script_state.busy_error();
        reject_command(server, client, out, spec.name, msg.as_bytes());
        return Outcome::Done;
    }
    // RESP2 subscribers may only manage subscriptions (the connection is
    // a message stream); RESP3 multiplexes pushes and replies.
    if client.proto == resp::Protocol::Resp2
        && client.subs.any()
        && !matches!(
            spec.name,
            "subscribe"
                | "psubscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "punsubscribe"
                | "sunsubscribe"
                | "ping"
                | "quit"
                | "reset"
        )
    {
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        );
        reject(server, client, out, msg.as_bytes());
        return Outcome::Done;
    }
    // Above maxmemory, evict first. A command that may use memory is
    // refused when nothing more can go; inside MULTI so is any command but
    // EXEC, DISCARD, QUIT and RESET (queueing takes memory too).
    let exhausted = server.config.hot.maxmemory.load(Ordering::Relaxed) != 0
        && !client.from_primary
        && crate::evict::before_command(server, client.id(), out, now_ms);
    crate::evict::refuse_writes(exhausted);
    if exhausted
        && (spec.has_flag(flag::DENYOOM)
            || match (&client.multi, spec.name) {
                (Some(q), "exec") => q.denyoom,
                (Some(_), name) => !matches!(name, "discard" | "quit" | "reset"),
                (None, name) => crate::scripting::refused_when_oom(server, name, args),
            })
    {
        entry.stats.add(REJECTED, 1);
        reject_command(server, client, out, spec.name, crate::evict::OOM_ERROR);
        return Outcome::Done;
    }
    // After a failed background save, writes (and PING, as Redis) are
    // refused until a save succeeds (`stop-writes-on-bgsave-error`).
    // (One atomic load when the last save went well.)
    if crate::persistence::writes_refused(server)
        && (spec.has_flag(flag::WRITE) || spec.name == "ping")
    {
        entry.stats.add(REJECTED, 1);
        reject_command(
            server,
            client,
            out,
            spec.name,
            crate::persistence::MISCONF_ERROR,
        );
        return Outcome::Done;
    }
    // Likewise while the AOF cannot be written (Redis's MISCONF for it).
    if spec.has_flag(flag::WRITE) {
        if let Some(e) = crate::aof::write_error(server) {
            entry.stats.add(REJECTED, 1);
            let msg = format!("MISCONF Errors writing to the AOF file: {e}");
            reject_command(server, client, out, spec.name, msg.as_bytes());
            return Outcome::Done;
        }
    }
    if let Some(msg) = crate::replication::refusal(server, spec, args, client) {
        entry.stats.add(REJECTED, 1);
        reject_command(server, client, out, spec.name, msg);
        return Outcome::Done;
    }
    if let Some(queued) = &mut client.multi {
        if spec.has_flag(flag::NO_MULTI) {
            entry.stats.add(REJECTED, 1);
            reject(
                server,
                client,
                out,
                b"ERR Command not allowed inside a transaction",
            );
            return Outcome::Done;
        }
        if !matches!(
            spec.name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        ) {
            *client.shared.last_cmd.lock() = spec.name;
            if !queued.failed {
                let writes = crate::may_replicate(spec)
                    || crate::scripting::may_write(server, spec.name, args);
                queued.push(args, entry, writes);
                client
                    .shared
                    .multi
                    .store(queued.len() as i64, Ordering::Relaxed);
            }
            ReplyWriter::new(out, client.proto).simple("QUEUED");
            return Outcome::Done;
        }
    }
    // Under CLIENT PAUSE WRITE, EXEC waits when it carries writes, a script
    // when it may write.
    let writes = server.pause.is_paused(now_ms)
        && (matches!((&client.multi, spec.name), (Some(q), "exec") if q.writes)
            || crate::scripting::may_write(server, spec.name, args));
    if let Some(ms) = server
        .pause
        .wait_ms(spec, now_ms, writes)
        .filter(|_| !client.from_primary)
    {
        return Outcome::Paused(ms);
    }
    *clock = Some(call(server, client, entry, args, out, start_us));
    Outcome::Done
}

/// Runs a resolved command and records it (stats, MONITOR, SLOWLOG).
/// Returns when it ended (µs).
pub(crate) fn call(
    server: &Arc<Server>,
    client: &mut Client,
    entry: &CommandEntry,
    args: &[&[u8]],
    out: &mut Vec<u8>,
    start_us: u64,
) -> u64 {
    let spec = entry.spec;
    let now_ms = start_us / 1000;
    let Some(handler) = entry.handler else {
        // Only containers lack handlers, and lookup() never returns one.
        reject(server, client, out, &unknown_command(args));
        return start_us;
    };

    *client.shared.last_cmd.lock() = spec.name;
    if let Some(mode) = &client.tracking {
        crate::tracking::remember_keys(server, mode, spec, args, now_ms);
    }

    // CLIENT REPLY OFF/SKIP: the reply is produced and then dropped.
    let skip_before = match client.reply {
        ReplyMode::On => false,
        ReplyMode::Off => true,
        ReplyMode::SkipNext => {
            client.reply = ReplyMode::On;
            true
        }
    };
    let reply_start = out.len();
    let proto = client.proto;
    // Write propagation (see `propagate`): decided once per outermost
    // command; a propagated write runs under a hold on its keys, so its
    // effects reach the log before any other command can touch them.
    let outer = !client.in_exec;
    let gated = outer && may_write(spec);
    let mut propagates = false;
    let mut hold = None;
    if gated {
        propagates = server.propagation.enter(&client.shared);
        if propagates {
            crate::propagate::start_outer(true);
        }
        // Transactions and scripts hold their own keys; publishing touches none.
        if propagates && !crate::propagate::runs_commands(spec) && !spec.has_flag(flag::PUBSUB) {
            let mut keys: smallvec::SmallVec<[&[u8]; 16]> = smallvec::SmallVec::new();
            let every_shard = !crate::multi::command_keys(spec, args, &mut keys);
            hold = Some(server.keyspace.hold(keys.iter().copied(), every_shard));
        }
    }
    // This command, or the transaction or script it runs in, propagates:
    // only then is its change measured and its form recorded.
    let recording = crate::propagate::propagating();
    let db = client.db;
    let dirty_before = keyspace::thread_dirty();
    if recording {
        crate::propagate::before_command();
    }
    let monitored = server.monitor_count.load(Ordering::Relaxed) > 0;
    // A script or function call (flagged skip-monitor) is shown before the
    // commands it runs, as Redis's EVAL and FCALL feed monitors themselves;
    // every other command after it ran (SELECT shows the new db).
    if monitored && crate::propagate::runs_script(spec) {
        feed_monitors(server, client, args);
    }
    let result = {
        let mut ctx = Ctx {
            server,
            client: &mut *client,
            out: ReplyWriter::new(out, proto),
            now_ms,
            spec,
        };
        let r = handler(&mut ctx, args);
        // Again after the command: a key its own read expired lazily is
        // tracked anew, as Redis records keys after the command.
        if let Some(mode) = &ctx.client.tracking {
            crate::tracking::remember_keys(server, mode, spec, args, now_ms);
        }
        if let Err(e) = &r {
            ctx.out.error_bytes(&e.0);
        }
        crate::notify::flush(&mut ctx);
        r
    };
    // A command that failed changed nothing (it checks before it writes).
    if recording && result.is_ok() {
        let changed = keyspace::thread_dirty() != dirty_before;
        crate::propagate::after_command(db, spec, args, changed);
    }
    if gated {
        if propagates {
            crate::propagate::flush(&server.propagation);
            crate::propagate::start_outer(false);
            let (aof, repl) = crate::propagate::take_command_end();
            if aof > 0 {
                client.aof_offset = aof;
            }
            if repl > 0 {
                client.repl_offset = repl;
            }
        } else {
            server.propagation.leave(&client.shared);
        }
    }
    drop(hold);
    let end_us = crate::now_us();
    let usec = end_us.saturating_sub(start_us);
    // CLIENT REPLY OFF and SKIP do not answer either; a successful CLIENT
    // REPLY ON or RESET always does (Redis clears the flags before replying).
    let pushed = std::mem::take(&mut client.output_is_push);
    if (skip_before || client.reply != ReplyMode::On) && !pushed {
        let turned_on = client.reply == ReplyMode::On
            && result.is_ok()
            && matches!(spec.name, "client|reply" | "reset");
        if !turned_on {
            out.truncate(reply_start);
        }
    }

    if !client.in_exec {
        // Invalidations caused by the command (and, for EXEC or a script,
        // by the commands it ran) go after its reply, as in Redis.
        crate::tracking::flush(server, Some((client.id(), &mut *out, reply_start)), now_ms);
        server.trim_tracking_table(now_ms);
        if let Some(mode) = client.tracking.as_mut() {
            // CLIENT CACHING lasts for one command (a whole transaction).
            if client.multi.is_none() && !spec.name.starts_with("client|") {
                mode.caching = false;
            }
        }
    }

    // Like Redis, a command that blocked is counted once, when it completes.
    if client.blocked.is_none() {
        entry.stats.add(CALLS, 1);
        entry.stats.add(USEC, usec);
    }
    crate::latency::after_command(server, entry, usec, client.blocked.is_none());
    server.stats.commands_processed.incr();
    if let Err(e) = result {
        entry.stats.add(FAILED, 1);
        server.count_error(&e.0);
    }
    if monitored && !spec.has_flag(flag::SKIP_MONITOR) && !spec.has_flag(flag::ADMIN) {
        feed_monitors(server, client, args);
    }
    client
        .shared
        .last_interaction_ms
        .store(now_ms, Ordering::Relaxed);

    let threshold = server
        .config
        .hot
        .slowlog_slower_than
        .load(Ordering::Relaxed);
    if threshold >= 0 && usec >= threshold as u64 && !spec.has_flag(flag::SKIP_SLOWLOG) {
        slowlog_push(server, client, args, usec);
    }
    end_us
}

/// Rejects command `name` with `msg` ([`reject`]); an EXEC that cannot run
/// discards the transaction, and its error wraps the reason (`ERR `
/// dropped) in EXECABORT, as in Redis.
fn reject_command(server: &Server, client: &mut Client, out: &mut Vec<u8>, name: &str, msg: &[u8]) {
    if name != "exec" {
        return reject(server, client, out, msg);
    }
    crate::multi::end_multi(client);
    crate::multi::unwatch_all(server, client);
    let reason = msg.strip_prefix(b"ERR ").unwrap_or(msg);
    let mut m = b"EXECABORT Transaction discarded because of: ".to_vec();
    m.extend_from_slice(reason);
    reject(server, client, out, &m);
}

/// Answers a command that cannot run with an error; inside MULTI this also
/// dooms the transaction (EXECABORT), as in Redis.
fn reject(server: &Server, client: &mut Client, out: &mut Vec<u8>, msg: &[u8]) {
    server.count_error(msg);
    if let Some(q) = &mut client.multi {
        q.failed = true;
    } else if let Some(mode) = client.tracking.as_mut() {
        // A rejected command uses up CLIENT CACHING too, as in Redis.
        mode.caching = false;
    }
    match client.reply {
        ReplyMode::On => ReplyWriter::new(out, client.proto).error_bytes(msg),
        ReplyMode::SkipNext => client.reply = ReplyMode::On,
        ReplyMode::Off => {}
    }
}

/// At most `max` bytes of `a`, up to a NUL (C's `%.*s`, as Redis quotes).
fn trunc(a: &[u8], max: usize) -> &[u8] {
    let a = crate::error::until_nul(a);
    &a[..a.len().min(max)]
}

/// Redis's unknown-command error, with the first arguments quoted (raw bytes, as Redis echoes them).
fn unknown_command(args: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for a in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(trunc(a, room));
        list.extend_from_slice(b"' ");
    }
    let mut m = b"ERR unknown command '".to_vec();
    m.extend_from_slice(trunc(args[0], 128));
    m.extend_from_slice(b"', with args beginning with: ");
    m.extend_from_slice(&list);
    m
}

/// Appends `a` quoted the way Redis's `sdscatrepr` does.
pub fn repr(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'"');
    for &c in a {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

fn feed_monitors(server: &Server, client: &Client, args: &[&[u8]]) {
    let us = crate::now_us();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        us / 1_000_000,
        us % 1_000_000,
        client.db,
        client.shared.addr
    )
    .into_bytes();
    // Credentials never reach monitors: every AUTH argument, HELLO's AUTH user and password.
    let is_auth = args[0].eq_ignore_ascii_case(b"auth");
    let is_hello = args[0].eq_ignore_ascii_case(b"hello");
    let mut hidden = 0u8;
    for (i, a) in args.iter().enumerate() {
        line.push(b' ');
        if (is_auth && i > 0) || hidden > 0 {
            hidden = hidden.saturating_sub(1);
            repr(&mut line, b"(redacted)");
        } else {
            repr(&mut line, a);
            if is_hello && i >= 2 && a.eq_ignore_ascii_case(b"auth") {
                hidden = 2;
            }
        }
    }
    line.extend_from_slice(b"\r\n");
    let mut monitors = server.monitors.lock();
    let line = bytes::Bytes::from(line);
    monitors.retain(|m| {
        if m.shared.is_killed() {
            return false;
        }
        if m.client_id != client.id() {
            m.shared.push(line.clone());
        }
        true
    });
    server
        .monitor_count
        .store(monitors.len(), Ordering::Relaxed);
}

fn slowlog_push(server: &Server, client: &Client, args: &[&[u8]], usec: u64) {
    const MAX_ARGC: usize = 32;
    const MAX_STRING: usize = 128;
    let mut logged: Vec<Vec<u8>> = Vec::new();
    let n = args.len().min(MAX_ARGC);
    for (i, a) in args.iter().take(n).enumerate() {
        if i == MAX_ARGC - 1 && args.len() > MAX_ARGC {
            logged.push(format!("... ({} more arguments)", args.len() - MAX_ARGC + 1).into_bytes());
        } else if a.len() > MAX_STRING {
            let mut v = a[..MAX_STRING].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            logged.push(v);
        } else {
            logged.push(a.to_vec());
        }
    }
    let max_len = server.config.hot.slowlog_max_len.load(Ordering::Relaxed) as usize;
    let mut log = server.slowlog.lock();
    let id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(crate::SlowEntry {
        id,
        time: crate::now_ms() / 1000,
        duration_us: usec,
        args: logged,
        addr: client.shared.addr.clone(),
        name: client.shared.names.lock().name.clone().unwrap_or_default(),
    });
    log.entries.truncate(max_len);
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_table_entry_has_a_handler_and_vice_versa() {
        let table = super::CommandTable::build();
        for e in &table.entries {
            // Containers dispatch to their subcommands; only those that
            // also run without one (COMMAND) have a handler of their own.
            let runs_itself = e.spec.subcommands.is_empty() || e.spec.arity_ok(1);
            assert_eq!(e.handler.is_some(), runs_itself, "{}", e.spec.name);
        }
        for list in super::handler_lists() {
            for (name, _) in list.iter() {
                assert!(
                    table.get(name).is_some(),
                    "handler {name} has no table entry"
                );
            }
        }
    }
}
