//! Write propagation: every change to the dataset leaves as a command that
//! reproduces it, in the order the changes were made. The append-only file
//! records this stream (see `aof.rs`), and the replication backlog feeds it
//! to replicas (see `replication.rs`).
//!
//! A command goes out as itself when replaying it reproduces its effect
//! exactly; otherwise its handler states a deterministic form
//! ([`Ctx::propagate`]), as Redis does: relative expiry times become
//! absolute (`SET .. PXAT`, `PEXPIREAT`), `SPOP` becomes `SREM`, blocking
//! pops their non-blocking forms, `INCRBYFLOAT` a `SET`, `XADD *` the id it
//! chose. A transaction's or a script's writes go out together inside
//! MULTI/EXEC. A key deleted because it expired or was evicted goes out as
//! `DEL`. A command that changed nothing goes out only when forced
//! (FLUSHALL on an empty node still empties a replica).
//!
//! Order across threads: an effect is appended to the log while the locks
//! of the keys it changed are still held, so two commands on one key are
//! logged in the order they ran. While propagation is on, the dispatcher
//! runs each write under a hold on its keys (`keyspace::Hold`, as EXEC
//! does); its ops collect in a per-thread list that is appended just
//! before the hold is released.
//!
//! Switching propagation on must not miss a write that began without it
//! and changes data after the moment the AOF's base snapshot is taken: a
//! write that runs without propagation marks its client, and
//! [`Propagation::activate`] waits for those marks to clear.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{fence, AtomicBool, Ordering};

use parking_lot::Mutex;
use resp::write_command;

use crate::client::{ClientRegistry, ClientShared};
use crate::Ctx;

/// The node's propagation switch and log.
#[derive(Default)]
pub struct Propagation {
    active: AtomicBool,
    /// `aof-timestamp-enabled`: a `#TS:<unix seconds>` annotation precedes
    /// the first command of each second.
    pub timestamps: AtomicBool,
    pub(crate) log: Mutex<Log>,
    /// Notified when the replication backlog grows (replicas' threads wait
    /// on it with the log's lock).
    pub(crate) fed: parking_lot::Condvar,
}

/// The stream of propagated commands.
#[derive(Default)]
pub(crate) struct Log {
    /// The database the stream last selected (`None`: the next op selects).
    pub(crate) db: Option<usize>,
    /// Bytes for the AOF not yet written; `None` while no AOF takes them.
    pub(crate) aof: Option<Vec<u8>>,
    /// The replication stream, once a replica has asked for it. On a
    /// replica it holds its primary's stream as received (for replicas of
    /// its own), and the commands it applies go to the AOF only.
    pub(crate) repl: Option<crate::replication::Backlog>,
    /// This node is a replica: its backlog is fed from upstream.
    pub(crate) upstream: bool,
    /// The database the replication stream last selected (the AOF's may
    /// differ: each starts from its own moment).
    pub(crate) repl_db: Option<usize>,
    /// Offset of the stream's end: bytes appended since the node started.
    pub(crate) end: u64,
    /// The second of the last timestamp annotation.
    last_timestamp: u64,
}

impl Log {
    /// Appends an encoded command, selecting `db` first when needed, after
    /// a timestamp annotation when `timestamps` and a new second began.
    fn append(&mut self, db: Option<usize>, command: &[u8], timestamps: bool) {
        if !self.upstream {
            if let Some(backlog) = self.repl.as_mut() {
                if let Some(db) = db.filter(|&db| self.repl_db != Some(db)) {
                    let mut select = Vec::new();
                    write_command(&mut select, &[&b"SELECT"[..], db.to_string().as_bytes()]);
                    backlog.feed(&select);
                    self.repl_db = Some(db);
                }
                backlog.feed(command);
            }
        }
        let Some(buf) = self.aof.as_mut() else {
            return;
        };
        let before = buf.len();
        if timestamps {
            let now = crate::now_ms() / 1000;
            if now != self.last_timestamp {
                self.last_timestamp = now;
                buf.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            }
        }
        if let Some(db) = db.filter(|&db| self.db != Some(db)) {
            write_command(buf, &[&b"SELECT"[..], db.to_string().as_bytes()]);
            self.db = Some(db);
        }
        buf.extend_from_slice(command);
        self.end += (buf.len() - before) as u64;
    }
}

/// The running command's ops, not yet in the log.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Each op's database and end in `bytes`.
    ops: Vec<(usize, usize)>,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::default();
    /// The outermost command running on this thread propagates.
    static PROPAGATING: Cell<bool> = const { Cell::new(false) };
    /// The running command stated its own propagated form ([`Ctx::propagate`]).
    static STATED: Cell<bool> = const { Cell::new(false) };
    /// The running command propagates even if it changed nothing.
    static FORCED: Cell<bool> = const { Cell::new(false) };
    /// The log's end after this thread's last append: what must be written
    /// before this thread's replies go out.
    static APPENDED: Cell<u64> = const { Cell::new(0) };
    /// The log's AOF end and replication offset after this thread's last
    /// append ((0, 0): none since they were taken): what WAITAOF and WAIT
    /// wait for.
    static COMMAND_END: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

impl Propagation {
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Called as a command that may write begins, on its outermost level:
    /// does it propagate? One that does not marks its client until
    /// [`Propagation::leave`], so a switch-on waits for it.
    pub(crate) fn enter(&self, client: &ClientShared) -> bool {
        if self.active.load(Ordering::Acquire) {
            return true;
        }
        client.unpropagated_write.store(true, Ordering::Relaxed);
        // The mark must be visible before the switch is read again (the
        // switch-on stores, then reads marks: one of the two sees the other).
        fence(Ordering::SeqCst);
        if self.active.load(Ordering::Relaxed) {
            client.unpropagated_write.store(false, Ordering::Release);
            return true;
        }
        false
    }

    /// Ends a write that [`Propagation::enter`] did not propagate.
    pub(crate) fn leave(&self, client: &ClientShared) {
        client.unpropagated_write.store(false, Ordering::Release);
    }

    /// Turns propagation on. Returns once every write that began without it
    /// has finished: from then on, every change is propagated.
    pub(crate) fn activate(&self, clients: &ClientRegistry) {
        self.active.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        for client in clients.all() {
            while client.unpropagated_write.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
    }

    /// Turns propagation off, unless replicas still take the stream.
    pub(crate) fn deactivate(&self) {
        let log = self.log.lock();
        if log.repl.is_none() {
            self.active.store(false, Ordering::Release);
        }
    }

    /// Propagates a change made outside any command (a key that expired or
    /// was evicted), under the lock of the key it changed.
    pub(crate) fn effect(&self, db: usize, args: &[&[u8]]) {
        if !self.active() {
            return;
        }
        let mut command = Vec::new();
        write_command(&mut command, args);
        let timestamps = self.timestamps.load(Ordering::Relaxed);
        let mut log = self.log.lock();
        log.append(Some(db), &command, timestamps);
        self.appended(log);
    }

    /// After this thread appended: where the log ends now (what its replies
    /// wait for), and the replicas' feeds woken.
    fn appended(&self, log: parking_lot::MutexGuard<'_, Log>) {
        APPENDED.set(log.end);
        COMMAND_END.set((log.end, log.repl.as_ref().map_or(0, |b| b.end)));
        let fed = log.repl.is_some();
        drop(log);
        if fed {
            self.fed.notify_all();
        }
    }
}

/// Does the running command propagate? (Handlers build a deterministic
/// form only then.)
pub(crate) fn propagating() -> bool {
    PROPAGATING.get()
}

/// Marks the start of the outermost command on this thread.
pub(crate) fn start_outer(propagates: bool) {
    PROPAGATING.set(propagates);
}

/// Before each command (nested ones too): it has stated nothing yet.
pub(crate) fn before_command() {
    STATED.set(false);
    FORCED.set(false);
}

/// After a command ran in database `db`: unless it stated its own form,
/// it goes out as itself when it changed something (or is forced).
/// Transactions and scripts never go out as themselves: the commands they
/// ran did.
pub(crate) fn after_command(
    db: usize,
    spec: &commands::CommandSpec,
    args: &[&[u8]],
    changed: bool,
) {
    if STATED.get() || runs_commands(spec) {
        return;
    }
    if changed || FORCED.get() {
        record(db, args);
    }
}

/// Commands whose effects are the commands they run.
pub(crate) fn runs_commands(spec: &commands::CommandSpec) -> bool {
    spec.name == "exec" || runs_script(spec)
}

/// EVAL, EVALSHA, FCALL and their read-only forms.
pub(crate) fn runs_script(spec: &commands::CommandSpec) -> bool {
    matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

fn record(db: usize, args: &[&[u8]]) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        write_command(&mut p.bytes, args);
        let end = p.bytes.len();
        p.ops.push((db, end));
    });
}

/// Appends the ops collected on this thread to the log (wrapped in
/// MULTI/EXEC when there are several). Called while the locks of the keys
/// they changed are still held.
pub(crate) fn flush(propagation: &Propagation) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.ops.is_empty() {
            return;
        }
        let ts = propagation.timestamps.load(Ordering::Relaxed);
        let mut log = propagation.log.lock();
        let wrap = p.ops.len() > 1;
        if wrap {
            let mut multi = Vec::new();
            write_command(&mut multi, &[&b"MULTI"[..]]);
            log.append(Some(p.ops[0].0), &multi, ts);
        }
        let mut start = 0;
        for &(db, end) in &p.ops {
            // No annotation inside a transaction.
            log.append(Some(db), &p.bytes[start..end], ts && !wrap);
            start = end;
        }
        if wrap {
            let mut exec = Vec::new();
            write_command(&mut exec, &[&b"EXEC"[..]]);
            log.append(None, &exec, false);
        }
        propagation.appended(log);
        p.ops.clear();
        p.bytes.clear();
        if p.bytes.capacity() > 1 << 20 {
            p.bytes = Vec::new();
        }
    });
}

/// Drops the ops collected on this thread (a script that starts over).
pub(crate) fn discard() {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.ops.clear();
        p.bytes.clear();
    });
}

/// The log's AOF end and replication offset this thread's last append
/// reached, cleared ((0, 0): nothing appended since).
pub(crate) fn take_command_end() -> (u64, u64) {
    COMMAND_END.replace((0, 0))
}

/// The log offset this thread's last append reached, cleared: what must be
/// written before its replies go out (0: nothing).
pub(crate) fn take_appended() -> u64 {
    APPENDED.replace(0)
}

impl Ctx<'_> {
    /// Is this command's effect being propagated?
    pub(crate) fn propagating(&self) -> bool {
        propagating()
    }

    /// Propagates `args` (in this command's database) instead of the
    /// command itself; several calls propagate several commands, and a
    /// handler that wants none calls [`Ctx::propagate_nothing`].
    pub(crate) fn propagate(&mut self, args: &[&[u8]]) {
        if PROPAGATING.get() {
            STATED.set(true);
            record(self.client.db, args);
        }
    }

    /// Propagates nothing for this command (its changes need no replay).
    pub(crate) fn propagate_nothing(&mut self) {
        STATED.set(true);
    }

    /// Propagates the command even if it changed nothing.
    pub(crate) fn force_propagation(&mut self) {
        FORCED.set(true);
    }
}
