//! Clients blocked on keys (BLPOP, BZPOPMIN, ...): a FIFO queue of waiters
//! per key, and the wake-up of the first waiter when a command writes the key.
//!
//! Waiters register while their command still holds the key's shard lock and
//! writers signal before releasing theirs, so no wake-up can be lost. A woken
//! client keeps its place at the head while it re-runs its command, then
//! leaves and wakes the next waiter, so a push that makes several clients
//! ready serves them one after another in FIFO order, whatever threads they
//! run on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;

/// One blocked client.
pub struct Waiter {
    pub client_id: u64,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl Waiter {
    pub fn new(client_id: u64, wake: Box<dyn Fn() + Send + Sync>) -> Arc<Waiter> {
        Arc::new(Waiter { client_id, wake })
    }

    /// Wakes the client (for waits on something other than keys: WAIT).
    pub fn wake(&self) {
        (self.wake)();
    }
}

/// The waiters of each (database, key), first come first served.
type Queues = HashMap<(usize, Box<[u8]>), VecDeque<Arc<Waiter>>>;

/// All waiters, by (database, key).
#[derive(Default)]
pub struct Readiness {
    queues: Mutex<Queues>,
    /// Registrations alive; writers skip all bookkeeping while it is 0.
    registered: AtomicUsize,
}

impl Readiness {
    /// Is anybody blocked on any key?
    #[inline]
    pub fn any(&self) -> bool {
        self.registered.load(Ordering::Acquire) > 0
    }

    /// Queues `w` at the back of every key's queue, or in the place the same
    /// client still holds (it was woken, ran again and found nothing).
    pub fn register(&self, db: usize, keys: &[&[u8]], w: &Arc<Waiter>) {
        let mut q = self.queues.lock();
        for k in keys {
            let queue = q.entry((db, (*k).into())).or_default();
            if queue.iter().any(|x| Arc::ptr_eq(x, w)) {
                continue;
            }
            if let Some(slot) = queue.iter_mut().find(|x| x.client_id == w.client_id) {
                *slot = w.clone();
                continue;
            }
            queue.push_back(w.clone());
            self.registered.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Removes `w` from the queues of `keys`.
    pub fn unregister(&self, db: usize, keys: &[Vec<u8>], w: &Arc<Waiter>) {
        let mut q = self.queues.lock();
        for k in keys {
            let key = (db, k.as_slice().into());
            if let Some(queue) = q.get_mut(&key) {
                let before = queue.len();
                queue.retain(|x| !Arc::ptr_eq(x, w));
                self.registered
                    .fetch_sub(before - queue.len(), Ordering::AcqRel);
                if queue.is_empty() {
                    q.remove(&key);
                }
            }
        }
    }

    /// A command wrote `key`: wake the first client waiting for it.
    pub fn signal(&self, db: usize, key: &[u8]) {
        let q = self.queues.lock();
        if let Some(w) = q.get(&(db, key.into())).and_then(|queue| queue.front()) {
            (w.wake)();
        }
    }

    /// Wakes the client queued right behind `w` on each of `keys`: a woken
    /// stream reader that found nothing for itself passes the wake-up on,
    /// since the next reader may wait for something else (another group,
    /// an earlier id).
    pub fn signal_behind(&self, db: usize, keys: &[Vec<u8>], w: &Arc<Waiter>) {
        let q = self.queues.lock();
        for k in keys {
            let Some(queue) = q.get(&(db, k.as_slice().into())) else {
                continue;
            };
            let next = queue
                .iter()
                .position(|x| Arc::ptr_eq(x, w))
                .and_then(|at| queue.get(at + 1));
            if let Some(next) = next {
                (next.wake)();
            }
        }
    }

    /// Every key of `db` may have changed (SWAPDB): wake the first client
    /// waiting on each; those that find nothing wait again in place.
    pub fn signal_db(&self, db: usize) {
        let q = self.queues.lock();
        for ((d, _), queue) in q.iter() {
            if *d == db {
                if let Some(w) = queue.front() {
                    (w.wake)();
                }
            }
        }
    }

    /// Number of clients blocked on `key` (tests, introspection).
    pub fn waiting_on(&self, db: usize, key: &[u8]) -> usize {
        self.queues
            .lock()
            .get(&(db, key.into()))
            .map_or(0, |q| q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fifo_and_the_woken_client_keeps_its_place() {
        let r = Readiness::default();
        let hits = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let mk = |i: usize| {
            let h = hits.clone();
            Waiter::new(
                i as u64,
                Box::new(move || {
                    h[i].fetch_add(1, Ordering::SeqCst);
                }),
            )
        };
        let (a, b) = (mk(0), mk(1));
        r.register(0, &[b"k"], &a);
        r.register(0, &[b"k"], &b);
        assert!(r.any());
        r.signal(0, b"k");
        assert_eq!(hits[0].load(Ordering::SeqCst), 1);
        // a registers again (found nothing): it stays first.
        let a2 = mk(0);
        r.register(0, &[b"k"], &a2);
        r.signal(0, b"k");
        assert_eq!(hits[0].load(Ordering::SeqCst), 2);
        r.unregister(0, &[b"k".to_vec()], &a2);
        r.signal(0, b"k");
        assert_eq!(hits[1].load(Ordering::SeqCst), 1);
        r.unregister(0, &[b"k".to_vec()], &b);
        assert!(!r.any());
        assert_eq!(r.waiting_on(0, b"k"), 0);
    }

    #[test]
    fn same_client_keeps_its_place_and_passes_the_wake_up_behind() {
        let r = Readiness::default();
        let hits = Arc::new([
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        ]);
        let mk = |i: usize| {
            let h = hits.clone();
            Waiter::new(
                i as u64,
                Box::new(move || {
                    h[i].fetch_add(1, Ordering::SeqCst);
                }),
            )
        };
        let (a, b, c) = (mk(0), mk(1), mk(2));
        for w in [&a, &b, &c] {
            r.register(0, &[b"k"], w);
        }
        // b registers again (a new waiter of the same client): same place.
        let b2 = mk(1);
        r.register(0, &[b"k"], &b2);
        assert_eq!(r.waiting_on(0, b"k"), 3);
        r.signal_behind(0, &[b"k".to_vec()], &a);
        assert_eq!(hits[1].load(Ordering::SeqCst), 1, "b is behind a");
        r.signal_behind(0, &[b"k".to_vec()], &b2);
        assert_eq!(hits[2].load(Ordering::SeqCst), 1, "c is behind b");
        r.signal_behind(0, &[b"k".to_vec()], &c);
        assert_eq!(
            hits.iter().map(|h| h.load(Ordering::SeqCst)).sum::<usize>(),
            2
        );
        for w in [&a, &b2, &c] {
            r.unregister(0, &[b"k".to_vec()], w);
        }
        assert!(!r.any());
    }
}
