//! Statistics counters that many threads bump without sharing cache lines:
//! each thread adds to its own stripe; readers sum the stripes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const STRIPES: usize = 8;

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

fn stripe() -> usize {
    STRIPE.with(|s| *s)
}

/// One cache line of `N` counters.
#[repr(align(64))]
struct Line<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Line<N> {
    fn default() -> Self {
        Line(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// `N` related counters (e.g. calls and microseconds of one command),
/// striped by thread.
pub struct Counters<const N: usize> {
    lines: [Line<N>; STRIPES],
}

impl<const N: usize> Default for Counters<N> {
    fn default() -> Self {
        Counters {
            lines: std::array::from_fn(|_| Line::default()),
        }
    }
}

impl<const N: usize> Counters<N> {
    #[inline]
    pub fn add(&self, i: usize, v: u64) {
        self.lines[stripe()].0[i].fetch_add(v, Ordering::Relaxed);
    }

    pub fn get(&self, i: usize) -> u64 {
        self.lines
            .iter()
            .map(|l| l.0[i].load(Ordering::Relaxed))
            .sum()
    }

    pub fn reset(&self) {
        for l in &self.lines {
            for c in &l.0 {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// A single striped counter.
#[derive(Default)]
pub struct Counter(Counters<1>);

impl Counter {
    #[inline]
    pub fn add(&self, v: u64) {
        self.0.add(0, v);
    }

    #[inline]
    pub fn incr(&self) {
        self.0.add(0, 1);
    }

    pub fn get(&self) -> u64 {
        self.0.get(0)
    }

    pub fn reset(&self) {
        self.0.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_across_threads() {
        let c = std::sync::Arc::new(Counter::default());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.incr();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.get(), 4000);
        c.reset();
        assert_eq!(c.get(), 0);
    }
}
