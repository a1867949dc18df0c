//! Whole RDB files: what surrounds the objects. Written as Redis 7.0 writes
//! them (RDB version 10), read back from any version up to 11:
//!
//! ```text
//! "REDIS0010" | aux fields (0xFA name value)… | function libraries (0xF5 code)…
//! per database: 0xFE db [0xFB sizes] then per key: [0xFC expire ms] [0xF8 idle | 0xF9 freq]
//!               type key object
//! 0xFF | CRC64 of everything before it (LE; zero when checksums are off)
//! ```
//!
//! A snapshot writes its keys slot by slot, so a database's keys come in
//! many runs, each opened by its own SELECTDB (Redis's loader, and
//! redis-check-rdb, accept that). Reading streams through a buffer that
//! grows only as large as the largest object, so loading a file takes no
//! more memory than its data.

use std::io::Read;

use keyspace::{Entry, Shard, Value};
use rdb::encoding::{read_len, read_string, write_len, write_string};
use rdb::{crc64, Error};
use types::Limits;

use crate::object;

pub const OPCODE_FUNCTION2: u8 = rdb::OPCODE_FUNCTION2;
pub const OPCODE_FUNCTION: u8 = rdb::OPCODE_FUNCTION;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

/// The newest RDB version this loader reads (Redis 7.2's).
pub const MAX_READ_VERSION: u32 = 11;

/// How values are written.
#[derive(Clone, Debug)]
pub struct SaveOptions {
    /// `rdbcompression`: LZF for strings over 20 bytes.
    pub compression: bool,
    /// Save each key's idle time (an LRU maxmemory policy is set).
    pub save_idle: bool,
    /// Save each key's LFU counter (an LFU maxmemory policy is set).
    pub save_freq: bool,
    /// Write commands that rebuild each key instead of RDB records (an
    /// AOF base with `aof-use-rdb-preamble no`; see [`crate::aof_rewrite`]).
    pub commands: bool,
}

/// The file's start: magic and version, aux fields, function libraries,
/// and each database's expected size (`sizes`: db, keys, keys with a TTL),
/// which loaders use to size their tables.
pub fn write_header(
    out: &mut Vec<u8>,
    aux: &[(&str, String)],
    libraries: &[Vec<u8>],
    sizes: &[(usize, u64, u64)],
    compression: bool,
) {
    out.extend_from_slice(format!("REDIS{:04}", rdb::RDB_VERSION).as_bytes());
    for (name, value) in aux {
        out.push(OPCODE_AUX);
        write_string(out, name.as_bytes(), false);
        write_string(out, value.as_bytes(), false);
    }
    for code in libraries {
        out.push(OPCODE_FUNCTION2);
        write_string(out, code, compression);
    }
    for &(db, keys, expires) in sizes {
        out.push(OPCODE_SELECTDB);
        write_len(out, db as u64);
        out.push(OPCODE_RESIZEDB);
        write_len(out, keys);
        write_len(out, expires);
    }
}

/// One key: its expiry and access data, type, name and value.
pub fn write_entry(out: &mut Vec<u8>, entry: &Entry, opts: &SaveOptions) {
    if opts.commands {
        let at = entry.expire_at().unwrap_or(0);
        crate::aof_rewrite::write_entry_commands(out, entry.key(), &entry.value, at);
        return;
    }
    if let Some(at) = entry.expire_at() {
        out.push(OPCODE_EXPIRETIME_MS);
        out.extend_from_slice(&at.to_le_bytes());
    }
    if opts.save_idle {
        out.push(OPCODE_IDLE);
        write_len(out, entry.idle_seconds());
    } else if opts.save_freq {
        out.push(OPCODE_FREQ);
        out.push(entry.lfu_counter().min(255) as u8);
    }
    out.push(object::object_type(&entry.value));
    write_string(out, entry.key(), opts.compression);
    object::write_body(out, &entry.value, opts.compression);
}

/// The keys of slot `local` of a shard for a snapshot's walk (those the
/// snapshot did not capture earlier), database by database (see the module
/// comment). Returns how many keys it wrote.
pub fn write_slot(out: &mut Vec<u8>, shard: &Shard, local: usize, opts: &SaveOptions) -> u64 {
    let mut keys = 0;
    for db in 0..shard.databases() {
        if shard.db(db).is_empty() {
            continue;
        }
        let start = out.len();
        write_select(out, db, opts);
        let header = out.len();
        for entry in shard.snapshot_entries(db, local) {
            write_entry(out, entry, opts);
            keys += 1;
        }
        if out.len() == header {
            out.truncate(start);
        }
    }
    keys
}

/// Selects database `db` for the entries that follow.
pub fn write_select(out: &mut Vec<u8>, db: usize, opts: &SaveOptions) {
    if opts.commands {
        crate::aof_rewrite::write_select(out, db);
    } else {
        out.push(OPCODE_SELECTDB);
        write_len(out, db as u64);
    }
}

/// The end of the file: EOF and the checksum of everything written before
/// (`crc` is the CRC64 of those bytes, or zero with checksums off).
pub fn write_footer(out: &mut Vec<u8>, crc: Option<u64>) {
    out.push(OPCODE_EOF);
    let crc = crc.map(|c| crc64(c, &[OPCODE_EOF])).unwrap_or(0);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A key's access data as the file recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    None,
    IdleSeconds(u64),
    Freq(u8),
}

/// What a loader does with what it reads.
pub trait LoadSink {
    /// A database's expected size (RESIZEDB): a hint.
    fn resize(&mut self, _db: usize, _keys: u64) {}
    /// An aux field (`redis-ver`, `ctime`, `repl-id`…).
    fn aux(&mut self, name: &[u8], value: &[u8]);
    /// A function library's code; an error stops the load.
    fn function(&mut self, code: Vec<u8>) -> Result<(), String>;
    /// A key. An error stops the load.
    fn key(
        &mut self,
        db: usize,
        key: Vec<u8>,
        value: Value,
        expire_ms: Option<u64>,
        access: Access,
    ) -> Result<(), String>;
}

/// Why a file could not be loaded, and where.
#[derive(Debug)]
pub struct LoadError {
    /// Byte offset in the file where the problem is.
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte offset {})", self.message, self.offset)
    }
}

/// What a load found.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadStats {
    pub version: u32,
    pub keys: u64,
    /// Empty collections skipped (as Redis skips them).
    pub empty_keys_skipped: u64,
    pub module_aux_skipped: u64,
    pub bytes: u64,
}

/// Reads a file through a buffer that holds at least one whole item.
struct Source<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// CRC64 of the bytes before `buf[0]`... and of those consumed since
    /// (`crc_upto` marks how far into `buf` it covers).
    crc: u64,
    crc_upto: usize,
}

const READ_CHUNK: usize = 1 << 20;

impl<R: Read> Source<R> {
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn error(&self, message: impl Into<String>) -> LoadError {
        LoadError {
            offset: self.offset(),
            message: message.into(),
        }
    }

    /// Reads more of the file, dropping what was consumed. False at the end.
    fn fill(&mut self) -> Result<bool, LoadError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.crc = crc64(self.crc, &self.buf[self.crc_upto..self.pos]);
            self.crc_upto = 0;
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let want = READ_CHUNK.max(self.buf.len());
        let start = self.buf.len();
        self.buf.resize(start + want, 0);
        let mut got = 0;
        while got < want {
            match self.src.read(&mut self.buf[start + got..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(start + got);
                    return Err(self.error(format!("read error: {e}")));
                }
            }
        }
        self.buf.truncate(start + got);
        Ok(got > 0)
    }

    /// Parses one item, reading more of the file while it is cut off.
    fn item<T>(
        &mut self,
        what: &str,
        mut parse: impl FnMut(&[u8], &mut usize) -> Result<T, Error>,
    ) -> Result<T, LoadError> {
        loop {
            let mut p = self.pos;
            match parse(&self.buf, &mut p) {
                Ok(v) => {
                    self.pos = p;
                    return Ok(v);
                }
                Err(Error::Truncated) => {
                    if !self.fill()? {
                        return Err(self.error(format!(
                            "unexpected end of file reading {what} (the file is truncated)"
                        )));
                    }
                }
                Err(e) => return Err(self.error(format!("{what}: {e}"))),
            }
        }
    }

    fn byte(&mut self, what: &str) -> Result<u8, LoadError> {
        self.item(what, |b, p| {
            let v = *b.get(*p).ok_or(Error::Truncated)?;
            *p += 1;
            Ok(v)
        })
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LoadError> {
        self.item(what, |b, p| {
            let s = b.get(*p..*p + N).ok_or(Error::Truncated)?;
            *p += N;
            let mut a = [0u8; N];
            a.copy_from_slice(s);
            Ok(a)
        })
    }

    fn len(&mut self, what: &str) -> Result<u64, LoadError> {
        self.item(what, |b, p| match read_len(b, p)? {
            (n, false) => Ok(n),
            (_, true) => Err(Error::BadEncoding),
        })
    }

    fn string(&mut self, what: &str) -> Result<Vec<u8>, LoadError> {
        self.item(what, read_string)
    }

    /// CRC64 of everything consumed so far.
    fn crc_so_far(&mut self) -> u64 {
        self.crc = crc64(self.crc, &self.buf[self.crc_upto..self.pos]);
        self.crc_upto = self.pos;
        self.crc
    }
}

/// Loads an RDB file from `src` into `sink`. `limits` decide encodings of
/// loaded collections; `verify_checksum` checks the CRC64 footer (a zero
/// footer means the writer had checksums off and is accepted).
pub fn load<R: Read>(
    src: R,
    sink: &mut dyn LoadSink,
    limits: &Limits,
    verify_checksum: bool,
) -> Result<LoadStats, LoadError> {
    let mut s = Source {
        src,
        buf: Vec::new(),
        pos: 0,
        base: 0,
        eof: false,
        crc: 0,
        crc_upto: 0,
    };
    let magic = s.bytes::<9>("the header")?;
    if &magic[..5] != b"REDIS" {
        return Err(LoadError {
            offset: 0,
            message: "not an RDB file (wrong signature)".into(),
        });
    }
    let version: u32 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| LoadError {
            offset: 5,
            message: "bad RDB version field".into(),
        })?;
    if !(1..=MAX_READ_VERSION).contains(&version) {
        return Err(LoadError {
            offset: 5,
            message: format!("can't handle RDB format version {version}"),
        });
    }
    let mut stats = LoadStats {
        version,
        ..LoadStats::default()
    };
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    let mut access = Access::None;
    loop {
        let at = s.offset();
        let t = s.byte("an opcode")?;
        match t {
            OPCODE_EOF => break,
            OPCODE_SELECTDB => {
                db = s.len("a database number")? as usize;
            }
            OPCODE_RESIZEDB => {
                let keys = s.len("a database size")?;
                s.len("a database size")?;
                sink.resize(db, keys);
            }
            OPCODE_EXPIRETIME_MS => expire = Some(u64::from_le_bytes(s.bytes::<8>("an expire time")?)),
            OPCODE_EXPIRETIME => {
                let secs = u32::from_le_bytes(s.bytes::<4>("an expire time")?);
                expire = Some(secs as u64 * 1000);
            }
            OPCODE_IDLE => access = Access::IdleSeconds(s.len("an idle time")?),
            OPCODE_FREQ => access = Access::Freq(s.byte("an LFU frequency")?),
            OPCODE_AUX => {
                let name = s.string("an aux field name")?;
                let value = s.string("an aux field value")?;
                sink.aux(&name, &value);
            }
            OPCODE_MODULE_AUX => {
                skip_module_aux(&mut s)?;
                stats.module_aux_skipped += 1;
            }
            OPCODE_FUNCTION2 => {
                let code = s.string("a function library")?;
                sink.function(code).map_err(|e| LoadError { offset: at, message: e })?;
            }
            OPCODE_FUNCTION => {
                return Err(LoadError {
                    offset: at,
                    message: "functions in the Redis 7.0 release-candidate format are not supported: save the file again with Redis 7.0 GA or later".into(),
                })
            }
            object::TYPE_MODULE_PRE_GA | object::TYPE_MODULE_2 => {
                return Err(LoadError {
                    offset: at,
                    message: "the file holds a module data type, which Ferrocache cannot load (no modules)".into(),
                })
            }
            t if object::is_object_type(t) => {
                let key = s.string("a key")?;
                let value = s.item("a value", |b, p| object::read_value(t, b, p, limits))?;
                let (e, a) = (expire.take(), std::mem::replace(&mut access, Access::None));
                match value {
                    Some(v) => {
                        sink.key(db, key, v, e, a)
                            .map_err(|m| LoadError { offset: at, message: m })?;
                        stats.keys += 1;
                    }
                    None => stats.empty_keys_skipped += 1,
                }
            }
            other => {
                return Err(LoadError {
                    offset: at,
                    message: format!("unknown RDB opcode or object type {other}"),
                })
            }
        }
    }
    if version >= 5 {
        let computed = s.crc_so_far();
        let stored = u64::from_le_bytes(s.bytes::<8>("the checksum")?);
        if verify_checksum && stored != 0 && stored != computed {
            return Err(s.error(format!(
                "wrong RDB checksum: expected {stored:x}, computed {computed:x}"
            )));
        }
    }
    stats.bytes = s.offset();
    Ok(stats)
}

/// Skips a module's aux data: module id, when-opcode, then values in the
/// module serialization format up to its EOF marker.
fn skip_module_aux<R: Read>(s: &mut Source<R>) -> Result<(), LoadError> {
    const MODULE_EOF: u64 = 0;
    const SINT: u64 = 1;
    const UINT: u64 = 2;
    const FLOAT: u64 = 3;
    const DOUBLE: u64 = 4;
    const STRING: u64 = 5;
    s.len("a module id")?;
    s.len("a module aux when-opcode")?;
    s.len("a module aux when")?;
    loop {
        match s.len("a module value opcode")? {
            MODULE_EOF => return Ok(()),
            SINT | UINT => {
                s.len("a module integer")?;
            }
            FLOAT => {
                s.bytes::<4>("a module float")?;
            }
            DOUBLE => {
                s.bytes::<8>("a module double")?;
            }
            STRING => {
                s.string("a module string")?;
            }
            other => return Err(s.error(format!("unknown module value opcode {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyspace::StrValue;

    /// A loaded string key: db, name, value, expiry, access data.
    type Loaded = (usize, Vec<u8>, Vec<u8>, Option<u64>, Access);

    #[derive(Default)]
    struct Collect {
        keys: Vec<Loaded>,
        aux: Vec<(Vec<u8>, Vec<u8>)>,
        functions: Vec<Vec<u8>>,
    }

    impl LoadSink for Collect {
        fn aux(&mut self, name: &[u8], value: &[u8]) {
            self.aux.push((name.to_vec(), value.to_vec()));
        }
        fn function(&mut self, code: Vec<u8>) -> Result<(), String> {
            self.functions.push(code);
            Ok(())
        }
        fn key(
            &mut self,
            db: usize,
            key: Vec<u8>,
            value: Value,
            expire_ms: Option<u64>,
            access: Access,
        ) -> Result<(), String> {
            let Value::Str(s) = value else {
                return Err("only strings here".into());
            };
            self.keys.push((db, key, s.to_vec(), expire_ms, access));
            Ok(())
        }
    }

    fn file_with(entries: &[(usize, &[u8], &[u8], u64)], opts: &SaveOptions) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(
            &mut out,
            &[("redis-ver", "7.0.15".into())],
            &[b"#!lua name=x\n".to_vec()],
            &[(0, 2, 0), (3, 1, 1)],
            true,
        );
        for &(db, k, v, exp) in entries {
            out.push(OPCODE_SELECTDB);
            write_len(&mut out, db as u64);
            let e = Entry::new(k, Value::Str(StrValue::from_bytes(v)), exp);
            write_entry(&mut out, &e, opts);
        }
        let crc = crc64(0, &out);
        write_footer(&mut out, Some(crc));
        out
    }

    fn opts() -> SaveOptions {
        SaveOptions {
            commands: false,
            compression: true,
            save_idle: true,
            save_freq: false,
        }
    }

    #[test]
    fn file_roundtrip_with_small_reads() {
        let big = vec![b'q'; 3 << 20];
        let file = file_with(
            &[
                (0, b"a", b"1", 0),
                (3, b"bb", b"hello", 1_900_000_000_000),
                (0, b"big", &big, 0),
            ],
            &opts(),
        );
        // A reader that hands out a few bytes at a time exercises refills.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(7);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut sink = Collect::default();
        let stats = load(Trickle(&file), &mut sink, &Limits::default(), true).expect("loads");
        assert_eq!(stats.keys, 3);
        assert_eq!(stats.bytes, file.len() as u64);
        assert_eq!(sink.keys[1].0, 3);
        assert_eq!(sink.keys[1].2, b"hello");
        assert_eq!(sink.keys[1].3, Some(1_900_000_000_000));
        assert!(matches!(sink.keys[0].4, Access::IdleSeconds(_)));
        assert_eq!(sink.keys[2].2, big);
        assert_eq!(sink.functions, vec![b"#!lua name=x\n".to_vec()]);
        assert_eq!(sink.aux[0], (b"redis-ver".to_vec(), b"7.0.15".to_vec()));
    }

    #[test]
    fn module_aux_records_are_skipped() {
        let mut out = Vec::new();
        write_header(&mut out, &[], &[], &[], false);
        // A module aux record: module id, when-opcode, when, then values in
        // the module serialization format (an unsigned, a string, a
        // double) up to the EOF marker.
        out.push(OPCODE_MODULE_AUX);
        write_len(&mut out, 0x1234_5678_9abc_def0);
        write_len(&mut out, 2);
        write_len(&mut out, 1);
        write_len(&mut out, 2);
        write_len(&mut out, 42);
        write_len(&mut out, 5);
        write_string(&mut out, b"module data", false);
        write_len(&mut out, 4);
        out.extend_from_slice(&1.5f64.to_le_bytes());
        write_len(&mut out, 0);
        out.push(OPCODE_SELECTDB);
        write_len(&mut out, 0);
        let e = Entry::new(b"k", Value::Str(StrValue::from_bytes(b"v")), 0);
        write_entry(&mut out, &e, &opts());
        let crc = crc64(0, &out);
        write_footer(&mut out, Some(crc));
        let mut sink = Collect::default();
        let stats = load(&out[..], &mut sink, &Limits::default(), true).expect("loads");
        assert_eq!((stats.module_aux_skipped, stats.keys), (1, 1));
        // A module *type* value cannot be loaded: a clear error, not a guess.
        let mut module_key = Vec::new();
        write_header(&mut module_key, &[], &[], &[], false);
        module_key.push(object::TYPE_MODULE_2);
        write_string(&mut module_key, b"k", false);
        let err = load(
            &module_key[..],
            &mut Collect::default(),
            &Limits::default(),
            true,
        )
        .expect_err("module type");
        assert!(err.message.contains("module data type"), "{err}");
    }

    #[test]
    fn damage_is_reported_with_an_offset() {
        let file = file_with(&[(0, b"key", b"value", 0)], &opts());
        // Truncated anywhere: an error, never a panic.
        for cut in 0..file.len() {
            let err = load(
                &file[..cut],
                &mut Collect::default(),
                &Limits::default(),
                true,
            )
            .expect_err("truncated");
            assert!(err.offset <= cut as u64, "{err}");
        }
        // A flipped byte in the body: the checksum catches what parsing does not.
        for i in 9..file.len() - 8 {
            let mut bad = file.clone();
            bad[i] ^= 0x20;
            assert!(
                load(&bad[..], &mut Collect::default(), &Limits::default(), true).is_err(),
                "byte {i}"
            );
        }
        // Checksums off (a zero footer) is accepted.
        let mut unchecked = file.clone();
        let n = unchecked.len();
        unchecked[n - 8..].fill(0);
        assert!(load(
            &unchecked[..],
            &mut Collect::default(),
            &Limits::default(),
            true
        )
        .is_ok());
    }
}
