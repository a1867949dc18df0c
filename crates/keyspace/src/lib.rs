//! The keyspace: databases of keys organised by hash slot, grouped into lock
//! shards; expiry (lazy and active), SCAN cursors, random keys.
//!
//! Every database is split into the 16384 hash slots, even outside cluster
//! mode; each slot is its own small hash table. Slots are grouped into
//! [`SHARDS`] contiguous ranges, each behind one mutex that covers that range
//! in every database. The only way to hold more than one shard lock is
//! [`Keyspace::lock`] / [`Keyspace::lock_all`], which take them in ascending
//! order, so no two commands can deadlock.

mod bytes;
pub mod counter;
pub mod glob;
mod ready;
mod slot;
mod table;
mod value;

use counter::Counter;

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

pub use bytes::CompactBytes;
pub use ready::{Readiness, Waiter};
pub use slot::{crc16, key_slot, SLOTS};
pub use table::Table;
pub use value::{
    itoa_buf, lru_clock, parse_canonical_i64, set_lfu, set_lru_clock, Entry, StrValue, Value,
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

    fn table_mut(&mut self, local: usize) -> &mut Table {
        if self.slots.is_empty() {
            self.slots = (0..SLOTS_PER_SHARD).map(|_| Table::default()).collect();
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

    fn clear(&mut self) -> Vec<Table> {
        self.keys = 0;
        self.volatile = 0;
        self.expire_cursor = 0;
        std::mem::take(&mut self.slots)
    }
}

/// One lock shard: its slot range in every database.
pub struct Shard {
    dbs: Vec<ShardDb>,
}

impl Shard {
    pub fn db(&self, db: usize) -> &ShardDb {
        &self.dbs[db]
    }
}

/// Keyspace-wide counters.
#[derive(Default)]
pub struct KeyspaceStats {
    pub expired_keys: Counter,
    pub keyspace_hits: Counter,
    pub keyspace_misses: Counter,
    pub expire_cycle_cpu_us: Counter,
}

/// All databases.
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    databases: usize,
    pub stats: KeyspaceStats,
    /// Clients blocked on keys, woken when a command writes the key.
    pub ready: Readiness,
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

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    dbs: (0..databases).map(|_| ShardDb::default()).collect(),
                })
            })
            .collect();
        Keyspace {
            shards,
            databases,
            stats: KeyspaceStats::default(),
            ready: Readiness::default(),
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
        let mut ids: SmallVec<[usize; 8]> = keys.into_iter().map(|k| key_pos(k).shard).collect();
        ids.sort_unstable();
        ids.dedup();
        self.lock_shards(&ids, now_ms)
    }

    /// Locks the given shard ids, which must be sorted and unique.
    fn lock_shards(&self, ids: &[usize], now_ms: u64) -> Locked<'_> {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let guards = ids.iter().map(|&i| (i, self.shards[i].lock())).collect();
        Locked {
            guards,
            now_ms,
            ks: self,
            touch: true,
            written: SmallVec::new(),
        }
    }

    /// Locks every shard, in order (keyspace-wide atomic operations).
    pub fn lock_all(&self, now_ms: u64) -> Locked<'_> {
        let ids: Vec<usize> = (0..SHARDS).collect();
        self.lock_shards(&ids, now_ms)
    }

    /// Locks one shard by index (for keyspace-wide work done shard by shard).
    pub fn lock_shard(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock()
    }

    /// Number of keys in a database.
    pub fn dbsize(&self, db: usize) -> usize {
        self.shards.iter().map(|s| s.lock().dbs[db].keys).sum()
    }

    /// (keys, keys with a TTL) for every database.
    pub fn db_counts(&self) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.databases];
        for s in self.shards.iter() {
            let s = s.lock();
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
        for (_, g) in all.guards.iter_mut() {
            for (i, d) in g.dbs.iter_mut().enumerate() {
                if db.is_none_or(|x| x == i) {
                    freed.push(d.clear());
                }
            }
        }
        freed
    }

    /// Swaps two databases atomically.
    pub fn swap_db(&self, a: usize, b: usize) {
        let mut all = self.lock_all(0);
        for (_, g) in all.guards.iter_mut() {
            g.dbs.swap(a, b);
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
            let shard = self.shards[shard_idx].lock();
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
        for s in self.shards.iter() {
            let s = s.lock();
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
            let counts: Vec<usize> = self.shards.iter().map(|s| s.lock().dbs[db].keys).collect();
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
            let shard = self.shards[shard_idx].lock();
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

    /// One active-expiry step: visits slots holding keys with a TTL, shard by
    /// shard, removing expired keys, until `budget` has been spent or every
    /// volatile slot was seen once. Returns how many keys it removed.
    pub fn active_expire(&self, now_ms: u64, budget: std::time::Duration) -> usize {
        let start = std::time::Instant::now();
        let mut removed = 0;
        for (si, s) in self.shards.iter().enumerate() {
            if si % 16 == 0 && start.elapsed() > budget {
                break;
            }
            let mut shard = s.lock();
            for sdb in shard.dbs.iter_mut() {
                if sdb.volatile == 0 {
                    continue;
                }
                for _ in 0..SLOTS_PER_SHARD {
                    let local = sdb.expire_cursor;
                    sdb.expire_cursor = (sdb.expire_cursor + 1) % SLOTS_PER_SHARD;
                    let t = &mut sdb.slots[local];
                    let before = t.len();
                    let mut gone_volatile = 0;
                    t.retain(|e| {
                        let expired = e.is_expired(now_ms);
                        gone_volatile += expired as usize;
                        !expired
                    });
                    let n = before - t.len();
                    sdb.keys -= n;
                    sdb.volatile -= gone_volatile;
                    removed += n;
                    if sdb.volatile == 0 {
                        break;
                    }
                }
            }
        }
        self.stats.expired_keys.add(removed as u64);
        removed
    }
}

/// Shard locks held by one command. All key access goes through it.
pub struct Locked<'a> {
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    now_ms: u64,
    ks: &'a Keyspace,
    /// Update the access time of keys read (CLIENT NO-TOUCH turns it off).
    pub touch: bool,
    /// Keys written while clients are blocked: their waiters are woken when
    /// the locks are released.
    written: SmallVec<[(usize, Box<[u8]>); 2]>,
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

    fn shard_db(&mut self, db: usize, shard: usize) -> &mut ShardDb {
        let i = if self.guards.len() == SHARDS {
            shard
        } else {
            self.guards
                .iter()
                .position(|(id, _)| *id == shard)
                .expect("key's shard is locked: keys must be declared to Keyspace::lock")
        };
        &mut self.guards[i].1.dbs[db]
    }

    /// Finds a live key with one probe, reclaiming it if it has expired.
    fn find(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let now = self.now_ms;
        let ks = self.ks;
        let pos = key_pos(key);
        let sdb = self.shard_db(db, pos.shard);
        let t = sdb.slots.get_mut(pos.local)?;
        match t.find_live(key, |e| e.is_expired(now))? {
            Ok(e) => Some(e),
            Err(expired) => {
                sdb.keys -= 1;
                sdb.volatile -= (expired.expire_at != 0) as usize;
                ks.stats.expired_keys.incr();
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
    /// Clients blocked on the key are woken afterwards.
    pub fn get_mut(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        // Only an existing key can have been changed; a blocked client's
        // retry that finds nothing must not wake itself.
        if self.ks.ready.any() && self.find(db, key).is_some() {
            self.note_write(db, key);
        }
        self.get_entry(db, key)
    }

    /// Records a write to `key` for blocked clients (only while any exist).
    fn note_write(&mut self, db: usize, key: &[u8]) {
        if self.ks.ready.any() && !self.written.iter().any(|(d, k)| *d == db && **k == *key) {
            self.written.push((db, key.into()));
        }
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
        self.note_write(db, key);
        let pos = key_pos(key);
        let sdb = self.shard_db(db, pos.shard);
        let old = sdb
            .table_mut(pos.local)
            .insert(Entry::new(key, value, expire_at_ms));
        match old {
            Some(o) => sdb.volatile -= (o.expire_at != 0) as usize,
            None => sdb.keys += 1,
        }
        sdb.volatile += (expire_at_ms != 0) as usize;
    }

    /// Stores a value keeping the key's current TTL (if it exists and is live).
    pub fn set_keep_ttl(&mut self, db: usize, key: &[u8], value: Value) {
        match self.get_mut(db, key) {
            Some(e) => {
                e.value = value;
                e.touch();
            }
            None => self.set(db, key, value, 0),
        }
    }

    /// Removes a key, returning its entry if it was live.
    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Box<Entry>> {
        let now = self.now_ms;
        let pos = key_pos(key);
        let sdb = self.shard_db(db, pos.shard);
        let e = sdb.slots.get_mut(pos.local)?.remove(key)?;
        sdb.keys -= 1;
        sdb.volatile -= (e.expire_at != 0) as usize;
        if e.is_expired(now) {
            self.ks.stats.expired_keys.incr();
            return None;
        }
        Some(e)
    }

    /// Sets (or with 0 clears) the TTL of a live key. Returns false if absent.
    pub fn set_expire(&mut self, db: usize, key: &[u8], expire_at_ms: u64) -> bool {
        let Some(e) = self.find(db, key) else {
            return false;
        };
        let was = e.expire_at != 0;
        e.expire_at = expire_at_ms;
        let now = expire_at_ms != 0;
        let pos = key_pos(key);
        let sdb = self.shard_db(db, pos.shard);
        sdb.volatile = sdb.volatile + now as usize - was as usize;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(StrValue::from_bytes(v.as_bytes()))
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
