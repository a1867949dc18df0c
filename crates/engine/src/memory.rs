//! Memory accounting: a global-allocator wrapper that counts the bytes the
//! process holds (rounded up to jemalloc's size classes, what the allocator
//! really hands out), so `used_memory` and the maxmemory check before every
//! command cost one atomic load, as Redis's zmalloc counter does.
//!
//! Each thread keeps its running delta in a thread-local and folds it into
//! the shared counter once it reaches [`FOLD_AT`] bytes either way: the
//! shared atomic is touched once per few dozen small allocations, and a
//! thread reads its own exact view with [`used_memory`].

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Bytes held, as folded in by every thread.
static USED: AtomicIsize = AtomicIsize::new(0);
/// Set by [`enable`] (unit tests run without the counting allocator).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Declares that [`Counting`] is the process's global allocator, so that
/// [`used_memory`] reports its count. Call once, first thing in `main`.
pub fn enable() {
    INSTALLED.store(true, Ordering::Relaxed);
}
/// A thread's unfolded delta is at most this far from zero.
const FOLD_AT: isize = 4096;

thread_local! {
    // Const-initialised without a destructor: usable inside the allocator.
    static LOCAL: Cell<isize> = const { Cell::new(0) };
}

/// jemalloc's size class for a request of `size` bytes: four classes per
/// doubling above 64 bytes (16-byte spacing below), the same rule for
/// small and large allocations.
#[inline]
pub fn size_class(size: usize) -> usize {
    if size <= 8 {
        return 8;
    }
    let lg = usize::BITS - 1 - (size - 1).leading_zeros();
    let spacing = 1usize << lg.saturating_sub(2).max(4);
    (size + spacing - 1) & !(spacing - 1)
}

#[inline]
fn account(delta: isize) {
    let folded = LOCAL.try_with(|local| {
        let v = local.get() + delta;
        if v.abs() >= FOLD_AT {
            USED.fetch_add(v, Ordering::Relaxed);
            local.set(0);
        } else {
            local.set(v);
        }
    });
    if folded.is_err() {
        // A thread past its thread-locals' teardown.
        USED.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Bytes the process holds as seen from this thread (the shared counter
/// plus this thread's unfolded delta), or None when the counting allocator
/// is not installed.
pub fn used_memory() -> Option<usize> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    let local = LOCAL.try_with(Cell::get).unwrap_or(0);
    Some((USED.load(Ordering::Relaxed) + local).max(0) as usize)
}

/// The global allocator: `inner` does the work, every block is counted.
pub struct Counting<A>(pub A);

fn counted(layout: &Layout) -> isize {
    size_class(layout.size().max(layout.align())) as isize
}

// SAFETY: every call is forwarded unchanged to the inner allocator, which
// upholds GlobalAlloc's contract; the counting only touches a const
// thread-local and an atomic (it never allocates).
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            account(counted(&layout));
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            account(counted(&layout));
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-counted(&layout));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let new = size_class(new_size.max(layout.align())) as isize;
            account(new - counted(&layout));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_match_jemalloc() {
        let je = tikv_jemallocator::Jemalloc;
        for size in (1..5000).chain((5000..3_000_000).step_by(997)) {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero size; the block is freed with the same layout.
            unsafe {
                let p = je.alloc(layout);
                assert!(!p.is_null());
                let usable = tikv_jemallocator::usable_size(p);
                je.dealloc(p, layout);
                assert_eq!(size_class(size), usable, "size {size}");
            }
        }
    }

    #[test]
    fn counts_allocations_and_frees() {
        let counting = Counting(tikv_jemallocator::Jemalloc);
        // Run on a fresh thread: its thread-local starts at zero.
        std::thread::spawn(move || {
            let layout = Layout::from_size_align(100_000, 8).unwrap();
            let before = USED.load(Ordering::Relaxed) + LOCAL.with(Cell::get);
            // SAFETY: allocated and freed with the same layout.
            unsafe {
                let p = counting.alloc(layout);
                let grown = counting.realloc(p, layout, 200_000);
                let during = USED.load(Ordering::Relaxed) + LOCAL.with(Cell::get);
                assert_eq!(during - before, size_class(200_000) as isize);
                counting.dealloc(grown, Layout::from_size_align(200_000, 8).unwrap());
            }
            let after = USED.load(Ordering::Relaxed) + LOCAL.with(Cell::get);
            assert_eq!(after, before);
        })
        .join()
        .unwrap();
    }
}
