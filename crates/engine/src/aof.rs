//! The append-only file, in Redis 7's multi-part layout: in `dir` /
//! `appenddirname`, a base file (an RDB snapshot), incremental files of
//! the commands since, and a manifest naming them (see `persist::aof`).
//!
//! Writing: propagated commands (see `propagate`) collect in the log; a
//! connection writes them to the current incremental file before it sends
//! the replies of the commands that made them, so an acknowledged write is
//! in the file (in the page cache) even if the process dies. The fsync
//! follows `appendfsync`: `always` before the reply (one fsync covers
//! every connection waiting at that moment), `everysec` once a second on
//! a thread of its own, `no` when the kernel decides.
//!
//! Rewriting (BGREWRITEAOF, switching the AOF on, growth past
//! `auto-aof-rewrite-percentage`) never forks: a new incremental file
//! starts at the exact moment a snapshot begins (under every shard lock),
//! the snapshot becomes the new base, and only then does the manifest
//! switch to the new base and incremental file and the old files go. A
//! crash at any point leaves a manifest whose files replay to the data.
//!
//! Lock order: shard locks, then `Aof::files`, then the propagation log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use persist::aof::{AofFile, CommandReader, FileKind, Manifest, ReadError, ReadLimits};

use crate::error::{CmdError, CmdResult};
use crate::{now_ms, Client, ClientShared, Ctx, Handler, Server};

pub(crate) const HANDLERS: &[(&str, Handler)] = &[("bgrewriteaof", bgrewriteaof)];

/// The AOF's state (INFO persistence's `aof_*` fields).
pub struct Aof {
    files: Mutex<Files>,
    /// `aof_enabled`: on, or waiting for the rewrite that switches it on.
    pub enabled: AtomicBool,
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    pub rewrite_started_ms: AtomicU64,
    pub last_rewrite_secs: AtomicI64,
    pub last_rewrite_ok: AtomicBool,
    pub rewrites: AtomicU64,
    pub rewrite_failures: AtomicU64,
    /// The last write or fsync failed (writes are refused until one
    /// works): the flag for the command path, the message for replies.
    write_failed: AtomicBool,
    pub write_error: Mutex<Option<String>>,
    fsync_running: Arc<AtomicBool>,
    pub delayed_fsync: AtomicU64,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            files: Mutex::new(Files::default()),
            enabled: AtomicBool::new(false),
            rewrite_in_progress: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            rewrite_started_ms: AtomicU64::new(0),
            last_rewrite_secs: AtomicI64::new(-1),
            last_rewrite_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            rewrite_failures: AtomicU64::new(0),
            write_failed: AtomicBool::new(false),
            write_error: Mutex::new(None),
            fsync_running: Arc::new(AtomicBool::new(false)),
            delayed_fsync: AtomicU64::new(0),
        }
    }
}

/// The files being written.
#[derive(Default)]
struct Files {
    manifest: Manifest,
    /// The incremental file commands go to (None while the AOF is off).
    incr: Option<File>,
    /// Log offsets written to the files and made durable.
    written: u64,
    synced: u64,
    /// Bytes in the current incremental file.
    incr_len: u64,
    /// The log's previous buffer, emptied, swapped back in at the next
    /// write (no allocation per write).
    spare: Vec<u8>,
    /// Bytes of the base file, and of the base and incremental files.
    base_size: u64,
    current_size: u64,
    /// `current_size` after the last rewrite (auto-rewrite grows from it).
    size_at_rewrite: u64,
}

/// The AOF directory.
fn dir(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get("dir")).join(server.config.get("appenddirname"))
}

fn manifest_name(server: &Server) -> String {
    format!("{}.manifest", server.config.get("appendfilename"))
}

fn incr_name(server: &Server, seq: u64) -> String {
    format!("{}.{seq}.incr.aof", server.config.get("appendfilename"))
}

/// An RDB base, or (`aof-use-rdb-preamble no`) one of commands.
fn base_name(server: &Server, seq: u64, commands: bool) -> String {
    let ext = if commands { "aof" } else { "rdb" };
    format!("{}.{seq}.base.{ext}", server.config.get("appendfilename"))
}

/// Writes the manifest (temporary file, fsync, rename, directory fsync).
fn persist_manifest(server: &Server, manifest: &Manifest) -> std::io::Result<()> {
    let dir = dir(server);
    let name = manifest_name(server);
    let temp = dir.join(format!("temp-{name}"));
    let mut f = File::create(&temp)?;
    f.write_all(manifest.render().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&temp, dir.join(name))?;
    File::open(&dir)?.sync_all()
}

fn open_incr(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn always(server: &Server) -> bool {
    server.config.hot.appendfsync_always.load(Ordering::Relaxed)
}

/// Writes what the log holds to the incremental file (and, when `sync`,
/// makes it durable). A failed write keeps the bytes for the next try.
fn write_pending(server: &Server, files: &mut Files, sync: bool) {
    let Some(incr) = files.incr.as_mut() else {
        return;
    };
    let (bytes, end) = {
        let mut log = server.propagation.log.lock();
        let end = log.end;
        match log.aof.as_mut() {
            Some(buf) if !buf.is_empty() => (
                std::mem::replace(buf, std::mem::take(&mut files.spare)),
                end,
            ),
            _ => (Vec::new(), end),
        }
    };
    let aof = &server.aof;
    if !bytes.is_empty() {
        if let Err(e) = incr.write_all(&bytes) {
            // The next try starts from what was whole: the file is cut
            // back to it.
            let _ = incr.set_len(files.incr_len);
            let mut log = server.propagation.log.lock();
            if let Some(buf) = log.aof.as_mut() {
                let newer = std::mem::replace(buf, bytes);
                buf.extend_from_slice(&newer);
            }
            record_write_error(aof, format!("Error writing to the AOF file: {e}"));
            return;
        }
        files.written = end;
        files.incr_len += bytes.len() as u64;
        files.current_size += bytes.len() as u64;
        if bytes.capacity() <= 1 << 20 {
            let mut bytes = bytes;
            bytes.clear();
            files.spare = bytes;
        }
    }
    if sync && files.synced < files.written {
        if let Err(e) = incr.sync_data() {
            record_write_error(aof, format!("Error syncing the AOF file: {e}"));
            return;
        }
        files.synced = files.written;
        // WAITAOF waits for this.
        server.replication.wake_waiters();
    }
    if aof.write_failed.swap(false, Ordering::AcqRel) {
        aof.write_error.lock().take();
        tracing::warn!("AOF write error looks solved: the server can write again.");
    }
}

fn record_write_error(aof: &Aof, msg: String) {
    let mut err = aof.write_error.lock();
    if err.is_none() {
        tracing::warn!("{msg}");
    }
    *err = Some(msg);
    aof.write_failed.store(true, Ordering::Release);
}

/// Called by a connection before it sends replies: the commands this
/// thread propagated reach the file first (and the disk, with `always`).
pub fn before_reply(server: &Server) {
    let need = crate::propagate::take_appended();
    if need == 0 || !server.aof.enabled.load(Ordering::Relaxed) {
        return;
    }
    let sync = always(server);
    let mut files = server.aof.files.lock();
    if files.written >= need && (!sync || files.synced >= need) {
        // Another connection wrote (and synced) these bytes meanwhile.
        return;
    }
    write_pending(server, &mut files, sync);
}

/// How far the AOF is on disk (fsynced), in the propagation log's
/// offsets; None while the AOF is off.
pub fn fsynced(server: &Server) -> Option<u64> {
    if !server.aof.enabled.load(Ordering::Acquire) {
        return None;
    }
    Some(server.aof.files.lock().synced)
}

/// The propagation log's end, in the AOF's offsets (what a replica's AOF
/// must reach for the commands applied so far).
pub fn logged(server: &Server) -> u64 {
    server.propagation.log.lock().end
}

/// Writes are refused while the AOF cannot be written (Redis's MISCONF).
pub fn write_error(server: &Server) -> Option<String> {
    if !server.aof.write_failed.load(Ordering::Acquire) {
        return None;
    }
    server.aof.write_error.lock().clone()
}

/// The once-a-second work: write what expiry and eviction logged, fsync
/// (`everysec`), retry a failed write, start a due rewrite.
pub fn cron(server: &Arc<Server>) {
    let aof = &server.aof;
    if aof.enabled.load(Ordering::Relaxed) {
        let mut files = server.aof.files.lock();
        write_pending(server, &mut files, false);
        let everysec = server.config.get("appendfsync") == "everysec";
        let skip = server.config.get_bool("no-appendfsync-on-rewrite")
            && aof.rewrite_in_progress.load(Ordering::Relaxed);
        if everysec && !skip && files.synced < files.written {
            if aof.fsync_running.swap(true, Ordering::AcqRel) {
                // The disk is slow: the last fsync is still under way.
                aof.delayed_fsync.fetch_add(1, Ordering::Relaxed);
            } else if let Some(clone) = files.incr.as_ref().and_then(|f| f.try_clone().ok()) {
                let upto = files.written;
                drop(files);
                let srv = server.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name("aof-fsync".into())
                        .spawn(move || {
                            let result = clone.sync_data();
                            let aof = &srv.aof;
                            match result {
                                Ok(()) => {
                                    let mut files = aof.files.lock();
                                    files.synced = files.synced.max(upto);
                                    drop(files);
                                    srv.replication.wake_waiters();
                                }
                                Err(e) => record_write_error(
                                    aof,
                                    format!("Error syncing the AOF file: {e}"),
                                ),
                            }
                            aof.fsync_running.store(false, Ordering::Release);
                        });
                if spawned.is_err() {
                    aof.fsync_running.store(false, Ordering::Release);
                }
            } else {
                aof.fsync_running.store(false, Ordering::Release);
            }
        }
    }
    if aof.rewrite_in_progress.load(Ordering::Acquire) {
        return;
    }
    let due = aof.rewrite_scheduled.load(Ordering::Acquire) || growth_due(server);
    if due && !server.persistence.in_progress.load(Ordering::Acquire) {
        start_rewrite(server);
    }
}

/// Has the AOF grown past `auto-aof-rewrite-percentage` of its size after
/// the last rewrite (and past `auto-aof-rewrite-min-size`)?
fn growth_due(server: &Server) -> bool {
    if !server.propagation.active() || !server.aof.enabled.load(Ordering::Relaxed) {
        return false;
    }
    let pct = server.config.get_i64("auto-aof-rewrite-percentage").max(0) as u64;
    let min = server.config.get_i64("auto-aof-rewrite-min-size").max(0) as u64;
    let files = server.aof.files.lock();
    let base = files.size_at_rewrite.max(1);
    pct > 0 && files.current_size > min && (files.current_size - base) * 100 / base >= pct
}

/// Starts a rewrite on a thread of its own, or schedules it when a save
/// is running. False if neither (one is already running).
pub fn start_rewrite(server: &Arc<Server>) -> bool {
    let aof = &server.aof;
    if aof.rewrite_in_progress.load(Ordering::Acquire) {
        return false;
    }
    if !crate::persistence::claim(&server.persistence) {
        aof.rewrite_scheduled.store(true, Ordering::Release);
        return true;
    }
    aof.rewrite_scheduled.store(false, Ordering::Release);
    aof.rewrite_in_progress.store(true, Ordering::Release);
    aof.rewrite_started_ms.store(now_ms(), Ordering::Relaxed);
    let srv = server.clone();
    let spawned = std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || {
            let outcome = rewrite(&srv);
            finish_rewrite(&srv, outcome);
        });
    if let Err(e) = spawned {
        tracing::warn!("can't start the AOF rewrite thread: {e}");
        finish_rewrite(server, Err(e.to_string()));
        return false;
    }
    true
}

/// Records a rewrite's outcome and releases the snapshot slot.
fn finish_rewrite(server: &Server, outcome: Result<(), String>) {
    let aof = &server.aof;
    let took = now_ms().saturating_sub(aof.rewrite_started_ms.swap(0, Ordering::Relaxed));
    aof.last_rewrite_secs
        .store((took / 1000) as i64, Ordering::Relaxed);
    match &outcome {
        Ok(()) => {
            aof.rewrites.fetch_add(1, Ordering::Relaxed);
            aof.rewrite_failures.store(0, Ordering::Relaxed);
            aof.last_rewrite_ok.store(true, Ordering::Relaxed);
            tracing::info!("Background AOF rewrite finished successfully ({took} ms)");
        }
        Err(e) => {
            aof.rewrite_failures.fetch_add(1, Ordering::Relaxed);
            aof.last_rewrite_ok.store(false, Ordering::Relaxed);
            tracing::warn!("Background AOF rewrite failed: {e}");
        }
    }
    aof.rewrite_in_progress.store(false, Ordering::Release);
    server
        .persistence
        .in_progress
        .store(false, Ordering::Release);
}

/// What a rewrite does besides writing a new base.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The AOF is on: a new incremental file starts at the snapshot.
    Running,
    /// The AOF is being switched on (CONFIG SET appendonly yes, startup).
    SwitchOn,
    /// The AOF is off (BGREWRITEAOF with appendonly no): only the base.
    BaseOnly,
}

/// A rewrite (the snapshot slot is claimed): a new incremental file from
/// the snapshot's moment, the snapshot as the new base, then the switch.
fn rewrite(server: &Arc<Server>) -> Result<(), String> {
    let mode = if server.propagation.active() {
        Mode::Running
    } else if server.aof.enabled.load(Ordering::Acquire) {
        Mode::SwitchOn
    } else {
        Mode::BaseOnly
    };
    let result = rewrite_inner(server, mode);
    if result.is_err() && mode == Mode::SwitchOn {
        // The AOF stays off: nothing names the new incremental file.
        server.propagation.deactivate();
        server.propagation.log.lock().aof = None;
        server.aof.files.lock().incr = None;
        server.aof.enabled.store(false, Ordering::Release);
    }
    result
}

fn rewrite_inner(server: &Arc<Server>, mode: Mode) -> Result<(), String> {
    let dir = dir(server);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("can't create the AOF directory {}: {e}", dir.display()))?;
    // The files the new base replaces: the running AOF's, or those an
    // earlier run left.
    let old = match mode {
        Mode::Running => server.aof.files.lock().manifest.clone(),
        _ => read_manifest(server).ok().flatten().unwrap_or_default(),
    };
    let commands = !server.config.get_bool("aof-use-rdb-preamble");
    let base = AofFile {
        name: base_name(server, old.next_base_seq(), commands),
        seq: old.next_base_seq(),
        kind: FileKind::Base,
    };
    let base_path = dir.join(&base.name);
    let incr = (mode != Mode::BaseOnly).then(|| AofFile {
        name: incr_name(server, old.next_incr_seq()),
        seq: old.next_incr_seq(),
        kind: FileKind::Incr,
    });
    let mut new_file = match &incr {
        Some(f) => {
            let path = dir.join(&f.name);
            Some(open_incr(&path).map_err(|e| format!("can't create {}: {e}", path.display()))?)
        }
        None => None,
    };
    let remove_incr = || {
        if let Some(f) = &incr {
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
    };
    match (mode, &incr) {
        (Mode::Running, Some(f)) => {
            // A crash during the rewrite replays the old files and the new one.
            let mut files = server.aof.files.lock();
            let mut m = files.manifest.clone();
            m.incrs.push(f.clone());
            persist_manifest(server, &m).map_err(|e| format!("can't write the manifest: {e}"))?;
            files.manifest = m;
        }
        // Every write from here on is propagated (those before the
        // snapshot's moment are in the snapshot and dropped from the log).
        (Mode::SwitchOn, _) => server.propagation.activate(&server.clients),
        _ => {}
    }
    let mut old_file = None;
    let at_point = || {
        if mode == Mode::BaseOnly {
            return;
        }
        // Under every shard lock: no command is half done, and from here
        // the log holds exactly the changes the snapshot does not.
        let mut files = server.aof.files.lock();
        if mode == Mode::Running {
            write_pending(server, &mut files, false);
        }
        let mut log = server.propagation.log.lock();
        match log.aof.as_mut() {
            // Changes before this moment are in the snapshot: bytes the old
            // file could not take must not reach the new one (replayed
            // after the base, they would apply twice).
            Some(unwritten) if !unwritten.is_empty() => {
                tracing::warn!(
                    "{} bytes of the AOF could not be written before the rewrite's snapshot; the new base holds them",
                    unwritten.len()
                );
                unwritten.clear();
            }
            Some(_) => {}
            None => log.aof = Some(Vec::new()),
        }
        log.db = None;
        files.written = log.end;
        files.synced = log.end;
        files.incr_len = 0;
        old_file = std::mem::replace(&mut files.incr, new_file.take());
    };
    let kind = crate::persistence::SnapshotFile::AofBase { commands };
    let save = crate::persistence::begin_snapshot_file(server, &base_path, kind, at_point)
        .map_err(|e| format!("can't start the snapshot: {e}"));
    if let Some(old) = old_file {
        // What went to the previous file stays replayable if this fails.
        let _ = old.sync_data();
    }
    let save = save.inspect_err(|_| {
        if mode == Mode::SwitchOn {
            remove_incr();
        }
    })?;
    let written = save
        .finish(&server.keyspace, 1)
        .map_err(|e| format!("can't write {}: {e}", base_path.display()));
    if written.is_err() && mode == Mode::SwitchOn {
        remove_incr();
    }
    written?;
    // The switch: the new base and the incremental file begun at its
    // moment replace everything before.
    let mut files = server.aof.files.lock();
    let manifest = Manifest {
        base: Some(base),
        incrs: incr.iter().cloned().collect(),
        history: Vec::new(),
    };
    persist_manifest(server, &manifest).map_err(|e| format!("can't write the manifest: {e}"))?;
    let keep: Vec<&str> = manifest
        .base
        .iter()
        .chain(&manifest.incrs)
        .map(|f| f.name.as_str())
        .collect();
    for f in old.base.iter().chain(&old.incrs).chain(&old.history) {
        if !keep.contains(&f.name.as_str()) {
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
    }
    files.base_size = file_size(&base_path);
    files.current_size = files.base_size + files.incr_len;
    files.size_at_rewrite = files.current_size;
    if mode != Mode::BaseOnly {
        files.manifest = manifest;
    }
    Ok(())
}

fn read_manifest(server: &Server) -> Result<Option<Manifest>, String> {
    read_manifest_at(&dir(server), &manifest_name(server))
}

fn read_manifest_at(dir: &Path, name: &str) -> Result<Option<Manifest>, String> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(text) => Manifest::parse(&text)
            .map(Some)
            .map_err(|e| format!("Bad AOF manifest {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("can't read {}: {e}", path.display())),
    }
}

/// At startup with `appendonly yes`: loads the AOF (base, then every
/// incremental file), or creates one from the (empty) dataset when there
/// is none, and switches the AOF on. The error names the file, the offset
/// and the problem.
pub fn load_at_startup(server: &Arc<Server>) -> Result<(), String> {
    let dir = dir(server);
    let Some(manifest) = read_manifest(server)? else {
        // Not counted as a rewrite (INFO), as in Redis.
        tracing::info!("Creating AOF base file on server start");
        server.aof.enabled.store(true, Ordering::Release);
        return rewrite(server);
    };
    let start = std::time::Instant::now();
    load_files(server, &manifest)?;
    let mut files = server.aof.files.lock();
    let mut manifest = manifest;
    if manifest.incrs.is_empty() {
        let seq = manifest.next_incr_seq();
        manifest.incrs.push(AofFile {
            name: incr_name(server, seq),
            seq,
            kind: FileKind::Incr,
        });
        persist_manifest(server, &manifest)
            .map_err(|e| format!("can't write the manifest: {e}"))?;
    }
    let last = manifest.incrs.last().map(|f| dir.join(&f.name));
    let incr_path = last.ok_or("the manifest names no incremental file")?;
    let file =
        open_incr(&incr_path).map_err(|e| format!("can't open {}: {e}", incr_path.display()))?;
    files.base_size = manifest
        .base
        .as_ref()
        .map_or(0, |b| file_size(&dir.join(&b.name)));
    files.current_size = files.base_size
        + manifest
            .incrs
            .iter()
            .map(|f| file_size(&dir.join(&f.name)))
            .sum::<u64>();
    files.size_at_rewrite = files.current_size;
    files.incr_len = file_size(&incr_path);
    files.incr = Some(file);
    files.manifest = manifest;
    let mut log = server.propagation.log.lock();
    log.aof = Some(Vec::new());
    log.db = None;
    files.written = log.end;
    files.synced = log.end;
    drop(log);
    drop(files);
    server.propagation.activate(&server.clients);
    server.aof.enabled.store(true, Ordering::Release);
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Loads the manifest's base and incremental files, in order. Only the
/// last file may be cut short (the tail of a crash).
fn load_files(server: &Arc<Server>, manifest: &Manifest) -> Result<(), String> {
    let dir = dir(server);
    let files: Vec<&AofFile> = manifest.base.iter().chain(&manifest.incrs).collect();
    let truncated_ok = server.config.get_bool("aof-load-truncated");
    for (i, f) in files.iter().enumerate() {
        let path = dir.join(&f.name);
        let last = i + 1 == files.len();
        if f.kind == FileKind::Base && is_rdb(&path)? {
            crate::persistence::load_rdb(server, &path, crate::persistence::LoadMode::AofBase)?;
            continue;
        }
        replay(server, &path, last && truncated_ok)?;
    }
    Ok(())
}

/// DEBUG LOADAOF: what is logged reaches the file, then the dataset is
/// emptied and loaded back from the AOF (every shard held meanwhile, so
/// no client sees it half loaded).
pub fn debug_loadaof(server: &Arc<Server>) -> Result<(), String> {
    flush_for_shutdown(server);
    let manifest = read_manifest(server)?.ok_or("the AOF does not exist")?;
    let _hold = server.keyspace.hold(std::iter::empty(), true);
    server.keyspace.flush(None);
    crate::functions::flush_all(server);
    load_files(server, &manifest)?;
    tracing::info!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

fn is_rdb(path: &Path) -> Result<bool, String> {
    use std::io::Read;
    let mut magic = [0u8; 5];
    let mut f = File::open(path).map_err(|e| format!("can't open {}: {e}", path.display()))?;
    Ok(f.read_exact(&mut magic).is_ok() && &magic == b"REDIS")
}

/// Runs the commands of an AOF file. A file cut short inside its last
/// command (or transaction) is truncated to what is whole when
/// `truncate_ok`, and refused otherwise.
fn replay(server: &Arc<Server>, path: &Path, truncate_ok: bool) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("can't open {}: {e}", path.display()))?;
    let limits = ReadLimits {
        max_args: i32::MAX as usize,
        max_bulk: server.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
    };
    let mut reader = CommandReader::new(std::io::BufReader::with_capacity(1 << 16, file), limits);
    let shared = Arc::new(ClientShared::new(
        0,
        String::new(),
        String::new(),
        -1,
        now_ms(),
    ));
    let mut client = Client::new(shared, true);
    // Commands replay one by one, never blocking (as Redis's AOF client),
    // and nothing expires meanwhile: each command must find the keys it
    // found when it ran (what did expire is logged as DEL).
    client.in_exec = true;
    client.loading = true;
    let mut out = Vec::new();
    // Commands of an open MULTI, and where it began.
    let mut transaction: Option<(Vec<Vec<Vec<u8>>>, u64)> = None;
    let name = path.display();
    loop {
        let (args, at) = match reader.next_command() {
            Ok(Some(c)) => c,
            Ok(None) => match transaction {
                // An unfinished transaction is the tail of a crash.
                Some((_, at)) => {
                    return truncated(path, at, truncate_ok, "the file ends inside MULTI/EXEC")
                }
                None => return Ok(()),
            },
            Err(ReadError::Truncated { valid_len }) => {
                let at = transaction.map_or(valid_len, |(_, at)| at);
                return truncated(path, at, truncate_ok, "the file ends inside a command");
            }
            Err(ReadError::Corrupt { offset, problem }) => {
                return Err(format!(
                    "Bad file format reading the append only file {name} at offset {offset}: {problem}. Make a backup of it and use redis-check-aof --fix on the manifest"
                ))
            }
            Err(ReadError::Io(e)) => return Err(format!("error reading {name}: {e}")),
        };
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        if refs[0].eq_ignore_ascii_case(b"multi") {
            transaction = Some((Vec::new(), at));
            continue;
        }
        if refs[0].eq_ignore_ascii_case(b"exec") {
            let Some((queued, _)) = transaction.take() else {
                return Err(format!("EXEC without MULTI in {name} at offset {at}"));
            };
            for cmd in &queued {
                let refs: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
                run_loaded(server, &mut client, &refs, &mut out, path, at)?;
            }
            continue;
        }
        match transaction.as_mut() {
            Some((queued, _)) => queued.push(args),
            None => run_loaded(server, &mut client, &refs, &mut out, path, at)?,
        }
    }
}

fn run_loaded(
    server: &Arc<Server>,
    client: &mut Client,
    args: &[&[u8]],
    out: &mut Vec<u8>,
    path: &Path,
    at: u64,
) -> Result<(), String> {
    let entry = crate::dispatch::lookup(server, args).map_err(|_| {
        format!(
            "Unknown command '{}' reading the append only file {} at offset {at}",
            String::from_utf8_lossy(args[0]),
            path.display()
        )
    })?;
    out.clear();
    crate::dispatch::call(server, client, entry, args, out, crate::now_us());
    Ok(())
}

fn truncated(path: &Path, valid_len: u64, truncate_ok: bool, what: &str) -> Result<(), String> {
    let name = path.display();
    if !truncate_ok {
        return Err(format!(
            "Unexpected end of file reading the append only file {name}: {what} at offset {valid_len}. Make a backup of it and use redis-check-aof --fix on the manifest, or set aof-load-truncated yes"
        ));
    }
    tracing::warn!(
        "!!! Warning: short read while loading the AOF file {name}: {what} at offset {valid_len}; the file is truncated there !!!"
    );
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(valid_len).and_then(|_| f.sync_all()))
        .map_err(|e| format!("can't truncate {name} to {valid_len} bytes: {e}"))
}

/// `CONFIG SET appendonly`: switches the AOF on (by a rewrite, in the
/// background) or off.
pub fn appendonly_changed(server: &Arc<Server>) -> Result<(), String> {
    let on = server.config.get_bool("appendonly");
    let aof = &server.aof;
    if on && !aof.enabled.load(Ordering::Acquire) {
        aof.enabled.store(true, Ordering::Release);
        if !start_rewrite(server) {
            aof.enabled.store(false, Ordering::Release);
            return Err("can't start the AOF rewrite".into());
        }
    } else if !on && aof.enabled.load(Ordering::Acquire) {
        stop(server);
    }
    Ok(())
}

/// Switches the AOF off: what is logged is written and synced, the file
/// closed.
fn stop(server: &Server) {
    server.propagation.deactivate();
    let mut files = server.aof.files.lock();
    write_pending(server, &mut files, true);
    files.incr = None;
    server.propagation.log.lock().aof = None;
    server.aof.enabled.store(false, Ordering::Release);
}

/// Before the process exits: everything logged reaches the disk.
pub fn flush_for_shutdown(server: &Server) {
    if server.aof.enabled.load(Ordering::Acquire) {
        let mut files = server.aof.files.lock();
        write_pending(server, &mut files, true);
    }
}

/// INFO persistence's AOF fields.
pub fn info(server: &Server, out: &mut String) {
    use std::fmt::Write as _;
    let aof = &server.aof;
    let enabled = aof.enabled.load(Ordering::Relaxed);
    let started = aof.rewrite_started_ms.load(Ordering::Relaxed);
    let current_secs = if started == 0 {
        -1
    } else {
        (now_ms().saturating_sub(started) / 1000) as i64
    };
    let write_ok = aof.write_error.lock().is_none();
    let _ = write!(
        out,
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{current_secs}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        u8::from(enabled),
        u8::from(aof.rewrite_in_progress.load(Ordering::Relaxed)),
        u8::from(aof.rewrite_scheduled.load(Ordering::Relaxed)),
        aof.last_rewrite_secs.load(Ordering::Relaxed),
        if aof.last_rewrite_ok.load(Ordering::Relaxed) { "ok" } else { "err" },
        aof.rewrites.load(Ordering::Relaxed),
        aof.rewrite_failures.load(Ordering::Relaxed),
        if write_ok { "ok" } else { "err" },
    );
    if enabled {
        let files = aof.files.lock();
        let pending = server
            .propagation
            .log
            .lock()
            .aof
            .as_ref()
            .map_or(0, |b| b.len());
        let _ = write!(
            out,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{pending}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
            files.current_size + pending as u64,
            files.base_size,
            u8::from(aof.rewrite_scheduled.load(Ordering::Relaxed)),
            u8::from(aof.fsync_running.load(Ordering::Relaxed)),
            aof.delayed_fsync.load(Ordering::Relaxed),
        );
    }
}

fn bgrewriteaof(ctx: &mut Ctx, _a: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if server.aof.rewrite_in_progress.load(Ordering::Acquire) {
        return Err(CmdError::new(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    if server.persistence.in_progress.load(Ordering::Acquire) {
        server.aof.rewrite_scheduled.store(true, Ordering::Release);
        ctx.out
            .simple("Background append only file rewriting scheduled");
        return Ok(());
    }
    if !start_rewrite(server) {
        return Err(CmdError::new("ERR Can't execute an AOF background rewriting. Please check the server logs for more information."));
    }
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}
