//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Between MULTI and EXEC the dispatcher queues commands here instead of
//! running them. EXEC takes the shard locks of every queued key (and every
//! watched key) at once with a [`keyspace::Hold`], checks the watches, and
//! runs the commands one after another under that hold, so no other client
//! sees a partial transaction. Commands whose keys cannot be known in
//! advance (keyless commands, SORT with BY/GET patterns...) make EXEC hold
//! every shard.

use std::ops::Range;
use std::sync::atomic::Ordering;

use commands::key_flag;
use smallvec::SmallVec;

use crate::error::{CmdError, CmdResult};
use crate::{dispatch, Client, Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("multi", multi),
    ("exec", exec),
    ("discard", discard),
    ("watch", watch),
    ("unwatch", unwatch),
];

/// A queued command: its command-table index and its arguments.
type QueuedCommand<'a> = (usize, SmallVec<[&'a [u8]; 8]>);

/// The commands queued since MULTI, their arguments stored back to back.
#[derive(Default)]
pub struct Queued {
    bytes: Vec<u8>,
    args: Vec<Range<usize>>,
    /// Each command's range in `args`, and its command-table index.
    commands: Vec<(Range<usize>, usize)>,
    /// A command was rejected while queueing: EXEC must abort.
    pub(crate) failed: bool,
    /// Some queued command may write (for CLIENT PAUSE WRITE).
    pub(crate) writes: bool,
    /// Some queued command may use memory (EXEC is refused under maxmemory).
    pub(crate) denyoom: bool,
}

impl Queued {
    /// Queues a command; `writes`: it writes or may replicate (EXEC then
    /// waits under CLIENT PAUSE WRITE).
    pub(crate) fn push(&mut self, args: &[&[u8]], entry: &dispatch::CommandEntry, writes: bool) {
        let first = self.args.len();
        for a in args {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(a);
            self.args.push(start..self.bytes.len());
        }
        self.commands.push((first..self.args.len(), entry.index));
        self.writes |= writes;
        self.denyoom |= entry.spec.has_flag(commands::flag::DENYOOM);
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Each command's table index and arguments.
    fn iter(&self) -> impl Iterator<Item = QueuedCommand<'_>> {
        self.commands.iter().map(|(c, index)| {
            let args = self.args[c.clone()]
                .iter()
                .map(|r| &self.bytes[r.clone()])
                .collect();
            (*index, args)
        })
    }
}

/// Leaves MULTI state (EXEC, DISCARD, RESET).
pub(crate) fn end_multi(client: &mut Client) -> Option<Queued> {
    client.shared.multi.store(-1, Ordering::Relaxed);
    client.multi.take()
}

/// Forgets every watched key of the client (UNWATCH, EXEC, DISCARD, RESET,
/// disconnection) and clears its dirty flag.
pub fn unwatch_all(server: &Server, client: &mut Client) {
    let now = crate::now_ms();
    for (db, key) in std::mem::take(&mut client.watched) {
        server
            .keyspace
            .lock([&*key], now)
            .unwatch(db, &key, client.id());
    }
    client.watch_dirty.store(false, Ordering::Release);
}

fn multi(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Queued::default());
    ctx.client.shared.multi.store(0, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    if end_multi(ctx.client).is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::new("ERR WATCH inside MULTI is not allowed"));
    }
    // Once dirty, EXEC fails whatever else is watched.
    if !ctx.client.watch_dirty.load(Ordering::Acquire) {
        let db = ctx.db();
        for key in &a[1..] {
            if ctx
                .client
                .watched
                .iter()
                .any(|(d, k)| *d == db && **k == **key)
            {
                continue;
            }
            let id = ctx.client.id();
            let dirty = ctx.client.watch_dirty.clone();
            ctx.lock([*key]).watch(db, key, id, &dirty);
            ctx.client.watched.push((db, (*key).into()));
        }
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Must EXEC hold every shard for this command (keys unknown in advance)?
pub(crate) fn needs_every_shard(spec: &commands::CommandSpec) -> bool {
    // SORT's BY and GET patterns name keys its key specs do not; scripts
    // may touch any key.
    spec.key_specs.is_empty()
        || matches!(spec.name, "sort" | "sort_ro")
        || crate::propagate::runs_script(spec)
        || spec
            .key_specs
            .iter()
            .any(|ks| ks.flags & key_flag::INCOMPLETE != 0)
}

/// Adds the keys a command will touch to `keys`; false when they cannot
/// be known in advance (it needs every shard).
pub(crate) fn command_keys<'a>(
    spec: &commands::CommandSpec,
    args: &[&'a [u8]],
    keys: &mut SmallVec<[&'a [u8]; 16]>,
) -> bool {
    if needs_every_shard(spec) {
        return false;
    }
    if let Some(key) = dispatch::single_key(spec, args) {
        keys.push(key);
        return true;
    }
    match commands::keys::key_positions(spec, args) {
        Ok(pos) => {
            keys.extend(pos.iter().map(|(i, _)| args[*i]));
            true
        }
        Err(_) => false,
    }
}

fn exec(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let Some(queued) = end_multi(ctx.client) else {
        return Err(CmdError::new("ERR EXEC without MULTI"));
    };
    if queued.failed {
        unwatch_all(ctx.server, ctx.client);
        return Err(CmdError::new(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let server = ctx.server;
    // The shards of every key involved: queued commands' and watched ones.
    let watched = std::mem::take(&mut ctx.client.watched);
    let mut keys: SmallVec<[&[u8]; 16]> = SmallVec::new();
    let mut every_shard = false;
    let commands: SmallVec<[QueuedCommand; 8]> = queued.iter().collect();
    for (index, args) in &commands {
        let spec = server.commands.entries[*index].spec;
        every_shard |= !command_keys(spec, args, &mut keys);
    }
    keys.extend(watched.iter().map(|(_, k)| &**k));
    let hold = server.keyspace.hold(keys.iter().copied(), every_shard);
    drop(keys);

    let id = ctx.client.id();
    let dirty = ctx.client.watch_dirty.load(Ordering::Acquire)
        || !watched.is_empty() && {
            let mut l = server
                .keyspace
                .lock(watched.iter().map(|(_, k)| &**k), ctx.now_ms);
            watched
                .iter()
                .any(|(db, k)| l.watched_key_expired(*db, k, id))
        };
    if dirty {
        drop(hold);
        ctx.client.watched = watched;
        unwatch_all(server, ctx.client);
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(commands.len());
    ctx.client.in_exec = true;
    for (index, args) in &commands {
        let entry = &server.commands.entries[*index];
        // Permissions may have changed since the command was queued.
        if let Err((denied, _)) = crate::acl::check_command(
            server,
            ctx.client.user.as_ref(),
            &ctx.client.shared,
            entry,
            args,
            "multi",
        ) {
            let reason = match denied {
                crate::acl::Denied::Command => "no permission to execute the command or subcommand",
                crate::acl::Denied::Key => "no permission to touch the specified keys",
                crate::acl::Denied::Channel => {
                    "no permission to access one of the channels used as arguments"
                }
            };
            resp::ReplyWriter::new(ctx.out.out, ctx.client.proto).error(&format!(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"
            ));
            continue;
        }
        dispatch::call(
            server,
            ctx.client,
            entry,
            args,
            ctx.out.out,
            crate::now_us(),
        );
    }
    ctx.client.in_exec = false;
    // CLIENT LIST shows EXEC, not the last command it ran.
    *ctx.client.shared.last_cmd.lock() = "exec";
    // The transaction's writes reach the log before its locks go.
    crate::propagate::flush(&server.propagation);
    drop(hold);
    ctx.client.watched = watched;
    unwatch_all(server, ctx.client);
    Ok(())
}
