//! Client-side caching bookkeeping (CLIENT TRACKING, default mode): which
//! clients may have cached which keys of a shard.
//!
//! Keys are tracked by name, whatever the database, as Redis does. A write
//! to a tracked key takes its entry out while the shard lock is held and
//! reports the clients through the invalidation hook; a shard with no
//! tracked keys costs writers one `is_empty` check.

use hashbrown::HashMap;
use smallvec::SmallVec;

/// The clients that read one key since it last changed.
pub type TrackingClients = SmallVec<[u64; 2]>;

/// The tracked keys of one shard.
#[derive(Default)]
pub(crate) struct Tracked {
    keys: HashMap<Box<[u8]>, TrackingClients>,
}

impl Tracked {
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Records that `client_id` read `key`; returns (new key, new item).
    pub(crate) fn add(&mut self, key: &[u8], client_id: u64) -> (bool, bool) {
        match self.keys.get_mut(key) {
            Some(ids) if ids.contains(&client_id) => (false, false),
            Some(ids) => {
                ids.push(client_id);
                (false, true)
            }
            None => {
                self.keys
                    .insert(key.into(), SmallVec::from_elem(client_id, 1));
                (true, true)
            }
        }
    }

    /// Takes the clients of `key` out (it changed).
    pub(crate) fn take(&mut self, key: &[u8]) -> Option<TrackingClients> {
        self.keys.remove(key)
    }

    /// Forgets every key; returns (keys, items) dropped.
    pub(crate) fn clear(&mut self) -> (usize, usize) {
        let items = self.keys.values().map(|ids| ids.len()).sum();
        let keys = self.keys.len();
        self.keys.clear();
        (keys, items)
    }

    /// Takes up to `n` keys out, whichever come first.
    pub(crate) fn take_some(&mut self, n: usize) -> Vec<(Box<[u8]>, TrackingClients)> {
        let chosen: Vec<Box<[u8]>> = self.keys.keys().take(n).cloned().collect();
        chosen
            .into_iter()
            .filter_map(|k| self.keys.remove_entry(&k))
            .collect()
    }
}
