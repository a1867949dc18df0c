//! The keyspace: databases of keys organised by hash slot, grouped into lock
//! shards; expiry (lazy and active), SCAN cursors, random keys.
//!
//! Every database is split into the 16384 hash slots, even outside cluster
//! mode; each slot is its own small hash table. Slots are grouped into
//! [`SHARDS`] contiguous ranges, each behind one mutex that covers that range
//! in every database. The only way to hold more than one shard lock is
//! [`Keyspace::lock`] / [`Keyspace::lock_all`], which take them in ascending
//! order, so no two commands can deadlock.
//!
//! A transaction (EXEC) takes the locks of all its commands at once with
//! [`Keyspace::hold`]; while the hold lives, the commands it runs on the same
//! thread are granted those shards without locking them again.

mod bytes;
pub mod counter;
pub mod glob;
mod ready;
mod slot;
pub mod snapshot;
mod table;
mod tracking;
mod value;
mod watch;

use counter::Counter;

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;
use watch::{KeyState, Watches};

pub use bytes::{CompactBytes, VALUE_INLINE_CAP};
pub use ready::{Readiness, Waiter};
pub use slot::{crc16, key_slot, SLOTS};
pub use table::Table;
use tracking::Tracked;
pub use tracking::TrackingClients;
pub use value::{
    itoa_buf, lfu_mode, lru_clock, parse_canonical_i64, set_lfu, set_lru_clock_ms, Entry, StrValue,
    Value,
};

/// Number of lock shards (a power of two, well above any thread count).
pub const SHARDS: usize = 256;
/// Hash slots per shard.
pub const SLOTS_PER_SHARD: usize = SLOTS / SHARDS;

/// The shard that holds a slot.
#[inline]
pub fn shard_of_slot(slot: u16) -> usize {
    slot as usize / SLOTS_PER_SHARD
}

/// Keyspace events the engine may publish (keyspace notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// A key was removed because it expired.
    Expired,
    /// A key that did not exist was created.
    New,
}

/// While CLIENT PAUSE is in force (until this time, ms since the epoch),
/// expired keys read as missing but are not deleted, as in Redis (a paused
/// server must not change its data, not even by expiring it).
static EXPIRY_PAUSED_UNTIL: AtomicU64 = AtomicU64::new(0);

/// Pauses key deletion by expiry until `until_ms` (0 resumes it).
pub fn pause_expiry_until(until_ms: u64) {
    EXPIRY_PAUSED_UNTIL.store(until_ms, Ordering::Release);
}

/// On a replica, expired keys read as missing but only the primary deletes
/// them (its DEL arrives in the replication stream), as in Redis.
static EXPIRY_BY_PRIMARY: AtomicBool = AtomicBool::new(false);

/// Leaves key deletion by expiry to the primary (`true`, a replica) or not.
pub fn set_expiry_by_primary(on: bool) {
    EXPIRY_BY_PRIMARY.store(on, Ordering::Release);
}

/// Is expiry left to the primary?
pub fn expiry_by_primary() -> bool {
    EXPIRY_BY_PRIMARY.load(Ordering::Acquire)
}

fn expiry_paused(now_ms: u64) -> bool {
    EXPIRY_PAUSED_UNTIL.load(Ordering::Relaxed) > now_ms
        || EXPIRY_BY_PRIMARY.load(Ordering::Relaxed)
}

/// Called with every [`KeyEvent`], its database and key.
static EVENT_HOOK: std::sync::OnceLock<fn(KeyEvent, usize, &[u8])> = std::sync::OnceLock::new();

/// Installs the key-event hook (once per process).
pub fn set_event_hook(hook: fn(KeyEvent, usize, &[u8])) {
    let _ = EVENT_HOOK.set(hook);
}

#[inline]
fn key_event(event: KeyEvent, db: usize, key: &[u8]) {
    if let Some(hook) = EVENT_HOOK.get() {
        hook(event, db, key);
    }
}

/// Where a keyspace reports the keys it deletes as expired (write
/// propagation logs them as DEL while the key's lock is still held).
pub type ExpirySink = Box<dyn Fn(usize, &[u8]) + Send + Sync>;

/// Why the keyspace lets a value go (the engine may free big ones on
/// another thread: lazyfree-lazy-expire / lazyfree-lazy-server-del).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// Its key expired.
    Expired,
    /// A write replaced it.
    Overwritten,
}

/// The dispose hook's type: (key, value, why).
pub type DisposeHook = fn(&[u8], Value, Disposal);

static DISPOSE_HOOK: std::sync::OnceLock<DisposeHook> = std::sync::OnceLock::new();

/// Installs the function that frees values the keyspace lets go (once per process).
pub fn set_dispose_hook(hook: DisposeHook) {
    let _ = DISPOSE_HOOK.set(hook);
}

fn dispose(key: &[u8], value: Value, why: Disposal) {
    match DISPOSE_HOOK.get() {
        Some(hook) => hook(key, value, why),
        None => drop(value),
    }
}

fn dispose_entry(entry: Entry, why: Disposal) {
    let (key, value) = entry.into_parts();
    dispose(&key, value, why);
}

/// Called when a lock wait gets long (see [`set_long_wait_hook`]).
static LONG_WAIT_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Installs the function a thread calls each time it has waited
/// [`LONG_WAIT`] for a shard lock (the engine lets the thread's other work
/// move elsewhere meanwhile).
pub fn set_long_wait_hook(hook: fn()) {
    let _ = LONG_WAIT_HOOK.set(hook);
}

/// A lock wait this long calls the long-wait hook.
pub const LONG_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

fn long_wait() {
    if let Some(hook) = LONG_WAIT_HOOK.get() {
        hook();
    }
}

/// Locks `m`, calling the long-wait hook every [`LONG_WAIT`] of waiting.
#[inline]
fn lock_patiently<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    if let Some(g) = m.try_lock() {
        return g;
    }
    loop {
        if let Some(g) = m.try_lock_for(LONG_WAIT) {
            return g;
        }
        long_wait();
    }
}

/// Called when a key changes that tracking clients read (their ids; empty
/// when the key is reported only because BCAST clients watch every write).
static INVALIDATION_HOOK: std::sync::OnceLock<InvalidationHook> = std::sync::OnceLock::new();

/// The invalidation hook's type: (key, tracking client ids).
pub type InvalidationHook = fn(&[u8], &[u64]);

/// Installs the invalidation hook (once per process).
pub fn set_invalidation_hook(hook: InvalidationHook) {
    let _ = INVALIDATION_HOOK.set(hook);
}

/// `key` of `shard` changed: its tracking clients (and BCAST, when on)
/// hear about it.
#[inline]
fn invalidate(ks: &Keyspace, tracked: &mut Tracked, key: &[u8]) {
    let report_all = ks.report_all_writes.load(Ordering::Relaxed);
    if tracked.is_empty() && !report_all {
        return;
    }
    let clients = tracked.take(key);
    if let Some(ids) = &clients {
        ks.tracked_keys.fetch_sub(1, Ordering::Relaxed);
        ks.tracked_items.fetch_sub(ids.len(), Ordering::Relaxed);
    }
    if clients.is_some() || report_all {
        if let Some(hook) = INVALIDATION_HOOK.get() {
            hook(key, clients.as_deref().unwrap_or(&[]));
        }
    }
}

/// One database's part of a shard: one table per slot of the shard.
#[derive(Default)]
pub struct ShardDb {
    /// Empty until the first key lands in this database (no memory for unused dbs).
    slots: Vec<Table>,
    keys: usize,
    volatile: usize,
    /// Next local slot the active expiry cycle looks at.
    expire_cursor: usize,
}

impl ShardDb {
    fn table(&self, local: usize) -> Option<&Table> {
        self.slots.get(local)
    }

    /// Whether `key` is stored here, and if so whether it has expired.
    fn state(&self, key: &[u8], now_ms: u64) -> KeyState {
        match self.table(key_pos(key).local).and_then(|t| t.get(key)) {
            None => KeyState::Absent,
            Some(e) if e.is_expired(now_ms) => KeyState::Expired,
            Some(_) => KeyState::Live,
        }
    }

    fn table_mut(&mut self, local: usize) -> &mut Table {
        if self.slots.is_empty() {
            self.slots = Self::empty_tables();
        }
        &mut self.slots[local]
    }

    /// Number of keys (expired-but-not-yet-reclaimed ones included, as in Redis).
    pub fn len(&self) -> usize {
        self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    pub fn volatile(&self) -> usize {
        self.volatile
    }

    /// One empty table per slot of the shard.
    fn empty_tables() -> Vec<Table> {
        (0..SLOTS_PER_SHARD).map(|_| Table::default()).collect()
    }

    /// Empties the database part, returning its tables. A part in use keeps
    /// its (empty) tables: the memory a flushed database takes stays put,
    /// so refilling it is not charged for them again under maxmemory.
    fn clear(&mut self) -> Vec<Table> {
        self.keys = 0;
        self.volatile = 0;
        self.expire_cursor = 0;
        if self.slots.is_empty() {
            return Vec::new();
        }
        std::mem::replace(&mut self.slots, Self::empty_tables())
    }
}

/// One lock shard: its slot range in every database.
pub struct Shard {
    dbs: Vec<ShardDb>,
    /// WATCHed keys of this slot range (by database index: they stay put
    /// when SWAPDB swaps the data).
    watches: Watches,
    /// Keys read by tracking clients (CLIENT TRACKING).
    tracked: Tracked,
    /// Per database, the keys a running snapshot captured before its walk
    /// reached this shard (see [`snapshot`]).
    snapshot_seen: Vec<hashbrown::HashSet<Box<[u8]>>>,
}

/// Access to one shard: its lock, or the hold this thread already has on it.
pub enum ShardGuard<'a> {
    Locked(MutexGuard<'a, Shard>),
    Held(&'a mut Shard),
}

impl Deref for ShardGuard<'_> {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        match self {
            ShardGuard::Locked(g) => g,
            ShardGuard::Held(s) => s,
        }
    }
}

impl DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        match self {
            ShardGuard::Locked(g) => g,
            ShardGuard::Held(s) => s,
        }
    }
}

thread_local! {
    /// The shards this thread holds through a [`Hold`]: the keyspace's
    /// address and one bit per shard.
    static HELD: Cell<(usize, [u64; SHARDS / 64])> = const { Cell::new((0, [0; SHARDS / 64])) };
    /// Changes this thread made (see [`thread_dirty`]).
    static THREAD_DIRTY: Cell<u64> = const { Cell::new(0) };
}

/// Changes made by this thread so far: a command changed the data when
/// the figure moved while it ran (write propagation uses it as Redis uses
/// its `dirty` counter).
pub fn thread_dirty() -> u64 {
    THREAD_DIRTY.with(Cell::get)
}

/// Shard locks taken for a whole transaction or script. While it lives,
/// lock requests of this thread for these shards are granted at once; other
/// threads wait. The thread-local bit set is the record of what is held.
pub struct Hold<'a> {
    ks: &'a Keyspace,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let (_, bits) = HELD.with(|h| h.replace((0, [0; SHARDS / 64])));
        for i in held_ids(&bits) {
            // SAFETY: `Keyspace::hold` / `escalate` locked exactly the
            // mutexes whose bits are set, on this thread, and forgot their
            // guards; nothing else unlocks them.
            unsafe { self.ks.shards[i].force_unlock() };
        }
    }
}

/// The shard ids set in a held bit set.
fn held_ids(bits: &[u64; SHARDS / 64]) -> impl Iterator<Item = usize> + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                w * 64 + bit
            })
        })
    })
}

impl Shard {
    pub fn db(&self, db: usize) -> &ShardDb {
        &self.dbs[db]
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// The entries of slot `local` of database `db` a snapshot's walk
    /// captures: all but those the snapshot captured (or saw created)
    /// before the walk.
    pub fn snapshot_entries(&self, db: usize, local: usize) -> impl Iterator<Item = &Entry> {
        let seen = self.snapshot_seen.get(db).filter(|s| !s.is_empty());
        self.dbs[db]
            .slots
            .get(local)
            .into_iter()
            .flat_map(Table::iter)
            .filter(move |e| seen.is_none_or(|s| !s.contains(e.key())))
    }
}

/// Keyspace-wide counters.
#[derive(Default)]
pub struct KeyspaceStats {
    pub expired_keys: Counter,
    pub keyspace_hits: Counter,
    pub keyspace_misses: Counter,
    pub expire_cycle_cpu_us: Counter,
    /// Key writes since start (INFO rdb_changes_since_last_save counts
    /// from a save): one per command and key written, like Redis's
    /// `dirty` for most commands.
    pub dirty: Counter,
}

/// All databases.
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    databases: usize,
    pub stats: KeyspaceStats,
    /// Clients blocked on keys, woken when a command writes the key.
    pub ready: Readiness,
    /// Holds being widened out of lock order (see `lock_ordered`).
    escalating: AtomicUsize,
    /// Tracked keys and (key, client) pairs in every shard.
    tracked_keys: AtomicUsize,
    tracked_items: AtomicUsize,
    /// Report every write to the invalidation hook (BCAST tracking on).
    report_all_writes: AtomicBool,
    /// Where the next tracking-table trim starts.
    trim_cursor: AtomicUsize,
    /// Held by the running tracking-table trim.
    trimming: Mutex<()>,
    /// The snapshot being taken, if any (see [`snapshot`]).
    snapshot: snapshot::SnapshotState,
    expiry_sink: std::sync::OnceLock<ExpirySink>,
}

/// Where a key lives: its shard and its slot's index within the shard.
#[derive(Debug, Clone, Copy)]
struct KeyPos {
    shard: usize,
    local: usize,
}

#[inline]
fn key_pos(key: &[u8]) -> KeyPos {
    let slot = key_slot(key) as usize;
    KeyPos {
        shard: slot / SLOTS_PER_SHARD,
        local: slot % SLOTS_PER_SHARD,
    }
}

/// The shard that holds `key`.
pub fn key_shard(key: &[u8]) -> usize {
    key_pos(key).shard
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                // Database 0, where most keys live, has its tables from the
                // start (the others get theirs with their first key).
                let mut dbs: Vec<ShardDb> = (0..databases).map(|_| ShardDb::default()).collect();
                if let Some(first) = dbs.first_mut() {
                    first.slots = ShardDb::empty_tables();
                }
                Mutex::new(Shard {
                    dbs,
                    watches: Watches::default(),
                    tracked: Tracked::default(),
                    snapshot_seen: Vec::new(),
                })
            })
            .collect();
        Keyspace {
            shards,
            databases,
            stats: KeyspaceStats::default(),
            ready: Readiness::default(),
            escalating: AtomicUsize::new(0),
            tracked_keys: AtomicUsize::new(0),
            tracked_items: AtomicUsize::new(0),
            report_all_writes: AtomicBool::new(false),
            trim_cursor: AtomicUsize::new(0),
            trimming: Mutex::new(()),
            snapshot: snapshot::SnapshotState::default(),
            expiry_sink: std::sync::OnceLock::new(),
        }
    }

    /// Installs the sink told of every key deleted because it expired
    /// (once per keyspace).
    pub fn set_expiry_sink(&self, sink: ExpirySink) {
        let _ = self.expiry_sink.set(sink);
    }

    /// A key was deleted because it expired: its event, and the sink.
    fn expired(&self, db: usize, key: &[u8]) {
        key_event(KeyEvent::Expired, db, key);
        if let Some(sink) = self.expiry_sink.get() {
            sink(db, key);
        }
    }

    /// Starts a snapshot: the moment it captures is now (every shard is
    /// locked meanwhile, so no command is half done). False if another
    /// snapshot is running. [`Keyspace::walk_snapshot`] must follow.
    /// `at_point` runs at that moment, under every lock, if it begins.
    pub fn begin_snapshot(
        &self,
        capture: Arc<dyn snapshot::ShardCapture>,
        at_point: impl FnOnce(),
    ) -> bool {
        let all = self.lock_all(0);
        let begun = self.snapshot.begin(capture);
        if begun {
            at_point();
        }
        drop(all);
        begun
    }

    /// Counts `n` changes (Redis's `dirty`, and this thread's share: see
    /// [`thread_dirty`]).
    pub fn add_dirty(&self, n: u64) {
        self.stats.dirty.add(n);
        THREAD_DIRTY.with(|d| d.set(d.get() + n));
    }

    /// Walks the running snapshot's shards (see [`snapshot`]) on `threads`
    /// threads (this one among them: SAVE, where the caller waits anyway,
    /// uses more than one) and ends it.
    pub fn walk_snapshot(&self, threads: usize) {
        let threads = threads.clamp(1, SHARDS);
        let capture = self.snapshot.capture();
        let walk = |first: usize| {
            for i in (first..SHARDS).step_by(threads) {
                // One slot per lock: a command waits at most for one slot's
                // serialization.
                for local in 0..SLOTS_PER_SHARD {
                    if let Some(c) = &capture {
                        c.before_next();
                    }
                    let mut guard = self.shard(i);
                    self.snapshot.walk_slot(i, local, &mut guard);
                }
            }
        };
        std::thread::scope(|scope| {
            for first in 1..threads {
                scope.spawn(move || walk(first));
            }
            walk(0);
        });
        self.snapshot.end();
    }

    /// Makes room for `keys` more keys in database `db`, spread over its
    /// slots (loading a file whose size is known).
    pub fn reserve(&self, db: usize, keys: usize) {
        let per_slot = keys.div_ceil(SLOTS);
        if db >= self.databases || per_slot == 0 {
            return;
        }
        for i in 0..SHARDS {
            let mut shard = self.shard(i);
            let sdb = &mut shard.dbs[db];
            for local in 0..SLOTS_PER_SHARD {
                sdb.table_mut(local).reserve(per_slot);
            }
        }
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    /// Locks the shards of `keys` (sorted, deduplicated: the one ordered way
    /// to hold several shard locks).
    pub fn lock<'k, I>(&self, keys: I, now_ms: u64) -> Locked<'_>
    where
        I: IntoIterator<Item = &'k [u8]>,
    {
        let mut last = None;
        let mut ids: SmallVec<[usize; 8]> = keys
            .into_iter()
            .map(|k| {
                let pos = key_pos(k);
                last = Some((k, pos));
                pos.shard
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut locked = self.lock_shards(&ids, now_ms);
        if let Some((key, pos)) = last {
            locked.remember_pos(key, pos);
        }
        locked
    }

    /// Locks the given shard ids, which must be sorted and unique.
    fn lock_shards(&self, ids: &[usize], now_ms: u64) -> Locked<'_> {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let guards = if self.holding() || ids.len() == 1 {
            ids.iter().map(|&i| (i, self.shard(i))).collect()
        } else {
            ids.iter()
                .copied()
                .zip(self.lock_ordered(ids).into_iter().map(ShardGuard::Locked))
                .collect()
        };
        Locked {
            guards,
            now_ms,
            ks: self,
            touch: true,
            written: SmallVec::new(),
            last_pos: None,
        }
    }

    /// Locks every shard, in order (keyspace-wide atomic operations).
    pub fn lock_all(&self, now_ms: u64) -> Locked<'_> {
        let ids: Vec<usize> = (0..SHARDS).collect();
        self.lock_shards(&ids, now_ms)
    }

    /// One shard: locked, or granted at once when this thread holds it.
    fn shard(&self, i: usize) -> ShardGuard<'_> {
        let (owner, bits) = HELD.with(Cell::get);
        if owner == self as *const Keyspace as usize && bits[i / 64] & (1 << (i % 64)) != 0 {
            // SAFETY: this thread locked the shard in `hold` and keeps it
            // locked until the hold drops, so no other thread can reach it;
            // the hold itself never touches the data, and this thread never
            // has two guards of one shard alive (outside a hold that would
            // deadlock on the mutex).
            return ShardGuard::Held(unsafe { &mut *self.shards[i].data_ptr() });
        }
        debug_assert!(
            owner != self as *const Keyspace as usize,
            "shard {i} is locked inside a hold that does not cover it"
        );
        ShardGuard::Locked(lock_patiently(&self.shards[i]))
    }

    /// Does this thread hold shards of this keyspace (inside EXEC or a
    /// script)?
    pub fn holding(&self) -> bool {
        HELD.with(Cell::get).0 == self as *const Keyspace as usize
    }

    /// Locks the shards of `keys` (every shard when `all`) until the
    /// returned hold drops; meanwhile this thread's own lock requests for
    /// them succeed at once (EXEC runs its commands under one hold).
    pub fn hold<'k, I>(&self, keys: I, all: bool) -> Hold<'_>
    where
        I: IntoIterator<Item = &'k [u8]>,
    {
        let mut ids: SmallVec<[usize; 8]> = if all {
            (0..SHARDS).collect()
        } else {
            keys.into_iter().map(|k| key_pos(k).shard).collect()
        };
        ids.sort_unstable();
        ids.dedup();
        let mut bits = [0u64; SHARDS / 64];
        for guard in self.lock_ordered(&ids) {
            std::mem::forget(guard);
        }
        for &i in &ids {
            bits[i / 64] |= 1 << (i % 64);
        }
        HELD.with(|h| h.set((self as *const Keyspace as usize, bits)));
        Hold { ks: self }
    }

    /// Locks the shards `ids` (sorted, unique) in order. Ordered locking
    /// cannot deadlock with itself, but a hold widening out of order
    /// ([`Keyspace::escalate`]) can: while one is under way, a thread kept
    /// waiting for its second or later shard gives back what it took, lets
    /// the escalation finish and starts over.
    fn lock_ordered(&self, ids: &[usize]) -> SmallVec<[MutexGuard<'_, Shard>; 8]> {
        const POLL: std::time::Duration = std::time::Duration::from_micros(500);
        'attempt: loop {
            let mut guards: SmallVec<[MutexGuard<'_, Shard>; 8]> = SmallVec::new();
            for &i in ids {
                let guard = if guards.is_empty() {
                    lock_patiently(&self.shards[i])
                } else {
                    let mut polls = 0u32;
                    loop {
                        if let Some(g) = self.shards[i].try_lock_for(POLL) {
                            break g;
                        }
                        polls += 1;
                        if polls.is_multiple_of(20) {
                            long_wait();
                        }
                        if self.escalating.load(Ordering::Acquire) > 0 {
                            drop(guards);
                            while self.escalating.load(Ordering::Acquire) > 0 {
                                std::thread::yield_now();
                            }
                            continue 'attempt;
                        }
                    }
                };
                guards.push(guard);
            }
            return guards;
        }
    }

    /// Does this thread's hold cover the shard of `key`?
    pub fn holds_key(&self, key: &[u8]) -> bool {
        let (owner, bits) = HELD.with(Cell::get);
        let i = key_pos(key).shard;
        owner == self as *const Keyspace as usize && bits[i / 64] & (1 << (i % 64)) != 0
    }

    /// Does this thread's hold cover every shard?
    pub fn holds_every_shard(&self) -> bool {
        let (owner, bits) = HELD.with(Cell::get);
        owner == self as *const Keyspace as usize && bits.iter().all(|&w| w == u64::MAX)
    }

    /// Widens this thread's hold to every shard, out of lock order: each
    /// missing shard is only tried until `deadline` (blocking could deadlock
    /// with a thread that holds it and waits for one of ours). On failure
    /// the hold is left as it was and `false` is returned.
    pub fn escalate(&self, deadline: std::time::Instant) -> bool {
        let (owner, bits) = HELD.with(Cell::get);
        if owner != self as *const Keyspace as usize {
            return false;
        }
        self.escalating.fetch_add(1, Ordering::AcqRel);
        let mut taken: SmallVec<[MutexGuard<'_, Shard>; 64]> = SmallVec::new();
        for i in (0..SHARDS).filter(|&i| bits[i / 64] & (1 << (i % 64)) == 0) {
            match self.shards[i].try_lock_until(deadline) {
                Some(guard) => taken.push(guard),
                None => break,
            }
        }
        let complete = taken.len() == SHARDS - held_ids(&bits).count();
        if complete {
            taken.into_iter().for_each(std::mem::forget);
            HELD.with(|h| h.set((owner, [u64::MAX; SHARDS / 64])));
        } else {
            drop(taken);
        }
        self.escalating.fetch_sub(1, Ordering::AcqRel);
        complete
    }

    /// (tracked keys, tracked key/client pairs) of CLIENT TRACKING.
    pub fn tracking_counts(&self) -> (usize, usize) {
        (
            self.tracked_keys.load(Ordering::Relaxed),
            self.tracked_items.load(Ordering::Relaxed),
        )
    }

    /// Reports every write to the invalidation hook (while BCAST tracking
    /// clients exist), not only writes to tracked keys.
    pub fn set_report_all_writes(&self, on: bool) {
        self.report_all_writes.store(on, Ordering::Relaxed);
    }

    /// Invalidates tracked keys until at most `max` remain
    /// (`tracking-table-max-keys`), as if they had changed.
    pub fn trim_tracked(&self, max: usize) {
        // One trim at a time: two would each evict the same excess (the cron
        // and a command can both trim).
        let Some(_one) = self.trimming.try_lock() else {
            return;
        };
        while self.tracked_keys.load(Ordering::Relaxed) > max {
            let excess = self
                .tracked_keys
                .load(Ordering::Relaxed)
                .saturating_sub(max);
            let mut idle = 0;
            while idle < SHARDS {
                let i = self.trim_cursor.fetch_add(1, Ordering::Relaxed) % SHARDS;
                let taken = self.shard(i).tracked.take_some(excess);
                if !taken.is_empty() {
                    for (key, ids) in &taken {
                        self.tracked_keys.fetch_sub(1, Ordering::Relaxed);
                        self.tracked_items.fetch_sub(ids.len(), Ordering::Relaxed);
                        if let Some(hook) = INVALIDATION_HOOK.get() {
                            hook(key, ids);
                        }
                    }
                    break;
                }
                idle += 1;
            }
            if idle == SHARDS {
                return;
            }
        }
    }

    /// Number of keys in a database.
    pub fn dbsize(&self, db: usize) -> usize {
        (0..SHARDS).map(|i| self.shard(i).dbs[db].keys).sum()
    }

    /// (keys, keys with a TTL) for every database.
    pub fn db_counts(&self) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.databases];
        for si in 0..SHARDS {
            let s = self.shard(si);
            for (i, d) in s.dbs.iter().enumerate() {
                out[i].0 += d.keys;
                out[i].1 += d.volatile;
            }
        }
        out
    }

    /// Removes every key of one database (all when `db` is None). The tables
    /// are returned so the caller may drop them elsewhere (FLUSHALL ASYNC).
    pub fn flush(&self, db: Option<usize>) -> Vec<Vec<Table>> {
        let mut freed = Vec::new();
        let mut all = self.lock_all(0);
        for (i, g) in all.guards.iter_mut() {
            let shard = &mut **g;
            // A running snapshot takes the shard as it is before it empties.
            self.snapshot.walk(*i, shard);
            // Like Redis: a flush invalidates every tracking client at once
            // (the engine tells them) and forgets the tracked keys.
            let (keys, items) = shard.tracked.clear();
            self.tracked_keys.fetch_sub(keys, Ordering::Relaxed);
            self.tracked_items.fetch_sub(items, Ordering::Relaxed);
            for (i, d) in shard.dbs.iter_mut().enumerate() {
                if db.is_none_or(|x| x == i) {
                    for key in shard.watches.keys_of(i) {
                        let stored = d.state(&key, 0) != KeyState::Absent;
                        shard.watches.touch_db(i, &key, stored, None);
                    }
                    freed.push(d.clear());
                }
            }
        }
        if self.ready.any() {
            // Clients blocked on flushed keys run again and see them gone
            // (a blocked XREADGROUP answers that its stream no longer exists).
            for i in 0..self.databases() {
                if db.is_none_or(|x| x == i) {
                    self.ready.signal_db(i);
                }
            }
        }
        freed
    }

    /// Swaps two databases atomically.
    pub fn swap_db(&self, a: usize, b: usize) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut all = self.lock_all(now);
        for (i, g) in all.guards.iter_mut() {
            let shard = &mut **g;
            self.snapshot.walk(*i, shard);
            if !shard.watches.is_empty() {
                for (emptied, replacing) in [(a, b), (b, a)] {
                    for key in shard.watches.keys_of(emptied) {
                        let stored = shard.dbs[emptied].state(&key, now) != KeyState::Absent;
                        let repl = shard.dbs[replacing].state(&key, now);
                        shard.watches.touch_db(emptied, &key, stored, Some(repl));
                    }
                }
            }
            shard.dbs.swap(a, b);
        }
        if self.ready.any() {
            // Still under every lock, like a write's signal.
            self.ready.signal_db(a);
            self.ready.signal_db(b);
        }
    }

    /// One SCAN step over database `db` from `cursor` (a slot number; 0 starts).
    /// Visits whole slots until at least `count` keys were gathered; every key
    /// present for the whole iteration is returned, however the tables grow.
    /// Returns the next cursor (0 when done).
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        now_ms: u64,
        mut visit: impl FnMut(&[u8], &Entry) -> bool,
    ) -> (u64, Vec<Vec<u8>>) {
        let mut out = Vec::new();
        if cursor >= SLOTS as u64 {
            return (0, out);
        }
        let mut slot = cursor as usize;
        while slot < SLOTS {
            let shard_idx = slot / SLOTS_PER_SHARD;
            let shard = self.shard(shard_idx);
            let sdb = &shard.dbs[db];
            if sdb.keys == 0 {
                slot = (shard_idx + 1) * SLOTS_PER_SHARD;
            } else {
                while slot < (shard_idx + 1) * SLOTS_PER_SHARD {
                    if let Some(t) = sdb.table(slot % SLOTS_PER_SHARD) {
                        for e in t.iter() {
                            if !e.is_expired(now_ms) && visit(e.key(), e) {
                                out.push(e.key().to_vec());
                            }
                        }
                    }
                    slot += 1;
                    if out.len() >= count {
                        break;
                    }
                }
            }
            if out.len() >= count {
                break;
            }
        }
        let next = if slot >= SLOTS { 0 } else { slot as u64 };
        (next, out)
    }

    /// All live keys of `db` that `keep` accepts (KEYS), gathered shard by shard.
    pub fn collect_keys(
        &self,
        db: usize,
        now_ms: u64,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for si in 0..SHARDS {
            let s = self.shard(si);
            for t in &s.dbs[db].slots {
                for e in t.iter() {
                    if !e.is_expired(now_ms) && keep(e.key()) {
                        out.push(e.key().to_vec());
                    }
                }
            }
        }
        out
    }

    /// A random live key of `db`, or None when it is empty.
    pub fn random_key(&self, db: usize, now_ms: u64) -> Option<Vec<u8>> {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        // Pick shards weighted by their key counts (a snapshot), then a random
        // slot and entry. Retry a few times if expired keys are hit.
        for _ in 0..100 {
            let counts: Vec<usize> = (0..SHARDS).map(|i| self.shard(i).dbs[db].keys).collect();
            let total: usize = counts.iter().sum();
            if total == 0 {
                return None;
            }
            let mut pick = rng.gen_range(0..total);
            let mut shard_idx = 0;
            for (i, c) in counts.iter().enumerate() {
                if pick < *c {
                    shard_idx = i;
                    break;
                }
                pick -= c;
            }
            let shard = self.shard(shard_idx);
            let sdb = &shard.dbs[db];
            if sdb.keys == 0 {
                continue;
            }
            let mut n = rng.gen_range(0..sdb.keys);
            for t in &sdb.slots {
                if n < t.len() {
                    if let Some(e) = t.iter().nth(n) {
                        if !e.is_expired(now_ms) {
                            return Some(e.key().to_vec());
                        }
                    }
                    break;
                }
                n -= t.len();
            }
        }
        None
    }

    /// Shows `visit` up to `count` keys of `db` for eviction (only keys
    /// with a TTL when `volatile`): a run of entries from a random position,
    /// as Redis's dictGetSomeKeys takes a run of buckets, continuing into
    /// the following shards while the run is short. Each shard is locked
    /// only while it is read (and `visit` runs under that lock).
    pub fn sample_keys(
        &self,
        db: usize,
        volatile: bool,
        count: usize,
        mut visit: impl FnMut(&Entry),
    ) {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let first_shard = rng.gen_range(0..SHARDS);
        let mut taken = 0;
        for step in 0..SHARDS {
            let guard = self.shard((first_shard + step) % SHARDS);
            let sdb = &guard.dbs[db];
            if (if volatile { sdb.volatile } else { sdb.keys }) == 0 {
                continue;
            }
            let first_slot = rng.gen_range(0..SLOTS_PER_SHARD);
            for i in 0..SLOTS_PER_SHARD {
                let t = &sdb.slots[(first_slot + i) % SLOTS_PER_SHARD];
                if t.is_empty() {
                    continue;
                }
                // Start the run anywhere in the first table, so that every
                // key can be offered.
                let skip = if taken == 0 {
                    rng.gen_range(0..t.len())
                } else {
                    0
                };
                for e in t.iter().skip(skip).chain(t.iter().take(skip)) {
                    if volatile && e.expire_at == 0 {
                        continue;
                    }
                    visit(e);
                    taken += 1;
                    if taken == count {
                        return;
                    }
                }
            }
        }
    }

    /// One active-expiry step: visits slots holding keys with a TTL, shard by
    /// shard, removing expired keys, until `budget` has been spent or every
    /// volatile slot was seen once. Returns how many keys it removed.
    pub fn active_expire(&self, now_ms: u64, budget: std::time::Duration) -> usize {
        let start = std::time::Instant::now();
        let mut removed = 0;
        for si in 0..SHARDS {
            if si % 16 == 0 && start.elapsed() > budget {
                break;
            }
            let mut guard = self.shard(si);
            let shard = &mut *guard;
            for (db, sdb) in shard.dbs.iter_mut().enumerate() {
                if sdb.volatile == 0 {
                    continue;
                }
                let watched = !shard.watches.is_empty()
                    || !shard.tracked.is_empty()
                    || self.report_all_writes.load(Ordering::Relaxed);
                let mut expired_keys: Vec<Box<[u8]>> = Vec::new();
                for _ in 0..SLOTS_PER_SHARD {
                    let local = sdb.expire_cursor;
                    sdb.expire_cursor = (sdb.expire_cursor + 1) % SLOTS_PER_SHARD;
                    let gone = sdb.slots[local].extract(|e| e.is_expired(now_ms));
                    let n = gone.len();
                    sdb.keys -= n;
                    // An expired key always had a TTL.
                    sdb.volatile -= n;
                    removed += n;
                    for e in gone {
                        self.expired(db, e.key());
                        if watched {
                            expired_keys.push(e.key().into());
                        }
                        dispose_entry(*e, Disposal::Expired);
                    }
                    if sdb.volatile == 0 {
                        break;
                    }
                }
                for key in expired_keys {
                    shard.watches.touch(db, &key, false);
                    invalidate(self, &mut shard.tracked, &key);
                }
            }
        }
        self.stats.expired_keys.add(removed as u64);
        removed
    }
}

/// Shard locks held by one command. All key access goes through it.
pub struct Locked<'a> {
    guards: SmallVec<[(usize, ShardGuard<'a>); 2]>,
    now_ms: u64,
    ks: &'a Keyspace,
    /// Update the access time of keys read (CLIENT NO-TOUCH turns it off).
    pub touch: bool,
    /// Keys written while clients are blocked: their waiters are woken when
    /// the locks are released.
    written: SmallVec<[(usize, Box<[u8]>); 2]>,
    last_pos: Option<LastPos>,
}

/// Keys up to this long have their position remembered by [`Locked`].
const LAST_POS_KEY: usize = 32;

/// The last key a [`Locked`] placed, and where it lives.
struct LastPos {
    key: [u8; LAST_POS_KEY],
    len: u8,
    pos: KeyPos,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Still under the shard locks: a waiter registering under them
        // either saw the write or is queued before we signal.
        for (db, key) in &self.written {
            self.ks.ready.signal(*db, key);
        }
    }
}

impl<'a> Locked<'a> {
    /// The command's clock (ms since the epoch), fixed for its whole execution.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Where `key` lives; the commands' calls repeat their key, so the
    /// last answer is kept (the slot's CRC16 is computed once).
    fn pos(&mut self, key: &[u8]) -> KeyPos {
        if let Some(c) = &self.last_pos {
            if usize::from(c.len) == key.len() && c.key[..key.len()] == *key {
                return c.pos;
            }
        }
        let pos = key_pos(key);
        self.remember_pos(key, pos);
        pos
    }

    fn remember_pos(&mut self, key: &[u8], pos: KeyPos) {
        if key.len() <= LAST_POS_KEY {
            let mut copy = [0u8; LAST_POS_KEY];
            copy[..key.len()].copy_from_slice(key);
            self.last_pos = Some(LastPos {
                key: copy,
                len: key.len() as u8,
                pos,
            });
        }
    }

    fn shard_mut(&mut self, shard: usize) -> &mut Shard {
        let i = if self.guards.len() == SHARDS {
            shard
        } else {
            self.guards
                .iter()
                .position(|(id, _)| *id == shard)
                .expect("key's shard is locked: keys must be declared to Keyspace::lock")
        };
        &mut self.guards[i].1
    }

    fn shard_db(&mut self, db: usize, shard: usize) -> &mut ShardDb {
        &mut self.shard_mut(shard).dbs[db]
    }

    /// `key` was just modified: marks the clients watching it dirty and
    /// invalidates it for tracking clients.
    #[inline]
    fn touch_watched(&mut self, db: usize, key: &[u8], pos: KeyPos) {
        let ks = self.ks;
        let shard = self.shard_mut(pos.shard);
        if !shard.watches.is_empty() {
            let stored = shard.dbs[db].state(key, 0) != KeyState::Absent;
            shard.watches.touch(db, key, stored);
        }
        invalidate(ks, &mut shard.tracked, key);
    }

    /// Finds a live key with one probe, reclaiming it if it has expired.
    fn find(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let pos = self.pos(key);
        self.find_at(db, key, pos)
    }

    fn find_at(&mut self, db: usize, key: &[u8], pos: KeyPos) -> Option<&mut Entry> {
        let now = self.now_ms;
        let ks = self.ks;
        let shard = self.shard_mut(pos.shard);
        let sdb = &mut shard.dbs[db];
        let t = sdb.slots.get_mut(pos.local)?;
        // The pause flag is read only for an expired key, off the hot path.
        match t.find_live(key, |e| e.is_expired(now) && !expiry_paused(now))? {
            // Expired during CLIENT PAUSE: missing, but kept.
            Ok(e) if e.is_expired(now) => None,
            Ok(e) => Some(e),
            Err(gone) => {
                sdb.keys -= 1;
                sdb.volatile -= (gone.expire_at != 0) as usize;
                dispose_entry(*gone, Disposal::Expired);
                ks.stats.expired_keys.incr();
                ks.expired(db, key);
                if !shard.watches.is_empty() {
                    shard.watches.touch(db, key, false);
                }
                invalidate(ks, &mut shard.tracked, key);
                None
            }
        }
    }

    /// Reads a key (lazily expiring it). Counts hits/misses like Redis's lookupKeyRead.
    pub fn get(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let stats = &self.ks.stats;
        let found = self.get_entry(db, key);
        match found {
            Some(e) => {
                stats.keyspace_hits.incr();
                Some(e)
            }
            None => {
                stats.keyspace_misses.incr();
                None
            }
        }
    }

    /// Looks a key up for writing (lazily expiring it); no hit/miss counting.
    /// Clients blocked on the key are woken afterwards, and clients watching
    /// it see it as modified.
    pub fn get_mut(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        self.get_mut_if(db, key, |_| true)?.ok()
    }

    /// Like [`Self::get_mut`], but only if `accept` approves the entry (a
    /// type check): a rejected key is handed back as `Err(())` and counts as
    /// unchanged, so a WRONGTYPE error does not disturb watchers.
    pub fn get_mut_if(
        &mut self,
        db: usize,
        key: &[u8],
        accept: impl FnOnce(&mut Entry) -> bool,
    ) -> Option<Result<&mut Entry, ()>> {
        let pos = self.pos(key);
        self.before_write(db, key, pos);
        // Blocked clients and watchers need to hear about the write; the
        // common case (neither) costs one probe.
        let noted = self.ks.ready.any() || self.ks.report_all_writes.load(Ordering::Relaxed) || {
            let shard = self.shard_mut(pos.shard);
            !shard.watches.is_empty() || !shard.tracked.is_empty()
        };
        let mut accept = Some(accept);
        if noted {
            let e = self.find_at(db, key, pos)?;
            if !accept.take().is_some_and(|f| f(e)) {
                return Some(Err(()));
            }
            self.note_write(db, key, pos);
        }
        let touch = self.touch;
        let counted = noted;
        let ks = self.ks;
        let e = self.find_at(db, key, pos)?;
        if let Some(f) = accept {
            if !f(e) {
                return Some(Err(()));
            }
        }
        if !counted {
            // Taken for writing: counted as a change (a handler that then
            // fails changes nothing, and its error keeps it from being
            // propagated).
            ks.add_dirty(1);
        }
        if touch {
            e.touch();
        }
        Some(Ok(e))
    }

    /// Looks a key up for a command's own bookkeeping: no hit/miss counting
    /// and no write noted (OBJECT, MEMORY USAGE, a second pass over a key
    /// already read, changes Redis does not signal: consumer groups, bits
    /// and HyperLogLog registers before they are known to change).
    pub fn peek(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        // The entry may be changed through the reference: a running
        // snapshot takes it first (unchanged until now, so still as it
        // was when the snapshot began).
        let pos = self.pos(key);
        self.before_write(db, key, pos);
        self.get_entry(db, key)
    }

    /// Counts a change (Redis's `dirty`; see [`thread_dirty`]) that the
    /// per-key writes do not see (bookkeeping inside a value).
    #[inline]
    pub fn count_change(&self) {
        self.ks.add_dirty(1);
    }

    /// A running snapshot captures `key` before this write changes it (see
    /// [`snapshot`]): one atomic load when none runs.
    #[inline]
    fn before_write(&mut self, db: usize, key: &[u8], pos: KeyPos) {
        if self.ks.snapshot.is_pending(pos.shard, pos.local) {
            let ks = self.ks;
            let shard = self.shard_mut(pos.shard);
            ks.snapshot.before_write(pos.shard, shard, db, key);
        }
    }

    /// Records a write to `key`: for blocked clients (only while any exist)
    /// and for watchers.
    fn note_write(&mut self, db: usize, key: &[u8], pos: KeyPos) {
        self.count_change();
        if self.ks.ready.any() && !self.written.iter().any(|(d, k)| *d == db && **k == *key) {
            self.written.push((db, key.into()));
        }
        self.touch_watched(db, key, pos);
    }

    fn get_entry(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let touch = self.touch;
        let e = self.find(db, key)?;
        if touch {
            e.touch();
        }
        Some(e)
    }

    /// Does a live key exist (no access-time update, no stats)?
    pub fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        self.find(db, key).is_some()
    }

    /// Stores a value, replacing any previous one; `expire_at_ms` 0 = no TTL.
    pub fn set(&mut self, db: usize, key: &[u8], value: Value, expire_at_ms: u64) {
        self.store(db, key, value, expire_at_ms);
    }

    /// [`Self::set`], telling whether a live key was replaced (one probe
    /// where `exists` then `set` take two).
    pub fn store(&mut self, db: usize, key: &[u8], value: Value, expire_at_ms: u64) -> bool {
        let now = self.now_ms;
        let pos = self.pos(key);
        self.before_write(db, key, pos);
        let sdb = self.shard_db(db, pos.shard);
        let old = sdb
            .table_mut(pos.local)
            .insert(Entry::new(key, value, expire_at_ms));
        let mut replaced_stale = false;
        let replaced_live = old.as_ref().is_some_and(|o| !o.is_expired(now));
        match old {
            Some(o) => {
                sdb.volatile -= (o.expire_at != 0) as usize;
                replaced_stale = o.is_expired(now);
                let why = if replaced_stale {
                    Disposal::Expired
                } else {
                    Disposal::Overwritten
                };
                dispose_entry(*o, why);
            }
            None => {
                sdb.keys += 1;
                key_event(KeyEvent::New, db, key);
            }
        }
        sdb.volatile += (expire_at_ms != 0) as usize;
        if replaced_stale {
            // Like Redis: the expired key is deleted first, then the new one added.
            self.ks.stats.expired_keys.incr();
            self.ks.expired(db, key);
            key_event(KeyEvent::New, db, key);
            let shard = self.shard_mut(pos.shard);
            if !shard.watches.is_empty() {
                shard.watches.touch(db, key, false);
            }
        }
        self.note_write(db, key, pos);
        replaced_live
    }

    /// Stores a value keeping the key's current TTL (if it exists and is live).
    pub fn set_keep_ttl(&mut self, db: usize, key: &[u8], value: Value) {
        match self.get_mut(db, key) {
            Some(e) => {
                let old = std::mem::replace(&mut e.value, value);
                e.touch();
                dispose(key, old, Disposal::Overwritten);
            }
            None => self.set(db, key, value, 0),
        }
    }

    /// Removes a key, returning its entry if it was live.
    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Box<Entry>> {
        let now = self.now_ms;
        let pos = self.pos(key);
        self.before_write(db, key, pos);
        let sdb = self.shard_db(db, pos.shard);
        let e = sdb.slots.get_mut(pos.local)?.remove(key)?;
        sdb.keys -= 1;
        sdb.volatile -= (e.expire_at != 0) as usize;
        self.touch_watched(db, key, pos);
        // Clients blocked on the key run again (XREADGROUP must learn
        // that its stream is gone).
        self.note_write(db, key, pos);
        if e.is_expired(now) {
            self.ks.stats.expired_keys.incr();
            self.ks.expired(db, key);
            dispose_entry(*e, Disposal::Expired);
            return None;
        }
        Some(e)
    }

    /// Sets (or with 0 clears) the TTL of a live key. Returns false if absent.
    pub fn set_expire(&mut self, db: usize, key: &[u8], expire_at_ms: u64) -> bool {
        let pos = self.pos(key);
        self.before_write(db, key, pos);
        let Some(e) = self.find(db, key) else {
            return false;
        };
        let was = e.expire_at != 0;
        e.expire_at = expire_at_ms;
        self.count_change();
        let now = expire_at_ms != 0;
        let pos = self.pos(key);
        let sdb = self.shard_db(db, pos.shard);
        sdb.volatile = sdb.volatile + now as usize - was as usize;
        self.touch_watched(db, key, pos);
        true
    }

    /// CLIENT TRACKING: `client_id` read `key` and may cache it.
    pub fn track(&mut self, key: &[u8], client_id: u64) {
        let ks = self.ks;
        let pos = self.pos(key);
        let (new_key, new_item) = self.shard_mut(pos.shard).tracked.add(key, client_id);
        ks.tracked_keys
            .fetch_add(new_key as usize, Ordering::Relaxed);
        ks.tracked_items
            .fetch_add(new_item as usize, Ordering::Relaxed);
    }

    /// WATCH: `client_id` watches `key`; `dirty` is set when it changes.
    pub fn watch(&mut self, db: usize, key: &[u8], client_id: u64, dirty: &Arc<AtomicBool>) {
        let now = self.now_ms;
        let pos = self.pos(key);
        let shard = self.shard_mut(pos.shard);
        let expired = shard.dbs[db].state(key, now) == KeyState::Expired;
        shard.watches.add(db, key, client_id, dirty, expired);
    }

    /// Stops `client_id` watching `key`.
    pub fn unwatch(&mut self, db: usize, key: &[u8], client_id: u64) {
        let pos = self.pos(key);
        self.shard_mut(pos.shard).watches.remove(db, key, client_id);
    }

    /// Has a key `client_id` watches expired since WATCH (EXEC then fails,
    /// as in Redis's `isWatchedKeyExpired`)?
    pub fn watched_key_expired(&mut self, db: usize, key: &[u8], client_id: u64) -> bool {
        let now = self.now_ms;
        let pos = self.pos(key);
        let shard = self.shard_mut(pos.shard);
        !shard.watches.watched_expired(db, key, client_id)
            && shard.dbs[db].state(key, now) == KeyState::Expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(StrValue::from_bytes(v.as_bytes()))
    }

    /// One lock over keys of the same length in different slots, used in
    /// turn: each call finds its own key's table, not the last key's.
    #[test]
    fn keys_used_in_turn_under_one_lock_stay_apart() {
        let ks = Keyspace::new(1);
        let long = [b'x'; 40];
        let keys: [&[u8]; 4] = [b"a{1}", b"a{2}", &long, b"a{3}"];
        assert!(keys.windows(2).all(|w| key_slot(w[0]) != key_slot(w[1])));
        let mut l = ks.lock(keys, 0);
        for (i, k) in keys.iter().enumerate() {
            l.set(0, k, s(&i.to_string()), 0);
        }
        for (i, k) in keys.iter().enumerate().rev() {
            let Some(Value::Str(v)) = l.get(0, k).map(|e| e.value.clone()) else {
                panic!("{k:?} missing");
            };
            assert_eq!(v.to_vec(), i.to_string().as_bytes());
        }
        drop(l);
        for k in keys {
            let slot = key_slot(k) as usize;
            let pos = key_pos(k);
            let shard = ks.shard(pos.shard);
            assert!(
                shard.dbs[0]
                    .table(pos.local)
                    .is_some_and(|t| t.get(k).is_some()),
                "slot {slot}"
            );
        }
    }

    /// A captured string key: (db, key, value).
    type Captured = (usize, Vec<u8>, Vec<u8>);

    /// Records what a snapshot captures.
    #[derive(Default)]
    struct Record {
        seen: parking_lot::Mutex<Vec<Captured>>,
        walked: AtomicUsize,
    }

    impl snapshot::ShardCapture for Record {
        fn capture_slot(&self, _shard: usize, local: usize, data: &Shard) {
            for db in 0..data.databases() {
                for e in data.snapshot_entries(db, local) {
                    self.capture_entry(0, db, e);
                }
            }
            self.walked.fetch_add(1, Ordering::Relaxed);
        }
        fn capture_entry(&self, _shard: usize, db: usize, e: &Entry) {
            let Value::Str(v) = &e.value else { return };
            self.seen.lock().push((db, e.key().to_vec(), v.to_vec()));
        }
        fn before_next(&self) {
            // A slow walk (a pause per shard), so the writes below land
            // before it reaches most slots.
            if self
                .walked
                .load(Ordering::Relaxed)
                .is_multiple_of(SLOTS_PER_SHARD)
            {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    }

    #[test]
    fn snapshot_is_the_state_at_its_start_while_writes_go_on() {
        let ks = Arc::new(Keyspace::new(2));
        let mut want = Vec::new();
        for i in 0..2000 {
            let (db, key, val) = (i % 2, format!("k{i}"), format!("v{i}"));
            ks.lock([key.as_bytes()], 0)
                .set(db, key.as_bytes(), s(&val), 0);
            want.push((db, key.into_bytes(), val.into_bytes()));
        }
        let record = Arc::new(Record::default());
        let (ks2, rec2) = (ks.clone(), record.clone());
        assert!(ks.begin_snapshot(rec2, || ()));
        let walker = std::thread::spawn(move || ks2.walk_snapshot(1));
        assert!(
            !ks.begin_snapshot(Arc::new(Record::default()), || ()),
            "one at a time"
        );
        // Overwrite, delete, create and expire keys while the walk runs;
        // MSET-like pairs across shards move together.
        for round in 0..5 {
            for i in (0..2000).step_by(7) {
                let (db, key, new) = (i % 2, format!("k{i}"), format!("new{i}-{round}"));
                let mut l = ks.lock([key.as_bytes(), new.as_bytes()], 0);
                match (i + round) % 4 {
                    0 => l.set(db, key.as_bytes(), s("changed"), 0),
                    1 => drop(l.remove(db, key.as_bytes())),
                    2 => drop(l.set_expire(db, key.as_bytes(), 5)),
                    _ => {
                        l.set(db, new.as_bytes(), s("n"), 0);
                        l.set(db, key.as_bytes(), s("with new"), 0);
                    }
                }
            }
        }
        walker.join().unwrap();
        assert_eq!(record.walked.load(Ordering::Relaxed), SLOTS);
        let mut got = record.seen.lock().clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        // Walked by several threads, every key is captured once.
        let record = Arc::new(Record::default());
        assert!(ks.begin_snapshot(record.clone(), || ()));
        ks.walk_snapshot(3);
        assert_eq!(record.walked.load(Ordering::Relaxed), SLOTS);
        let seen = record.seen.lock();
        let distinct: std::collections::HashSet<_> = seen.iter().map(|(d, k, _)| (d, k)).collect();
        assert_eq!(distinct.len(), seen.len());
        assert_eq!(seen.len(), ks.dbsize(0) + ks.dbsize(1));
    }

    #[test]
    fn set_get_remove_counts() {
        let ks = Keyspace::new(2);
        {
            let mut l = ks.lock([&b"a"[..], b"b"], 1000);
            l.set(0, b"a", s("1"), 0);
            l.set(0, b"b", s("2"), 5000);
            l.set(1, b"a", s("3"), 0);
            assert!(l.get(0, b"a").is_some());
        }
        assert_eq!(ks.dbsize(0), 2);
        assert_eq!(ks.db_counts(), vec![(2, 1), (1, 0)]);
        {
            let mut l = ks.lock([&b"b"[..]], 6000);
            assert!(l.get(0, b"b").is_none(), "expired lazily");
        }
        assert_eq!(ks.db_counts(), vec![(1, 0), (1, 0)]);
        ks.swap_db(0, 1);
        let mut l = ks.lock([&b"a"[..]], 6000);
        assert!(matches!(&l.get(0, b"a").unwrap().value, Value::Str(v) if v.to_vec() == b"3"));
    }

    #[test]
    fn scan_sees_all_keys_while_growing() {
        let ks = Keyspace::new(1);
        for i in 0..1000 {
            let k = format!("key:{i}");
            ks.lock([k.as_bytes()], 0).set(0, k.as_bytes(), s("v"), 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut extra = 0;
        loop {
            let (next, keys) = ks.scan(0, cursor, 10, 0, |_, _| true);
            seen.extend(keys);
            // Grow the table during the iteration.
            for _ in 0..50 {
                let k = format!("new:{extra}");
                extra += 1;
                ks.lock([k.as_bytes()], 0).set(0, k.as_bytes(), s("v"), 0);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("key:{i}").as_bytes()));
        }
    }

    #[test]
    fn escalate_widens_a_hold_or_leaves_it_unchanged() {
        let ks = std::sync::Arc::new(Keyspace::new(1));
        let hold = ks.hold([&b"a"[..]], false);
        assert!(ks.holds_key(b"a") && !ks.holds_key(b"b") && !ks.holds_every_shard());
        // Another thread keeps b's shard locked: escalation gives up.
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let ks2 = ks.clone();
        let t = std::thread::spawn(move || {
            let _l = ks2.lock([&b"b"[..]], 0);
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        locked_rx.recv().unwrap();
        let soon = std::time::Instant::now() + std::time::Duration::from_millis(20);
        assert!(!ks.escalate(soon));
        assert!(ks.holds_key(b"a") && !ks.holds_key(b"b"));
        release_tx.send(()).unwrap();
        t.join().unwrap();
        let later = std::time::Instant::now() + std::time::Duration::from_secs(5);
        assert!(ks.escalate(later));
        assert!(ks.holds_every_shard());
        ks.lock([&b"b"[..]], 0).set(0, b"b", s("1"), 0);
        drop(hold);
        assert!(!ks.holding());
        // Every shard was released: another thread locks them all.
        let ks3 = ks.clone();
        std::thread::spawn(move || ks3.lock_all(0).get(0, b"b").is_some())
            .join()
            .map(|found| assert!(found))
            .unwrap();
    }

    #[test]
    fn ordered_lockers_give_way_to_an_escalation() {
        // b's shard sorts before a's: the other thread takes b's and waits
        // for a's, which the hold has; widening the hold needs b's.
        assert!(key_shard(b"b") < key_shard(b"a"));
        let ks = std::sync::Arc::new(Keyspace::new(1));
        let hold = ks.hold([&b"a"[..]], false);
        let ks2 = ks.clone();
        let t = std::thread::spawn(move || {
            ks2.lock([&b"a"[..], b"b"], 0).set(0, b"b", s("2"), 0);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        assert!(ks.escalate(deadline));
        ks.lock([&b"b"[..]], 0).set(0, b"b", s("1"), 0);
        drop(hold);
        t.join().unwrap();
        // The other thread wrote after the escalated hold was released.
        let mut l = ks.lock([&b"b"[..]], 0);
        assert!(matches!(&l.get(0, b"b").unwrap().value, Value::Str(v) if v.to_vec() == b"2"));
    }

    #[test]
    fn hold_grants_its_shards_to_its_thread_only() {
        let ks = std::sync::Arc::new(Keyspace::new(1));
        let hold = ks.hold([&b"a"[..], b"b"], false);
        // Same thread: re-entry instead of a self-deadlock.
        ks.lock([&b"a"[..]], 0).set(0, b"a", s("1"), 0);
        ks.lock([&b"a"[..], b"b"], 0).set(0, b"b", s("2"), 0);
        // Another thread waits until the hold is released.
        let (tx, rx) = std::sync::mpsc::channel();
        let ks2 = ks.clone();
        let t = std::thread::spawn(move || {
            let mut l = ks2.lock([&b"a"[..]], 0);
            tx.send(l.get(0, b"a").is_some()).unwrap();
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(100))
            .is_err());
        drop(hold);
        assert!(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap());
        t.join().unwrap();
        // A hold of every shard covers keyspace-wide work on its thread.
        let all = ks.hold(std::iter::empty(), true);
        assert_eq!(ks.dbsize(0), 2);
        ks.flush(Some(0));
        drop(all);
        assert_eq!(ks.dbsize(0), 0);
    }

    #[test]
    fn watchers_are_touched_by_writes_expiry_and_flush() {
        let ks = Keyspace::new(1);
        let dirty = Arc::new(AtomicBool::new(false));
        let is_dirty = || dirty.swap(false, std::sync::atomic::Ordering::AcqRel);
        ks.lock([&b"k"[..]], 0).watch(0, b"k", 7, &dirty);
        ks.lock([&b"other"[..]], 0).set(0, b"other", s("x"), 0);
        assert!(!is_dirty(), "unrelated key");
        ks.lock([&b"k"[..]], 0).set(0, b"k", s("v"), 100);
        assert!(is_dirty(), "created");
        assert!(ks.lock([&b"k"[..]], 200).get(0, b"k").is_none());
        assert!(is_dirty(), "lazily expired");
        ks.lock([&b"k"[..]], 0).set(0, b"k", s("v"), 0);
        is_dirty();
        ks.flush(None);
        assert!(is_dirty(), "flushed while present");
        ks.flush(None);
        assert!(!is_dirty(), "flush of an absent key is no change");
        ks.lock([&b"k"[..]], 0).unwatch(0, b"k", 7);
        ks.lock([&b"k"[..]], 0).set(0, b"k", s("v"), 0);
        assert!(!is_dirty(), "unwatched");
    }

    #[test]
    fn active_expire_reclaims() {
        let ks = Keyspace::new(1);
        for i in 0..5000 {
            let k = format!("k{i}");
            ks.lock([k.as_bytes()], 0).set(0, k.as_bytes(), s("v"), 100);
        }
        ks.lock([&b"keep"[..]], 0).set(0, b"keep", s("v"), 0);
        let removed = ks.active_expire(200, std::time::Duration::from_secs(5));
        assert_eq!(removed, 5000);
        assert_eq!(ks.db_counts(), vec![(1, 0)]);
    }
}
