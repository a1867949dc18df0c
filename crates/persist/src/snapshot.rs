//! Writing the keyspace to an RDB file without fork: the keyspace's
//! point-in-time snapshot (see `keyspace::snapshot`) hands each shard, once,
//! to [`Capture`], which serializes it into a chunk; a writer thread streams
//! the chunks to a temporary file, then the file is synced and renamed over
//! the target, so a crash at any point leaves the previous file intact.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

use keyspace::snapshot::ShardCapture;
use keyspace::{Keyspace, Shard};
use rdb::crc64;

use crate::file::{write_footer, write_shard, SaveOptions};

/// What a save wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct SaveStats {
    pub keys: u64,
    pub bytes: u64,
}

/// Serializes each shard it is handed and sends the chunk to the writer.
struct Capture {
    opts: SaveOptions,
    // A Sender is Sync, but the Mutex also orders chunks with `keys`.
    tx: Mutex<Sender<Vec<u8>>>,
    keys: Arc<AtomicU64>,
}

impl ShardCapture for Capture {
    fn capture(&self, _shard: usize, data: &Shard) {
        let mut chunk = Vec::new();
        write_shard(&mut chunk, data, &self.opts);
        let keys: usize = (0..data.databases()).map(|db| data.db(db).len()).sum();
        self.keys.fetch_add(keys as u64, Ordering::Relaxed);
        if !chunk.is_empty() {
            // The writer has stopped only after an I/O error, which the
            // save reports.
            let _ = self.tx.lock().map(|tx| tx.send(chunk));
        }
    }
}

/// Writes the keyspace as it is now to `path`: `header` (magic, aux
/// fields, functions) first, then every shard, then the footer. Other
/// threads keep reading and writing meanwhile; `progress` counts the keys
/// written so far.
pub fn save_to_file(
    ks: &Keyspace,
    path: &Path,
    header: Vec<u8>,
    opts: SaveOptions,
    checksum: bool,
    progress: Arc<AtomicU64>,
) -> std::io::Result<SaveStats> {
    let temp = temp_path(path);
    let file = File::create(&temp)?;
    let result = write_all(ks, file, header, opts, checksum, progress).and_then(|stats| {
        std::fs::rename(&temp, path)?;
        // The rename itself must reach the disk too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(stats)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
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

fn write_all(
    ks: &Keyspace,
    file: File,
    header: Vec<u8>,
    opts: SaveOptions,
    checksum: bool,
    progress: Arc<AtomicU64>,
) -> std::io::Result<SaveStats> {
    let (tx, rx) = channel::<Vec<u8>>();
    let writer = std::thread::Builder::new()
        .name("rdb-writer".into())
        .spawn(move || -> std::io::Result<(File, u64)> {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let mut crc = 0u64;
            let mut bytes = 0u64;
            for chunk in rx {
                if checksum {
                    crc = crc64(crc, &chunk);
                }
                bytes += chunk.len() as u64;
                out.write_all(&chunk)?;
            }
            let mut footer = Vec::with_capacity(9);
            write_footer(&mut footer, checksum.then_some(crc));
            out.write_all(&footer)?;
            bytes += footer.len() as u64;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok((file, bytes))
        })?;
    let _ = tx.send(header);
    let capture = Arc::new(Capture {
        opts,
        tx: Mutex::new(tx),
        keys: progress.clone(),
    });
    let started = ks.snapshot(capture.clone());
    // The writer ends when the last sender (inside the capture) is gone.
    drop(capture);
    let written = writer
        .join()
        .map_err(|_| std::io::Error::other("the RDB writer thread panicked"))?;
    if !started {
        return Err(std::io::Error::other("another snapshot is in progress"));
    }
    let (_file, bytes) = written?;
    Ok(SaveStats {
        keys: progress.load(Ordering::Relaxed),
        bytes,
    })
}
