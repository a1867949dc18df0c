//! Point-in-time snapshots without fork: the state of every shard at the
//! moment a snapshot begins, captured shard by shard while the server keeps
//! serving.
//!
//! When a snapshot begins, every shard is marked pending. Whoever next
//! locks a pending shard — the snapshot's own thread walking the shards in
//! order, or a command about to read or write it — first hands the shard to
//! the snapshot's [`ShardCapture`] (which serializes it) and clears the
//! mark. A write therefore never reaches a shard before that shard has been
//! captured, so every shard is captured as it was when the snapshot began,
//! and nothing is copied but the serialized bytes: memory grows by the
//! chunks waiting to be written, not by a copy of the dataset (a fork's
//! copy-on-write can double it).
//!
//! Commands that lock several shards lock them all before touching any, so
//! their writes land either wholly after the capture of every shard they
//! touch or (for a command already running when the snapshot began) wholly
//! before the capture of theirs: the snapshot is a consistent cut.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{Shard, SHARDS};

/// Receives each shard once per snapshot, under the shard's lock.
pub trait ShardCapture: Send + Sync {
    fn capture(&self, shard: usize, data: &Shard);
}

#[derive(Default)]
pub(crate) struct SnapshotState {
    active: AtomicBool,
    pending: [AtomicU64; SHARDS / 64],
    capture: Mutex<Option<Arc<dyn ShardCapture>>>,
}

impl SnapshotState {
    /// Starts a snapshot; false if one is already running.
    pub(crate) fn begin(&self, capture: Arc<dyn ShardCapture>) -> bool {
        let mut slot = self.capture.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(capture);
        for word in &self.pending {
            word.store(u64::MAX, Ordering::Release);
        }
        self.active.store(true, Ordering::Release);
        true
    }

    /// Called with every shard lock just taken: captures the shard first if
    /// the running snapshot has not yet.
    #[inline]
    pub(crate) fn on_lock(&self, i: usize, shard: &Shard) {
        if self.active.load(Ordering::Acquire) {
            self.capture_if_pending(i, shard);
        }
    }

    #[cold]
    fn capture_if_pending(&self, i: usize, shard: &Shard) {
        let bit = 1u64 << (i % 64);
        // The shard's lock is held: no other thread can be here for `i`.
        if self.pending[i / 64].load(Ordering::Acquire) & bit == 0 {
            return;
        }
        let capture = self.capture.lock().clone();
        if let Some(c) = capture {
            c.capture(i, shard);
        }
        self.pending[i / 64].fetch_and(!bit, Ordering::AcqRel);
    }

    /// Ends the snapshot once every shard has been captured.
    pub(crate) fn end(&self) {
        debug_assert!(self.pending.iter().all(|w| w.load(Ordering::Acquire) == 0));
        self.active.store(false, Ordering::Release);
        *self.capture.lock() = None;
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }
}
