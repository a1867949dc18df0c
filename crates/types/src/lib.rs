//! Pure data structures for Ferrocache's value types: compact small encodings
//! that mirror the ones Redis uses for small collections.
//!
//! - [`listpack::Listpack`]: a packed sequence of byte strings in one buffer,
//!   used for small lists, hashes (field/value pairs) and sorted sets
//!   (member/score pairs).
//! - [`intset::IntSet`]: a sorted array of integers whose element width grows
//!   (16 → 32 → 64 bits) only when a value needs it, used for small sets of
//!   integers.
//!
//! Everything here is plain in-memory data manipulation. No I/O.

#![forbid(unsafe_code)]

pub mod geohash;
pub mod hash;
pub mod hll;
pub mod intset;
pub mod list;
pub mod listpack;
pub mod set;
pub mod stream;
pub mod zset;
pub mod zset_value;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset_value::ZSet;

/// Where small encodings convert to big ones: Redis's `*-max-listpack-*`,
/// `set-max-intset-entries` and `list-max-listpack-size` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `list-max-listpack-size`: > 0 entries per node, < 0 a byte size class
    /// (-1 = 4 KB ... -5 = 64 KB).
    pub list_max_listpack_size: i64,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl Default for Limits {
    /// Redis 7.2's defaults.
    fn default() -> Self {
        Limits {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

/// The capacity to allocate for a buffer that must hold `needed` bytes:
/// `needed` rounded up to an allocator-style size class (multiples of 8 up
/// to 16, of 16 up to 128, then four classes per power of two, as in
/// jemalloc).
///
/// Why: `Vec`'s doubling would leave up to half of a small encoding unused,
/// and exact-size reallocation would copy on every push. Size classes are
/// themselves geometric (~1.25x apart), so growing to the next class keeps
/// pushes amortised O(1) while wasting at most ~20%, and under jemalloc the
/// capacity is exactly what the allocator hands out.
pub(crate) fn size_class(needed: usize) -> usize {
    let step = if needed <= 16 {
        8
    } else {
        // Four classes between 2^k and 2^(k+1), never finer than 16 bytes.
        let log2 = usize::BITS - 1 - (needed - 1).leading_zeros();
        (1usize << log2.saturating_sub(2)).max(16)
    };
    needed.checked_next_multiple_of(step).unwrap_or(needed)
}

/// Makes room for `extra` more bytes in `buf`, growing to a [`size_class`].
pub(crate) fn reserve_class(buf: &mut Vec<u8>, extra: usize) {
    let needed = buf.len().saturating_add(extra);
    if needed > buf.capacity() {
        buf.reserve_exact(size_class(needed) - buf.len());
    }
}

/// Heap bytes of a table split into hashbrown segments: the tables
/// exactly, the elements' own allocations (`heap`) measured on `samples`
/// of them and scaled to all `len` (0: every one, as MEMORY USAGE SAMPLES
/// 0), so a big table is not walked in full.
pub(crate) fn segmented_mem_bytes<T>(
    segs: &Vec<hashbrown::HashTable<T>>,
    len: usize,
    samples: usize,
    heap: fn(&T) -> usize,
) -> usize {
    let tables = segs.capacity() * std::mem::size_of::<hashbrown::HashTable<T>>()
        + segs.iter().map(|s| s.allocation_size()).sum::<usize>();
    let limit = if samples == 0 { usize::MAX } else { samples };
    let (mut seen, mut bytes) = (0usize, 0usize);
    for e in segs.iter().flat_map(|s| s.iter()).take(limit) {
        bytes += heap(e);
        seen += 1;
    }
    tables + (bytes * len).checked_div(seen).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes() {
        let cases = [
            (0, 0),
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (100, 112),
            (128, 128),
            (129, 160),
            (1000, 1024),
            (1025, 1280),
            (70_000, 81_920),
        ];
        for (n, class) in cases {
            assert_eq!(size_class(n), class, "{n}");
        }
        for n in 1..100_000 {
            let c = size_class(n);
            // At most 15 bytes or a quarter of the request is wasted.
            assert!(c >= n && c - n < (n / 4).max(16), "{n} -> {c}");
        }
    }
}
