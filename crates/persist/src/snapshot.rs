//! Writing the keyspace to an RDB file without fork: the keyspace's
//! point-in-time snapshot (see `keyspace::snapshot`) hands each shard, once,
//! to [`Capture`], which serializes it into a chunk; a writer thread streams
//! the chunks to a temporary file, then the file is synced and renamed over
//! the target, so a crash at any point leaves the previous file intact.
//! A snapshot may also stream to any writer (a replica's socket).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};

use keyspace::snapshot::ShardCapture;
use keyspace::{Entry, Keyspace, Shard};
use rdb::crc64;

use crate::file::{write_entry, write_footer, write_select, write_slot, SaveOptions};

/// What a save wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct SaveStats {
    pub keys: u64,
    pub bytes: u64,
}

/// Bytes serialized but not yet written past which the snapshot's own walk
/// waits for the writer (commands that capture a shard never wait).
const MAX_IN_FLIGHT: usize = 8 << 20;
/// Chunk buffers kept for reuse (freed ones would stay resident in the
/// allocator for a while, and a save would look like it grew memory).
const POOL_BUFFERS: usize = 16;
const POOL_MAX_CAPACITY: usize = 4 << 20;

/// Bytes between the captures and the writer, and spare chunk buffers.
#[derive(Default)]
struct Flow {
    /// The writer gave up (an I/O error): nothing drains any more.
    stopped: std::sync::atomic::AtomicBool,
    in_flight: Mutex<usize>,
    drained: Condvar,
    pool: Mutex<Vec<Vec<u8>>>,
}

impl Flow {
    fn buffer(&self) -> Vec<u8> {
        self.pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default()
    }

    fn sent(&self, bytes: usize) {
        if let Ok(mut n) = self.in_flight.lock() {
            *n += bytes;
        }
    }

    fn written(&self, chunk: Vec<u8>) {
        if let Ok(mut n) = self.in_flight.lock() {
            *n = n.saturating_sub(chunk.len());
        }
        self.drained.notify_all();
        self.recycle(chunk);
    }

    fn recycle(&self, mut chunk: Vec<u8>) {
        if chunk.capacity() <= POOL_MAX_CAPACITY {
            if let Ok(mut p) = self.pool.lock() {
                if p.len() < POOL_BUFFERS {
                    chunk.clear();
                    p.push(chunk);
                }
            }
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.drained.notify_all();
    }

    fn wait_below(&self, limit: usize) {
        if let Ok(mut n) = self.in_flight.lock() {
            while *n > limit && !self.stopped.load(Ordering::Acquire) {
                match self
                    .drained
                    .wait_timeout(n, std::time::Duration::from_millis(100))
                {
                    Ok((guard, _)) => n = guard,
                    Err(_) => return,
                }
            }
        }
    }
}

/// Keys captured one by one (written while a snapshot runs) collect per
/// shard up to this size before going to the writer.
const ENTRY_CHUNK: usize = 64 << 10;

/// Serializes what the snapshot hands it and sends the chunks to the
/// writer.
struct Capture {
    opts: SaveOptions,
    tx: Mutex<Sender<Vec<u8>>>,
    keys: Arc<AtomicU64>,
    flow: Arc<Flow>,
    /// Per shard: keys captured before the walk reached it, and the
    /// database the buffer last selected.
    early: Vec<Mutex<(Vec<u8>, Option<usize>)>>,
}

impl Capture {
    fn send(&self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        self.flow.sent(chunk.len());
        // The writer has stopped only after an I/O error, which the save
        // reports.
        let _ = self.tx.lock().map(|tx| tx.send(chunk));
    }
}

impl ShardCapture for Capture {
    fn capture_slot(&self, shard: usize, local: usize, data: &Shard) {
        if let Ok(mut early) = self.early[shard].lock() {
            if !early.0.is_empty() {
                let (buf, _) = std::mem::take(&mut *early);
                self.send(buf);
            }
        }
        let mut chunk = self.flow.buffer();
        let keys = write_slot(&mut chunk, data, local, &self.opts);
        self.keys.fetch_add(keys, Ordering::Relaxed);
        if chunk.is_empty() {
            self.flow.recycle(chunk);
        } else {
            self.send(chunk);
        }
    }

    fn capture_entry(&self, shard: usize, db: usize, entry: &Entry) {
        let Ok(mut early) = self.early[shard].lock() else {
            return;
        };
        let (buf, selected) = &mut *early;
        if *selected != Some(db) {
            write_select(buf, db, &self.opts);
            *selected = Some(db);
        }
        write_entry(buf, entry, &self.opts);
        self.keys.fetch_add(1, Ordering::Relaxed);
        if buf.len() >= ENTRY_CHUNK {
            let (full, _) = std::mem::take(&mut *early);
            self.send(full);
        }
    }

    fn before_next(&self) {
        self.flow.wait_below(MAX_IN_FLIGHT);
    }
}

/// A save whose snapshot has begun: the moment it captures is fixed, and
/// [`Save::finish`] walks the keyspace and writes the file: `header`
/// (magic, aux fields, functions; made at the snapshot's moment) first, then every shard, then the
/// footer, while other threads keep reading and writing; `progress` counts
/// the keys written. (BGSAVE begins in the command, so the file holds no
/// write made after its reply, and finishes on a thread of its own.)
pub struct Save {
    /// The temporary file and the path it becomes; None for a stream.
    file: Option<(PathBuf, PathBuf)>,
    capture: Arc<Capture>,
    writer: std::thread::JoinHandle<std::io::Result<u64>>,
    progress: Arc<AtomicU64>,
}

impl Save {
    /// `at_point` runs at the snapshot's moment, under every shard lock
    /// (the AOF starts its next file there).
    pub fn begin(
        ks: &Keyspace,
        path: &Path,
        header: impl FnOnce() -> Vec<u8>,
        opts: SaveOptions,
        checksum: bool,
        progress: Arc<AtomicU64>,
        at_point: impl FnOnce(),
    ) -> std::io::Result<Save> {
        let temp = temp_path(path);
        let file = File::create(&temp)?;
        let target = Some((temp.clone(), path.to_path_buf()));
        let save = Self::begin_sink(
            ks,
            Sink::File(file),
            target,
            header,
            opts,
            checksum,
            progress,
            at_point,
        );
        if save.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        save
    }

    /// Like [`Save::begin`], but the RDB bytes go to `out` (a replica's
    /// socket), which the writer thread flushes at the end.
    pub fn begin_stream(
        ks: &Keyspace,
        out: Box<dyn Write + Send>,
        header: impl FnOnce() -> Vec<u8>,
        opts: SaveOptions,
        checksum: bool,
        progress: Arc<AtomicU64>,
        at_point: impl FnOnce(),
    ) -> std::io::Result<Save> {
        Self::begin_sink(
            ks,
            Sink::Stream(out),
            None,
            header,
            opts,
            checksum,
            progress,
            at_point,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn begin_sink(
        ks: &Keyspace,
        sink: Sink,
        file: Option<(PathBuf, PathBuf)>,
        header: impl FnOnce() -> Vec<u8>,
        opts: SaveOptions,
        checksum: bool,
        progress: Arc<AtomicU64>,
        at_point: impl FnOnce(),
    ) -> std::io::Result<Save> {
        let (tx, rx) = channel::<Vec<u8>>();
        // Commands (an AOF base) end with the last command.
        let rdb_footer = !opts.commands;
        let flow = Arc::new(Flow::default());
        let writer_flow = flow.clone();
        let writer = std::thread::Builder::new()
            .name("rdb-writer".into())
            .spawn(move || write_chunks(sink, rx, &writer_flow, rdb_footer, checksum))?;
        let capture = Arc::new(Capture {
            opts,
            tx: Mutex::new(tx),
            keys: progress.clone(),
            flow,
            early: (0..keyspace::SHARDS).map(|_| Mutex::default()).collect(),
        });
        // The header is made at the snapshot's moment (it may describe it:
        // a replication offset), and goes before anything captured.
        let first = capture.clone();
        let at_point = move || {
            first.send(header());
            at_point();
        };
        if !ks.begin_snapshot(capture.clone(), at_point) {
            drop(capture);
            let _ = writer.join();
            return Err(std::io::Error::other("another snapshot is in progress"));
        }
        Ok(Save {
            file,
            capture,
            writer,
            progress,
        })
    }

    /// Walks the keyspace on `threads` threads, finishes the file and puts
    /// it in place.
    pub fn finish(self, ks: &Keyspace, threads: usize) -> std::io::Result<SaveStats> {
        ks.walk_snapshot(threads);
        // The writer ends when the last sender (inside the capture) is gone.
        drop(self.capture);
        let written = self
            .writer
            .join()
            .map_err(|_| std::io::Error::other("the RDB writer thread panicked"))
            .and_then(|r| r);
        let result = written.and_then(|bytes| {
            if let Some((temp, path)) = &self.file {
                std::fs::rename(temp, path)?;
                // The rename itself must reach the disk too.
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    File::open(dir)?.sync_all()?;
                }
            }
            Ok(SaveStats {
                keys: self.progress.load(Ordering::Relaxed),
                bytes,
            })
        });
        if let (Err(_), Some((temp, _))) = (&result, &self.file) {
            let _ = std::fs::remove_file(temp);
        }
        result
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = format!(
        "temp-{}-{}.rdb",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    path.with_file_name(name)
}

/// Where a snapshot's bytes go.
enum Sink {
    File(File),
    Stream(Box<dyn Write + Send>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Stream(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stream(s) => s.flush(),
        }
    }
}

/// The writer thread: chunks to the sink, then the footer; syncs a file.
/// Returns the bytes written.
fn write_chunks(
    sink: Sink,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    flow: &Flow,
    rdb_footer: bool,
    checksum: bool,
) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let mut crc = 0u64;
    let mut bytes = 0u64;
    for chunk in rx {
        if checksum {
            crc = crc64(crc, &chunk);
        }
        bytes += chunk.len() as u64;
        let result = out.write_all(&chunk);
        flow.written(chunk);
        if let Err(e) = result {
            // Nothing more will drain: the walk must not wait for it.
            flow.stop();
            return Err(e);
        }
    }
    if rdb_footer {
        let mut footer = Vec::with_capacity(9);
        write_footer(&mut footer, checksum.then_some(crc));
        out.write_all(&footer)?;
        bytes += footer.len() as u64;
    }
    match out.into_inner().map_err(|e| e.into_error())? {
        Sink::File(file) => file.sync_all()?,
        Sink::Stream(mut s) => s.flush()?,
    }
    Ok(bytes)
}
