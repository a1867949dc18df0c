//! Point-in-time snapshots without fork: every key as it was at the moment
//! a snapshot began, captured while the server keeps serving.
//!
//! When a snapshot begins, every hash slot is marked pending. The
//! snapshot's own thread walks the slots in order, and under the slot's
//! shard lock (taken for one slot at a time, so no command waits long
//! behind it) hands its keys to the snapshot's [`ShardCapture`] (which
//! serializes them) and clears the mark. Meanwhile, a write to a key of a
//! slot not yet walked first hands that one key, as it is, to the capture
//! and notes it as captured (a key that does not exist yet is noted too, so
//! the walk will leave out the key the write creates); the walk skips noted
//! keys. So every
//! key is captured exactly once, in its state at the start, and memory grows
//! by the serialized copies of the keys written during the snapshot — not
//! by a copy of the dataset, as a fork's copy-on-write can.
//!
//! A snapshot begins with every shard locked, so no command (nor EXEC or
//! script) is half done at that moment, and every later write captures the
//! keys it changes first: the snapshot is a consistent cut. Keys that expire or are evicted during the snapshot may
//! be missing from it, as if gone just before it began. FLUSHALL and SWAPDB
//! have every pending slot walked first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{Entry, Shard, SLOTS, SLOTS_PER_SHARD};

/// Receives the keys of a snapshot.
pub trait ShardCapture: Send + Sync {
    /// The walk reached slot `local` of `shard` (the shard's lock is held):
    /// every key of the slot except those already captured
    /// ([`Shard::snapshot_entries`]).
    fn capture_slot(&self, shard: usize, local: usize, data: &Shard);

    /// A key of a slot not yet walked is about to change: its entry as it
    /// is now (called under the shard's lock).
    fn capture_entry(&self, shard: usize, db: usize, entry: &Entry);

    /// Called by the walk before it locks the next slot's shard (no lock
    /// held): it may wait here for its output to drain.
    fn before_next(&self) {}
}

pub(crate) struct SnapshotState {
    active: AtomicBool,
    /// One bit per hash slot: not walked yet.
    pending: Box<[AtomicU64]>,
    capture: Mutex<Option<Arc<dyn ShardCapture>>>,
}

impl Default for SnapshotState {
    fn default() -> Self {
        SnapshotState {
            active: AtomicBool::new(false),
            pending: (0..SLOTS / 64).map(|_| AtomicU64::new(0)).collect(),
            capture: Mutex::new(None),
        }
    }
}

/// The hash slot of local slot `local` of shard `shard`.
fn slot_of(shard: usize, local: usize) -> usize {
    shard * SLOTS_PER_SHARD + local
}

impl SnapshotState {
    /// Starts a snapshot; false if one is already running.
    pub(crate) fn begin(&self, capture: Arc<dyn ShardCapture>) -> bool {
        let mut slot = self.capture.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(capture);
        for word in self.pending.iter() {
            word.store(u64::MAX, Ordering::Release);
        }
        self.active.store(true, Ordering::Release);
        true
    }

    /// Whether slot `local` of shard `shard` still waits for the walk
    /// (call with the shard's lock held).
    #[inline]
    pub(crate) fn is_pending(&self, shard: usize, local: usize) -> bool {
        let slot = slot_of(shard, local);
        self.active.load(Ordering::Acquire)
            && self.pending[slot / 64].load(Ordering::Acquire) & (1 << (slot % 64)) != 0
    }

    /// The running snapshot's capture, if any.
    pub(crate) fn capture(&self) -> Option<Arc<dyn ShardCapture>> {
        self.capture.lock().clone()
    }

    /// Captures a key of a pending slot of shard `i` before a write
    /// changes it, unless it was captured already.
    #[cold]
    pub(crate) fn before_write(&self, i: usize, shard: &mut Shard, db: usize, key: &[u8]) {
        if shard.snapshot_seen.len() <= db {
            shard.snapshot_seen.resize_with(db + 1, Default::default);
        }
        if !shard.snapshot_seen[db].insert(key.into()) {
            return;
        }
        let Some(entry) = shard.dbs[db]
            .table(crate::key_pos(key).local)
            .and_then(|t| t.get(key))
        else {
            return;
        };
        if let Some(c) = self.capture() {
            c.capture_entry(i, db, entry);
        }
    }

    /// Walks slot `local` of shard `i` (the shard's lock held) if it is
    /// pending; after the shard's last slot, forgets the keys it noted.
    pub(crate) fn walk_slot(&self, i: usize, local: usize, shard: &mut Shard) {
        if !self.is_pending(i, local) {
            return;
        }
        if let Some(c) = self.capture() {
            c.capture_slot(i, local, shard);
        }
        let slot = slot_of(i, local);
        self.pending[slot / 64].fetch_and(!(1 << (slot % 64)), Ordering::AcqRel);
        if local == SLOTS_PER_SHARD - 1 {
            shard.snapshot_seen = Vec::new();
        }
    }

    /// Walks every pending slot of shard `i` (its lock held): before
    /// FLUSHALL or SWAPDB change the whole shard.
    pub(crate) fn walk(&self, i: usize, shard: &mut Shard) {
        if self.active.load(Ordering::Acquire) {
            for local in 0..SLOTS_PER_SHARD {
                self.walk_slot(i, local, shard);
            }
        }
    }

    /// Ends the snapshot once every slot has been walked.
    pub(crate) fn end(&self) {
        debug_assert!(self.pending.iter().all(|w| w.load(Ordering::Acquire) == 0));
        self.active.store(false, Ordering::Release);
        *self.capture.lock() = None;
    }
}
