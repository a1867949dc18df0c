//! Eviction under `maxmemory`, with Redis's approximations: for the LRU,
//! LFU and TTL policies, `maxmemory-samples` keys of every database feed a
//! pool of the sixteen best candidates seen so far and the best is evicted;
//! the random policies evict a random key. Runs before each command (and in
//! the cron) while the process holds more than `maxmemory`, on the thread
//! that runs the command.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyspace::Entry;

use crate::{notify, Server};

/// Redis's reply to a command refused above maxmemory.
pub(crate) const OOM_ERROR: &[u8] = b"OOM command not allowed when used memory > 'maxmemory'.";

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
    /// The running command started above maxmemory with nothing left to
    /// evict: the commands a script calls may not use more memory.
    static WRITES_REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// Whether commands that use memory are refused for the running command.
pub(crate) fn writes_refused() -> bool {
    WRITES_REFUSED.with(Cell::get)
}

/// Sets [`writes_refused`] for the command about to run (a script that
/// declares `allow-oom` clears it).
pub(crate) fn refuse_writes(refused: bool) {
    WRITES_REFUSED.with(|w| w.set(refused));
}

/// What [`make_room`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// Memory is within `maxmemory` (or there is no limit).
    Enough,
    /// Still above, but this call's time slice ran out: commands go on,
    /// as in Redis, and the next one evicts more.
    Pending,
    /// Still above and nothing more can be evicted: commands that may use
    /// memory are refused (OOM).
    Exhausted,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Lru,
    Lfu,
    Ttl,
    Random,
}

/// A `maxmemory-policy` ([`crate::config::POLICIES`] order); None for noeviction.
fn policy(index: u64) -> Option<(bool, Order)> {
    Some(match index {
        0 => (true, Order::Lru),
        1 => (true, Order::Lfu),
        2 => (true, Order::Random),
        3 => (true, Order::Ttl),
        4 => (false, Order::Lru),
        5 => (false, Order::Lfu),
        6 => (false, Order::Random),
        _ => return None,
    })
}

/// How strongly `e` should go: the higher, the sooner.
fn score(order: Order, e: &Entry) -> u64 {
    match order {
        Order::Lru => e.idle_ms(),
        Order::Lfu => 255 - e.lfu_counter().min(255) as u64,
        // The sooner it expires, the better.
        Order::Ttl => u64::MAX - e.expire_at().unwrap_or(u64::MAX),
        Order::Random => 0,
    }
}

const POOL_SIZE: usize = 16;

/// A key that may be evicted: (score when sampled, database, key).
type Candidate = (u64, usize, Box<[u8]>);
/// Database key counts older than this are read again.
const COUNTS_TTL: Duration = Duration::from_millis(100);

/// A thread's eviction state. Every thread evicts for the commands it
/// runs, with its own pool: no lock is shared, and each stops as soon as
/// memory is back under the limit.
#[derive(Default)]
struct State {
    /// Ascending by score: the best candidate is last.
    pool: Vec<Candidate>,
    /// (keys, keys with a TTL) per database, and when they were read.
    counts: Vec<(usize, usize)>,
    counted_at: Option<Instant>,
    /// Where the random policies look next (databases in turn, as Redis).
    next_db: usize,
}

impl State {
    /// Keeps `key` if it is among the sixteen best seen (copying it only then).
    fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.pool.len() == POOL_SIZE && score <= self.pool[0].0 {
            return;
        }
        if self.pool.iter().any(|(_, d, k)| *d == db && **k == *key) {
            return;
        }
        let at = self.pool.partition_point(|(s, _, _)| *s < score);
        self.pool.insert(at, (score, db, key.into()));
        if self.pool.len() > POOL_SIZE {
            self.pool.remove(0);
        }
    }

    fn refresh_counts(&mut self, server: &Server) {
        if self.counted_at.is_none_or(|t| t.elapsed() > COUNTS_TTL) {
            self.counts = server.keyspace.db_counts();
            self.counted_at = Some(Instant::now());
        }
    }

    /// The next key to evict (its score when sampled, database and key),
    /// or None when no key qualifies.
    fn pick(&mut self, server: &Server, volatile: bool, order: Order) -> Option<Candidate> {
        self.pick_with_counts(server, volatile, order).or_else(|| {
            // The counts may be stale (keys arrived in an empty database):
            // read them again before giving up.
            self.counted_at = None;
            self.pick_with_counts(server, volatile, order)
        })
    }

    fn pick_with_counts(
        &mut self,
        server: &Server,
        volatile: bool,
        order: Order,
    ) -> Option<Candidate> {
        self.refresh_counts(server);
        let has = |c: &(usize, usize)| if volatile { c.1 > 0 } else { c.0 > 0 };
        let ks = &server.keyspace;
        if order == Order::Random {
            let dbs = self.counts.len();
            for i in 0..dbs {
                let db = (self.next_db + i) % dbs;
                if !has(&self.counts[db]) {
                    continue;
                }
                let mut sampled = None;
                ks.sample_keys(db, volatile, 1, |e| sampled = Some(e.key().into()));
                if let Some(key) = sampled {
                    self.next_db = db + 1;
                    return Some((0, db, key));
                }
            }
            return None;
        }
        let samples = server.config.hot.maxmemory_samples.load(Ordering::Relaxed) as usize;
        for db in 0..self.counts.len() {
            if !has(&self.counts[db]) {
                continue;
            }
            ks.sample_keys(db, volatile, samples.max(1), |e| {
                self.offer(score(order, e), db, e.key())
            });
        }
        self.pool.pop()
    }
}

/// How long one call may evict (`maxmemory-eviction-tenacity`, Redis's scale:
/// 500 µs at the default 10, unlimited at 100).
fn time_limit(tenacity: u64) -> Option<Duration> {
    match tenacity {
        0..=10 => Some(Duration::from_micros(50 * tenacity)),
        11..=99 => Some(Duration::from_micros(
            (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        )),
        _ => None,
    }
}

/// When memory went above the limit and stayed there (µs since the
/// epoch, 0 while within it), and the time spent above it before
/// (INFO current_/total_eviction_exceeded_time, as Redis keeps them).
static EXCEEDED_SINCE_US: AtomicU64 = AtomicU64::new(0);
static EXCEEDED_TOTAL_US: AtomicU64 = AtomicU64::new(0);

fn note_outcome(room: Room) {
    let since = EXCEEDED_SINCE_US.load(Ordering::Relaxed);
    if room == Room::Enough {
        if since != 0
            && EXCEEDED_SINCE_US
                .compare_exchange(since, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            EXCEEDED_TOTAL_US.fetch_add(crate::now_us().saturating_sub(since), Ordering::Relaxed);
        }
    } else if since == 0 {
        let _ = EXCEEDED_SINCE_US.compare_exchange(
            0,
            crate::now_us(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// (total, current) milliseconds spent above `maxmemory`.
pub(crate) fn exceeded_ms() -> (u64, u64) {
    let since = EXCEEDED_SINCE_US.load(Ordering::Relaxed);
    let current = if since == 0 {
        0
    } else {
        crate::now_us().saturating_sub(since)
    };
    (
        (EXCEEDED_TOTAL_US.load(Ordering::Relaxed) + current) / 1000,
        current / 1000,
    )
}

/// CONFIG RESETSTAT.
pub(crate) fn reset_exceeded() {
    EXCEEDED_TOTAL_US.store(0, Ordering::Relaxed);
    EXCEEDED_SINCE_US.store(0, Ordering::Relaxed);
}

/// Makes room before a command runs (memory above `maxmemory`): the
/// `evicted` events and invalidations the evictions caused go into `out`
/// ahead of the reply, as Redis evicts before it runs the command.
/// Returns whether commands that use memory must be refused.
pub(crate) fn before_command(
    server: &Server,
    client_id: u64,
    out: &mut Vec<u8>,
    now_ms: u64,
) -> bool {
    let (room, evicted) = make_room(server, now_ms);
    if evicted > 0 {
        notify::flush_before_command(server, now_ms, client_id, out);
        let at = out.len();
        crate::tracking::flush(server, Some((client_id, out, at)), now_ms);
    }
    room == Room::Exhausted
}

/// Evicts keys while the process holds more than `maxmemory`; returns what
/// that achieved and how many keys went. The caller sends the `evicted`
/// events and tracking invalidations they reported.
pub(crate) fn make_room(server: &Server, now_ms: u64) -> (Room, u64) {
    let (room, evicted) = evict(server, now_ms);
    note_outcome(room);
    (room, evicted)
}

fn evict(server: &Server, now_ms: u64) -> (Room, u64) {
    let hot = &server.config.hot;
    let limit = hot.maxmemory.load(Ordering::Relaxed) as usize;
    if limit == 0 || crate::used_memory() <= limit {
        return (Room::Enough, 0);
    }
    let Some((volatile, order)) = policy(hot.maxmemory_policy.load(Ordering::Relaxed)) else {
        return (Room::Exhausted, 0);
    };
    let Ok(mut state) = STATE.try_with(|s| s.take()) else {
        return (Room::Pending, 0);
    };
    let started = Instant::now();
    let deadline = time_limit(hot.eviction_tenacity.load(Ordering::Relaxed)).map(|d| started + d);
    let mut rounds = 0u64;
    let mut evicted = 0u64;
    let mut room = Room::Exhausted;
    let lazy = hot.lazy_eviction.load(Ordering::Relaxed);
    // Memory of evicted values handed to the lazyfree thread: already
    // counted as freed, as Redis counts it.
    let mut freeing = 0usize;
    while let Some((sampled, db, key)) = state.pick(server, volatile, order) {
        let mut locked = server.keyspace.lock(std::iter::once(&key[..]), now_ms);
        locked.touch = false;
        // A candidate used since it was sampled (a hot key read at the
        // LRU clock's tick) goes back to the pool with its score now.
        let now_score = locked.peek(db, &key).map(|e| score(order, e));
        if let Some(current) = now_score.filter(|s| *s < sampled) {
            drop(locked);
            state.offer(current, db, &key);
            continue;
        }
        let entry = locked.remove(db, &key);
        if entry.is_some() {
            // Logged under the key's lock, like every change.
            server.propagation.effect(db, &[b"DEL", &key]);
        }
        drop(locked);
        if let Some(entry) = entry {
            evicted += 1;
            server.stats.evicted_keys.incr();
            notify::emit(notify::EVICTED, "evicted", db, &key);
            // Redis's default sample size: a big value is not walked.
            let size = entry.mem_usage(5);
            // Freed here (or queued), on this thread, so that its memory
            // view shows it.
            if crate::lazyfree::free((*entry).into_value(), lazy) {
                freeing += size;
            }
        }
        if crate::used_memory().saturating_sub(freeing) <= limit {
            room = Room::Enough;
            break;
        }
        rounds += 1;
        if rounds.is_multiple_of(16) && deadline.is_some_and(|d| Instant::now() > d) {
            room = Room::Pending;
            break;
        }
    }
    let _ = STATE.try_with(|s| s.replace(state));
    crate::latency::sample_if_needed(
        server,
        "eviction-cycle",
        started.elapsed().as_millis() as u64,
    );
    (room, evicted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_best_sixteen() {
        let mut s = State::default();
        for i in 0..40u64 {
            s.offer((i * 7) % 40, 0, format!("k{i}").as_bytes());
        }
        s.offer(39, 0, b"k17"); // already there (score 39)
        assert_eq!(s.pool.len(), POOL_SIZE);
        let scores: Vec<u64> = s.pool.iter().map(|c| c.0).collect();
        assert_eq!(scores, (24..40).collect::<Vec<_>>());
        assert_eq!(s.pool.pop().map(|c| c.2), Some(b"k17".to_vec().into()));
    }

    #[test]
    fn tenacity_scale() {
        assert_eq!(time_limit(10), Some(Duration::from_micros(500)));
        assert_eq!(time_limit(0), Some(Duration::ZERO));
        assert!(time_limit(50).unwrap() > Duration::from_millis(100));
        assert_eq!(time_limit(100), None);
    }
}
