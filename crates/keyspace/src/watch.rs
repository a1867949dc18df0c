//! WATCH bookkeeping: which clients watch which keys of a shard, and the
//! marking of those clients as dirty when a watched key changes.
//!
//! Watchers live in their key's shard, so a write marks them while it still
//! holds the shard lock it already took, and an EXEC that locks the same
//! shard sees the mark. A shard with no watchers costs writers one
//! `is_empty` check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

/// One client watching one key.
pub(crate) struct Watcher {
    client_id: u64,
    /// The client's "a watched key changed" flag (Redis's CLIENT_DIRTY_CAS).
    dirty: Arc<AtomicBool>,
    /// The key was logically expired (but still stored) when WATCH ran: its
    /// removal is no change (Redis's `watchedKey.expired`).
    expired: bool,
}

/// The clients watching one key.
type WatcherList = SmallVec<[Watcher; 1]>;

/// The watched keys of one shard, by (database, key).
#[derive(Default)]
pub(crate) struct Watches {
    keys: HashMap<(usize, Box<[u8]>), WatcherList>,
}

impl Watches {
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds a watcher unless this client already watches the key.
    pub(crate) fn add(
        &mut self,
        db: usize,
        key: &[u8],
        client_id: u64,
        dirty: &Arc<AtomicBool>,
        expired: bool,
    ) {
        let list = self.keys.entry((db, key.into())).or_default();
        if !list.iter().any(|w| w.client_id == client_id) {
            list.push(Watcher {
                client_id,
                dirty: dirty.clone(),
                expired,
            });
        }
    }

    pub(crate) fn remove(&mut self, db: usize, key: &[u8], client_id: u64) {
        let k = (db, Box::<[u8]>::from(key));
        if let Some(list) = self.keys.get_mut(&k) {
            list.retain(|w| w.client_id != client_id);
            if list.is_empty() {
                self.keys.remove(&k);
            }
        }
    }

    /// Was the key watched by this client already expired when WATCH ran?
    pub(crate) fn watched_expired(&self, db: usize, key: &[u8], client_id: u64) -> bool {
        self.keys
            .get(&(db, Box::<[u8]>::from(key)))
            .and_then(|l| l.iter().find(|w| w.client_id == client_id))
            .is_some_and(|w| w.expired)
    }

    /// A watched key was modified; `stored` says whether it is still in the
    /// table afterwards (Redis's `touchWatchedKey`).
    pub(crate) fn touch(&mut self, db: usize, key: &[u8], stored: bool) {
        let Some(list) = self.keys.get_mut(&(db, Box::<[u8]>::from(key))) else {
            return;
        };
        for w in list.iter_mut() {
            if w.expired {
                // The stale key went away: logically nothing changed.
                if !stored {
                    w.expired = false;
                }
                continue;
            }
            w.dirty.store(true, Ordering::Release);
        }
    }

    /// Every watched key of `db` (FLUSHDB, FLUSHALL, SWAPDB).
    pub(crate) fn keys_of(&self, db: usize) -> Vec<Box<[u8]>> {
        self.keys
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The database `db` is emptied (`replaced`: None) or swapped with
    /// another; `state(key)` says whether the key is stored in the emptied
    /// db and how it is stored in the replacing one. Redis's
    /// `touchAllWatchedKeysInDb`.
    pub(crate) fn touch_db(
        &mut self,
        db: usize,
        key: &[u8],
        in_emptied: bool,
        replaced: Option<KeyState>,
    ) {
        let Some(list) = self.keys.get_mut(&(db, Box::<[u8]>::from(key))) else {
            return;
        };
        let in_replaced = replaced.is_some_and(|s| s != KeyState::Absent);
        if !in_emptied && !in_replaced {
            return;
        }
        for w in list.iter_mut() {
            if w.expired {
                if !in_replaced {
                    w.expired = false;
                    continue;
                } else if replaced == Some(KeyState::Expired) {
                    continue;
                }
            } else if !in_emptied && replaced == Some(KeyState::Expired) {
                w.expired = true;
                continue;
            }
            w.dirty.store(true, Ordering::Release);
        }
    }
}

/// How a key is stored in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyState {
    Absent,
    Live,
    /// Still stored, but past its expiry time.
    Expired,
}
