//! The memcached engine: executes parsed text and meta requests (crate `memcache`) against
//! the node's sharded keyspace and appends memcached's reply bytes. It never touches a
//! socket, so every command runs in-process in the unit tests; `server::mc_conn` is the
//! connection loop around it.
//!
//! Execution model: the same as the Redis engine's. Each request locks only the shard of
//! its key (`Keyspace::lock`), so worker threads run in parallel without a global lock;
//! lazy and active expiry, the LRU clock and the cron come from the shared `Server`.
//!
//! Items live in database 0 as string values whose bytes start with a header (status
//! bits, then client flags and CAS unique as LEB128 varints: usually 5 or 6 bytes)
//! followed by the data. This keeps the keyspace untouched (no new value variant for
//! other code to match on) and an item small: a 32-byte item still fits inside its
//! entry, a bigger one costs one allocation for header and data.
//!
//! CAS uniques come from one global atomic counter, as in memcached.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use keyspace::counter::Counter;
use keyspace::{CompactBytes, Entry, StrValue, Value, VALUE_INLINE_CAP};
use memcache::binary::{self, BinCommand, BinRequest, Status};
use memcache::meta::{MetaCmd, MetaRequest, MetaStatus};
use memcache::reply::{self, ItemMeta, MetaLease};
use memcache::text::{GetCmd, Request, ShutdownMode, Store, StoreCmd, Tokens};
use memcache::{apply_delta, Delta, Limits};
use parking_lot::Mutex;

use crate::Server;

/// The memcached version this engine answers as (clients and tests parse it).
pub const VERSION: &str = "1.6.18";

/// memcached's database: there is only one.
const DB: usize = 0;
/// Status bit: the item was fetched since it was stored (`mg h`, `me fetch=`).
const FETCHED: u8 = 1;
/// Status bit: the item was invalidated by `md I` (`mg` answers `X`).
const STALE: u8 = 2;
/// Status bit: a recache token (`W`) was handed out; later readers get `Z`.
const WIN_SENT: u8 = 4;
/// Status bit: the key was stored base64-encoded (`b` flag); `mg k` echoes it so.
const BINARY_KEY: u8 = 8;
/// Keys sampled per eviction; the least recently used of them goes (Redis's approximated
/// LRU: memcached's exact LRU tail would need a global list).
const EVICTION_SAMPLES: usize = 5;
/// How often the memory watcher reads the allocator's counters.
const MEMORY_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
/// Expiration times above this many seconds are absolute unix times (memcached's rule).
const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// Node settings from the command line (memcached's flags).
#[derive(Clone, Debug)]
pub struct McSettings {
    pub limits: Limits,
    /// `-m` in bytes.
    pub max_bytes: u64,
    /// `-M`: answer out-of-memory errors instead of evicting.
    pub no_evict: bool,
    /// `-c`.
    pub max_conns: u64,
    /// `-t`.
    pub threads: u64,
    pub tcp_port: u16,
    pub udp_port: u16,
    /// `-v` count.
    pub verbosity: u32,
    /// `-A`: the `shutdown` command is enabled.
    pub shutdown_enabled: bool,
    /// `-C`: CAS disabled (uniques are 0).
    pub cas_disabled: bool,
    /// `-S`: the `user:password` entries of the SASL password file; `None` without `-S`.
    pub sasl_users: Option<Vec<(String, String)>>,
    /// `-Y`: the `user:password` entries of the ASCII authentication file; `None` without.
    pub ascii_auth_users: Option<Vec<(String, String)>>,
    /// `-B`: the protocols connections speak.
    pub protocol: McProtocol,
}

/// `-B`: which protocol a connection speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum McProtocol {
    /// The first byte decides: the binary magic, else text.
    #[default]
    Auto,
    /// Text only (binary requests are read as text lines).
    Ascii,
    /// Binary only (text is read as malformed binary requests).
    Binary,
}

impl McProtocol {
    /// Whether a connection whose first byte is `first` speaks binary.
    pub fn binary(self, first: u8) -> bool {
        match self {
            McProtocol::Auto => first == binary::REQUEST_MAGIC,
            McProtocol::Ascii => false,
            McProtocol::Binary => true,
        }
    }

    /// The name `stats settings` shows (`binding_protocol`).
    fn name(self) -> &'static str {
        match self {
            McProtocol::Auto => "auto-negotiate",
            McProtocol::Ascii => "ascii",
            McProtocol::Binary => "binary",
        }
    }
}

impl Default for McSettings {
    fn default() -> Self {
        McSettings {
            limits: Limits::default(),
            max_bytes: 64 << 20,
            no_evict: false,
            max_conns: 1024,
            threads: 4,
            tcp_port: 11211,
            udp_port: 0,
            verbosity: 0,
            shutdown_enabled: false,
            cas_disabled: false,
            sasl_users: None,
            ascii_auth_users: None,
            protocol: McProtocol::Auto,
        }
    }
}

/// The counters `stats` reports.
#[derive(Default)]
pub struct McStats {
    pub cmd_get: Counter,
    pub cmd_set: Counter,
    pub cmd_flush: Counter,
    pub cmd_touch: Counter,
    pub get_hits: Counter,
    pub get_misses: Counter,
    pub cmd_meta: Counter,
    pub delete_hits: Counter,
    pub delete_misses: Counter,
    pub incr_hits: Counter,
    pub incr_misses: Counter,
    pub decr_hits: Counter,
    pub decr_misses: Counter,
    pub cas_hits: Counter,
    pub cas_misses: Counter,
    pub cas_badval: Counter,
    pub touch_hits: Counter,
    pub touch_misses: Counter,
    pub total_items: Counter,
    pub evictions: Counter,
    pub bytes_read: Counter,
    pub bytes_written: Counter,
    pub total_connections: Counter,
    pub rejected_connections: Counter,
    pub curr_connections: AtomicI64,
    pub auth_cmds: Counter,
    pub auth_errors: Counter,
}

/// Per-connection state the engine needs.
#[derive(Debug, Default)]
pub struct McSession {
    /// Connection id (from [`Memcached::open_session`]; 0 for an unregistered one). Watch
    /// lines and `stats conns` show it where memcached shows the socket's fd: ids only
    /// grow, so the newest connection is listed last.
    pub id: u64,
    /// SASL (binary) or `-Y` (text) authentication succeeded on this connection.
    pub authenticated: bool,
}

/// What the connection should do after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// Flush the replies and close (`quit`, an enabled `shutdown`).
    Close,
    /// Flush the replies, then turn the connection into a log stream
    /// ([`Memcached::add_watcher`]).
    Watch(WatchFlags),
}

/// What a `watch` connection receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchFlags {
    /// `fetchers`: item reads (`type=item_get`).
    pub fetchers: bool,
    /// `mutations`: item stores (`type=item_store`).
    pub mutations: bool,
}

struct Watcher {
    flags: WatchFlags,
    sink: Arc<WatchSink>,
}

/// Where a `watch` connection's log lines queue up.
pub struct WatchSink {
    lines: Mutex<Vec<u8>>,
    /// Wakes the connection (set by its worker).
    wake: Box<dyn Fn() + Send + Sync>,
    /// The connection is gone: the watcher is dropped.
    closed: AtomicBool,
}

impl WatchSink {
    /// Moves the queued lines to the end of `out`.
    pub fn take(&self, out: &mut Vec<u8>) {
        out.append(&mut self.lines.lock());
    }

    /// The connection is gone: no more lines.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// A client connection, for `stats conns`.
struct ConnInfo {
    peer: String,
    local: String,
}

thread_local! {
    /// The connection whose request this thread is executing (memcached's `cfd` in watch
    /// lines). Set for the duration of one synchronous `execute` call.
    static CURRENT_CONN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One memcached node's engine state, shared by all connections.
pub struct Memcached {
    pub server: Arc<Server>,
    pub settings: McSettings,
    pub stats: McStats,
    /// The last CAS unique handed out.
    cas: AtomicU64,
    /// Unix seconds when the node started (`stats uptime`).
    pub(crate) started_unix: u64,
    /// Sum of key and data bytes of the items stored through this engine (`stats bytes`).
    /// Items reclaimed by expiry are subtracted when the engine sees them go.
    pub(crate) bytes: AtomicI64,
    /// ElastiCache auto-discovery: `(version, node list)` from `config set cluster`.
    cluster: Mutex<(u64, Vec<u8>)>,
    /// `watch` connections, and how many there are (checked before formatting a line).
    watchers: Mutex<Vec<Watcher>>,
    watching: std::sync::atomic::AtomicUsize,
    /// Sequence number of watch lines (`gid=`).
    watch_seq: AtomicU64,
    /// Open connections by id, for `stats conns`.
    conns: Mutex<std::collections::BTreeMap<u64, ConnInfo>>,
    next_conn: AtomicU64,
    /// When a delayed `flush_all` is due (ms since the epoch; 0 = none).
    flush_at_ms: AtomicU64,
    /// `stats detail on`: per-prefix counters are being collected.
    detail_on: AtomicBool,
    /// Per key prefix (up to the first `:`): gets, hits, sets, deletes. A mutex is fine:
    /// it is only taken while detail collection is on (memcached also serialises it).
    detail: Mutex<std::collections::BTreeMap<Vec<u8>, [u64; 4]>>,
    /// Set by the memory watcher while allocated memory (minus the startup baseline) is
    /// above `-m`: stores then evict (or fail with `-M`).
    over_limit: AtomicBool,
}

/// A decoded item header plus its data.
struct Item<'a> {
    flags: u32,
    cas: u64,
    bits: u8,
    data: &'a [u8],
}

fn item_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Str(StrValue::Emb(b)) => Some(b),
        Value::Str(StrValue::Long(b)) => Some(b),
        Value::Str(StrValue::Raw(b)) => Some(b),
        Value::Str(StrValue::Shared(b)) => Some(b),
        _ => None,
    }
}

fn item_bytes_mut(v: &mut Value) -> Option<&mut [u8]> {
    match v {
        Value::Str(StrValue::Emb(CompactBytes::Inline { len, buf })) => {
            Some(&mut buf[..usize::from(*len)])
        }
        Value::Str(StrValue::Emb(CompactBytes::Heap(b))) => Some(b),
        Value::Str(StrValue::Raw(b)) => Some(b),
        _ => None,
    }
}

fn decode(v: &Value) -> Option<Item<'_>> {
    let (&bits, rest) = item_bytes(v)?.split_first()?;
    let (flags, rest) = read_varint(rest)?;
    let (cas, data) = read_varint(rest)?;
    Some(Item {
        flags: u32::try_from(flags).ok()?,
        cas,
        bits,
        data,
    })
}

/// Reads one LEB128 varint: the value and the bytes after it.
fn read_varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// Appends `v` as a LEB128 varint.
fn write_varint(out: &mut impl Extend<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.extend([byte]);
            return;
        }
        out.extend([byte | 0x80]);
    }
}

fn encode(flags: u32, cas: u64, bits: u8, parts: &[&[u8]]) -> Value {
    let mut b = smallvec::SmallVec::<[u8; VALUE_INLINE_CAP]>::new();
    b.push(bits);
    write_varint(&mut b, u64::from(flags));
    write_varint(&mut b, cas);
    let len = b.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    // Never the Int encoding, which would lose the header. Big items are built in
    // their final allocation.
    let bytes = if len <= VALUE_INLINE_CAP {
        for p in parts {
            b.extend_from_slice(p);
        }
        CompactBytes::new(&b)
    } else {
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(&b);
        for p in parts {
            v.extend_from_slice(p);
        }
        CompactBytes::Heap(v.into_boxed_slice())
    };
    Value::Str(StrValue::Emb(bytes))
}

/// Rewrites the status bits of a stored item in place.
fn set_bits(e: &mut Entry, f: impl FnOnce(u8) -> u8) {
    if let Some(bits) = item_bytes_mut(&mut e.value).and_then(|b| b.first_mut()) {
        *bits = f(*bits);
    }
}

/// Gives a stored item a new CAS unique (its varint may change length).
fn set_cas(e: &mut Entry, cas: u64) {
    if let Some(i) = decode(&e.value) {
        e.value = encode(i.flags, cas, i.bits, &[i.data]);
    }
}

/// The absolute expiry (ms since the epoch, 0 = never) of a memcached exptime, or `None`
/// when the item is already expired (negative, or an absolute time in the past).
/// The meta `v` flag: VA carrying the value, else HD without one.
fn va_or_hd(return_value: bool, value: &[u8]) -> (MetaStatus, Option<&[u8]>) {
    if return_value {
        (MetaStatus::Va, Some(value))
    } else {
        (MetaStatus::Hd, None)
    }
}

pub fn expiry_ms(exptime: i64, now_ms: u64) -> Option<u64> {
    if exptime == 0 {
        return Some(0);
    }
    if exptime < 0 {
        return None;
    }
    if exptime > REALTIME_MAXDELTA {
        let at = (exptime as u64).saturating_mul(1000);
        return (at > now_ms).then_some(at);
    }
    Some(now_ms + exptime as u64 * 1000)
}

/// Seconds left before `e` expires, `-1` when it never does (meta `t`).
fn ttl_secs(e: &Entry, now_ms: u64) -> i64 {
    match e.expire_at() {
        None => -1,
        Some(at) => (at.saturating_sub(now_ms).div_ceil(1000)) as i64,
    }
}

/// This process's memcached engine, for the items that expire inside the
/// keyspace (a node has one; in a process with several, the first).
static NODE: std::sync::OnceLock<std::sync::Weak<Memcached>> = std::sync::OnceLock::new();

/// Called for every expired value the keyspace lets go: on a memcached
/// node, the item's bytes leave `stats bytes` as memcached's do.
pub(crate) fn expired(key: &[u8], value: &Value) {
    let Some(mc) = NODE.get().and_then(std::sync::Weak::upgrade) else {
        return;
    };
    if let Some(item) = decode(value) {
        mc.account(-((key.len() + item.data.len()) as i64));
    }
}

impl Memcached {
    pub fn new(server: Arc<Server>, settings: McSettings) -> Arc<Memcached> {
        let mc = Arc::new(Memcached {
            server,
            settings,
            stats: McStats::default(),
            cas: AtomicU64::new(0),
            started_unix: crate::now_ms() / 1000,
            bytes: AtomicI64::new(0),
            cluster: Mutex::new((0, Vec::new())),
            over_limit: AtomicBool::new(false),
            flush_at_ms: AtomicU64::new(0),
            watchers: Mutex::new(Vec::new()),
            watching: std::sync::atomic::AtomicUsize::new(0),
            watch_seq: AtomicU64::new(0),
            conns: Mutex::new(Default::default()),
            next_conn: AtomicU64::new(0),
            detail_on: AtomicBool::new(false),
            detail: Mutex::new(Default::default()),
        });
        let _ = NODE.set(Arc::downgrade(&mc));
        mc
    }

    /// Commands on keys served so far (retrievals counted per key, stores,
    /// touches, deletes, incr, decr): the KeyBasedCmds metric, and the
    /// load the worker balancer compares.
    pub fn key_commands(&self) -> u64 {
        let s = &self.stats;
        [
            &s.cmd_get,
            &s.cmd_set,
            &s.cmd_touch,
            &s.delete_hits,
            &s.delete_misses,
            &s.incr_hits,
            &s.incr_misses,
            &s.decr_hits,
            &s.decr_misses,
        ]
        .iter()
        .map(|c| c.get())
        .sum()
    }

    /// Registers a client connection (for `stats conns` and watch lines).
    pub fn open_session(&self, peer: String, local: String) -> McSession {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        self.conns.lock().insert(id, ConnInfo { peer, local });
        McSession {
            id,
            ..McSession::default()
        }
    }

    /// Forgets a connection registered by [`Self::open_session`].
    pub fn close_session(&self, session: &McSession) {
        self.conns.lock().remove(&session.id);
    }

    /// Subscribes a `watch` connection: log lines queue in the returned sink,
    /// and `wake` is called after each.
    pub fn add_watcher(
        &self,
        flags: WatchFlags,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Arc<WatchSink> {
        let sink = Arc::new(WatchSink {
            lines: Mutex::new(Vec::new()),
            wake,
            closed: AtomicBool::new(false),
        });
        let mut w = self.watchers.lock();
        w.push(Watcher {
            flags,
            sink: sink.clone(),
        });
        self.watching.store(w.len(), Ordering::Relaxed);
        sink
    }

    /// Sends a log line to the watchers of its kind (`mutation` or fetch), dropping
    /// watchers whose connection is gone. Free when nobody watches.
    fn log_event(&self, mutation: bool, body: impl FnOnce() -> String) {
        if self.watching.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut w = self.watchers.lock();
        w.retain(|x| !x.sink.closed.load(Ordering::Acquire));
        self.watching.store(w.len(), Ordering::Relaxed);
        let wanted = |f: WatchFlags| if mutation { f.mutations } else { f.fetchers };
        if !w.iter().any(|x| wanted(x.flags)) {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let gid = self.watch_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let cfd = CURRENT_CONN.with(|c| c.get());
        let line = format!(
            "ts={}.{:06} gid={gid} {} cfd={cfd}\n",
            now.as_secs(),
            now.subsec_micros(),
            body()
        )
        .into_bytes();
        for x in w.iter().filter(|x| wanted(x.flags)) {
            x.sink.lines.lock().extend_from_slice(&line);
            (x.sink.wake)();
        }
    }

    fn log_fetch(&self, key: &[u8], found: bool) {
        self.log_event(false, || {
            let status = if found { "found" } else { "not_found" };
            format!(
                "type=item_get key={} status={status} clsid=1",
                String::from_utf8_lossy(key)
            )
        });
    }

    /// Counts a get (`which` 0, with `hit` also 1), set (2) or delete (3) for `key`'s
    /// prefix, while `stats detail on`. Keys without the delimiter are not counted.
    fn detail(&self, key: &[u8], which: usize, hit: bool) {
        if !self.detail_on.load(Ordering::Relaxed) {
            return;
        }
        let Some(end) = memchr::memchr(b':', key) else {
            return;
        };
        let mut d = self.detail.lock();
        let counts = d.entry(key[..end].to_vec()).or_default();
        counts[which] += 1;
        if which == 0 && hit {
            counts[1] += 1;
        }
    }

    /// `stats detail on|off|dump`.
    fn stats_detail(&self, arg: Option<&[u8]>, out: &mut Vec<u8>) {
        match arg {
            Some(b"on") => {
                self.detail_on.store(true, Ordering::Relaxed);
                reply::line(out, reply::OK);
            }
            Some(b"off") => {
                self.detail_on.store(false, Ordering::Relaxed);
                reply::line(out, reply::OK);
            }
            Some(b"dump") => {
                use std::io::Write as _;
                for (prefix, c) in self.detail.lock().iter() {
                    out.extend_from_slice(b"PREFIX ");
                    out.extend_from_slice(prefix);
                    // Writing to a Vec cannot fail.
                    let _ = write!(
                        out,
                        " get {} hit {} set {} del {}\r\n",
                        c[0], c[1], c[2], c[3]
                    );
                }
                reply::end(out);
            }
            _ => reply::line(out, "CLIENT_ERROR usage: stats detail on|off|dump"),
        }
    }

    /// Starts the engine's background thread: it compares allocated memory with `-m`
    /// (reading jemalloc's counters is too costly to do on every store) and runs delayed
    /// `flush_all`s when due. It ends with the node.
    pub fn start_background(self: &Arc<Self>) -> std::io::Result<()> {
        let mc = Arc::downgrade(self);
        let baseline = self.server.startup_memory.load(Ordering::Relaxed);
        std::thread::Builder::new()
            .name("mc-background".into())
            .spawn(move || loop {
                let Some(mc) = mc.upgrade() else { return };
                if mc.server.shutdown.load(Ordering::Acquire) {
                    return;
                }
                // The same measure as the baseline (used_memory at startup).
                let used = (crate::used_memory() as u64).saturating_sub(baseline);
                mc.over_limit
                    .store(used > mc.settings.max_bytes, Ordering::Relaxed);
                let flush_at = mc.flush_at_ms.load(Ordering::Relaxed);
                if flush_at != 0
                    && crate::now_ms() >= flush_at
                    && mc
                        .flush_at_ms
                        .compare_exchange(flush_at, 0, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    mc.server.keyspace.flush(Some(DB));
                    mc.bytes.store(0, Ordering::Relaxed);
                }
                drop(mc);
                std::thread::sleep(MEMORY_CHECK_INTERVAL);
            })
            .map(|_| ())
    }

    /// Makes room before storing: while over `-m`, evicts the least recently used of a
    /// few sampled items (two rounds, so memory shrinks while writes continue), never
    /// `storing` itself (the LRU clock has 100 ms ticks, so the item an append is
    /// growing can tie with everything stored in the same tick). Returns `false` when
    /// nothing may be stored (`-M`).
    fn make_room(&self, storing: &[u8], now: u64) -> bool {
        if !self.over_limit.load(Ordering::Relaxed) {
            return true;
        }
        if self.settings.no_evict {
            return false;
        }
        for _ in 0..2 {
            // A run of entries from a random place (one shard lock), as the
            // Redis engine's eviction samples.
            let mut victim: Option<(u64, Vec<u8>)> = None;
            self.server
                .keyspace
                .sample_keys(DB, false, EVICTION_SAMPLES + 1, |e| {
                    let idle = e.idle_ms();
                    if e.key() != storing && victim.as_ref().is_none_or(|(best, _)| idle > *best) {
                        victim = Some((idle, e.key().to_vec()));
                    }
                });
            // Nothing to evict (the memory is not in items): store anyway.
            let Some((_, key)) = victim else { break };
            let mut l = self.server.keyspace.lock(std::iter::once(&key[..]), now);
            if let Some(e) = l.remove(DB, &key) {
                let size = decode(&e.value).map_or(0, |i| i.data.len());
                self.account(-((key.len() + size) as i64));
                self.stats.evictions.incr();
            }
        }
        true
    }

    fn next_cas(&self) -> u64 {
        if self.settings.cas_disabled {
            return 0;
        }
        self.cas.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn account(&self, delta: i64) {
        self.bytes.fetch_add(delta, Ordering::Relaxed);
    }

    /// Runs one request, appending its replies to `out`.
    pub fn execute(&self, req: Request<'_>, session: &McSession, out: &mut Vec<u8>) -> Step {
        CURRENT_CONN.with(|c| c.set(session.id));
        let now = crate::now_ms();
        match req {
            Request::Get { cmd, exptime, keys } => self.get(cmd, exptime, keys, now, out),
            Request::Store(s) => {
                let noreply = s.noreply;
                let r = self.store(&s, now);
                if !noreply {
                    reply::line(out, r);
                }
            }
            Request::Arith {
                incr,
                key,
                delta,
                noreply,
            } => self.arith(incr, key, delta, noreply, now, out),
            Request::Touch {
                key,
                exptime,
                noreply,
            } => {
                let r = self.touch(key, exptime, now);
                if !noreply {
                    reply::line(out, r);
                }
            }
            Request::Delete { key, noreply } => {
                self.detail(key, 3, false);
                let r = if self.remove(key, now) {
                    self.stats.delete_hits.incr();
                    reply::DELETED
                } else {
                    self.stats.delete_misses.incr();
                    reply::NOT_FOUND
                };
                if !noreply {
                    reply::line(out, r);
                }
            }
            Request::FlushAll { delay, noreply } => {
                self.flush_all(delay);
                if !noreply {
                    reply::line(out, reply::OK);
                }
            }
            Request::Version => reply::version(out, VERSION),
            Request::Verbosity { noreply, .. } => {
                if !noreply {
                    reply::line(out, reply::OK);
                }
            }
            Request::Stats { args } => self.stats_reply(args, now, out),
            Request::Quit => return Step::Close,
            Request::Shutdown { mode } => {
                if !self.settings.shutdown_enabled {
                    reply::line(out, reply::SHUTDOWN_DISABLED);
                } else if mode == ShutdownMode::Invalid {
                    reply::line(out, reply::INVALID_SHUTDOWN_MODE);
                } else {
                    // memcached closes without a reply and exits.
                    self.server.request_shutdown();
                    return Step::Close;
                }
            }
            Request::ConfigGet { key } => self.config_get(key, out),
            Request::ConfigSet {
                key, data, noreply, ..
            } => {
                let r = if key == b"cluster" {
                    let mut c = self.cluster.lock();
                    c.0 += 1;
                    // The data block is `<version>\r\n<nodes>`: keep the node list only,
                    // the version is ours and increases on every change.
                    let nodes = match memchr::memchr(b'\n', data) {
                        Some(i) => &data[i + 1..],
                        None => data,
                    };
                    c.1 = nodes.to_vec();
                    reply::STORED
                } else {
                    reply::ERROR
                };
                if !noreply {
                    reply::line(out, r);
                }
            }
            Request::Meta(m) => self.meta(&m, now, out),
            Request::MetaNoop => reply::line(out, reply::MN),
            Request::MetaDebug { key, base64_key } => self.meta_debug(&key, base64_key, now, out),
            Request::Admin { name, args } if name == b"watch" => {
                let mut flags = WatchFlags::default();
                for a in args {
                    match a {
                        b"fetchers" => flags.fetchers = true,
                        b"mutations" => flags.mutations = true,
                        _ => {
                            reply::line(out, "CLIENT_ERROR bad command line format");
                            return Step::Continue;
                        }
                    }
                }
                if flags == WatchFlags::default() {
                    flags = WatchFlags {
                        fetchers: true,
                        mutations: true,
                    };
                }
                reply::line(out, reply::OK);
                return Step::Watch(flags);
            }
            Request::Admin { name, args } => self.admin(name, args, out),
        }
        Step::Continue
    }

    /// Deletes `key` (memcached unlinks the old item of a rejected oversized `set`).
    pub fn unlink(&self, key: &[u8]) {
        self.remove(key, crate::now_ms());
    }

    fn remove(&self, key: &[u8], now: u64) -> bool {
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        match l.remove(DB, key) {
            Some(e) => {
                let gone = e.is_expired(now);
                let size = decode(&e.value).map_or(0, |i| i.data.len());
                self.account(-((key.len() + size) as i64));
                !gone
            }
            None => false,
        }
    }

    fn get(&self, cmd: GetCmd, exptime: i64, keys: Tokens<'_>, now: u64, out: &mut Vec<u8>) {
        let touch_at = cmd.touches().then(|| expiry_ms(exptime, now));
        for key in keys {
            self.stats.cmd_get.incr();
            if cmd.touches() {
                self.stats.cmd_touch.incr();
            }
            let mut l = self.server.keyspace.lock(std::iter::once(key), now);
            // The reply is written under the shard lock: one copy of the data, straight
            // from the item into the output buffer.
            let hit = match l.get(DB, key) {
                Some(e) => {
                    set_bits(e, |b| b | FETCHED);
                    decode(&e.value).map(|i| {
                        let cas = cmd.with_cas().then_some(i.cas);
                        reply::value(out, key, i.flags, i.data, cas);
                        i.data.len()
                    })
                }
                None => None,
            };
            self.detail(key, 0, hit.is_some());
            self.log_fetch(key, hit.is_some());
            let Some(size) = hit else {
                self.stats.get_misses.incr();
                if cmd.touches() {
                    self.stats.touch_misses.incr();
                }
                continue;
            };
            self.stats.get_hits.incr();
            match touch_at {
                Some(Some(at)) => {
                    l.set_expire(DB, key, at);
                    self.stats.touch_hits.incr();
                }
                Some(None) => {
                    // Touched into the past: this read still sees it, the next one not.
                    l.remove(DB, key);
                    self.account(-((key.len() + size) as i64));
                    self.stats.touch_hits.incr();
                }
                None => {}
            }
        }
        reply::end(out);
    }

    /// Stores an item with the new data (shared by the classic and meta storage commands).
    /// Returns the classic reply text; `cas_out` receives the new CAS on success.
    #[allow(clippy::too_many_arguments)]
    fn store_item(
        &self,
        mode: StoreCmd,
        key: &[u8],
        flags: u32,
        exptime: i64,
        compare: u64,
        data: &[u8],
        bits: u8,
        now: u64,
        cas_out: &mut u64,
    ) -> &'static str {
        let r = self.store_item_inner(mode, key, flags, exptime, compare, data, bits, now, cas_out);
        self.log_event(true, || {
            let status = match r {
                reply::STORED => "stored",
                reply::EXISTS => "exists",
                reply::NOT_FOUND => "not_found",
                _ => "not_stored",
            };
            let cmd = match mode {
                StoreCmd::Set => "set",
                StoreCmd::Add => "add",
                StoreCmd::Replace => "replace",
                StoreCmd::Append => "append",
                StoreCmd::Prepend => "prepend",
                StoreCmd::Cas => "cas",
            };
            format!(
                "type=item_store key={} status={status} cmd={cmd} ttl={} clsid=1",
                String::from_utf8_lossy(key),
                exptime.max(0)
            )
        });
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn store_item_inner(
        &self,
        mode: StoreCmd,
        key: &[u8],
        flags: u32,
        exptime: i64,
        compare: u64,
        data: &[u8],
        bits: u8,
        now: u64,
        cas_out: &mut u64,
    ) -> &'static str {
        self.stats.cmd_set.incr();
        self.detail(key, 2, false);
        if self.watching.load(Ordering::Relaxed) > 0 {
            // memcached's store looks the old item up first, and logs that fetch.
            let mut l = self.server.keyspace.lock(std::iter::once(key), now);
            l.touch = false;
            let found = l.peek(DB, key).is_some();
            drop(l);
            self.log_fetch(key, found);
        }
        if !self.make_room(key, now) {
            return reply::OUT_OF_MEMORY;
        }
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        let old = l
            .peek(DB, key)
            .and_then(|e| decode(&e.value).map(|i| (i.flags, i.cas, i.data.len())));
        let expire = expiry_ms(exptime, now);
        let cas = self.next_cas();
        let new_size = (key.len() + data.len()) as i64;
        let old_size = old.map_or(0, |o| (key.len() + o.2) as i64);
        match mode {
            StoreCmd::Add if old.is_some() => {
                // memcached bumps the existing item in the LRU on a failed add.
                if let Some(e) = l.peek(DB, key) {
                    e.touch();
                }
                return reply::NOT_STORED;
            }
            StoreCmd::Replace if old.is_none() => return reply::NOT_STORED,
            StoreCmd::Append | StoreCmd::Prepend => {
                let Some((old_flags, old_cas, _)) = old else {
                    return reply::NOT_STORED;
                };
                if compare != 0 && compare != old_cas {
                    return reply::EXISTS;
                }
                let Some(e) = l.get_mut(DB, key) else {
                    return reply::NOT_STORED;
                };
                let Some(i) = decode(&e.value) else {
                    return reply::NOT_STORED;
                };
                if !self
                    .settings
                    .limits
                    .item_fits(key.len(), old_flags, i.data.len() + data.len())
                {
                    return "SERVER_ERROR out of memory storing object";
                }
                let value = if mode == StoreCmd::Append {
                    encode(old_flags, cas, i.bits & BINARY_KEY, &[i.data, data])
                } else {
                    encode(old_flags, cas, i.bits & BINARY_KEY, &[data, i.data])
                };
                e.value = value;
                self.account(data.len() as i64);
                self.stats.total_items.incr();
                *cas_out = cas;
                return reply::STORED;
            }
            StoreCmd::Cas => match old {
                None => {
                    self.stats.cas_misses.incr();
                    return reply::NOT_FOUND;
                }
                Some((_, old_cas, _)) if old_cas != compare => {
                    self.stats.cas_badval.incr();
                    return reply::EXISTS;
                }
                Some(_) => self.stats.cas_hits.incr(),
            },
            _ => {}
        }
        match expire {
            Some(at) => {
                l.set(DB, key, encode(flags, cas, bits, &[data]), at);
                self.account(new_size - old_size);
                self.stats.total_items.incr();
            }
            None => {
                // Stored already expired: the old value is gone, nothing new is visible.
                if l.remove(DB, key).is_some() {
                    self.account(-old_size);
                }
            }
        }
        *cas_out = cas;
        reply::STORED
    }

    fn store(&self, s: &Store<'_>, now: u64) -> &'static str {
        let mut cas = 0;
        self.store_item(
            s.cmd, s.key, s.flags, s.exptime, s.cas, s.data, 0, now, &mut cas,
        )
    }

    fn arith(
        &self,
        incr: bool,
        key: &[u8],
        delta: u64,
        noreply: bool,
        now: u64,
        out: &mut Vec<u8>,
    ) {
        let (hits, misses) = if incr {
            (&self.stats.incr_hits, &self.stats.incr_misses)
        } else {
            (&self.stats.decr_hits, &self.stats.decr_misses)
        };
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        let Some(e) = l.get_mut(DB, key) else {
            misses.incr();
            if !noreply {
                reply::line(out, reply::NOT_FOUND);
            }
            return;
        };
        let Some(i) = decode(&e.value) else {
            misses.incr();
            if !noreply {
                reply::line(out, reply::NOT_FOUND);
            }
            return;
        };
        match apply_delta(i.data, incr, delta) {
            Delta::NonNumeric => {
                if !noreply {
                    reply::line(out, reply::NON_NUMERIC);
                }
            }
            Delta::Value { digits, stored, .. } => {
                hits.incr();
                let grow = stored.len() as i64 - i.data.len() as i64;
                let (flags, bits) = (i.flags, i.bits & BINARY_KEY);
                e.value = encode(flags, self.next_cas(), bits, &[&stored]);
                self.account(grow);
                if !noreply {
                    out.extend_from_slice(&digits);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }

    fn touch(&self, key: &[u8], exptime: i64, now: u64) -> &'static str {
        self.stats.cmd_touch.incr();
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        if !l.exists(DB, key) {
            self.stats.touch_misses.incr();
            return reply::NOT_FOUND;
        }
        self.stats.touch_hits.incr();
        match expiry_ms(exptime, now) {
            Some(at) => {
                l.set_expire(DB, key, at);
                if let Some(e) = l.peek(DB, key) {
                    e.touch();
                }
            }
            None => {
                if let Some(e) = l.remove(DB, key) {
                    let size = decode(&e.value).map_or(0, |i| i.data.len());
                    self.account(-((key.len() + size) as i64));
                }
            }
        }
        reply::TOUCHED
    }

    fn flush_all(&self, delay: i64) {
        self.stats.cmd_flush.incr();
        if delay <= 0 {
            self.server.keyspace.flush(Some(DB));
            self.bytes.store(0, Ordering::Relaxed);
            return;
        }
        // memcached invalidates, at that time, every item stored before it: the same as
        // flushing then. The background thread does it; a later flush_all replaces the
        // time, as memcached's `oldest_live` is replaced.
        let at = crate::now_ms() + (delay as u64).saturating_mul(1000);
        self.flush_at_ms.store(at, Ordering::Relaxed);
    }

    fn config_get(&self, key: &[u8], out: &mut Vec<u8>) {
        if key != b"cluster" {
            reply::line(out, reply::ERROR);
            return;
        }
        let c = self.cluster.lock();
        let text = String::from_utf8_lossy(&c.1).into_owned();
        let nodes: Vec<reply::ClusterNode<'_>> = text
            .split_whitespace()
            .filter_map(|n| {
                let mut parts = n.split('|');
                let host = parts.next()?;
                let ip = parts.next()?;
                let port = parts.next()?.parse().ok()?;
                Some(reply::ClusterNode { host, ip, port })
            })
            .collect();
        reply::config_cluster(out, c.0, &nodes);
    }

    fn admin(&self, name: &[u8], mut args: Tokens<'_>, out: &mut Vec<u8>) {
        match name {
            b"slabs" => match (args.next(), args.next()) {
                // No slab allocator: accept the tuning memcached accepts, without effect.
                (Some(b"automove"), Some(b"0" | b"1" | b"2")) => reply::line(out, reply::OK),
                (Some(b"automove"), _) => reply::line(out, "CLIENT_ERROR bad command line format"),
                _ => reply::line(out, reply::ERROR),
            },
            b"cache_memlimit" => match args.next().and_then(memcache::parse_u64) {
                Some(_) => reply::line(out, reply::OK),
                None => reply::line(out, "CLIENT_ERROR bad command line format"),
            },
            _ => reply::line(out, reply::ERROR),
        }
    }

    // ---- binary protocol ---------------------------------------------------------------

    /// Whether a text connection must authenticate (`-Y`) before its requests run.
    pub fn needs_text_login(&self, session: &McSession) -> bool {
        self.settings.ascii_auth_users.is_some() && !session.authenticated
    }

    /// `-Y` authentication: checks `user` / `password` against the authfile, counting
    /// `auth_cmds` and `auth_errors` as memcached does, and writes the reply.
    pub fn text_login(
        &self,
        user: &[u8],
        password: &[u8],
        session: &mut McSession,
        out: &mut Vec<u8>,
    ) {
        let Some(users) = &self.settings.ascii_auth_users else {
            return;
        };
        self.stats.auth_cmds.incr();
        if credentials_ok(users, user, password) {
            session.authenticated = true;
            reply::line(out, "STORED");
        } else {
            self.stats.auth_errors.incr();
            reply::line(out, "CLIENT_ERROR authentication failure");
        }
    }

    /// Runs one binary-protocol request, appending its response(s) to `out`.
    pub fn execute_binary(
        &self,
        req: BinRequest<'_>,
        session: &mut McSession,
        out: &mut Vec<u8>,
    ) -> Step {
        CURRENT_CONN.with(|c| c.set(session.id));
        let now = crate::now_ms();
        let op = req.opcode as u8;
        let opaque = req.header.opaque;
        let quiet = req.quiet;
        if self.settings.sasl_users.is_some()
            && !session.authenticated
            && !req.opcode.allowed_unauthenticated()
        {
            binary::write_error(out, op, opaque, Status::AuthError);
            return Step::Close;
        }
        let ok = |out: &mut Vec<u8>, cas: u64| {
            if !quiet {
                binary::write_response(out, op, Status::NoError, opaque, cas, &[], &[], &[]);
            }
        };
        match req.cmd {
            BinCommand::Noop => {
                binary::write_response(out, op, Status::NoError, opaque, 0, &[], &[], &[])
            }
            BinCommand::Quit => {
                ok(out, 0);
                return Step::Close;
            }
            BinCommand::Version => binary::write_response(
                out,
                op,
                Status::NoError,
                opaque,
                0,
                &[],
                &[],
                VERSION.as_bytes(),
            ),
            BinCommand::Flush { delay } => {
                self.flush_all(delay);
                ok(out, 0);
            }
            BinCommand::Get { key, return_key } => {
                self.bin_get(op, opaque, quiet, key, return_key, None, now, out)
            }
            BinCommand::GetAndTouch {
                key,
                exptime,
                return_key,
            } => self.bin_get(op, opaque, quiet, key, return_key, Some(exptime), now, out),
            BinCommand::Touch { key, exptime } => match self.touch(key, exptime, now) {
                reply::TOUCHED => ok(out, 0),
                _ => binary::write_error(out, op, opaque, Status::KeyNotFound),
            },
            BinCommand::Store {
                cmd,
                key,
                flags,
                exptime,
                cas,
                value,
            } => {
                let mut new_cas = 0;
                let r = self.store_item(cmd, key, flags, exptime, cas, value, 0, now, &mut new_cas);
                let status = match (r, cmd) {
                    (reply::STORED, _) => Status::NoError,
                    (reply::NOT_STORED, StoreCmd::Add) => Status::KeyExists,
                    (reply::NOT_STORED, StoreCmd::Replace) => Status::KeyNotFound,
                    (reply::NOT_STORED, _) => Status::NotStored,
                    (reply::EXISTS, _) => Status::KeyExists,
                    (reply::NOT_FOUND, _) => Status::KeyNotFound,
                    _ => Status::OutOfMemory,
                };
                if status == Status::NoError {
                    ok(out, new_cas);
                } else {
                    binary::write_error(out, op, opaque, status);
                }
            }
            BinCommand::Delete { key, cas } => {
                let mut l = self.server.keyspace.lock(std::iter::once(key), now);
                let found = l
                    .peek(DB, key)
                    .and_then(|e| decode(&e.value).map(|i| i.cas));
                match found {
                    None => {
                        self.stats.delete_misses.incr();
                        binary::write_error(out, op, opaque, Status::KeyNotFound);
                    }
                    Some(item_cas) if cas != 0 && cas != item_cas => {
                        binary::write_error(out, op, opaque, Status::KeyExists)
                    }
                    Some(_) => {
                        if let Some(e) = l.remove(DB, key) {
                            let size = decode(&e.value).map_or(0, |i| i.data.len());
                            self.account(-((key.len() + size) as i64));
                        }
                        self.stats.delete_hits.incr();
                        ok(out, 0);
                    }
                }
            }
            BinCommand::Arith {
                incr,
                key,
                delta,
                initial,
                exptime,
                cas,
            } => self.bin_arith(
                op, opaque, quiet, incr, key, delta, initial, exptime, cas, now, out,
            ),
            BinCommand::Stat { group } => {
                let mut text = Vec::new();
                self.stats_reply(Tokens::new(group), now, &mut text);
                if text.starts_with(b"ERROR") {
                    binary::write_error(out, op, opaque, Status::KeyNotFound);
                } else {
                    for line in text.split(|&b| b == b'\n') {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        let Some(rest) = line.strip_prefix(b"STAT ") else {
                            continue;
                        };
                        let (name, value) = match memchr::memchr(b' ', rest) {
                            Some(i) => (&rest[..i], &rest[i + 1..]),
                            None => (rest, &b""[..]),
                        };
                        binary::write_response(
                            out,
                            op,
                            Status::NoError,
                            opaque,
                            0,
                            &[],
                            name,
                            value,
                        );
                    }
                    binary::write_response(out, op, Status::NoError, opaque, 0, &[], &[], &[]);
                }
            }
            BinCommand::SaslListMechs => match self.settings.sasl_users {
                Some(_) => {
                    binary::write_response(out, op, Status::NoError, opaque, 0, &[], &[], b"PLAIN")
                }
                None => binary::write_error(out, op, opaque, Status::UnknownCommand),
            },
            BinCommand::SaslAuth { mechanism, data } => {
                let Some(users) = &self.settings.sasl_users else {
                    binary::write_error(out, op, opaque, Status::UnknownCommand);
                    return Step::Continue;
                };
                self.stats.auth_cmds.incr();
                if mechanism == b"PLAIN" && plain_auth_ok(users, data) {
                    session.authenticated = true;
                    binary::write_response(
                        out,
                        op,
                        Status::NoError,
                        opaque,
                        0,
                        &[],
                        &[],
                        b"Authenticated",
                    );
                } else {
                    self.stats.auth_errors.incr();
                    binary::write_error(out, op, opaque, Status::AuthError);
                }
            }
            BinCommand::SaslStep { .. } => {
                // PLAIN completes in one step: there is never a step to continue.
                if self.settings.sasl_users.is_some() {
                    self.stats.auth_errors.incr();
                    binary::write_error(out, op, opaque, Status::AuthError);
                } else {
                    binary::write_error(out, op, opaque, Status::UnknownCommand);
                }
            }
        }
        Step::Continue
    }

    #[allow(clippy::too_many_arguments)]
    fn bin_get(
        &self,
        op: u8,
        opaque: u32,
        quiet: bool,
        key: &[u8],
        return_key: bool,
        touch: Option<i64>,
        now: u64,
        out: &mut Vec<u8>,
    ) {
        self.stats.cmd_get.incr();
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        let hit = l.get(DB, key).and_then(|e| {
            set_bits(e, |b| b | FETCHED);
            decode(&e.value).map(|i| (i.flags, i.cas, i.data.to_vec()))
        });
        let Some((flags, cas, data)) = hit else {
            self.stats.get_misses.incr();
            if touch.is_some() {
                self.stats.touch_misses.incr();
            }
            if quiet {
                return;
            }
            if return_key {
                binary::write_response(out, op, Status::KeyNotFound, opaque, 0, &[], key, &[]);
            } else {
                binary::write_error(out, op, opaque, Status::KeyNotFound);
            }
            return;
        };
        self.stats.get_hits.incr();
        if let Some(exptime) = touch {
            self.stats.cmd_touch.incr();
            self.stats.touch_hits.incr();
            match expiry_ms(exptime, now) {
                Some(at) => {
                    l.set_expire(DB, key, at);
                }
                None => {
                    l.remove(DB, key);
                    self.account(-((key.len() + data.len()) as i64));
                }
            }
        }
        drop(l);
        let k: &[u8] = if return_key { key } else { &[] };
        binary::write_get_hit(out, op, opaque, cas, flags, k, &data);
    }

    #[allow(clippy::too_many_arguments)]
    fn bin_arith(
        &self,
        op: u8,
        opaque: u32,
        quiet: bool,
        incr: bool,
        key: &[u8],
        delta: u64,
        initial: u64,
        exptime: u32,
        cas: u64,
        now: u64,
        out: &mut Vec<u8>,
    ) {
        let (hits, misses) = if incr {
            (&self.stats.incr_hits, &self.stats.incr_misses)
        } else {
            (&self.stats.decr_hits, &self.stats.decr_misses)
        };
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        let existing = l
            .get_mut(DB, key)
            .and_then(|e| decode(&e.value).map(|i| (i.flags, i.cas, i.bits, i.data.to_vec())));
        let Some((flags, item_cas, bits, data)) = existing else {
            misses.incr();
            if exptime == 0xffff_ffff {
                binary::write_error(out, op, opaque, Status::KeyNotFound);
                return;
            }
            let digits = itoa::Buffer::new().format(initial).as_bytes().to_vec();
            let new_cas = self.next_cas();
            if let Some(at) = expiry_ms(i64::from(exptime as i32), now) {
                l.set(DB, key, encode(0, new_cas, 0, &[&digits]), at);
                self.account((key.len() + digits.len()) as i64);
                self.stats.total_items.incr();
            }
            if !quiet {
                binary::write_counter(out, op, opaque, new_cas, initial);
            }
            return;
        };
        if cas != 0 && cas != item_cas {
            binary::write_error(out, op, opaque, Status::KeyExists);
            return;
        }
        match apply_delta(&data, incr, delta) {
            Delta::NonNumeric => binary::write_error(out, op, opaque, Status::DeltaBadValue),
            Delta::Value { value, stored, .. } => {
                hits.incr();
                let new_cas = self.next_cas();
                if let Some(e) = l.peek(DB, key) {
                    e.value = encode(flags, new_cas, bits & BINARY_KEY, &[&stored]);
                }
                self.account(stored.len() as i64 - data.len() as i64);
                if !quiet {
                    binary::write_counter(out, op, opaque, new_cas, value);
                }
            }
        }
    }

    // ---- stats -------------------------------------------------------------------------

    fn stats_reply(&self, mut args: Tokens<'_>, now: u64, out: &mut Vec<u8>) {
        match args.next() {
            None => self.stats_general(now, out),
            Some(b"settings") => self.stats_settings(out),
            Some(b"detail") => {
                self.stats_detail(args.next(), out);
                return;
            }
            Some(b"reset") => {
                self.detail.lock().clear();
                self.reset_stats();
                reply::line(out, reply::RESET);
                return;
            }
            Some(b"conns") => {
                for (id, c) in self.conns.lock().iter() {
                    reply::stat(out, &format!("{id}:addr"), format_args!("tcp:{}", c.peer));
                    reply::stat(
                        out,
                        &format!("{id}:listen_addr"),
                        format_args!("tcp:{}", c.local),
                    );
                }
            }
            // Ferrocache has no slab allocator: no per-class lines to
            // report, and no slab pages (`total_malloced`, which
            // memcached's tests expect to stay flat as items of a class
            // replace each other; the item bytes are `bytes` in `stats`).
            Some(b"items") => {}
            Some(b"slabs") => reply::stat(out, "active_slabs", 0),
            // Item sizes are not tracked: memcached's answer without
            // `-o track_sizes`.
            Some(b"sizes") => reply::stat(out, "sizes_status", "disabled"),
            Some(_) => {
                reply::line(out, reply::ERROR);
                return;
            }
        }
        reply::end(out);
    }

    fn reset_stats(&self) {
        let s = &self.stats;
        for c in [
            &s.cmd_get,
            &s.cmd_set,
            &s.cmd_flush,
            &s.cmd_touch,
            &s.get_hits,
            &s.get_misses,
            &s.cmd_meta,
            &s.delete_hits,
            &s.delete_misses,
            &s.incr_hits,
            &s.incr_misses,
            &s.decr_hits,
            &s.decr_misses,
            &s.cas_hits,
            &s.cas_misses,
            &s.cas_badval,
            &s.touch_hits,
            &s.touch_misses,
            &s.total_items,
            &s.evictions,
            &s.bytes_read,
            &s.bytes_written,
            &s.total_connections,
            &s.rejected_connections,
            &s.auth_cmds,
            &s.auth_errors,
        ] {
            c.reset();
        }
    }

    fn stats_general(&self, now: u64, out: &mut Vec<u8>) {
        let s = &self.stats;
        let now_secs = now / 1000;
        let uptime = now_secs.saturating_sub(self.started_unix);
        let (user, sys) = rusage();
        reply::stat(out, "pid", std::process::id());
        reply::stat(out, "uptime", uptime);
        reply::stat(out, "time", now_secs);
        reply::stat(out, "version", VERSION);
        reply::stat(out, "libevent", "ferrocache");
        reply::stat(out, "pointer_size", usize::BITS);
        reply::stat(out, "rusage_user", format!("{user:.6}"));
        reply::stat(out, "rusage_system", format!("{sys:.6}"));
        reply::stat(out, "max_connections", self.settings.max_conns);
        reply::stat(
            out,
            "curr_connections",
            s.curr_connections.load(Ordering::Relaxed).max(0),
        );
        reply::stat(out, "total_connections", s.total_connections.get());
        reply::stat(out, "rejected_connections", s.rejected_connections.get());
        reply::stat(
            out,
            "connection_structures",
            s.curr_connections.load(Ordering::Relaxed).max(0),
        );
        reply::stat(out, "cmd_get", s.cmd_get.get());
        reply::stat(out, "cmd_set", s.cmd_set.get());
        reply::stat(out, "cmd_flush", s.cmd_flush.get());
        reply::stat(out, "cmd_touch", s.cmd_touch.get());
        reply::stat(out, "cmd_meta", s.cmd_meta.get());
        reply::stat(out, "get_hits", s.get_hits.get());
        reply::stat(out, "get_misses", s.get_misses.get());
        reply::stat(out, "delete_misses", s.delete_misses.get());
        reply::stat(out, "delete_hits", s.delete_hits.get());
        reply::stat(out, "incr_misses", s.incr_misses.get());
        reply::stat(out, "incr_hits", s.incr_hits.get());
        reply::stat(out, "decr_misses", s.decr_misses.get());
        reply::stat(out, "decr_hits", s.decr_hits.get());
        reply::stat(out, "cas_misses", s.cas_misses.get());
        reply::stat(out, "cas_hits", s.cas_hits.get());
        reply::stat(out, "cas_badval", s.cas_badval.get());
        reply::stat(out, "touch_hits", s.touch_hits.get());
        reply::stat(out, "touch_misses", s.touch_misses.get());
        reply::stat(out, "auth_cmds", s.auth_cmds.get());
        reply::stat(out, "auth_errors", s.auth_errors.get());
        reply::stat(out, "bytes_read", s.bytes_read.get());
        reply::stat(out, "bytes_written", s.bytes_written.get());
        reply::stat(out, "limit_maxbytes", self.settings.max_bytes);
        reply::stat(out, "accepting_conns", 1);
        reply::stat(out, "threads", self.settings.threads);
        reply::stat(out, "conn_yields", 0);
        reply::stat(out, "evictions", s.evictions.get());
        reply::stat(
            out,
            "reclaimed",
            self.server.keyspace.stats.expired_keys.get(),
        );
        reply::stat(out, "bytes", self.bytes.load(Ordering::Relaxed).max(0));
        reply::stat(out, "curr_items", self.server.keyspace.dbsize(DB));
        reply::stat(out, "total_items", s.total_items.get());
    }

    fn stats_settings(&self, out: &mut Vec<u8>) {
        let st = &self.settings;
        reply::stat(out, "maxbytes", st.max_bytes);
        reply::stat(out, "maxconns", st.max_conns);
        // The bound port (`-p 0` picks one).
        let port = match self.server.tcp_port.load(Ordering::Relaxed) {
            0 => usize::from(st.tcp_port),
            bound => bound,
        };
        reply::stat(out, "tcpport", port);
        reply::stat(out, "udpport", st.udp_port);
        // No unix socket support: memcached prints NULL when it has none.
        reply::stat(out, "domain_socket", "NULL");
        reply::stat(out, "verbosity", st.verbosity);
        reply::stat(out, "num_threads", st.threads);
        reply::stat(out, "evictions", if st.no_evict { "off" } else { "on" });
        reply::stat(
            out,
            "cas_enabled",
            if st.cas_disabled { "no" } else { "yes" },
        );
        reply::stat(out, "stat_key_prefix", ":");
        let detail = if self.detail_on.load(Ordering::Relaxed) {
            "yes"
        } else {
            "no"
        };
        reply::stat(out, "detail_enabled", detail);
        reply::stat(out, "item_size_max", st.limits.item_size_max);
        reply::stat(out, "flush_enabled", "yes");
        reply::stat(out, "binding_protocol", self.settings.protocol.name());
        let sasl = if st.sasl_users.is_some() { "yes" } else { "no" };
        reply::stat(out, "auth_enabled_sasl", sasl);
        reply::stat(out, "auth_enabled_ascii", "no");
        reply::stat(
            out,
            "shutdown_command",
            if st.shutdown_enabled { "yes" } else { "no" },
        );
        reply::stat(out, "meta_response_old", "no");
    }

    // ---- meta commands -----------------------------------------------------------------

    fn meta(&self, m: &MetaRequest<'_>, now: u64, out: &mut Vec<u8>) {
        self.stats.cmd_meta.incr();
        match m.cmd {
            MetaCmd::Get => self.meta_get(m, now, out),
            MetaCmd::Set { mode } => self.meta_set(m, mode, now, out),
            MetaCmd::Delete => self.meta_delete(m, now, out),
            MetaCmd::Arith { incr } => self.meta_arith(m, incr, now, out),
        }
    }

    fn emit(
        m: &MetaRequest<'_>,
        out: &mut Vec<u8>,
        status: MetaStatus,
        item: Option<&ItemMeta>,
        value: Option<&[u8]>,
        lease: MetaLease,
    ) {
        if !m.quiet_suppresses(status) {
            reply::meta(out, m, status, item, value, lease);
        }
    }

    fn meta_get(&self, m: &MetaRequest<'_>, now: u64, out: &mut Vec<u8>) {
        let key: &[u8] = &m.key;
        let f = &m.flags;
        self.stats.cmd_get.incr();
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        // `l` reports the time since the previous access: bump the clock by hand below.
        l.touch = false;
        if l.peek(DB, key).is_none() {
            self.stats.get_misses.incr();
            if let Some(ttl) = f.vivify_ttl {
                // Vivify: an empty placeholder; this client wins the right to fill it.
                let bits = WIN_SENT | if f.base64_key { BINARY_KEY } else { 0 };
                let cas = self.next_cas();
                if let Some(at) = expiry_ms(ttl, now) {
                    l.set(DB, key, encode(0, cas, bits, &[]), at);
                    self.account(key.len() as i64);
                }
                let it = ItemMeta {
                    cas,
                    ttl: if ttl == 0 { -1 } else { ttl },
                    binary_key: f.base64_key,
                    ..ItemMeta::default()
                };
                let lease = MetaLease {
                    won: true,
                    ..MetaLease::default()
                };
                // memcached answers like a hit on the new empty item, with `W`.
                let (status, value) = va_or_hd(f.return_value, b"");
                reply::meta(out, m, status, Some(&it), value, lease);
                return;
            }
            Self::emit(m, out, MetaStatus::En, None, None, MetaLease::default());
            return;
        }
        self.stats.get_hits.incr();
        let Some(e) = l.peek(DB, key) else { return };
        let last_access = e.idle_seconds();
        if !f.no_lru_bump {
            e.touch();
        }
        if let Some(t) = f.ttl {
            self.stats.cmd_touch.incr();
            self.stats.touch_hits.incr();
            let at = expiry_ms(t, now).unwrap_or(now.max(1));
            l.set_expire(DB, key, at);
        }
        let Some(e) = l.peek(DB, key) else {
            // Touched into the past: gone.
            Self::emit(m, out, MetaStatus::En, None, None, MetaLease::default());
            return;
        };
        let ttl = ttl_secs(e, now);
        let Some(i) = decode(&e.value) else { return };
        let (flags, cas, bits, data) = (i.flags, i.cas, i.bits, i.data.to_vec());
        let mut lease = MetaLease::default();
        let stale = bits & STALE != 0;
        let recache = f.recache_ttl.is_some_and(|r| ttl != -1 && ttl < r);
        let mut new_bits = bits;
        if bits & WIN_SENT != 0 {
            // Someone already holds the recache token (a vivify or an earlier `W`).
            lease.token_sent = true;
        } else if stale || recache {
            lease.won = true;
            new_bits |= WIN_SENT;
        }
        lease.stale = stale;
        if !f.no_lru_bump {
            new_bits |= FETCHED;
        }
        if new_bits != bits {
            set_bits(e, |_| new_bits);
        }
        let it = ItemMeta {
            cas,
            client_flags: flags,
            size: data.len(),
            ttl,
            last_access,
            fetched: bits & FETCHED != 0,
            binary_key: bits & BINARY_KEY != 0,
        };
        drop(l);
        let (status, value) = va_or_hd(f.return_value, &data);
        Self::emit(m, out, status, Some(&it), value, lease);
    }

    fn meta_set(&self, m: &MetaRequest<'_>, mode: StoreCmd, now: u64, out: &mut Vec<u8>) {
        let key: &[u8] = &m.key;
        let f = &m.flags;
        let bits = if f.base64_key { BINARY_KEY } else { 0 };
        if f.invalidate && self.set_stale(m, now, out) {
            return;
        }
        let mut cas = 0;
        // `I` with a compare value: a stale item may be replaced by a lower CAS too.
        let compare = f.compare_cas.unwrap_or(0);
        let r = self.store_item(
            mode,
            key,
            f.client_flags.unwrap_or(0),
            f.ttl.unwrap_or(0),
            compare,
            m.data,
            bits,
            now,
            &mut cas,
        );
        let status = match r {
            reply::STORED => MetaStatus::Hd,
            reply::NOT_STORED => MetaStatus::Ns,
            reply::EXISTS => MetaStatus::Ex,
            reply::NOT_FOUND => MetaStatus::Nf,
            other => {
                reply::line(out, other);
                return;
            }
        };
        let it = ItemMeta {
            cas,
            ..ItemMeta::default()
        };
        Self::emit(m, out, status, Some(&it), None, MetaLease::default());
    }

    /// `ms` with `I` and a compare value below a stale item's CAS: memcached stores the
    /// new data but keeps the item stale, with its TTL and recache token. Returns whether
    /// that happened (the reply is written).
    fn set_stale(&self, m: &MetaRequest<'_>, now: u64, out: &mut Vec<u8>) -> bool {
        let key: &[u8] = &m.key;
        let f = &m.flags;
        let Some(compare) = f.compare_cas else {
            return false;
        };
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        let Some(e) = l.peek(DB, key) else {
            return false;
        };
        let Some(i) = decode(&e.value) else {
            return false;
        };
        if i.bits & STALE == 0 || compare >= i.cas {
            return false;
        }
        self.stats.cmd_set.incr();
        let cas = self.next_cas();
        let old_len = i.data.len() as i64;
        let bits = i.bits & (STALE | WIN_SENT | BINARY_KEY);
        e.value = encode(f.client_flags.unwrap_or(0), cas, bits, &[m.data]);
        self.account(m.data.len() as i64 - old_len);
        let it = ItemMeta {
            cas,
            ..ItemMeta::default()
        };
        Self::emit(
            m,
            out,
            MetaStatus::Hd,
            Some(&it),
            None,
            MetaLease::default(),
        );
        true
    }

    fn meta_delete(&self, m: &MetaRequest<'_>, now: u64, out: &mut Vec<u8>) {
        let key: &[u8] = &m.key;
        let f = &m.flags;
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        let Some(cas) = l
            .peek(DB, key)
            .and_then(|e| decode(&e.value).map(|i| i.cas))
        else {
            self.stats.delete_misses.incr();
            Self::emit(m, out, MetaStatus::Nf, None, None, MetaLease::default());
            return;
        };
        if f.compare_cas.is_some_and(|c| c != cas) {
            Self::emit(m, out, MetaStatus::Ex, None, None, MetaLease::default());
            return;
        }
        self.stats.delete_hits.incr();
        if f.invalidate {
            // Mark stale instead of deleting: readers get `X` and one of them `W`.
            let new_cas = self.next_cas();
            if let Some(e) = l.peek(DB, key) {
                set_bits(e, |b| (b | STALE) & !WIN_SENT);
                set_cas(e, new_cas);
            }
            if let Some(t) = f.ttl {
                match expiry_ms(t, now) {
                    Some(at) => {
                        l.set_expire(DB, key, at);
                    }
                    None => {
                        l.remove(DB, key);
                    }
                }
            }
        } else if let Some(e) = l.remove(DB, key) {
            let size = decode(&e.value).map_or(0, |i| i.data.len());
            self.account(-((key.len() + size) as i64));
        }
        Self::emit(m, out, MetaStatus::Hd, None, None, MetaLease::default());
    }

    fn meta_arith(&self, m: &MetaRequest<'_>, incr: bool, now: u64, out: &mut Vec<u8>) {
        let key: &[u8] = &m.key;
        let f = &m.flags;
        let (hits, misses) = if incr {
            (&self.stats.incr_hits, &self.stats.incr_misses)
        } else {
            (&self.stats.decr_hits, &self.stats.decr_misses)
        };
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        let existing = l
            .get_mut(DB, key)
            .and_then(|e| decode(&e.value).map(|i| (i.flags, i.cas, i.bits, i.data.to_vec())));
        let Some((flags, old_cas, bits, data)) = existing else {
            misses.incr();
            let Some(ttl) = f.vivify_ttl else {
                Self::emit(m, out, MetaStatus::Nf, None, None, MetaLease::default());
                return;
            };
            let digits = itoa::Buffer::new()
                .format(f.initial.unwrap_or(0))
                .as_bytes()
                .to_vec();
            let cas = self.next_cas();
            let bits = if f.base64_key { BINARY_KEY } else { 0 };
            if let Some(at) = expiry_ms(ttl, now) {
                l.set(DB, key, encode(0, cas, bits, &[&digits]), at);
                self.account((key.len() + digits.len()) as i64);
                self.stats.total_items.incr();
            }
            let it = ItemMeta {
                cas,
                ttl: if ttl == 0 { -1 } else { ttl },
                ..ItemMeta::default()
            };
            // memcached answers an auto-vivified counter even in quiet mode.
            let (status, value) = va_or_hd(f.return_value, &digits);
            reply::meta(out, m, status, Some(&it), value, MetaLease::default());
            return;
        };
        if data.is_empty() {
            reply::line(out, reply::NON_NUMERIC);
            return;
        }
        if f.compare_cas.is_some_and(|c| c != old_cas) {
            Self::emit(m, out, MetaStatus::Ex, None, None, MetaLease::default());
            return;
        }
        match apply_delta(&data, incr, f.delta.unwrap_or(1)) {
            Delta::NonNumeric => reply::line(out, reply::NON_NUMERIC),
            Delta::Value { digits, stored, .. } => {
                hits.incr();
                let cas = self.next_cas();
                if let Some(e) = l.peek(DB, key) {
                    e.value = encode(flags, cas, bits & BINARY_KEY, &[&stored]);
                }
                self.account(stored.len() as i64 - data.len() as i64);
                if let Some(t) = f.ttl {
                    match expiry_ms(t, now) {
                        Some(at) => {
                            l.set_expire(DB, key, at);
                        }
                        None => {
                            l.remove(DB, key);
                        }
                    }
                }
                let ttl = l.peek(DB, key).map_or(-1, |e| ttl_secs(e, now));
                let it = ItemMeta {
                    cas,
                    client_flags: flags,
                    size: digits.len(),
                    ttl,
                    ..ItemMeta::default()
                };
                let (status, value) = va_or_hd(f.return_value, &digits);
                Self::emit(m, out, status, Some(&it), value, MetaLease::default());
            }
        }
    }

    fn meta_debug(&self, key: &[u8], base64_key: bool, now: u64, out: &mut Vec<u8>) {
        let mut l = self.server.keyspace.lock(std::iter::once(key), now);
        l.touch = false;
        let Some(e) = l.peek(DB, key) else {
            reply::line(out, "EN");
            return;
        };
        let exp = ttl_secs(e, now);
        let la = e.idle_seconds();
        let Some(i) = decode(&e.value) else {
            reply::line(out, "EN");
            return;
        };
        // memcached's `size` is its whole item: a 48-byte header, the CAS when enabled,
        // client flags when non-zero, the key with its NUL and the data with `\r\n`.
        let cas_size = if self.settings.cas_disabled { 0 } else { 8 };
        let flags_size = if i.flags != 0 { 4 } else { 0 };
        let size = 48 + cas_size + flags_size + key.len() + 1 + i.data.len() + 2;
        reply::meta_debug(
            out,
            key,
            base64_key,
            exp,
            la,
            i.cas,
            i.bits & FETCHED != 0,
            1,
            size,
        );
    }
}

/// Checks a SASL PLAIN message (`[authzid] NUL authcid NUL password`) against the
/// password file's entries. An entry `user@realm` also matches `user` (Cyrus SASL
/// password files carry the realm).
/// Whether `user` / `password` is an entry of a password file.
fn credentials_ok(users: &[(String, String)], user: &[u8], password: &[u8]) -> bool {
    users
        .iter()
        .any(|(u, p)| u.as_bytes() == user && p.as_bytes() == password)
}

fn plain_auth_ok(users: &[(String, String)], data: &[u8]) -> bool {
    let mut parts = data.split(|&b| b == 0);
    let (Some(_authzid), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    users.iter().any(|(u, p)| {
        let name = u.split_once('@').map_or(u.as_str(), |(n, _)| n);
        (u.as_bytes() == user || name.as_bytes() == user) && p.as_bytes() == pass
    })
}

/// User and system CPU seconds of the process (`stats rusage_*`).
fn rusage() -> (f64, f64) {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to a rusage struct.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use memcache::text::{parse, Parsed};

    fn engine() -> Arc<Memcached> {
        let config = crate::Config::new();
        let server = Server::new(config);
        Memcached::new(server, McSettings::default())
    }

    /// Runs a pipeline of requests and returns all replies.
    fn run(mc: &Memcached, input: &[u8]) -> String {
        let limits = Limits::default();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            match parse(&input[pos..], &limits) {
                Parsed::Incomplete { .. } => break,
                Parsed::Error(e) => {
                    if let Some(r) = e.reply {
                        reply::line(&mut out, r);
                    }
                    if let Some(k) = e.unlink {
                        mc.unlink(&k);
                    }
                    pos += e.consumed + e.swallow;
                }
                Parsed::Request { req, consumed } => {
                    pos += consumed;
                    mc.execute(req, &McSession::default(), &mut out);
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn storage_commands() {
        let mc = engine();
        assert_eq!(run(&mc, b"set a 5 0 3\r\nabc\r\n"), "STORED\r\n");
        assert_eq!(run(&mc, b"get a b\r\n"), "VALUE a 5 3\r\nabc\r\nEND\r\n");
        assert_eq!(run(&mc, b"add a 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
        assert_eq!(run(&mc, b"replace b 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
        assert_eq!(run(&mc, b"append a 0 0 2\r\nde\r\n"), "STORED\r\n");
        assert_eq!(run(&mc, b"prepend a 0 0 1\r\nz\r\n"), "STORED\r\n");
        assert_eq!(run(&mc, b"get a\r\n"), "VALUE a 5 6\r\nzabcde\r\nEND\r\n");
        assert_eq!(run(&mc, b"append nokey 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
        assert_eq!(
            run(&mc, b"delete a\r\ndelete a\r\n"),
            "DELETED\r\nNOT_FOUND\r\n"
        );
        assert_eq!(
            run(&mc, b"set q 0 0 1 noreply\r\nx\r\nget q\r\n"),
            "VALUE q 0 1\r\nx\r\nEND\r\n"
        );
    }

    #[test]
    fn cas_follows_uniques() {
        let mc = engine();
        run(&mc, b"set k 0 0 1\r\n1\r\n");
        let out = run(&mc, b"gets k\r\n");
        let cas: u64 = out
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(4))
            .and_then(|c| c.parse().ok())
            .expect("gets returns a cas");
        assert_eq!(
            run(
                &mc,
                format!("cas k 0 0 1 {}\r\n2\r\n", cas + 100).as_bytes()
            ),
            "EXISTS\r\n"
        );
        assert_eq!(
            run(&mc, format!("cas k 0 0 1 {cas}\r\n2\r\n").as_bytes()),
            "STORED\r\n"
        );
        assert_eq!(
            run(&mc, format!("cas k 0 0 1 {cas}\r\n3\r\n").as_bytes()),
            "EXISTS\r\n"
        );
        assert_eq!(run(&mc, b"cas nope 0 0 1 1\r\n3\r\n"), "NOT_FOUND\r\n");
    }

    #[test]
    fn counters_wrap_and_pad() {
        let mc = engine();
        run(&mc, b"set n 0 0 2\r\n10\r\n");
        assert_eq!(run(&mc, b"decr n 5\r\n"), "5\r\n");
        assert_eq!(run(&mc, b"get n\r\n"), "VALUE n 0 2\r\n5 \r\nEND\r\n");
        assert_eq!(run(&mc, b"decr n 50\r\n"), "0\r\n");
        run(&mc, b"set n 0 0 20\r\n18446744073709551615\r\n");
        assert_eq!(run(&mc, b"incr n 2\r\n"), "1\r\n");
        run(&mc, b"set s 0 0 1\r\nx\r\n");
        assert_eq!(
            run(&mc, b"incr s 1\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        );
        assert_eq!(run(&mc, b"incr none 1\r\n"), "NOT_FOUND\r\n");
    }

    #[test]
    fn expiry_rules() {
        let now = 1_700_000_000_000;
        assert_eq!(expiry_ms(0, now), Some(0));
        assert_eq!(expiry_ms(-1, now), None);
        assert_eq!(expiry_ms(10, now), Some(now + 10_000));
        assert_eq!(expiry_ms(1_600_000_000, now), None);
        assert_eq!(expiry_ms(1_800_000_000, now), Some(1_800_000_000_000));
        let mc = engine();
        assert_eq!(
            run(&mc, b"set e 0 -1 1\r\nx\r\nget e\r\n"),
            "STORED\r\nEND\r\n"
        );
        run(&mc, b"set t 0 0 1\r\nx\r\n");
        assert_eq!(run(&mc, b"touch t -1\r\nget t\r\n"), "TOUCHED\r\nEND\r\n");
        assert_eq!(run(&mc, b"touch t 10\r\n"), "NOT_FOUND\r\n");
    }

    #[test]
    fn meta_commands() {
        let mc = engine();
        assert_eq!(run(&mc, b"ms m 2 F7 T0\r\nhi\r\n"), "HD\r\n");
        assert_eq!(
            run(&mc, b"mg m v f s t k\r\n"),
            "VA 2 f7 s2 t-1 km\r\nhi\r\n"
        );
        assert_eq!(run(&mc, b"mg miss v\r\n"), "EN\r\n");
        assert_eq!(run(&mc, b"mg miss v q\r\nmn\r\n"), "MN\r\n");
        assert_eq!(
            run(&mc, b"ma m\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        );
        assert_eq!(run(&mc, b"ma c N0 J5 v\r\n"), "VA 1\r\n5\r\n");
        assert_eq!(run(&mc, b"ma c MD D2 v\r\n"), "VA 1\r\n3\r\n");
        assert_eq!(run(&mc, b"md c q\r\nmd c\r\n"), "NF\r\n");
        assert_eq!(run(&mc, b"ms m 1 ME\r\nx\r\n"), "NS\r\n");
    }

    #[test]
    fn cluster_config_versions_increase() {
        let mc = engine();
        assert_eq!(
            run(&mc, b"config get cluster\r\n"),
            "CONFIG cluster 0 3\r\n0\n\n\r\nEND\r\n"
        );
        let nodes = b"9\r\nh1|10.0.0.1|11211 h2|10.0.0.2|11212";
        let set = [
            format!("config set cluster 0 0 {}\r\n", nodes.len()).as_bytes(),
            nodes,
            b"\r\n",
        ]
        .concat();
        assert_eq!(run(&mc, &set), "STORED\r\n");
        assert_eq!(run(&mc, &set), "STORED\r\n");
        assert_eq!(
            run(&mc, b"config get cluster\r\n"),
            "CONFIG cluster 0 38\r\n2\nh1|10.0.0.1|11211 h2|10.0.0.2|11212\n\r\nEND\r\n"
        );
    }

    #[test]
    fn shutdown_needs_dash_a() {
        let mc = engine();
        assert_eq!(run(&mc, b"shutdown\r\n"), "ERROR: shutdown not enabled\r\n");
        assert!(!mc.server.shutdown.load(Ordering::Acquire));
    }

    #[test]
    fn stats_report_real_counters() {
        let mc = engine();
        run(&mc, b"set a 0 0 1\r\nx\r\nget a\r\nget b\r\n");
        let s = run(&mc, b"stats\r\n");
        assert!(s.contains("STAT get_hits 1\r\n"), "{s}");
        assert!(s.contains("STAT get_misses 1\r\n"), "{s}");
        assert!(s.contains("STAT curr_items 1\r\n"), "{s}");
        assert!(s.contains("STAT bytes 2\r\n"), "{s}");
        assert!(s.ends_with("END\r\n"));
        assert_eq!(run(&mc, b"stats reset\r\n"), "RESET\r\n");
        assert_eq!(run(&mc, b"flush_all\r\nget a\r\n"), "OK\r\nEND\r\n");
    }
}
