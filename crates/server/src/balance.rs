//! Elastic placement of Redis connections over the worker threads.
//!
//! Every worker costs wake-ups: spread over N threads, the same requests
//! arrive in smaller batches per `epoll_wait`, and on a machine whose cores
//! are shared (with the clients, with other services) the threads get in
//! each other's way. So new connections go to as few workers as the load
//! needs: at first one, as Redis's one event loop; when a worker's thread is
//! nearly always busy, one more worker takes half of its connections; when
//! one worker fewer could carry the load without nearing saturation, the
//! last one hands its connections back. The measure is each thread's CPU time, which a thread that waits
//! for a core does not gain: a worker that cannot get more CPU is not given
//! company it could not use.
//!
//! It is the default (`worker-placement elastic`, which CONFIG SET can
//! change at run time); `spread` places connections round robin over every
//! worker. Memcached nodes always spread.

use std::time::Duration;

/// How often the balancer looks at the workers.
pub(crate) const BALANCE_EVERY: Duration = Duration::from_millis(100);
/// A worker this busy (share of one core) is saturated...
const GROW_ABOVE: f64 = 0.90;
/// ...when it is, this many looks in a row.
const GROW_AFTER: u32 = 2;
/// The workers together using less than this share of a core per worker
/// that would remain (so none of them would near `GROW_ABOVE`)...
const SHRINK_BELOW: f64 = 0.80;
/// ...this many looks in a row (2 s): one worker fewer.
const SHRINK_AFTER: u32 = 20;

/// Connections to move from one worker to others.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Move {
    pub from: usize,
    /// The receiving workers, in turn.
    pub to: Vec<usize>,
    /// One movable connection in this many (1: all of them).
    pub every: usize,
}

pub(crate) struct Balancer {
    workers: usize,
    elastic: bool,
    /// Workers that take new connections: the first `active`.
    active: usize,
    next: usize,
    /// Each worker's CPU time (ns) at the last look.
    last: Vec<Option<u64>>,
    hot: u32,
    cold: u32,
}

impl Balancer {
    pub(crate) fn new(workers: usize, elastic: bool) -> Balancer {
        Balancer {
            workers,
            elastic,
            active: if elastic { 1 } else { workers },
            next: 0,
            last: vec![None; workers],
            hot: 0,
            cold: 0,
        }
    }

    /// The worker a new connection goes to.
    pub(crate) fn place(&mut self) -> usize {
        let w = self.next % self.active;
        self.next = self.next.wrapping_add(1);
        w
    }

    /// Switches the placement (CONFIG SET worker-placement). Spread takes
    /// every worker at once; elastic starts from where things are and
    /// gathers connections as the load allows.
    pub(crate) fn set_elastic(&mut self, elastic: bool) {
        if elastic != self.elastic {
            self.elastic = elastic;
            self.active = self.workers;
            self.hot = 0;
            self.cold = 0;
        }
    }

    /// How many workers take new connections.
    pub(crate) fn active(&self) -> usize {
        self.active
    }

    /// One look at the workers: their threads' CPU time now (ns; None when
    /// unknown), `elapsed` after the last look. Returns connections to move.
    pub(crate) fn observe(&mut self, cpu: &[Option<u64>], elapsed: Duration) -> Option<Move> {
        let busy: Vec<f64> = cpu
            .iter()
            .zip(&mut self.last)
            .map(|(now, last)| {
                let used = match (*now, *last) {
                    (Some(now), Some(last)) => now.saturating_sub(last),
                    _ => 0,
                };
                *last = *now;
                used as f64 / elapsed.as_nanos().max(1) as f64
            })
            .collect();
        if !self.elastic || busy.len() != self.workers {
            return None;
        }
        let (busiest, peak) =
            busy[..self.active]
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, 0.0),
                    |best, (i, b)| if b > best.1 { (i, b) } else { best },
                );
        let total: f64 = busy.iter().sum();
        self.hot = if peak > GROW_ABOVE { self.hot + 1 } else { 0 };
        self.cold = if self.active > 1 && total < SHRINK_BELOW * (self.active - 1) as f64 {
            self.cold + 1
        } else {
            0
        };
        if self.hot >= GROW_AFTER && self.active < self.workers {
            self.hot = 0;
            self.active += 1;
            return Some(Move {
                from: busiest,
                to: vec![self.active - 1],
                every: 2,
            });
        }
        if self.cold >= SHRINK_AFTER {
            self.cold = 0;
            self.active -= 1;
            return Some(Move {
                from: self.active,
                to: (0..self.active).collect(),
                every: 1,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOK: Duration = BALANCE_EVERY;

    /// CPU times after a look in which worker i used `busy[i]` of a core.
    fn after(cpu: &mut [Option<u64>], busy: &[f64]) -> Vec<Option<u64>> {
        for (c, b) in cpu.iter_mut().zip(busy) {
            *c = Some(c.unwrap_or(0) + (LOOK.as_nanos() as f64 * b) as u64);
        }
        cpu.to_vec()
    }

    #[test]
    fn starts_on_one_worker_and_grows_when_it_is_saturated() {
        let mut b = Balancer::new(3, true);
        assert_eq!((0..4).map(|_| b.place()).collect::<Vec<_>>(), [0, 0, 0, 0]);
        let mut cpu = vec![Some(0); 3];
        b.observe(&cpu, LOOK);
        // Busy but not saturated (a load generator sharing the cores).
        for _ in 0..10 {
            assert_eq!(b.observe(&after(&mut cpu, &[0.8, 0.0, 0.0]), LOOK), None);
        }
        assert_eq!(b.observe(&after(&mut cpu, &[0.97, 0.0, 0.0]), LOOK), None);
        assert_eq!(
            b.observe(&after(&mut cpu, &[0.97, 0.0, 0.0]), LOOK),
            Some(Move {
                from: 0,
                to: vec![1],
                every: 2
            })
        );
        assert_eq!(b.active(), 2);
        assert_eq!((0..4).map(|_| b.place()).collect::<Vec<_>>(), [0, 1, 0, 1]);
        // Both saturated: the busier one gives half to the third.
        b.observe(&after(&mut cpu, &[0.95, 0.99, 0.0]), LOOK);
        assert_eq!(
            b.observe(&after(&mut cpu, &[0.95, 0.99, 0.0]), LOOK),
            Some(Move {
                from: 1,
                to: vec![2],
                every: 2
            })
        );
        // Never more than there are.
        for _ in 0..5 {
            assert_eq!(b.observe(&after(&mut cpu, &[1.0, 1.0, 1.0]), LOOK), None);
        }
    }

    #[test]
    fn shrinks_when_one_worker_fewer_can_carry_the_load() {
        let mut b = Balancer::new(2, true);
        let mut cpu = vec![Some(0); 2];
        b.observe(&cpu, LOOK);
        for _ in 0..GROW_AFTER {
            b.observe(&after(&mut cpu, &[1.0, 0.0]), LOOK);
        }
        assert_eq!(b.active(), 2);
        // Together more than one worker should carry.
        for _ in 0..20 {
            assert_eq!(b.observe(&after(&mut cpu, &[0.5, 0.45]), LOOK), None);
        }
        for _ in 0..SHRINK_AFTER - 1 {
            assert_eq!(b.observe(&after(&mut cpu, &[0.4, 0.35]), LOOK), None);
        }
        assert_eq!(
            b.observe(&after(&mut cpu, &[0.4, 0.35]), LOOK),
            Some(Move {
                from: 1,
                to: vec![0],
                every: 1
            })
        );
        assert_eq!(b.active(), 1);
    }

    #[test]
    fn switching_placement_at_run_time() {
        let mut b = Balancer::new(2, true);
        assert_eq!(b.active(), 1);
        b.set_elastic(false);
        assert_eq!(b.active(), 2);
        assert_eq!((0..4).map(|_| b.place()).collect::<Vec<_>>(), [0, 1, 0, 1]);
        b.set_elastic(true);
        // Idle workers: one fewer after SHRINK_AFTER looks.
        let mut cpu = vec![Some(0); 2];
        b.observe(&cpu, LOOK);
        let moves: Vec<_> = (0..SHRINK_AFTER)
            .filter_map(|_| b.observe(&after(&mut cpu, &[0.1, 0.1]), LOOK))
            .collect();
        assert_eq!(
            moves,
            [Move {
                from: 1,
                to: vec![0],
                every: 1
            }]
        );
        assert_eq!(b.active(), 1);
    }

    #[test]
    fn spread_placement_never_moves_anything() {
        let mut b = Balancer::new(2, false);
        assert_eq!((0..4).map(|_| b.place()).collect::<Vec<_>>(), [0, 1, 0, 1]);
        let mut cpu = vec![Some(0); 2];
        for _ in 0..20 {
            assert_eq!(b.observe(&after(&mut cpu, &[1.0, 0.0]), LOOK), None);
        }
    }
}
