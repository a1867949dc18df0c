//! Persistence commands and the node's RDB file: SAVE, BGSAVE, DUMP and
//! RESTORE (LASTSAVE is in `server.rs`), DEBUG RELOAD's save-and-load,
//! loading the file at startup, and the `save` points the cron checks.
//!
//! Saving never forks: the keyspace's snapshot captures every key once, as
//! it was when the save began, while clients keep reading and writing (see
//! `keyspace::snapshot` and `persist::snapshot`). SAVE waits for that on
//! the calling thread; BGSAVE on a thread of its own. One save runs at a
//! time (`State::in_progress` is the slot).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use keyspace::Value;
use persist::file::{Access, LoadSink, SaveOptions};

use crate::args::{eq, parse_i64};
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::{notify, now_ms, Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[
    ("save", save),
    ("bgsave", bgsave),
    ("dump", dump),
    ("restore", restore),
];

/// After a failed background save, the cron waits this long before the
/// `save` points may start another (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_MS: u64 = 5000;

/// Save state (INFO persistence).
pub struct State {
    pub in_progress: AtomicBool,
    /// BGSAVE SCHEDULE asked for a save while one was running.
    pub scheduled: AtomicBool,
    pub last_ok: AtomicBool,
    /// Seconds the last save took; -1 before the first.
    pub last_duration_secs: AtomicI64,
    /// When the running save began (ms), 0 when none runs.
    pub started_ms: AtomicU64,
    pub last_attempt_ms: AtomicU64,
    pub saves: AtomicU64,
    /// The keyspace's write count when the last successful save began.
    pub dirty_at_save: AtomicU64,
    pub keys_processed: Arc<AtomicU64>,
    pub keys_total: AtomicU64,
    /// Keys the last load inserted, and skipped as already expired.
    pub last_load_keys: AtomicU64,
    pub last_load_expired: AtomicU64,
    /// A replica is loading its primary's snapshot: commands that may not
    /// run meanwhile get -LOADING (INFO `loading:1`).
    pub loading: AtomicBool,
    /// The last file loaded said which database the replication stream
    /// after it selected (`repl-stream-db`): -1 if it did not.
    pub loaded_stream_db: AtomicI64,
    /// ... and the stream's id and offset (`repl-id`, `repl-offset`).
    loaded_repl_id: parking_lot::Mutex<Option<String>>,
    loaded_repl_offset: AtomicI64,
}

impl Default for State {
    fn default() -> Self {
        State {
            in_progress: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_duration_secs: AtomicI64::new(-1),
            started_ms: AtomicU64::new(0),
            last_attempt_ms: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            dirty_at_save: AtomicU64::new(0),
            keys_processed: Arc::new(AtomicU64::new(0)),
            keys_total: AtomicU64::new(0),
            last_load_keys: AtomicU64::new(0),
            last_load_expired: AtomicU64::new(0),
            loaded_stream_db: AtomicI64::new(-1),
            loading: AtomicBool::new(false),
            loaded_repl_id: parking_lot::Mutex::new(None),
            loaded_repl_offset: AtomicI64::new(-1),
        }
    }
}

impl State {
    /// INFO rdb_changes_since_last_save.
    pub fn changes_since_save(&self, server: &Server) -> u64 {
        server
            .keyspace
            .stats
            .dirty
            .get()
            .saturating_sub(self.dirty_at_save.load(Ordering::Relaxed))
    }
}

/// The RDB file's path: `dir` / `dbfilename`.
pub fn rdb_path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get("dir")).join(server.config.get("dbfilename"))
}

fn save_options(server: &Server, commands: bool) -> SaveOptions {
    let policy = server.config.get("maxmemory-policy");
    SaveOptions {
        commands,
        compression: server.config.get_bool("rdbcompression"),
        save_idle: policy.contains("lru"),
        save_freq: policy.contains("lfu"),
    }
}

/// The file's header: magic, Redis 7.0's aux fields, function libraries,
/// and the databases' sizes (`sizes`: db, keys, keys with a TTL).
fn header(
    server: &Server,
    opts: &SaveOptions,
    sizes: &[(usize, u64, u64)],
    libraries: &[Vec<u8>],
    aof_base: bool,
    stream_db: Option<usize>,
) -> Vec<u8> {
    let mut aux = vec![
        ("redis-ver", crate::REDIS_VERSION.to_string()),
        ("redis-bits", "64".to_string()),
        ("ctime", (now_ms() / 1000).to_string()),
        ("used-mem", crate::used_memory().to_string()),
    ];
    if let Some(db) = stream_db {
        // The replication stream at the snapshot's moment (made under
        // every shard lock): the database it has selected, and, once
        // there is a backlog, its id and offset, from which this node
        // resumes after a restart (PSYNC).
        aux.push(("repl-stream-db", db.to_string()));
        if let Some((id, offset)) = crate::replication::position(server) {
            aux.push(("repl-id", id));
            aux.push(("repl-offset", offset.to_string()));
        }
    }
    aux.push(("aof-base", u8::from(aof_base).to_string()));
    let mut out = Vec::new();
    if opts.commands {
        // An AOF base of commands: the libraries first, as Redis writes it.
        for code in libraries {
            persist::aof_rewrite::write_function_commands(&mut out, code.as_ref());
        }
        return out;
    }
    persist::file::write_header(&mut out, &aux, libraries, sizes, opts.compression);
    out
}

/// What a snapshot file is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotFile {
    /// The RDB file (SAVE, BGSAVE).
    Rdb,
    /// The RDB file, for a replica's full synchronization: it names the
    /// database the stream after it has selected.
    ForReplica { stream_db: usize },
    /// An AOF base: an RDB file, or commands (`aof-use-rdb-preamble no`).
    AofBase { commands: bool },
}

/// Takes the one snapshot slot (one save or AOF rewrite runs at a time);
/// false if taken.
pub(crate) fn claim(st: &State) -> bool {
    st.in_progress
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// A save whose moment is fixed, to be finished by [`finish_save`].
struct Started {
    save: persist::snapshot::Save,
    start_ms: u64,
    dirty: u64,
    path: PathBuf,
}

/// Begins a snapshot of the dataset into an RDB file at `path` (a save,
/// or the AOF's base when `aof_base`); `at_point` runs at its moment,
/// under every shard lock.
pub(crate) fn begin_snapshot_file(
    server: &Server,
    path: &std::path::Path,
    kind: SnapshotFile,
    at_point: impl FnOnce(),
) -> std::io::Result<persist::snapshot::Save> {
    // A save (not inside EXEC, whose held shards the replica's link may
    // wait for) records the stream's position: on a replica the link must
    // not be between applying a command and counting it.
    let applying = (kind == SnapshotFile::Rdb && !server.keyspace.holding())
        .then(|| server.replication.applying.lock());
    let kind = match &applying {
        Some(db) => SnapshotFile::ForReplica { stream_db: **db },
        None => kind,
    };
    let (header, opts) = snapshot_header(server, kind);
    persist::snapshot::Save::begin(
        &server.keyspace,
        path,
        header,
        opts,
        server.config.get_bool("rdbchecksum"),
        server.persistence.keys_processed.clone(),
        at_point,
    )
}

/// Begins a snapshot streamed to `out` as an RDB file (a replica's full
/// synchronization); `at_point` runs at its moment, under every shard lock.
pub(crate) fn begin_snapshot_stream(
    server: &Server,
    out: Box<dyn std::io::Write + Send>,
    stream_db: usize,
    at_point: impl FnOnce(),
) -> std::io::Result<persist::snapshot::Save> {
    let (header, opts) = snapshot_header(server, SnapshotFile::ForReplica { stream_db });
    persist::snapshot::Save::begin_stream(
        &server.keyspace,
        out,
        header,
        opts,
        server.config.get_bool("rdbchecksum"),
        server.persistence.keys_processed.clone(),
        at_point,
    )
}

/// A snapshot's header (made at its moment) and options; resets the
/// progress counters.
fn snapshot_header(
    server: &Server,
    kind: SnapshotFile,
) -> (impl FnOnce() -> Vec<u8> + '_, SaveOptions) {
    let st = &server.persistence;
    st.keys_processed.store(0, Ordering::Relaxed);
    let sizes: Vec<(usize, u64, u64)> = server
        .keyspace
        .db_counts()
        .into_iter()
        .enumerate()
        .filter(|(_, (keys, _))| *keys > 0)
        .map(|(db, (keys, expires))| (db, keys as u64, expires as u64))
        .collect();
    st.keys_total
        .store(sizes.iter().map(|s| s.1).sum(), Ordering::Relaxed);
    let opts = save_options(server, kind == SnapshotFile::AofBase { commands: true });
    let (aof_base, stream_db) = match kind {
        SnapshotFile::Rdb => (false, None),
        SnapshotFile::ForReplica { stream_db } => (false, Some(stream_db)),
        SnapshotFile::AofBase { .. } => (true, None),
    };
    // Made before the moment: the function libraries' lock is not taken
    // under the shard locks.
    let libraries = crate::functions::library_codes(server);
    let header_opts = opts.clone();
    let header = move || {
        header(
            server,
            &header_opts,
            &sizes,
            &libraries,
            aof_base,
            stream_db,
        )
    };
    (header, opts)
}

/// Begins a save (the slot must be claimed): the file will hold the
/// dataset as it is now. Releases the slot on failure.
fn begin_save(server: &Server) -> Result<Started, String> {
    let st = &server.persistence;
    let start_ms = now_ms();
    st.started_ms.store(start_ms, Ordering::Relaxed);
    st.last_attempt_ms.store(start_ms, Ordering::Relaxed);
    let path = rdb_path(server);
    let dirty = server.keyspace.stats.dirty.get();
    match begin_snapshot_file(server, &path, SnapshotFile::Rdb, || ()) {
        Ok(save) => Ok(Started {
            save,
            start_ms,
            dirty,
            path,
        }),
        Err(e) => {
            st.started_ms.store(0, Ordering::Relaxed);
            st.in_progress.store(false, Ordering::Release);
            Err(format!(
                "Failed opening the temp RDB file next to {}: {e}",
                path.display()
            ))
        }
    }
}

/// Walks and writes a begun save, records the outcome (a background one
/// also in `rdb_last_bgsave_status`) and releases the slot.
fn finish_save(
    server: &Server,
    started: Started,
    background: bool,
) -> Result<persist::snapshot::SaveStats, String> {
    let st = &server.persistence;
    // A foreground save (the caller waits) serializes on as many threads
    // as the node has workers; a background one on one, beside the workers.
    // Inside EXEC only this thread can reach the shards it holds.
    let threads = if background || server.keyspace.holding() {
        1
    } else {
        server.worker_threads.max(1)
    };
    let result = started.save.finish(&server.keyspace, threads);
    let end = now_ms();
    let took = end.saturating_sub(started.start_ms);
    st.started_ms.store(0, Ordering::Relaxed);
    let outcome = match result {
        Ok(stats) => {
            st.saves.fetch_add(1, Ordering::Relaxed);
            st.dirty_at_save.store(started.dirty, Ordering::Relaxed);
            server.lastsave.store(end / 1000, Ordering::Relaxed);
            tracing::info!(
                "DB saved on disk: {} keys, {} bytes in {took} ms ({})",
                stats.keys,
                stats.bytes,
                started.path.display()
            );
            Ok(stats)
        }
        Err(e) => {
            let msg = format!("Failed saving the DB to {}: {e}", started.path.display());
            tracing::warn!("{msg}");
            Err(msg)
        }
    };
    if background {
        st.last_ok.store(outcome.is_ok(), Ordering::Relaxed);
        st.last_duration_secs
            .store((took / 1000) as i64, Ordering::Relaxed);
    }
    st.in_progress.store(false, Ordering::Release);
    outcome
}

/// Writes the RDB file now, on this thread (other clients go on), after
/// any background save under way.
pub fn save_now(server: &Server) -> Result<persist::snapshot::SaveStats, String> {
    while !claim(&server.persistence) {
        if server.keyspace.holding() {
            // Inside EXEC (FLUSHALL, SAVE): the running save's walk may be
            // waiting for the shards this thread holds.
            return Err("a background save is in progress".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let started = begin_save(server)?;
    finish_save(server, started, false)
}

/// The save before shutting down: when `forced` (SHUTDOWN SAVE) or when
/// `save` points are configured. Waits for a running background save.
pub fn save_for_shutdown(server: &Server, forced: bool) -> Result<(), String> {
    if !forced && server.config.get("save").is_empty() {
        return Ok(());
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    save_now(server).map(|_| ())
}

/// Starts a background save: its moment is now, its walk and writing run
/// on a thread of its own. False if a save is running.
pub fn start_background_save(server: &Arc<Server>) -> bool {
    let st = &server.persistence;
    if !claim(st) {
        return false;
    }
    // The thread first: once the save has begun, it must be finished.
    let (tx, rx) = std::sync::mpsc::channel::<Started>();
    let srv = server.clone();
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let Ok(started) = rx.recv() else { return };
            // Not at a lower priority: the walk holds a shard lock while it
            // serializes a slot, and a preempted holder would stall every
            // client waiting for that shard (priority inversion; measured:
            // p99 2.5x instead of 1.8x the snapshot-free figure at nice +10).
            let _ = finish_save(&srv, started, true);
            if srv.persistence.scheduled.swap(false, Ordering::AcqRel) {
                start_background_save(&srv);
            }
        });
    let begun = match spawned {
        Ok(_) => begin_save(server),
        Err(e) => {
            st.in_progress.store(false, Ordering::Release);
            Err(format!("can't start the background save thread: {e}"))
        }
    };
    match begun {
        Ok(started) => tx.send(started).is_ok(),
        Err(e) => {
            // Redis's fork succeeds and its child fails: the save started,
            // and failed (rdb_last_bgsave_status:err).
            tracing::warn!("{e}");
            st.last_ok.store(false, Ordering::Relaxed);
            true
        }
    }
}

fn save(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    if !claim(&ctx.server.persistence) {
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    let started = begin_save(ctx.server).map_err(|_| CmdError::new("ERR"))?;
    // The save may take a while: this worker's other clients move on.
    crate::release_worker();
    match finish_save(ctx.server, started, false) {
        Ok(_) => {
            ctx.out.ok();
            Ok(())
        }
        Err(_) => Err(CmdError::new("ERR")),
    }
}

fn bgsave(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let schedule = match a.get(1) {
        None => false,
        Some(o) if eq(o, "schedule") && a.len() == 2 => true,
        Some(_) => return Err(SYNTAX),
    };
    if start_background_save(ctx.server) {
        ctx.out.simple("Background saving started");
    } else if schedule {
        ctx.server
            .persistence
            .scheduled
            .store(true, Ordering::Release);
        ctx.out.simple("Background saving scheduled");
    } else {
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    Ok(())
}

/// The cron's check of the `save` points (`save <seconds> <changes>`...):
/// starts a background save when one is due.
pub fn cron(server: &Arc<Server>) {
    let st = &server.persistence;
    if st.in_progress.load(Ordering::Acquire) {
        return;
    }
    let points = server.config.get("save");
    if points.is_empty() {
        return;
    }
    let now = now_ms();
    let changes = st.changes_since_save(server);
    let since_save = now / 1000 - server.lastsave.load(Ordering::Relaxed).min(now / 1000);
    let retry_ok = st.last_ok.load(Ordering::Relaxed)
        || now.saturating_sub(st.last_attempt_ms.load(Ordering::Relaxed)) > RETRY_DELAY_MS;
    let fields: Vec<u64> = points
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let due = fields
        .chunks_exact(2)
        .any(|p| changes >= p[1] && since_save > p[0]);
    if due && retry_ok {
        tracing::info!("{changes} changes in {since_save} seconds. Saving...");
        start_background_save(server);
    }
}

pub(crate) const MISCONF_ERROR: &[u8] = b"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Whether writes must be refused because the last background save failed
/// (`stop-writes-on-bgsave-error`, with save points configured).
pub fn writes_refused(server: &Server) -> bool {
    !server.persistence.last_ok.load(Ordering::Relaxed)
        && server.config.get_bool("stop-writes-on-bgsave-error")
        && !server.config.get("save").is_empty()
}

/// A key read from a file, on its way to the keyspace.
struct LoadedKey {
    db: usize,
    key: Vec<u8>,
    value: Value,
    expire_at: u64,
    access: Access,
}

/// Keys per hand-over from the reading thread to the inserting one.
const LOAD_BATCH: usize = 256;

/// Receives a file's contents on the reading thread: libraries load at
/// once, keys go in batches to the inserting thread ([`insert_keys`]), so
/// decoding and inserting run side by side.
struct Loader<'a> {
    server: &'a Arc<Server>,
    now: u64,
    expired_skipped: u64,
    /// Replace existing keys and libraries instead of failing on them
    /// (DEBUG RELOAD MERGE).
    merge: bool,
    batch: Vec<LoadedKey>,
    /// To the inserting thread; None inserts on this thread (DEBUG RELOAD
    /// inside EXEC, whose held shards no other thread can lock).
    tx: Option<std::sync::mpsc::SyncSender<Vec<LoadedKey>>>,
    inline_error: Option<String>,
}

impl Loader<'_> {
    /// Hands the batch over; false if the inserter has stopped (its error
    /// is the load's).
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(LOAD_BATCH));
        match &self.tx {
            Some(tx) => tx.send(batch).is_ok(),
            None => match insert_batch(self.server, batch, self.now, self.merge) {
                Ok(()) => true,
                Err(e) => {
                    self.inline_error = Some(e);
                    false
                }
            },
        }
    }
}

impl LoadSink for Loader<'_> {
    fn resize(&mut self, db: usize, keys: u64) {
        // A hint from the file: a corrupt one must not make us reserve
        // memory for billions of keys.
        const MAX_HINT: u64 = 1 << 30;
        let ks = &self.server.keyspace;
        if db < ks.databases() && ks.dbsize(db) == 0 {
            ks.reserve(db, keys.min(MAX_HINT) as usize);
        }
    }

    fn aux(&mut self, name: &[u8], value: &[u8]) {
        let st = &self.server.persistence;
        let number = || std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        match name {
            b"repl-stream-db" => {
                if let Some(db) = number() {
                    st.loaded_stream_db.store(db, Ordering::Relaxed);
                }
            }
            b"repl-offset" => {
                if let Some(offset) = number() {
                    st.loaded_repl_offset.store(offset, Ordering::Relaxed);
                }
            }
            b"repl-id" if value.len() == 40 => {
                *st.loaded_repl_id.lock() = Some(String::from_utf8_lossy(value).into_owned());
            }
            _ => {}
        }
        if name == b"redis-ver" {
            tracing::info!(
                "Loading RDB produced by version {}",
                String::from_utf8_lossy(value)
            );
        }
    }

    fn function(&mut self, code: Vec<u8>) -> Result<(), String> {
        crate::functions::load_library_code(self.server, &code, self.merge)
    }

    fn key(
        &mut self,
        db: usize,
        key: Vec<u8>,
        value: Value,
        expire_ms: Option<u64>,
        access: Access,
    ) -> Result<(), String> {
        let databases = self.server.keyspace.databases();
        if db >= databases {
            return Err(format!(
                "the file has keys in database {db}, but this server has {databases} databases (raise `databases`)"
            ));
        }
        // A primary does not load keys that already expired.
        if expire_ms.is_some_and(|at| at <= self.now) {
            self.expired_skipped += 1;
            return Ok(());
        }
        self.batch.push(LoadedKey {
            db,
            key,
            value,
            expire_at: expire_ms.unwrap_or(0),
            access,
        });
        if self.batch.len() >= LOAD_BATCH && !self.flush() {
            return Err("loading stopped".into());
        }
        Ok(())
    }
}

/// The inserting side of a load: stores every key it is handed; a key
/// already there is an error unless `merge`.
fn insert_keys(
    server: &Server,
    rx: std::sync::mpsc::Receiver<Vec<LoadedKey>>,
    now: u64,
    merge: bool,
) -> Result<(), String> {
    for batch in rx {
        insert_batch(server, batch, now, merge)?;
    }
    Ok(())
}

fn insert_batch(
    server: &Server,
    batch: Vec<LoadedKey>,
    now: u64,
    merge: bool,
) -> Result<(), String> {
    for k in batch {
        let mut l = server.keyspace.lock([k.key.as_slice()], now);
        if l.store(k.db, &k.key, k.value, k.expire_at) && !merge {
            return Err(format!(
                "duplicate key '{}' in database {}",
                String::from_utf8_lossy(&k.key),
                k.db
            ));
        }
        if k.access != Access::None {
            if let Some(e) = l.peek(k.db, &k.key) {
                apply_access(e, k.access);
            }
        }
    }
    Ok(())
}

/// What a load skipped.
struct LoadOutcome {
    expired_skipped: u64,
}

fn apply_access(e: &mut keyspace::Entry, access: Access) {
    match access {
        Access::None => {}
        Access::IdleSeconds(s) => e.set_idle_seconds(s),
        Access::Freq(f) => e.set_lfu_counter(f),
    }
}

/// Loads the RDB file into the (empty) keyspace, if it exists. The error
/// names the file, the byte offset and the problem.
/// A file that recorded the replication stream's position (a replica's,
/// or a primary's with replicas) lets the node resume from there.
pub fn load_file(server: &Arc<Server>) -> Result<Option<persist::file::LoadStats>, String> {
    let st = &server.persistence;
    *st.loaded_repl_id.lock() = None;
    st.loaded_repl_offset.store(-1, Ordering::Relaxed);
    st.loaded_stream_db.store(-1, Ordering::Relaxed);
    let loaded = load_rdb(server, &rdb_path(server), LoadMode::Fresh)?;
    let offset = st.loaded_repl_offset.load(Ordering::Relaxed);
    if let (Some(id), Ok(offset)) = (st.loaded_repl_id.lock().take(), u64::try_from(offset)) {
        let db = st.loaded_stream_db.load(Ordering::Relaxed).max(0) as usize;
        tracing::info!(
            "The file recorded replication id {id}, offset {offset}: resuming from there"
        );
        crate::replication::restore_position(server, id, offset, db);
    }
    Ok(loaded)
}

/// How a load treats the file's keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadMode {
    /// Keys that already expired are skipped, as a primary loads its RDB.
    Fresh,
    /// Its keys replace those present instead of failing (DEBUG RELOAD MERGE).
    Merge,
    /// An AOF base: every key is loaded, expired or not, as Redis loads an
    /// AOF preamble (the commands that follow saw them live; they expire
    /// once the load is over).
    AofBase,
}

/// Loads the RDB file at `path`, if it exists.
pub(crate) fn load_rdb(
    server: &Arc<Server>,
    path: &std::path::Path,
    mode: LoadMode,
) -> Result<Option<persist::file::LoadStats>, String> {
    let merge = mode == LoadMode::Merge;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("can't open {}: {e}", path.display())),
    };
    let start = std::time::Instant::now();
    // Nothing counts as expired while an AOF base loads.
    let now = if mode == LoadMode::AofBase {
        0
    } else {
        now_ms()
    };
    let limits = server.config.hot.limits();
    let checksum = server.config.get_bool("rdbchecksum");
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    let inline = server.keyspace.holding();
    let (loaded, inserted, expired_skipped) = std::thread::scope(|scope| {
        let inserter = (!inline).then(|| scope.spawn(|| insert_keys(server, rx, now, merge)));
        let mut loader = Loader {
            server,
            now,
            expired_skipped: 0,
            merge,
            batch: Vec::with_capacity(LOAD_BATCH),
            tx: (!inline).then_some(tx),
            inline_error: None,
        };
        let loaded = persist::file::load(
            std::io::BufReader::with_capacity(1 << 16, file),
            &mut loader,
            &limits,
            checksum,
        );
        loader.flush();
        let expired = loader.expired_skipped;
        let inline_error = loader.inline_error.take();
        drop(loader);
        let inserted = match inserter {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("the loading thread panicked".into())),
            None => inline_error.map_or(Ok(()), Err),
        };
        (loaded, inserted, expired)
    });
    // The inserter's error (a duplicate key) is the cause when both failed.
    inserted.map_err(|e| format!("error loading {}: {e}", path.display()))?;
    let stats = loaded.map_err(|e| format!("error loading {}: {e}", path.display()))?;
    let loader = LoadOutcome { expired_skipped };
    tracing::info!(
        "DB loaded from disk: {} keys ({} expired skipped) in {:.3} seconds",
        stats.keys - loader.expired_skipped,
        loader.expired_skipped,
        start.elapsed().as_secs_f64()
    );
    if stats.module_aux_skipped > 0 {
        tracing::warn!(
            "skipped {} module aux records in {} (modules are not supported)",
            stats.module_aux_skipped,
            path.display()
        );
    }
    let st = &server.persistence;
    st.last_load_keys
        .store(stats.keys - loader.expired_skipped, Ordering::Relaxed);
    st.last_load_expired
        .store(loader.expired_skipped, Ordering::Relaxed);
    server.lastsave.store(now_ms() / 1000, Ordering::Relaxed);
    server
        .persistence
        .dirty_at_save
        .store(server.keyspace.stats.dirty.get(), Ordering::Relaxed);
    Ok(Some(stats))
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save (unless NOSAVE), empty
/// the keyspace and the functions (unless NOFLUSH), load the file back
/// (MERGE: what the file has replaces what is there, instead of failing).
pub fn debug_reload(ctx: &mut Ctx, options: &[&[u8]]) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for o in options {
        if eq(o, "merge") {
            merge = true;
        } else if eq(o, "noflush") {
            flush = false;
        } else if eq(o, "nosave") {
            save = false;
        } else {
            return Err(CmdError::new(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    if save {
        save_now(ctx.server).map_err(|e| CmdError::new(format!("ERR {e}")))?;
    }
    if flush {
        drop(ctx.server.keyspace.flush(None));
        crate::functions::flush_all(ctx.server);
    }
    match load_rdb(
        ctx.server,
        &rdb_path(ctx.server),
        if merge {
            LoadMode::Merge
        } else {
            LoadMode::Fresh
        },
    ) {
        Ok(_) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("DEBUG RELOAD: {e}");
            Err(CmdError::new(
                "ERR Error trying to load the RDB dump, check server logs.",
            ))
        }
    }
}

fn dump(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let db = ctx.db();
    let compression = ctx.server.config.get_bool("rdbcompression");
    let mut l = ctx.lock([a[1]]);
    let payload = l.get(db, a[1]).map(|e| {
        let mut p = Vec::new();
        persist::object::write_value(&mut p, &e.value, compression);
        rdb::dump::seal(&mut p);
        p
    });
    drop(l);
    match payload {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], with
/// Redis's checks in Redis's order.
fn restore(ctx: &mut Ctx, a: &[&[u8]]) -> CmdResult {
    let key = a[1];
    let (mut replace, mut absttl) = (false, false);
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    let mut i = 4;
    while i < a.len() {
        let more = i + 1 < a.len();
        if eq(a[i], "replace") {
            replace = true;
        } else if eq(a[i], "absttl") {
            absttl = true;
        } else if eq(a[i], "idletime") && more && freq.is_none() {
            let v = crate::args::int(a[i + 1])?;
            if v < 0 {
                return Err(CmdError::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v as u64);
            i += 1;
        } else if eq(a[i], "freq") && more && idle.is_none() {
            let v = crate::args::int(a[i + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::new(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v as u8);
            i += 1;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    let db = ctx.db();
    {
        let mut l = ctx.lock([key]);
        if !replace && l.exists(db, key) {
            return Err(CmdError::new("BUSYKEY Target key name already exists."));
        }
    }
    let ttl = parse_i64(a[2]).ok_or(crate::error::NOT_INTEGER)?;
    if ttl < 0 {
        return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let Some((body, _version)) = rdb::dump::open(a[3]) else {
        return Err(CmdError::new(
            "ERR DUMP payload version or checksum are wrong",
        ));
    };
    let limits = ctx.server.config.hot.limits();
    let bad = || CmdError::new("ERR Bad data format");
    let (&rdb_type, _) = body.split_first().ok_or_else(bad)?;
    if !persist::object::is_object_type(rdb_type) {
        return Err(bad());
    }
    // Like Redis, the object is read from the whole payload: one that runs
    // on into the footer's bytes is accepted as Redis accepts it.
    let mut pos = 1;
    let value = persist::object::read_value(rdb_type, a[3], &mut pos, &limits)
        .ok()
        .flatten()
        .ok_or_else(bad)?;
    let expire_at = match ttl {
        0 => 0,
        t if absttl => t as u64,
        t => ctx.now_ms.saturating_add(t as u64),
    };
    if ttl > 0 && !absttl && ctx.propagating() {
        // A relative TTL replayed later would restart: it goes out absolute.
        let at = expire_at.to_string();
        let mut args: Vec<&[u8]> = a.to_vec();
        args[2] = at.as_bytes();
        args.push(b"ABSTTL");
        ctx.propagate(&args);
    }
    let mut l = ctx.lock([key]);
    let deleted = replace && l.remove(db, key).is_some();
    if expire_at != 0 && expire_at <= l.now_ms() {
        // Already expired: nothing is created (a replaced key is gone).
        drop(l);
        if deleted {
            ctx.notify(notify::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(());
    }
    l.set(db, key, value, expire_at);
    if let Some(e) = l.peek(db, key) {
        if let Some(s) = idle {
            e.set_idle_seconds(s);
        }
        if let Some(f) = freq {
            e.set_lfu_counter(f);
        }
    }
    drop(l);
    ctx.notify(notify::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}
