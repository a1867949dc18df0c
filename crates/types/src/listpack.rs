//! A listpack: a compact sequence of byte strings packed into one `Vec<u8>`.
//!
//! This is the encoding Redis uses for small lists, hashes and sorted sets:
//! instead of one heap allocation per element (plus pointers), every entry is
//! laid out back to back in a single buffer, which costs only two or three
//! bytes of overhead per entry for short values.
//!
//! # Entry layout
//!
//! ```text
//! +----------------+--------------+-------------------+
//! | header: varint | data (N B)   | backlen: rev-var  |
//! +----------------+--------------+-------------------+
//! ```
//!
//! - `header` is the data length `N` as an LEB128 varint (7 bits per byte,
//!   least significant group first, high bit = "more bytes follow"), so it is
//!   read left to right.
//! - `backlen` is the length of `header + data` encoded so that it can be
//!   read *right to left*: the same 7-bit groups in reverse byte order, the
//!   rightmost byte holding the least significant group, the high bit meaning
//!   "more bytes to the left". This is what lets [`Listpack::pop_back`] and
//!   reverse iteration step backwards without scanning from the start, exactly
//!   like Redis's `lpPrev`.
//!
//! Both varints are minimal, so equal contents always have equal bytes and
//! `PartialEq` can compare buffers directly. Unlike Redis, integers are not
//! special-cased: every entry is a byte string.
//!
//! Operations that address an entry by index walk from whichever end is
//! nearer; everything is at most O(n) in the number of entries (plus a
//! memmove of the buffer), which is fine because listpacks are kept small.

use std::fmt;
use std::iter::FusedIterator;
use std::ops::Range;

/// Maximum bytes in an LEB128 encoding of a 64-bit length.
const MAX_VARINT: usize = 10;

/// Writes `v` as a minimal LEB128 varint into `out`, returning its length.
fn encode_varint(mut v: usize, out: &mut [u8; MAX_VARINT]) -> usize {
    let mut i = 0;
    loop {
        let group = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[i] = group;
            return i + 1;
        }
        out[i] = group | 0x80;
        i += 1;
    }
}

/// Number of bytes [`encode_varint`] uses for `v`.
fn varint_len(v: usize) -> usize {
    let bits = usize::BITS - v.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

/// Decodes the varint starting at `buf[pos]`: `(value, bytes used)`.
fn decode_varint(buf: &[u8], pos: usize) -> (usize, usize) {
    let mut v = 0usize;
    let mut i = 0;
    loop {
        let b = buf[pos + i];
        v |= usize::from(b & 0x7f) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
    }
}

/// Writes `v` as a backlen (a varint laid out to be read right to left).
fn encode_backlen(v: usize, out: &mut [u8; MAX_VARINT]) -> usize {
    let n = encode_varint(v, out);
    out[..n].reverse();
    n
}

/// Decodes the backlen that ends just before `buf[end]`: `(value, bytes used)`.
fn decode_backlen(buf: &[u8], end: usize) -> (usize, usize) {
    let mut v = 0usize;
    let mut i = 0;
    loop {
        let b = buf[end - 1 - i];
        v |= usize::from(b & 0x7f) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
    }
}

/// Byte offsets of one encoded entry inside the buffer.
#[derive(Clone, Copy, Debug)]
struct Span {
    /// First byte of the header.
    start: usize,
    /// First byte of the data.
    data: usize,
    /// One past the last data byte (= first byte of the backlen).
    data_end: usize,
    /// One past the last byte of the backlen (= start of the next entry).
    end: usize,
}

impl Span {
    fn range(self) -> Range<usize> {
        self.start..self.end
    }

    fn data(self) -> Range<usize> {
        self.data..self.data_end
    }
}

/// Decodes the entry that starts at `buf[start]`.
fn span_at(buf: &[u8], start: usize) -> Span {
    let (n, h) = decode_varint(buf, start);
    let data = start + h;
    let data_end = data + n;
    Span {
        start,
        data,
        data_end,
        end: data_end + varint_len(h + n),
    }
}

/// Decodes the entry that ends just before `buf[end]`.
fn span_before(buf: &[u8], end: usize) -> Span {
    let (l, b) = decode_backlen(buf, end);
    let data_end = end - b;
    let start = data_end - l;
    let (_, h) = decode_varint(buf, start);
    Span {
        start,
        data: start + h,
        data_end,
        end,
    }
}

/// A compact packed sequence of byte strings; see the [module docs](self).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Listpack {
    /// The encoded entries, back to back.
    buf: Vec<u8>,
    /// Number of entries (kept so `len` and index walks need no scan).
    len: usize,
}

impl Listpack {
    /// An empty listpack (no allocation).
    pub const fn new() -> Self {
        Listpack {
            buf: Vec::new(),
            len: 0,
        }
    }

    /// An empty listpack with room for `bytes` bytes of encoded entries.
    pub fn with_capacity(bytes: usize) -> Self {
        Listpack {
            buf: Vec::with_capacity(bytes),
            len: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held: the capacity of the buffer.
    pub fn mem_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes of encoded entries (what Redis compares against byte-size
    /// limits such as a negative `list-max-listpack-size`).
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes a single entry holding `data_len` bytes occupies once encoded.
    pub fn entry_encoded_len(data_len: usize) -> usize {
        let h = varint_len(data_len);
        h + data_len + varint_len(h + data_len)
    }

    /// Removes every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.len = 0;
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Appends an entry.
    pub fn push_back(&mut self, data: &[u8]) {
        let end = self.buf.len();
        self.splice_entry(end..end, data);
        self.len += 1;
    }

    /// Prepends an entry.
    pub fn push_front(&mut self, data: &[u8]) {
        self.splice_entry(0..0, data);
        self.len += 1;
    }

    /// Removes and returns the first entry.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let span = span_at(&self.buf, 0);
        Some(self.take(span))
    }

    /// Removes and returns the last entry.
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let span = span_before(&self.buf, self.buf.len());
        Some(self.take(span))
    }

    /// The first entry.
    pub fn front(&self) -> Option<&[u8]> {
        self.iter().next()
    }

    /// The last entry.
    pub fn back(&self) -> Option<&[u8]> {
        self.iter().next_back()
    }

    /// The entry at index `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        Some(&self.buf[self.locate(i).data()])
    }

    /// Replaces the entry at index `i`; false (and no change) if `i` is out
    /// of range.
    pub fn set(&mut self, i: usize, data: &[u8]) -> bool {
        if i >= self.len {
            return false;
        }
        let span = self.locate(i);
        self.splice_entry(span.range(), data);
        true
    }

    /// Inserts an entry so that it ends up at index `i` (`i == len()`
    /// appends); false (and no change) if `i > len()`.
    pub fn insert(&mut self, i: usize, data: &[u8]) -> bool {
        if i > self.len {
            return false;
        }
        let at = if i == self.len {
            self.buf.len()
        } else {
            self.locate(i).start
        };
        self.splice_entry(at..at, data);
        self.len += 1;
        true
    }

    /// Removes and returns the entry at index `i`.
    pub fn remove(&mut self, i: usize) -> Option<Vec<u8>> {
        if i >= self.len {
            return None;
        }
        let span = self.locate(i);
        Some(self.take(span))
    }

    /// Removes up to `count` entries starting at index `start` (clamped to
    /// the end); returns how many were removed.
    pub fn remove_range(&mut self, start: usize, count: usize) -> usize {
        if start >= self.len || count == 0 {
            return 0;
        }
        let n = count.min(self.len - start);
        let from = self.locate(start).start;
        let to = if start + n == self.len {
            self.buf.len()
        } else {
            (0..n).fold(from, |pos, _| span_at(&self.buf, pos).end)
        };
        self.buf.drain(from..to);
        self.len -= n;
        n
    }

    /// Iterates over the entries, front to back (reversible with `.rev()`).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            front: 0,
            back: self.buf.len(),
            remaining: self.len,
        }
    }

    /// Index of the first entry matching `pred`.
    pub fn position<F: FnMut(&[u8]) -> bool>(&self, pred: F) -> Option<usize> {
        self.iter().position(pred)
    }

    // ----- pair-wise helpers (hash field/value, zset member/score) -----

    /// Number of complete pairs (entries `2k`, `2k + 1`).
    pub fn pair_len(&self) -> usize {
        self.len / 2
    }

    /// Pair index `k` whose key (entry `2k`) equals `key`.
    pub fn pair_find(&self, key: &[u8]) -> Option<usize> {
        self.pair_spans(key).map(|(k, _, _)| k)
    }

    /// The value (entry `2k + 1`) paired with `key`.
    pub fn pair_get(&self, key: &[u8]) -> Option<&[u8]> {
        self.pair_spans(key).map(|(_, _, v)| &self.buf[v.data()])
    }

    /// Sets the value paired with `key`, appending a new pair if the key is
    /// absent; true if a new pair was inserted.
    pub fn pair_set(&mut self, key: &[u8], value: &[u8]) -> bool {
        match self.pair_spans(key) {
            Some((_, _, v)) => {
                self.splice_entry(v.range(), value);
                false
            }
            None => {
                // An odd trailing entry (never produced by pair-wise use)
                // would shift every later pair; keep the pairs aligned.
                debug_assert_eq!(self.len % 2, 0, "pair_set on an odd listpack");
                self.push_back(key);
                self.push_back(value);
                true
            }
        }
    }

    /// Removes the pair whose key is `key`; true if it existed.
    pub fn pair_remove(&mut self, key: &[u8]) -> bool {
        match self.pair_spans(key) {
            Some((_, k, v)) => {
                self.buf.drain(k.start..v.end);
                self.len -= 2;
                true
            }
            None => false,
        }
    }

    /// Iterates over `(key, value)` pairs (a trailing unpaired entry, which
    /// pair-wise use never creates, is skipped).
    pub fn pairs(&self) -> Pairs<'_> {
        let mut inner = self.iter();
        if self.len % 2 == 1 {
            inner.next_back();
        }
        Pairs { inner }
    }

    // ----- internals -----

    /// Span of entry `i` (which must exist), walking from the nearer end.
    fn locate(&self, i: usize) -> Span {
        debug_assert!(i < self.len);
        if i < self.len / 2 {
            let mut span = span_at(&self.buf, 0);
            for _ in 0..i {
                span = span_at(&self.buf, span.end);
            }
            span
        } else {
            let mut span = span_before(&self.buf, self.buf.len());
            for _ in i + 1..self.len {
                span = span_before(&self.buf, span.start);
            }
            span
        }
    }

    /// Scans the pairs for `key`: `(pair index, key span, value span)`.
    fn pair_spans(&self, key: &[u8]) -> Option<(usize, Span, Span)> {
        let mut pos = 0;
        for k in 0..self.pair_len() {
            let ks = span_at(&self.buf, pos);
            let vs = span_at(&self.buf, ks.end);
            if self.buf[ks.data()] == *key {
                return Some((k, ks, vs));
            }
            pos = vs.end;
        }
        None
    }

    /// Removes the entry at `span`, returning its data.
    fn take(&mut self, span: Span) -> Vec<u8> {
        let data = self.buf[span.data()].to_vec();
        self.buf.drain(span.range());
        self.len -= 1;
        data
    }

    /// Replaces the bytes in `range` (empty, or exactly one entry) with the
    /// encoding of `data`. Does not touch `len`.
    fn splice_entry(&mut self, range: Range<usize>, data: &[u8]) {
        let mut header = [0u8; MAX_VARINT];
        let h = encode_varint(data.len(), &mut header);
        let mut backlen = [0u8; MAX_VARINT];
        let b = encode_backlen(h + data.len(), &mut backlen);
        let new_len = h + data.len() + b;
        if range.len() == new_len {
            // Same size (e.g. overwriting a value of equal length): no memmove.
            let dst = &mut self.buf[range];
            dst[..h].copy_from_slice(&header[..h]);
            dst[h..h + data.len()].copy_from_slice(data);
            dst[h + data.len()..].copy_from_slice(&backlen[..b]);
        } else {
            if new_len > range.len() {
                crate::reserve_class(&mut self.buf, new_len - range.len());
            }
            // The chained slice iterators report an exact size, so `splice`
            // moves the tail once.
            let bytes = header[..h].iter().chain(data).chain(&backlen[..b]).copied();
            self.buf.splice(range, bytes);
        }
    }

    /// Checks the encoding against `len`, walking both directions.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut fwd = Vec::new();
        let mut pos = 0;
        while pos < self.buf.len() {
            let s = span_at(&self.buf, pos);
            assert!(s.end <= self.buf.len());
            fwd.push(s.start);
            pos = s.end;
        }
        assert_eq!(pos, self.buf.len());
        assert_eq!(fwd.len(), self.len);
        let mut bwd = Vec::new();
        let mut end = self.buf.len();
        while end > 0 {
            let s = span_before(&self.buf, end);
            bwd.push(s.start);
            end = s.start;
        }
        bwd.reverse();
        assert_eq!(fwd, bwd);
    }
}

impl fmt::Debug for Listpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Shows an entry as an escaped byte string.
        struct Escaped<'a>(&'a [u8]);
        impl fmt::Debug for Escaped<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "b\"{}\"", self.0.escape_ascii())
            }
        }
        f.debug_list().entries(self.iter().map(Escaped)).finish()
    }
}

impl<T: AsRef<[u8]>> FromIterator<T> for Listpack {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut lp = Listpack::new();
        lp.extend(iter);
        lp
    }
}

impl<T: AsRef<[u8]>> Extend<T> for Listpack {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for e in iter {
            self.push_back(e.as_ref());
        }
    }
}

impl<'a> IntoIterator for &'a Listpack {
    type Item = &'a [u8];
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a listpack's entries; see [`Listpack::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    buf: &'a [u8],
    /// Start of the next entry from the front.
    front: usize,
    /// End of the next entry from the back.
    back: usize,
    /// Entries between `front` and `back`.
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let span = span_at(self.buf, self.front);
        self.front = span.end;
        self.remaining -= 1;
        Some(&self.buf[span.data()])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let span = span_before(self.buf, self.back);
        self.back = span.start;
        self.remaining -= 1;
        Some(&self.buf[span.data()])
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl FusedIterator for Iter<'_> {}

/// Iterator over `(key, value)` pairs; see [`Listpack::pairs`].
#[derive(Clone, Debug)]
pub struct Pairs<'a> {
    /// Always holds an even number of entries.
    inner: Iter<'a>,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let k = self.inner.next()?;
        let v = self
            .inner
            .next()
            .expect("pairs iterator holds an even count");
        Some((k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.inner.remaining / 2;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Pairs<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let v = self.inner.next_back()?;
        let k = self
            .inner
            .next_back()
            .expect("pairs iterator holds an even count");
        Some((k, v))
    }
}

impl ExactSizeIterator for Pairs<'_> {}
impl FusedIterator for Pairs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn lp(items: &[&str]) -> Listpack {
        items.iter().collect()
    }

    fn contents(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn varint_roundtrip_and_lengths() {
        let cases = [
            0usize,
            1,
            127,
            128,
            16383,
            16384,
            (1 << 21) - 1,
            1 << 21,
            u32::MAX as usize,
            usize::MAX,
        ];
        for v in cases {
            let mut out = [0u8; MAX_VARINT];
            let n = encode_varint(v, &mut out);
            assert_eq!(n, varint_len(v), "{v}");
            assert_eq!(decode_varint(&out, 0), (v, n));
            let n = encode_backlen(v, &mut out);
            assert_eq!(decode_backlen(&out, n), (v, n));
        }
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16383), 2);
        assert_eq!(varint_len(16384), 3);
    }

    #[test]
    fn entry_sizes() {
        // 1 header + data + 1 backlen for short entries.
        assert_eq!(Listpack::entry_encoded_len(0), 2);
        assert_eq!(Listpack::entry_encoded_len(8), 10);
        assert_eq!(Listpack::entry_encoded_len(126), 128);
        // header + data = 128 needs a 2-byte backlen.
        assert_eq!(Listpack::entry_encoded_len(127), 130);
        assert_eq!(Listpack::entry_encoded_len(128), 132);
        let mut l = Listpack::new();
        for n in [0, 1, 126, 127, 128, 16381, 16382, 16383, 16384, 70000] {
            let before = l.encoded_len();
            l.push_back(&vec![7u8; n]);
            assert_eq!(l.encoded_len() - before, Listpack::entry_encoded_len(n));
        }
        l.check_invariants();
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = Listpack::new();
        assert_eq!(l.pop_front(), None);
        assert_eq!(l.pop_back(), None);
        l.push_back(b"b");
        l.push_front(b"a");
        l.push_back(b"");
        l.push_back(b"c");
        assert_eq!(l.len(), 4);
        assert_eq!(l.front(), Some(&b"a"[..]));
        assert_eq!(l.back(), Some(&b"c"[..]));
        assert_eq!(l.pop_back().as_deref(), Some(&b"c"[..]));
        assert_eq!(l.pop_back().as_deref(), Some(&b""[..]));
        assert_eq!(l.pop_front().as_deref(), Some(&b"a"[..]));
        assert_eq!(l.pop_front().as_deref(), Some(&b"b"[..]));
        assert!(l.is_empty());
        assert_eq!(l.encoded_len(), 0);
    }

    #[test]
    fn index_operations() {
        let mut l = lp(&["a", "b", "c", "d"]);
        assert_eq!(l.get(0), Some(&b"a"[..]));
        assert_eq!(l.get(3), Some(&b"d"[..]));
        assert_eq!(l.get(4), None);
        assert!(l.set(1, b"BBBB"));
        assert!(!l.set(4, b"x"));
        assert!(l.insert(0, b"z"));
        assert!(l.insert(5, b"end"));
        assert!(!l.insert(7, b"no"));
        assert_eq!(l, lp(&["z", "a", "BBBB", "c", "d", "end"]));
        assert_eq!(l.remove(2).as_deref(), Some(&b"BBBB"[..]));
        assert_eq!(l.remove(9), None);
        assert_eq!(l.remove_range(1, 2), 2);
        assert_eq!(l, lp(&["z", "d", "end"]));
        assert_eq!(l.remove_range(1, 100), 2);
        assert_eq!(l.remove_range(5, 1), 0);
        assert_eq!(l, lp(&["z"]));
        assert_eq!(l.position(|e| e == b"z"), Some(0));
        assert_eq!(l.position(|e| e == b"q"), None);
        l.clear();
        assert!(l.is_empty());
        l.check_invariants();
    }

    #[test]
    fn iterators_meet_in_the_middle() {
        let l = lp(&["1", "2", "3", "4", "5"]);
        let mut it = l.iter();
        assert_eq!(it.len(), 5);
        assert_eq!(it.next(), Some(&b"1"[..]));
        assert_eq!(it.next_back(), Some(&b"5"[..]));
        assert_eq!(it.next(), Some(&b"2"[..]));
        assert_eq!(it.next_back(), Some(&b"4"[..]));
        assert_eq!(it.len(), 1);
        assert_eq!(it.next_back(), Some(&b"3"[..]));
        assert_eq!(it.next(), None);
        assert_eq!(it.next_back(), None);
        let rev: Vec<_> = l.iter().rev().collect();
        assert_eq!(rev, [&b"5"[..], b"4", b"3", b"2", b"1"]);
    }

    #[test]
    fn pairs_helpers() {
        let mut h = Listpack::new();
        assert!(h.pair_set(b"f1", b"v1"));
        assert!(h.pair_set(b"f2", b"v2"));
        assert!(h.pair_set(b"v1", b"x")); // keys never match values
        assert!(!h.pair_set(b"f1", b"longer value"));
        assert_eq!(h.pair_len(), 3);
        assert_eq!(h.pair_find(b"f2"), Some(1));
        assert_eq!(h.pair_find(b"v2"), None);
        assert_eq!(h.pair_get(b"f1"), Some(&b"longer value"[..]));
        assert_eq!(h.pair_get(b"nope"), None);
        let pairs: Vec<_> = h.pairs().collect();
        assert_eq!(
            pairs,
            [
                (&b"f1"[..], &b"longer value"[..]),
                (b"f2", b"v2"),
                (b"v1", b"x")
            ]
        );
        assert_eq!(h.pairs().next_back(), Some((&b"v1"[..], &b"x"[..])));
        assert!(h.pair_remove(b"f2"));
        assert!(!h.pair_remove(b"f2"));
        assert_eq!(h, lp(&["f1", "longer value", "v1", "x"]));
        // An odd trailing entry is ignored by pairs().
        h.push_back(b"dangling");
        assert_eq!(h.pairs().len(), 2);
        assert_eq!(h.pairs().next_back(), Some((&b"v1"[..], &b"x"[..])));
        h.check_invariants();
    }

    #[test]
    fn debug_clone_eq_default() {
        let l = lp(&["a", "\n\u{1}"]);
        assert_eq!(format!("{l:?}"), r#"[b"a", b"\n\x01"]"#);
        assert_eq!(l.clone(), l);
        assert_eq!(Listpack::default(), Listpack::new());
        assert_ne!(l, lp(&["a"]));
    }

    #[test]
    fn hundred_small_entries_are_compact() {
        let mut l = Listpack::new();
        for i in 0..100u64 {
            l.push_back(&i.to_le_bytes());
        }
        assert!(l.mem_bytes() < 1200, "{} bytes", l.mem_bytes());
        l.shrink_to_fit();
        assert_eq!(l.mem_bytes(), 1000);
        let collected: Listpack = (0..100u64).map(u64::to_le_bytes).collect();
        assert!(collected.mem_bytes() < 1200);
        assert_eq!(collected, l);
    }

    // ----- property test against a VecDeque model -----

    /// Values biased towards the varint boundaries.
    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..20),
            2 => (
                prop::sample::select(vec![0usize, 1, 63, 64, 127, 128, 16383, 16384, 70000]),
                any::<u8>(),
            )
                .prop_map(|(n, seed)| (0..n).map(|i| seed.wrapping_add(i as u8)).collect()),
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        PushBack(Vec<u8>),
        PushFront(Vec<u8>),
        PopFront,
        PopBack,
        Get(usize),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Remove(usize),
        RemoveRange(usize, usize),
        Position(usize),
        Clear,
        ShrinkToFit,
        /// Drains an iterator from both ends (true = front).
        Walk(Vec<bool>),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Indices are reduced modulo len + 2 when applied, so some are out
        // of range.
        let idx = any::<usize>();
        prop_oneof![
            4 => value().prop_map(Op::PushBack),
            4 => value().prop_map(Op::PushFront),
            2 => Just(Op::PopFront),
            2 => Just(Op::PopBack),
            2 => idx.prop_map(Op::Get),
            3 => (idx, value()).prop_map(|(i, v)| Op::Set(i, v)),
            3 => (idx, value()).prop_map(|(i, v)| Op::Insert(i, v)),
            2 => idx.prop_map(Op::Remove),
            1 => (idx, 0usize..5).prop_map(|(i, c)| Op::RemoveRange(i, c)),
            1 => idx.prop_map(Op::Position),
            1 => Just(Op::Clear),
            1 => Just(Op::ShrinkToFit),
            1 => proptest::collection::vec(any::<bool>(), 0..12).prop_map(Op::Walk),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn behaves_like_vecdeque(ops in proptest::collection::vec(op(), 1..60)) {
            let mut l = Listpack::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                let wrap = |i: usize, len: usize| i % (len + 2);
                match op {
                    Op::PushBack(v) => { l.push_back(&v); m.push_back(v); }
                    Op::PushFront(v) => { l.push_front(&v); m.push_front(v); }
                    Op::PopFront => prop_assert_eq!(l.pop_front(), m.pop_front()),
                    Op::PopBack => prop_assert_eq!(l.pop_back(), m.pop_back()),
                    Op::Get(i) => {
                        let i = wrap(i, m.len());
                        prop_assert_eq!(l.get(i), m.get(i).map(Vec::as_slice));
                    }
                    Op::Set(i, v) => {
                        let i = wrap(i, m.len());
                        let ok = i < m.len();
                        prop_assert_eq!(l.set(i, &v), ok);
                        if ok { m[i] = v; }
                    }
                    Op::Insert(i, v) => {
                        let i = wrap(i, m.len());
                        let ok = i <= m.len();
                        prop_assert_eq!(l.insert(i, &v), ok);
                        if ok { m.insert(i, v); }
                    }
                    Op::Remove(i) => {
                        let i = wrap(i, m.len());
                        prop_assert_eq!(l.remove(i), m.remove(i));
                    }
                    Op::RemoveRange(s, c) => {
                        let s = wrap(s, m.len());
                        let n = if s < m.len() { c.min(m.len() - s) } else { 0 };
                        prop_assert_eq!(l.remove_range(s, c), n);
                        m.drain(s.min(m.len())..s.min(m.len()) + n);
                    }
                    Op::Position(i) => {
                        // Search for an existing value (or a missing one).
                        let target = m.get(wrap(i, m.len())).cloned().unwrap_or_else(|| b"\xffmissing".to_vec());
                        prop_assert_eq!(
                            l.position(|e| e == target.as_slice()),
                            m.iter().position(|e| *e == target)
                        );
                    }
                    Op::Clear => { l.clear(); m.clear(); }
                    Op::ShrinkToFit => {
                        l.shrink_to_fit();
                        prop_assert_eq!(l.mem_bytes(), l.encoded_len());
                    }
                    Op::Walk(dirs) => {
                        let mut it = l.iter();
                        let mut mi = m.iter();
                        for front in dirs {
                            prop_assert_eq!(it.len(), mi.len());
                            let (a, b) = if front {
                                (it.next(), mi.next())
                            } else {
                                (it.next_back(), mi.next_back())
                            };
                            prop_assert_eq!(a, b.map(Vec::as_slice));
                        }
                    }
                }
                l.check_invariants();
                prop_assert_eq!(l.len(), m.len());
                prop_assert_eq!(l.is_empty(), m.is_empty());
                prop_assert_eq!(l.iter().len(), m.len());
                prop_assert!(l.iter().eq(m.iter().map(Vec::as_slice)));
                prop_assert!(l.iter().rev().eq(m.iter().rev().map(Vec::as_slice)));
                prop_assert!(l.mem_bytes() >= l.encoded_len());
            }
            // Encoding is canonical: rebuilding gives identical bytes.
            let rebuilt: Listpack = m.iter().collect();
            prop_assert_eq!(&rebuilt, &l);
            prop_assert_eq!(contents(&l), Vec::from(m));
        }

        #[test]
        fn pairs_behave_like_assoc_list(
            ops in proptest::collection::vec(
                (0u8..12, prop::option::of(value())),
                1..60,
            )
        ) {
            // Keys from a small alphabet (so they collide), plus values that
            // equal keys to check values are never matched as keys.
            let mut l = Listpack::new();
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (k, v) in ops {
                let key = format!("k{}", k % 8).into_bytes();
                match v {
                    Some(mut v) => {
                        if k >= 8 {
                            v = format!("k{}", k % 8).into_bytes();
                        }
                        let new = match m.iter_mut().find(|(mk, _)| *mk == key) {
                            Some(e) => { e.1 = v.clone(); false }
                            None => { m.push((key.clone(), v.clone())); true }
                        };
                        prop_assert_eq!(l.pair_set(&key, &v), new);
                    }
                    None => {
                        let pos = m.iter().position(|(mk, _)| *mk == key);
                        if let Some(p) = pos { m.remove(p); }
                        prop_assert_eq!(l.pair_remove(&key), pos.is_some());
                    }
                }
                l.check_invariants();
                prop_assert_eq!(l.pair_len(), m.len());
                prop_assert_eq!(l.len(), 2 * m.len());
                for probe in 0..8 {
                    let pk = format!("k{probe}").into_bytes();
                    let pos = m.iter().position(|(mk, _)| *mk == pk);
                    prop_assert_eq!(l.pair_find(&pk), pos);
                    prop_assert_eq!(l.pair_get(&pk), pos.map(|p| m[p].1.as_slice()));
                }
                prop_assert!(l.pairs().eq(m.iter().map(|(a, b)| (a.as_slice(), b.as_slice()))));
                prop_assert!(l.pairs().rev().eq(m.iter().rev().map(|(a, b)| (a.as_slice(), b.as_slice()))));
            }
        }
    }
}
