//! Byte strings stored inline when short (no allocation), on the heap otherwise.

use std::ops::Deref;

/// Bytes a key holds without a heap allocation: the key's [`CompactBytes`]
/// is then 24 bytes.
pub const INLINE_CAP: usize = 22;

/// Bytes a short string value holds without a heap allocation: its
/// [`CompactBytes`] is 40 bytes, which keeps an entry (key, value, TTL,
/// access data) at 80 bytes, one allocator size class, with a value of up to
/// 38 bytes inside it. A separate 32-byte value would cost 32 more bytes and
/// a pointer chase.
pub const VALUE_INLINE_CAP: usize = 38;

/// A byte string of `N + 2` bytes rounded up to 8: inline up to `N` bytes,
/// else boxed. Most keys and many values are short, so this saves an
/// allocation and a pointer chase per key.
#[derive(Clone, PartialEq, Eq)]
pub enum CompactBytes<const N: usize = INLINE_CAP> {
    Inline { len: u8, buf: [u8; N] },
    Heap(Box<[u8]>),
}

impl<const N: usize> CompactBytes<N> {
    pub fn new(b: &[u8]) -> Self {
        if b.len() <= N {
            let mut buf = [0u8; N];
            buf[..b.len()].copy_from_slice(b);
            CompactBytes::Inline {
                len: b.len() as u8,
                buf,
            }
        } else {
            CompactBytes::Heap(b.into())
        }
    }
}

impl<const N: usize> Deref for CompactBytes<N> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, buf } => &buf[..*len as usize],
            CompactBytes::Heap(b) => b,
        }
    }
}

impl<const N: usize> std::fmt::Debug for CompactBytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
        assert_eq!(std::mem::size_of::<CompactBytes<VALUE_INLINE_CAP>>(), 40);
        for n in [0, 1, 22, 23, 38, 39, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            let c = CompactBytes::<INLINE_CAP>::new(&v);
            assert_eq!(&*c, &v[..]);
            assert_eq!(matches!(c, CompactBytes::Inline { .. }), n <= INLINE_CAP);
            let c = CompactBytes::<VALUE_INLINE_CAP>::new(&v);
            assert_eq!(&*c, &v[..]);
            assert_eq!(
                matches!(c, CompactBytes::Inline { .. }),
                n <= VALUE_INLINE_CAP
            );
        }
    }
}
