//! Byte strings stored inline when short (no allocation), on the heap otherwise.

use std::ops::Deref;

/// Bytes that fit in [`CompactBytes`] without a heap allocation.
pub const INLINE_CAP: usize = 22;

/// A byte string of 24 bytes: inline up to [`INLINE_CAP`] bytes, else boxed.
/// Most keys and many values are short, so this saves an allocation and a
/// pointer chase per key.
#[derive(Clone, PartialEq, Eq)]
pub enum CompactBytes {
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl CompactBytes {
    pub fn new(b: &[u8]) -> Self {
        if b.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
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

impl Deref for CompactBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, buf } => &buf[..*len as usize],
            CompactBytes::Heap(b) => b,
        }
    }
}

impl std::fmt::Debug for CompactBytes {
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
        for n in [0, 1, 22, 23, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            let c = CompactBytes::new(&v);
            assert_eq!(&*c, &v[..]);
            assert_eq!(matches!(c, CompactBytes::Inline { .. }), n <= INLINE_CAP);
        }
    }
}
