//! Elastic placement of Redis connections over the worker threads.
//!
//! Every worker costs wake-ups: spread over N threads, the same requests
//! arrive in smaller batches per `epoll_wait`, and on a machine whose cores
//! are shared (with the clients, with other services) the threads get in
//! each other's way. So new connections go to as few workers as the load
//! needs: at first one, as Redis's one event loop; when a worker's thread is
//! nearly always busy, one more worker takes half of its connections; when
//! one worker fewer could carry the load without nearing saturation, the
//! last one hands its connections back. The measure is each thread's busy
//! time: on a core, or runnable and waiting for one. CPU time alone would
//! miss a worker that its clients keep preempting (each reply wakes a
//! client onto the worker's core) while the other core has room.
//!
//! A busy thread does not prove that a second one helps: when the clients
//! wait for each reply, or every request wants the same key, two workers
//! serve no more requests than one, and each request costs more (thread
//! wake-ups, a contended lock). So a new worker is a trial: the request rate
//! with it is compared with the rate just before, and unless it rose by
//! [`TRIAL_GAIN`] the worker hands its connections back, and growth waits a
//! while (longer after each failed trial) before it is tried again.
//!
//! It is the default (`worker-placement elastic`, which CONFIG SET can
//! change at run time); `spread` places connections round robin over every
//! worker. Memcached nodes place their connections the same way (`-t`
//! sets how many workers there may be).

use std::time::Duration;

/// How often the balancer looks at the workers.
pub(crate) const BALANCE_EVERY: Duration = Duration::from_millis(100);
/// A worker this busy (share of the time) is saturated...
const GROW_ABOVE: f64 = 0.90;
/// ...when it is, this many looks in a row (their request rate is the
/// measure a trial has to beat); one look when the last trial was kept
/// (the load came back after a pause, a benchmark's next round).
const GROW_AFTER: u32 = 3;
/// A trial's first looks are not measured (connections are moving)...
const TRIAL_SETTLE: u32 = 2;
/// ...then this many are.
const TRIAL_LOOKS: u32 = 4;
/// A new worker stays if the request rate rose at least this much.
const TRIAL_GAIN: f64 = 1.02;
/// After a failed trial, looks before the next one: the first wait, and
/// the longest (each failure doubles it).
const HOLD_FIRST: u32 = 30;
const HOLD_MAX: u32 = 600;
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
    /// Each worker's busy time (ns) at the last look.
    last: Vec<Option<u64>>,
    /// Requests served (a running total) at the last look.
    last_work: Option<u64>,
    hot: u32,
    /// Requests per second over the current run of hot looks.
    hot_rate: f64,
    cold: u32,
    trial: Option<Trial>,
    /// Looks left before growth may be tried again, and the wait the next
    /// failed trial sets.
    hold: u32,
    next_hold: u32,
    /// The last trial kept its worker.
    proven: bool,
}

/// A worker added on trial (the last active one).
struct Trial {
    /// Requests per second before it.
    before: f64,
    looks: u32,
    /// Requests per second summed over the measured looks.
    rate_sum: f64,
}

impl Balancer {
    pub(crate) fn new(workers: usize, elastic: bool) -> Balancer {
        Balancer {
            workers,
            elastic,
            active: if elastic { 1 } else { workers },
            next: 0,
            last: vec![None; workers],
            last_work: None,
            hot: 0,
            hot_rate: 0.0,
            cold: 0,
            trial: None,
            hold: 0,
            next_hold: HOLD_FIRST,
            proven: false,
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
            self.trial = None;
        }
    }

    /// How many workers take new connections.
    pub(crate) fn active(&self) -> usize {
        self.active
    }

    /// One look at the workers: their threads' busy time now (ns; None
    /// when unknown) and the requests served so far, `elapsed` after the
    /// last look. Returns connections to move.
    pub(crate) fn observe(
        &mut self,
        busy_ns: &[Option<u64>],
        work: u64,
        elapsed: Duration,
    ) -> Option<Move> {
        let rate = match self.last_work.replace(work) {
            Some(last) => work.saturating_sub(last) as f64 / elapsed.as_secs_f64().max(1e-3),
            None => 0.0,
        };
        let busy: Vec<f64> = busy_ns
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
        if self.trial.is_some() {
            return self.trial_look(rate);
        }
        let total: f64 = busy.iter().sum();
        if peak > GROW_ABOVE {
            self.hot += 1;
            self.hot_rate += (rate - self.hot_rate) / self.hot as f64;
        } else {
            self.hot = 0;
        }
        self.cold = if self.active > 1 && total < SHRINK_BELOW * (self.active - 1) as f64 {
            self.cold + 1
        } else {
            0
        };
        self.hold = self.hold.saturating_sub(1);
        let grow_after = if self.proven { 1 } else { GROW_AFTER };
        if self.hot >= grow_after && self.active < self.workers && self.hold == 0 {
            self.trial = Some(Trial {
                before: self.hot_rate,
                looks: 0,
                rate_sum: 0.0,
            });
            self.hot = 0;
            self.active += 1;
            return Some(Move {
                from: busiest,
                to: vec![self.active - 1],
                every: 2,
            });
        }
        if self.cold >= SHRINK_AFTER {
            return Some(self.shrink());
        }
        None
    }

    /// One look during a trial: after it settled, the measured looks'
    /// request rate against the one before it decides whether the worker
    /// stays (None) or hands its connections back.
    fn trial_look(&mut self, rate: f64) -> Option<Move> {
        let trial = self.trial.as_mut()?;
        trial.looks += 1;
        if trial.looks > TRIAL_SETTLE {
            trial.rate_sum += rate;
        }
        if trial.looks < TRIAL_SETTLE + TRIAL_LOOKS {
            return None;
        }
        let after = trial.rate_sum / TRIAL_LOOKS as f64;
        let before = trial.before;
        self.trial = None;
        let gained = after >= before * TRIAL_GAIN;
        tracing::debug!(
            "worker {} on trial: {before:.0} requests/s before, {after:.0} with it: {}",
            self.active - 1,
            if gained { "kept" } else { "given back" }
        );
        self.proven = gained;
        if gained {
            self.next_hold = HOLD_FIRST;
            return None;
        }
        self.hold = self.next_hold;
        self.next_hold = (self.next_hold * 2).min(HOLD_MAX);
        Some(self.shrink())
    }

    /// One worker fewer: the last active one hands its connections back.
    fn shrink(&mut self) -> Move {
        self.cold = 0;
        self.active -= 1;
        Move {
            from: self.active,
            to: (0..self.active).collect(),
            every: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOK: Duration = BALANCE_EVERY;

    /// A balancer fed with made-up looks.
    struct Sim {
        b: Balancer,
        busy_ns: Vec<Option<u64>>,
        work: u64,
    }

    impl Sim {
        fn new(workers: usize, elastic: bool) -> Sim {
            let mut sim = Sim {
                b: Balancer::new(workers, elastic),
                busy_ns: vec![Some(0); workers],
                work: 0,
            };
            sim.b.observe(&sim.busy_ns, 0, LOOK);
            sim
        }

        /// A look after which worker i was busy (running or runnable) `busy[i]` of the time while
        /// `rate` requests per second were served.
        fn look(&mut self, busy: &[f64], rate: f64) -> Option<Move> {
            for (c, b) in self.busy_ns.iter_mut().zip(busy) {
                *c = Some(c.unwrap_or(0) + (LOOK.as_nanos() as f64 * b) as u64);
            }
            self.work += (rate * LOOK.as_secs_f64()) as u64;
            self.b.observe(&self.busy_ns, self.work, LOOK)
        }

        /// `n` looks alike; the moves they returned.
        fn looks(&mut self, n: u32, busy: &[f64], rate: f64) -> Vec<Move> {
            (0..n).filter_map(|_| self.look(busy, rate)).collect()
        }
    }

    fn moved(from: usize, to: &[usize], every: usize) -> Vec<Move> {
        vec![Move {
            from,
            to: to.to_vec(),
            every,
        }]
    }

    #[test]
    fn starts_on_one_worker_and_keeps_another_that_raises_the_rate() {
        let mut sim = Sim::new(3, true);
        assert_eq!(
            (0..4).map(|_| sim.b.place()).collect::<Vec<_>>(),
            [0, 0, 0, 0]
        );
        // Busy but not saturated (a load generator sharing the cores).
        assert_eq!(sim.looks(10, &[0.8, 0.0, 0.0], 1e5), []);
        assert_eq!(
            sim.looks(GROW_AFTER, &[0.97, 0.0, 0.0], 1e5),
            moved(0, &[1], 2)
        );
        assert_eq!(sim.b.active(), 2);
        assert_eq!(
            (0..4).map(|_| sim.b.place()).collect::<Vec<_>>(),
            [0, 1, 0, 1]
        );
        // 20% more requests with it: it stays.
        let trial = TRIAL_SETTLE + TRIAL_LOOKS;
        assert_eq!(sim.looks(trial, &[0.95, 0.9, 0.0], 1.2e5), []);
        assert_eq!(sim.b.active(), 2);
        // Both saturated: the busier one gives half to the third.
        assert_eq!(
            sim.looks(GROW_AFTER, &[0.95, 0.99, 0.0], 1.2e5),
            moved(1, &[2], 2)
        );
        // Never more than there are.
        assert_eq!(sim.looks(trial, &[1.0, 1.0, 1.0], 1.5e5), []);
        assert_eq!(sim.looks(5, &[1.0, 1.0, 1.0], 1.5e5), []);
        assert_eq!(sim.b.active(), 3);
    }

    #[test]
    fn a_worker_that_does_not_raise_the_rate_goes_back_and_growth_waits() {
        let mut sim = Sim::new(2, true);
        let trial = TRIAL_SETTLE + TRIAL_LOOKS;
        assert_eq!(sim.looks(GROW_AFTER, &[0.99, 0.0], 1e5), moved(0, &[1], 2));
        // Two busy workers serve no more than one did.
        assert_eq!(sim.looks(trial, &[0.9, 0.9], 1.01e5), moved(1, &[0], 1));
        assert_eq!(sim.b.active(), 1);
        // Saturated again: no new trial before the hold is over...
        assert_eq!(sim.looks(HOLD_FIRST - 1, &[0.99, 0.0], 1e5), []);
        // ...then one, which fails as well...
        assert_eq!(
            sim.look(&[0.99, 0.0], 1e5),
            Some(moved(0, &[1], 2).remove(0))
        );
        assert_eq!(sim.looks(trial, &[0.9, 0.9], 0.9e5), moved(1, &[0], 1));
        // ...and the next wait is twice as long.
        assert_eq!(sim.looks(2 * HOLD_FIRST - 1, &[0.99, 0.0], 1e5), []);
        assert_eq!(sim.looks(1, &[0.99, 0.0], 1e5), moved(0, &[1], 2));
    }

    #[test]
    fn shrinks_when_one_worker_fewer_can_carry_the_load() {
        let mut sim = Sim::new(2, true);
        sim.looks(GROW_AFTER, &[1.0, 0.0], 1e5);
        sim.looks(TRIAL_SETTLE + TRIAL_LOOKS, &[0.9, 0.9], 1.5e5);
        assert_eq!(sim.b.active(), 2);
        // Together more than one worker should carry.
        assert_eq!(sim.looks(20, &[0.5, 0.45], 1e5), []);
        assert_eq!(sim.looks(SHRINK_AFTER - 1, &[0.4, 0.35], 1e5), []);
        assert_eq!(sim.looks(1, &[0.4, 0.35], 1e5), moved(1, &[0], 1));
        assert_eq!(sim.b.active(), 1);
        // The load comes back: the worker that helped last time returns
        // at the first saturated look.
        assert_eq!(
            sim.look(&[0.99, 0.0], 1e5),
            Some(moved(0, &[1], 2).remove(0))
        );
    }

    #[test]
    fn switching_placement_at_run_time() {
        let mut sim = Sim::new(2, true);
        assert_eq!(sim.b.active(), 1);
        sim.b.set_elastic(false);
        assert_eq!(sim.b.active(), 2);
        assert_eq!(
            (0..4).map(|_| sim.b.place()).collect::<Vec<_>>(),
            [0, 1, 0, 1]
        );
        sim.b.set_elastic(true);
        // Idle workers: one fewer after SHRINK_AFTER looks.
        assert_eq!(sim.looks(SHRINK_AFTER, &[0.1, 0.1], 1e3), moved(1, &[0], 1));
        assert_eq!(sim.b.active(), 1);
    }

    #[test]
    fn spread_placement_never_moves_anything() {
        let mut sim = Sim::new(2, false);
        assert_eq!(
            (0..4).map(|_| sim.b.place()).collect::<Vec<_>>(),
            [0, 1, 0, 1]
        );
        assert_eq!(sim.looks(20, &[1.0, 0.0], 1e5), []);
    }
}
