//! An intset: a sorted set of integers packed into one byte buffer.
//!
//! This mirrors Redis's `intset` encoding for small sets whose members are
//! all integers. Every element is stored little-endian with the same width,
//! which is the smallest of 2, 4 or 8 bytes that has fitted every value ever
//! inserted. Adding a value that does not fit the current width rewrites the
//! whole set at the wider width ("upgrade"); as in Redis, removals never
//! narrow it again. Elements are kept sorted, so lookups are binary searches
//! and inserts/removes are a memmove.
//!
//! [`parse_int`] decides whether a set member (a byte string) is an integer
//! in canonical form and so may live in an intset.

use std::fmt;
use std::iter::FusedIterator;

/// The narrowest element width (in bytes) that can hold `v`.
fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Reads element `i` of `data` at `width` bytes per element.
fn read_at(data: &[u8], width: usize, i: usize) -> i64 {
    let b = &data[i * width..(i + 1) * width];
    match width {
        2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

/// Appends `v` to `out` at `width` bytes (which must be wide enough).
fn write_to(out: &mut Vec<u8>, width: usize, v: i64) {
    // Little-endian two's complement: the low `width` bytes of an i64 are
    // exactly its narrower encoding whenever the value fits.
    out.extend_from_slice(&v.to_le_bytes()[..width]);
}

/// A sorted set of `i64` with compact, upgradable element width; see the
/// [module docs](self).
#[derive(Clone)]
pub struct IntSet {
    /// Bytes per element: 2, 4 or 8.
    width: usize,
    /// `len() * width` bytes, elements ascending, little-endian.
    data: Vec<u8>,
}

impl IntSet {
    /// An empty set at the narrowest width (no allocation).
    pub const fn new() -> Self {
        IntSet {
            width: 2,
            data: Vec::new(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    /// True if the set has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes per element: 2, 4 or 8.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Heap bytes held: the capacity of the buffer.
    pub fn mem_bytes(&self) -> usize {
        self.data.capacity()
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
    }

    /// The element at sorted position `index` (used to pick random members).
    pub fn get(&self, index: usize) -> Option<i64> {
        (index < self.len()).then(|| read_at(&self.data, self.width, index))
    }

    /// True if `v` is in the set.
    pub fn contains(&self, v: i64) -> bool {
        // A value wider than the encoding cannot be present.
        width_for(v) <= self.width && self.search(v).is_ok()
    }

    /// Adds `v`; true if it was not already present.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_for(v);
        if need > self.width {
            self.upgrade_and_add(need, v);
            return true;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(pos) => {
                let at = pos * self.width;
                crate::reserve_class(&mut self.data, self.width);
                let bytes = v.to_le_bytes();
                self.data
                    .splice(at..at, bytes[..self.width].iter().copied());
                true
            }
        }
    }

    /// Removes `v`; true if it was present. Never narrows the width.
    pub fn remove(&mut self, v: i64) -> bool {
        if width_for(v) > self.width {
            return false;
        }
        match self.search(v) {
            Ok(pos) => {
                let at = pos * self.width;
                self.data.drain(at..at + self.width);
                true
            }
            Err(_) => false,
        }
    }

    /// Iterates in ascending order (reversible with `.rev()`).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            data: &self.data,
            width: self.width,
            front: 0,
            back: self.len(),
        }
    }

    /// Binary search: `Ok(index)` if present, else `Err(insertion index)`.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let len = self.len();
        if len == 0 {
            return Err(0);
        }
        // Appending in order (the common way sets are built) skips the search.
        if v > read_at(&self.data, self.width, len - 1) {
            return Err(len);
        }
        if v < read_at(&self.data, self.width, 0) {
            return Err(0);
        }
        let (mut lo, mut hi) = (0, len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match read_at(&self.data, self.width, mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Rewrites the set at `width` and adds `v`, which did not fit the old
    /// width and so is either below every element or above every element.
    fn upgrade_and_add(&mut self, width: usize, v: i64) {
        let mut data = Vec::with_capacity((self.len() + 1) * width);
        if v < 0 {
            write_to(&mut data, width, v);
        }
        for x in self.iter() {
            write_to(&mut data, width, x);
        }
        if v >= 0 {
            write_to(&mut data, width, v);
        }
        self.data = data;
        self.width = width;
    }
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::new()
    }
}

/// Set equality: two sets with the same elements are equal even if one was
/// upgraded to a wider width by a value since removed.
impl PartialEq for IntSet {
    fn eq(&self, other: &Self) -> bool {
        if self.width == other.width {
            return self.data == other.data;
        }
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for IntSet {}

impl fmt::Debug for IntSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntSet(w{}) ", self.width)?;
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<i64> for IntSet {
    fn from_iter<I: IntoIterator<Item = i64>>(iter: I) -> Self {
        let mut s = IntSet::new();
        s.extend(iter);
        s
    }
}

impl Extend<i64> for IntSet {
    fn extend<I: IntoIterator<Item = i64>>(&mut self, iter: I) {
        for v in iter {
            self.insert(v);
        }
    }
}

impl<'a> IntoIterator for &'a IntSet {
    type Item = i64;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Ascending iterator over an [`IntSet`]; see [`IntSet::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    data: &'a [u8],
    width: usize,
    /// Next index from the front.
    front: usize,
    /// One past the next index from the back.
    back: usize,
}

impl Iterator for Iter<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        Some(read_at(self.data, self.width, self.front - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }

    fn nth(&mut self, n: usize) -> Option<i64> {
        // Fixed-width elements: skipping is O(1).
        self.front = self.front.saturating_add(n).min(self.back);
        self.next()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<i64> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        Some(read_at(self.data, self.width, self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl FusedIterator for Iter<'_> {}

/// Parses `s` as an `i64` under Redis's `string2ll` rules: optional `-`
/// followed by decimal digits, no `+`, no spaces, no leading zeros (except
/// the number `0` itself), no `-0`, and within `i64` range. Exactly the
/// strings that print back identically are accepted, which is what makes a
/// set member safe to store as an integer.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    // 20 chars fit "-9223372036854775808"; anything longer cannot be valid.
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    // Accumulate towards the sign so i64::MIN (whose magnitude exceeds
    // i64::MAX) parses without overflow.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = i64::from(c - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn widths_upgrade_and_stay() {
        let mut s = IntSet::new();
        assert_eq!(s.width(), 2);
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.width(), 2);
        assert!(s.insert(i64::from(i16::MAX)));
        assert!(s.insert(i64::from(i16::MIN)));
        assert_eq!(s.width(), 2);
        assert!(s.insert(40_000));
        assert_eq!(s.width(), 4);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width(), 8);
        assert!(s.contains(i64::MIN));
        assert!(!s.contains(i64::MAX));
        let all: Vec<_> = s.iter().collect();
        assert_eq!(
            all,
            [
                i64::MIN,
                i64::from(i16::MIN),
                -3,
                5,
                i64::from(i16::MAX),
                40_000
            ]
        );
        assert!(s.remove(i64::MIN));
        assert!(s.remove(40_000));
        assert!(!s.remove(40_000));
        assert_eq!(s.width(), 8, "removal never narrows");
        assert!(s.mem_bytes() >= 4 * 8);
        // Equal as sets to one built at width 2.
        let narrow: IntSet = [i64::from(i16::MIN), -3, 5, i64::from(i16::MAX)]
            .into_iter()
            .collect();
        assert_eq!(narrow.width(), 2);
        assert_eq!(s, narrow);
    }

    #[test]
    fn upgrade_places_value_at_the_right_end() {
        let mut s: IntSet = [1, 2, 3].into_iter().collect();
        s.insert(-100_000);
        assert_eq!(s.iter().collect::<Vec<_>>(), [-100_000, 1, 2, 3]);
        s.insert(1 << 40);
        assert_eq!(s.iter().collect::<Vec<_>>(), [-100_000, 1, 2, 3, 1 << 40]);
        assert_eq!(s.get(0), Some(-100_000));
        assert_eq!(s.get(4), Some(1 << 40));
        assert_eq!(s.get(5), None);
    }

    #[test]
    fn removal_of_too_wide_value_is_noop() {
        let mut s: IntSet = [1, 2].into_iter().collect();
        assert!(!s.remove(1 << 20));
        assert!(!s.contains(1 << 20));
        assert_eq!(s.width(), 2);
    }

    #[test]
    fn debug_and_default() {
        let s: IntSet = [3, 1].into_iter().collect();
        assert_eq!(format!("{s:?}"), "IntSet(w2) {1, 3}");
        assert_eq!(IntSet::default(), IntSet::new());
        assert!(IntSet::new().is_empty());
        assert_eq!(IntSet::new().mem_bytes(), 0);
    }

    #[test]
    fn iterator_both_ends_and_nth() {
        let s: IntSet = (0..10).collect();
        let mut it = s.iter();
        assert_eq!(it.len(), 10);
        assert_eq!(it.next(), Some(0));
        assert_eq!(it.next_back(), Some(9));
        assert_eq!(it.nth(3), Some(4));
        assert_eq!(it.len(), 4);
        assert_eq!(it.nth(100), None);
        assert_eq!(it.next_back(), None);
    }

    #[test]
    fn parse_int_rules() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1", 1),
            ("-1", -1),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("1234567890", 1234567890),
        ];
        for &(s, v) in ok {
            assert_eq!(parse_int(s.as_bytes()), Some(v), "{s}");
        }
        let bad = [
            "",
            "-",
            "+1",
            "-0",
            "00",
            "01",
            "-01",
            " 1",
            "1 ",
            "1a",
            "1.0",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "000000000000000000001",
            "--1",
            "0x10",
        ];
        for s in bad {
            assert_eq!(parse_int(s.as_bytes()), None, "{s:?}");
        }
    }

    /// Values spanning all three widths, with extra weight on the edges.
    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            3 => -20i64..20,
            3 => any::<i16>().prop_map(i64::from),
            2 => any::<i32>().prop_map(i64::from),
            1 => any::<i64>(),
            1 => prop::sample::select(vec![
                i64::MIN,
                i64::MAX,
                i64::from(i16::MIN),
                i64::from(i16::MAX),
                i64::from(i16::MAX) + 1,
                i64::from(i16::MIN) - 1,
                i64::from(i32::MIN),
                i64::from(i32::MAX),
                i64::from(i32::MAX) + 1,
                i64::from(i32::MIN) - 1,
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn behaves_like_btreeset(
            ops in proptest::collection::vec((0u8..3, value(), any::<usize>()), 1..200)
        ) {
            let mut s = IntSet::new();
            let mut m = BTreeSet::new();
            let mut widest = 2;
            for (kind, v, i) in ops {
                match kind {
                    0 => {
                        widest = widest.max(width_for(v));
                        prop_assert_eq!(s.insert(v), m.insert(v));
                    }
                    1 => prop_assert_eq!(s.remove(v), m.remove(&v)),
                    _ => {
                        let i = i % (m.len() + 1);
                        prop_assert_eq!(s.get(i), m.iter().nth(i).copied());
                    }
                }
                prop_assert_eq!(s.contains(v), m.contains(&v));
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.is_empty(), m.is_empty());
                // Width is the widest ever needed, never narrowed.
                prop_assert_eq!(s.width(), widest);
                prop_assert!(s.iter().eq(m.iter().copied()));
                prop_assert!(s.iter().rev().eq(m.iter().rev().copied()));
                prop_assert_eq!(s.iter().len(), m.len());
            }
            let rebuilt: IntSet = m.iter().copied().collect();
            prop_assert_eq!(&rebuilt, &s);
        }

        #[test]
        fn parse_int_roundtrips_every_i64(v in any::<i64>()) {
            prop_assert_eq!(parse_int(v.to_string().as_bytes()), Some(v));
        }

        /// Accepted exactly when the string is a canonical i64 rendering.
        #[test]
        fn parse_int_accepts_only_canonical(s in "[-+0-9 a]{0,21}") {
            let expected = s.parse::<i64>().ok().filter(|v| v.to_string() == s);
            prop_assert_eq!(parse_int(s.as_bytes()), expected);
        }
    }
}
