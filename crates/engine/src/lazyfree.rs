//! Lazy freeing: values whose freeing takes long (big hash tables, skip
//! lists, lists and streams: more than [`THRESHOLD`] allocations, as in
//! Redis) are handed to a background thread instead of being dropped on a
//! worker, so deleting a ten-million-element key does not stall the
//! clients that worker serves. UNLINK and FLUSHALL ASYNC always free this
//! way; DEL, expiry, overwrites and eviction do when their
//! `lazyfree-lazy-*` parameter says so.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

use keyspace::{Disposal, Value};

/// Values that take more allocations than this to free go to the
/// background thread (Redis's LAZYFREE_THRESHOLD).
pub const THRESHOLD: usize = 64;

/// Objects queued and not yet freed; objects freed by the thread
/// (INFO lazyfree_pending_objects / lazyfreed_objects).
static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);
/// lazyfree-lazy-expire and lazyfree-lazy-server-del, for the keyspace's
/// dispose hook (which has no server at hand).
static LAZY_EXPIRE: AtomicBool = AtomicBool::new(false);
static LAZY_SERVER_DEL: AtomicBool = AtomicBool::new(false);

struct Job {
    garbage: Box<dyn Send>,
    objects: u64,
}

/// The lazyfree thread's queue (None if the thread could not be started).
static QUEUE: OnceLock<Option<Sender<Job>>> = OnceLock::new();

fn sender() -> Option<&'static Sender<Job>> {
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name("lazyfree".into())
                .spawn(move || {
                    for job in rx {
                        drop(job.garbage);
                        PENDING.fetch_sub(job.objects, Ordering::Relaxed);
                        FREED.fetch_add(job.objects, Ordering::Relaxed);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Frees `garbage` (holding `objects` objects) on the background thread,
/// or here if that thread could not be started.
pub(crate) fn queue(garbage: Box<dyn Send>, objects: u64) {
    let Some(tx) = sender() else {
        drop(garbage);
        return;
    };
    PENDING.fetch_add(objects, Ordering::Relaxed);
    if let Err(failed) = tx.send(Job { garbage, objects }) {
        PENDING.fetch_sub(objects, Ordering::Relaxed);
        drop(failed.0.garbage);
    }
}

/// Frees `value` in the background when `lazy` and it is big enough to be
/// worth it, else at once. Returns whether it went to the background.
pub(crate) fn free(value: Value, lazy: bool) -> bool {
    if lazy && value.free_effort() > THRESHOLD {
        queue(Box::new(value), 1);
        true
    } else {
        drop(value);
        false
    }
}

/// The keyspace's dispose hook: values of expired and overwritten keys.
pub(crate) fn dispose(key: &[u8], value: Value, why: Disposal) {
    let lazy = match why {
        Disposal::Expired => {
            // A memcached node's `bytes` counts items until they expire.
            crate::memcached::expired(key, &value);
            LAZY_EXPIRE.load(Ordering::Relaxed)
        }
        Disposal::Overwritten => LAZY_SERVER_DEL.load(Ordering::Relaxed),
    };
    free(value, lazy);
}

/// Applies lazyfree-lazy-expire and lazyfree-lazy-server-del.
pub(crate) fn set_flags(expire: bool, server_del: bool) {
    LAZY_EXPIRE.store(expire, Ordering::Relaxed);
    LAZY_SERVER_DEL.store(server_del, Ordering::Relaxed);
}

/// (objects pending, objects freed so far).
pub fn counts() -> (u64, u64) {
    (
        PENDING.load(Ordering::Relaxed),
        FREED.load(Ordering::Relaxed),
    )
}

/// CONFIG RESETSTAT.
pub(crate) fn reset_freed() {
    FREED.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn big_values_are_freed_in_the_background() {
        let mut set = types::Set::new_hashtable();
        let limits = types::Limits::default();
        for i in 0..1000 {
            set.insert(format!("member:{i}").as_bytes(), &limits);
        }
        let value = Value::Set(Box::new(set));
        assert!(value.free_effort() > THRESHOLD);
        let (_, freed_before) = counts();
        assert!(free(value, true));
        let deadline = Instant::now() + Duration::from_secs(5);
        while counts().1 == freed_before {
            assert!(Instant::now() < deadline, "never freed");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Small values are dropped at once, lazily or not.
        assert!(!free(
            Value::Str(keyspace::StrValue::from_bytes(b"x")),
            true
        ));
    }
}
