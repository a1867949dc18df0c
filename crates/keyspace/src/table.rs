//! One hash slot's keys: an open-addressing table of boxed entries in one
//! allocation, reached through one pointer.
//!
//! A node has 16384 of these per database, most holding a handful of keys,
//! so their fixed costs matter more than their big-table speed. hashbrown's
//! table is a 32-byte header beside its buckets, whose control bytes end in
//! a 16-byte group of padding: at 3.5 keys per slot that cost about 32
//! bytes per key. Here a slot is 16 bytes (the pointer, the bucket mask and
//! the length: what a lookup needs before it touches the buckets is in the
//! slot array), and in small tables the tag bytes and the entry pointers
//! share one cache line.
//!
//! Layout of a table of `n` buckets (a power of two, at least 4):
//! `[n tag bytes, padded to 8][n entry pointers]`; 40 bytes for 4 buckets,
//! 72 for 8 (jemalloc's 48 and 80 size classes). A tag is 0 for an
//! empty bucket, else `0x80 | 7 bits of the key's hash`. Collisions probe
//! linearly; a removal shifts the rest of its probe run back (no tombstones,
//! so lookups never wade through deleted buckets).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::hash::BuildHasher;
use std::ptr::NonNull;
use std::sync::LazyLock;

use hashbrown::DefaultHashBuilder;

use crate::value::Entry;

/// One process-wide random hash seed (tables are per slot: no per-table state).
static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

#[inline]
fn hash(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

#[inline]
fn tag_of(h: u64) -> u8 {
    0x80 | (h >> 57) as u8
}

const EMPTY: u8 = 0;
const MIN_BUCKETS: usize = 4;

/// Entries a table of `buckets` may hold before it grows: 7/8 of it (3 of 4
/// in the smallest), so that a probe always ends at an empty bucket.
#[inline]
fn max_len(buckets: usize) -> usize {
    if buckets <= MIN_BUCKETS {
        buckets - 1
    } else {
        buckets - buckets / 8
    }
}

/// The smallest bucket count that holds `len` entries.
fn buckets_for(len: usize) -> usize {
    let mut buckets = MIN_BUCKETS;
    while max_len(buckets) < len {
        buckets *= 2;
    }
    buckets
}

/// Byte offset of the entry pointers in a table of `buckets`.
#[inline]
fn entries_offset(buckets: usize) -> usize {
    buckets.next_multiple_of(8)
}

fn layout(buckets: usize) -> Layout {
    let size = entries_offset(buckets) + buckets * size_of::<*mut Entry>();
    // The size is far below isize::MAX for any bucket count a key count
    // that fits in memory can ask for.
    Layout::from_size_align(size, 8).expect("table layout")
}

/// The keys of one slot of one database.
#[derive(Default)]
pub struct Table {
    /// None: no keys and no allocation.
    raw: Option<NonNull<u8>>,
    /// Buckets - 1 (0 without an allocation).
    mask: u32,
    /// Entries held.
    len: u32,
}

// SAFETY: a Table owns its allocation and the entries it points to, as a
// `Vec<Box<Entry>>` would; it hands out references only through `&self` /
// `&mut self`, so the usual borrow rules make sharing and sending it safe.
unsafe impl Send for Table {}
// SAFETY: see `Send`: `&Table` gives only shared access to the entries.
unsafe impl Sync for Table {}

impl Drop for Table {
    fn drop(&mut self) {
        for i in 0..self.buckets() {
            if self.tags()[i] != EMPTY {
                // SAFETY: a full bucket holds a pointer from Box::into_raw
                // that nothing else owns; it is freed once, here.
                drop(unsafe { Box::from_raw(self.entry_ptr(i)) });
            }
        }
        self.free_allocation();
    }
}

impl Table {
    fn buckets(&self) -> usize {
        if self.raw.is_some() {
            self.mask as usize + 1
        } else {
            0
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tags(&self) -> &[u8] {
        match self.raw {
            // SAFETY: the allocation starts with `buckets()` tag bytes, all
            // initialised.
            Some(p) => unsafe { std::slice::from_raw_parts(p.as_ptr(), self.buckets()) },
            None => &[],
        }
    }

    fn set_tag(&mut self, i: usize, tag: u8) {
        let buckets = self.buckets();
        assert!(i < buckets);
        if let Some(p) = self.raw {
            // SAFETY: `i` is a bucket index of this allocation (checked).
            unsafe { *p.as_ptr().add(i) = tag };
        }
    }

    /// The address of bucket `i`'s entry pointer.
    fn slot_ptr(&self, i: usize) -> *mut *mut Entry {
        let buckets = self.buckets();
        assert!(i < buckets);
        let p = self.raw.expect("allocated").as_ptr();
        // SAFETY: the pointers start at `entries_offset` (a multiple of 8)
        // and bucket `i` is in range (checked): the result is in bounds.
        unsafe { p.add(entries_offset(buckets)).cast::<*mut Entry>().add(i) }
    }

    /// Bucket `i`'s entry pointer (meaningful for a full bucket).
    fn entry_ptr(&self, i: usize) -> *mut Entry {
        // SAFETY: an in-bounds, aligned pointer slot; every slot is written
        // before its tag marks it full, and only full ones are read.
        unsafe { *self.slot_ptr(i) }
    }

    fn entry(&self, i: usize) -> &Entry {
        debug_assert!(self.tags()[i] != EMPTY);
        // SAFETY: a full bucket points to a live entry this table owns;
        // the reference borrows `self`.
        unsafe { &*self.entry_ptr(i) }
    }

    fn entry_mut(&mut self, i: usize) -> &mut Entry {
        debug_assert!(self.tags()[i] != EMPTY);
        // SAFETY: as in `entry`, with `&mut self` for exclusive access.
        unsafe { &mut *self.entry_ptr(i) }
    }

    /// The bucket holding `key`.
    fn find(&self, key: &[u8], h: u64) -> Option<usize> {
        let tags = self.tags();
        if tags.is_empty() {
            return None;
        }
        let mask = tags.len() - 1;
        let tag = tag_of(h);
        let mut i = h as usize & mask;
        loop {
            match tags[i] {
                EMPTY => return None,
                t if t == tag && self.entry(i).key() == key => return Some(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.find(key, hash(key)).map(|i| self.entry(i))
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.find(key, hash(key))?;
        Some(self.entry_mut(i))
    }

    /// Finds `key`; if `expired(entry)` it is removed and returned as
    /// `Err` (the table keeps its size: a key read after it expired is
    /// usually written again), otherwise a reference is returned.
    pub fn find_live(
        &mut self,
        key: &[u8],
        expired: impl FnOnce(&Entry) -> bool,
    ) -> Option<Result<&mut Entry, Box<Entry>>> {
        let i = self.find(key, hash(key))?;
        if expired(self.entry(i)) {
            Some(Err(self.take(i)))
        } else {
            Some(Ok(self.entry_mut(i)))
        }
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, entry: Entry) -> Option<Box<Entry>> {
        let h = hash(entry.key());
        if let Some(i) = self.find(entry.key(), h) {
            let new = Box::into_raw(Box::new(entry));
            // SAFETY: bucket `i` is full: its pointer came from
            // Box::into_raw and is replaced (so owned once) right here.
            let old = unsafe { std::ptr::replace(self.slot_ptr(i), new) };
            // SAFETY: `old` was owned by the table and no longer is.
            return Some(unsafe { Box::from_raw(old) });
        }
        self.reserve(1);
        self.place(h, Box::into_raw(Box::new(entry)));
        self.len += 1;
        None
    }

    /// Puts an entry pointer (owned, not in the table) into the first empty
    /// bucket of its probe run. There must be room.
    fn place(&mut self, h: u64, entry: *mut Entry) {
        let mask = self.buckets() - 1;
        let mut i = h as usize & mask;
        while self.tags()[i] != EMPTY {
            i = (i + 1) & mask;
        }
        // SAFETY: an in-bounds pointer slot of an empty bucket.
        unsafe { *self.slot_ptr(i) = entry };
        self.set_tag(i, tag_of(h));
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Box<Entry>> {
        let i = self.find(key, hash(key))?;
        let removed = self.take(i);
        self.shrink();
        Some(removed)
    }

    /// Takes the entry of full bucket `i` out, closing the gap: the entries
    /// after it in its probe run that may move back do (backward-shift
    /// deletion), so every entry stays reachable from its home bucket.
    fn take(&mut self, i: usize) -> Box<Entry> {
        let taken = self.entry_ptr(i);
        let mask = self.buckets() - 1;
        let mut gap = i;
        let mut j = (i + 1) & mask;
        while self.tags()[j] != EMPTY {
            let home = hash(self.entry(j).key()) as usize & mask;
            // Entry j may fill the gap unless its home lies cyclically in
            // (gap, j]: then moving it before its home would lose it.
            let stays = if gap <= j {
                gap < home && home <= j
            } else {
                gap < home || home <= j
            };
            if !stays {
                let moved = self.entry_ptr(j);
                // SAFETY: in-bounds slot of the gap bucket.
                unsafe { *self.slot_ptr(gap) = moved };
                let tag = self.tags()[j];
                self.set_tag(gap, tag);
                gap = j;
            }
            j = (j + 1) & mask;
        }
        self.set_tag(gap, EMPTY);
        self.len -= 1;
        // SAFETY: `taken` came from Box::into_raw and its bucket is no
        // longer in the table (overwritten or emptied above).
        unsafe { Box::from_raw(taken) }
    }

    /// Removes the entries for which `remove` is true and returns them.
    pub fn extract(&mut self, mut remove: impl FnMut(&Entry) -> bool) -> Vec<Box<Entry>> {
        let mut removed = Vec::new();
        let mut i = 0;
        while i < self.buckets() {
            // A removal may shift a later entry into bucket `i`: look at
            // the bucket again before going on. (One that wraps around to
            // an earlier bucket was seen already: the shift only moves
            // entries that followed the gap.)
            if self.tags()[i] != EMPTY && remove(self.entry(i)) {
                removed.push(self.take(i));
            } else {
                i += 1;
            }
        }
        if !removed.is_empty() {
            self.shrink();
        }
        removed
    }

    /// Gives memory back once the table is mostly empty (as Redis resizes
    /// a dict below 10% use): a slot's table is small, and there are
    /// 16384 of them per database, so empty ones must not keep buckets.
    fn shrink(&mut self) {
        let len = self.len();
        if len == 0 {
            if self.raw.is_some() {
                self.free_allocation();
            }
        } else if len * 4 < self.buckets() && self.buckets() > 16 {
            self.resize(buckets_for(len * 2));
        }
    }

    /// Makes room for `additional` more keys (a load that knows its size
    /// skips the rehashing growth would do).
    pub fn reserve(&mut self, additional: usize) {
        let want = self.len() + additional;
        if self.raw.is_none() {
            if want > 0 {
                self.resize(buckets_for(want));
            }
        } else if want > max_len(self.buckets()) {
            self.resize(buckets_for(want).max(self.buckets() * 2));
        }
    }

    /// Moves the entries into a new allocation of `buckets`.
    fn resize(&mut self, buckets: usize) {
        debug_assert!(max_len(buckets) >= self.len());
        let layout = layout(buckets);
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(layout) };
        let Some(p) = NonNull::new(p) else {
            handle_alloc_error(layout)
        };
        // SAFETY: the allocation starts with `buckets` tag bytes; every one
        // is initialised before the table reads them.
        unsafe { std::ptr::write_bytes(p.as_ptr(), EMPTY, buckets) };
        let mut old = Table {
            raw: Some(p),
            mask: (buckets - 1) as u32,
            len: self.len,
        };
        std::mem::swap(self, &mut old);
        for i in 0..old.buckets() {
            if old.tags()[i] != EMPTY {
                let e = old.entry_ptr(i);
                old.set_tag(i, EMPTY);
                // SAFETY: `e` is a live entry, now owned by `self` alone.
                let h = hash(unsafe { &*e }.key());
                self.place(h, e);
            }
        }
        // Every entry moved out (and its tag cleared): dropping `old` frees
        // only its allocation.
    }

    fn free_allocation(&mut self) {
        let buckets = self.buckets();
        if let Some(p) = self.raw.take() {
            // SAFETY: allocated in `resize` with this same layout.
            unsafe { dealloc(p.as_ptr(), layout(buckets)) };
        }
        self.mask = 0;
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.tags()
            .iter()
            .enumerate()
            .filter(|&(_, &t)| t != EMPTY)
            .map(|(i, _)| self.entry(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{StrValue, Value};
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    fn entry(key: &[u8], n: i64) -> Entry {
        Entry::new(key, Value::Str(StrValue::Int(n)), 0)
    }

    fn int(e: &Entry) -> i64 {
        match e.value {
            Value::Str(StrValue::Int(n)) => n,
            _ => panic!("not an int"),
        }
    }

    #[test]
    fn sizes_are_allocator_classes() {
        assert_eq!(size_of::<Table>(), 16);
        assert_eq!(layout(4).size(), 40);
        assert_eq!(layout(8).size(), 72);
        assert_eq!(buckets_for(3), 4);
        assert_eq!(buckets_for(4), 8);
        assert_eq!(buckets_for(7), 8);
        assert_eq!(buckets_for(8), 16);
    }

    /// Random inserts, replacements, removals, expiries and extractions,
    /// checked against a HashMap after every step; keys drawn from small
    /// and large ranges so tables grow through many sizes and shrink back.
    #[test]
    fn matches_a_hash_map_through_growth_and_shrinking() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for range in [5u32, 40, 3000] {
            let mut table = Table::default();
            let mut model: HashMap<Vec<u8>, i64> = HashMap::new();
            for step in 0..20_000i64 {
                let key = format!("k{}", rng.gen_range(0..range)).into_bytes();
                match rng.gen_range(0..10) {
                    0..=4 => {
                        let old = table.insert(entry(&key, step));
                        assert_eq!(old.map(|e| int(&e)), model.insert(key, step));
                    }
                    5 | 6 => {
                        let gone = table.remove(&key);
                        assert_eq!(gone.map(|e| int(&e)), model.remove(&key));
                    }
                    7 => {
                        // Expire keys whose value is odd.
                        let got = table.find_live(&key, |e| int(e) % 2 == 1);
                        match (got, model.get(&key).copied()) {
                            (None, None) => {}
                            (Some(Ok(e)), Some(v)) if v % 2 == 0 => assert_eq!(int(e), v),
                            (Some(Err(e)), Some(v)) if v % 2 == 1 => {
                                assert_eq!(int(&e), v);
                                model.remove(&key);
                            }
                            _ => panic!("find_live disagrees on {key:?}"),
                        }
                    }
                    8 if step % 50 == 0 => {
                        let cut = rng.gen_range(0..step.max(1));
                        let mut out: Vec<i64> = table
                            .extract(|e| int(e) < cut)
                            .iter()
                            .map(|e| int(e))
                            .collect();
                        let mut want: Vec<i64> =
                            model.values().copied().filter(|&v| v < cut).collect();
                        model.retain(|_, v| *v >= cut);
                        out.sort_unstable();
                        want.sort_unstable();
                        assert_eq!(out, want);
                    }
                    _ => {
                        if let Some(e) = table.get_mut(&key) {
                            e.value = Value::Str(StrValue::Int(int(e) + 2));
                        }
                        if let Some(v) = model.get_mut(&key) {
                            *v += 2;
                        }
                    }
                }
                assert_eq!(table.len(), model.len());
                assert!(table.len() <= max_len(table.buckets().max(MIN_BUCKETS)));
            }
            for (k, v) in &model {
                assert_eq!(table.get(k).map(int), Some(*v), "{k:?}");
            }
            let mut seen: Vec<Vec<u8>> = table.iter().map(|e| e.key().to_vec()).collect();
            seen.sort();
            let mut keys: Vec<Vec<u8>> = model.keys().cloned().collect();
            keys.sort();
            assert_eq!(seen, keys);
        }
    }

    #[test]
    fn an_emptied_table_holds_no_memory_and_reserve_presizes() {
        let mut table = Table::default();
        table.reserve(100);
        assert_eq!(table.buckets(), 128);
        for i in 0..100 {
            table.insert(entry(format!("key:{i}").as_bytes(), i));
        }
        assert_eq!(table.buckets(), 128);
        for i in 0..100 {
            assert!(table.remove(format!("key:{i}").as_bytes()).is_some());
        }
        assert!(table.raw.is_none());
        assert_eq!(table.iter().count(), 0);
        assert!(table.get(b"key:1").is_none());
    }

    /// A full cluster wrapping around the end of the bucket array: removal
    /// from its middle keeps every key reachable.
    #[test]
    fn removal_inside_a_wrapping_probe_run_keeps_every_key() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..300 {
            let mut table = Table::default();
            let keys: Vec<Vec<u8>> = (0..7).map(|_| rng.gen::<[u8; 6]>().to_vec()).collect();
            for (i, k) in keys.iter().enumerate() {
                table.insert(entry(k, i as i64));
            }
            assert_eq!(table.buckets(), 8);
            let gone = rng.gen_range(0..keys.len());
            assert!(table.remove(&keys[gone]).is_some());
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(table.get(k).map(int), (i != gone).then_some(i as i64));
            }
        }
    }
}
