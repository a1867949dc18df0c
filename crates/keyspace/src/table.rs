//! One hash slot's keys: a hash table of boxed entries. A table slot is one
//! pointer (8 bytes), so the table's spare capacity costs little; the entry
//! (key inline when short, value, TTL, access data) is one allocation.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::value::Entry;

/// One process-wide random hash seed (tables are per slot: no per-table state).
static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

#[inline]
fn hash(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// The keys of one slot of one database.
#[derive(Default)]
pub struct Table {
    inner: HashTable<Box<Entry>>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.inner.find(hash(key), |e| e.key() == key).map(|b| &**b)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.inner
            .find_mut(hash(key), |e| e.key() == key)
            .map(|b| &mut **b)
    }

    /// Finds `key` with one probe; if `expired(entry)` it is removed and
    /// returned as `Err` (the table keeps its buckets: a key read after it
    /// expired is usually written again), otherwise a reference is returned.
    pub fn find_live(
        &mut self,
        key: &[u8],
        expired: impl FnOnce(&Entry) -> bool,
    ) -> Option<Result<&mut Entry, Box<Entry>>> {
        // `find_entry`, not `entry`: a lookup must not reserve room for an
        // insertion.
        match self.inner.find_entry(hash(key), |e| e.key() == key) {
            Err(_) => None,
            Ok(o) if expired(o.get()) => Some(Err(o.remove().0)),
            Ok(o) => Some(Ok(&mut **o.into_mut())),
        }
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, entry: Entry) -> Option<Box<Entry>> {
        let h = hash(entry.key());
        match self
            .inner
            .entry(h, |e| e.key() == entry.key(), |e| hash(e.key()))
        {
            TableEntry::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), Box::new(entry))),
            TableEntry::Vacant(v) => {
                v.insert(Box::new(entry));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Box<Entry>> {
        let removed = match self.inner.find_entry(hash(key), |e| e.key() == key) {
            Ok(o) => Some(o.remove().0),
            Err(_) => None,
        };
        self.shrink();
        removed
    }

    /// Removes the entries for which `remove` is true and returns them.
    pub fn extract(&mut self, mut remove: impl FnMut(&Entry) -> bool) -> Vec<Box<Entry>> {
        let removed: Vec<Box<Entry>> = self.inner.extract_if(|e| remove(e)).collect();
        if !removed.is_empty() {
            self.shrink();
        }
        removed
    }

    /// Gives memory back once the table is mostly empty (as Redis resizes
    /// a dict below 10% use): a slot's table is small, and there are
    /// 16384 of them per database, so empty ones must not keep buckets.
    fn shrink(&mut self) {
        let len = self.inner.len();
        if len == 0 {
            if self.inner.capacity() > 0 {
                self.inner = HashTable::new();
            }
        } else if len * 4 < self.inner.capacity() && self.inner.capacity() > 16 {
            self.inner.shrink_to(len * 2, |e| hash(e.key()));
        }
    }

    /// Makes room for `additional` more keys (a load that knows its size
    /// skips the rehashing growth would do).
    pub fn reserve(&mut self, additional: usize) {
        self.inner.reserve(additional, |e| hash(e.key()));
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.inner.iter().map(|b| &**b)
    }
}
